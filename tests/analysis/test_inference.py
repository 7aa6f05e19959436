"""Bootstrap, permutation and tidy tables for encoding scores (references:
direct re-scoring with score_correlation / scikit-learn, scikit-learn Ridge,
CI coverage on the simulator's known true scores)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score

from neurotoolkit.analysis import (
    bootstrap_encoding_scores,
    bootstrap_indices,
    bootstrap_scores,
    cross_val_predictions,
    permutation_scores,
)
from neurotoolkit.encoding import score_correlation
from neurotoolkit.simulation import simulate_multimodal_seeg


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Tiny matrix products: BLAS threads only contend on a shared 2-core machine."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):
        yield


def test_bootstrap_indices_shapes_seed_and_blocks():
    a = bootstrap_indices(37, 11, random_state=3)
    assert a.shape == (11, 37) and a.min() >= 0 and a.max() < 37
    np.testing.assert_array_equal(a, bootstrap_indices(37, 11, random_state=3))
    assert not np.array_equal(a, bootstrap_indices(37, 11, random_state=4))
    blk = bootstrap_indices(50, 5, block_size=7, random_state=0)
    assert blk.shape == (5, 50)
    # inside a block indices are consecutive
    assert np.all(np.diff(blk[:, :7], axis=1) == 1)
    with pytest.raises(ValueError, match="Invalid value for `block_size`"):
        bootstrap_indices(10, 5, block_size=11)


@pytest.mark.parametrize("metric", ["correlation", "r2"])
def test_bootstrap_scores_equal_direct_rescoring(rng, metric):
    n, t = 53, 7
    Y = rng.normal(size=(n, t))
    preds = {"a": Y + rng.normal(size=(n, t)), "b": 0.5 * Y + rng.normal(size=(n, t))}
    idx = bootstrap_indices(n, 25, random_state=rng)
    res = bootstrap_scores(Y, preds, indices=idx, metric=metric)
    assert res.bootstrap.shape == (25, 2, t) and res.model_names == ["a", "b"]
    for k, name in enumerate(["a", "b"]):
        if metric == "correlation":
            ref_obs = score_correlation(Y, preds[name])
            ref = np.stack([score_correlation(Y[i], preds[name][i]) for i in idx])
        else:
            ref_obs = r2_score(Y, preds[name], multioutput="raw_values")
            ref = np.stack([r2_score(Y[i], preds[name][i], multioutput="raw_values") for i in idx])
        np.testing.assert_allclose(res.observed[k], ref_obs, atol=1e-10)
        np.testing.assert_allclose(res.bootstrap[:, k], ref, atol=1e-10)
    # the same indices for every model: differences are paired
    d_obs, d_boot = res.difference("a", "b")
    np.testing.assert_allclose(d_boot, res.bootstrap[:, 0] - res.bootstrap[:, 1])
    np.testing.assert_allclose(d_obs, res.observed[0] - res.observed[1])


def test_tables_and_paired_p_values(rng):
    n, t = 80, 9
    Y = rng.normal(size=(n, t))
    units = pd.DataFrame({"channel": ["e1"] * 5 + ["e2"] * 4, "bin": list(range(5)) + list(range(4))},
                         index=pd.Index([f"u{k}" for k in range(t)], name="unit"))
    res = bootstrap_scores(Y, {"good": Y + rng.normal(size=(n, t)), "bad": rng.normal(size=(n, t))},
                           n_bootstraps=200, units=units, random_state=0)
    table = res.to_frame()
    assert len(table) == 2 * t
    assert {"unit", "channel", "bin", "model", "score", "ci_low", "ci_high", "se", "p_value",
            "p_adjusted", "significant"} <= set(table.columns)
    good = table[table.model == "good"]
    assert good["significant"].all() and (good["ci_low"] > 0).all()
    assert (good["ci_low"] <= good["score"]).all() and (good["score"] <= good["ci_high"]).all()
    comp = res.compare([("good", "bad")], correction="bonferroni")
    B = 200
    _, d = res.difference("good", "bad")
    np.testing.assert_allclose(comp["p_value"], (1 + (d <= 0).sum(0)) / (B + 1))
    np.testing.assert_allclose(comp["p_adjusted"], np.minimum(comp["p_value"] * t, 1))
    assert comp["significant"].all()
    two = res.compare([("bad", "good")], alternative="two-sided")
    assert (two["p_value"] <= 2 / (B + 1) + 1e-12).all()
    # BCa intervals bracket the percentile ones' centre and are ordered
    lo, hi = res.ci(0.9, method="bca")
    assert (lo <= hi).all()
    with pytest.raises(ValueError, match="Invalid value for `model`"):
        res.difference("good", "nope")
    with pytest.raises(ValueError, match="Invalid value for `method`"):
        res.ci(method="student")


def test_bootstrap_scores_errors(rng):
    Y = rng.normal(size=(20, 3))
    with pytest.raises(ValueError, match=r"expected predictions of shape \(20, 3\)"):
        bootstrap_scores(Y, rng.normal(size=(20, 4)))
    with pytest.raises(ValueError, match=r"Invalid value for `indices`: expected indices in \[0, 20\)"):
        bootstrap_scores(Y, Y, indices=np.full((3, 20), 25))
    with pytest.raises(ValueError, match="Invalid value for `metric`"):
        bootstrap_scores(Y, Y, metric="mse")
    with pytest.raises(ValueError, match="Invalid value for `units`"):
        bootstrap_scores(Y, Y, units=pd.DataFrame(index=range(2)), n_bootstraps=2)


def test_cross_val_predictions_match_sklearn_ridge(rng):
    n, p, t = 60, 5, 4
    X = rng.normal(size=(n, p))
    Y = X @ rng.normal(size=(p, t)) + rng.normal(size=(n, t))
    pred = cross_val_predictions(X, Y, cv=3, alphas=[2.5])
    bounds = [0, 20, 40, 60]
    for k in range(3):
        test = np.arange(bounds[k], bounds[k + 1])
        train = np.setdiff1d(np.arange(n), test)
        ref = Ridge(alpha=2.5).fit(X[train], Y[train]).predict(X[test])
        np.testing.assert_allclose(pred[test], ref, atol=1e-8)
    with pytest.raises(ValueError, match="Invalid value for `cv`"):
        cross_val_predictions(X, Y, cv=40)


def test_bootstrap_encoding_rescore_and_refit(rng):
    n, t = 90, 6
    X = rng.normal(size=(n, 4))
    Y = X @ rng.normal(size=(4, t)) + rng.normal(size=(n, t))
    noise = rng.normal(size=(n, 3))
    idx = bootstrap_indices(n, 30, random_state=1)
    res = bootstrap_encoding_scores({"true": X, "noise": noise}, Y, indices=idx, cv=3)
    assert res.mode == "rescore" and res.bootstrap.shape == (30, 2, t)
    np.testing.assert_allclose(res.observed[0],
                               score_correlation(Y, res.meta["predictions"]["true"]), atol=1e-10)
    assert (res.observed[0] > res.observed[1]).all()
    refit = bootstrap_encoding_scores({"true": X, "noise": noise}, Y, indices=idx[:8], refit=True,
                                      cv=3)
    assert refit.mode == "refit" and refit.bootstrap.shape == (8, 2, t)
    assert np.nanmean(refit.bootstrap[:, 0]) > np.nanmean(refit.bootstrap[:, 1]) + 0.3
    again = bootstrap_encoding_scores({"true": X, "noise": noise}, Y, indices=idx[:8], refit=True,
                                      cv=3)
    np.testing.assert_array_equal(refit.bootstrap, again.bootstrap)
    with pytest.raises(ValueError, match=r"Invalid value for `features\['true'\]`: expected 90 rows"):
        bootstrap_encoding_scores({"true": X[:50]}, Y)


def test_permutation_scores_calibrated(rng):
    n, t = 120, 300
    Y = rng.normal(size=(n, t))
    null = permutation_scores(Y, rng.normal(size=(n, t)), n_permutations=199, random_state=0)
    # under H0 the p-values are uniform: about 5 % below 0.05
    frac = np.mean(null.p_values <= 0.05)
    assert frac <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / t)
    sig = permutation_scores(Y[:, :5], Y[:, :5] + rng.normal(size=(n, 5)), n_permutations=99,
                             random_state=0)
    assert (sig.p_values == 1 / 100).all()
    # circular shifts keep autocorrelation: for smooth independent series label permutation is
    # anti-conservative, circular shifts are not
    smooth = np.cumsum(rng.normal(size=(n, 100)), axis=0)
    pred = np.cumsum(rng.normal(size=(n, 100)), axis=0)
    circ = permutation_scores(smooth, pred, n_permutations=99, kind="circular", random_state=0)
    lab = permutation_scores(smooth, pred, n_permutations=99, kind="labels", random_state=0)
    assert np.mean(lab.p_values <= 0.05) > np.mean(circ.p_values <= 0.05)
    again = permutation_scores(smooth, pred, n_permutations=99, kind="circular", random_state=0)
    np.testing.assert_array_equal(circ.null, again.null)
    with pytest.raises(ValueError, match="Invalid value for `kind`"):
        permutation_scores(Y, Y, kind="shuffle")


def _coverage(n_events, n_datasets, level, method="percentile"):
    covs = []
    for seed in range(n_datasets):
        sim = simulate_multimodal_seeg(n_events=n_events, n_electrodes=45, n_bins=3,
                                       n_multimodal=15, n_image=15, n_text=15, n_one_alignment=0,
                                       alignments=("language",), random_state=seed)
        truth = sim.true_scores["language"]
        ok = truth > 0
        res = bootstrap_scores(sim.recordings["language"].responses[:, ok],
                               sim.signals["language"][:, ok], n_bootstraps=500,
                               random_state=seed)
        lo, hi = res.ci(level, method=method)
        covs.append(np.mean((lo[0] <= truth[ok]) & (truth[ok] <= hi[0])))
    covs = np.asarray(covs)
    return covs.mean(), covs.std(ddof=1) / np.sqrt(n_datasets)


@pytest.mark.parametrize("level", [0.8, 0.95])
def test_bootstrap_ci_coverage_on_simulator(level):
    """CIs of Pearson r (true prediction vs response) cover the simulator's true score."""
    cov, se = _coverage(n_events=200, n_datasets=30, level=level)
    # Monte Carlo error from the spread over independent datasets, plus the known small-sample
    # narrowness of percentile intervals (measured 0.944 for 95 % at 200 events)
    assert abs(cov - level) <= 4 * se + 0.01, (cov, se)


@pytest.mark.slow
def test_bootstrap_ci_coverage_large():
    for level in (0.9, 0.95):
        for method in ("percentile", "bca"):
            cov, se = _coverage(n_events=400, n_datasets=100, level=level, method=method)
            print(f"coverage {method} {level}: {cov:.4f} +- {se:.4f}")
            assert abs(cov - level) <= 4 * se + 0.01
