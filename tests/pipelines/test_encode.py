"""The encode pipeline from the command line: simulator, BIDS/fMRIPrep and NSD trees, Haxby;
cached stages, resume after a kill, configs that fail before any work."""

import hashlib
import json
import os
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
DEMO = CONFIGS / "demo.yaml"
SMALL = ["--set", "data.n_per_category=8", "--set", "data.n_subjects=1",
         "--set", "inference.n_permutations=50", "--quiet"]

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_demo_runs_from_the_command_line(tmp_path):
    out = tmp_path / "out"
    assert main(["encode", str(DEMO), "--output-dir", str(out), *SMALL]) == 0
    roi = pd.read_csv(out / "roi_scores.csv").set_index("roi")
    # the simulator's tuned ROI is predicted far above its permutation chance level; noise is not
    assert roi.loc["V1", "r_mean"] > roi.loc["V1", "chance_r_mean"] + 0.3
    assert roi.loc["noise", "r_mean"] < roi.loc["noise", "chance_r_mean"] + 0.1
    assert roi.loc["V1", "p_perm"] < 0.05
    # the estimated noise ceiling tracks the simulator's ground truth
    assert abs(roi.loc["V1", "noise_ceiling_mean"] - roi.loc["V1", "true_noise_ceiling_mean"]) < 0.15
    report = (out / "report.md").read_text()
    assert any(line.startswith("| subject") for line in report.splitlines()), "no Markdown table"
    assert "chance_r_mean" in report and "<table" in (out / "report.html").read_text()
    manifest = _manifest(out)
    for fname, item in manifest["outputs"].items():
        assert _sha(out / fname) == item["sha256"], fname
    assert {"roi_scores.csv", "scores.csv", "roi_scores.png", "score_distributions.png",
            "encoder_sub-01.h5", "report.md", "report.html"} <= set(manifest["outputs"])
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["cv"] == 5
    assert json.loads((out / "environment.json").read_text())["packages"]["numpy"] == np.__version__
    assert not list(out.rglob("*.tmp*")), "temporary files left behind"


def test_changing_only_the_model_recomputes_only_the_model(tmp_path):
    out = tmp_path / "out"
    assert main(["encode", str(DEMO), "--output-dir", str(out), *SMALL]) == 0
    first = {s["name"]: s["status"] for s in _manifest(out)["stages"]}
    assert first == {"features-gabor": "computed", "model-sub-01": "computed"}
    assert main(["encode", str(DEMO), "--output-dir", str(out), *SMALL]) == 0
    assert {s["status"] for s in _manifest(out)["stages"]} == {"cached"}
    assert main(["encode", str(DEMO), "--output-dir", str(out), *SMALL,
                 "--set", "model.alphas=[1, 100, 10000]"]) == 0
    again = {s["name"]: s["status"] for s in _manifest(out)["stages"]}
    assert again == {"features-gabor": "cached", "model-sub-01": "computed"}
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["alphas"] == [1, 100, 10000]


def test_killed_run_resumed_gives_identical_outputs(tmp_path):
    cmd = [sys.executable, "-m", "neurotoolkit.pipelines", "encode", str(DEMO), *SMALL]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    subprocess.run(cmd + ["--output-dir", str(whole)], env=env, check=True, capture_output=True)
    # killed right after the features stage was saved (os._exit: no cleanup, no report)
    killed = subprocess.run(cmd + ["--output-dir", str(resumed)], capture_output=True,
                            env=dict(env, NEUROTOOLKIT_PIPELINES_CRASH_AFTER="features-gabor"))
    assert killed.returncode == 99
    assert not (resumed / "report.md").exists() and not (resumed / "manifest.json").exists()
    subprocess.run(cmd + ["--output-dir", str(resumed)], env=env, check=True, capture_output=True)
    stages = {s["name"]: s["status"] for s in _manifest(resumed)["stages"]}
    assert stages == {"features-gabor": "cached", "model-sub-01": "computed"}
    a, b = _manifest(whole)["outputs"], _manifest(resumed)["outputs"]
    assert set(a) == set(b)
    same = {f: a[f]["sha256"] == b[f]["sha256"] for f in a if a[f]["kind"] != "model"}
    assert all(same.values()), same
    # encoder files carry a creation time in their header: compare what they hold
    from neurotoolkit.encoding import load_encoder

    ea, eb = load_encoder(whole / "encoder_sub-01.h5"), load_encoder(resumed / "encoder_sub-01.h5")
    np.testing.assert_array_equal(ea.linear_readout()["coef"], eb.linear_readout()["coef"])


