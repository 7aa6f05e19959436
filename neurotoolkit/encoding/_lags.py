"""Lagged ridge from sufficient statistics (the engine of :class:`TemporalReceptiveField`).

A lagged design has one column per (feature, lag): column ``(i, l)`` holds
``x_i[t - l]`` (zero outside the run, so no lag crosses a run boundary;
positive lags look at the past of the input, as in MNE's ``ReceptiveField``).
Its Gram matrix is nearly block Toeplitz: for rows ``t`` in ``[s, e)`` of a
run, with ``l_a = l_{a-1} + 1``,

    G[a, b] = G[a-1, b-1] + x[s-1-l_{a-1}] x[s-1-l_{b-1}]^T - x[e-1-l_{a-1}] x[e-1-l_{b-1}]^T

so one block row (``n_lags`` products of shape (f, n) x (n, f)) and
``n_lags^2`` rank-one corrections give the exact Gram without forming the
(n, f * n_lags) design (the edge correction of MNE's ``TimeDelayingRidge``,
written as a recursion). ``X^T Y`` is one (f, n) x (n, t) product per lag.

Statistics are kept per *segment*: a maximal stretch of samples of one run
that every fold treats the same way (train, test or unused). A fold's
training and test statistics are sums over segments, so cross-validation
never touches the samples again: per fold one eigendecomposition of the
(p, p) centred training Gram, then every alpha is scored from rotated
moments (``Z``, ``B``, ``G``; Card 1, "shortcut when n_te > r").
"""

import numpy as np

from .._ridge._alpha_path import eigh_many, keep_rank
from .._ridge._scores import scores_from_moments
from .._utils.validation import _raise

_CHUNK_BYTES = 16 << 20  # size of the block of lagged rows formed at a time

__all__ = ["LagSpec", "LaggedStats", "check_runs", "fold_moments", "times_to_lags"]


def times_to_lags(tmin, tmax, sfreq, name="tmin"):
    """Integer lags from ``round(tmin * sfreq)`` to ``round(tmax * sfreq)`` (MNE's rule)."""
    for key, value in (("tmin", tmin), ("tmax", tmax)):
        if isinstance(value, bool) or not np.isscalar(value) or not np.isfinite(value):
            _raise(key if name == "tmin" else f"{name}", "a finite number of seconds",
                   repr(value))
    if tmin > tmax:
        _raise(name if name != "tmin" else "tmin",
               f"tmin <= tmax (lags run from tmin to tmax), got tmin={tmin} and tmax={tmax}",
               "reversed limits", "Swap them.")
    return np.arange(int(np.round(tmin * sfreq)), int(np.round(tmax * sfreq)) + 1)


class LagSpec:
    """Columns of a lagged design: per band, its input features and its lags.

    Column order: band by band; within a band, lag-major (``offset + a * f_b + i``).
    """

    def __init__(self, features, lags, names):
        self.features = [np.asarray(f, dtype=np.int64) for f in features]
        self.lags = [np.asarray(lg, dtype=np.int64) for lg in lags]
        self.names = list(names)
        self.lag_min = int(min(lg.min() for lg in self.lags))
        self.lag_max = int(max(lg.max() for lg in self.lags))
        self.union = np.arange(self.lag_min, self.lag_max + 1)
        la, fi, sl, start = [], [], [], 0
        for f, lg in zip(self.features, self.lags):
            la.append(np.repeat(lg - self.lag_min, f.size))
            fi.append(np.tile(f, lg.size))
            sl.append(slice(start, start + f.size * lg.size))
            start += f.size * lg.size
        self.lag_index = np.concatenate(la)  # index into ``union`` of every column
        self.feature_index = np.concatenate(fi)
        self.slices = sl
        self.n_columns = start
        self.n_inputs = int(max(f.max() for f in self.features)) + 1

    @property
    def pad(self):
        return max(abs(self.lag_min), abs(self.lag_max))

    def to_coef(self, W):
        """(p, t) design weights -> (t, n_inputs, n_union_lags), zeros where unused."""
        out = np.zeros((W.shape[1], self.n_inputs, self.union.size), dtype=W.dtype)
        out[:, self.feature_index, self.lag_index] = W.T
        return out


