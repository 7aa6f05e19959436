"""Where the tests find real recordings (a local data mirror), shared by the conftest and test
modules. A module of its own with a unique name: ``from conftest import ...`` would pick whichever of
the several ``conftest.py`` files was imported first."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get("NEUROTOOLKIT_SHARED_DATA")
    or os.environ.get("NEUROTOOLKIT_DATA_MIRROR")
    or ROOT.parent / "shared" / "data"
)


def shared_path(*parts):
    """Path under ``../shared/data``; skips (or fails under CI) when missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        skip_or_fail(
            f"real data file {path} is missing: it comes from a local data mirror "
            "(NEUROTOOLKIT_DATA_MIRROR, or the project's CI copy next to the repository root), "
            "which a user's clone does not have"
        )
    return path


def skip_or_fail(msg):
    """Skip with ``msg``, or fail when ``NEUROTOOLKIT_REQUIRE_SHARED=1`` (CI)."""
    if os.environ.get("NEUROTOOLKIT_REQUIRE_SHARED") == "1":
        pytest.fail(msg + " and NEUROTOOLKIT_REQUIRE_SHARED=1 requires it.")
    pytest.skip(msg + ".")


def missing_datasets(names):
    """The datasets (fetcher folder names, e.g. "objects92") that the mirror lacks."""
    from neurotoolkit.data.datasets._registry import MIRROR_FOLDERS

    return [n for n in names if not (SHARED_DATA / MIRROR_FOLDERS[n]).is_dir()]
