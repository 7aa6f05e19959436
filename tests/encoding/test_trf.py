"""TemporalReceptiveField: against an explicit lagged design, MNE ReceptiveField, mtrf,
the simulator's planted TRFs, Haufe's closed form; bad inputs."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from neurotoolkit.data import Recording
from neurotoolkit.encoding import (
    TemporalReceptiveField,
    solve_banded_ridge_cv,
    solve_ridge_cv,
)
from neurotoolkit.simulation import simulate_trf_ephys

SF = 50.0


def lagged(X, lags, runs):
    """Reference lagged design, written independently: column (lag-major) = x[t - lag] within
    each run, zero outside."""
    n, f = X.shape
    runs = np.zeros(n, int) if runs is None else np.asarray(runs)
    out = np.zeros((n, len(lags) * f))
    for r in np.unique(runs):
        idx = np.flatnonzero(runs == r)
        xr = X[idx]
        for a, lag in enumerate(lags):
            col = np.zeros_like(xr)
            if lag >= 0:
                col[lag:] = xr[:len(xr) - lag]
            else:
                col[:lag] = xr[-lag:]
            out[idx, a * f:(a + 1) * f] = col
    return out


def toy(n=(230, 170, 200), f=3, t=5, seed=0):
    rng = np.random.default_rng(seed)
    runs = np.repeat(np.arange(len(n)), n)
    X = rng.standard_normal((runs.size, f)) + 1.5  # non-zero means exercise the centring
    Y = rng.standard_normal((runs.size, t)) + X[:, :1] * 0.4 + 3.0
    return X, Y, runs


def to_design_order(coef):
    """(t, f, L) -> (L * f, t), the lag-major order of ``lagged``."""
    return coef.transpose(2, 1, 0).reshape(-1, coef.shape[0])


@pytest.mark.parametrize("cv", ["runs", 3])
def test_cv_scores_equal_solve_ridge_cv_on_explicit_design(cv):
    X, Y, runs = toy()
    alphas = np.logspace(-1, 4, 7)
    trf = TemporalReceptiveField(-0.06, 0.1, SF, alphas=alphas, cv=cv).fit(X, Y, runs=runs)
    D = lagged(X, trf.lags_, runs)
    res = solve_ridge_cv(D, Y, alphas, cv=cv, groups=runs, dtype="float64")
    np.testing.assert_allclose(trf.cv_scores_, res.cv_scores, atol=1e-10)
    np.testing.assert_array_equal(trf.best_alphas_, res.best_alphas)
    np.testing.assert_allclose(to_design_order(trf.coef_), res.coef, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(trf.intercept_, res.intercept, rtol=1e-8)


@pytest.mark.filterwarnings("ignore:Alpha-grid saturation")
def test_cv_within_one_run_contiguous_blocks():
    X, Y, _ = toy(n=(400,))
    trf = TemporalReceptiveField(-0.04, 0.08, SF, alphas=np.logspace(0, 3, 4), cv=4,
                                 scoring="correlation").fit(X, Y)
    D = lagged(X, trf.lags_, None)
    res = solve_ridge_cv(D, Y, np.logspace(0, 3, 4), cv=4, scoring="correlation",
                         dtype="float64")
    np.testing.assert_allclose(trf.cv_scores_, res.cv_scores, atol=1e-10)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_same_coefficients_as_mne_receptive_field(fit_intercept):
    from mne.decoding import ReceptiveField

    X, Y, _ = toy(n=(600,))
    rf = ReceptiveField(-0.1, 0.14, SF, estimator=Ridge(alpha=7.0, fit_intercept=fit_intercept),
                        fit_intercept=fit_intercept).fit(X, Y)
    ours = TemporalReceptiveField(-0.1, 0.14, SF, alphas=7.0,
                                  fit_intercept=fit_intercept).fit(X, Y)
    assert ours.coef_.shape == rf.coef_.shape
    if fit_intercept:
        # edge fill differs by design (Notes); the solution is close, not equal
        assert np.abs(ours.coef_ - rf.coef_).max() < 0.05 * np.abs(rf.coef_).max()
        return
    rel = np.abs(ours.coef_ - rf.coef_).max() / np.abs(rf.coef_).max()
    assert rel < 1e-6
    np.testing.assert_allclose(ours.times_, rf.delays_ / SF)
    np.testing.assert_allclose(ours.predict(X), rf.predict(X), rtol=1e-6, atol=1e-9)


def test_same_coefficients_as_time_delaying_ridge():
    from mne.decoding import ReceptiveField

    X, Y, _ = toy(n=(500,))
    rf = ReceptiveField(-0.06, 0.12, SF, estimator=4.0, fit_intercept=False).fit(X, Y)
    ours = TemporalReceptiveField(-0.06, 0.12, SF, alphas=4.0, fit_intercept=False).fit(X, Y)
    assert np.abs(ours.coef_ - rf.coef_).max() / np.abs(rf.coef_).max() < 1e-6


def test_same_coefficients_as_mtrf_with_trials():
    from mtrf.model import TRF

    X, Y, runs = toy()
    lam = 0.3
    trials = np.unique(runs)
    ref = TRF(direction=1)
    ref.train([X[runs == r] for r in trials], [Y[runs == r] for r in trials], int(SF),
              -0.1, 0.2, lam)
    # mtrf: averages trial covariances, penalty lam * fs, weights * fs (see Notes)
    ours = TemporalReceptiveField(-0.1, 0.2, SF, alphas=lam * SF * len(trials)).fit(
        X, Y, runs=runs)
    w = np.transpose(ref.weights, (2, 0, 1)) / SF
    assert np.abs(ours.coef_ - w).max() / np.abs(w).max() < 1e-6
    np.testing.assert_allclose(ours.intercept_, np.ravel(ref.bias) / SF, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.times_, np.asarray(ref.times))


@pytest.mark.filterwarnings("ignore:Alpha-grid saturation")
def test_predict_and_score_match_explicit_design():
    X, Y, runs = toy()
    trf = TemporalReceptiveField(-0.04, 0.1, SF, alphas=[1.0, 10.0, 100.0]).fit(X, Y, runs=runs)
    D = lagged(X, trf.lags_, runs)
    pred = D @ to_design_order(trf.coef_) + trf.intercept_
    np.testing.assert_allclose(trf.predict(X, runs=runs), pred, rtol=1e-10, atol=1e-10)
    assert trf.score(X, Y, runs=runs) == pytest.approx(r2_score(Y, pred), rel=1e-10)
    np.testing.assert_allclose(trf.score_targets(X, Y, runs=runs),
                               r2_score(Y, pred, multioutput="raw_values"), rtol=1e-10)
    one = TemporalReceptiveField(0.0, 0.1, SF, alphas=3.0).fit(X, Y[:, 0], runs=runs)
    assert one.predict(X, runs=runs).shape == (len(X),)
    assert one.coef_.shape == (1, 3, 6)


def test_band_windows_and_banded_search_match_solve_banded_ridge_cv():
    X, Y, runs = toy(f=4)
    bands = {"a": ([0, 1], (0.0, 0.1)), "b": (slice(2, 4), (-0.04, 0.02))}
    trf = TemporalReceptiveField(0.0, 0.1, SF, alphas=np.logspace(-1, 4, 6), bands=bands,
                                 n_iter=5, random_state=0).fit(X, Y, runs=runs)
    assert trf.coef_.shape == (5, 4, trf.lags_.size)
    la, lb = np.arange(0, 6), np.arange(-2, 2)
    # features outside their window are exactly 0
    assert np.all(trf.coef_[:, :2][:, :, ~np.isin(trf.lags_, la)] == 0)
    assert np.all(trf.coef_[:, 2:][:, :, ~np.isin(trf.lags_, lb)] == 0)
    Da, Db = lagged(X[:, :2], la, runs), lagged(X[:, 2:], lb, runs)
    res = solve_banded_ridge_cv([Da, Db], Y, np.logspace(-1, 4, 6), cv="runs", groups=runs,
                                n_iter=trf.gammas_, dtype="float64")
    np.testing.assert_allclose(trf.best_alphas_, res.best_alphas)
    np.testing.assert_allclose(trf.band_alphas_, res.band_alphas)
    coef = np.concatenate([
        to_design_order(trf.coef_[:, :2][:, :, np.isin(trf.lags_, la)]),
        to_design_order(trf.coef_[:, 2:][:, :, np.isin(trf.lags_, lb)])])
    np.testing.assert_allclose(coef, res.coef, rtol=1e-6, atol=1e-9)


def test_recovers_planted_trfs_on_simulator():
    sim = simulate_trf_ephys(n_chans=12, n_runs=3, run_duration=60.0, sfreq=100.0, n_bands=6,
                             snr_max=2.0, random_state=1)
    trf = TemporalReceptiveField(-0.1, 0.4).fit(sim.features, sim.recording)
    assert trf.sfreq_ == 100.0 and trf.coef_.shape == sim.kernels.shape
    high = np.flatnonzero(sim.snr >= 1.0)
    assert high.size >= 2
    for c in high:
        r = np.corrcoef(trf.coef_[c].ravel(), sim.kernels[c].ravel())[0, 1]
        assert r >= 0.9, (c, r)
    # noise channels: the CV picks heavy shrinkage
    noise = np.flatnonzero(sim.snr == 0)
    assert np.all(trf.best_alphas_[noise] > np.median(trf.best_alphas_[high]))


def test_backward_model_reconstructs_envelope_and_haufe_patterns():
    sim = simulate_trf_ephys(n_chans=16, n_runs=3, run_duration=50.0, sfreq=100.0,
                             features="envelope", snr_max=2.0, random_state=2)
    train, test = sim.runs < 2, sim.runs == 2
    Y = sim.recording.responses
    dec = TemporalReceptiveField(0.0, 0.3, 100.0, direction="backward").fit(
        Y[train], sim.envelope[train], runs=sim.runs[train])
    assert dec.times_.min() == pytest.approx(-0.3) and dec.times_.max() == 0.0
    r = np.corrcoef(dec.predict(Y[test]), sim.envelope[test])[0, 1]
    assert r > 0.7
    # Haufe patterns: closed form cov(X) W cov(X W)^-1 on the explicit lagged design
    D = lagged(Y[train], dec.lags_, sim.runs[train])
    W = to_design_order(dec.coef_)
    cx = np.cov(D.T)
    A = cx @ W @ np.linalg.inv(np.atleast_2d(W.T @ cx @ W))
    np.testing.assert_allclose(to_design_order(dec.patterns_), A, rtol=1e-6,
                               atol=1e-9 * np.abs(A).max())
    assert TemporalReceptiveField(0, 0.1, 100.0, alphas=1.0).fit(
        sim.features, Y).patterns_ is None


def test_haufe_patterns_on_toy_with_two_outputs():
    X, Y, runs = toy(t=2)
    dec = TemporalReceptiveField(0.0, 0.06, SF, alphas=5.0, direction="backward").fit(
        X, Y, runs=runs)
    D = lagged(X, dec.lags_, runs)
    W = to_design_order(dec.coef_)
    yhat = D @ W
    A = np.cov(D.T) @ W @ np.linalg.inv(np.cov(yhat.T))
    np.testing.assert_allclose(to_design_order(dec.patterns_), A, rtol=1e-6, atol=1e-10)


def test_recording_and_feature_timecourse_inputs():
    sim = simulate_trf_ephys(n_chans=4, n_runs=2, run_duration=10.0, sfreq=100.0, n_bands=3,
                             random_state=3)

    class TimeCourse:  # duck-typed FeatureTimeCourse
        values, runs, times = sim.features, sim.runs, sim.times

    a = TemporalReceptiveField(0.0, 0.2, alphas=10.0).fit(TimeCourse(), sim.recording)
    b = TemporalReceptiveField(0.0, 0.2, 100.0, alphas=10.0).fit(
        sim.features, sim.recording.responses, runs=sim.runs)
    np.testing.assert_allclose(a.coef_, b.coef_)
    assert a.output_names_ == list(sim.recording.units.index)
    np.testing.assert_allclose(a.predict(TimeCourse()), b.predict(sim.features, runs=sim.runs))


def test_bad_inputs_give_clear_errors():
    X, Y, runs = toy()
    with pytest.raises(ValueError, match="tmin <= tmax"):
        TemporalReceptiveField(0.3, 0.1, SF).fit(X, Y, runs=runs)
    with pytest.raises(ValueError, match="lags shorter than every run"):
        TemporalReceptiveField(0.0, 4.0, SF).fit(X, Y, runs=runs)
    sim = simulate_trf_ephys(n_chans=3, n_runs=2, run_duration=5.0, sfreq=100.0, n_bands=2,
                             random_state=0)
    with pytest.raises(ValueError, match=r"`sfreq`.*100 Hz.*250 Hz"):
        TemporalReceptiveField(0.0, 0.1, 250.0).fit(sim.features, sim.recording)
    with pytest.raises(ValueError, match="`sfreq`"):
        TemporalReceptiveField(0.0, 0.1).fit(X, Y)
    with pytest.raises(ValueError, match="at least 2 runs"):
        TemporalReceptiveField(0.0, 0.1, SF).fit(X, Y)
    with pytest.raises(ValueError, match="two bands"):
        TemporalReceptiveField(0.0, 0.1, SF, bands={"a": [0, 1], "b": [1, 2]}).fit(
            X, Y, runs=runs)
    with pytest.raises(ValueError, match="in none"):
        TemporalReceptiveField(0.0, 0.1, SF, bands={"a": [0]}).fit(X, Y, runs=runs)
    with pytest.raises(ValueError, match="contiguous block"):
        TemporalReceptiveField(0.0, 0.1, SF).fit(X, Y, runs=np.tile([0, 1], len(X) // 2))
    with pytest.raises(ValueError, match="`direction`"):
        TemporalReceptiveField(0.0, 0.1, SF, direction="both").fit(X, Y, runs=runs)
    trial_rec = Recording(Y, [f"s{k}" for k in range(len(Y))], modality="eeg")
    with pytest.raises(ValueError, match="time-series Recording"):
        TemporalReceptiveField(0.0, 0.1, SF).fit(X, trial_rec, runs=runs)
    with pytest.raises(ValueError, match="samples"):
        TemporalReceptiveField(0.0, 0.1, SF).fit(X, Y[:-5], runs=runs)


def test_torch_backend_gives_the_same_fit():
    pytest.importorskip("torch")
    X, Y, runs = toy()
    a = TemporalReceptiveField(-0.1, 0.2, SF, backend="numpy").fit(X, Y, runs=runs)
    b = TemporalReceptiveField(-0.1, 0.2, SF, backend="torch", device="cpu").fit(X, Y, runs=runs)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.cv_scores_, a.cv_scores_, atol=1e-12)
