"""solve_ridge_cv / solve_ridge against closed forms, scikit-learn, himalaya and a brute force."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from neurotoolkit.data._splits import make_cv
from neurotoolkit._ridge import _alpha_path
from neurotoolkit.encoding import (
    default_alphas,
    solve_ridge,
    solve_ridge_cv,
)


def _problem(rng, n=37, p=11, t=13, noise=1.0, offset=3.0):
    X = rng.standard_normal((n, p)) + offset
    W = rng.standard_normal((p, t))
    Y = X @ W + noise * rng.standard_normal((n, t)) + 5.0
    return X, Y


def _brute_fold_scores(X, Y, alphas, folds, scoring, fit_intercept):
    """Explicit loop over folds and alphas with np.linalg.solve."""
    out = np.zeros((len(folds), len(alphas), Y.shape[1]))
    for i, (tr, te) in enumerate(folds):
        Xtr, Ytr, Xte, Yte = X[tr], Y[tr], X[te], Y[te]
        if fit_intercept:
            mx, my = Xtr.mean(0), Ytr.mean(0)
        else:
            mx, my = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
        Xc, Yc = Xtr - mx, Ytr - my
        for a, alpha in enumerate(alphas):
            W = np.linalg.solve(Xc.T @ Xc + alpha * np.eye(X.shape[1]), Xc.T @ Yc)
            P = (Xte - mx) @ W + my
            if scoring == "r2":
                s = 1 - ((Yte - P) ** 2).sum(0) / ((Yte - Yte.mean(0)) ** 2).sum(0)
            elif scoring == "neg_mse":
                s = -((Yte - P) ** 2).mean(0)
            else:
                s = np.array([np.corrcoef(Yte[:, j], P[:, j])[0, 1] for j in range(Y.shape[1])])
            out[i, a] = s
    return out


@pytest.mark.parametrize("solver", ["primal", "dual"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_solve_ridge_matches_sklearn_per_target_alpha(rng, solver, fit_intercept):
    X, Y = _problem(rng)
    alphas = rng.uniform(0.1, 20.0, Y.shape[1])
    W, b = solve_ridge(X, Y, alphas, solver=solver, dtype="float64", fit_intercept=fit_intercept)
    for j in range(Y.shape[1]):
        ref = Ridge(alpha=alphas[j], fit_intercept=fit_intercept).fit(X, Y[:, j])
        np.testing.assert_allclose(W[:, j], ref.coef_, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(b[j], ref.intercept_, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(X @ W[:, j] + b[j], ref.predict(X), rtol=1e-5)


def test_solve_ridge_dual_coefficients_and_1d(rng):
    X, Y = _problem(rng, n=13, p=29, t=7)
    C, b = solve_ridge(X, Y, 2.5, solver="dual", dtype="float64", return_weights=False)
    W, b2 = solve_ridge(X, Y, 2.5, dtype="float64")
    assert C.shape == (13, 7) and W.shape == (29, 7)
    Xc = X - X.mean(0)
    np.testing.assert_allclose(Xc.T @ C, W, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(b, b2, rtol=1e-7)
    w1, b1 = solve_ridge(X, Y[:, 0], 2.5, dtype="float64")
    assert w1.shape == (29,) and isinstance(b1, float)
    np.testing.assert_allclose(w1, W[:, 0], rtol=1e-8)


@pytest.fixture(params=["never", "always"])
def alpha_path(request, monkeypatch):
    """Run a test with each way of scoring the alpha path (direct, partial fractions)."""
    monkeypatch.setattr(_alpha_path, "PF_MODE", request.param)
    return request.param


@pytest.mark.parametrize("scoring", ["r2", "correlation", "neg_mse"])
@pytest.mark.parametrize("solver", ["primal", "dual"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_cv_scores_match_brute_force(rng, scoring, solver, fit_intercept, alpha_path):
    X, Y = _problem(rng)
    alphas = np.logspace(-2, 3, 7)
    folds = make_cv(5, n_samples=X.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = solve_ridge_cv(X, Y, alphas, folds, scoring=scoring, solver=solver,
                             dtype="float64", return_fold_scores=True,
                             fit_intercept=fit_intercept)
    ref = _brute_fold_scores(X, Y, alphas, folds, scoring, fit_intercept)
    np.testing.assert_allclose(res.fold_scores, ref, atol=1e-6, rtol=0)
    np.testing.assert_allclose(res.cv_scores, ref.mean(0), atol=1e-6, rtol=0)
    assert res.solver == solver
    # best alpha: argmax of the fold mean
    np.testing.assert_array_equal(res.best_alphas, alphas[np.argmax(ref.mean(0), axis=0)])
    # refit uses each target's alpha
    W, b = solve_ridge(X, Y, res.best_alphas, dtype="float64", fit_intercept=fit_intercept)
    np.testing.assert_allclose(res.coef, W, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(res.intercept, b, rtol=1e-6, atol=1e-9)


def test_non_complement_folds_and_groups(rng):
    """Folds whose train set is not the complement of the test set (a gap)."""
    X, Y = _problem(rng, n=41)
    folds = [(np.arange(0, 20), np.arange(25, 41)), (np.arange(21, 41), np.arange(0, 16))]
    alphas = np.logspace(-1, 2, 4)
    res = solve_ridge_cv(X, Y, alphas, folds, dtype="float64", return_fold_scores=True)
    ref = _brute_fold_scores(X, Y, alphas, folds, "r2", True)
    np.testing.assert_allclose(res.fold_scores, ref, atol=1e-6)
    runs = np.repeat([0, 1, 2], [14, 14, 13])
    res = solve_ridge_cv(X, Y, alphas, "runs", groups=runs, dtype="float64",
                         return_fold_scores=True)
    assert res.n_folds == 3
    ref = _brute_fold_scores(X, Y, alphas, make_cv("runs", runs=runs), "r2", True)
    np.testing.assert_allclose(res.fold_scores, ref, atol=1e-6)


def test_against_himalaya_ridge_and_kernel_ridge(rng):
    himalaya = pytest.importorskip("himalaya")
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.ridge import RidgeCV as HRidgeCV
    from himalaya.scoring import r2_score
    from sklearn.model_selection import KFold

    himalaya.backend.set_backend("numpy")
    n, t = 60, 40
    alphas = np.logspace(-1, 4, 9)
    for p, est in ((7, HRidgeCV), (90, KernelRidgeCV)):
        X = rng.standard_normal((n, p))
        Y = X @ rng.standard_normal((p, t)) * 0.2 + rng.standard_normal((n, t))
        ref = est(alphas=alphas, cv=KFold(5), fit_intercept=True,
                  solver_params=dict(score_func=r2_score)).fit(X, Y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = solve_ridge_cv(X, Y, alphas, 5, dtype="float64")
        assert res.solver == ("primal" if p == 7 else "dual")
        same = np.isclose(res.best_alphas, ref.best_alphas_, rtol=1e-6)
        assert same.mean() >= 0.99
        np.testing.assert_allclose(res.cv_scores.max(0), ref.cv_scores_.ravel(), atol=1e-6)
        np.testing.assert_allclose(X @ res.coef + res.intercept, ref.predict(X),
                                   rtol=1e-5, atol=1e-7)


def test_float32_close_to_float64(rng):
    X, Y = _problem(rng, n=80, p=9, t=30, offset=50.0)
    alphas = np.logspace(-1, 3, 9)
    r64 = solve_ridge_cv(X, Y, alphas, 4, dtype="float64")
    r32 = solve_ridge_cv(X, Y, alphas, 4, dtype="float32")
    assert r32.coef.dtype == np.float32
    np.testing.assert_allclose(r32.cv_scores, r64.cv_scores, atol=1e-4)
    assert (r32.best_alphas == r64.best_alphas).mean() >= 0.9
    np.testing.assert_allclose(r32.coef, r64.coef, rtol=1e-3, atol=1e-4)


def test_batching_gives_identical_results(rng):
    X, Y = _problem(rng, n=50, p=8, t=23)
    alphas = np.logspace(-1, 3, 6)
    full = solve_ridge_cv(X, Y, alphas, 5, dtype="float64")
    small = solve_ridge_cv(X, Y, alphas, 5, dtype="float64", memory_budget=25_000)
    assert small.batch_size < Y.shape[1]
    np.testing.assert_allclose(small.cv_scores, full.cv_scores, atol=1e-10)
    np.testing.assert_allclose(small.coef, full.coef, atol=1e-10)
    np.testing.assert_array_equal(small.best_alphas, full.best_alphas)
    with pytest.raises(MemoryError, match="too small"):
        solve_ridge_cv(X, Y, alphas, 5, memory_budget="1kB")


def test_default_alphas_scale_with_data(rng):
    X, Y = _problem(rng)
    a1 = default_alphas(X)
    a2 = default_alphas(10 * X)
    assert a1.shape == (25,)
    np.testing.assert_allclose(a2, 100 * a1)
    s2 = np.linalg.svd(X - X.mean(0), compute_uv=False) ** 2
    np.testing.assert_allclose(a1[12], s2.mean())
    res = solve_ridge_cv(X, Y, None, 5)
    np.testing.assert_allclose(res.alphas, a1)


def test_alpha_selection_options(rng):
    X, Y = _problem(rng, n=60, p=6, t=10, noise=3.0)
    alphas = np.logspace(-2, 4, 10)
    best = solve_ridge_cv(X, Y, alphas, 5, dtype="float64", return_fold_scores=True)
    one_se = solve_ridge_cv(X, Y, alphas, 5, dtype="float64", alpha_selection="1se")
    assert (one_se.best_alphas >= best.best_alphas).all()
    fs = best.fold_scores
    mean, std = fs.mean(0), fs.std(0)
    for j in range(Y.shape[1]):
        b = np.argmax(mean[:, j])
        allowed = np.flatnonzero(mean[:, j] >= mean[b, j] - std[b, j])
        assert one_se.best_alpha_index[j] == allowed.max()
    shared = solve_ridge_cv(X, Y, alphas, 5, dtype="float64", alpha_selection="shared")
    assert np.unique(shared.best_alphas).size == 1
    assert shared.best_alphas[0] == alphas[np.argmax(best.cv_scores.mean(1))]
    W, _ = solve_ridge(X, Y, shared.best_alphas[0], dtype="float64")
    np.testing.assert_allclose(shared.coef, W, rtol=1e-7)


def test_ties_go_to_larger_alpha(rng):
    X = rng.standard_normal((30, 4))
    Y = np.column_stack([rng.standard_normal(30), np.full(30, 2.0)])
    with pytest.warns(UserWarning, match="1 constant targets"):
        res = solve_ridge_cv(X, Y, [1.0, 10.0, 100.0], 3)
    assert res.constant_targets.tolist() == [False, True]
    assert res.best_alphas[1] == 100.0  # all scores 0: tie -> largest
    assert (res.cv_scores[:, 1] == 0).all()
    np.testing.assert_allclose(res.coef[:, 1], 0)
    np.testing.assert_allclose(res.intercept[1], 2.0)


def test_saturation_warning_counts(rng):
    X = rng.standard_normal((80, 5))
    Y = X @ rng.standard_normal((5, 20)) + 0.01 * rng.standard_normal((80, 20))
    with pytest.warns(UserWarning, match=r"of 20 predictive targets, 20 chose the smallest"):
        res = solve_ridge_cv(X, Y, [10.0, 100.0, 1000.0], 4)
    assert res.n_saturated_low == 20 and res.n_saturated_high == 0
    assert res.saturated.all()
    noise = rng.standard_normal((80, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unpredictive targets at the top do not warn
        res = solve_ridge_cv(X, noise, [1e-3, 1e5, 1e9], 4)
    assert res.n_unpredictive_saturated == np.isin(res.best_alpha_index, [0, 2]).sum() > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alphas=[1.0, -2.0]), "Invalid value for `alphas`"),
        (dict(alphas=[[1.0, 2.0]]), "Invalid value for `alphas`"),
        (dict(cv=50), "Invalid value for `cv`"),
        (dict(scoring="mse"), "Invalid value for `scoring`"),
        (dict(solver="svd"), "Invalid value for `solver`"),
        (dict(alpha_selection="max"), "Invalid value for `alpha_selection`"),
        (dict(dtype="float16"), "Invalid value for `dtype`"),
        (dict(backend="jax"), "Invalid value for `backend`"),
        (dict(memory_budget="lots"), "Invalid value for `memory_budget`"),
    ],
)
def test_bad_arguments(rng, kwargs, match):
    X, Y = _problem(rng)
    with pytest.raises((ValueError, TypeError), match=match):
        solve_ridge_cv(X, Y, **kwargs)


def test_bad_data(rng):
    X, Y = _problem(rng)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"Invalid value for `X`.*columns \[2\]"):
        solve_ridge_cv(Xn, Y)
    Yn = Y.copy()
    Yn[0, 5] = np.inf
    with pytest.raises(ValueError, match=r"Invalid value for `Y`.*columns \[5\]"):
        solve_ridge_cv(X, Yn)
    with pytest.raises(ValueError, match="Inconsistent lengths"):
        solve_ridge_cv(X, Y[:-1])
    with pytest.raises(ValueError, match="Invalid value for `X`"):
        solve_ridge_cv(X[:, 0], Y)
    with pytest.raises(ValueError, match="Invalid value for `alpha`"):
        solve_ridge(X, Y, np.ones(3))


def test_one_dimensional_y(rng):
    X, Y = _problem(rng)
    res = solve_ridge_cv(X, Y[:, 2], np.logspace(-1, 2, 5), 5, dtype="float64")
    full = solve_ridge_cv(X, Y, np.logspace(-1, 2, 5), 5, dtype="float64")
    assert res.coef.shape == (X.shape[1], 1)
    np.testing.assert_allclose(res.cv_scores[:, 0], full.cv_scores[:, 2], atol=1e-10)
    np.testing.assert_allclose(res.coef[:, 0], full.coef[:, 2], rtol=1e-10)


def test_dual_weights_only_when_they_fit(rng):
    X, Y = _problem(rng, n=20, p=3000, t=200)
    res = solve_ridge_cv(X, Y, [1.0, 10.0], 4, dtype="float64", memory_budget=4_000_000)
    assert res.solver == "dual" and res.dual_coef.shape == (20, 200)
    assert res.coef is None  # 3000 x 200 x 8 bytes > half the budget
    forced = solve_ridge_cv(X, Y, [1.0, 10.0], 4, dtype="float64", return_weights=True)
    Xc = X - X.mean(0)
    np.testing.assert_allclose(forced.coef, Xc.T @ forced.dual_coef, rtol=1e-8)
    np.testing.assert_allclose(
        Xc @ forced.coef + forced.y_mean, X @ forced.coef + forced.intercept, rtol=1e-8)


def test_torch_backend_matches_numpy(rng):
    pytest.importorskip("torch")
    X, Y = _problem(rng, n=45, p=7, t=12)
    for p in (7, 60):
        X = rng.standard_normal((45, p))
        a = solve_ridge_cv(X, Y, np.logspace(-1, 3, 5), 5, dtype="float64")
        b = solve_ridge_cv(X, Y, np.logspace(-1, 3, 5), 5, dtype="float64", backend="torch",
                           device="cpu")
        assert isinstance(b.coef, np.ndarray) and b.solver == a.solver
        np.testing.assert_allclose(b.cv_scores, a.cv_scores, atol=1e-10)
        np.testing.assert_allclose(b.coef, a.coef, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(b.intercept, a.intercept, rtol=1e-8)


@pytest.mark.parametrize("p", [6, 80])  # primal; dual (block deletion)
def test_dask_client_gives_same_results(rng, p):
    """Same results as one process; the X side (decompositions) is built once by the
    client and shared, not once per worker."""
    distributed = pytest.importorskip("distributed")
    X, Y = _problem(rng, n=40, p=p, t=17)
    alphas = np.logspace(-1, 3, 6)
    counts = _alpha_path.EIGH_CALLS
    before = sum(counts.values())
    ref = solve_ridge_cv(X, Y, alphas, 5, dtype="float64", return_fold_scores=True)
    n_decomps = sum(counts.values()) - before
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        before = sum(counts.values())
        res = solve_ridge_cv(X, Y, alphas, 5, dtype="float64", client=client,
                             return_fold_scores=True)
        assert sum(counts.values()) - before == n_decomps
    assert res.info["n_chunks"] == 2 and res.info["shared_plan"]
    assert res.solver == ref.solver == ("primal" if p == 6 else "dual")
    np.testing.assert_array_equal(res.best_alphas, ref.best_alphas)
    np.testing.assert_allclose(res.cv_scores, ref.cv_scores, atol=1e-12)
    np.testing.assert_allclose(res.fold_scores, ref.fold_scores, atol=1e-12)
    np.testing.assert_allclose(res.coef, ref.coef, atol=1e-12)
    np.testing.assert_allclose(res.intercept, ref.intercept, atol=1e-12)


@pytest.mark.parametrize("spectrum", ["distinct", "near_ties", "all_equal"])
def test_partial_fractions_match_direct_on_hard_spectra(rng, monkeypatch, spectrum):
    """The partial-fraction alpha path equals the direct one, even with (near-)tied eigenvalues."""
    from neurotoolkit._utils.backend import get_backend

    be = get_backend("numpy", dtype="float64")
    r, n_te, t = 12, 19, 7
    lam = np.sort(rng.uniform(1, 100, r))
    if spectrum == "near_ties":
        lam[3] = lam[2] * (1 + 1e-13)
        lam[4] = lam[2]
        lam[8] = lam[7] * (1 + 1e-6)
    elif spectrum == "all_equal":
        lam[:] = 7.0
    P = rng.standard_normal((n_te, r))
    Z = rng.standard_normal((r, t))
    Yte = rng.standard_normal((n_te, t))
    B = P.T @ Yte
    alphas = np.logspace(-3, 6, 8)
    out = {}
    for mode in ("never", "always"):
        monkeypatch.setattr(_alpha_path, "PF_MODE", mode)

        class F:
            pass

        f = F()
        f.n_te = n_te
        _alpha_path.prepare_alpha_path(f, P, lam, alphas, be)
        out[mode] = _alpha_path.score_alpha_path(f, Z, B.copy(), Yte, None, alphas, "neg_mse", be)
    assert f.pf
    if spectrum == "near_ties":
        # 2, 3, 4 tie; 7, 8 differ by 1e-6 relative, under tau * (lam_max + alpha_max)
        assert [len(g[0]) for g in f.groups] == [3, 2]
    np.testing.assert_allclose(out["always"], out["never"], rtol=1e-9)
    explicit = np.array([-((Yte - P @ (Z / (lam + a)[:, None])) ** 2).mean(0) for a in alphas])
    np.testing.assert_allclose(out["always"], explicit, rtol=1e-9)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_partition_mode_matches_brute_force(rng, fit_intercept):
    """Test folds larger than p: X^T Y is summed from the folds' statistics."""
    X, Y = _problem(rng, n=53, p=4, t=9)
    alphas = np.logspace(-2, 3, 6)
    folds = make_cv(4, n_samples=53)
    res = solve_ridge_cv(X, Y, alphas, folds, dtype="float64", return_fold_scores=True,
                         fit_intercept=fit_intercept)
    ref = _brute_fold_scores(X, Y, alphas, folds, "r2", fit_intercept)
    np.testing.assert_allclose(res.fold_scores, ref, atol=1e-8)
    W, b = solve_ridge(X, Y, res.best_alphas, dtype="float64", fit_intercept=fit_intercept)
    np.testing.assert_allclose(res.coef, W, rtol=1e-8)


