"""Routes of the ridge engine (issue 16): the cost model's choice, the dual form without
primal weights, the low-rank route, float32 decompositions that keep the float64 CV alphas,
and the per-phase timings. Every check is against a float64 reference written here."""

import warnings

import numpy as np
import pytest

from neurotoolkit._ridge import _alpha_path
from neurotoolkit._ridge._profile import PHASES
from neurotoolkit._ridge._route import estimate_costs
from neurotoolkit.encoding import solve_ridge_cv


def _reference_cv(X, Y, alphas, folds):
    """Exact float64 CV: (A, t) mean R^2 over folds (test mean in SS_tot), intercept fitted
    with the training means, one linear solve per fold and alpha."""
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    scores = np.zeros((len(alphas), Y.shape[1]))
    for tr, te in folds:
        mx, my = X[tr].mean(0), Y[tr].mean(0)
        Xc, Yc = X[tr] - mx, Y[tr] - my
        Xt = X[te] - mx
        sst = ((Y[te] - Y[te].mean(0)) ** 2).sum(0)
        for i, a in enumerate(alphas):
            if X.shape[1] <= len(tr):
                W = np.linalg.solve(Xc.T @ Xc + a * np.eye(X.shape[1]), Xc.T @ Yc)
            else:
                W = Xc.T @ np.linalg.solve(Xc @ Xc.T + a * np.eye(len(tr)), Yc)
            pred = Xt @ W + my
            scores[i] += 1 - ((Y[te] - pred) ** 2).sum(0) / sst
    scores /= len(folds)
    best = np.argmax(scores + 1e-10 * np.log(alphas)[:, None], axis=0)
    return scores, best


def _folds(n, k=4):
    edges = np.linspace(0, n, k + 1).astype(int)
    idx = np.arange(n)
    return [(np.r_[idx[:a], idx[b:]], idx[a:b]) for a, b in zip(edges[:-1], edges[1:])]


def _problem(rng, n, p, t, rank=None, offset=0.0):
    if rank is None:
        X = rng.standard_normal((n, p))
    else:
        X = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, p)) / np.sqrt(rank)
    W = rng.standard_normal((p, t)) * np.exp(rng.uniform(-4, 0, t)) / np.sqrt(p)
    Y = X @ W + rng.standard_normal((n, t))
    return X + offset, Y + offset


def test_dual_without_weights_matches_float64_reference(rng):
    X, Y = _problem(rng, 60, 300, 12)
    alphas = np.logspace(0, 4, 5)
    folds = _folds(60)
    ref, best = _reference_cv(X, Y, alphas, folds)
    res = solve_ridge_cv(X.astype(np.float32), Y.astype(np.float32), alphas, folds,
                         return_weights=False)
    assert res.info["route"] == "dual" and res.coef is None and res.dual_coef.shape == (60, 12)
    np.testing.assert_allclose(res.cv_scores, ref, atol=1e-5)
    np.testing.assert_array_equal(res.best_alpha_index, best)
    # the dual coefficients predict like the float64 refit with the chosen alphas
    Xc = X - X.mean(0)
    K = Xc @ Xc.T
    for j in range(12):
        c = np.linalg.solve(K + res.best_alphas[j] * np.eye(60), Y[:, j] - Y[:, j].mean())
        np.testing.assert_allclose(K @ res.dual_coef[:, j], K @ c, rtol=1e-4,
                                   atol=1e-4 * np.abs(K @ c).max())


def test_cost_model_choice_is_reported(rng):
    alphas = np.logspace(-1, 3, 5)
    for n, p, t in [(80, 20, 30), (40, 400, 30), (60, 50, 2000)]:
        X, Y = _problem(rng, n, p, t)
        folds = _folds(n)
        res = solve_ridge_cv(X, Y, alphas, folds, dtype="float64")
        costs = estimate_costs(n, p, t, len(alphas), folds, w64=1.0, weights=True)
        assert res.info["route"] == res.solver == min(costs, key=costs.get)
        assert "cost model" in res.info["why"] and f"{costs['dual']:.3g}" in res.info["why"]
        ref, best = _reference_cv(X, Y, alphas, folds)
        np.testing.assert_allclose(res.cv_scores, ref, atol=1e-8)
        np.testing.assert_array_equal(res.best_alpha_index, best)
    # timings: known phases, and they account for (most of) the wall time
    assert set(res.info["timings"]) <= set(PHASES)
    assert 0 < sum(res.info["timings"].values()) <= res.info["seconds"] + 1e-6


@pytest.mark.parametrize("n, p", [(80, 300), (120, 60)])
def test_low_rank_route_matches_float64_reference(rng, n, p):
    """A rank-6 design takes the low-rank route (auto, from the full-data decomposition;
    and 'lowrank', by the randomized range finder) with the exact-CV answers."""
    X, Y = _problem(rng, n, p, 15, rank=6, offset=3.0)
    Xt, _ = _problem(rng, 20, p, 15, rank=6, offset=3.0)
    alphas = np.logspace(-1, 3, 5)
    folds = _folds(n)
    ref, best = _reference_cv(X, Y, alphas, folds)
    exact = solve_ridge_cv(X, Y, alphas, folds, dtype="float64",
                           solver="dual" if p > n else "primal")
    for solver in ("auto", "lowrank"):
        res = solve_ridge_cv(X, Y, alphas, folds, dtype="float64", solver=solver)
        assert res.info["route"] == "lowrank" and "rank 6" in res.info["why"]
        assert res.info["max_rank"] == 6
        np.testing.assert_allclose(res.cv_scores, ref, atol=1e-8)
        np.testing.assert_array_equal(res.best_alpha_index, best)
        pred, pred_ref = Xt @ res.coef + res.intercept, Xt @ exact.coef + exact.intercept
        np.testing.assert_allclose(pred, pred_ref, rtol=1e-6, atol=1e-6 * np.abs(pred_ref).max())
    if p > n:  # dual coefficients from the low-rank route (auto, kernel side)
        res = solve_ridge_cv(X, Y, alphas, folds, dtype="float64", return_weights=False)
        np.testing.assert_allclose(res.dual_coef, exact.dual_coef, rtol=1e-6,
                                   atol=1e-6 * np.abs(exact.dual_coef).max())


