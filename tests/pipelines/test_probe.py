"""The probe pipeline from the command line: a saved encoder -> preferred images and captions
per ROI, on the simulator (built-in images) and on the 92 objects; guided diffusion with tiny
local weights; bad configs."""

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from neurotoolkit.pipelines.cli import main

pytest.importorskip("torch")

GABOR = {"n_orientations": 4, "grid_sizes": [1, 2], "image_size": 48}


def _fit_encoder(stimuli, path):
    """An encoder fitted on simulated responses, saved as the encode pipeline saves it."""
    from neurotoolkit.encoding import VoxelwiseEncoder
    from neurotoolkit.features import FeatureSpace, GaborPyramid
    from neurotoolkit.simulation import simulate_recordings

    sim = simulate_recordings(stimuli=stimuli, n_subjects=1, n_repeats_train=2, random_state=0)
    rec = sim.recordings[0]
    train, _ = rec.split(test_ids=rec.meta["test_ids"])
    values = GaborPyramid(**GABOR).transform(stimuli)
    VoxelwiseEncoder(features=FeatureSpace(values, stimuli.ids, "gabor")).fit(train).save(path)
    return path


def _config(tmp_path, encoder, **synthesis):
    return {"output_dir": str(tmp_path / "probe"),
            "probe": {"encoder": str(encoder), "features": {"kind": "gabor", "params": GABOR},
                      "rois": ["FFA", "PPA"],
                      "synthesis": {"n_images": 2, "image_size": 48, "n_steps": 24, **synthesis},
                      "captions": {"n_per_category": 8}}}


def _run(tmp_path, cfg):
    path = tmp_path / "probe.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["probe", str(path), "--quiet"]) == 0
    return tmp_path / "probe"


@pytest.fixture(scope="module")
def builtin_encoder(tmp_path_factory, torch_single_thread):
    from neurotoolkit.simulation import make_builtin_stimuli

    stimuli = make_builtin_stimuli(n_per_category=12, random_state=0)
    return _fit_encoder(stimuli, tmp_path_factory.mktemp("enc") / "encoder_sub-01.h5")


def test_probe_simulated_encoder(tmp_path, builtin_encoder):
    out = _run(tmp_path, _config(tmp_path, builtin_encoder))
    synth = pd.read_csv(out / "synthesis.csv").set_index("roi")
    # optimised images beat the best natural image and the noise images they started from
    assert (synth["synthesized_mean"] > synth["best_natural"]).all()
    assert (synth["synthesized_mean"] > synth["random_mean"]).all()
    assert synth.loc["FFA", "best_natural_id"].startswith("face")
    assert synth.loc["PPA", "best_natural_id"].startswith("place")
    captions = pd.read_csv(out / "captions.csv").set_index("roi")
    assert captions.loc["FFA", "noun"] == "face"        # the planted drivers, named
    assert captions.loc["PPA", "noun"] in {"scene", "street", "building", "place", "house"}
    assert (out / "preferred_images.png").is_file() and (out / "report.html").is_file()
    assert "random_mean" in (out / "report.md").read_text()


def test_probe_on_the_92_objects(data_mirror, tmp_path, torch_single_thread):
    from neurotoolkit.data import load_92objects

    encoder = _fit_encoder(load_92objects().stimuli, tmp_path / "enc.h5")
    cfg = _config(tmp_path, encoder, n_steps=8)
    cfg["data"] = {"source": "dataset", "name": "92objects"}
    cfg["probe"]["captions"]["enabled"] = False
    out = _run(tmp_path, cfg)
    top = pd.read_csv(out / "natural_top.csv")
    assert set(top["id"]) <= {f"img{k:02d}" for k in range(92)}
    ffa = top[top["roi"] == "FFA"]["id"]
    faces = load_92objects().stimuli.categories["face"]
    assert faces.loc[ffa].mean() >= 0.6   # FFA's preferred natural images are mostly faces


def test_probe_guided_diffusion_with_tiny_local_weights(tmp_path, builtin_encoder):
    diffusers = pytest.importorskip("diffusers")
    from neurotoolkit.testing import make_tiny_components

    comps = make_tiny_components(random_state=0, sample_size=8, block_out_channels=(16, 32),
                                 vae_channels=(16, 32))
    pipe = diffusers.StableDiffusionPipeline(
        **{k: comps[k] for k in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")},
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(tmp_path / "tiny-sd")
    cfg = _config(tmp_path, builtin_encoder, method="diffusion",
                  diffusion_path=str(tmp_path / "tiny-sd"), num_inference_steps=3,
                  guidance_scale=300.0)
    cfg["probe"]["rois"] = ["FFA"]
    cfg["probe"]["captions"]["enabled"] = False
    out = _run(tmp_path, cfg)
    synth = pd.read_csv(out / "synthesis.csv")
    assert synth["n_images"].iloc[0] == 2 and np.isfinite(synth["synthesized_mean"]).all()


@pytest.mark.parametrize("change, path", [
    (lambda c: c["probe"]["synthesis"].update(n_step=3), r"probe\.synthesis\.n_step`: unknown key"),
    (lambda c: c["probe"].update(encoder="/no/such/encoder.h5"),
     r"probe\.encoder`: expected an existing file"),
    (lambda c: c["probe"]["synthesis"].update(n_images="four"), r"probe\.synthesis\.n_images`"),
    (lambda c: c["probe"]["synthesis"].update(method="diffusion"),
     r"probe\.synthesis`: .*diffusion_path"),
], ids=["misspelt-nested-key", "missing-file", "wrong-type", "diffusion-without-weights"])
def test_bad_config_fails_before_any_work(tmp_path, capsys, change, path):
    enc = tmp_path / "enc.h5"
    enc.write_bytes(b"not read before validation")
    cfg = _config(tmp_path, enc)
    cfg["output_dir"] = str(tmp_path / "never")
    change(cfg)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    assert main(["probe", str(bad)]) == 2
    assert re.search(path, capsys.readouterr().err)
    assert not (tmp_path / "never").exists()
