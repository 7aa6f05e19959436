"""Ground-truth simulator and built-in stimuli."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neurotoolkit.data import (
    Recording,
    StimulusSet,
    make_builtin_stimuli,
    noise_ceiling,
    simulate_recordings,
)
from neurotoolkit.simulation._timecourses import evoked_shape, spm_hrf
from neurotoolkit.features import GaborPyramid

ROIS = ["EBA", "FFA", "LOC", "PPA", "V1", "noise"]


@pytest.fixture(scope="module")
def ds():
    return simulate_recordings(random_state=0)


# ------------------------------------------------------------ built-in stimuli
def test_builtin_stimuli_shapes_labels_cost_and_variety(monkeypatch):
    # The cost is fixed by construction (no wall clock): all backgrounds come from one
    # vectorized FFT pass, and each image is drawn exactly once by its category's drawer.
    import neurotoolkit.simulation._builtin_stimuli as builtin

    calls = {"backgrounds": [], "irfft2": 0}
    real_backgrounds, real_irfft2 = builtin._textured_backgrounds, np.fft.irfft2

    def backgrounds(n, size, rng):
        calls["backgrounds"].append((n, size))
        return real_backgrounds(n, size, rng)

    def irfft2(*args, **kwargs):
        calls["irfft2"] += 1
        return real_irfft2(*args, **kwargs)

    monkeypatch.setattr(builtin, "_textured_backgrounds", backgrounds)
    monkeypatch.setattr(np.fft, "irfft2", irfft2)
    for cat in ("face", "body", "place", "object", "animal"):
        real = getattr(builtin, f"_draw_{cat}")

        def drawer(*args, _real=real, _cat=cat, **kwargs):
            calls[_cat] = calls.get(_cat, 0) + 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(builtin, f"_draw_{cat}", drawer)
    stim = make_builtin_stimuli(n_per_category=20, size=96, random_state=0)
    assert calls["backgrounds"] == [(100, 96 * builtin._SS)] and calls["irfft2"] == 1
    assert [calls[c] for c in ("face", "body", "place", "object", "animal")] == [20] * 5
    monkeypatch.undo()
    assert isinstance(stim, StimulusSet) and len(stim) == 100
    assert stim.images.shape == (100, 96, 96, 3) and stim.images.dtype == np.uint8
    assert stim.ids[0] == "face_000" and "animal_019" in stim
    cats = stim.categories
    assert list(cats.columns) == ["face", "body", "place", "object", "animal", "animate"]
    assert (cats.dtypes == bool).all() and cats.iloc[:, :5].sum().tolist() == [20] * 5
    assert (cats.iloc[:, :5].sum(axis=1) == 1).all()
    np.testing.assert_array_equal(cats["animate"], cats["face"] | cats["body"] | cats["animal"])
    # low-level statistics vary within a category
    lum = stim.images.mean(axis=(1, 2, 3))
    assert pd.Series(lum).groupby([i.split("_")[0] for i in stim.ids]).std().min() > 5
    again = make_builtin_stimuli(n_per_category=3, size=40, random_state=1)
    np.testing.assert_array_equal(again.images, make_builtin_stimuli(3, 40, random_state=1).images)
    assert not np.array_equal(again.images, make_builtin_stimuli(3, 40, random_state=2).images)


def test_builtin_stimuli_categories_differ_in_gabor_space():
    stim = make_builtin_stimuli(n_per_category=8, size=64, random_state=3)
    X = GaborPyramid(grid_sizes=(1,)).fit_transform(stim)
    labels = stim.categories.iloc[:, :5].to_numpy().argmax(1)
    # nearest-centroid (leave-one-out) classification on Gabor energy beats chance (20 %)
    Xz = (X - X.mean(0)) / X.std(0)
    correct = 0
    for i in range(len(X)):
        keep = np.arange(len(X)) != i
        cents = np.stack([Xz[keep & (labels == c)].mean(0) for c in range(5)])
        correct += np.argmin(((cents - Xz[i]) ** 2).sum(1)) == labels[i]
    assert correct / len(X) > 0.5


# ------------------------------------------------------------------- trials
def test_shapes_units_and_splits(ds):
    recs, stim, truth = ds
    assert len(recs) == 3 and len(stim) == 100
    n_units = [r.n_units for r in recs]
    assert len(set(n_units)) == 3  # counts jittered per subject
    for rec, units in zip(recs, truth.units):
        assert isinstance(rec, Recording) and rec.modality == "fmri"
        assert sorted(rec.rois) == ROIS
        assert {"roi", "x", "y", "z", "hemisphere", "ch_type"} <= set(rec.units.columns)
        assert (rec.units["ch_type"] == "voxel").all()
        assert set(rec.units["hemisphere"]) == {"left", "right"}
        assert rec.n_trials == 80 * 1 + 20 * 3
        counts = rec.repeat_counts()
        assert set(counts[list(truth.test_ids)]) == {3}
        assert set(counts[list(truth.train_ids)]) == {1}
        assert rec.meta["test_ids"] == list(truth.test_ids)
        assert set(rec.runs) == {1, 2, 3, 4}
        assert len(units) == rec.n_units and (units.index == rec.units.index).all()
        v1 = rec.units["roi"] == "V1"
        assert rec.units.loc[v1, "y"].median() < -80  # occipital
        assert rec.units.loc[~v1 & (rec.units["roi"] != "noise"), "y"].median() < -40
    assert not set(truth.test_ids) & set(truth.train_ids)
    assert len(truth.test_ids) == 20
    # the test set is stratified by category: 4 of each
    cats = stim.categories.loc[list(truth.test_ids)].iloc[:, :5]
    assert cats.sum().tolist() == [4] * 5


def test_truth_is_exact(ds):
    recs, stim, truth = ds
    X = truth.features.astype(np.float64)
    gp = GaborPyramid(**truth.gabor)
    np.testing.assert_allclose(gp.transform(stim), X, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(gp.get_feature_names_out(), truth.feature_names)
    for s in range(3):
        recon = truth.intercepts[s] + X @ truth.weights[s] + truth.categories @ truth.category_weights[s]
        np.testing.assert_allclose(recon, truth.signal[s], atol=1e-4)
        units = truth.units[s]
        ratio = truth.signal[s].var(axis=0) / units["noise_var"].to_numpy()
        np.testing.assert_allclose(ratio, units["snr"], rtol=1e-6, atol=1e-12)
        nc = truth.noise_ceiling(3, subject=s)
        np.testing.assert_allclose(nc, units["snr"] / (units["snr"] + 1 / 3))
        noise = (units["roi"] == "noise").to_numpy()
        assert np.all(truth.signal[s][:, noise].std(0) < 1e-12)
        assert np.all(units.loc[~noise, "snr"] > 0)
        # per-ROI SNRs vary a bit around the defaults
        med = units.groupby("roi")["snr"].median()
        assert med["V1"] == pytest.approx(1.0, rel=0.25) and med["LOC"] == pytest.approx(0.5, rel=0.3)
        assert units.loc[units["roi"] == "V1", "snr"].std() > 0.05
    assert truth.drivers["FFA"] == "face" and truth.drivers["V1"] == "gabor_prf"
    assert len(truth.noise_ceiling(1)) == 3
    with pytest.raises(ValueError, match="`subject`"):
        truth.noise_ceiling(1, subject="sub-09")


def test_noise_ceiling_recovery():
    """The estimator recovers the planted noise ceiling in every ROI."""
    recs, _, truth = simulate_recordings(n_subjects=1, n_test=40, n_repeats_test=4, random_state=1)
    est = noise_ceiling(recs[0], n_average=1, method="ncsnr")
    true = truth.noise_ceiling(1, subject=0)
    frame = pd.DataFrame({"roi": truth.roi[0], "est": est, "true": true}).groupby("roi").mean()
    sig = frame.drop(index="noise")
    np.testing.assert_allclose(sig["est"], sig["true"], atol=0.06)
    assert frame.loc["noise", "est"] < 0.12  # no signal: ~0 (ncsnr is biased up by clipping at 0)
    assert (sig["est"] > frame.loc["noise", "est"] + 0.15).all()
    signal_units = truth.roi[0] != "noise"
    assert np.corrcoef(est[signal_units], true[signal_units])[0, 1] > 0.5


def test_v1_signal_explained_by_gabor_features(ds):
    _, _, truth = ds
    X = truth.features
    tr = np.isin(truth.stimulus_ids, truth.train_ids)
    te = np.isin(truth.stimulus_ids, truth.test_ids)
    Y = truth.signal[0]
    roi = truth.roi[0]
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 4, 15), alpha_per_target=True))
    pred = model.fit(X[tr], Y[tr]).predict(X[te])
    yt = Y[te] - Y[te].mean(0)
    r2 = 1 - ((Y[te] - pred) ** 2).sum(0) / np.maximum((yt**2).sum(0), 1e-30)
    med = pd.Series(r2).groupby(roi).median()
    assert med["V1"] > 0.9  # held-out: the V1 signal lives in the Gabor space
    assert med["V1"] > med.drop(["V1", "noise"]).max()


def test_prototypes_shared_across_subjects(ds):
    _, _, truth = ds
    for roi in ["V1", "FFA", "EBA", "PPA", "LOC"]:
        means = [sig[:, r == roi].mean(1) for sig, r in zip(truth.signal, truth.roi)]
        assert np.corrcoef(means)[np.triu_indices(3, 1)].min() > 0.8, roi

    small = make_builtin_stimuli(n_per_category=8, size=48, random_state=0)

    def template_corr(shared):
        _, _, t = simulate_recordings(small, n_subjects=2, shared_tuning=shared, random_state=5)
        out = []
        for roi in ["FFA", "LOC"]:
            a, b = (s[:, u["roi"].to_numpy() == roi] for s, u in zip(t.signal, t.units))
            ta, tb = (u.loc[u["roi"] == roi, "template"].to_numpy() for u in t.units)
            c = np.corrcoef(a.T, b.T)[: a.shape[1], a.shape[1]:]
            out.append(c[ta[:, None] == tb[None, :]].mean())
        return np.mean(out)

    assert template_corr(1.0) > 0.999
    assert template_corr(0.8) > template_corr(0.0) + 0.1


def test_seeds():
    small = make_builtin_stimuli(n_per_category=4, size=48, random_state=0)
    a = simulate_recordings(small, n_subjects=1, random_state=3).recordings[0]
    b = simulate_recordings(small, n_subjects=1, random_state=3).recordings[0]
    c = simulate_recordings(small, n_subjects=1, random_state=4).recordings[0]
    np.testing.assert_array_equal(a.responses, b.responses)
    np.testing.assert_array_equal(a.stimulus_ids, b.stimulus_ids)
    assert a.responses.shape != c.responses.shape or not np.allclose(a.responses, c.responses)


# --------------------------------------------------------------- timeseries
def test_hrf_shape():
    t = np.arange(0, 32, 0.1)
    h = spm_hrf(t)
    assert h.max() == pytest.approx(1.0) and 4.5 <= t[np.argmax(h)] <= 5.5
    assert 13 <= t[np.argmin(h)] <= 17 and h.min() < -0.05
    assert spm_hrf(np.array([-1.0, 0.0]))[0] == 0
    e = evoked_shape(np.arange(0, 0.5, 0.001), 0.17)
    assert np.argmax(e) == 170 and e.max() == pytest.approx(1.0)


def test_timeseries_mode_is_hrf_shaped():
    recs, _, truth = simulate_recordings(n_subjects=1, mode="timeseries", tr=1.0, ts_noise=0.05,
                                         snr={"V1": 4.0}, random_state=2)
    rec = recs[0]
    ev = rec.meta["events"]
    assert list(ev.columns[:4]) == ["onset", "duration", "stimulus_id", "run"]
    assert rec.meta["tr"] == 1.0 and len(ev) == 80 + 60
    assert (rec.stimulus_ids != "").sum() == len(ev)
    assert rec.runs.shape == (rec.n_trials,) and set(rec.runs) == {1, 2, 3, 4}
    assert np.diff(ev.groupby("run")["onset"].apply(np.array).iloc[0]).min() >= 3.0
    # event-locked FIR estimate of V1 responses, weighted by the true signal: peaks 4-6 s
    v1 = truth.roi[0] == "V1"
    sig = pd.DataFrame(truth.signal[0][:, v1], index=truth.stimulus_ids)
    sig = sig - sig.mean()
    lags = np.arange(0, 20)
    fir = np.zeros(len(lags))
    starts = {r: np.flatnonzero(rec.runs == r)[0] for r in set(rec.runs)}
    run_len = pd.Series(rec.runs).value_counts()
    for _, e in ev.iterrows():
        k0 = starts[e["run"]] + int(np.floor(e["onset"] / 1.0))
        ok = k0 + lags < starts[e["run"]] + run_len[e["run"]]
        w = sig.loc[e["stimulus_id"]].to_numpy()
        fir[ok] += rec.responses[k0 + lags[ok]][:, v1] @ w
    assert 4 <= lags[np.argmax(fir)] <= 6
    assert fir[0] < 0.2 * fir.max() and fir[14:18].min() < 0.1 * fir.max()


# ------------------------------------------------------------ time-resolved
def test_time_resolved_mode():
    recs, _, truth = simulate_recordings(n_subjects=2, modality="meg", mode="time_resolved",
                                         n_units_per_roi={"animate": 3}, random_state=0)
    rec = recs[0]
    times = rec.meta["times"]
    n_win = len(times)
    assert n_win == 14 and rec.meta["sfreq"] == pytest.approx(20.0)
    n_ch = rec.units["channel"].nunique()
    assert rec.n_units == n_ch * n_win
    assert {"channel", "tmin", "tmax", "roi", "ch_type"} <= set(rec.units.columns)
    assert (rec.units["ch_type"] == "mag").all() and rec.modality == "meg"
    assert recs[1].units["channel"].nunique() != n_ch or recs[1].n_units != rec.n_units
    snr = truth.units[0]["snr"].to_numpy()
    pre = (rec.units["tmax"] <= 0).to_numpy()
    assert np.all(snr[pre] == 0)
    assert truth.drivers["animate"] == "animate"
    # V1 peaks earlier than FFA
    for roi, lo, hi in (("V1", 0.05, 0.125), ("FFA", 0.125, 0.225)):
        sel = (rec.units["roi"] == roi).to_numpy()
        peak = rec.units.loc[sel].assign(snr=snr[sel]).groupby("tmin")["snr"].mean().idxmax()
        assert lo <= peak + 0.025 <= hi, roi


def test_errors():
    with pytest.raises(ValueError, match="`mode`"):
        simulate_recordings(mode="timeseries", modality="seeg")
    with pytest.raises(ValueError, match="`mode`"):
        simulate_recordings(mode="time_resolved", modality="fmri")
    with pytest.raises(ValueError, match="`n_train`"):
        simulate_recordings(n_train=90, n_test=20)
    with pytest.raises(ValueError, match="`snr`"):
        simulate_recordings(snr={"V1": -1.0})


def test_92_objects_folder(objects92_dir):
    recs, stim, truth = simulate_recordings(objects92_dir, n_subjects=2, random_state=0)
    assert len(stim) == 92 and truth.features.shape == (92, 672)
    assert truth.drivers == {"V1": "gabor_prf", "FFA": "face", "EBA": "body",
                             "PPA": "gabor_direction", "LOC": "inanimate", "noise": "none"}
    assert recs[0].n_trials == 74 + 18 * 3
    # FFA responds more to faces than to other images
    faces = stim.categories["face"].astype(bool).to_numpy()
    ffa = truth.roi[0] == "FFA"
    resp = truth.signal[0][:, ffa].mean(1)
    assert resp[faces].mean() > resp[~faces].mean() + resp.std()
