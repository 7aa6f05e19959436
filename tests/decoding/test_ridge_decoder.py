"""RidgeDecoder and paired_responses: against scikit-learn, on the simulator (truth known)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurotoolkit.data import Recording
from neurotoolkit.simulation import simulate_recordings
from neurotoolkit.decoding import (
    RidgeDecoder,
    paired_responses,
    retrieval_accuracy,
    two_way_identification,
)
from neurotoolkit.features import FeatureSpace

ALPHAS = np.logspace(-2, 4, 13)


@parametrize_with_checks([RidgeDecoder(alphas=ALPHAS, cv=3)])
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Alpha-grid saturation")
        warnings.filterwarnings("ignore", message=".*constant targets")
        check(estimator)


def _data(rng, n=37, p=11, d=13):
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 3.0, p) + rng.normal(0, 2, p)
    Y = X @ rng.standard_normal((p, d)) + 2.0 * rng.standard_normal((n, d)) + 1.0
    return X, Y


@pytest.mark.parametrize("p", [11, 53])  # primal (p < n) and dual (p > n) forms
def test_matches_sklearn_ridge_on_standardized_x(rng, p):
    X, Y = _data(rng, p=p)
    dec = RidgeDecoder(alphas=ALPHAS, cv=5, dtype="float64").fit(X, Y)
    assert dec.solver_ == ("primal" if p == 11 else "dual")
    assert dec.best_alphas_.shape == (13,) and dec.coef_.shape == (p, 13)
    assert np.unique(dec.best_alphas_).size == 1  # alpha_selection="shared" by default
    alpha = dec.best_alphas_[0]
    scaler = StandardScaler().fit(X)
    np.testing.assert_allclose(dec.x_mean_, scaler.mean_)
    np.testing.assert_allclose(dec.x_scale_, scaler.scale_)
    ref = Ridge(alpha=alpha).fit(scaler.transform(X), Y)
    np.testing.assert_allclose(dec.coef_, ref.coef_.T, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dec.intercept_, ref.intercept_, rtol=1e-6, atol=1e-9)
    Xn = rng.standard_normal((7, p)) + 1.0
    np.testing.assert_allclose(dec.predict(Xn), ref.predict(scaler.transform(Xn)), rtol=1e-6,
                               atol=1e-8)
    # the one shared alpha maximizes the fold-mean R^2 averaged over all dimensions
    Xs = scaler.transform(X)
    folds = np.array_split(np.arange(37), 5)
    cv = [np.mean([r2_score(Y[te], Ridge(alpha=a).fit(np.delete(Xs, te, 0), np.delete(Y, te, 0))
                            .predict(Xs[te]), multioutput="raw_values") for te in folds], axis=0)
          for a in ALPHAS]
    np.testing.assert_allclose(dec.cv_scores_, np.array(cv), rtol=1e-6, atol=1e-8)
    assert alpha == ALPHAS[np.argmax(np.mean(cv, axis=1))]
    np.testing.assert_allclose(dec.y_mean_, Y.mean(0))
    np.testing.assert_allclose(dec.y_scale_, Y.std(0))


@pytest.mark.filterwarnings("ignore:Alpha-grid saturation")
def test_alpha_per_target_and_no_standardize(rng):
    X, Y = _data(rng)
    dec = RidgeDecoder(alphas=ALPHAS, alpha_selection="best", standardize=False,
                       dtype="float64").fit(X, Y)
    assert dec.best_alphas_.shape == (13,)
    np.testing.assert_array_equal(dec.x_mean_, 0)
    for j in (0, 5, 12):
        ref = Ridge(alpha=dec.best_alphas_[j]).fit(X, Y[:, j])
        np.testing.assert_allclose(dec.predict(X[:4])[:, j], ref.predict(X[:4]), rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Alpha-grid saturation")
def test_deprecated_alpha_per_target_and_alpha_(rng):
    X, Y = _data(rng)
    new = RidgeDecoder(alphas=ALPHAS, alpha_selection="best", dtype="float64").fit(X, Y)
    old = RidgeDecoder(alphas=ALPHAS, alpha_per_target=True, dtype="float64")
    with pytest.warns(FutureWarning, match="`alpha_per_target` is deprecated.*use "
                                           "alpha_selection='best' instead"):
        old.fit(X, Y)
    np.testing.assert_array_equal(old.best_alphas_, new.best_alphas_)
    assert old.alpha_selection_ == new.alpha_selection_ == "best"
    with pytest.warns(FutureWarning, match="`alpha_` is deprecated.*use `best_alphas_`"):
        np.testing.assert_array_equal(old.alpha_, new.best_alphas_)
    shared = RidgeDecoder(alphas=ALPHAS, alpha_per_target=False, dtype="float64")
    with pytest.warns(FutureWarning, match="use alpha_selection='shared' instead"):
        shared.fit(X, Y)
    with pytest.warns(FutureWarning, match="`alpha_` is deprecated"):
        assert isinstance(shared.alpha_, float) and shared.alpha_ == shared.best_alphas_[0]
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="Invalid value for "
                                                    "`alpha_per_target`: expected None when"):
        RidgeDecoder(alpha_selection="best", alpha_per_target=False).fit(X, Y)
    with pytest.raises(ValueError, match="Invalid value for `alpha_selection`"):
        RidgeDecoder(alpha_selection="per_dim").fit(X, Y)


def test_restandardize_is_brain_diffuser_test_time_zscoring(rng):
    X, Y = _data(rng, p=53)
    dec = RidgeDecoder(alphas=ALPHAS, dtype="float64").fit(X, Y)
    Xn = rng.standard_normal((9, 53))
    raw = dec.predict(Xn)
    ref = (raw - raw.mean(0)) / raw.std(0) * Y.std(0) + Y.mean(0)
    np.testing.assert_allclose(dec.predict(Xn, restandardize=True), ref, rtol=1e-10)
    on = RidgeDecoder(alphas=ALPHAS, dtype="float64", restandardize=True).fit(X, Y)
    np.testing.assert_allclose(on.predict(Xn), ref, rtol=1e-10)
    np.testing.assert_allclose(on.predict(Xn).std(0), Y.std(0), rtol=1e-8)
    np.testing.assert_allclose(on.predict(Xn, restandardize=False), raw, rtol=1e-10)
    with pytest.raises(ValueError, match="`X`.*at least 2 rows"):
        on.predict(Xn[:1])


def test_three_d_targets_round_trip(rng):
    X, Y = _data(rng, d=12)
    Y3 = Y.reshape(37, 4, 3)
    dec3 = RidgeDecoder(alphas=ALPHAS, dtype="float64").fit(X, Y3)
    dec2 = RidgeDecoder(alphas=ALPHAS, dtype="float64").fit(X, Y)
    assert dec3.target_shape_ == (4, 3) and dec3.predict(X[:5]).shape == (5, 4, 3)
    np.testing.assert_allclose(dec3.predict(X[:5]).reshape(5, 12), dec2.predict(X[:5]))
    assert dec3.score(X, Y3) == pytest.approx(dec2.score(X, Y))
    with pytest.raises(ValueError, match="`y`.*shape"):
        dec3.score(X, Y)


def test_score_is_sklearn_r2_and_score_targets_named(rng):
    X, Y = _data(rng)
    dec = RidgeDecoder(alphas=ALPHAS).fit(X, Y)
    Xn, Yn = _data(np.random.default_rng(1))
    pred = dec.predict(Xn)
    assert dec.score(Xn, Yn) == pytest.approx(r2_score(Yn, pred), rel=1e-12)
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(Yn))
    assert dec.score(Xn, Yn, sample_weight=w) == pytest.approx(
        r2_score(Yn, pred, sample_weight=w), rel=1e-12)
    r = [np.corrcoef(pred[:, j], Yn[:, j])[0, 1] for j in range(13)]
    np.testing.assert_allclose(dec.score_targets(Xn, Yn, scoring="correlation"), r, rtol=1e-5)
    np.testing.assert_allclose(dec.score_targets(Xn, Yn, scoring="r2"),
                               r2_score(Yn, pred, multioutput="raw_values"), rtol=1e-5)
    with pytest.warns(FutureWarning, match="default `scoring` of RidgeDecoder.score_targets "
                                           "changes from 'correlation' to 'r2'"):
        np.testing.assert_allclose(dec.score_targets(Xn, Yn), r, rtol=1e-5)


@pytest.mark.filterwarnings("ignore:Alpha-grid saturation")
def test_dual_without_weights_predicts_through_the_kernel(rng):
    X, Y = _data(rng, n=30, p=900, d=40)
    full = RidgeDecoder(alphas=ALPHAS, cv=3, dtype="float64").fit(X, Y)
    small = RidgeDecoder(alphas=ALPHAS, cv=3, dtype="float64", memory_budget=400_000).fit(X, Y)
    assert full.solver_ == "dual" and full.coef_ is not None and small.coef_ is None
    np.testing.assert_allclose(small.predict(X[:6]), full.predict(X[:6]), rtol=1e-8, atol=1e-10)


def test_fit_errors(rng):
    X, Y = _data(rng)
    with pytest.raises(ValueError, match="`Y`.*37 samples.*36 rows"):
        RidgeDecoder().fit(X, Y[:36])
    with pytest.raises(TypeError, match="`standardize`"):
        RidgeDecoder(standardize="yes").fit(X, Y)
    with pytest.raises(ValueError, match="`Y`.*1-D or 2-D or 3-D"):
        RidgeDecoder().fit(X, Y.reshape(37, 13, 1, 1))


# ------------------------------------------------------------- paired_responses
def _recording():
    ids = ["b", "a", "c", "a", "b", "a", ""]
    resp = np.arange(7 * 3, dtype=float).reshape(7, 3) ** 1.5
    return Recording(resp, ids, runs=[1, 1, 1, 2, 2, 2, 2])


def test_paired_responses_averages_repeats_and_aligns_embeddings():
    rec = _recording()
    fs = FeatureSpace(np.array([[1.0, 0], [0, 1.0], [2.0, 2.0], [5.0, 5.0]]), ["a", "b", "c", "d"],
                      "emb")
    X, Y, ids = paired_responses(rec, fs)
    assert list(ids) == ["b", "a", "c"]
    R = rec.responses
    np.testing.assert_allclose(X, [R[[0, 4]].mean(0), R[[1, 3, 5]].mean(0), R[2]])
    np.testing.assert_allclose(Y, [[0, 1.0], [1.0, 0], [2.0, 2.0]])
    X1, Y1, ids1 = paired_responses(rec, fs, average_repeats=False)
    assert list(ids1) == ["b", "a", "c", "a", "b", "a"]  # the "" row (no stimulus) is dropped
    np.testing.assert_allclose(X1, R[:6])
    np.testing.assert_allclose(Y1, fs.for_ids(ids1))
    X2, _, ids2 = paired_responses(rec, fs, ids=["c", "a"])
    assert list(ids2) == ["a", "c"]
    np.testing.assert_allclose(X2, [R[[1, 3, 5]].mean(0), R[2]])
    # a DataFrame indexed by id and a dict of token embeddings work the same
    df = pd.DataFrame(fs.values, index=fs.stimulus_ids)
    np.testing.assert_allclose(paired_responses(rec, df)[1], Y)
    tokens = {k: np.full((2, 3), i) for i, k in enumerate("abcd")}
    assert paired_responses(rec, tokens)[1].shape == (3, 2, 3)


def test_paired_responses_errors():
    rec = _recording()
    fs = FeatureSpace(np.eye(2), ["a", "z"], "emb")
    with pytest.raises(ValueError, match=r"2 of the recording's 3 stimulus ids are not in 'emb' "
                                         r"\(mismatched stimulus sets\), e.g. \['b', 'c'\]"):
        paired_responses(rec, fs)
    with pytest.raises(ValueError, match=r"mismatched.*\['b'\]"):
        paired_responses(rec, {"a": [1.0], "c": [2.0]})
    with pytest.raises(ValueError, match=r"`ids`.*\['q'\]"):
        paired_responses(rec, fs, ids=["a", "q"])
    with pytest.raises(TypeError, match="`features`.*FeatureSpace"):
        paired_responses(rec, np.eye(3))
    with pytest.raises(TypeError, match="`recording`"):
        paired_responses(np.eye(3), fs)
    ts = Recording(np.random.default_rng(0).standard_normal((5, 2)), ["a"] * 5,
                   meta={"mode": "timeseries"})
    with pytest.raises(ValueError, match="estimate_betas"):
        paired_responses(ts, fs)


# ------------------------------------------------------------------ simulator
def _decode_subjects(ds, fs):
    rows = []
    for rec in ds.recordings:
        X, Y, _ = paired_responses(rec, fs, ids=ds.truth.train_ids)
        Xt, Yt, _ = paired_responses(rec, fs, ids=ds.truth.test_ids)
        pred = RidgeDecoder(cv=5).fit(X, Y).predict(Xt)
        ret = retrieval_accuracy(pred, Yt, n_way="all").set_index("direction")
        rows.append({"subject": rec.subject, "n_units": rec.n_units,
                     "image": ret.loc["image", "accuracy"], "brain": ret.loc["brain", "accuracy"],
                     "chance": ret.loc["image", "chance"],
                     "two_way": two_way_identification(pred, Yt)["accuracy"].iloc[0]})
    return pd.DataFrame(rows)


def test_simulator_fmri_decoding_far_above_chance(gabor_pca_space):
    ds = simulate_recordings(n_subjects=4, random_state=0)
    table = _decode_subjects(ds, gabor_pca_space(ds.truth))
    print("\nsimulated fMRI, 20-way retrieval / 2-way on held-out stimuli:\n", table)
    # measured: image 0.75-0.85, brain 0.75-0.9, 2-way 0.955-0.974 (chance 0.05 / 0.5)
    assert (table["chance"] == 1 / 20).all()
    assert (table[["image", "brain"]].to_numpy() > 5 * table[["chance"]].to_numpy()).all()
    assert (table["two_way"] > 0.8).all()


def test_simulator_ephys_channel_window_units(gabor_pca_space):
    ds = simulate_recordings(n_subjects=2, modality="meg", mode="time_resolved", random_state=0)
    rec = ds.recordings[0]
    assert {"channel", "tmin", "tmax"} <= set(rec.units.columns)
    table = _decode_subjects(ds, gabor_pca_space(ds.truth))
    print("\nsimulated MEG (channel x window units):\n", table)
    # measured: retrieval 0.3-0.4 (chance 0.05), 2-way 0.86-0.89
    assert (table[["image", "brain"]].to_numpy() > 3 * 0.05).all()
    assert (table["two_way"] > 0.75).all()


def test_simulator_ephys_decoding_per_time_window(gabor_pca_space):
    # one decoder per window of (channel, window) units: identification follows the evoked
    # response (Card 9: "ridge per time point to the embedding, then retrieval")
    ds = simulate_recordings(n_subjects=1, modality="meg", mode="time_resolved", random_state=0)
    rec, fs = ds.recordings[0], gabor_pca_space(ds.truth)
    two_way = {}
    for tmin in np.unique(rec.units["tmin"]):
        win = rec.select(units=(rec.units["tmin"] == tmin).to_numpy())
        X, Y, _ = paired_responses(win, fs, ids=ds.truth.train_ids)
        Xt, Yt, _ = paired_responses(win, fs, ids=ds.truth.test_ids)
        pred = RidgeDecoder(cv=5).fit(X, Y).predict(Xt)
        two_way[round(float(tmin), 3)] = two_way_identification(pred, Yt)["accuracy"].iloc[0]
    two_way = pd.Series(two_way)
    print("\n2-way identification per window start (s):\n", two_way.round(3).to_dict())
    # measured: 0.45 / 0.40 before the stimulus, peak 0.87 at +0.10 s
    assert two_way[two_way.index < 0].max() < 0.65
    assert two_way.max() > 0.8 and 0.0 <= two_way.idxmax() <= 0.3