def test_out_of_memory_halves_the_batch(rng, monkeypatch):
    from neurotoolkit._ridge._primal import PrimalPlan

    X, Y = _problem(rng, n=40, p=6, t=21)
    alphas = np.logspace(-1, 3, 5)
    ref = solve_ridge_cv(X, Y, alphas, 4, dtype="float64")
    original = PrimalPlan.begin_batch

    def flaky(self, Yb):
        if Yb.shape[1] > 5:
            raise MemoryError("simulated")
        return original(self, Yb)

    monkeypatch.setattr(PrimalPlan, "begin_batch", flaky)
    res = solve_ridge_cv(X, Y, alphas, 4, dtype="float64")
    assert res.batch_size <= 5
    np.testing.assert_allclose(res.cv_scores, ref.cv_scores, atol=1e-12)
    np.testing.assert_allclose(res.coef, ref.coef, atol=1e-12)


def _wide_problem(rng, n=60, p=170, t=9, rank=None):
    """Wide design (dual form); ``rank`` < n makes the kernels singular."""
    if rank is None:
        X = rng.standard_normal((n, p))
    else:
        X = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, p))
    Y = X @ rng.standard_normal((p, t)) * 0.05 + rng.standard_normal((n, t)) + 2.0
    return X.astype(np.float32), Y.astype(np.float32)


