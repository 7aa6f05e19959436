"""Primal (feature-space) ridge plan: sufficient statistics and one
eigendecomposition of the (p, p) training Gram matrix per fold.

Notation (ridge through the SVD; Hastie, Tibshirani & Friedman, 2009, sec. 3.4.1). For a fold with training rows ``tr`` and test
rows ``te``, ``m`` the training mean of X and ``m_y`` that of Y:
``C = (X_tr - m)^T (X_tr - m) = V diag(lam) V^T`` (float64),
``Z = V^T (X_tr - m)^T (Y_tr - m_y)`` (r, t), ``P = (X_te - m) V`` (n_te, r).
The held-out prediction for penalty ``a`` is ``m_y + P diag(1 / (lam + a)) Z``,
so every alpha's score follows from ``Z``, ``B = P^T (Y_te - m_y)``,
``p1 = P^T 1`` and ``G = P^T P`` (see ``_alpha_path``); no per-alpha solution or prediction matrix is
formed. The X side below is computed once (host, float64); the Y side is
computed per batch of targets on the backend.
"""

import numpy as np

from ._alpha_path import eigh_many, keep_rank, prepare_alpha_path
from ._profile import phase

__all__ = ["PrimalPlan", "PrimalStats"]


def as_rows(idx, be):
    """A slice when ``idx`` is a contiguous increasing range (rows taken as a view)."""
    idx = np.asarray(idx)
    if idx.size and (np.diff(idx) == 1).all():
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return be.index(idx)


def _is_complement(train, test, n):
    if len(train) + len(test) != n:
        return False
    mask = np.zeros(n, dtype=bool)
    mask[train] = True
    mask[test] = True
    return bool(mask.all())


class _Fold:
    """Per-fold arrays: host float64 (``lam``) and backend working dtype."""

    def nbytes(self):
        return sum(getattr(a, "nbytes", 0) or 0 for a in vars(self).values()
                   if hasattr(a, "shape"))


class PrimalStats:
    """X-side statistics of a primal problem that do not depend on a column scale.

    ``Xc64`` (n, p) float64 centred with the full mean, ``Sxx = Xc^T Xc`` and,
    per fold, ``(train, test, complement, S, m)`` with ``S`` the training Gram
    centred with the training mean ``m``. Scaling the columns of X by ``s``
    scales them as ``Xc s``, ``s Sxx s``, ``s S s`` and ``s m``, so banded
    ridge computes them once for all its gammas (see :class:`PrimalPlan`).
    """

    def __init__(self, X, folds, fit_intercept):
        n, p = X.shape
        X64 = np.asarray(X, dtype=np.float64)
        self.x_mean = X64.mean(0) if fit_intercept else np.zeros(p)
        Xc64 = X64 - self.x_mean if fit_intercept else X64.copy()
        self.Xc64 = Xc64
        self.Sxx = Sxx = Xc64.T @ Xc64
        sx = Xc64.sum(0)
        self.folds = []
        for train, test in folds:
            train, test = np.asarray(train), np.asarray(test)
            Xte = Xc64[test]
            complement = _is_complement(train, test, n)
            if complement:
                Str = Sxx - Xte.T @ Xte
                sx_tr = sx - Xte.sum(0)
            else:
                Xtr = Xc64[train]
                Str = Xtr.T @ Xtr
                sx_tr = Xtr.sum(0)
            m = sx_tr / len(train) if fit_intercept else np.zeros(p)
            self.folds.append((train, test, complement, Str - len(train) * np.outer(m, m), m))


