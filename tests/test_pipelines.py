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


@pytest.mark.parametrize(
    "change, path, expected",
    [
        (lambda c: c["model"].update(alpha=[1, 10]), r"`model\.alpha`: unknown key", "misspelt nested key"),
        (lambda c: c["simulate"].update(n_subjects="two"), r"`simulate\.n_subjects`: .*valid integer", "type"),
        (lambda c: c["features"]["gabor"]["params"].update(n_orientaton=4),
         r"`features\.gabor\.params\.n_orientaton`: unknown key", "deep key"),
        (lambda c: c["simulate"].update(stimuli="/no/such/folder"),
         r"`simulate\.stimuli`: .*no such folder", "missing folder"),
        (lambda c: c["model"].update(cv=0), r"`model\.cv`: .*greater than 0", "value"),
        (lambda c: c.update(features={}), r"`features`: expected at least one feature space", "empty"),
    ],
    ids=["misspelt-nested-key", "wrong-type", "deep-key", "missing-folder", "bad-value", "empty"],
)
def test_bad_config_fails_before_any_work_naming_the_key_path(tmp_path, change, path, expected):
    from pipelines._config import ConfigError

    cfg = yaml.safe_load(DEMO.read_text())
    change(cfg)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "never"
    with pytest.raises(ConfigError, match=path):
        main(["--config", str(bad), "--output-dir", str(out)])
    cfg["output_dir"] = str(out)
    with pytest.raises(ConfigError, match=path):  # Python callers get the same check
        run(cfg, verbose=False)
    assert not out.exists(), "work started before the config was validated"


def test_dry_run_validates_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["--config", str(DEMO), "--output-dir", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "is valid; nothing was run" in printed and "n_orientations: 8" in printed
    assert not out.exists()
    with pytest.raises(FileNotFoundError, match="no such file"):
        main(["--config", str(tmp_path / "missing.yaml"), "--dry-run"])


def test_report_table_is_markdown(tmp_path):
    cfg = load_config(DEMO)
    cfg.update(output_dir=str(tmp_path / "out"))
    cfg["simulate"].update(n_per_category=8, n_subjects=1)
    report = (run(cfg, verbose=False) / "report.md").read_text()
    table = [line for line in report.splitlines() if line.startswith("| roi")]
    assert table, "the ROI table is not a Markdown table"
    assert any(set(line) <= set("|-: ") for line in report.splitlines() if line.startswith("|-") or line.startswith("|:"))
