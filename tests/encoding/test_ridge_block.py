"""Dual ridge scored by block deletion on one decomposition (``_ridge/_dual_block.py``),
checked against scikit-learn ``Ridge`` refitted on every fold and against the per-fold scheme."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from neurotoolkit._ridge import _alpha_path, _dual_block, _route
from neurotoolkit.encoding import solve_ridge_cv


def _wide(rng, n=60, p=300, t=25, offset=2.0):
    X = rng.standard_normal((n, p)) + offset  # an offset: the intercept matters
    W = rng.standard_normal((p, t)) * (rng.random(t) < 0.7) * 0.1
    Y = X @ W + rng.standard_normal((n, t)) + 3.0
    return X, Y


def _groups(n, sizes=(0.12, 0.2, 0.15, 0.22, 0.13)):
    edges = np.round(np.cumsum((0,) + sizes) / sum(sizes) * n).astype(int)
    idx = np.arange(n)
    return [(np.setdiff1d(idx, idx[a:b]), idx[a:b]) for a, b in zip(edges[:-1], edges[1:])]


def _sklearn_fold_scores(X, Y, alphas, folds, scoring, fit_intercept=True):
    """(k, A, t) held-out scores of scikit-learn Ridge refitted on every training set."""
    out = np.empty((len(folds), len(alphas), Y.shape[1]))
    for i, (tr, te) in enumerate(folds):
        yte = Y[te]
        for j, a in enumerate(alphas):
            pred = Ridge(alpha=a, fit_intercept=fit_intercept, solver="cholesky").fit(
                X[tr], Y[tr]).predict(X[te])
            if scoring == "r2":
                out[i, j] = 1 - ((yte - pred) ** 2).sum(0) / ((yte - yte.mean(0)) ** 2).sum(0)
            elif scoring == "neg_mse":
                out[i, j] = -((yte - pred) ** 2).mean(0)
            else:
                pc, yc = pred - pred.mean(0), yte - yte.mean(0)
                out[i, j] = (pc * yc).sum(0) / np.sqrt((pc**2).sum(0) * (yc**2).sum(0))
    return out


@pytest.mark.parametrize("scoring", ["r2", "correlation", "neg_mse"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_block_scores_equal_sklearn_refits(rng, scoring, fit_intercept):
    """R^2 and MSE by block deletion (correlations take the per-fold scheme: residuals give
    the predictions' variance only to eps * ||y|| / ||y_hat||); float32 tolerances are those
    of the per-fold scheme on the same data (without intercept, Y's offset of 3 costs ~3e-5)."""
    X, Y = _wide(rng)
    alphas = np.logspace(0, 4, 6)
    folds = _groups(len(X))
    ref = _sklearn_fold_scores(X, Y, alphas, folds, scoring, fit_intercept)
    tol32 = 2e-5 if fit_intercept else 1e-4
    if scoring == "correlation" and not fit_intercept:
        tol32 = 5e-4  # the per-fold scheme's float32 error on an uncentred offset Y
    for dtype, tol in (("float64", 1e-9), ("float32", tol32)):
        res = solve_ridge_cv(X.astype(dtype), Y.astype(dtype), alphas, folds, scoring=scoring,
                             fit_intercept=fit_intercept, solver="dual", dtype=dtype,
                             return_fold_scores=True)
        block = "block deletion on one decomposition" in res.info["why"]
        assert block == (scoring != "correlation")
        scale = 1.0 if scoring != "neg_mse" else np.abs(ref).max()
        np.testing.assert_allclose(res.fold_scores, ref, atol=tol * scale)
        np.testing.assert_array_equal(res.best_alpha_index, ref.mean(0).argmax(0))


def test_block_and_per_fold_schemes_agree_including_the_refit(rng, monkeypatch):
    X, Y = _wide(rng, n=80, p=400, t=30)
    Xt = rng.standard_normal((15, 400)) + 2.0
    alphas = np.logspace(0, 4, 7)
    folds = _groups(80)
    block = solve_ridge_cv(X, Y, alphas, folds, solver="dual", dtype="float64",
                           return_weights=True)
    monkeypatch.setattr(_route, "block_applicable", lambda folds, n: False)
    per_fold = solve_ridge_cv(X, Y, alphas, folds, solver="dual", dtype="float64",
                              return_weights=True)
    assert "one decomposition per fold" in per_fold.info["why"]
    np.testing.assert_allclose(block.cv_scores, per_fold.cv_scores, atol=1e-10)
    np.testing.assert_array_equal(block.best_alphas, per_fold.best_alphas)
    np.testing.assert_allclose(block.dual_coef, per_fold.dual_coef, rtol=1e-8,
                               atol=1e-10 * np.abs(per_fold.dual_coef).max())
    np.testing.assert_allclose(Xt @ block.coef + block.intercept,
                               Xt @ per_fold.coef + per_fold.intercept, rtol=1e-8, atol=1e-8)


def test_folds_that_are_not_complements_use_the_per_fold_scheme(rng):
    """Block deletion needs training = all other samples; a gap between them (as in a
    purged split) falls back to one decomposition per fold, with the sklearn answer."""
    X, Y = _wide(rng, n=60)
    idx = np.arange(60)
    folds = [(idx[np.abs(idx - c) > 8], idx[np.abs(idx - c) <= 3]) for c in (10, 30, 50)]
    alphas = np.logspace(0, 4, 5)
    res = solve_ridge_cv(X, Y, alphas, folds, solver="dual", dtype="float64",
                         return_fold_scores=True)
    assert "complement" in res.info["why"]
    np.testing.assert_allclose(res.fold_scores, _sklearn_fold_scores(X, Y, alphas, folds, "r2"),
                               atol=1e-9)


def test_small_alphas_are_scored_with_float64_products(rng):
    """An alpha far below the spectrum amplifies float32 rounding through M_T(a)^-1: those
    alphas are scored in float64 (reported), and the scores stay those of the refits."""
    X, Y = _wide(rng, n=60, p=300, offset=0.0)
    alphas = np.array([1e-3, 1.0, 1e2, 1e4])  # kernel eigenvalues ~ 150-500
    folds = _groups(60)
    res = solve_ridge_cv(X.astype(np.float32), Y.astype(np.float32), alphas, folds,
                         solver="dual", return_fold_scores=True)
    assert "small alphas scored in float64" in res.info["why"]
    ref = _sklearn_fold_scores(X, Y, alphas, folds, "r2")
    np.testing.assert_allclose(res.fold_scores, ref, atol=2e-5)
    gain = _dual_block.residual_gain(500.0, alphas, 14, 60)
    assert gain[0] > _dual_block.BLOCK_MAX_GAIN_32 > gain[-1]


def test_near_tied_alphas_are_rescored_in_float64(rng):
    """Two alphas a part in 1e9 apart tie for every target: with float32 work the tied targets
    are re-scored with float64 products, so their CV scores equal the float64 run's to 1e-9."""
    X, Y = _wide(rng, n=60, p=300)
    alphas = np.array([10.0, 100.0, 100.0 * (1 + 1e-9), 1000.0])
    folds = _groups(60)
    exact = solve_ridge_cv(X, Y, alphas, folds, solver="dual", dtype="float64")
    fast = solve_ridge_cv(X.astype(np.float32), Y.astype(np.float32), alphas, folds,
                          solver="dual")
    tied = np.isin(exact.best_alpha_index, (1, 2))
    assert tied.sum() >= 5
    # float32 inputs: compare with the float64 run on the same (rounded) values
    exact32 = solve_ridge_cv(X.astype(np.float32).astype(np.float64),
                             Y.astype(np.float32).astype(np.float64), alphas, folds,
                             solver="dual", dtype="float64")
    np.testing.assert_allclose(fast.cv_scores[:, tied], exact32.cv_scores[:, tied], atol=1e-6)
    np.testing.assert_array_equal(fast.best_alpha_index, exact32.best_alpha_index)


def test_cost_model_prefers_per_fold_partial_fractions_for_long_grids():
    """Block deletion costs a product per alpha; the per-fold scheme's partial fractions do
    not grow with the grid: with few alphas the block scheme is cheaper, with many not."""
    n, t = 1200, 5000
    folds = _groups(n, sizes=(1, 1, 1, 1, 1, 1))
    w64 = _alpha_path.f64_cost_ratio(type("B", (), {"dtype_name": "float32", "is_cuda": False})())
    few, many = np.logspace(0, 4, 5), np.logspace(0, 4, 60)
    assert _dual_block.block_cost(n, t, few, folds, w64) < _route._fold_dual_cost(t, 5, folds, w64)
    assert _dual_block.block_cost(n, t, many, folds, w64) > _route._fold_dual_cost(t, 60, folds,
                                                                                   w64)
    assert _route.dual_scoring_cost(n, t, many, folds, w64) == _route._fold_dual_cost(
        t, 60, folds, w64)
