"""Run the example scripts (each does one task in seconds)."""

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


def test_ridge_on_arrays_matches_sklearn():
    err = _load("ridge_on_arrays.py")["main"]()
    assert err < 1e-4


def test_encode_92objects(objects92_dir, tmp_path):
    scores = _load("encode_92objects.py")["main"](
        ["--images", str(objects92_dir), "--out", str(tmp_path / "fig.png")]
    )
    assert (tmp_path / "fig.png").stat().st_size > 1000
    by_roi = scores.groupby("roi")["r"].mean()
    assert by_roi["V1"] > 0.5 and abs(by_roi["noise"]) < 0.2
