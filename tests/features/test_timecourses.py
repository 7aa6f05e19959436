"""Feature time courses: Lanczos against the Huth-lab reference, average and HRF methods against
closed forms, word/audio spaces, contextual word embeddings, provenance and errors."""

import numpy as np
import pandas as pd
import pytest

from neurotoolkit.data import Recording, Timeline
from neurotoolkit.features import (
    FeatureSpace,
    FeatureTimeCourse,
    audio_envelope,
    feature_timecourses,
    lanczos_resample,
    spectrogram,
    spm_hrf,
    word_embeddings,
)


# Reference: HuthLab/deep-fMRI-dataset, encoding/ridge_utils/interpdata.py (lanczosfun and
# lanczosinterp2D), re-typed here so that the package is checked against an independent copy.
def _ref_lanczosfun(cutoff, t, window=3):
    t = t * cutoff
    with np.errstate(divide="ignore", invalid="ignore"):  # t == 0 is set just below
        val = window * np.sin(np.pi * t) * np.sin(np.pi * t / window) / (np.pi**2 * t**2)
    val[t == 0] = 1.0
    val[np.abs(t) > window] = 0.0
    return val


def _ref_lanczosinterp2D(data, oldtime, newtime, window=3, cutoff_mult=1.0):
    cutoff = 1 / np.mean(np.diff(newtime)) * cutoff_mult
    sincmat = np.zeros((len(newtime), len(oldtime)))
    for ndi in range(len(newtime)):
        sincmat[ndi, :] = _ref_lanczosfun(cutoff, newtime[ndi] - oldtime, window)
    return np.dot(sincmat, data)


def _recording(n_per_run, runs=(1, 2), tr=2.0, t0=0.0):
    rng = np.random.default_rng(0)
    labels = np.repeat(runs, n_per_run)
    return Recording(rng.standard_normal((len(labels), 3)), [""] * len(labels), runs=labels,
                     meta={"mode": "timeseries", "tr": tr, "first_sample_time": t0})


# ------------------------------------------------------------------ Lanczos
@pytest.mark.parametrize("window, cutoff_mult", [(3, 1.0), (2, 0.8), (5, 1.3)])
def test_lanczos_equals_huth_reference(window, cutoff_mult):
    rng = np.random.default_rng(1)
    old = np.sort(rng.uniform(0, 300, 700))  # irregular event times (words)
    new = np.arange(150) * 2.0 + 1.0  # TR centres
    data = rng.standard_normal((700, 4))
    ref = _ref_lanczosinterp2D(data, old, new, window, cutoff_mult)
    cutoff = cutoff_mult / (2 * 2.0)  # Hz: the Huth-lab cutoff_mult / TR is twice the low-pass
    out = lanczos_resample(data, old, new, window, cutoff)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)
    perm = rng.permutation(700)  # unsorted input gives the same result
    np.testing.assert_allclose(lanczos_resample(data[perm], old[perm], new, window, cutoff), ref,
                               rtol=0, atol=1e-10)
    if cutoff_mult == 1.0:  # default cutoff = Nyquist of the target rate
        np.testing.assert_allclose(lanczos_resample(data, old, new, window), ref, atol=1e-10)


def test_feature_timecourses_lanczos_matches_reference_per_run():
    words = ["a", "bb", "ccc", "dddd", "e", "ff", "ggg"]
    on = np.array([0.2, 1.1, 2.7, 3.0, 0.5, 2.2, 5.0])
    off = on + np.array([0.3, 0.2, 0.4, 0.6, 0.2, 0.3, 0.5])
    runs = [1, 1, 1, 1, 2, 2, 2]
    tl = Timeline.from_words(words, on, off, runs=runs)
    rec = _recording(5, tr=1.5, t0=0.75)
    ftc = feature_timecourses("letter_rate", tl, rec)
    for run in (1, 2):
        m = np.asarray(runs) == run
        centres = (on + off)[m] / 2
        letters = np.array([len(w) for w, k in zip(words, m) if k], float)[:, None]
        ref = _ref_lanczosinterp2D(letters, centres, 0.75 + np.arange(5) * 1.5)
        np.testing.assert_allclose(ftc.values[ftc.runs == run], ref, atol=1e-10)
    assert ftc.provenance["method"] == "lanczos"
    assert ftc.provenance["window"] == 3
    assert ftc.provenance["cutoff"] == pytest.approx(1 / 3)  # Nyquist of TR 1.5 s
    assert ftc.provenance["event_time"] == "center"
    rate = feature_timecourses("word_rate", tl, rec)
    assert rate.feature_names.tolist() == ["word_rate"]