def check_runs(runs, n_samples, max_lag):
    """Validate run labels: contiguous blocks, each longer than the largest lag.

    Returns a list of (start, stop) row ranges, one per run, in order.
    """
    if runs is None:
        bounds = [(0, n_samples)]
        labels = ["(single run)"]
    else:
        runs = np.asarray(runs)
        if runs.shape != (n_samples,):
            _raise("runs", f"one label per sample, shape ({n_samples},)", f"shape {runs.shape}")
        change = np.flatnonzero(runs[1:] != runs[:-1]) + 1
        starts = np.concatenate([[0], change])
        stops = np.concatenate([change, [n_samples]])
        labels = runs[starts]
        if len(set(labels.tolist())) != len(labels):
            seen = [lab for k, lab in enumerate(labels.tolist()) if lab in labels[:k].tolist()]
            _raise("runs", "each run's samples in one contiguous block (lags are applied "
                   "within a run)", f"run {seen[0]!r} split into several blocks",
                   "Sort the samples by run.")
        bounds = list(zip(starts.tolist(), stops.tolist()))
    for (s, e), lab in zip(bounds, labels):
        if e - s <= max_lag:
            _raise("tmin", f"lags shorter than every run (largest |lag| {max_lag} samples)",
                   f"run {lab!r} of {e - s} samples",
                   "Narrow tmin/tmax or drop the short run.")
    return bounds


def _segments(bounds, folds, n_samples):
    """Split runs into stretches with one fold membership; returns (run, start, stop, sig)."""
    sig = np.zeros((n_samples, len(folds)), dtype=np.int8)
    for k, (tr, te) in enumerate(folds):
        sig[np.asarray(tr), k] = 1
        sig[np.asarray(te), k] = 2
    out = []
    for r, (s, e) in enumerate(bounds):
        cuts = np.flatnonzero((sig[s + 1:e] != sig[s:e - 1]).any(1)) + s + 1
        edges = np.concatenate([[s], cuts, [e]])
        for a, b in zip(edges[:-1], edges[1:]):
            out.append((r, int(a), int(b), sig[a].copy()))
    return out


