"""Dataset fetchers: files come from a local mirror or a download, are hash-checked, then moved.

Where the files come from, in this order:

1. the ``mirror`` argument: a local folder with the dataset layout (one
   sub-folder per dataset, see :data:`MIRROR_FOLDERS`);
2. the environment variable ``NEUROTOOLKIT_DATA_MIRROR`` (same layout), unless
   ``base_url`` is given explicitly;
3. a download from ``base_url`` (default: the upstream repository).

Whatever the source, files are copied (or downloaded) into a temporary folder
beside the dataset's folder in ``data_home``, their SHA-256 is checked, and
only when every file is verified are they moved in. A mismatch deletes the
temporary folder (nothing is left behind) and raises an error with both hashes.
A mirror that lacks a file is an error naming the file and the mirror: there is
no silent fallback to the network. Files already in ``data_home`` and verified
are not fetched again. The pinned hashes and their provenance are in
``_registry.py``.
"""

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from ..._utils.docs import docdict, fill_doc
from ..._utils.logging import logger, verbose, warn
from ._registry import (
    _EEGLAB,
    _EEGLAB_URL,
    _HAXBY_BOLD,
    _HAXBY_EVENTS,
    _HAXBY_MASKS,
    _HAXBY_URL,
    _OBJECTS92_CATEGORIES_SHA256,
    _OBJECTS92_MIRROR_NAMES,
    _OBJECTS92_PNG,
    _RDM_SHA256,
    _RSA_URL,
    MIRROR_FOLDERS,
)

__all__ = ["get_data_home", "fetch_haxby", "fetch_eeglab_sample", "fetch_92objects"]

#: Environment variable naming a local mirror folder (used when ``mirror`` is None).
MIRROR_ENV = "NEUROTOOLKIT_DATA_MIRROR"

docdict.setdefault("data_source", """base_url : str | None
    Where to download from (default: the upstream repository). Giving it
    explicitly ignores ``NEUROTOOLKIT_DATA_MIRROR``.
mirror : path-like | None
    A local folder with one sub-folder per dataset (``fmri_haxby2001_sub001``,
    ``eeg_eeglab_sample``, ``stimuli_92objects``): files are copied from it,
    hash-checked like a download, and never downloaded. None uses the
    environment variable ``NEUROTOOLKIT_DATA_MIRROR`` when it is set, else
    downloads. A mirror that lacks a file raises an error (no fallback).
download_if_missing : bool
    If False, a file that is neither in ``data_home`` nor in a mirror raises
    an :class:`OSError` instead of being downloaded.""")


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


def _resolve_mirror(mirror, base_url):
    """The mirror folder to copy from, or None to download (argument, env var, download)."""
    if mirror is not None and base_url is not None:
        raise ValueError(
            f"Invalid value for `mirror`: expected None when `base_url` is given, got '{mirror}' "
            f"and base_url='{base_url}'. Pass one source: a local mirror or a download URL."
        )
    origin = "`mirror`"
    if mirror is None:
        env = os.environ.get(MIRROR_ENV)
        if base_url is not None or not env:
            return None
        mirror, origin = env, f"the environment variable {MIRROR_ENV}"
    path = Path(mirror).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"Invalid value for {origin}: expected an existing folder laid out like the datasets "
            f"(sub-folders {sorted(MIRROR_FOLDERS.values())}), got '{path}', which is not a folder. "
            f"Fix the path, or unset it to download."
        )
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


