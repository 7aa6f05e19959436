"""Which form solves a ridge problem: primal, dual or low-rank, from a cost model.

The cost of each form is counted in flop-equivalents from the actual shapes
(float64 products weighted by the device's float64 / working-dtype cost
ratio, eigendecompositions at a quarter of GEMM efficiency):

=================  ===================================  ==================================
phase              primal (eigh of X^T X per fold)      dual (eigh of the kernel per fold)
=================  ===================================  ==================================
X statistics       2 n p^2 (float64 Gram)               n^2 p (kernel, syrk)
decompositions     (k + 1) 9 p^3                        (k + 1) 9 n_tr^3
Y statistics       2 n p t                              -
per fold           2 (p + n_te) r t + scoring           2 (n_tr + n_te) n_tr t + scoring
scoring            min(2 A min(n_te, r) r t, 2 w r^2 t)  same with r = n_tr
refit              4 p r t                              4 n^2 t (+ 2 n p t for weights)
=================  ===================================  ==================================

The low-rank route fits the ridge on ``F`` (n, r) with ``X_c = F V^T`` exactly
(``V`` (p, r) orthonormal), so every fold costs as a primal problem with
``r`` features. ``solver="auto"`` takes it when the full-data decomposition
(computed anyway for the refit) shows a numerical rank ``r`` of at most half
the smallest training set and of p; ``solver="lowrank"`` finds ``F`` by a
randomized range finder (Halko, Martinsson & Tropp, SIAM Review 2011) grown
until the residual ``||X_c - Q Q^T X_c||_F`` is below ``sqrt(eps)`` of
``||X_c||_F`` (eps of the working dtype).
"""

import numpy as np

from .._utils.logging import logger
from ._alpha_path import eigh_many, f64_cost_ratio, keep_rank
from ._dual import DualPlan, DualStats, full_kernel
from ._dual_block import DualBlockPlan, block_applicable, block_cost
from ._primal import PrimalPlan, PrimalStats
from ._profile import phase

__all__ = ["GroupScaledStats", "LowRankPlan", "estimate_costs", "make_plan"]

# a rank-deficient design takes the low-rank route when r <= this x min(n_tr, p)
LOWRANK_FRACTION = 0.5
_EIGH_FACTOR = 9 * 4  # ~9 m^3 flops at about a quarter of the GEMM rate


def _pick_solver(solver, n_features, folds):
    """The shape rule used by banded ridge: dual when p >= n_tr."""
    if solver == "auto":
        n_tr = max(len(tr) for tr, _ in folds)
        solver = "dual" if n_features >= n_tr else "primal"
    return solver


def _fold_dual_cost(t, n_alphas, folds, w64):
    """Per-fold dual scoring: one decomposition and rotation per fold."""
    cost = 0.0
    for tr, te in folds:
        n_tr, n_te = len(tr), len(te)
        cost += _EIGH_FACTOR * n_tr**3 + 2.0 * (n_tr + n_te) * n_tr * t + 2.0 * n_te * n_tr**2
        cost += min(2.0 * n_alphas * min(n_te, n_tr) * n_tr, 2.0 * w64 * n_tr * n_tr) * t
    return cost


def dual_scoring_cost(n, t, alphas, folds, w64, lam_max=None, float32=True):
    """Cost of scoring the dual form: the cheaper of per-fold decompositions and
    block deletion on the full decomposition (when the folds allow it)."""
    cost = _fold_dual_cost(t, len(alphas), folds, w64)
    if block_applicable(folds, n):
        cost = min(cost, block_cost(n, t, alphas, folds, w64, lam_max, float32))
    return cost