def _per_fold_scheme(monkeypatch):
    """Dual plans decompose every fold's kernel (not block deletion on one decomposition)."""
    from neurotoolkit._ridge import _route

    monkeypatch.setattr(_route, "block_applicable", lambda folds, n: False)


def test_dual_float32_eigh_when_well_conditioned(rng, monkeypatch):
    """float32 work on a well-conditioned kernel uses float32 decompositions and gives the
    float64-decomposition answer to float32 accuracy; refit=False skips the full-data one
    (per-fold scheme)."""
    _per_fold_scheme(monkeypatch)
    X, Y = _wide_problem(rng)
    alphas = np.logspace(1, 4, 7)  # kernel eigenvalues ~ 60..420: K + alpha is well conditioned
    counts = _alpha_path.EIGH_CALLS
    before = dict(counts)
    fast = solve_ridge_cv(X, Y, alphas, 5, solver="dual")
    assert counts["float32"] - before["float32"] == 6  # 5 folds + refit
    assert counts["float64"] == before["float64"]
    monkeypatch.setattr(_alpha_path, "EIGH32_MAX_COND", 0.0)  # forces float64
    ref = solve_ridge_cv(X, Y, alphas, 5, solver="dual")
    assert counts["float64"] - before["float64"] == 6
    np.testing.assert_allclose(fast.cv_scores, ref.cv_scores, atol=2e-5)
    np.testing.assert_array_equal(fast.best_alpha_index, ref.best_alpha_index)
    np.testing.assert_allclose(fast.dual_coef, ref.dual_coef, rtol=1e-4,
                               atol=1e-4 * np.abs(ref.dual_coef).max())
    # without refit: one decomposition per fold only
    before = dict(counts)
    solve_ridge_cv(X, Y, alphas, 5, solver="dual", refit=False)
    assert sum(counts.values()) - sum(before.values()) == 5


