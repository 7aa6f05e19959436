"""Data sources and feature kinds of the pipelines, checked against direct calls of the API."""

from pathlib import Path

import numpy as np
import pytest

from neurotoolkit.pipelines import ConfigError
from neurotoolkit.pipelines.encode import CONFIG_MODEL
from neurotoolkit.pipelines._config import validate_config
from neurotoolkit.pipelines._features import compute_features
from neurotoolkit.pipelines._runner import Run
from neurotoolkit.pipelines._sources import load_data

TINY_CLIP = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def _cfg(tmp_path, **sections):
    raw = {"output_dir": str(tmp_path / "out"), **sections}
    return validate_config(CONFIG_MODEL, raw)


def test_recording_source_round_trips_a_saved_recording(tmp_path):
    from neurotoolkit.simulation import make_builtin_stimuli, simulate_recordings

    sim = simulate_recordings(make_builtin_stimuli(n_per_category=4), n_subjects=1, random_state=0)
    sim.recordings[0].save(tmp_path / "rec.h5")
    cfg = _cfg(tmp_path, data={"source": "recording", "files": {"sub-01": str(tmp_path / "rec.h5")}})
    bundle = load_data(cfg.data, Run(cfg.output_dir, cfg, "encode", verbose=False))
    np.testing.assert_array_equal(bundle.recordings["sub-01"].responses, sim.recordings[0].responses)


def test_ephys_files_source_matches_load_ephys(tmp_path, data_mirror):
    from neurotoolkit.data import fetch_eeglab_sample, load_ephys

    fname = fetch_eeglab_sample().set
    data = {"source": "ephys", "files": {"sub-01": str(fname)}, "stimulus_ids": ["square", "rt"],
            "ch_types": {"EOG1": "eog", "EOG2": "eog"}, "tmin": -0.1, "tmax": 0.5, "windows": 0.1,
            "preprocessing": [{"resample": {"sfreq": 64}}]}
    cfg = _cfg(tmp_path, data=data)
    run = Run(cfg.output_dir, cfg, "encode", verbose=False)
    rec = load_data(cfg.data, run).recordings["sub-01"]
    direct = load_ephys(fname, stimulus_ids=["square", "rt"], ch_types={"EOG1": "eog", "EOG2": "eog"},
                        tmin=-0.1, tmax=0.5, windows=0.1, preprocessing=[("resample", {"sfreq": 64})])
    np.testing.assert_allclose(rec.responses, direct.responses)
    assert [s["status"] for s in run.stages] == ["computed"]
    run2 = Run(cfg.output_dir, cfg, "encode", verbose=False)
    np.testing.assert_allclose(load_data(cfg.data, run2).recordings["sub-01"].responses, rec.responses)
    assert [s["status"] for s in run2.stages] == ["cached"]


def test_feature_kinds_match_direct_computation(tmp_path):
    from neurotoolkit.features import GaborPyramid, extract_features, get_backbone
    from neurotoolkit.simulation import make_builtin_stimuli

    stimuli = make_builtin_stimuli(n_per_category=2, size=32)
    ids = list(stimuli.ids)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(len(ids), 3))
    np.savez(tmp_path / "f.npz", features=values[::-1], stimulus_ids=np.asarray(ids[::-1]))
    features = {
        "gabor": {"kind": "gabor", "params": {"n_orientations": 4, "image_size": 48}},
        "clip": {"kind": "backbone", "name": "open_clip:nt-tiny-test", "weights": "random",
                 "layers": "embedding", "device": "cpu", "options": {"model_cfg": TINY_CLIP}},
        "pre": {"kind": "precomputed", "file": str(tmp_path / "f.npz")},
        "cat": {"kind": "category"},
    }
    cfg = _cfg(tmp_path, features=features)
    spaces = compute_features(cfg.features, stimuli, Run(cfg.output_dir, cfg, "encode", verbose=False))
    gabor = GaborPyramid(n_orientations=4, image_size=48).transform(stimuli)
    np.testing.assert_allclose(spaces["gabor"].for_ids(ids), gabor, rtol=1e-5)
    clip = get_backbone("open_clip:nt-tiny-test", pretrained=None, model_cfg=TINY_CLIP, device="cpu")
    direct = extract_features(stimuli, clip, layers="embedding", device="cpu")
    np.testing.assert_allclose(spaces["clip"].for_ids(ids), direct.for_ids(ids), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(spaces["pre"].for_ids(ids), values)  # reordered to the stimulus ids
    onehot = spaces["cat"].for_ids(ids)
    assert onehot.shape[1] >= 2 and set(np.unique(onehot)) <= {0.0, 1.0}
    # precomputed ids must cover the stimuli
    np.savez(tmp_path / "g.npz", features=values[:3], stimulus_ids=np.asarray(ids[:3]))
    cfg = _cfg(tmp_path, features={"pre": {"kind": "precomputed", "file": str(tmp_path / "g.npz")}})
    with pytest.raises(ValueError, match=r"`features.pre.file`: .* have no row"):
        compute_features(cfg.features, stimuli, Run(cfg.output_dir, cfg, "encode", verbose=False))


def test_cli_example_configs_are_valid():
    import yaml

    root = Path(__file__).resolve().parents[2] / "pipelines" / "configs"
    raw = yaml.safe_load((root / "haxby_encode.yaml").read_text())
    assert validate_config(CONFIG_MODEL, raw).data.name == "haxby"
    raw = yaml.safe_load((root / "bids_template.yaml").read_text())
    with pytest.raises(ConfigError, match=r"`data.root`: expected an existing folder"):
        validate_config(CONFIG_MODEL, raw)  # the template's placeholders do not exist
