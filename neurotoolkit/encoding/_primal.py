"""Primal (feature-space) ridge plan: sufficient statistics and one
eigendecomposition of the (p, p) training Gram matrix per fold.

Notation (METHODS.md, Card 1). For a fold with training rows ``tr`` and test
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

from ._alpha_path import keep_rank, prepare_alpha_path

__all__ = ["PrimalPlan"]


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
    """

    solver = "primal"

    def __init__(self, X, folds, alphas, fit_intercept, backend, refit=True):
        be = backend
        self.backend = be
        self.fit_intercept = fit_intercept
        n, p = X.shape
        self.n_samples, self.n_features = n, p
        X64 = np.asarray(X, dtype=np.float64)
        self.x_mean = X64.mean(0) if fit_intercept else np.zeros(p)
        Xc64 = X64 - self.x_mean if fit_intercept else X64.copy()
        eps = np.finfo(np.float64).eps
        self.Xc = be.asarray(Xc64)  # (n, p) working dtype, centred with the full mean
        self.XcT = be.asarray(np.ascontiguousarray(Xc64.T))
        Sxx = Xc64.T @ Xc64
        sx = Xc64.sum(0)
        self.folds = []
        for train, test in folds:
            f = _Fold()
            train = np.asarray(train)
            test = np.asarray(test)
            Xte = Xc64[test]
            f.n_tr, f.n_te = len(train), len(test)
            f.complement = _is_complement(train, test, n)
            if f.complement:
                Str = Sxx - Xte.T @ Xte
                sx_tr = sx - Xte.sum(0)
            else:
                Xtr = Xc64[train]
                Str = Xtr.T @ Xtr
                sx_tr = Xtr.sum(0)
            m = sx_tr / f.n_tr if fit_intercept else np.zeros(p)
            lam, V = np.linalg.eigh(Str - f.n_tr * np.outer(m, m))
            keep = keep_rank(lam, max(n, p), eps)
            lam, V = lam[keep], V[:, keep]
            XVte = Xte @ V  # (n_te, r), uncentred
            Vm = V.T @ m
            P = XVte - Vm[None, :]
            f.rank = lam.size
            f.test = be.index(test)
            f.train = None if f.complement else be.index(train)
            f.VT = be.asarray(np.ascontiguousarray(V.T))  # (r, p)
            f.XVteT = be.asarray(np.ascontiguousarray(XVte.T))  # (r, n_te)
            if not f.complement:
                f.XVtrT = be.asarray(np.ascontiguousarray((Xc64[train] @ V).T))
            f.Vm = be.asarray(Vm)
            prepare_alpha_path(f, P, lam, alphas, be)
            self.folds.append(f)
        self.full = None
        if refit:
            lam, V = np.linalg.eigh(Sxx)
            keep = keep_rank(lam, max(n, p), eps)
            self.full_lam = lam[keep]
            self.full_V = be.asarray(np.ascontiguousarray(V[:, keep]))
            self.full_VT = be.asarray(np.ascontiguousarray(V[:, keep].T))
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
        if coef:
            per += b * p + 8 * p
        return per + 8 * n_alphas * (n_folds + 6)

    # Y side ------------------------------------------------------------------
    def begin_batch(self, Yb):
        """Per-batch statistics shared by the folds. ``Yb`` is centred with the full mean."""
        Sxy = self.XcT @ Yb  # (p, t_b)
        return {"Sxy": Sxy, "sy": Yb.sum(0)}

    def fold_stats(self, f, Yb, state):
        """(Z, B, Yte, m_y) for one fold and one batch."""
        Yte = Yb[f.test]
        T = f.XVteT @ Yte  # V^T X_te^T Y_te, (r, t_b)
        sy_te = Yte.sum(0)
        if f.complement:
            VS_tr = f.VT @ state["Sxy"] - T
            sy_tr = state["sy"] - sy_te
        else:
            Ytr = Yb[f.train]
            VS_tr = f.XVtrT @ Ytr
            sy_tr = Ytr.sum(0)
        if self.fit_intercept:
            m_y = sy_tr / f.n_tr
            Z = VS_tr - f.n_tr * (f.Vm[:, None] * m_y[None, :])
            B = T - f.Vm[:, None] * sy_te[None, :] - f.p1[:, None] * m_y[None, :]
        else:
            m_y = None
            Z, B = VS_tr, T
        return Z, B, Yte, m_y

    def refit_batch(self, Yb, alphas_b, state, return_weights=True):
        """Coefficients (p, t_b) for per-target alphas, in one pass: ``W = V (D * Z)``."""
        be = self.backend
        Sxy = state["Sxy"] if state is not None else self.XcT @ Yb
        Z = self.full_VT @ Sxy
        D = 1.0 / (self.full_lam[:, None] + np.asarray(alphas_b, dtype=np.float64)[None, :])
        W = self.full_V @ (be.asarray(D) * Z)
        return W, None