def estimate_costs(n, p, t, n_alphas, folds, w64=2.5, refit=True, weights=True):
    """Flop-equivalents of the primal and dual forms: ``{"primal": c, "dual": c}``.

    ``n_alphas`` may be the grid itself (the dual block scheme's cost depends on it).
    """
    alphas = np.atleast_1d(n_alphas) if np.ndim(n_alphas) else np.ones(int(n_alphas))
    A = len(alphas)
    primal = 2.0 * n * p * p * w64 + 2.0 * n * p * t
    dual = float(n) * n * p
    for tr, te in folds:
        n_tr, n_te = len(tr), len(te)
        r = min(p, n_tr)
        primal += _EIGH_FACTOR * p**3 + 2.0 * (p + n_te) * r * t
        primal += min(2.0 * A * min(n_te, r) * r, 2.0 * w64 * r * r) * t
    dual += dual_scoring_cost(n, t, alphas, folds, w64)
    if refit:
        primal += _EIGH_FACTOR * p**3 + 4.0 * p * min(n, p) * t
        dual += _EIGH_FACTOR * n**3 + 4.0 * n * n * t + (2.0 * n * p * t if weights else 0.0)
    return {"primal": primal, "dual": dual}


def make_plan(X, Y_shape, folds, alphas, fit_intercept, solver, be, refit, x_stats=None,
              weights=True, scoring="r2"):
    """The plan of the chosen route, with ``plan.route`` and ``plan.why`` set."""
    if x_stats is not None:
        plan = x_stats.make_plan(X, folds, alphas, fit_intercept, be, refit, Y_shape[1],
                                 scoring)
        plan.route = plan.solver
        plan.why = "banded ridge: statistics shared by the gammas" + (
            "; " + plan.scheme_why if hasattr(plan, "scheme_why") else "")
        return plan
    n, p = X.shape
    t = Y_shape[1]
    if solver == "lowrank":
        plan = LowRankPlan.randomized(X, folds, alphas, fit_intercept, be, refit)
        plan.why = (f"asked (solver='lowrank'): randomized range finder found rank "
                    f"{plan.rank} of min(n, p) = {min(n, p)}")
        return plan
    costs = estimate_costs(n, p, t, alphas, folds, f64_cost_ratio(be), refit, weights)
    if solver == "auto":
        form = min(costs, key=costs.get)
        why = (f"cost model: primal {costs['primal']:.3g}, dual {costs['dual']:.3g} "
               f"flop-equivalents (n={n}, p={p}, t={t}, {len(alphas)} alphas, "
               f"{len(folds)} folds)")
    else:
        form, why = solver, f"asked (solver={solver!r})"
    full = None
    eps = np.finfo(be.dtype_name).eps
    shift = float(np.min(alphas)) if be.dtype_name == "float32" else None
    min_tr = min(len(tr) for tr, _ in folds) if len(folds) else n
    if form == "dual":
        with phase("x_statistics"):
            stats = DualStats(X, fit_intercept, be)
        if solver == "auto" and refit:  # the refit decomposition, done first: it shows the rank
            with phase("decompositions"):
                full = eigh_many([full_kernel(stats.kernel(), fit_intercept)], shift=shift,
                                 deflate=fit_intercept)[0]
            r = int(keep_rank(full[0], n, eps).sum())
            if r <= LOWRANK_FRACTION * min(min_tr, p):
                plan = LowRankPlan.from_kernel(X, stats.x_mean, full, folds, alphas,
                                               fit_intercept, be, refit, eps)
                plan.why = (f"numerical rank {r} of the kernel <= {LOWRANK_FRACTION} x "
                            f"min(n_train, p) = {min(min_tr, p)}; " + why)
                return plan
        plan = dual_plan(X, folds, alphas, fit_intercept, be, refit, stats, t,
                         full_decomp=full, scoring=scoring)
        why += "; " + plan.scheme_why
    else:
        with phase("x_statistics"):
            stats = PrimalStats(X, folds, fit_intercept)
        if solver == "auto" and refit:
            with phase("decompositions"):
                full = eigh_many([stats.Sxx], shift=shift)[0]
            r = int(keep_rank(full[0], p, eps).sum())
            if r <= LOWRANK_FRACTION * min(min_tr, p):
                plan = LowRankPlan.from_gram(stats, full, folds, alphas, fit_intercept, be,
                                             refit, eps)
                plan.why = (f"numerical rank {r} of X^T X <= {LOWRANK_FRACTION} x "
                            f"min(n_train, p) = {min(min_tr, p)}; " + why)
                return plan
        plan = PrimalPlan(X, folds, alphas, fit_intercept, be, refit=refit, stats=stats,
                          full_decomp=full)
    plan.route, plan.why = form, why
    return plan


