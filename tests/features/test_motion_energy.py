"""MotionEnergy: the same numbers as calling pymoten directly; run by run over a timeline;
resampled to acquisition times by feature_timecourses."""

import numpy as np
import pandas as pd
import pytest

moten = pytest.importorskip("moten")

from neurotoolkit.data import StimulusSet, Timeline  # noqa: E402
from neurotoolkit.features import MotionEnergy, feature_timecourses, lanczos_resample  # noqa: E402

FPS = 10  # pymoten takes whole frame rates
SF = [0, 2, 4]


def _grating(n=24, size=(24, 32), speed=0.15, seed=0):
    """A drifting colour grating plus noise, uint8 (n, H, W, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: size[0], : size[1]]
    frames = []
    for k in range(n):
        g = 0.5 + 0.4 * np.sin(2 * np.pi * (x / 8.0 - speed * k))
        rgb = np.stack([g, 0.8 * g + 0.1, 1 - g], axis=-1) + 0.05 * rng.standard_normal(size + (3,))
        frames.append(np.clip(rgb * 255, 0, 255).astype(np.uint8))
    return np.stack(frames)


def _pymoten(frames, fps=FPS, size=None, **kw):
    lum = moten.io.imagearray2luminance(frames, size=size)
    pyr = moten.pyramids.MotionEnergyPyramid(stimulus_vhsize=lum.shape[1:], stimulus_fps=fps,
                                             spatial_frequencies=SF, **kw)
    return pyr.project_stimulus(lum, dtype="float64")


def test_matches_pymoten_called_directly():
    frames = _grating()
    me = MotionEnergy(fps=FPS, spatial_frequencies=SF, dtype="float64")
    out = me.transform(frames)
    ref = _pymoten(frames)
    assert out.shape == ref.shape == (24, me.n_features_out_)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    # options reach pymoten: resize, raw energy, other temporal frequencies
    small = MotionEnergy(fps=FPS, size=(12, 16), spatial_frequencies=SF, dtype="float64")
    np.testing.assert_allclose(small.transform(frames), _pymoten(frames, size=(12, 16)), atol=1e-12)
    raw = MotionEnergy(fps=FPS, spatial_frequencies=SF, output="energy", dtype="float64")
    np.testing.assert_allclose(np.log(raw.transform(frames) + 1e-5), ref, atol=1e-10)
    tf = MotionEnergy(fps=FPS, spatial_frequencies=SF, temporal_frequencies=[0, 3], dtype="float64")
    np.testing.assert_allclose(tf.transform(frames), _pymoten(frames, temporal_frequencies=[0, 3]),
                               atol=1e-12)
    names = me.get_feature_names_out()
    assert names.shape == (me.n_features_out_,) and names[0].startswith("me_sf")
    assert len(set(names)) == len(names)


def test_inputs_stimulus_set_float_and_grey():
    frames = _grating(n=12)
    me = MotionEnergy(fps=FPS, spatial_frequencies=SF, dtype="float64")
    ref = me.transform(frames)
    stim = StimulusSet([f"f{k}" for k in range(12)], images=frames)
    np.testing.assert_allclose(me.transform(stim), ref, atol=1e-12)
    np.testing.assert_allclose(me.transform(frames / 255.0), ref, atol=1e-8)
    grey = frames[..., 0]
    np.testing.assert_allclose(me.transform(grey),
                               _pymoten(np.repeat(grey[..., None], 3, axis=-1)), atol=1e-12)
    with pytest.raises(ValueError, match="Invalid value for `fps`"):
        MotionEnergy().transform(frames)
    with pytest.raises(ValueError, match="frames"):
        me.transform(frames.astype(float))  # floats above 1
    with pytest.raises(ValueError, match="frames"):
        me.transform(np.zeros((4, 8)))


def test_timeline_runs_are_filtered_separately_and_resampled():
    a, b = _grating(n=20, seed=1), _grating(n=16, speed=-0.2, seed=2)
    ids = [f"a{k}" for k in range(20)] + [f"b{k}" for k in range(16)]
    stim = StimulusSet(ids, images=np.concatenate([a, b]))
    ev = pd.DataFrame({"run": [1] * 20 + [2] * 16,
                       "onset": np.r_[np.arange(20), np.arange(16)] / FPS,
                       "duration": 1 / FPS, "kind": "frame", "stim_id": ids})
    tl = Timeline(ev, stimuli=stim)
    me = MotionEnergy(spatial_frequencies=SF, dtype="float64")  # fps from the frame durations
    per_frame = me.transform_timeline(tl)
    ref_a, ref_b = _pymoten(a), _pymoten(b)  # each run alone: no filter crosses the boundary
    np.testing.assert_allclose(per_frame, np.concatenate([ref_a, ref_b]), atol=1e-12)
    times = np.arange(4) * 0.5
    ftc = feature_timecourses(me, tl, sample_times=np.r_[times, times], runs=[1] * 4 + [2] * 4)
    centres = (np.arange(20) + 0.5) / FPS
    np.testing.assert_allclose(ftc.values[:4], lanczos_resample(ref_a, centres, times), atol=1e-10)
    np.testing.assert_allclose(ftc.values[4:], lanczos_resample(ref_b, centres[:16], times),
                               atol=1e-10)
    assert ftc.provenance["method"] == "lanczos" and ftc.provenance["kind"] == ["frame", "image"]
    assert ftc.feature_names[0].startswith("me_")