def test_dual_float32_eigh_falls_back_on_ill_conditioned_kernels(rng, monkeypatch):
    """Singular kernels with a tiny alpha: float64 decompositions, same answer as float64 work
    (per-fold scheme)."""
    _per_fold_scheme(monkeypatch)
    X, Y = _wide_problem(rng, rank=8)
    alphas = np.logspace(-6, 5, 8)
    counts = _alpha_path.EIGH_CALLS
    before = dict(counts)
    res = solve_ridge_cv(X, Y, alphas, 4, solver="dual")
    assert counts["float32"] == before["float32"]
    assert counts["float64"] - before["float64"] == 5
    ref = solve_ridge_cv(X.astype(np.float64), Y.astype(np.float64), alphas, 4, solver="dual",
                         dtype="float64")
    np.testing.assert_allclose(res.cv_scores, ref.cv_scores, atol=1e-4)


@pytest.mark.parametrize("solver", ["primal", "dual"])
def test_extend_grid_rescored_targets_match_full_grid(rng, solver):
    """Saturated targets re-scored on the added decades choose what the full grid chooses."""
    n, p, t = 61, (7 if solver == "primal" else 90), 17
    X = rng.standard_normal((n, p))
    W = rng.standard_normal((p, t)) * np.where(np.arange(t) < 9, 3.0, 0.02)  # 9 strong
    Y = X @ W + rng.standard_normal((n, t))
    alphas = np.logspace(2, 4, 5)  # too large for the strong targets: low edge
    with pytest.warns(UserWarning, match="saturation"):
        plain = solve_ridge_cv(X, Y, alphas, 4, dtype="float64", solver=solver)
    res = solve_ridge_cv(X, Y, alphas, 4, dtype="float64", solver=solver, extend_grid=True,
                         saturation_threshold=1.0)
    flagged = np.flatnonzero(plain.saturated)
    assert flagged.size >= 5
    np.testing.assert_array_equal(res.extended_targets, flagged)
    step = 0.5  # decades between grid points
    added = alphas[0] * 10.0 ** (-step * np.arange(6, 0, -1))  # 3 decades below
    np.testing.assert_allclose(res.extended_alphas, np.concatenate([added, alphas]))
    full = solve_ridge_cv(X, Y[:, flagged], res.extended_alphas, 4, dtype="float64",
                          solver=solver, saturation_threshold=1.0)
    np.testing.assert_allclose(res.extended_cv_scores, full.cv_scores, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.best_alphas[flagged], full.best_alphas)
    assert (res.best_alphas[flagged] < alphas[0]).sum() >= flagged.size // 2
    others = np.setdiff1d(np.arange(t), flagged)
    np.testing.assert_array_equal(res.best_alphas[others], plain.best_alphas[others])
    np.testing.assert_array_equal(res.best_alpha_index, plain.best_alpha_index)
    np.testing.assert_allclose(res.cv_scores, plain.cv_scores)  # original grid kept
    coef, b = solve_ridge(X, Y, res.best_alphas, dtype="float64", solver="primal")
    np.testing.assert_allclose(res.intercept, b, rtol=1e-7, atol=1e-9)
    if solver == "primal":
        np.testing.assert_allclose(res.coef, coef, rtol=1e-7, atol=1e-9)
    # the saturation count now judges the extended grid
    assert res.n_saturated_low == int((full.best_alpha_index == 0).sum())
    with pytest.raises(TypeError, match="extend_grid"):
        solve_ridge_cv(X, Y, alphas, 4, extend_grid="yes")
