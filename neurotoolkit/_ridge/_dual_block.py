"""Dual ridge scored from ONE decomposition: held-out residuals by block deletion.

For ridge with an unpenalized intercept, the fit on all samples is
``y_hat = H(a) y`` with ``I - H(a) = V diag(g(a)) V^T``, where
``K_c = V diag(lam) V^T`` is the centred kernel without its constant null
vector (``V`` (n, n - 1) orthonormal, orthogonal to 1) and
``g_k(a) = a / (lam_k + a)`` (without intercept: the plain kernel, ``V``
(n, n)). Leaving out the rows ``T`` of a fold (training = all other rows,
centred with their own means) gives the held-out residuals exactly
(the block form of the leave-one-out identity for linear smoothers, Hastie,
Tibshirani & Friedman, 2009, eq. 7.52; Rifkin & Lippert, 2007):

    e_T(a) = M_T(a)^-1 [(I - H(a)) y]_T,   M_T(a) = V_T diag(g(a)) V_T^T

so with ``Q = V^T Y`` (one rotation per batch of targets) and
``W_T(a) = M_T(a)^-1 V_T diag(g(a))`` (n_te, n - 1), formed once per fit in
float64 and kept in the working dtype, the residuals of every fold for one alpha are ONE product
``W(a) Q`` with the folds' rows stacked. Against the per-fold plan
(``_dual.DualPlan``: one eigendecomposition and one rotation per fold) this
saves k eigendecompositions and k rotations of ``n_tr^2 t`` for
``A n^2 t`` of products: the cost model (``block_cost``) picks it when that
is cheaper.

Precision (float32 work): the eigenvectors are re-orthonormalized in
float64, so the decomposition is exact for a kernel within the backward error
of ``eigh`` (as in the per-fold plan) and block deletion is exact for that
kernel. The only rounding left is the float32 product ``W(a) Q``, amplified
by ``||W_T(a)|| <= (g_min(a) (1 - n_te / n))^-1/2``; alphas whose bound
exceeds ``BLOCK_MAX_GAIN_32`` are scored with float64 products instead, and
targets whose two best CV scores are within ``BLOCK_TIE_TOL`` are re-scored in
float64 (from ``V`` and the ``M_T(a)^-1``). R^2 and MSE only: residuals give a
prediction's own variance (a correlation) only to ``eps ||y|| / ||y_hat||``.
"""

import numpy as np

from ._alpha_path import fold_moments, keep_rank
from ._dual import DualPlan, full_kernel, kernel_mean_term
from ._primal import as_rows
from ._profile import phase
from ._scores import scores_from_moments

__all__ = ["DualBlockPlan", "block_applicable", "block_cost"]

# float32 products for an alpha whose residual map has at most this norm bound
BLOCK_MAX_GAIN_32 = 32.0
# targets whose two best CV scores are this close (x max(1, |best|); about 3x the largest
# float32 score error measured on the benchmarks) are re-scored with float64 products
BLOCK_TIE_TOL = 2e-6


def block_applicable(folds, n):
    """Block deletion needs every training set to be the complement of its test set."""
    if not len(folds):
        return False
    for train, test in folds:
        if len(train) + len(test) != n:
            return False
        mask = np.zeros(n, dtype=bool)
        mask[np.asarray(train)] = True
        mask[np.asarray(test)] = True
        if not mask.all():
            return False
    return True


def residual_gain(lam_max, alpha, n_test_max, n):
    """Upper bound of ``||W_T(alpha)||`` (see the module doc), per alpha."""
    alpha = np.asarray(alpha, dtype=np.float64)
    keep = max(1.0 - n_test_max / n, 1.0 / n)
    return np.sqrt((max(lam_max, 0.0) + alpha) / alpha / keep)


def block_cost(n, t, alphas, folds, w64, lam_max=None, float32=True):
    """Flop-equivalents of the block plan's scoring (the full decomposition is not
    counted: the refit needs it anyway; without ``lam_max`` every alpha is costed in
    the working dtype)."""
    sum_te = sum(len(te) for _, te in folds)
    sq_te = sum(len(te) ** 2 for _, te in folds)
    max_te = max(len(te) for _, te in folds)
    per = np.ones(len(alphas))
    if float32 and lam_max is not None:
        per = np.where(residual_gain(lam_max, alphas, max_te, n) <= BLOCK_MAX_GAIN_32,
                       1.0, w64)
    setup = 4.0 * n * sq_te * len(alphas) * w64
    return setup + 2.0 * n * n * t * (1.0 + float(np.any(per > 1)) * w64) \
        + 2.0 * sum_te * n * t * float(per.sum())


def _orthonormal(V, constant_free):
    """``V`` with orthonormal columns to float64 precision (and orthogonal to 1)."""
    probe = V[:, :8]
    if np.abs(probe.T @ probe - np.eye(probe.shape[1])).max() < 1e-12:
        return V  # a float64 decomposition
    if constant_free:
        V = V - V.mean(0)[None, :]
    # one Newton-Schulz step (V^T V = I + E, |E| ~ eps32): V (3 I - V^T V) / 2
    S = V.T @ V
    if np.abs(S - np.eye(S.shape[0])).max() > 1e-3:  # pragma: no cover - not an eigh output
        return np.linalg.qr(V)[0]
    return V @ (1.5 * np.eye(S.shape[0]) - 0.5 * S)


