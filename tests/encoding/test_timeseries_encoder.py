"""VoxelwiseEncoder on time series: FIR delays per run, run-wise CV, repeats, HRFs (Card 2)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from neurotoolkit.data import Recording
from neurotoolkit.encoding import VoxelwiseEncoder, load_encoder

ALPHAS = np.logspace(-2, 5, 15)

# small problems put a few targets at the edge of the grid (tested in test_ridge_cv.py)
pytestmark = pytest.mark.filterwarnings("ignore:Alpha-grid saturation")


# ------------------------------------------------------------------ helpers
def _ts_recording(Y, runs, tr=2.0, units=None):
    return Recording(Y, np.full(len(Y), "", dtype=object), units, runs=np.asarray(runs),
                     meta={"mode": "timeseries", "tr": tr})


def _problem(rng, n_runs=4, n_per_run=50, p=5, t=12, delays=(1, 2, 3), noise=1.0):
    """Features X (n, p), responses generated with FIR weights per run (no leakage)."""
    runs = np.repeat([f"run-{k}" for k in range(n_runs)], n_per_run)
    X = rng.standard_normal((len(runs), p)) * rng.uniform(0.5, 3, p) + rng.uniform(-2, 2, p)
    W = rng.standard_normal((len(delays), p, t))
    Y = np.zeros((len(runs), t))
    for r in pd.unique(runs):
        rows = np.flatnonzero(runs == r)
        for k, d in enumerate(delays):
            Y[rows[d:]] += X[rows[:len(rows) - d]] @ W[k]
    Y += noise * rng.standard_normal(Y.shape) + 5.0
    return X, Y, runs


# Reference pieces, written here from the peers' published code (not imported):
# voxelwise_tutorials.delayer.Delayer.transform (gallantlab/voxelwise_tutorials) ...
def _ref_delay(X, delays):
    n, p = X.shape
    out = np.zeros((n, p * len(delays)), dtype=X.dtype)
    for k, d in enumerate(delays):
        if d == 0:
            out[:, k * p:(k + 1) * p] = X
        elif d > 0:
            out[d:, k * p:(k + 1) * p] = X[:-d]
        else:
            out[:-abs(d), k * p:(k + 1) * p] = X[abs(d):]
    return out


# ... and voxelwise_tutorials.utils.zscore_runs-style per-run z-scoring, with run-wise delays
def _ref_design(X, runs, delays, trim):
    blocks, keep = [], []
    for r in pd.unique(runs):
        x = X[runs == r]
        x = (x - x.mean(0)) / x.std(0)
        blocks.append(_ref_delay(x, delays))
        k = np.zeros(len(x), bool)
        k[trim[0]:len(x) - trim[1]] = True
        keep.append(k)
    return np.vstack(blocks), np.concatenate(keep)


def _ref_zscore(Y, runs):
    Y = np.array(Y, dtype=np.float64)
    for r in pd.unique(runs):
        m = runs == r
        Y[m] = (Y[m] - Y[m].mean(0)) / Y[m].std(0)
    return Y


def _logo(runs):
    """Leave-one-run-out folds, built independently of neurotoolkit."""
    from sklearn.model_selection import LeaveOneGroupOut

    return list(LeaveOneGroupOut().split(np.zeros(len(runs)), groups=runs))


# ---------------------------------------------------------------- the guard
def test_timeseries_without_time_model_raises():
    from neurotoolkit.features import FeatureSpace
    from neurotoolkit.simulation import simulate_recordings

    recs, stim, _ = simulate_recordings(n_subjects=1, mode="timeseries", n_units_per_roi={
        "V1": 5, "FFA": 0, "EBA": 0, "PPA": 0, "LOC": 0, "noise": 2}, random_state=0)
    rec = recs[0]
    fs = FeatureSpace(np.random.default_rng(0).standard_normal((len(stim), 4)), stim.ids, "f")
    with pytest.raises(ValueError, match=r"time-series recording .* without a time model.*"
                                         r"delays=\[1, 2, 3, 4\].*estimate_betas"):
        VoxelwiseEncoder(features=fs).fit(rec)
    # a trial recording with rows lacking a stimulus id is not silently subset either
    trials = Recording(rec.responses, rec.stimulus_ids, rec.units, runs=rec.runs)
    with pytest.raises(ValueError, match=r"a stimulus id on every trial, got \d+ of \d+ rows "
                                         r"without one.*select_trials"):
        VoxelwiseEncoder(features=fs).fit(trials)
    enc = VoxelwiseEncoder(features=fs, cv=3).fit(trials.select_trials(rec.stimulus_ids != ""))
    with pytest.raises(ValueError, match="without a time model"):
        enc.evaluate(rec)
    with pytest.raises(ValueError, match=r"expected a time-series recording .* Set delays=None"):
        VoxelwiseEncoder(features=fs, delays=[1, 2]).fit(trials.select_trials(
            rec.stimulus_ids != ""))


# ------------------------------------------------------- against the peers
@pytest.mark.parametrize("p, dtype", [(5, "float64"), (60, "float64"), (5, "float32")],
                         ids=["primal", "dual", "primal-float32"])
def test_same_predictions_as_delayer_plus_himalaya_ridgecv(rng, p, dtype):
    """Run-wise z-scoring + voxelwise_tutorials Delayer per run + himalaya RidgeCV, same
    alphas and leave-one-run-out folds: the same test-run predictions."""
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV as HRidgeCV
    from himalaya.scoring import r2_score

    set_backend("numpy")
    delays = [1, 2, 3]
    X, Y, runs = _problem(rng, n_runs=5, p=p, delays=delays)
    train, test = runs != "run-4", runs == "run-4"
    enc = VoxelwiseEncoder(features={"f": X[train]}, delays=delays, alphas=ALPHAS,
                           backend="numpy", dtype=dtype).fit(_ts_recording(Y[train], runs[train]))
    assert enc.trim_ == (3, 0)
    Xd, keep = _ref_design(X[train], runs[train], delays, (3, 0))
    Ytr = _ref_zscore(Y[train][keep], runs[train][keep])
    folds = _logo(runs[train][keep])
    ref = HRidgeCV(alphas=ALPHAS, cv=folds, fit_intercept=True,
                   solver_params=dict(score_func=r2_score)).fit(Xd[keep], Ytr)
    same = np.isclose(enc.estimator_.best_alphas_, ref.best_alphas_, rtol=1e-10)
    # float32 CV scores may break a near-tie between two alphas the other way
    assert same.all() if dtype == "float64" else same.mean() >= 0.9
    Xt, _ = _ref_design(X[test], runs[test], delays, (0, 0))
    test_rec = _ts_recording(Y[test], runs[test])
    enc.features = {"f": X[test]}  # precomputed time courses of the test run
    ours = enc.predict(test_rec)
    # float32 solvers agree to float32 precision (relative 1e-4 of the prediction scale)
    atol = 1e-5 if dtype == "float64" else 1e-4 * np.abs(ours).max()
    np.testing.assert_allclose(ours[:, same], ref.predict(Xt)[:, same], atol=atol)


def test_banded_matches_himalaya_group_ridge_cv(rng):
    """Two spaces, one band each (all its delays): himalaya GroupRidgeCV, same gammas."""
    from himalaya.backend import set_backend
    from himalaya.ridge import GroupRidgeCV
    from himalaya.scoring import r2_score

    set_backend("numpy")
    delays = [1, 2]
    X, Y, runs = _problem(rng, n_runs=4, p=9, delays=delays)
    gammas = np.array([[0.5, 0.5], [0.8, 0.2], [0.1, 0.9]])
    enc = VoxelwiseEncoder(features={"a": X[:, :4], "b": X[:, 4:]}, delays=delays,
                           alphas=ALPHAS, n_iter=gammas, backend="numpy").fit(_ts_recording(Y, runs))
    est = enc.estimator_
    assert est.get_params()["n_iter"] is gammas
    Xa, keep = _ref_design(X[:, :4], runs, delays, (2, 0))
    Xb, _ = _ref_design(X[:, 4:], runs, delays, (2, 0))
    ref = GroupRidgeCV(groups="input", fit_intercept=True, cv=_logo(runs[keep]), solver_params=dict(
        n_iter=gammas, alphas=ALPHAS, score_func=r2_score, progress_bar=False, warn=False)
    ).fit([Xa[keep], Xb[keep]], _ref_zscore(Y[keep], runs[keep]))
    same = np.all(np.isclose(np.exp(-ref.deltas_), est.band_alphas_, rtol=1e-5), axis=0)
    assert same.mean() >= 0.9
    np.testing.assert_allclose(est.coef_[:, same], ref.coef_[:, same], atol=1e-4)


# --------------------------------------------------------- run boundaries
def test_no_delay_crosses_a_run_boundary(rng):
    X, Y, runs = _problem(rng, n_runs=3, p=2, delays=(1, 2, 3))
    enc = VoxelwiseEncoder(features={"f": X}, delays=[1, 2, 3], alphas=ALPHAS, trim=0,
                           backend="numpy").fit(_ts_recording(Y, runs))
    spiked = X.copy()
    last = np.flatnonzero(runs == "run-0")[-1]
    spiked[last] += 50.0  # a spike at the last sample of run 0
    base = enc.predict({"f": _FTC(X, runs)})
    pred = enc.predict({"f": _FTC(spiked, runs)})
    later = runs != "run-0"
    np.testing.assert_array_equal(pred[later], base[later])  # run 1 and 2 are untouched
    assert np.abs(pred[~later] - base[~later]).max() > 0  # but run 0 itself changes
    # the delayed design: the first rows of run 1 hold zeros, not the end of run 0
    from neurotoolkit.encoding._timeseries import design

    block = design({"f": spiked}, ["f"], runs, np.array([1, 2, 3]))[0]
    first = np.flatnonzero(runs == "run-1")[:3]
    assert np.all(block[first[0]] == 0) and np.all(block[first[1], 2:] == 0)


class _FTC:
    """A minimal time course (values, runs, times), as neurotoolkit.features makes them."""

    def __init__(self, values, runs, tr=2.0):
        self.values, self.runs = values, runs
        self.times = Recording(values[:, :1] + np.arange(len(values))[:, None], [""] * len(runs),
                               runs=runs, meta={"mode": "timeseries", "tr": tr}).sample_times()
        self.provenance = {"method": "test"}


# -------------------------------------------------------- options, repeats
def test_delays_in_seconds_trim_and_alignment(rng):
    X, Y, runs = _problem(rng, n_runs=4, p=3, delays=(1, 2))
    rec = _ts_recording(Y, runs)
    a = VoxelwiseEncoder(features={"f": X}, delays=[1, 2], trim=(2, 1), alphas=ALPHAS).fit(rec)
    ftc = _FTC(X, runs)
    # time courses that cover more runs, in another order, are matched by (run, time)
    shuffled = rng.permutation(len(X))
    extra = _FTC(np.vstack([X[shuffled], X[:10]]), np.concatenate([runs[shuffled], ["x"] * 10]))
    extra.times = np.concatenate([ftc.times[shuffled], np.arange(10) * 2.0])
    b = VoxelwiseEncoder(features={"f": extra}, delays=[2.0, 4.0], delay_unit="s",
                         trim=(4.0, 2.0), alphas=ALPHAS).fit(rec)
    np.testing.assert_array_equal(a.delays_, b.delays_)
    np.testing.assert_allclose(b.delay_times_, [2.0, 4.0])
    assert a.trim_ == b.trim_ == (2, 1)
    np.testing.assert_allclose(a.estimator_.coef_, b.estimator_.coef_, rtol=1e-6)
    assert b.timecourse_provenance_["f"]["method"] == "test"
    folds = a.estimator_.cv
    assert len(folds) == 4  # leave-one-run-out by default
    kept_runs = runs[np.concatenate([np.r_[[False] * 2, [True] * 47, [False]]] * 4)]
    for tr_idx, te_idx in folds:
        assert len(set(kept_runs[te_idx])) == 1 and not set(kept_runs[te_idx]) & set(
            kept_runs[tr_idx])
    k2 = VoxelwiseEncoder(features={"f": X}, delays=[1, 2], cv=2, alphas=ALPHAS).fit(rec)
    assert len(k2.estimator_.cv) == 2  # two runs out per fold
    with pytest.raises(ValueError, match=r"`delays`: expected multiples of the sampling period"):
        VoxelwiseEncoder(features={"f": X}, delays=[1.0, 3.0], delay_unit="s").fit(rec)
    with pytest.raises(ValueError, match=r"`trim`: expected fewer samples than run"):
        VoxelwiseEncoder(features={"f": X}, delays=[1], trim=30).fit(rec)
    with pytest.raises(ValueError, match=r"`cv`: expected at least 2 runs"):
        VoxelwiseEncoder(features={"f": X[:50]}, delays=[1]).fit(_ts_recording(Y[:50], runs[:50]))
    with pytest.raises(ValueError, match=r"features\['f'\]`: expected a time course with a sample "
                                         r"at every \(run, time\)"):
        VoxelwiseEncoder(features={"f": _FTC(X[:60], runs[:60])}, delays=[1]).fit(rec)
    with pytest.raises(ValueError, match=r"`timeline`: expected a Timeline"):
        from neurotoolkit.features import FeatureSpace

        VoxelwiseEncoder(features=FeatureSpace(X[:5], list("abcde"), "f"), delays=[1]).fit(rec)


def test_repeats_noise_ceiling_and_save(rng, tmp_path):
    X, Y, runs = _problem(rng, n_runs=4, p=3, delays=(1, 2), noise=0.3)
    rec = _ts_recording(Y, runs)
    enc = VoxelwiseEncoder(features={"f": X}, delays=[1, 2], alphas=ALPHAS).fit(rec)
    # a test run recorded 3 times: signal of run-0 plus fresh noise
    test_runs = np.full(50, "test")
    clean = Y[runs == "run-0"]
    reps = [_ts_recording(clean + rng.standard_normal(clean.shape), test_runs) for _ in range(3)]
    feats = {"f": X[runs == "run-0"]}
    table = enc.evaluate(reps, features=feats)
    assert {"r", "r2", "noise_ceiling", "normalized", "ev", "n_repeats"} <= set(table.columns)
    assert (table["n_repeats"] == 3).all() and (table["noise_ceiling"] > 0.5).all()
    # one Recording whose runs are labelled test-rep1.. gives the same table
    one = _ts_recording(np.vstack([r.responses for r in reps]),
                        np.repeat(["test-rep1", "test-rep2", "test-rep3"], 50))
    pd.testing.assert_frame_equal(enc.evaluate(one, features=feats), table)
    # scored on the z-scored average of the z-scored repeats, trimmed like training
    avg = _ref_zscore(np.mean([_ref_zscore(r.responses[2:], test_runs[2:]) for r in reps], 0),
                      test_runs[2:])
    enc.features = feats
    pred = enc.predict(reps[0])[2:]
    from neurotoolkit.encoding import score_correlation

    np.testing.assert_allclose(table["r"], score_correlation(avg, pred), rtol=1e-6)
    assert enc.score(reps) == pytest.approx(float(table["r2"].mean()), rel=1e-6)
    fname = enc.save(tmp_path / "ts.h5")
    back = load_encoder(fname)
    np.testing.assert_allclose(back.predict(reps[0]), enc.predict(reps[0]))
    with pytest.raises(ValueError, match="repeats of the same run"):
        enc.evaluate([reps[0], reps[1].select_trials(np.arange(40))], features=feats)


# ------------------------------------------------------------ FIR weights
def test_temporal_weights_recover_a_known_fir(rng):
    """One feature, y = x * h (FIR at TR resolution): the weights are h, the peak its peak."""
    h = np.array([0.0, 0.4, 1.0, 0.7, 0.3, 0.1])
    runs = np.repeat(["a", "b", "c", "d"], 120)
    x = rng.standard_normal((len(runs), 1))
    y = np.zeros((len(runs), 3))
    for r in "abcd":
        rows = np.flatnonzero(runs == r)
        y[rows] = np.convolve(x[rows, 0], h)[:len(rows), None] * [1.0, 2.0, -1.0]
    y += 0.05 * rng.standard_normal(y.shape)
    enc = VoxelwiseEncoder(features={"f": x}, delays=range(6), alphas=np.logspace(-3, 2, 11),
                           zscore_runs=False).fit(_ts_recording(y, runs, tr=1.5))
    W = enc.temporal_weights()
    assert W.shape == (3, 1, 6)
    for u, g in enumerate([1.0, 2.0, -1.0]):  # ridge shrinks a little: 5 % of the gain
        np.testing.assert_allclose(W[u, 0] / x.std(), g * h, atol=0.05 * abs(g))
        assert np.corrcoef(W[u, 0], h)[0, 1] * np.sign(g) > 0.999
    hrf = enc.hrf()
    assert list(hrf.columns) == pytest.approx(list(1.5 * np.arange(6)))
    np.testing.assert_allclose(hrf.iloc[2] / x.std(), h, atol=0.05)  # sign made positive
    lat = enc.peak_latencies()
    assert np.all(np.abs(lat - 1.5 * 2) < 0.5)  # peak at delay 2 (3 s), parabola-refined
    assert (enc.peak_latencies(interpolate=False) == 3.0).all()
    assert enc.hrf(units=["unit00001"]).shape == (1, 6)
    with pytest.raises(ValueError, match=r"`units`: expected unit names or ROI names"):
        enc.hrf(units=["nope"])
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    fig = enc.plot_hrf(by=None)
    assert fig.axes[0].get_xlabel() == "delay (s)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import matplotlib.pyplot as plt

        plt.close("all")


# ------------------------------------------------------- on the simulator
def _tr_average(x, n_runs, fps=5, tr=2.0):
    """Per-frame features -> one row per TR: mean over the frames of [t - TR/2, t + TR/2)."""
    step = int(fps * tr)
    out = []
    for run in np.split(x, n_runs):
        pad = np.vstack([np.repeat(run[:1], step // 2, 0), run, np.repeat(run[-1:], step, 0)])
        c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), pad]), axis=0)
        starts = np.arange(0, len(run), step)
        out.append((c[starts + step] - c[starts]) / step)
    return np.vstack(out)


@pytest.fixture(scope="module")
def movie_fit():
    from neurotoolkit.simulation import simulate_naturalistic_fmri

    sim = simulate_naturalistic_fmri(n_train_runs=6, n_test_repeats=4, run_duration=200.0,
                                     random_state=0)
    n_tr = 100
    feats = {k: _tr_average(v, 7) for k, v in sim.truth.features.items()}
    train = {k: v[:6 * n_tr] for k, v in feats.items()}
    test = {k: v[6 * n_tr:] for k, v in feats.items()}
    enc = VoxelwiseEncoder(features=train, delays=range(1, 7), n_iter=10, random_state=0)
    enc.fit(sim.train)
    return sim, enc, enc.evaluate(sim.test, features=test)


def test_planted_hrf_peak_latency_recovered_per_roi(movie_fit):
    sim, enc, table = movie_fit
    lat = enc.peak_latencies().groupby(table["roi"]).median()
    truth = sim.truth.units.groupby("roi")["peak_latency"].median()
    for roi in ("V1", "MT", "FFA", "PPA", "EBA"):
        assert abs(lat[roi] - truth[roi]) < sim.truth.params["tr"], (roi, lat[roi], truth[roi])
    assert lat["V1"] < lat["PPA"] < lat["EBA"]


def test_noise_normalised_scores_on_the_repeated_test_run(movie_fit):
    sim, enc, table = movie_fit
    roi = table["roi"]
    by_roi = table.groupby("roi")
    # the ceiling estimated from the repeats tracks the simulator's truth
    sig = (roi != "noise").to_numpy()
    assert np.abs(table["noise_ceiling"][sig] - sim.truth.noise_ceiling()[sig]).mean() < 0.05
    # high-SNR ROIs reach their ceiling: normalised score (percent) near 100
    for name in ("V1", "FFA", "PPA"):
        assert by_roi["normalized"].median()[name] > 80, name
    # pure-noise units: nothing to explain and nothing explained (pooled over the ROI)
    noise = table[~sig]
    pooled = 100 * (np.maximum(noise["r"], 0) ** 2).sum() / noise["noise_ceiling"].sum()
    assert pooled < 20 and noise["r2"].median() < 0.02 and abs(noise["r"].mean()) < 0.1
    # two spaces: semantic drives FFA/PPA, low-level drives V1 and MT (product measure split)
    assert by_roi["r2_semantic"].median()["FFA"] > by_roi["r2_lowlevel"].median()["FFA"]
    assert by_roi["r2_lowlevel"].median()["MT"] > by_roi["r2_semantic"].median()["MT"]