def test_resampled_sine_is_recovered():
    fps, tr = 15.0, 2.0
    t_ev = np.arange(0, 400, 1 / fps)
    f0 = 0.04  # Hz, below the Nyquist frequency of the TRs (0.25 Hz)
    x = np.sin(2 * np.pi * f0 * (t_ev + 0.5 / fps))  # value at each frame's centre
    new = np.arange(20, 380, tr)
    out = lanczos_resample(x, t_ev + 0.5 / fps, new)
    # Huth-lab semantics: no normalisation, the gain is the number of events per TR
    np.testing.assert_allclose(out / (fps * tr), np.sin(2 * np.pi * f0 * new), atol=0.01)
    # a sine sampled at the target rate, shifted by a fraction of a sample, is interpolated
    t_old = np.arange(0, 400, tr) + 0.7
    y = lanczos_resample(np.sin(2 * np.pi * f0 * t_old), t_old, new)
    np.testing.assert_allclose(y, np.sin(2 * np.pi * f0 * new), atol=0.03)
    # average: the mean of the sine over each TR, in closed form
    tl = Timeline(pd.DataFrame({"run": 0, "onset": t_ev, "duration": 1 / fps, "kind": "frame",
                                "stim_id": [f"f{k}" for k in range(len(t_ev))]}))
    ftc = feature_timecourses(x, tl, sample_times=new, method="average")
    w = 2 * np.pi * f0
    exact = (np.cos(w * new) - np.cos(w * (new + tr))) / (w * tr)
    np.testing.assert_allclose(ftc.values[:, 0], exact, atol=1e-3)


# ------------------------------------------------------------------ average
def test_average_equals_closed_form_on_toy_timeline():
    # images: A (value 1) 0-1.5 s, B (value 3) 1.5-2.5 s, C (value 5) 5-6 s; TR 2 s
    tl = Timeline.from_images(["A", "B", "C"], [0.0, 1.5, 5.0], [1.5, 1.0, 1.0])
    fs = FeatureSpace(np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]]), ["A", "B", "C"], "toy")
    ftc = feature_timecourses(fs, tl, sample_times=[0.0, 2.0, 4.0, 6.0], method="average")
    # [0,2): 1.5 s of A, 0.5 s of B -> (1.5 + 1.5) / 2 = 1.5; [2,4): 0.5 s of B -> 3;
    # [4,6): 1 s of C -> 5; [6,8): nothing -> 0
    np.testing.assert_allclose(ftc.values[:, 0], [1.5, 3.0, 5.0, 0.0])
    np.testing.assert_allclose(ftc.values[:, 1], [15.0, 30.0, 50.0, 0.0])
    assert ftc.provenance == {"method": "average", "timeline": "images", "kind": ["image"],
                              "source": {}, "empty_samples": 1}
    assert list(ftc.feature_names) == ["toy_0", "toy_1"]


def test_average_refuses_zero_duration_events():
    tl = Timeline.from_images(["A"], [0.0], 0.0)
    with pytest.raises(ValueError, match="durations > 0.*method='lanczos'"):
        feature_timecourses(np.ones((1, 1)), tl, sample_times=[0.0, 2.0], method="average")


# ---------------------------------------------------------------------- HRF
def _ref_spm_hrf(dt):
    from scipy.stats import gamma

    t = np.arange(0, 32 + dt / 2, dt)
    h = gamma.pdf(t, 6) - gamma.pdf(t, 16) / 6
    return h / h.sum()


def test_hrf_method_equals_numpy_convolution():
    tr, over = 2.0, 16
    step = tr / over
    np.testing.assert_allclose(spm_hrf(step), _ref_spm_hrf(step), atol=1e-15)
    assert abs(spm_hrf(0.1).argmax() * 0.1 - 5.0) < 0.3  # peak near 5 s
    onsets = np.array([1.0, 9.0, 20.0, 41.0])
    durs = np.array([4.0, 2.0, 1.0, 3.0])  # on the fine grid
    vals = np.array([[1.0], [2.0], [-1.0], [0.5]])
    tl = Timeline.from_images([f"i{k}" for k in range(4)], onsets, durs)
    times = np.arange(40) * tr
    ftc = feature_timecourses(vals, tl, sample_times=times, method="hrf", oversampling=over)
    n_fine = 40 * over + 2 * over
    box = np.zeros(n_fine)
    for o, d, v in zip(onsets, durs, vals[:, 0]):
        box[int(round(o / step)):int(round((o + d) / step))] += v
    ref = np.convolve(box, _ref_spm_hrf(step))[: n_fine][np.arange(40) * over]
    np.testing.assert_allclose(ftc.values[:, 0], ref, atol=1e-12)
    assert ftc.provenance["hrf"] == "spm" and ftc.provenance["oversampling"] == over
    # a sustained value x gives a plateau of x
    long = Timeline.from_images(["s"], [0.0], 200.0)
    plateau = feature_timecourses(np.array([[3.0]]), long, sample_times=times * 2, method="hrf")
    np.testing.assert_allclose(plateau.values[20:60, 0], 3.0, rtol=1e-6)


