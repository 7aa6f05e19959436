"""Dual (kernel) ridge plan, for designs with at least as many features as
training samples (the kernel form of ridge; Dupré la Tour et al., NeuroImage 2022).

Per fold, with the training-centred kernels ``K_tr = U diag(lam) U^T`` (eigh,
float64) and ``K_te`` (n_te, n_tr): ``Z = U^T (Y_tr - m_y)``, ``P = K_te U``
and the held-out prediction for penalty ``a`` is
``m_y + P diag(1 / (lam + a)) Z``: the same projection form as the primal
plan, scored by the same code. The refit gives dual coefficients
``C = U (D * U^T Y)``, ``D[k, j] = 1 / (lam_k + alpha_j)``; primal weights
``W = Xc^T C`` are formed only on request.
"""

import numpy as np

from ._alpha_path import eigh_many, keep_rank, prepare_alpha_path
from ._primal import _Fold, _is_complement, as_rows
from ._profile import phase

__all__ = ["DualPlan", "DualStats", "full_kernel", "kernel_mean_term"]


def _centre_kernels(K, train, test, fit_intercept):
    Ktr = K[np.ix_(train, train)]
    Kte = K[np.ix_(test, train)]
    if fit_intercept:
        a = Ktr.mean(1)
        c = a.mean()
        Ktr = Ktr - a[:, None] - a[None, :] + c
        Kte = Kte - Kte.mean(1)[:, None] - a[None, :] + c
    return Ktr, Kte


def full_kernel(K, fit_intercept):
    """The full-data kernel, re-centred to remove rounding drift."""
    if not fit_intercept:
        return K
    a = K.mean(1)
    return K - a[:, None] - a[None, :] + a.mean()