def test_lowrank_on_full_rank_design_raises(rng):
    X, Y = _problem(rng, 60, 80, 3)
    with pytest.raises(ValueError, match="solver.*low numerical rank.*residual"):
        solve_ridge_cv(X, Y, np.logspace(0, 2, 3), 4, solver="lowrank")


def test_float32_keeps_exact_float64_alphas_where_naive_float32_does_not(rng):
    """Features with a large offset: a naive float32 solver (Gram of the raw design, centred
    algebraically) picks other alphas; the engine's float32 path (centred in float64, float32
    decompositions only where well conditioned) gives exactly the float64 CV alphas."""
    n, p, t = 200, 30, 40
    X, Y = _problem(rng, n, p, t, offset=0.0)
    X = X + 300.0
    alphas = np.logspace(-1, 4, 6)  # a decade apart: no near-ties
    folds = _folds(n)
    _, best = _reference_cv(X, Y, alphas, folds)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    counts = _alpha_path.EIGH_CALLS
    before = dict(counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = solve_ridge_cv(X32, Y32, alphas, folds, dtype="float32", solver="primal")
    np.testing.assert_array_equal(res.best_alpha_index, best)
    assert counts["float32"] > before["float32"]  # well conditioned: float32 decompositions

    # naive float32: S = X^T X - n m m^T and X^T y - n m ybar, all in float32
    naive = np.zeros((len(alphas), t), np.float32)
    for tr, te in folds:
        Xa, Ya = X32[tr], Y32[tr]
        m, my = Xa.mean(0), Ya.mean(0)
        S = Xa.T @ Xa - len(tr) * np.outer(m, m)
        b = Xa.T @ Ya - len(tr) * np.outer(m, my)
        sst = ((Y32[te] - Y32[te].mean(0)) ** 2).sum(0)
        for i, a in enumerate(alphas):
            W = np.linalg.solve(S + np.float32(a) * np.eye(p, dtype=np.float32), b)
            pred = (X32[te] - m) @ W + my
            naive[i] += 1 - ((Y32[te] - pred) ** 2).sum(0) / sst
    naive_best = np.argmax(naive, axis=0)
    assert (naive_best != best).any()


@pytest.mark.parametrize("scheme", ["block", "folds"])
def test_centred_kernel_deflation_allows_float32_with_small_alphas(rng, monkeypatch, scheme):
    """A centred kernel has a zero eigenvalue (the constant vector); it is deflated, so
    float32 decompositions apply even for alphas far below the spectrum, with the float64
    answer: one decomposition (block deletion) or one per fold plus the refit."""
    from neurotoolkit._ridge import _route

    if scheme == "folds":
        monkeypatch.setattr(_route, "block_applicable", lambda folds, n: False)
    X, Y = _problem(rng, 50, 400, 10)
    alphas = np.logspace(0, 3, 4)  # kernel eigenvalues ~ 200-700: well conditioned
    folds = _folds(50)
    counts = _alpha_path.EIGH_CALLS
    before = dict(counts)
    res = solve_ridge_cv(X.astype(np.float32), Y.astype(np.float32), alphas, folds,
                         solver="dual")
    assert ("block deletion on one decomposition" in res.info["why"]) == (scheme == "block")
    n_decomps = 1 if scheme == "block" else 5
    assert counts["float32"] - before["float32"] == n_decomps
    assert counts["float64"] == before["float64"]
    ref, best = _reference_cv(X, Y, alphas, folds)
    np.testing.assert_allclose(res.cv_scores, ref, atol=1e-5)
    np.testing.assert_array_equal(res.best_alpha_index, best)


def test_auto_weights_skipped_above_the_size_cap_with_same_predictions(monkeypatch):
    """Dual form, return_weights="auto": above DUAL_WEIGHTS_AUTO_BYTES RidgeCV keeps the design
    and the dual coefficients instead of (p, t) weights; predictions are those of the weights."""
    from neurotoolkit._ridge import _solve_ridge
    from neurotoolkit.encoding import RidgeCV

    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 400))
    Y = X[:, :5] @ rng.standard_normal((5, 30)) + rng.standard_normal((60, 30))
    Xt = rng.standard_normal((20, 400))
    alphas = np.logspace(0, 4, 6)
    full = RidgeCV(alphas=alphas, cv=4, solver="dual").fit(X, Y)
    assert full.coef_ is not None
    monkeypatch.setattr(_solve_ridge, "DUAL_WEIGHTS_AUTO_BYTES", 400 * 30 * 4 - 1)  # float32
    lean = RidgeCV(alphas=alphas, cv=4, solver="dual").fit(X, Y)
    assert lean.coef_ is None and lean.X_fit_.shape == X.shape
    np.testing.assert_array_equal(lean.best_alphas_, full.best_alphas_)
    np.testing.assert_allclose(lean.predict(Xt), full.predict(Xt), rtol=1e-4, atol=1e-5)  # float32
    W = lean.X_fit_.T @ lean.dual_coef_  # the weights, when they are wanted
    np.testing.assert_allclose(W, full.coef_, rtol=1e-4, atol=1e-5)
