"""Run the example scripts (each does one task in seconds).

Scripts that need real data get it through ``load_*`` from the local mirror
(``data_mirror`` fixture: skipped without one, never downloaded).
"""

import runpy
from pathlib import Path

import pytest
from test_tutorials import OUTSIDE_REPO

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


def _load(name):
    return runpy.run_path(str(EXAMPLES / name), run_name="example")


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_reads_no_files_outside_the_repository(name):
    text = (EXAMPLES / name).read_text()
    assert not OUTSIDE_REPO.search(text) and "../shared" not in text


def test_ridge_on_arrays_matches_sklearn():
    err = _load("ridge_on_arrays.py")["main"]()
    assert err < 1e-4


def test_ridge_engine_routes(tmp_path):
    """The example's two designs take the primal and the dual (block deletion) forms, with the
    alphas of an exact float64 cross-validation, and the phase figure is written."""
    res = _load("ridge_engine_routes.py")["main"](["--out", str(tmp_path / "phases.png")])
    assert res["narrow"]["route"] == "primal" and res["wide"]["route"] == "dual"
    assert "block deletion on one decomposition" in res["wide"]["why"]
    assert res["narrow"]["same"] >= 0.998 and res["wide"]["same"] >= 0.998
    assert set(res["wide"]["timings"]) >= {"x_statistics", "decompositions", "scoring"}
    assert (tmp_path / "phases.png").stat().st_size > 1000


def test_encode_92objects(data_mirror, tmp_path):
    scores = _load("encode_92objects.py")["main"](["--out", str(tmp_path / "fig.png")])
    assert (tmp_path / "fig.png").stat().st_size > 1000
    by_roi = scores.groupby("roi")["r"].mean()
    assert by_roi["V1"] > 0.5 and abs(by_roi["noise"]) < 0.2


def test_train_prefix_captioner(tmp_path, torch_single_thread):
    pytest.importorskip("torch")
    losses, scores, exact_train = _load("train_prefix_captioner.py")["main"](
        ["--epochs", "30", "--out", str(tmp_path / "cap.pt")]
    )
    assert (tmp_path / "cap.pt").stat().st_size > 1000
    assert losses[-1] < 0.1 * losses[0]
    assert exact_train >= 0.9
    assert scores.set_index("metric").loc["BLEU-1", "score"] > 0.5


def test_decode_haxby_embeddings(data_mirror):
    main = _load("decode_haxby_embeddings.py")["main"]
    loro = main([]).set_index("metric")
    assert list(loro["chance"]) == [0.125, 0.125, 0.5] and (loro["n_folds"] == 12).all()
    # leave-one-run-out, measured 0.640; 200 within-run label permutations: mean 0.499,
    # 99th percentile 0.583, max 0.591 (p = 0.005)
    assert loro.loc["2-way identification", "accuracy"] > 0.6
    # 3 runs held out per fold, test blocks averaged: measured 0.281 both ways and 2-way
    # 0.683; 300 permutations: p = 0.02 / 0.02 / 0.003 (null mean 0.12 / 0.12 / 0.50)
    avg = main(["--runs-per-fold", "3"]).set_index("metric")
    assert (avg.loc[["image retrieval (8-way)", "brain retrieval (8-way)"], "accuracy"]
            >= 0.25).all()
    assert avg.loc["2-way identification", "accuracy"] > 0.62