def kernel_mean_term(Xb, x_mean, be):
    """``Xc x_mean`` (n,), float64, to turn dual coefficients into intercepts."""
    n, p = Xb.shape
    xm64 = be.asarray(x_mean, dtype=be.float64)
    rows = max(1, 2**21 // max(p, 1))  # 16 MiB float64 blocks (larger ones page-fault)
    return np.concatenate([  # in float64, a few rows at a time
        be.to_numpy(be.cast(Xb[a:a + rows], "float64") @ xm64) for a in range(0, n, rows)
    ]) - x_mean @ x_mean


def _kernel(X, x_mean, fit_intercept, be):
    """``Xc Xc^T`` (n, n) float64, accumulated over feature chunks centred on the fly."""
    n, p = X.shape
    Xb = be.asarray(X)
    K = np.zeros((n, n))
    step = max(1, 2**25 // (n * be.itemsize))
    for a in range(0, p, step):
        Xc = Xb[:, a:a + step]
        if fit_intercept:
            Xc = Xc - be.asarray(x_mean[a:a + step])[None, :]
        K += be.to_numpy(be.cast(Xc @ Xc.T, "float64"))
        del Xc
    return 0.5 * (K + K.T)


class DualStats:
    """Kernels of a dual problem that do not depend on the feature-space weights.

    One centred linear kernel ``K_i = Xc_i Xc_i^T`` (n, n) float64 per group
    of columns ``slices`` (one group when None). For columns of group ``i``
    scaled by ``sqrt(gamma_i)``, the kernel is ``sum_i gamma_i K_i``, so
    banded ridge computes the kernels once for all its gammas.
    """

    def __init__(self, X, fit_intercept, be, slices=None):
        p = X.shape[1]
        self.x_mean = X.mean(0, dtype=np.float64) if fit_intercept else np.zeros(p)
        self.slices = [slice(0, p)] if slices is None else list(slices)
        self.kernels = [_kernel(X[:, s], self.x_mean[s], fit_intercept, be)
                        for s in self.slices]

    def kernel(self, gamma=None):
        if gamma is None:
            return self.kernels[0] if len(self.kernels) == 1 else sum(self.kernels)
        out = gamma[0] * self.kernels[0]
        for g, K in zip(gamma[1:], self.kernels[1:]):
            out += g * K
        return out


class DualPlan:
    """X-side state of a dual cross-validated ridge problem (see module doc).

    ``stats`` (a :class:`DualStats` of ``X``) and ``gamma`` (one weight per
    group of its ``slices``) give the plan of ``X`` with the columns of group
    ``i`` scaled by ``sqrt(gamma_i)`` without recomputing kernels.
    """

    solver = "dual"

    def __init__(self, X, folds, alphas, fit_intercept, backend, refit=True, stats=None,
                 gamma=None, full_decomp=None):
        be = backend
        n, p = X.shape
        with phase("x_statistics"):
            K, Xb = self._design_kernel(X, stats, gamma, fit_intercept, be, refit)
            eps = np.finfo(be.dtype_name).eps
            mats, parts = [], []
            for train, test in folds:
                train, test = np.asarray(train), np.asarray(test)
                Ktr, Kte = _centre_kernels(K, train, test, fit_intercept)
                mats.append(Ktr)
                parts.append((train, test, Kte))
            if refit and full_decomp is None:
                mats.append(full_kernel(K, fit_intercept))
        # float32 work: float32 decompositions where the kernels are well conditioned;
        # centred kernels have the constant vector as a known null vector: deflated first
        shift = float(np.min(alphas)) if be.dtype_name == "float32" and len(alphas) else None
        with phase("decompositions"):
            decomps = eigh_many(mats, shift=shift, deflate=fit_intercept)
        del mats
        if refit and full_decomp is not None:
            decomps.append(full_decomp)
        with phase("fold_setup"):
            self._fold_setup(parts, decomps, alphas, n, p, Xb, refit, eps)
        del K

    def _fold_setup(self, parts, decomps, alphas, n, p, Xb, refit, eps):
        be = self.backend
        self.folds = []
        for i, (train, test, Kte) in enumerate(parts):
            lam, U = decomps[i]
            decomps[i] = None  # free as we go
            parts[i] = None
            f = _Fold()
            f.n_tr, f.n_te = len(train), len(test)
            f.complement = _is_complement(train, test, n)
            keep = keep_rank(lam, f.n_tr, eps)
            lam, U = lam[keep], U[:, keep]
            P = Kte @ U
            f.rank = lam.size
            f.train = as_rows(train, be)
            f.test = as_rows(test, be)
            f.UT = be.asarray(np.ascontiguousarray(U.T))  # (r, n_tr)
            f.PT = be.asarray(np.ascontiguousarray(P.T))  # (r, n_te)
            f.u1 = be.asarray(U.sum(0))
            prepare_alpha_path(f, P, lam, alphas, be)
            self.folds.append(f)
        if refit:
            lam, U = decomps[-1]
            keep = keep_rank(lam, n, eps)
            self.full_lam = lam[keep]
            self.full_U = be.asarray(np.ascontiguousarray(U[:, keep]))
            self.full_UT = be.asarray(np.ascontiguousarray(U[:, keep].T))
            self.kx = kernel_mean_term(Xb, self.x_mean, be)
        del decomps
        self.max_rank = max([f.rank for f in self.folds] + [0])
        self.max_rows = max([f.m_rows for f in self.folds] + [0])
        self.max_test = max([f.n_te for f in self.folds] + [0])
        self.max_train = max([f.n_tr for f in self.folds] + [0])

    def _design_kernel(self, X, stats, gamma, fit_intercept, be, refit):
        """Set the design-side attributes; return the (n, n) kernel of ``X`` with the columns
        of group ``i`` scaled by ``sqrt(gamma_i)`` and ``X`` (scaled) on the backend."""
        self.backend = be
        self.fit_intercept = fit_intercept
        self.n_samples, self.n_features = X.shape
        if stats is None:
            stats = DualStats(X, fit_intercept, be)
        self.x_mean = stats.x_mean
        if gamma is not None:
            scale = np.empty(X.shape[1])
            for s, g in zip(stats.slices, gamma):
                scale[s] = np.sqrt(g)
            self.x_mean = stats.x_mean * scale
            # X is only needed by the refit (weights and intercepts)
            X = X * scale.astype(X.dtype) if refit else X
        self.X = be.asarray(X)  # kept as given (no centred copy of a wide design)
        return stats.kernel(gamma), self.X

    def fixed_bytes(self):
        b = self.backend.itemsize
        n = self.n_samples
        total = 8 * n * n + n * min(self.n_features, 2**25 // (n * b)) * b
        total += sum(f.nbytes() for f in self.folds)
        if getattr(self, "full_U", None) is not None:
            total += 2 * self.full_U.shape[0] * self.full_U.shape[1] * b
        return total

    def bytes_per_target(self, n_alphas, n_folds, coef):
        b = self.backend.itemsize
        n, r = self.n_samples, self.max_rank
        per = b * (2 * n + self.max_train + self.max_test + 6 * r + self.max_rows
                   + 3 * n_alphas)
        if any(getattr(f, "pf", False) for f in self.folds):
            per += 8 * 4 * r  # float64 Z, Gh Z and two products of the partial fractions
        if coef:
            per += (b + 8) * self.n_features
        return per + 8 * n_alphas * (n_folds + 6)

    # Y side ------------------------------------------------------------------
    def begin_batch(self, Yb):
        return None

    def fold_stats(self, f, Yb, state):
        Ytr = Yb[f.train]
        Yte = Yb[f.test]
        Z = f.UT @ Ytr
        B = f.PT @ Yte
        if self.fit_intercept:
            m_y = Ytr.sum(0) / f.n_tr
            be = self.backend  # rank-1 updates in place: one pass each
            be.add_product_(Z, f.u1[:, None], m_y[None, :], alpha=-1.0)
            be.add_product_(B, f.p1[:, None], m_y[None, :], alpha=-1.0)
        else:
            m_y = None
        return Z, B, Yte, m_y

    def refit_batch(self, Yb, alphas_b, state, return_weights=True):
        """Dual coefficients (n, t_b) and, if asked, weights ``Xc^T C`` (p, t_b)."""
        return self._refit_from_rotation(self.full_UT @ Yb, alphas_b, return_weights)

    def _refit_from_rotation(self, Q, alphas_b, return_weights):
        """Refit from ``Q = U^T Y`` (r, t_b) of the full-data decomposition."""
        be = self.backend
        D = 1.0 / (self.full_lam[:, None] + np.asarray(alphas_b, dtype=np.float64)[None, :])
        C = self.full_U @ (be.asarray(D) * Q)
        W = None
        if return_weights:  # Xc^T C = X^T C - x_mean (1^T C)
            W = self.X.T @ C
            if self.fit_intercept:
                W -= be.asarray(self.x_mean)[:, None] * C.sum(0)[None, :]
        return W, C

    def mean_prediction(self, W, C):
        """``x_mean W = (Xc x_mean)^T C`` (t_b,), float64: the intercept is ``y_mean`` minus it."""
        be = self.backend
        return be.to_numpy(be.asarray(self.kx) @ C).astype(np.float64)
