"""The decode pipeline from the command line: Haxby category/embedding decoding, EEGLAB
time-resolved decoding, the simulator (per subject and cross-subject), bad configs, resume."""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neurotoolkit.pipelines.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "pipelines" / "configs"

SIM = {
    "name": "sim-decode",
    "random_state": 0,
    "data": {"source": "simulate", "n_per_category": 8, "n_subjects": 2},
    "features": {"gabor": {"kind": "gabor", "params": {"n_orientations": 4, "grid_sizes": [1, 2],
                                                       "image_size": 48}}},
    "decode": {"targets": ["category", "embedding"], "labels": ["face", "body", "place", "object",
                                                                "animal"],
               "embedding": "gabor", "n_permutations": 5,
               "cross_subject": {"max_epochs": 5, "hidden_dim": 32}},
}


def _write(tmp_path, cfg, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_haxby_decode_from_the_command_line(data_mirror, tmp_path):
    out = tmp_path / "haxby"
    assert main(["decode", str(CONFIGS / "haxby_decode.yaml"), "--output-dir", str(out),
                 "--set", "decode.n_permutations=5", "--set", "decode.rois=[all]", "--quiet"]) == 0
    scores = pd.read_csv(out / "scores.csv").set_index("metric")
    cat = scores.loc["accuracy"]
    # 8 balanced categories: chance 1/8; the null (labels shuffled within runs) sits at chance
    assert cat["chance"] == pytest.approx(0.125)
    assert abs(cat["null_mean"] - 0.125) < 0.06
    assert cat["score"] > cat["null_q95"] and cat["score"] > 0.2
    two = scores.loc["2-way identification"]
    assert two["chance"] == 0.5 and two["score"] > 0.55 and two["n_folds"] == 12
    report = (out / "report.md").read_text()
    assert "| subject" in report and "null_q95" in report and "chance" in report
    assert (out / "report.html").stat().st_size > 0 and (out / "scores_plot.png").is_file()


def test_eeglab_time_resolved_from_the_command_line(data_mirror, tmp_path):
    out = tmp_path / "eeg"
    assert main(["decode", str(CONFIGS / "eeglab_time_resolved.yaml"), "--output-dir", str(out),
                 "--set", "decode.n_permutations=3", "--quiet"]) == 0
    row = pd.read_csv(out / "scores.csv").iloc[0]
    assert row["chance"] == 0.5 and 0.0 <= row["peak_time_s"] <= 0.8
    # stimulus vs response epochs are easy to tell apart after onset; the permuted null is not
    assert row["score"] > 0.8 and row["null_mean"] < 0.7
    course = pd.read_csv(out / "timecourse.csv")
    assert len(course) == 16 and course["score"].max() == pytest.approx(row["score"])
    assert (out / "timecourse_sub-01.png").is_file()


def _hashes(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.suffix in (".csv", ".png")}


def test_simulator_decode_and_killed_run_resumes_identically(tmp_path):
    ref = tmp_path / "ref"
    assert main(["decode", str(_write(tmp_path, {**SIM, "output_dir": str(ref)})), "--quiet"]) == 0
    scores = pd.read_csv(ref / "scores.csv")
    per_subject = scores[~scores["target"].str.contains("cross")]
    # planted category tuning: far above the permutation null; retrieval above 1/n_way
    cat = per_subject[per_subject["target"] == "category"]
    assert (cat["score"] > cat["null_q95"]).all()
    ret = per_subject[per_subject["metric"].str.contains("retrieval")]
    assert (ret["score"] > 2 * ret["chance"]).all()
    cross = scores[scores["target"].str.contains("cross")]
    assert set(cross["subject"]) == {"sub-01", "sub-02"} and (cross["chance"] > 0).all()
    assert (ref / "retrieval_sub-01.png").is_file()

    # kill after the first subject's stage, then rerun: identical tables and figures
    out = tmp_path / "resumed"
    cfg = _write(tmp_path, {**SIM, "output_dir": str(out)}, "resumed.yaml")
    env = {**os.environ, "NEUROTOOLKIT_PIPELINES_CRASH_AFTER": "decode-sub-01-all",
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "neurotoolkit.pipelines", "decode", str(cfg), "--quiet"]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 99, killed.stderr
    assert not (out / "scores.csv").exists()
    assert main(["decode", str(cfg), "--quiet"]) == 0
    stages = {s["name"]: s["status"] for s in
              yaml.safe_load((out / "manifest.json").read_text())["stages"]}
    assert stages["decode-sub-01-all"] == "cached" and stages["decode-sub-02-all"] == "computed"
    assert _hashes(out) == _hashes(ref) and len(_hashes(ref)) >= 5


@pytest.mark.parametrize("change, path", [
    (lambda c: c["decode"]["cross_subject"].update(max_epoch=3),
     r"decode\.cross_subject\.max_epoch`: unknown key"),
    (lambda c: c["decode"].update(n_permutations="many"), r"decode\.n_permutations`"),
    (lambda c: c.update(data={"source": "recording", "files": {"sub-01": "/no/such/rec.h5"}}),
     r"data\.files\.sub-01`: expected an existing file"),
    (lambda c: c["decode"].update(embedding="clip"), r"decode\.embedding`: expected one of"),
], ids=["misspelt-nested-key", "wrong-type", "missing-file", "unknown-embedding"])
def test_bad_config_fails_before_any_work(tmp_path, capsys, change, path):
    cfg = yaml.safe_load(yaml.safe_dump(SIM))
    cfg["output_dir"] = str(tmp_path / "never")
    change(cfg)
    assert main(["decode", str(_write(tmp_path, cfg))]) == 2
    assert re.search(path, capsys.readouterr().err)
    assert not (tmp_path / "never").exists()


def test_labels_and_folds_helpers():
    """Labels from category columns and the fold kinds, on a tiny Recording."""
    from neurotoolkit.data import Recording, StimulusSet
    from neurotoolkit.pipelines._decode_core import make_folds, stimulus_labels

    ids = ["a", "b", "c", "a", "b", "c"]
    rec = Recording(np.random.default_rng(0).normal(size=(6, 4)), ids, runs=[1, 1, 1, 2, 2, 2])
    cats = pd.DataFrame({"x": [True, False, False], "y": [False, True, True]}, index=["a", "b", "c"])
    stim = StimulusSet(["a", "b", "c"], categories=cats)
    assert list(stimulus_labels(rec, stim, ["x", "y"])) == ["x", "y", "y", "x", "y", "y"]
    with pytest.raises(ValueError, match="decode.labels"):
        stimulus_labels(rec, stim, ["nope"])
    folds, kind = make_folds(rec)
    assert kind == "runs" and len(folds) == 2 and not (folds[0][0] & folds[0][1]).any()
