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


def test_train_prefix_captioner(tmp_path, torch_single_thread):
    __import__("pytest").importorskip("torch")
    losses, scores, exact_train = _load("train_prefix_captioner.py")["main"](
        ["--epochs", "30", "--out", str(tmp_path / "cap.pt")]
    )
    assert (tmp_path / "cap.pt").stat().st_size > 1000
    assert losses[-1] < 0.1 * losses[0]
    assert exact_train >= 0.9
    assert scores.set_index("metric").loc["BLEU-1", "score"] > 0.5


def test_decode_haxby_embeddings(haxby_dir):
    main = _load("decode_haxby_embeddings.py")["main"]
    loro = main(["--data", str(haxby_dir)]).set_index("metric")
    assert list(loro["chance"]) == [0.125, 0.125, 0.5] and (loro["n_folds"] == 12).all()
    # leave-one-run-out, measured 0.640; 200 within-run label permutations: mean 0.499,
    # 99th percentile 0.583, max 0.591 (p = 0.005)
    assert loro.loc["2-way identification", "accuracy"] > 0.6
    # 3 runs held out per fold, test blocks averaged: measured 0.281 both ways and 2-way
    # 0.683; 300 permutations: p = 0.02 / 0.02 / 0.003 (null mean 0.12 / 0.12 / 0.50)
    avg = main(["--data", str(haxby_dir), "--runs-per-fold", "3"]).set_index("metric")
    assert (avg.loc[["image retrieval (8-way)", "brain retrieval (8-way)"], "accuracy"]
            >= 0.25).all()
    assert avg.loc["2-way identification", "accuracy"] > 0.62