# ---------------------------------------------------------- inputs / outputs
def test_targets_from_recording_and_provenance_of_sources():
    rng = np.random.default_rng(0)
    ev = pd.concat([pd.DataFrame({"run": r, "onset": np.arange(40) * 0.5, "duration": 0.5,
                                  "kind": "image", "stim_id": [f"{r}-{k % 7}" for k in range(40)]})
                    for r in ("a", "b")])
    tl = Timeline(ev)
    ids = sorted(set(ev["stim_id"]))
    fs = FeatureSpace(rng.standard_normal((len(ids), 3)), ids, "clip", provenance={"layer": "x"})
    rec = _recording(10, runs=("a", "b"))
    ftc = feature_timecourses(fs, tl, rec, method="average")
    assert isinstance(ftc, FeatureTimeCourse) and len(ftc) == 20 and ftc.n_features == 3
    np.testing.assert_array_equal(ftc.runs, rec.runs)
    np.testing.assert_allclose(ftc.times, rec.sample_times())
    assert ftc.provenance["source"] == {"layer": "x"} and ftc.name == "clip"
    only_b = feature_timecourses(fs, tl, rec, runs=["b"], method="average")
    np.testing.assert_allclose(only_b.values, ftc.select_runs("b").values)
    # the same values given as an array in event order
    arr = fs.for_ids(tl.events["stim_id"])
    np.testing.assert_allclose(feature_timecourses(arr, tl, rec, method="average").values,
                               ftc.values)


def test_bad_inputs_name_the_problem():
    tl = Timeline.from_images(["A", "B"], [0.0, 2.0], 2.0, runs=[1, 1])
    rec = _recording(4)
    with pytest.raises(ValueError, match="nothing for run 2"):
        feature_timecourses(np.ones((2, 1)), tl, rec)
    with pytest.raises(ValueError, match=r"one row per image event of the timeline \(2\)"):
        feature_timecourses(np.ones((3, 1)), tl, rec.select_trials(rec.runs == 1))
    trials = Recording(np.random.default_rng(0).standard_normal((4, 2)), list("abcd"))
    with pytest.raises(ValueError, match="time-series Recording"):
        feature_timecourses(np.ones((2, 1)), tl, trials)
    with pytest.raises(ValueError, match="method"):
        feature_timecourses(np.ones((2, 1)), tl, sample_times=[0.0, 2.0], method="cubic")
    with pytest.raises(KeyError, match="not in FeatureSpace"):
        feature_timecourses(FeatureSpace(np.ones((2, 1)), ["A", "Z"], "f"), tl,
                            sample_times=[0.0, 2.0])
    with pytest.raises(TypeError, match="features"):
        feature_timecourses({"a": 1}, tl, sample_times=[0.0, 2.0])