def _top_eigenvalue(K, n_iter=30):
    """Largest eigenvalue of a PSD matrix by power iteration, rounded up by 1 %."""
    v = np.random.default_rng(0).standard_normal(K.shape[0])
    top = 0.0
    for _ in range(n_iter):
        w = K @ v
        top = float(np.linalg.norm(w))
        if not top > 0:
            return 0.0
        v = w / top
    return 1.01 * top


def dual_plan(X, folds, alphas, fit_intercept, be, refit, stats, n_targets, gamma=None,
              full_decomp=None, scoring="r2"):
    """The dual plan whose scoring scheme is cheaper for these shapes: per-fold
    decompositions (:class:`DualPlan`) or block deletion on the full decomposition
    (:class:`DualBlockPlan`, for R^2 and MSE: it yields residuals, and a correlation
    needs the predictions' own variance, which ``y - e`` gives only to
    ``eps * ||y|| / ||y_hat||``). ``plan.scheme_why`` says which and why."""
    n = X.shape[0]
    w64 = f64_cost_ratio(be)
    t = max(int(n_targets), 1)
    if scoring == "correlation":
        why = "one decomposition per fold (correlation scoring needs the predictions)"
    elif len(folds) and block_applicable(folds, n):
        if full_decomp is not None:
            lam_max = float(np.max(full_decomp[0], initial=0.0))
        else:
            lam_max = _top_eigenvalue(stats.kernel(gamma))
        per_fold = _fold_dual_cost(t, len(alphas), folds, w64)
        block = block_cost(n, t, alphas, folds, w64, lam_max, be.dtype_name == "float32")
        if block < per_fold:
            plan = DualBlockPlan(X, folds, alphas, fit_intercept, be, refit=refit, stats=stats,
                                 gamma=gamma, full_decomp=full_decomp)
            n64 = int(plan.f64_alpha.sum())
            plan.scheme_why = (
                f"scoring by block deletion on one decomposition ({block:.3g} against "
                f"{per_fold:.3g} flop-equivalents with one decomposition per fold"
                + (f"; {n64} small alphas scored in float64" if n64 else "") + ")")
            return plan
        why = (f"one decomposition per fold ({per_fold:.3g} against {block:.3g} "
               "flop-equivalents by block deletion)")
    else:
        why = ("one decomposition per fold (block deletion needs every training set to be "
               "the complement of its test set)")
    plan = DualPlan(X, folds, alphas, fit_intercept, be, refit=refit, stats=stats, gamma=gamma,
                    full_decomp=full_decomp)
    plan.scheme_why = why
    return plan


