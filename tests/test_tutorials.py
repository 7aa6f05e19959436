"""Execute every tutorial notebook offline (they teach workflows; they must run).

A notebook gets its real data only through the ``fetch_*`` / ``load_*``
functions. It declares the datasets it needs in its metadata
(``"neurotoolkit": {"datasets": ["objects92"]}``; an empty list: none);
without the key they are inferred from the loader and fetcher names in its
code. The kernel runs with ``NEUROTOOLKIT_DATA_MIRROR`` set to the local
mirror (when there is one) and ``NEUROTOOLKIT_DATA`` set to an empty folder,
so nothing is downloaded; a notebook whose datasets the mirror lacks is
skipped with the reason (a failure under ``NEUROTOOLKIT_REQUIRE_SHARED=1``).
"""

import os
import re
from pathlib import Path

import pytest
from _datahelpers import SHARED_DATA, missing_datasets, skip_or_fail

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))

# what marks a notebook's (or script's) use of each dataset
DATASET_TOKENS = {
    "objects92": ("load_92objects", "fetch_92objects", "stimuli_92objects"),
    "haxby2001_sub001": ("load_haxby", "fetch_haxby", "fmri_haxby2001_sub001"),
    "eeglab_sample": ("load_eeglab_sample", "fetch_eeglab_sample", "eeg_eeglab_sample"),
}
# path arithmetic towards the project's CI copy beside the repository
OUTSIDE_REPO = re.compile(r"""shared["']?\s*/\s*["']?data|parents\[\d\]\s*/\s*["']shared""")


def _code(nb):
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def required_datasets(nb):
    """Datasets the notebook needs: its metadata, else inferred from its code."""
    declared = nb.metadata.get("neurotoolkit", {}).get("datasets")
    if declared is not None:
        return list(declared)
    code = _code(nb)
    return [name for name, tokens in DATASET_TOKENS.items() if any(t in code for t in tokens)]


def _read(path):
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(path, as_version=4)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(path, tmp_path):
    nb = _read(path)
    nbclient = pytest.importorskip("nbclient")
    missing = missing_datasets(required_datasets(nb))
    if missing:
        skip_or_fail(f"{path.name} needs the dataset(s) {missing}, which are not in the local data "
                     f"mirror {SHARED_DATA} (set NEUROTOOLKIT_DATA_MIRROR); tests never download")
    env_backup = dict(os.environ)
    os.environ["MPLBACKEND"] = "Agg"
    os.environ["NEUROTOOLKIT_DATA"] = str(tmp_path / "data_home")
    if SHARED_DATA.is_dir():
        os.environ["NEUROTOOLKIT_DATA_MIRROR"] = str(SHARED_DATA)
    else:
        os.environ.pop("NEUROTOOLKIT_DATA_MIRROR", None)
    try:
        client = nbclient.NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        )
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors


@pytest.mark.parametrize("name", [p.name for p in TUTORIALS])
def test_tutorial_gets_data_through_loaders(name):
    """No path arithmetic towards files outside the repository; datasets declared when used."""
    nb = _read(ROOT / "tutorials" / name)
    text = "\n".join(c.source for c in nb.cells)
    assert not OUTSIDE_REPO.search(text), OUTSIDE_REPO.search(text).group(0)
    declared = nb.metadata.get("neurotoolkit", {}).get("datasets")
    code = _code(nb)
    used = [n for n, tokens in DATASET_TOKENS.items() if any(t in code for t in tokens[:2])]
    if declared is not None and declared != []:
        assert sorted(declared) == sorted(used), (declared, used)
