"""Shared fixtures.

Real recordings live in ``../shared/data`` beside the project root (see that
folder's README). A user's clone has no such folder: tests that need it skip
with a clear reason, unless ``NEUROTOOLKIT_REQUIRE_SHARED=1`` (set by
``.ci/run``), where a missing file is a failure.
"""

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NEUROTOOLKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_path(*parts):
    """Path under ``../shared/data``; skips (or fails under CI) when missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        msg = (
            f"real data file {path} is missing: it comes from the project's shared/data folder "
            "(next to the repository root), which a user's clone does not have"
        )
        if os.environ.get("NEUROTOOLKIT_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " and NEUROTOOLKIT_REQUIRE_SHARED=1 requires it.")
        pytest.skip(msg + ".")
    return path


@pytest.fixture
def objects92_dir():
    """Folder of the 92-object images (imgNN.png + categories.csv)."""
    return shared_path("stimuli_92objects")


@pytest.fixture
def haxby_dir():
    """Haxby 2001 subject 1 folder (run-XX/bold.nii.gz, events.tsv, masks/)."""
    return shared_path("fmri_haxby2001_sub001")


@pytest.fixture
def eeglab_dir():
    """EEGLAB sample folder (eeglab_data.set/.fdt)."""
    return shared_path("eeg_eeglab_sample")


@pytest.fixture
def rng():
    """A seeded generator; tests must pass for any seed."""
    return np.random.default_rng(int(os.environ.get("NEUROTOOLKIT_TEST_SEED", "0")))


@pytest.fixture(scope="module")
def torch_single_thread():
    """Run a module's tiny torch models on one thread (restored afterwards).

    Thread start-up costs more than it saves on tiny models, and on a busy
    2-core machine two threads contend (10-100x slower measured).
    """
    try:
        import torch
    except ImportError:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