class LowRankPlan:
    """Ridge on ``F`` (n, r) with ``X_c = F V^T`` (``V`` orthonormal columns): a primal
    plan on ``F`` whose weights map back as ``W = V W_F``.

    Built from the full-data kernel (``F = U sqrt(lam)``, dual coefficients
    ``C = U lam^-1/2 W_F``), from the Gram (``F = X_c V``) or by a randomized
    range finder (``F = Q U_B s``, ``V`` from the SVD of ``B = Q^T X_c``).
    """

    solver = route = "lowrank"

    def __init__(self, F, V, x_mean, folds, alphas, fit_intercept, be, refit, C_map=None,
                 X=None, u=None):
        self.inner = PrimalPlan(F, folds, alphas, fit_intercept, be, refit=refit)
        self.backend = be
        self.x_mean = x_mean
        self.n_samples, self.n_features = F.shape[0], x_mean.shape[0]
        self.rank = F.shape[1]
        self._V = V  # (p, r) host float64, or None: formed from X when weights are asked
        self._X = X
        self._C_map = C_map  # (n, r): dual coefficients C = C_map W_F (kernel route)
        self.has_dual = C_map is not None
        # x_mean V: maps W_F to x_mean W (the intercept), plus the inner plan's own mean
        self._u = be.asarray((V.T @ x_mean if u is None else u) + self.inner.x_mean)
        self.folds = self.inner.folds
        self.max_rank = self.inner.max_rank
        self._mean_pred = None

    @classmethod
    def from_kernel(cls, X, x_mean, full, folds, alphas, fit_intercept, be, refit, eps):
        lam, U = full
        keep = keep_rank(lam, X.shape[0], eps)
        lam, U = lam[keep], U[:, keep]
        root = np.sqrt(lam)
        F = U * root
        # u = V^T x_mean with V = X_c^T U lam^-1/2: (X_c x_mean)^T U lam^-1/2
        xm = np.asarray(x_mean, dtype=np.float64)
        kx = np.asarray(X, dtype=np.float64) @ xm - (xm @ xm if fit_intercept else 0.0)
        return cls(F, None, xm, folds, alphas, fit_intercept, be, refit, C_map=U / root,
                   X=X, u=(kx @ U) / root)

    @classmethod
    def from_gram(cls, stats, full, folds, alphas, fit_intercept, be, refit, eps):
        lam, V = full
        keep = keep_rank(lam, V.shape[0], eps)
        V = V[:, keep]
        return cls(stats.Xc64 @ V, V, stats.x_mean, folds, alphas, fit_intercept, be, refit)

    @classmethod
    def randomized(cls, X, folds, alphas, fit_intercept, be, refit, random_state=0):
        F, V, x_mean = randomized_factor(X, fit_intercept, be, random_state)
        return cls(F, V, x_mean, folds, alphas, fit_intercept, be, refit)

    def _basis(self):
        if self._V is None:  # V = X_c^T C_map (p, r), float64 in row blocks
            X, xm, Cm = self._X, self.x_mean, self._C_map
            V = np.zeros((X.shape[1], Cm.shape[1]))
            for a in range(0, X.shape[0], 4096):
                V += np.asarray(X[a:a + 4096], dtype=np.float64).T @ Cm[a:a + 4096]
            self._V = V - np.outer(xm, Cm.sum(0))
        return self._V

    def fixed_bytes(self):
        return self.inner.fixed_bytes() + 8 * self.n_features * self.rank

    def bytes_per_target(self, n_alphas, n_folds, coef):
        b = self.backend.itemsize
        extra = (b * (self.n_features + self.n_samples)) if coef else 0
        return self.inner.bytes_per_target(n_alphas, n_folds, coef) + extra

    def begin_batch(self, Yb):
        return self.inner.begin_batch(Yb)

    def fold_stats(self, f, Yb, state):
        return self.inner.fold_stats(f, Yb, state)

    def refit_batch(self, Yb, alphas_b, state, return_weights=True):
        be = self.backend
        WF, _ = self.inner.refit_batch(Yb, alphas_b, state)
        self._mean_pred = be.to_numpy(self._u @ WF).astype(np.float64)
        W = be.asarray(self._basis()) @ WF if return_weights else None
        C = be.asarray(self._C_map) @ WF if self.has_dual else None
        return W, C

    def mean_prediction(self, W, C):
        """``x_mean W`` of the last :meth:`refit_batch` (t_b,), float64."""
        return self._mean_pred


