"""Dataset fetchers: download into a temporary folder, verify a hash, then move.

Where the hashes come from (never invented):

- Haxby (PyMVPA source-tree test data, ``mvpa2/data/haxby2001/sub001``) and the
  EEGLAB sample: SHA-256 of the project's shared copies (``data_cards/*.yaml``,
  ``checksums``), which ``../shared/data/README.md`` records as copied
  unchanged from those upstream files. For Haxby this was checked on
  ``run-01/events.tsv`` (its upstream text hashes to the pinned value).
- 92 objects: the RDM file is pinned to the shared copy's ``brain_rdms_hIT.mat``
  (recorded as copied unchanged from ``92_brainRDMs.mat``); the image file
  ``Kriegeskorte_Neuron2008_supplementalData.mat`` has no published hash: the
  fetcher says so and logs the SHA-256 of what it got so that you can pin it.

A mismatching download is deleted (nothing is left behind) and raises an error
with both hashes; files already present and verified are not downloaded again.
"""

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from ..._utils.docs import fill_doc
from ..._utils.logging import logger, verbose, warn

__all__ = ["get_data_home", "fetch_haxby", "fetch_eeglab_sample", "fetch_92objects"]

_HAXBY_URL = "https://raw.githubusercontent.com/PyMVPA/PyMVPA/master/mvpa2/data/haxby2001/sub001/"
_EEGLAB_URL = "https://raw.githubusercontent.com/sccn/eeglab/develop/sample_data/"
_RSA_URL = "https://raw.githubusercontent.com/rsagroup/rsatoolbox/main/demos/92imageData/"

_HAXBY_BOLD = {
    1: "fb8da73b747bd3f8f0c7cacf38c7173f3ec8ba1eb3a776003fa14880c31846e7",
    2: "c349c15e761f580d7d0de365d05c6a7c269496e75a3ad58ca05a34ed15f91d5d",
    3: "a2e72670e8380a337870ada7a8896211b849f1987107d6fd99171cc48a8bdc60",
    4: "96780e718abc001d2c1c4996a9187e85b427e9fa2500e56716ff8873fded63ca",
    5: "53eebe6b2c6edb7a82a0e84e5c72687ebe2a2d1cbd43f005ff83c88e1b06b49a",
    6: "a079fa51847925d12edb52b03b0f19cd14c5a02db156a247736f6152017780f3",
    7: "26c8fca45ee3fed85b925ea5411698fe234c9b9b0eee184a772fbf873003eb4f",
    8: "366248d75f6f15b86ee8fb0777cfd1861e4950b81fde87f92a74f0a39cd75109",
    9: "4f9a07a44fc3ca0402b0d69eb91132f1a03e32b96ed1fb744d3f558d4d774d97",
    10: "796c21c4ef9d89f723b78c3b76853cd0aca58c93d0409b0967a45841bebe5432",
    11: "d7e04d78df0aa81d7a8de8ac6c1c0044ff1a6583e92abe8ebafac8851010523b",
    12: "7bda1f0ee3483f2755e61afa0e96ce825cd2c28b0e03a91a2a96b018c10e8a40",
}
_HAXBY_EVENTS = {
    1: "f2cbdad57ece6d3f0ba9746fc03eb8f0d279be520f7ee55f17623565d138364e",
    2: "6ed581e40ba4850b4c4d9854aa0db4c979ef01794972911eb4869db6342fb3ad",
    3: "465ecdb410acc0753f733906c4d56258e0d753b73c25ca08e85a10215fcce308",
    4: "9d8eef194e0e72b1ded0caa3be16e95778fc16f218e521c10802d9a1d1bc2820",
    5: "4404718524d21cc2650a8fe9860c94b6e83592c46594ab11fb22272150e5c6fe",
    6: "0ab33f912cca0076c65b2a034973b71c3b9d00011ad6adeeef356d5f9f71c4e5",
    7: "0075f78df0b08d44c687581cbe33aa93db833ff574684d9bc24734649a3a6564",
    8: "ed40c886032a5db2b6416488b8ac36b7902242c9b5bdea23d8894eeba11aa539",
    9: "d94f85d8378c72c45f95a8db2aa85576eb4e050827ab338b075315e7bc80a013",
    10: "cb9d60adb7971d00b4f199a8729dd9de6f4f27b37f680197c7ba2d96e7be7ab2",
    11: "377788e2ef133ffcc40da369b060009397ef8ab12732c5386945e6c608293418",
    12: "50cfed990226325726f91da555f1a412fc6a932cb754825462e03b30317579bb",
}
_HAXBY_MASKS = {
    "brain": "06baff59204b30dfdae31845f2b9b3fac2bb3363d558b8955000536c4567a151",
    "gray": "84ea63ac81d75119f8d82aaf8da40cbb403b215bf872f8aaae4b060b6814ca18",
    "hoc": "9785889c78ae9cbbe9ac8fcc551afde66600187940c1106dc71bd6f85ea98f73",
    "vt": "7d018dc136203856a30445b44b00cccca9f8f4da73716e3b01b47e8da1b15dce",
}
_EEGLAB = {
    "eeglab_data.set": "27594dc378685d25d5f5f762f4f8332e7a3d988b6d5d41832bb2252d93988718",
    "eeglab_data.fdt": "3ec388b9a080c723c00cd380403d64cc754929d828375bbd53bd83b468136759",
    "eeglab_chan32.locs": "c74c38260064ae042f482c00d114cab85219bcdfe2639daf839252338417a264",
}
_RDM_SHA256 = "1743f90a15e895798a94318649e80e1123a7e5943a1703fa1dd7c31ea5780b7c"


