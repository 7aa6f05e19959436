"""The main job runs end to end on the embedded default and writes its report."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines.encode import load_config, main, run

DEMO = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "demo.yaml"


def test_demo_config_runs_end_to_end(tmp_path):
    cfg = load_config(DEMO)
    cfg["output_dir"] = str(tmp_path / "out")
    cfg["simulate"]["n_per_category"] = 16
    out = run(cfg, verbose=False)
    for name in ("report.md", "scores.csv", "roi_summary.csv", "roi_scores.png"):
        assert (out / name).stat().st_size > 0
    summary = pd.read_csv(out / "roi_summary.csv").set_index("roi")
    assert summary.loc["V1", "r_mean"] > summary.loc["noise", "r_mean"] + 0.3
    # the estimated noise ceiling tracks the simulator's truth
    assert abs(summary.loc["V1", "noise_ceiling_mean"] - summary.loc["V1", "true_noise_ceiling_mean"]) < 0.15
    assert "Scores per ROI" in (out / "report.md").read_text()
    assert not list(out.glob("*.tmp*")), "temporary files left behind"


def test_cli_and_bad_config(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "modle": {}}))
    with pytest.raises(ValueError, match="unknown key"):
        main(["--config", str(bad)])
    cfg = yaml.safe_load(DEMO.read_text())
    cfg["simulate"]["n_per_category"] = 8
    cfg["simulate"]["n_subjects"] = 1
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(cfg))
    assert main(["--config", str(small), "--output-dir", str(tmp_path / "o"), "--quiet"]) == 0
    assert "report:" in capsys.readouterr().out