def randomized_factor(X, fit_intercept, be, random_state=0, max_fraction=0.5):
    """``(F, V, x_mean)`` with ``X_c = F V^T`` to ``sqrt(eps) ||X_c||_F`` (randomized SVD).

    The sketch ``X_c Omega`` (two power iterations, QR in float64) grows by
    doubling until the residual energy ``||X_c||^2 - ||Q^T X_c||^2`` is below
    ``eps`` of ``||X_c||^2``; beyond ``max_fraction`` of min(n, p) it stops
    with an error naming the rank found (use the primal or dual form).
    """
    from .._utils.validation import _raise

    n, p = X.shape
    rng = np.random.default_rng(random_state)
    eps = max(np.finfo(be.dtype_name).eps, 1e-13)  # float64 products: ~1e-15 noise
    x_mean = X.mean(0, dtype=np.float64) if fit_intercept else np.zeros(p)
    f64 = be.float64  # float64 products: the residual test needs more than eps32
    Xb = be.asarray(X, dtype=f64)
    xm = be.asarray(x_mean, dtype=f64)

    def right(M):  # X_c M, (n, l)
        M = be.asarray(M, dtype=f64)
        return be.to_numpy(Xb @ M - (xm @ M)[None, :])

    def left(Q):  # Q^T X_c, (l, p)
        out = be.asarray(Q.T, dtype=f64) @ Xb
        return be.to_numpy(out - be.asarray(Q.sum(0), dtype=f64)[:, None] * xm[None, :])

    with phase("x_statistics"):
        total = float(be.to_numpy(be.sumsq(Xb - xm[None, :])).sum())
        k = max(1, min(64, int(max_fraction * min(n, p))))
        while True:
            Q = np.linalg.qr(right(rng.standard_normal((p, k + 8))))[0]
            for _ in range(2):
                Q = np.linalg.qr(right(left(Q).T))[0]
            B = left(Q)
            resid = total - float(np.square(B).sum())
            if resid <= eps * total:
                break
            if 2 * k > max_fraction * min(n, p):
                _raise("solver", "a design of low numerical rank for solver='lowrank'",
                       f"a residual of {resid / total:.2g} of ||X_c||^2 at rank {Q.shape[1]} "
                       f"(n={n}, p={p})", "Use solver='auto', 'primal' or 'dual'.")
            k *= 2
    with phase("decompositions"):
        Ub, s, Vt = np.linalg.svd(B, full_matrices=False)
    keep = s > s[0] * np.sqrt(eps) if s.size else np.zeros(0, dtype=bool)
    logger.info("low-rank route: rank %d of min(n, p) = %d", int(keep.sum()), min(n, p))
    return (Q @ Ub[:, keep]) * s[keep], Vt[keep].T, x_mean


class GroupScaledStats:
    """Statistics of ``X`` reused for every scaling of its column groups (banded ridge).

    Scaling the columns of group ``i`` (``slices[i]``) by ``sqrt(gamma_i)``
    rescales the primal statistics (``D X^T X D``, per fold) and sums the
    per-group kernels (``K = sum_i gamma_i K_i``) in the dual form, so that a
    new ``gamma`` costs only the per-fold eigendecompositions and the alpha
    scoring. Built once per ``(X, folds, fit_intercept, solver)``; pass
    ``stats.with_gamma(gamma)`` as ``_x_stats`` to :func:`solve_ridge_cv`
    together with the *unscaled* ``X``.
    """

    def __init__(self, X, folds, slices, fit_intercept, solver, be):
        folds = [(np.asarray(tr), np.asarray(te)) for tr, te in folds]
        self.slices = list(slices)
        self.n_features = X.shape[1]
        self.solver = _pick_solver(solver, X.shape[1], folds)
        self.fit_intercept = fit_intercept
        self.dtype_name = be.dtype_name
        if self.solver == "dual":
            self.stats = DualStats(X, fit_intercept, be, self.slices)
        else:
            self.stats = PrimalStats(X, folds, fit_intercept)
        self.gamma = None

    def with_gamma(self, gamma):
        """A shallow copy set to the weights ``gamma`` (n_groups,)."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out.gamma = np.asarray(gamma, dtype=np.float64)
        return out

    def column_scale(self):
        scale = np.ones(self.n_features)
        if self.gamma is not None:
            for s, g in zip(self.slices, self.gamma):
                scale[s] = np.sqrt(g)
        return scale

    def make_plan(self, X, folds, alphas, fit_intercept, be, refit, n_targets=1,
                  scoring="r2"):
        """A Primal/DualPlan of ``X`` scaled by ``gamma``; ``folds`` are those given at
        construction, or empty (refit only)."""
        if fit_intercept != self.fit_intercept or be.dtype_name != self.dtype_name:
            raise ValueError("GroupScaledStats built for other settings")  # internal misuse
        stats = self.stats
        if not len(folds) and self.solver == "primal":
            stats = object.__new__(PrimalStats)
            stats.__dict__.update(self.stats.__dict__)
            stats.folds = []
        if self.solver == "dual":
            if not len(folds):  # refit only
                return DualPlan(X, folds, alphas, fit_intercept, be, refit=refit,
                                stats=self.stats, gamma=self.gamma)
            return dual_plan(X, folds, alphas, fit_intercept, be, refit, self.stats,
                             n_targets, gamma=self.gamma, scoring=scoring)
        scale = None if self.gamma is None else self.column_scale()
        return PrimalPlan(X, folds, alphas, fit_intercept, be, refit=refit, stats=stats,
                          scale=scale)


