"""Shared fixtures.

Real recordings come from a local data mirror: the folder named by
``NEUROTOOLKIT_SHARED_DATA`` or ``NEUROTOOLKIT_DATA_MIRROR``, else the
project's CI copy beside the repository root (``../shared/data``). A user's
clone has none: tests that need it skip with a clear reason, unless
``NEUROTOOLKIT_REQUIRE_SHARED=1`` (set by ``.ci/run``), where a missing file is
a failure. Tests never download: the fetchers get a mirror or ``file://`` URLs
(an autouse fixture fails any other download).
"""

import os

import numpy as np
import pytest

from _datahelpers import ROOT, SHARED_DATA, missing_datasets, shared_path, skip_or_fail  # noqa: F401


@pytest.fixture
def data_mirror(tmp_path, monkeypatch):
    """Fetchers and loaders read the local mirror into a fresh ``data_home``.

    Sets ``NEUROTOOLKIT_DATA_MIRROR`` to the mirror and ``NEUROTOOLKIT_DATA`` to
    an empty temporary folder; skips (fails under CI) when there is no mirror.
    """
    if not SHARED_DATA.is_dir():
        skip_or_fail(f"no local data mirror at {SHARED_DATA}")
    monkeypatch.setenv("NEUROTOOLKIT_DATA_MIRROR", str(SHARED_DATA))
    monkeypatch.setenv("NEUROTOOLKIT_DATA", str(tmp_path / "data_home"))
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _no_downloads(monkeypatch):
    """Fail any test whose fetcher tries the network (tests use a mirror or file:// URLs)."""
    from neurotoolkit.data.datasets import _fetchers

    real = _fetchers._download

    def guarded(url, dest, *args, **kwargs):
        if not str(url).startswith("file:"):
            pytest.fail(f"a test tried to download {url}: give the fetcher a mirror or a file:// URL")
        return real(url, dest, *args, **kwargs)

    monkeypatch.setattr(_fetchers, "_download", guarded)


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