class PrimalPlan:
    """X-side state of a primal cross-validated ridge problem.

    Parameters
    ----------
    X : ndarray, shape (n, p)
    folds : list of (train_idx, test_idx)
    alphas : ndarray, shape (A,)
    fit_intercept : bool
    backend : Backend
    refit : bool
        Also prepare the full-data decomposition.
    stats : PrimalStats | None
        Precomputed statistics of ``X`` for these folds (None: computed here).
    scale : ndarray, shape (p,) | None
        Column scale applied to ``X`` (and to ``stats``) before fitting.
    """

    solver = "primal"

    def __init__(self, X, folds, alphas, fit_intercept, backend, refit=True, stats=None,
                 scale=None, full_decomp=None):
        be = backend
        self.backend = be
        self.fit_intercept = fit_intercept
        n, p = X.shape
        self.n_samples, self.n_features = n, p
        with phase("x_statistics"):
            if stats is None:
                stats = PrimalStats(X, folds, fit_intercept)
            Xc64, Sxx, self.x_mean = stats.Xc64, stats.Sxx, stats.x_mean
            if scale is not None:  # X_s = X diag(scale): every statistic rescales
                scale = np.asarray(scale, dtype=np.float64)
                outer = np.outer(scale, scale)
                Xc64, Sxx, self.x_mean = Xc64 * scale, Sxx * outer, self.x_mean * scale
            self.Xc = be.asarray(Xc64)  # (n, p) working dtype, centred with the full mean
            self.XcT = be.asarray(np.ascontiguousarray(Xc64.T))
            mats, parts = [], []
            for train, test, complement, S, m in stats.folds:
                if scale is not None:
                    S, m = S * outer, m * scale
                mats.append(S)
                parts.append((train, test, complement, m))
            if refit and full_decomp is None:
                mats.append(Sxx)
        # float32 work: float32 decompositions of the Grams where S + alpha_min I is well
        # conditioned (backward error ~ cond * eps32 on the regularized inverse), else float64
        shift = float(np.min(alphas)) if be.dtype_name == "float32" and len(alphas) else None
        with phase("decompositions"):
            decomps = eigh_many(mats, shift=shift)
        del mats
        if refit and full_decomp is not None:
            decomps.append(full_decomp)
        with phase("fold_setup"):
            self._fold_setup(parts, decomps, alphas, Xc64, folds, refit)

    def _fold_setup(self, parts, decomps, alphas, Xc64, folds, refit):
        be = self.backend
        n, p = Xc64.shape
        eps = np.finfo(np.float64).eps
        self.folds = []
        for i, (train, test, complement, m) in enumerate(parts):
            lam, V = decomps[i]
            decomps[i] = None  # free as we go
            f = _Fold()
            f.n_tr, f.n_te = len(train), len(test)
            f.complement = complement
            keep = keep_rank(lam, max(n, p), eps)
            lam, V = lam[keep], V[:, keep]
            XVte = Xc64[test] @ V  # (n_te, r), uncentred
            Vm = V.T @ m
            P = XVte - Vm[None, :]
            f.rank = lam.size
            f.test = as_rows(test, be)
            f.train = None if complement else as_rows(train, be)
            f.VT = be.asarray(np.ascontiguousarray(V.T))  # (r, p)
            f.XVteT = be.asarray(np.ascontiguousarray(XVte.T))  # (r, n_te)
            if not complement:
                f.XVtrT = be.asarray(np.ascontiguousarray((Xc64[train] @ V).T))
            f.Vm = be.asarray(Vm)
            prepare_alpha_path(f, P, lam, alphas, be)
            f.vm_p1 = be.asarray(np.stack([Vm, f.p1_host], 1))  # (r, 2), intercept terms
            self.folds.append(f)
        if refit:
            lam, V = decomps[-1]
            keep = keep_rank(lam, max(n, p), eps)
            self.full_lam = lam[keep]
            self.full_V = be.asarray(np.ascontiguousarray(V[:, keep]))
            self.full_VT = be.asarray(np.ascontiguousarray(V[:, keep].T))
        del decomps
        # "partition" mode: the test sets tile the samples, so X^T Y is the sum of
        # the folds' X_te^T Y_te, and both rotations cost p r instead of n_te r + p r.
        covered = np.zeros(n, dtype=int)
        for _, test in folds:
            covered[np.asarray(test)] += 1
        self.partition = bool(
            self.folds and all(f.complement for f in self.folds) and (covered == 1).all()
            and max(f.n_te for f in self.folds) > p
        )
        if self.partition:
            for f, (_, test) in zip(self.folds, folds):
                f.XteT = be.asarray(np.ascontiguousarray(Xc64[np.asarray(test)].T))  # (p, n_te)
        self.max_rank = max([f.rank for f in self.folds] + [0])
        self.max_rows = max([f.m_rows for f in self.folds] + [0])
        self.max_test = max([f.n_te for f in self.folds] + [0])

    def fixed_bytes(self):
        b = self.backend.itemsize
        total = 2 * self.n_samples * self.n_features * b
        total += sum(f.nbytes() for f in self.folds)
        if getattr(self, "full_V", None) is not None:
            total += 2 * self.full_V.shape[0] * self.full_V.shape[1] * b
        return total

    def bytes_per_target(self, n_alphas, n_folds, coef):
        b = self.backend.itemsize
        n, p, r = self.n_samples, self.n_features, self.max_rank
        per = b * (n + self.max_test + p + 7 * r + self.max_rows + 3 * n_alphas)
        if self.partition:
            per += b * p * (len(self.folds) + 1)
        if any(getattr(f, "pf", False) for f in self.folds):
            per += 8 * 4 * r  # float64 Z, Gh Z and two products of the partial fractions
        if coef:
            per += b * p + 8 * p
        return per + 8 * n_alphas * (n_folds + 6)

    # Y side ------------------------------------------------------------------
    def begin_batch(self, Yb):
        """Per-batch statistics shared by the folds. ``Yb`` is centred with the full mean."""
        if self.partition:
            S_te = [f.XteT @ Yb[f.test] for f in self.folds]
            Sxy = S_te[0].copy() if self.backend.name == "numpy" else S_te[0].clone()
            for S in S_te[1:]:
                Sxy += S
            return {"Sxy": Sxy, "sy": Yb.sum(0), "S_te": S_te}
        Sxy = self.XcT @ Yb  # (p, t_b)
        return {"Sxy": Sxy, "sy": Yb.sum(0)}

    def fold_stats(self, f, Yb, state):
        """(Z, B, Yte, m_y) for one fold and one batch.

        The intercept terms are rank-1 and rank-2 updates done in place
        (:meth:`Backend.add_product_`): one pass over each (r, t_b) array.
        """
        be = self.backend
        Yte = Yb[f.test]
        sy_te = Yte.sum(0)
        if self.partition:
            S_te = state["S_te"][self.folds.index(f)]
            T = f.VT @ S_te  # V^T X_te^T Y_te, (r, t_b)
            Z = f.VT @ state["Sxy"]
            Z -= T
            sy_tr = state["sy"] - sy_te
        elif f.complement:
            T = f.XVteT @ Yte
            Z = f.VT @ state["Sxy"]
            Z -= T
            sy_tr = state["sy"] - sy_te
        else:
            T = f.XVteT @ Yte
            Ytr = Yb[f.train]
            Z = f.XVtrT @ Ytr
            sy_tr = Ytr.sum(0)
        if not self.fit_intercept:
            return Z, T, Yte, None
        m_y = sy_tr / f.n_tr
        # Z -= n_tr Vm m_y^T;  B = T - Vm sy_te^T - p1 m_y^T
        be.add_product_(Z, f.Vm[:, None], m_y[None, :], alpha=-float(f.n_tr))
        be.add_product_(T, f.vm_p1, be.stack([sy_te, m_y]), alpha=-1.0)
        return Z, T, Yte, m_y

    def refit_batch(self, Yb, alphas_b, state, return_weights=True):
        """Coefficients (p, t_b) for per-target alphas, in one pass: ``W = V (D * Z)``."""
        be = self.backend
        Sxy = state["Sxy"] if state is not None else self.XcT @ Yb
        Z = self.full_VT @ Sxy
        D = 1.0 / (self.full_lam[:, None] + np.asarray(alphas_b, dtype=np.float64)[None, :])
        W = self.full_V @ (be.asarray(D) * Z)
        return W, None

    def mean_prediction(self, W, C):
        """``x_mean W`` (t_b,), float64: the intercept is ``y_mean`` minus it."""
        be = self.backend
        return be.to_numpy(be.asarray(self.x_mean) @ W).astype(np.float64)