def test_feature_timecourse_container():
    ftc = FeatureTimeCourse(np.arange(8.0).reshape(4, 2), ["x", "x", "y", "y"], [0, 2, 0, 2],
                            name="f", provenance={"method": "lanczos"})
    assert len(ftc) == 4 and ftc.run_labels == ["x", "y"] and "lanczos" in repr(ftc)
    np.testing.assert_array_equal(ftc.select_runs(["y"]).values, [[4, 5], [6, 7]])
    both = FeatureTimeCourse.concat([ftc, FeatureTimeCourse(np.ones(4), ftc.runs, ftc.times, "g")])
    assert both.values.shape == (4, 3) and both.provenance["bands"] == {"f": (0, 2), "g": (2, 3)}
    assert both.feature_names[-1] == "g:g_0"
    with pytest.raises(ValueError, match="strictly increasing"):
        FeatureTimeCourse(np.ones((2, 1)), [0, 0], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"runs.*shape \(3,\)"):
        FeatureTimeCourse(np.ones((3, 1)), [0, 0], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        FeatureTimeCourse(np.array([[np.nan]]), [0], [0.0])


# -------------------------------------------------------------------- audio
def test_audio_envelope_and_spectrogram():
    sfreq = 8000.0
    t = np.arange(int(sfreq * 6)) / sfreq
    mod = 1.0 + 0.8 * np.sin(2 * np.pi * 1.5 * t)  # 1.5 Hz amplitude modulation
    wave = mod * np.sin(2 * np.pi * 1000 * t)
    for method in ("hilbert", "rectify"):
        env = audio_envelope(wave, sfreq, 50.0, method=method)
        assert env.shape == (300, 1)
        truth = 1.0 + 0.8 * np.sin(2 * np.pi * 1.5 * np.arange(300) / 50.0)
        r = np.corrcoef(env[20:-20, 0], truth[20:-20])[0, 1]
        assert r > 0.99
    env = audio_envelope(wave, sfreq, 50.0)
    np.testing.assert_allclose(env[20:-20, 0], truth[20:-20], atol=0.05)  # Hilbert: exact scale
    spec = spectrogram(wave, sfreq, n_bands=8, fmin=100, fmax=4000, target_sfreq=20.0)
    assert spec.shape == (120, 8)
    from neurotoolkit.features._temporal_spaces import _band_edges

    edges = _band_edges(8, 100, 4000, "mel")
    band = int(np.argmin(np.abs(edges[1:-1] - 1000)))
    assert spec[10:-10].mean(axis=0).argmax() == band
    with pytest.raises(ValueError, match="target_sfreq"):
        audio_envelope(wave, sfreq, 10000.0)


def test_audio_spaces_over_a_timeline():
    sfreq = 4000.0
    t = np.arange(int(sfreq * 40)) / sfreq
    slow = 1.0 + 0.5 * np.sin(2 * np.pi * 0.05 * t)
    tl = Timeline.from_words(["x"], [0.0], [0.5], runs=1).add_audio(1, slow * np.sin(2 * np.pi * 300 * t), sfreq)
    times = np.arange(0, 40, 1.0)
    ftc = feature_timecourses("envelope", tl, sample_times=times, runs=np.ones(40, int))
    np.testing.assert_allclose(ftc.values[3:-3, 0], 1.0 + 0.5 * np.sin(2 * np.pi * 0.05 * times[3:-3]),
                               atol=0.05)
    assert ftc.provenance["kind"] == ["audio"] and ftc.provenance["source"]["space"] == "envelope"
    spec = feature_timecourses("spectrogram", tl, sample_times=times, method="average")
    assert spec.values.shape == (40, 16)


# ---------------------------------------------------------- word embeddings
def test_word_embeddings_with_context(tmp_path):
    torch = pytest.importorskip("torch")
    tr = pytest.importorskip("transformers")
    from neurotoolkit.features import FeatureStore, get_backbone
    from neurotoolkit.features._backbones import import_torchvision

    import_torchvision()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    tok = tr.BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    torch.manual_seed(0)
    cfg = tr.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=20, max_position_embeddings=32)
    tr.BertModel(cfg).eval().save_pretrained(tmp_path / "bert")
    tok.save_pretrained(tmp_path / "bert")
    bb = get_backbone(f"hf:{tmp_path / 'bert'}", device="cpu")
    words = ["the", "cat", "sat", "on", "the", "mat", "a", "cat"]
    tl = Timeline.from_words(words, np.arange(8.0), np.arange(8.0) + 0.5, runs=[1] * 5 + [2] * 3)
    layer = "encoder.layer.1"
    store = FeatureStore(tmp_path / "cache")
    fs = word_embeddings(tl, bb, layer, context_words=2, pooling="mean", cache=store)
    assert fs.n_stimuli == 8 and list(fs.stimulus_ids[:2]) == ["1/w00000", "1/w00001"]
    contexts = ["the", "the cat", "the cat sat", "cat sat on", "sat on the", "mat", "mat a",
                "mat a cat"]  # never across the run boundary
    with torch.no_grad():
        ref = np.concatenate([bb.forward_features([c], layers=[layer], pooling="mean")[layer].numpy()
                              for c in contexts])
    np.testing.assert_allclose(fs.values, ref, atol=1e-5)
    assert fs.provenance["context_words"] == 2 and fs.provenance["layer"] == layer
    again = word_embeddings(tl, bb, layer, context_words=2, pooling="mean", cache=store)
    assert "cache_key" in again.provenance
    np.testing.assert_allclose(again.values, fs.values)
    ftc = feature_timecourses(fs, tl, sample_times=np.arange(4) * 2.0 + 0.0,
                              runs=np.array([1, 1, 2, 2]))
    assert ftc.values.shape == (4, 16) and ftc.provenance["kind"] == ["word"]