@pytest.mark.parametrize(
    "overrides, key_path",
    [
        (["model.alpha=[1, 10]"], r"`model.alpha`: unknown key"),
        (["data.n_subjects=two"], r"`data.n_subjects`: .*valid integer"),
        (["features.gabor.params.n_orientaton=4"], r"`features.gabor.params.n_orientaton`: unknown key"),
        (["features.pre={kind: precomputed, file: /no/such/features.npz}"],
         r"`features.pre.file`: expected an existing file \(no such file\)"),
        (["data={source: bids, root: /no/such/bids, task: x}"], r"`data.root`: expected an existing folder"),
        (["data.source=bdis"], r"`data`: expected 'source' to be one of"),
        (["model.cv=0"], r"`model.cv`"),
    ],
    ids=["misspelt-nested-key", "wrong-type", "deep-key", "missing-file", "missing-folder", "bad-tag",
         "bad-value"],
)
def test_bad_config_fails_before_any_work_naming_the_key_path(tmp_path, capsys, overrides, key_path):
    out = tmp_path / "never"
    args = [x for o in overrides for x in ("--set", o)]
    assert main(["encode", str(DEMO), "--output-dir", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert pytest.importorskip("re").search(key_path, err), err
    assert not out.exists(), "work started before the config was validated"
    # Python callers get the same check
    from neurotoolkit.pipelines import ConfigError, run_pipeline
    from neurotoolkit.pipelines._overrides import apply_overrides

    cfg = apply_overrides(yaml.safe_load(DEMO.read_text()), overrides)
    cfg["output_dir"] = str(out)
    with pytest.raises(ConfigError, match=key_path):
        run_pipeline("encode", cfg, verbose=False)
    assert not out.exists()


def _bids_args(tree):
    return ["--set", f"data.root={tree['root']}", "--set", f"data.derivatives={tree['derivatives']}",
            "--set", f"data.atlas={tree['atlas']}", "--set", f"features.embedding.file={tree['features']}"]


def test_bids_fmriprep_tree_recovers_the_planted_roi(tmp_path):
    from _trees import make_fmriprep_tree

    tree = make_fmriprep_tree(tmp_path / "tree")
    out = tmp_path / "out"
    args = ["encode", str(CONFIGS / "bids_template.yaml"), *_bids_args(tree),
            "--set", "data.task=objects", "--set", "data.atlas_labels={1: vt, 2: rest}",
            "--set", "inference.n_permutations=100", "--output-dir", str(out), "--quiet"]
    assert main(args + ["--dry-run"]) == 0 and not out.exists()
    assert main(args) == 0
    roi = pd.read_csv(out / "roi_scores.csv").set_index("roi")
    assert roi.loc["vt", "r_mean"] > 0.8 > roi.loc["vt", "chance_r_mean"]
    assert roi.loc["rest", "r_mean"] < roi.loc["rest", "chance_r_mean"] + 0.1
    assert (out / "brain_map_sub-01.png").stat().st_size > 0
    import nibabel as nib

    r_map = nib.load(out / "r_sub-01.nii.gz").get_fdata()
    atlas = nib.load(tree["atlas"]).get_fdata()
    assert r_map[atlas == 1].mean() > r_map[atlas == 2].mean() + 0.5
    # missing events for a run: fails as a config error naming the key
    next(tree["root"].rglob("*run-2_events.tsv")).unlink()
    assert main(args + ["--output-dir", str(tmp_path / "o2")]) == 2


def test_nsd_tree_from_the_template(tmp_path):
    from _trees import make_nsd_tree

    tree = make_nsd_tree(tmp_path / "tree")
    out = tmp_path / "out"
    args = ["encode", str(CONFIGS / "nsd_template.yaml"), "--set", f"data.subjects.subj01={tree['betas']}",
            "--set", f"data.stim_order.subj01={tree['order']}", "--set", f"data.masks.subj01={tree['mask']}",
            "--set", f"features.embedding.file={tree['features']}", "--set", "data.stimuli=null",
            "--set", "inference.n_permutations=100", "--output-dir", str(out), "--quiet"]
    assert main(args + ["--dry-run"]) == 0
    assert main(args) == 0
    roi = pd.read_csv(out / "roi_scores.csv").set_index("roi")
    assert roi.loc["nsdgeneral", "r_mean"] > roi.loc["nsdgeneral", "chance_r_mean"] + 0.2
    assert 0 < roi.loc["nsdgeneral", "noise_ceiling_mean"] <= 1


def test_haxby_real_data(tmp_path, data_mirror):
    out = tmp_path / "out"
    assert main(["encode", str(CONFIGS / "haxby_encode.yaml"), "--output-dir", str(out),
                 "--set", "inference.n_permutations=200", "--quiet"]) == 0
    roi = pd.read_csv(out / "roi_scores.csv").set_index("roi")
    assert set(roi.index) == {"vt", "brain"}
    # the category of a block predicts its held-out ventral temporal response above chance
    assert roi.loc["vt", "r_mean"] > roi.loc["vt", "chance_r_mean"]
    assert (out / "brain_map_sub-01.png").exists() and (out / "report.html").exists()


def test_old_module_entry_point_still_works(tmp_path, capsys):
    from pipelines.encode import main as old_main

    assert old_main(["--config", str(DEMO), "--output-dir", str(tmp_path / "o"), "--dry-run"]) == 0
    assert "is valid; nothing was run" in capsys.readouterr().out
    assert not (tmp_path / "o").exists()