def _residual_maps(V, lam, alphas, tests, f64_alpha, dtype):
    """``W(a)`` for every alpha and the inverses ``M_T(a)^-1``.

    Returns ``(W, Minv)``: ``W[a]`` (sum n_te, m), the folds' ``W_T(a)`` stacked,
    formed in float64 and stored in ``dtype`` (float64 where ``f64_alpha``);
    ``Minv[a][i]`` (n_te, n_te) float64, to re-score a few targets in float64
    without keeping every ``W(a)`` in float64. The (fold, alpha) pairs run side
    by side on the cores, one BLAS thread each.
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from ._alpha_path import n_cpus

    parts = [np.ascontiguousarray(V[te]) for te in tests]
    starts = np.concatenate([[0], np.cumsum([te.size for te in tests])])
    W = [np.empty((starts[-1], V.shape[1]), dtype=np.float64 if f else dtype)
         for f in f64_alpha]
    Minv = [[None] * len(tests) for _ in alphas]

    def one(job):
        a, i = job
        g = alphas[a] / (lam + alphas[a])
        Vg = parts[i] * g[None, :]
        Minv[a][i] = np.linalg.inv(Vg @ parts[i].T)
        W[a][starts[i]:starts[i + 1]] = Minv[a][i] @ Vg

    jobs = [(a, i) for a in range(len(alphas)) for i in range(len(tests))]
    with threadpool_limits(limits=1, user_api="blas"):
        with ThreadPoolExecutor(max_workers=max(1, min(n_cpus(), len(jobs)))) as pool:
            list(pool.map(one, jobs))
    return W, Minv


def _stack_rows(be, blocks):
    """Concatenate 2-D backend arrays along the rows."""
    if be.name == "numpy":
        return np.concatenate(blocks)
    return be._torch.cat(blocks)


class DualBlockPlan(DualPlan):
    """Dual cross-validated ridge scored by block deletion (see the module doc).

    The refit (dual coefficients, weights on request, intercepts) is that of
    :class:`~neurotoolkit._ridge._dual.DualPlan`, on the same full-data
    decomposition.
    """

    solver = "dual"
    scheme = "block"

    def __init__(self, X, folds, alphas, fit_intercept, backend, refit=True, stats=None,
                 gamma=None, full_decomp=None):
        be = backend
        n = X.shape[0]
        with phase("x_statistics"):
            K, _ = self._design_kernel(X, stats, gamma, fit_intercept, be, refit)
        shift = float(np.min(alphas)) if be.dtype_name == "float32" and len(alphas) else None
        if full_decomp is None:
            from ._alpha_path import eigh_many

            with phase("decompositions"):
                full_decomp = eigh_many([full_kernel(K, fit_intercept)], shift=shift,
                                        deflate=fit_intercept)[0]
        del K
        with phase("fold_setup"):
            lam, V = full_decomp
            V = _orthonormal(np.asarray(V, dtype=np.float64), fit_intercept)
            lam = np.maximum(np.asarray(lam, dtype=np.float64), 0.0)
            self._setup(lam, V, folds, alphas, n, refit)

    def _setup(self, lam, V, folds, alphas, n, refit):
        be = self.backend
        alphas = np.asarray(alphas, dtype=np.float64)
        tests = [np.asarray(te) for _, te in folds]
        self.fold_rows, pos = [], 0
        for te in tests:
            self.fold_rows.append(slice(pos, pos + te.size))
            pos += te.size
        self.test_rows = [as_rows(te, be) for te in tests]
        self.n_test = [te.size for te in tests]
        max_te = max(self.n_test)
        gain = residual_gain(lam.max() if lam.size else 0.0, alphas, max_te, n)
        self.f64_alpha = (gain > BLOCK_MAX_GAIN_32) if be.dtype_name == "float32" \
            else np.zeros(alphas.size, dtype=bool)
        # per alpha: (sum n_te, n - 1) float64, the folds' rows stacked; cast per batch
        W, Minv = _residual_maps(V, lam, alphas, tests, self.f64_alpha, be.dtype_name)
        self.W = [be.asarray(Wa, dtype=be.float64 if f else None)
                  for Wa, f in zip(W, self.f64_alpha)]
        self.Minv = [[be.asarray(m, dtype=be.float64) for m in row] for row in Minv]
        self._alphas = alphas
        self._lam64 = be.asarray(lam, dtype=be.float64)
        self.V = be.asarray(V)  # (n, m) working dtype: Q = V^T Y
        self.VT = be.asarray(np.ascontiguousarray(V.T))
        self.V64T = be.asarray(np.ascontiguousarray(V.T), dtype=be.float64)
        self.folds = []
        self.max_rank = V.shape[1]
        self.max_rows = sum(self.n_test)
        self.max_test = max_te
        self.max_train = n - min(self.n_test)
        if refit:  # the dual refit of DualPlan on the same decomposition (same rank cut)
            keep = keep_rank(lam, n, np.finfo(be.dtype_name).eps)
            self._keep = None if keep.all() else be.index(np.flatnonzero(keep))
            self.full_lam = lam[keep]
            self.full_U = self.V if self._keep is None else be.asarray(V[:, keep])
            self.full_UT = self.VT if self._keep is None else \
                be.asarray(np.ascontiguousarray(V[:, keep].T))
            self.kx = kernel_mean_term(self.X, self.x_mean, be)

    def fixed_bytes(self):
        b = self.backend.itemsize
        n, m = self.n_samples, self.max_rank
        rows = sum(self.n_test)
        total = 8 * n * n + 2 * n * m * b + 8 * n * m  # kernel, V, V^T, float64 V^T
        total += sum(rows * m * (8 if f else b) for f in self.f64_alpha)
        return total + 8 * len(self.W) * sum(k * k for k in self.n_test)

    def bytes_per_target(self, n_alphas, n_folds, coef):
        b = self.backend.itemsize
        n, m = self.n_samples, self.max_rank
        rows = sum(self.n_test)
        per = b * (2 * n + 2 * m + 2 * rows + self.max_test)
        if self.f64_alpha.any():
            per += 8 * (m + rows)
        if coef:
            per += (b + 8) * self.n_features
        return per + 8 * n_alphas * (n_folds + 6)

    # Y side ------------------------------------------------------------------
    def begin_batch(self, Yb):
        """``Q = V^T Y`` (m, t_b), and in float64 when some alpha needs it."""
        be = self.backend
        state = {"Q": self.VT @ Yb}
        if self.f64_alpha.any():
            state["Q64"] = self.V64T @ be.cast(Yb, "float64")
        return state

    def score_batch(self, Yb, state, alphas, scoring):
        """Scores (k, A, t_b) of every fold and alpha (float64); ``scoring`` "r2" or
        "neg_mse" (correlations take the per-fold plan, see ``_route.dual_plan``).

        With float32 work, targets whose two best CV scores are within
        ``BLOCK_TIE_TOL`` are scored again with float64 products, so that
        rounding does not decide between near-tied alphas.
        """
        be = self.backend
        folds = []
        total = Yb.sum(0)
        for rows, n_te in zip(self.test_rows, self.n_test):
            Yte = Yb[rows]
            m_y = (total - Yte.sum(0)) / (self.n_samples - n_te) if self.fit_intercept \
                else None
            folds.append((Yte, m_y, fold_moments(Yte, m_y, be)))
        out = self._scores(folds, state, scoring, f64=self.f64_alpha)
        if be.dtype_name == "float32" and len(alphas) > 1:
            cv = np.sort(out.mean(0), axis=0)
            ties = np.flatnonzero(cv[-1] - cv[-2] <= BLOCK_TIE_TOL * np.maximum(1.0, np.abs(cv[-1])))
            if ties.size:
                idx = be.index(ties)
                sub = [(Yte[:, idx], None if m_y is None else m_y[idx],
                        tuple(x[ties] if np.ndim(x) else x for x in mom))
                       for Yte, m_y, mom in folds]
                q64 = state["Q64"][:, idx] if "Q64" in state else \
                    self.V64T @ be.cast(Yb[:, idx], "float64")
                out[:, :, ties] = self._scores(sub, {"Q64": q64}, scoring, f64=None)
        return out

    def _scores(self, folds, state, scoring, f64):
        be = self.backend
        k, A = len(folds), len(self.W)
        t_b = folds[0][0].shape[1]
        sse = np.empty((k, A, t_b))
        for a in range(A):
            if f64 is None:  # every alpha in float64, from V and M_T(a)^-1 (a few targets)
                g = self._alphas[a] / (self._lam64 + self._alphas[a])
                R = (self.V64T * g[:, None]).T @ state["Q64"]  # (I - H(a)) y, (n, t_s)
                E = _stack_rows(be, [self.Minv[a][i] @ R[rows]
                                     for i, rows in enumerate(self.test_rows)])
            elif f64[a]:
                E = self.W[a] @ state["Q64"]
            else:
                E = self.W[a] @ state["Q"]
            for i, rows in enumerate(self.fold_rows):
                sse[i, a] = be.to_numpy(be.sumsq(E[rows]))
            del E
        out = np.empty((k, A, t_b))
        eps = 100 * np.finfo(be.dtype_name).eps
        for i, (_, _, (n_te, sst, ycc, syc, _)) in enumerate(folds):
            # R^2 and MSE need only the sum of squared residuals: sse = ycc - 2 * 0 + quad
            out[i] = scores_from_moments(scoring, n_te, sst, ycc, syc, 0.0, 0.0,
                                         sse[i] - ycc[None, :], eps=eps)
        return out

    def refit_batch(self, Yb, alphas_b, state, return_weights=True):
        """:meth:`DualPlan.refit_batch` with ``Q = V^T Y`` of the batch reused."""
        if state is None:
            return super().refit_batch(Yb, alphas_b, state, return_weights)
        Q = state["Q"] if self._keep is None else state["Q"][self._keep]
        return self._refit_from_rotation(Q, alphas_b, return_weights)
