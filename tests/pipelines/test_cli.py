"""The ``neurotoolkit`` command line: --help lists every key, fetch and cards work offline."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from neurotoolkit.pipelines.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "pipelines" / "configs" / "demo.yaml"


def test_help_lists_every_key_path(capsys):
    assert main(["encode", "--help"]) == 0
    text = capsys.readouterr().out
    for key in ("model.alphas", "model.cv", "split.test_runs", "inference.n_permutations",
                "data[source=bids].root", "data[source=nsd].stim_order", "data[source=dataset].name",
                "features.<name>[kind=backbone].weights", "features.<name>[kind=precomputed].file",
                "features.<name>[kind=gabor].params.n_orientations", "--set", "--dry-run"):
        assert key in text, key
    assert "= 'best'" in text  # defaults are shown
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    assert all(c in top for c in ("encode", "decode", "probe", "rsa", "fetch", "cards"))


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main([]) == 2
    assert main(["encode"]) == 2  # no config
    assert main(["encode", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    assert main(["encode", str(bad)]) == 2
    assert main(["encode", str(DEMO), "--set", "novalue"]) == 2
    assert "key.path=value" in capsys.readouterr().err


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["encode", str(DEMO), "--output-dir", str(out), "--dry-run",
                 "--set", "model.alphas=[1, 10]"]) == 0
    printed = capsys.readouterr().out
    assert "is valid; nothing was run" in printed and "features: gabor (gabor)" in printed
    plan = yaml.safe_load(printed.split("\n\n", 1)[1])
    assert plan["model"]["alphas"] == [1, 10] and plan["output_dir"] == str(out)
    assert not out.exists()


def test_runtime_error_exits_1(tmp_path, capsys):
    # valid config, but the encode pipeline needs trials: a time-series simulation fails at run time
    assert main(["encode", str(DEMO), "--output-dir", str(tmp_path / "o"), "--quiet",
                 "--set", "data.mode=timeseries", "--set", "data.n_per_category=4",
                 "--set", "data.n_subjects=1"]) == 1
    assert "data.responses" in capsys.readouterr().err


def test_fetch_and_cards_offline(tmp_path, capsys, data_mirror):
    assert main(["fetch", "92objects", "--data-home", str(tmp_path / "home")]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "home") in out and len(list((tmp_path / "home").rglob("*.png"))) == 92
    assert main(["fetch", "nope"]) == 2
    assert main(["cards"]) == 0
    listing = capsys.readouterr().out
    assert "nsd" in listing and "haxby2001" in listing
    assert main(["cards", "nsd"]) == 0
    card = yaml.safe_load(capsys.readouterr().out)
    assert card["slug"] == "nsd"
    assert main(["cards", "nds"]) == 2


def test_console_script_and_module_entry_points():
    exe = Path(sys.executable).with_name("neurotoolkit")
    if not exe.exists():
        pytest.skip("the console script is not installed (pip install -e .)")
    for cmd in ([str(exe), "cards"], [sys.executable, "-m", "neurotoolkit.pipelines", "cards"]):
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        assert "nsd" in done.stdout


def test_import_neurotoolkit_does_not_import_pipelines():
    code = "import sys, neurotoolkit, neurotoolkit.data; print('neurotoolkit.pipelines' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
