"""The encode pipeline on continuous responses: BIDS BOLD + events fitted with FIR delays over
feature time courses (no beta estimation), held-out runs scored beside a circular-shift null."""

from pathlib import Path

import pandas as pd
import pytest

from neurotoolkit.pipelines.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "pipelines" / "configs"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _args(tree, out, *extra):
    return ["encode", str(CONFIGS / "bids_template.yaml"),
            "--set", f"data.root={tree['root']}", "--set", f"data.derivatives={tree['derivatives']}",
            "--set", f"data.atlas={tree['atlas']}", "--set", f"features.embedding.file={tree['features']}",
            "--set", "data.task=objects", "--set", "data.atlas_labels={1: vt, 2: rest}",
            "--set", "data.responses=timeseries", "--set", "inference.n_permutations=100",
            "--output-dir", str(out), "--quiet", *extra]


def test_time_series_with_delays_recovers_the_planted_roi(tmp_path):
    from _trees import make_fmriprep_tree

    tree = make_fmriprep_tree(tmp_path / "tree", n_runs=4)
    out = tmp_path / "out"
    # a time series without delays: a runtime error naming model.delays (exit 1), nothing fitted
    assert main(_args(tree, tmp_path / "no_delays")) == 1
    args = _args(tree, out, "--set", "model.delays=[1, 2, 3, 4]", "--set", "model.resample=hrf")
    assert main(args) == 0
    roi = pd.read_csv(out / "roi_scores.csv").set_index("roi")
    # the planted ROI beats its circular-shift chance level; the noise ROI does not
    assert roi.loc["vt", "r_mean"] > 0.5 > roi.loc["vt", "chance_r_mean"]
    assert roi.loc["vt", "p_perm"] < 0.05
    assert roi.loc["rest", "r_mean"] < roi.loc["rest", "chance_r_mean"] + 0.1
    report = (out / "report.md").read_text()
    assert "test samples" in report
    # only the model section changes: the data and feature stages come from the cache
    log_before = {p.name for p in (out / "cache").rglob("*") if p.is_dir()}
    assert main(args + ["--set", "model.delays=[1, 2, 3]"]) == 0
    roi2 = pd.read_csv(out / "roi_scores.csv").set_index("roi")
    assert roi2.loc["vt", "r_mean"] > 0.5
    cache_after = {p.name for p in (out / "cache").rglob("*") if p.is_dir()}
    assert len(cache_after - log_before) == 1  # one new model entry, nothing else recomputed


@pytest.mark.parametrize("override, message", [
    ("model.delays=[one]", r"`model.delays"),
    ("model.resample=cubic", r"`model.resample`"),
    ("model.delay_unit=ms", r"`model.delay_unit`"),
])
def test_time_series_keys_fail_before_any_work(tmp_path, capsys, override, message):
    out = tmp_path / "out"
    args = ["encode", str(CONFIGS / "demo.yaml"), "--set", override, "--output-dir", str(out), "--quiet"]
    assert main(args) == 2 and not out.exists()
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)