class LaggedStats:
    """Per-segment sufficient statistics of a lagged design and its targets.

    Attributes (float64, numpy)
    ---------------------------
    n : (n_seg,) samples; sx : (n_seg, p); sy, syy : (n_seg, t);
    S : (n_seg, p, p) Gram; Sxy : (n_seg, p, t); sig : (n_seg, n_folds) 0/1/2.
    """

    def __init__(self, X, Y, bounds, spec, folds, be):
        n = X.shape[0]
        segs = _segments(bounds, folds, n)
        p, t = spec.n_columns, Y.shape[1]
        k = len(segs)
        self.n = np.empty(k)
        self.sx = np.empty((k, p))
        self.sy = np.empty((k, t))
        self.syy = np.empty((k, t))
        self.S = np.empty((k, p, p))
        self.Sxy = np.empty((k, p, t))
        self.sig = np.stack([sg for *_, sg in segs]) if segs else np.zeros((0, 0))
        P = spec.pad
        cur = None
        for j, (r, s, e, _) in enumerate(segs):
            if cur != r:  # pad the run once, on the backend
                rs, re_ = bounds[r]
                xpad = np.zeros((re_ - rs + 2 * P, X.shape[1]))
                xpad[P:P + re_ - rs] = X[rs:re_]
                yb = be.asarray(Y[rs:re_], dtype=be.float64)
                cur = r
            a, b = s - bounds[r][0], e - bounds[r][0]  # rows within the run
            self.n[j] = b - a
            ys = yb[a:b]
            self.sy[j] = be.to_numpy(ys.sum(0))
            self.syy[j] = be.to_numpy((ys * ys).sum(0))
            self._segment(j, xpad, ys, a, b, spec, be)

    def _segment(self, j, xpad, ys, a, b, spec, be):
        P, lags = spec.pad, spec.union
        L, f = lags.size, xpad.shape[1]
        # lagged rows as a strided view: window k holds padded rows k..k+L-1, and row t
        # at lag l sits in window t + P - l_max at position l_max - l (lags reversed)
        win = np.lib.stride_tricks.sliding_window_view(xpad, L, axis=0)  # (.., f, L)
        k0 = a + P - int(lags[-1])
        # chunks of lagged rows of at most _CHUNK_BYTES (larger blocks are mmap-allocated
        # afresh every time: page faults), two at a time on the CPU (the copies and the
        # one-thread products of a chunk release the GIL)
        rows = max(256, _CHUNK_BYTES // (8 * L * f))

        def chunk(c0):
            c1 = min(c0 + rows, b - a)
            Wc = np.ascontiguousarray(win[k0 + c0:k0 + c1].transpose(0, 2, 1)).reshape(
                c1 - c0, L * f)  # columns (reversed lag, feature)
            Wb = be.asarray(Wc, dtype=be.float64)
            return (be.to_numpy(Wb.T @ ys[c0:c1]),
                    be.to_numpy(Wb[:, (L - 1) * f:].T @ Wb),  # lag l_0 is the last block
                    Wc.sum(0))

        starts = range(0, b - a, rows)
        if be.name == "numpy" and len(starts) > 1:
            from concurrent.futures import ThreadPoolExecutor

            from .._ridge._alpha_path import n_cpus

            with ThreadPoolExecutor(max_workers=min(n_cpus(), len(starts))) as pool:
                parts = list(pool.map(chunk, starts))
        else:
            parts = [chunk(c0) for c0 in starts]
        Sxy = sum(p[0] for p in parts)
        base = sum(p[1] for p in parts)  # G[0, :] block row, (f, (L, f)) with lags reversed
        sx = sum(p[2] for p in parts)
        rev = np.arange(L)[::-1]
        Sxy = Sxy.reshape(L, f, -1)[rev]
        sx = sx.reshape(L, f)[rev]
        G4 = np.zeros((L, L, f, f))
        G4[0] = base.reshape(f, L, f)[:, rev].transpose(1, 0, 2)
        head = xpad[a - 1 - lags + P] if L > 1 else None  # x[s-1-l_m], (L, f)
        tail = xpad[b - 1 - lags + P] if L > 1 else None  # x[e-1-l_m]
        for m in range(1, L):
            h, tl = head[m - 1], tail[m - 1]
            G4[m, m:] = (G4[m - 1, m - 1:L - 1]
                         + h[None, :, None] * head[m - 1:L - 1][:, None, :]
                         - tl[None, :, None] * tail[m - 1:L - 1][:, None, :])
        M = G4.transpose(0, 2, 1, 3).reshape(L * f, L * f)
        blk = np.repeat(np.arange(L), f)
        M = np.where(blk[:, None] > blk[None, :], M.T, M)
        cols = spec.lag_index * f + spec.feature_index
        self.S[j] = M[np.ix_(cols, cols)]
        self.Sxy[j] = Sxy.reshape(L * f, -1)[cols]
        self.sx[j] = sx.reshape(-1)[cols]

    def total(self, mask=None):
        """Summed statistics over the segments in ``mask`` (all when None)."""
        w = np.ones(self.n.size) if mask is None else mask.astype(np.float64)
        return {"n": float(w @ self.n), "sx": w @ self.sx, "sy": w @ self.sy,
                "syy": w @ self.syy, "S": np.tensordot(w, self.S, 1),
                "Sxy": np.tensordot(w, self.Sxy, 1)}


def _centre(tr, fit_intercept):
    p, t = tr["Sxy"].shape
    if not fit_intercept:
        return np.zeros(p), np.zeros(t)
    return tr["sx"] / tr["n"], tr["sy"] / tr["n"]


def fold_moments(stats, k, fit_intercept):
    """Centred training and test moments of fold ``k`` (gamma-independent)."""
    tr, te = stats.total(stats.sig[:, k] == 1), stats.total(stats.sig[:, k] == 2)
    m, my = _centre(tr, fit_intercept)
    n_tr, n_te = tr["n"], te["n"]
    C = tr["S"] - n_tr * np.outer(m, m)
    Cxy = tr["Sxy"] - n_tr * np.outer(m, my)
    sxm = np.outer(te["sx"], m)
    Cte = te["S"] - sxm - sxm.T + n_te * np.outer(m, m)
    Cxy_te = te["Sxy"] - np.outer(te["sx"], my) - np.outer(m, te["sy"]) + n_te * np.outer(m, my)
    dx = te["sx"] - n_te * m
    sst = te["syy"] - te["sy"] ** 2 / n_te
    sst = np.where(sst > 1e-24 * n_te * np.maximum(te["syy"], 1e-300), sst, 0.0)
    ycc = te["syy"] - 2 * my * te["sy"] + n_te * my ** 2
    syc = te["sy"] - n_te * my
    return {"C": C, "Cxy": Cxy, "Cte": Cte, "Cxy_te": Cxy_te, "dx": dx, "n_te": n_te,
            "sst": sst, "ycc": ycc, "syc": syc}


def score_folds(moments, alphas, scoring, scale=None):
    """Scores (n_folds, A, t) of every alpha on every fold, ``X`` columns scaled by ``scale``."""
    mats = []
    for f in moments:
        C = f["C"] if scale is None else f["C"] * np.outer(scale, scale)
        mats.append(C)
    decomps = eigh_many(mats)
    out = []
    eps = np.finfo(np.float64).eps
    for f, (lam, V) in zip(moments, decomps):
        keep = keep_rank(lam, lam.size, eps)
        lam, V = lam[keep], V[:, keep]
        s = np.ones(V.shape[0]) if scale is None else scale
        Vs = V * s[:, None]  # columns scaled: X_s V = X (s V)
        Z = Vs.T @ f["Cxy"]
        B = Vs.T @ f["Cxy_te"]
        p1 = Vs.T @ f["dx"]
        G = Vs.T @ f["Cte"] @ Vs
        D = 1.0 / (lam[None, :] + alphas[:, None])  # (A, r)
        cross = D @ (Z * B)
        psum = (D * p1[None, :]) @ Z
        quad = np.empty_like(cross)
        for a in range(len(alphas)):
            DZ = D[a][:, None] * Z
            quad[a] = np.einsum("ij,ij->j", DZ, G @ DZ)
        out.append(scores_from_moments(scoring, f["n_te"], f["sst"], f["ycc"], f["syc"],
                                       cross, psum, quad, eps=1e-10))
    return np.stack(out)


def refit(total, alphas, fit_intercept, scale=None):
    """Weights (p, t) and intercepts (t,) on all samples, one alpha per target."""
    m, my = _centre(total, fit_intercept)
    n = total["n"]
    C = total["S"] - n * np.outer(m, m)
    Cxy = total["Sxy"] - n * np.outer(m, my)
    cov = C / max(n - 1, 1)
    s = np.ones(C.shape[0]) if scale is None else scale
    C = C * np.outer(s, s)
    Cxy = Cxy * s[:, None]
    alphas = np.asarray(alphas, dtype=np.float64)
    uniq = np.unique(alphas)
    if uniq.size == 1:
        import scipy.linalg

        from threadpoolctl import threadpool_limits

        Cr = C + uniq[0] * np.eye(C.shape[0])
        try:
            with threadpool_limits(limits=1, user_api="blas"):  # see _alpha_path.eigh
                W = scipy.linalg.solve(Cr, Cxy, assume_a="pos", check_finite=False)
        except np.linalg.LinAlgError:  # pragma: no cover - singular at this alpha
            W = np.linalg.lstsq(Cr, Cxy, rcond=None)[0]
    else:
        (lam, V), = eigh_many([C])
        keep = keep_rank(lam, lam.size, np.finfo(np.float64).eps)
        lam, V = lam[keep], V[:, keep]
        W = V @ ((V.T @ Cxy) / (lam[:, None] + alphas[None, :]))
    W = W * s[:, None]  # back to the unscaled columns
    intercept = my - m @ W
    return W, intercept, cov


def lagged_predict(X, bounds, spec, W):
    """``X_lagged @ W`` per run, without forming the lagged design; (n, t)."""
    out = np.zeros((X.shape[0], W.shape[1]))
    for s, e in bounds:
        nr = e - s
        for band, (feats, lags) in enumerate(zip(spec.features, spec.lags)):
            sl = spec.slices[band]
            Wb = W[sl].reshape(lags.size, feats.size, -1)
            xb = X[s:e][:, feats]
            for a, lag in enumerate(lags):
                if lag >= 0:
                    out[s + lag:e] += xb[:nr - lag] @ Wb[a]
                else:
                    out[s:e + lag] += xb[-lag:] @ Wb[a]
    return out
