"""The rsa pipeline from the command line: the 92 objects against human IT (Gabor, category
and a tiny random backbone's layers), the simulator per ROI, bad configs."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neurotoolkit.pipelines.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "pipelines" / "configs" / "objects92_rsa.yaml"


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    """A tiny ViT with random weights saved as a local Hugging Face folder (no download)."""
    torch = pytest.importorskip("torch")
    from neurotoolkit.features._backbones import import_torchvision

    import_torchvision()  # a torchvision built for another torch imports without its ops
    tr = pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("vit")
    torch.manual_seed(0)
    cfg = tr.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=37, image_size=32, patch_size=8)
    tr.ViTModel(cfg).eval().save_pretrained(root)
    tr.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(root)
    return root


def test_objects92_rsa_from_the_command_line(data_mirror, tmp_path, tiny_vit):
    from neurotoolkit.analysis import compare_rdms, rdm, rdm_noise_ceiling
    from neurotoolkit.data import load_92objects
    from neurotoolkit.features import GaborPyramid

    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["features"]["clip"] = {"kind": "backbone", "name": f"hf:{tiny_vit}", "device": "cpu",
                               "layers": ["embedding"], "batch_size": 46}
    cfg["features"]["gabor"] = {"kind": "gabor", "params": {"n_orientations": 4,
                                                             "grid_sizes": [1, 2]}}
    cfg["rsa"].update(n_bootstraps=50, n_permutations=200)
    cfg["output_dir"] = str(tmp_path / "rsa")
    path = tmp_path / "rsa.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["rsa", str(path), "--quiet"]) == 0
    table = pd.read_csv(tmp_path / "rsa" / "rsa_scores.csv").set_index("model")
    assert set(table.index) == {"gabor", "animacy", "clip"} and set(table["roi"]) == {"hIT"}

    # reference: the same numbers from the public functions
    objects = load_92objects()
    iu = np.triu_indices(92, k=1)
    subjects = objects.rdms[..., iu[0], iu[1]].mean(axis=1)
    lower, upper = rdm_noise_ceiling(subjects, "spearman")
    assert table["nc_lower"].iloc[0] == pytest.approx(lower)
    assert table["nc_upper"].iloc[0] == pytest.approx(upper)
    cats = objects.stimuli.categories[["animate", "face", "body"]].to_numpy(float)
    expected = compare_rdms(rdm(cats, metric="euclidean"), subjects, "spearman").mean()
    assert table.loc["animacy", "score"] == pytest.approx(expected)
    gabor = GaborPyramid(n_orientations=4, grid_sizes=[1, 2]).transform(objects.stimuli)
    assert table.loc["gabor", "score"] == pytest.approx(
        compare_rdms(rdm(gabor), subjects, "spearman").mean(), abs=1e-6)
    # category structure is what IT carries (Kriegeskorte et al., 2008): far above the null,
    # within reach of the noise ceiling
    animacy = table.loc["animacy"]
    assert animacy["score"] > animacy["null_q95"] and animacy["p_permutation"] < 0.05
    assert animacy["fraction_of_ceiling"] > 0.5
    assert abs(table["null_mean"]).max() < 0.03
    assert (tmp_path / "rsa" / "model_pairs.csv").is_file()
    assert "noise ceiling" in (tmp_path / "rsa" / "report.md").read_text()


def test_simulated_rsa_per_roi(tmp_path):
    cfg = {"output_dir": str(tmp_path / "sim"),
           "data": {"source": "simulate", "n_per_category": 8, "n_subjects": 3},
           "features": {"gabor": {"kind": "gabor", "params": {"image_size": 48,
                                                              "n_orientations": 4}}},
           "rsa": {"n_bootstraps": 30, "n_permutations": 100}}
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["rsa", str(path), "--quiet"]) == 0
    table = pd.read_csv(tmp_path / "sim" / "rsa_scores.csv").set_index("roi")
    assert {"V1", "FFA", "noise"} <= set(table.index)
    # the simulator drives V1 by Gabor features: the Gabor model fits V1 best
    assert table["score"].idxmax() == "V1"
    assert table.loc["V1", "score"] > table.loc["V1", "null_q95"]
    assert table.loc["V1", "score"] > table.loc["noise", "score"] + 0.1


@pytest.mark.parametrize("change, path", [
    (lambda c: c["rsa"].update(n_bootstrap=10), r"rsa\.n_bootstrap`: unknown key"),
    (lambda c: c.update(features={}), r"features`: expected at least one feature space"),
    (lambda c: c["rsa"].update(method="kendal"), r"rsa\.method`"),
    (lambda c: c["features"].update(pre={"kind": "precomputed", "file": "/no/such.h5"}),
     r"features\.pre\.file`: expected an existing file"),
], ids=["misspelt-nested-key", "empty-features", "wrong-value", "missing-file"])
def test_bad_config_fails_before_any_work(tmp_path, capsys, change, path):
    cfg = {"output_dir": str(tmp_path / "never"), "data": {"source": "simulate"},
           "features": {"gabor": {"kind": "gabor"}}, "rsa": {}}
    change(cfg)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    assert main(["rsa", str(bad)]) == 2
    assert re.search(path, capsys.readouterr().err)
    assert not (tmp_path / "never").exists()