def _fetch_files(folder, files, download_if_missing=True):
    """Make ``folder/rel`` exist and verified for every ``(rel, source, sha256|None)``.

    ``source`` is a URL (str, downloaded) or a local file (Path, copied from
    a mirror). Missing files are fetched together into a temporary folder
    beside ``folder``; only when all are fetched and verified are they moved
    in. On any failure the temporary folder is removed and nothing is moved.
    """
    folder = Path(folder)
    todo = []
    for rel, source, sha in files:
        target = folder / rel
        if target.exists():
            if sha is None or _sha256(target) == sha:
                logger.debug("fetch: %s present, skipped", target)
                continue
            logger.info("fetch: %s exists but its hash differs; fetching it again", target)
        todo.append((rel, source, sha))
    if not todo:
        return
    missing = [src for _, src, _ in todo if isinstance(src, Path) and not src.is_file()]
    if missing:
        raise FileNotFoundError(
            f"The local mirror lacks {len(missing)} file(s) of this dataset: "
            f"{[str(m) for m in missing[:5]]}. Complete the mirror, or pass mirror=None and unset "
            f"{MIRROR_ENV} to download. Nothing was written to {folder}."
        )
    urls = [src for _, src, _ in todo if not isinstance(src, Path)]
    if urls and not download_if_missing:
        raise OSError(
            f"{len(urls)} file(s) of this dataset are not in {folder} and download_if_missing=False "
            f"(first: {urls[0]}). Pass a local mirror (mirror= or {MIRROR_ENV}), or allow the "
            "download."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        for rel, source, sha in todo:
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(source, Path):
                logger.info("fetch: copying %s from the local mirror", source)
                shutil.copyfile(source, dest)
            else:
                logger.info("fetch: downloading %s", source)
                _download(source, dest)
            got = _sha256(dest)
            if sha is None:
                warn(f"No published checksum for {source}; the file was kept unverified. Its "
                     f"SHA-256 is {got}: pin it if you need to detect changes.")
            elif got != sha:
                raise OSError(
                    f"Checksum mismatch for {source}: expected SHA-256 {sha}, got {got}. The copy "
                    f"was deleted and nothing was written to {folder}. The file may have changed "
                    "at its source or the transfer was corrupted; retry, or check the source."
                )
        for rel, _, _ in todo:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sources(name, entries, base, mirror):
    """``(rel, source, sha)`` for ``(rel, upstream_rel, mirror_rel, sha)`` entries."""
    if mirror is not None:
        root = mirror / MIRROR_FOLDERS[name]
        return [(rel, root / mirror_rel, sha) for rel, _, mirror_rel, sha in entries]
    return [(rel, base + up_rel, sha) for rel, up_rel, _, sha in entries]


@fill_doc
@verbose
def fetch_haxby(data_home=None, base_url=None, mirror=None, download_if_missing=True, verbose=None):
    """Haxby et al. (2001) subject 1, reduced PyMVPA test copy (25 mm voxels, 1.3 MB).

    Fetches ``bold_25mm.nii.gz``, ``bold_events.tsv`` (12 runs) and the
    25 mm masks of PyMVPA's ``mvpa2/data/haxby2001/sub001`` into
    ``<data_home>/haxby2001_sub001`` as ``run-XX/bold.nii.gz``,
    ``run-XX/events.tsv`` (BIDS columns) and ``masks/{brain,gray,vt,hoc}.nii.gz``,
    verified against pinned SHA-256 sums. A mirror holds the same layout in
    ``<mirror>/fmri_haxby2001_sub001``. Full-resolution data:
    ``nilearn.datasets.fetch_haxby``. A ready Recording: :func:`load_haxby`.

    Parameters
    ----------
    %(data_home)s
    %(data_source)s
    %(verbose)s

    Returns
    -------
    Bunch
        ``path`` (folder), ``bold`` and ``events`` (lists of 12 paths),
        ``masks`` ({name: path}), ``tr`` (2.5), ``description``.
    """
    mirror = _resolve_mirror(mirror, base_url)
    base = (base_url or _HAXBY_URL).rstrip("/") + "/"
    folder = get_data_home(data_home) / "haxby2001_sub001"
    entries = []
    for r in range(1, 13):
        src = f"BOLD/task001_run{r:03d}/"
        bold, events = f"run-{r:02d}/bold.nii.gz", f"run-{r:02d}/events.tsv"
        entries.append((bold, src + "bold_25mm.nii.gz", bold, _HAXBY_BOLD[r]))
        entries.append((events, src + "bold_events.tsv", events, _HAXBY_EVENTS[r]))
    for name, sha in _HAXBY_MASKS.items():
        rel = f"masks/{name}.nii.gz"
        entries.append((rel, f"masks/25mm/{name}.nii.gz", rel, sha))
    _fetch_files(folder, _sources("haxby2001_sub001", entries, base, mirror), download_if_missing)
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
def fetch_eeglab_sample(data_home=None, base_url=None, mirror=None, download_if_missing=True,
                        verbose=None):
    """EEGLAB tutorial recording: 32-channel EEG, 128 Hz, 238 s (4.1 MB).

    Fetches ``eeglab_data.set``, ``eeglab_data.fdt`` and ``eeglab_chan32.locs``
    into ``<data_home>/eeglab_sample`` (a mirror holds them in
    ``<mirror>/eeg_eeglab_sample``). A ready MNE Raw: :func:`load_eeglab_sample`.

    Parameters
    ----------
    %(data_home)s
    %(data_source)s
    %(verbose)s

    Returns
    -------
    Bunch
        ``path``, ``set`` (read with ``mne.io.read_raw_eeglab``), ``fdt``,
        ``locs``, ``description``.
    """
    mirror = _resolve_mirror(mirror, base_url)
    base = (base_url or _EEGLAB_URL).rstrip("/") + "/"
    folder = get_data_home(data_home) / "eeglab_sample"
    entries = [(name, name, name, sha) for name, sha in _EEGLAB.items()]
    _fetch_files(folder, _sources("eeglab_sample", entries, base, mirror), download_if_missing)
    return Bunch(
        path=folder,
        set=folder / "eeglab_data.set",
        fdt=folder / "eeglab_data.fdt",
        locs=folder / "eeglab_chan32.locs",
        description=(
            "EEGLAB sample data: 32-channel scalp EEG (2 EOG read as EEG), 128 Hz, 238 s, visual "
            "target task with 'square' (stimulus) and 'rt' (response) events. BSD-2-Clause "
            "(EEGLAB); cite Delorme & Makeig, J. Neurosci. Methods 134:9 (2004)."
        ),
    )


@fill_doc
@verbose
def fetch_92objects(data_home=None, base_url=None, images=True, mirror=None,
                    download_if_missing=True, verbose=None):
    """The 92-object set of Kriegeskorte et al. (2008): images, categories, human IT RDMs.

    Downloaded from rsatoolbox's demo data: ``92_brainRDMs.mat`` (human IT
    RDMs, 4 subjects x 2 sessions; pinned hash) and
    ``Kriegeskorte_Neuron2008_supplementalData.mat`` (images and category
    vectors; no published hash: a warning gives the SHA-256 of what was
    downloaded). From a mirror (``<mirror>/stimuli_92objects``: ``imgNN.png``,
    ``categories.csv``, ``brain_rdms_hIT.mat``), the images come as 92 PNG
    files (``images/imgNN.png``) with ``categories.csv``, all pinned. A ready
    StimulusSet and RDM array: :func:`load_92objects`.

    Parameters
    ----------
    %(data_home)s
    base_url : str | None
        Where to download from (default: rsatoolbox's ``demos/92imageData/``).
        Giving it explicitly ignores ``NEUROTOOLKIT_DATA_MIRROR``.
    images : bool
        Also fetch the images (False: only the RDMs).
    mirror : path-like | None
        See :func:`fetch_haxby`.
    download_if_missing : bool
        See :func:`fetch_haxby`.
    %(verbose)s

    Returns
    -------
    Bunch
        ``path``; ``rdms`` (path of the RDM .mat file); ``images_dir`` and
        ``categories`` (folder of PNG files and the CSV; from a mirror, else
        None); ``images_mat`` (the MATLAB image file; downloaded, else None);
        ``description``.
    """
    mirror = _resolve_mirror(mirror, base_url)
    base = (base_url or _RSA_URL).rstrip("/") + "/"
    folder = get_data_home(data_home) / "objects92"
    rdm_name = "92_brainRDMs.mat"
    entries = [(rdm_name, rdm_name, _OBJECTS92_MIRROR_NAMES[rdm_name], _RDM_SHA256)]
    mat_name = "Kriegeskorte_Neuron2008_supplementalData.mat"
    if images and mirror is not None:
        entries.append(("categories.csv", None, "categories.csv", _OBJECTS92_CATEGORIES_SHA256))
        entries += [(f"images/{png}", None, png, sha) for png, sha in _OBJECTS92_PNG.items()]
    elif images:
        entries.append((mat_name, mat_name, None, None))
    _fetch_files(folder, _sources("objects92", entries, base, mirror), download_if_missing)
    from_mirror = images and mirror is not None
    return Bunch(
        path=folder,
        rdms=folder / rdm_name,
        images_dir=folder / "images" if from_mirror else None,
        categories=folder / "categories.csv" if from_mirror else None,
        images_mat=folder / mat_name if images and mirror is None else None,
        description=(
            "92 object images (Kriegeskorte et al., Neuron 60:1126, 2008) with 8 category labels, "
            "and human IT fMRI RDMs (4 subjects x 2 sessions, 92 x 92), from the rsatoolbox "
            "demos (MIT)."
        ),
    )