class Bunch(dict):
    """A dict whose keys are also attributes (as scikit-learn's Bunch)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as err:
            raise AttributeError(key) from err


@fill_doc
def get_data_home(data_home=None):
    """Folder for downloaded datasets (created if needed).

    Parameters
    ----------
    %(data_home)s

    Returns
    -------
    pathlib.Path
    """
    if data_home is None:
        data_home = os.environ.get("NEUROTOOLKIT_DATA") or Path("~") / "neurotoolkit_data"
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _download(url, dest, chunk=1 << 20):
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            shutil.copyfileobj(resp, out, chunk)
    except Exception as err:
        raise OSError(f"Could not download {url}: {type(err).__name__}: {err}.") from err


def _fetch_files(folder, files):
    """Make ``folder/rel`` exist and verified for every ``(rel, url, sha256|None)``.

    Missing files are downloaded together into a temporary folder beside
    ``folder``; only when all are downloaded and verified are they moved in.
    On any failure the temporary folder is removed and nothing is moved.
    """
    folder = Path(folder)
    todo = []
    for rel, url, sha in files:
        target = folder / rel
        if target.exists():
            if sha is None or _sha256(target) == sha:
                logger.debug("fetch: %s present, skipped", target)
                continue
            logger.info("fetch: %s exists but its hash differs; downloading it again", target)
        todo.append((rel, url, sha))
    if not todo:
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        for rel, url, sha in todo:
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            logger.info("fetch: downloading %s", url)
            _download(url, dest)
            got = _sha256(dest)
            if sha is None:
                warn(f"No published checksum for {url}; the file was kept unverified. Its SHA-256 "
                     f"is {got}: pin it if you need to detect changes.")
            elif got != sha:
                raise OSError(
                    f"Checksum mismatch for {url}: expected SHA-256 {sha}, got {got}. The download "
                    f"was deleted and nothing was written to {folder}. The file may have changed "
                    "upstream or the transfer was corrupted; retry, or check the source."
                )
        for rel, _, _ in todo:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@fill_doc
@verbose
def fetch_haxby(data_home=None, base_url=None, verbose=None):
    """Haxby et al. (2001) subject 1, reduced PyMVPA test copy (25 mm voxels, 1.3 MB).

    Downloads ``bold_25mm.nii.gz``, ``bold_events.tsv`` (12 runs) and the
    25 mm masks from the PyMVPA repository into ``<data_home>/haxby2001_sub001``
    with the layout of the project's shared copy (``run-XX/bold.nii.gz``,
    ``run-XX/events.tsv``, ``masks/{brain,gray,vt,hoc}.nii.gz``), verified
    against pinned SHA-256 sums. Full-resolution data: ``nilearn.datasets.fetch_haxby``.

    Parameters
    ----------
    %(data_home)s
    base_url : str | None
        Mirror of ``mvpa2/data/haxby2001/sub001/`` (default GitHub raw).
    %(verbose)s

    Returns
    -------
    Bunch
        ``path`` (folder), ``bold`` and ``events`` (lists of 12 paths),
        ``masks`` ({name: path}), ``tr`` (2.5), ``description``.
    """
    base = (base_url or _HAXBY_URL).rstrip("/") + "/"
    folder = get_data_home(data_home) / "haxby2001_sub001"
    files = []
    for r in range(1, 13):
        src = f"BOLD/task001_run{r:03d}/"
        files.append((f"run-{r:02d}/bold.nii.gz", base + src + "bold_25mm.nii.gz", _HAXBY_BOLD[r]))
        files.append((f"run-{r:02d}/events.tsv", base + src + "bold_events.tsv", _HAXBY_EVENTS[r]))
    for name, sha in _HAXBY_MASKS.items():
        files.append((f"masks/{name}.nii.gz", base + f"masks/25mm/{name}.nii.gz", sha))
    _fetch_files(folder, files)
    return Bunch(
        path=folder,
        bold=[folder / f"run-{r:02d}" / "bold.nii.gz" for r in range(1, 13)],
        events=[folder / f"run-{r:02d}" / "events.tsv" for r in range(1, 13)],
        masks={name: folder / "masks" / f"{name}.nii.gz" for name in _HAXBY_MASKS},
        tr=2.5,
        description=(
            "Haxby et al. (2001), subject 1, PyMVPA reduced test copy: 12 runs x 121 volumes, "
            "TR 2.5 s, 25 mm voxels (6 x 10 x 10); block design, 8 categories (BIDS events "
            "onset/duration/trial_type); masks brain, gray, vt, hoc. MIT (PyMVPA); cite "
            "Haxby et al., Science 293:2425 (2001). Too coarse for maps; fine for decoding demos."
        ),
    )


@fill_doc
@verbose
def fetch_eeglab_sample(data_home=None, base_url=None, verbose=None):
    """EEGLAB tutorial recording: 32-channel EEG, 128 Hz, 238 s (4.1 MB).

    Parameters
    ----------
    %(data_home)s
    base_url : str | None
        Mirror of EEGLAB's ``sample_data/`` (default GitHub raw, sccn/eeglab).
    %(verbose)s

    Returns
    -------
    Bunch
        ``path``, ``set`` (read with ``mne.io.read_raw_eeglab``), ``fdt``,
        ``locs``, ``description``.
    """
    base = (base_url or _EEGLAB_URL).rstrip("/") + "/"
    folder = get_data_home(data_home) / "eeglab_sample"
    _fetch_files(folder, [(name, base + name, sha) for name, sha in _EEGLAB.items()])
    return Bunch(
        path=folder,
        set=folder / "eeglab_data.set",
        fdt=folder / "eeglab_data.fdt",
        locs=folder / "eeglab_chan32.locs",
        description=(
            "EEGLAB sample data: 32-channel scalp EEG (2 EOG read as EEG), 128 Hz, 238 s, visual "
            "target task with 'square' (stimulus) and 'rt' (response) events. BSD-2-Clause "
            "(EEGLAB)."
        ),
    )


@fill_doc
@verbose
def fetch_92objects(data_home=None, base_url=None, images=True, verbose=None):
    """The 92-object set of Kriegeskorte et al. (2008) from rsatoolbox's demo data.

    Downloads ``92_brainRDMs.mat`` (human IT RDMs, 4 subjects x 2 sessions;
    pinned hash) and ``Kriegeskorte_Neuron2008_supplementalData.mat`` (the
    images; no published hash: a warning gives the SHA-256 of what was
    downloaded). The images stay in the MATLAB file; the project's shared
    copy has them as PNG with a ``categories.csv`` (use that folder with
    ``StimulusSet.from_folder`` when you have it).

    Parameters
    ----------
    %(data_home)s
    base_url : str | None
        Mirror of rsatoolbox's ``demos/92imageData/``.
    images : bool
        Also fetch the image file (False: only the RDMs; ``images_mat`` is then None).
    %(verbose)s

    Returns
    -------
    Bunch
        ``path``, ``rdms`` and ``images_mat`` (paths), ``description``.
    """
    base = (base_url or _RSA_URL).rstrip("/") + "/"
    folder = get_data_home(data_home) / "objects92"
    files = [("92_brainRDMs.mat", base + "92_brainRDMs.mat", _RDM_SHA256)]
    if images:
        files.append(("Kriegeskorte_Neuron2008_supplementalData.mat",
                      base + "Kriegeskorte_Neuron2008_supplementalData.mat", None))
    _fetch_files(folder, files)
    return Bunch(
        path=folder,
        rdms=folder / "92_brainRDMs.mat",
        images_mat=folder / "Kriegeskorte_Neuron2008_supplementalData.mat" if images else None,
        description=(
            "92 object images (Kriegeskorte et al., Neuron 60:1126, 2008) and human IT fMRI RDMs "
            "(4 subjects x 2 sessions, 92 x 92), from the rsatoolbox demos (MIT)."
        ),
    )
