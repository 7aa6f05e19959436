"""Held-out scores of every alpha of one fold, from rotated statistics.

For one fold the prediction (minus the training mean of Y) for penalty ``a``
is ``E(a) = P diag(d(a)) Z`` with ``d_k(a) = 1 / (lam_k + a)``, ``P`` (n_te, r)
and ``Z`` (r, t). Scores need, per alpha and target, ``sum(E * yc)``,
``sum(E)`` and ``quad = sum(E^2) = (d * z)^T G (d * z)``, ``G = P^T P``.

Two exact ways to get ``quad`` (both exact; the SVD route as in Hastie, Tibshirani & Friedman, 2009):

* direct: ``||F (d * z)||^2`` with ``F^T F = G`` and ``F`` of
  ``m = min(n_te, r)`` rows: one (m, r) x (r, t) product per alpha.
* partial fractions: for ``lam_k != lam_l``,
  ``d_k d_l = (d_l - d_k) / (lam_k - lam_l)``, so
  ``quad = sum_k d_k^2 G_kk z_k^2 + 2 sum_k d_k z_k (Gh z)_k`` with
  ``Gh_kl = G_kl / (lam_l - lam_k)``: ONE (r, r) x (r, t) product per fold
  (in float64), then an (A, r) x (r, t) product for all alphas. Eigenvalues
  closer than ``tau * (lam_max + alpha_max)`` are grouped and their block
  is done directly, which bounds the cancellation error (about
  ``eps64 / tau``).

The cheaper of the two is picked per fold from the shapes.
"""

import threading

import numpy as np

from ._scores import scores_from_moments

__all__ = ["eigh", "eigh_many", "f64_cost_ratio", "fold_moments", "keep_rank",
           "prepare_alpha_path", "score_alpha_path"]

# relative eigenvalue gap under which two components are handled directly
PF_TAU = 1e-9
# "auto" | "always" | "never" (tests force each path)
PF_MODE = "auto"


def eigh(a):
    """Symmetric eigendecomposition in float64 (ascending eigenvalues).

    LAPACK's tridiagonal reduction is a long chain of small BLAS-2 calls; with
    several BLAS threads each call waits on the others, which costs 10-20x
    when another process shares the cores. Matrices up to 4096 are
    therefore decomposed with one BLAS thread (measured: 0.74 s against
    15.9 s for n = 1600 on a loaded 2-core machine).
    """
    a = np.asarray(a, dtype=np.float64)
    if a.shape[0] <= 4096:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return np.linalg.eigh(a)
    return np.linalg.eigh(a)


# float32 decompositions are accepted only when (lam_max + alpha) / (lam_min + alpha)
# stays below this at the smallest alpha: their backward error (~eps32 ||K||)
# then moves the regularized inverse by at most ~ EIGH32_MAX_COND * eps32.
EIGH32_MAX_COND = 50.0
# counters, read by the tests: decompositions run in float32 and float64
EIGH_CALLS = {"float32": 0, "float64": 0}
_COUNT_LOCK = threading.Lock()


def _count(kind):
    with _COUNT_LOCK:
        EIGH_CALLS[kind] += 1


def _eigh32(a, shift):
    """float32 eigendecomposition (LAPACK syevd) of a float64 matrix, returned in
    float64; None when the regularized matrix is too ill-conditioned for it."""
    import scipy.linalg

    try:
        lam, U = scipy.linalg.eigh(a.astype(np.float32), driver="evd", overwrite_a=True,
                                   check_finite=False)
    except np.linalg.LinAlgError:  # pragma: no cover - did not converge
        return None
    lam = lam.astype(np.float64)
    top = float(np.abs(lam).max()) if lam.size else 0.0
    bottom = max(float(lam.min()), 0.0) if lam.size else 0.0
    if not (np.isfinite(top) and np.isfinite(U).all()):
        return None
    # a float32 eigenvalue is known to about eps32 * top: count that in the bottom
    bottom = max(bottom - 8 * np.finfo(np.float32).eps * top * a.shape[0] ** 0.5, 0.0)
    if not shift > 0 or (top + shift) > EIGH32_MAX_COND * (bottom + shift):
        return None
    _count("float32")
    return lam, U.astype(np.float64)


def _deflate_constant(a):
    """Remove the constant vector from a matrix that annihilates it (a centred kernel).

    With the Householder reflector ``H = I - beta v v^T`` mapping ``1 / sqrt(m)`` to
    ``e_1``, ``H a H`` has a zero first row and column; its trailing block holds
    every other eigenpair. Returns ``(block, v, beta)`` (O(m^2) work).
    """
    m = a.shape[0]
    v = np.full(m, 1.0 / np.sqrt(m))
    v[0] -= 1.0
    beta = 2.0 / float(v @ v)
    w = beta * (a @ v)
    q = w - (0.5 * beta * float(v @ w)) * v
    b = a - np.outer(v, q)
    b -= np.outer(q, v)
    return b[1:, 1:], v, beta


def _eigh_checked(a, shift=None, deflate=False):
    """Eigenpairs of ``a`` (float32 when ``shift`` allows it, else float64).

    ``deflate``: ``a`` is a centred kernel (``a 1 = 0``); its known null vector
    is removed first, so that it neither blocks the float32 condition test nor
    is returned (m - 1 eigenpairs).
    """
    if deflate and a.shape[0] > 1:
        b, v, beta = _deflate_constant(a)
        lam, Ub = _eigh_checked(b, shift)
        U = np.empty((a.shape[0], Ub.shape[1]))
        U[0] = 0.0
        U[1:] = Ub
        U -= np.outer(beta * v, v[1:] @ Ub)
        return lam, U
    if shift is not None:
        res = _eigh32(a, shift)
        if res is not None:
            return res
    _count("float64")
    return np.linalg.eigh(a)


def n_cpus():
    """CPU cores this process may run on."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def eigh_many(mats, shift=None, deflate=False):
    """:func:`eigh` of several matrices, run concurrently on the CPU cores.

    Each decomposition uses one BLAS thread (see :func:`eigh`), so folds
    are decomposed side by side instead (LAPACK releases the GIL).
    Matrices larger than 4096 are done one after another with all threads.

    ``shift`` (the smallest alpha), when given, allows a float32
    decomposition (about 2x faster) for every matrix ``M`` whose
    ``M + shift I`` is well conditioned (``EIGH32_MAX_COND``); the others
    are decomposed in float64. Use it only when the products that follow
    are in float32 anyway. ``deflate=True``: the matrices are centred kernels
    whose constant null vector is removed before the decomposition (see
    :func:`_eigh_checked`); each then returns m - 1 eigenpairs.
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    mats = [np.asarray(m, dtype=np.float64) for m in mats]
    small = [i for i, m in enumerate(mats) if m.shape[0] <= 4096]
    out = [None] * len(mats)
    n_cpu = n_cpus()
    if small:
        with threadpool_limits(limits=1, user_api="blas"):
            with ThreadPoolExecutor(max_workers=max(1, min(n_cpu, len(small)))) as pool:
                res = pool.map(lambda m: _eigh_checked(m, shift, deflate),
                               [mats[i] for i in small])
                for i, r in zip(small, res):
                    out[i] = r
    for i, m in enumerate(mats):
        if out[i] is None:
            out[i] = _eigh_checked(m, shift, deflate)
    return out


def keep_rank(lam, size, eps):
    """Boolean mask of eigenvalues above ``lam_max * size * eps`` (rank cut)."""
    if lam.size == 0:
        return np.zeros(0, dtype=bool)
    top = lam.max()
    if top <= 0:
        return np.zeros(lam.shape, dtype=bool)
    return lam > top * size * eps


def _factor(G, rows=None):
    """``F`` with ``F^T F = G`` (eigh, small eigenvalues dropped)."""
    if rows is not None:
        return rows
    mu, E = eigh(G)
    keep = keep_rank(mu, max(G.shape[0], 1), np.finfo(np.float64).eps)
    return np.sqrt(mu[keep])[:, None] * E[:, keep].T


def f64_cost_ratio(be):
    """Cost of a float64 GEMM flop relative to one in the working dtype of ``be``.

    1 when the work is float64; 2.5 on CPUs (measured with OpenBLAS: 2.1-2.5x)
    and data-centre GPUs (A100, H100, H200, B200: FP64 at half the FP32 rate,
    plus the casts); 32 on other GPUs, whose FP64 units are a small fraction.
    """
    if be.dtype_name == "float64":
        return 1.0
    if not be.is_cuda:
        return 2.5
    try:
        import torch

        name = torch.cuda.get_device_name(be.device)
    except Exception:  # pragma: no cover - no device name
        return 2.5
    return 2.5 if any(k in name for k in ("A100", "H100", "H200", "B100", "B200", "GH200",
                                          "V100", "A30", "MI2", "MI3")) else 32.0


def prepare_alpha_path(f, P, lam, alphas, be):
    """Set the X-side arrays of fold ``f`` for :func:`score_alpha_path`.

    Parameters
    ----------
    f : object with attributes set here
    P : ndarray, shape (n_te, r), float64
    lam : ndarray, shape (r,), ascending, float64
    alphas : ndarray, shape (A,)
    be : Backend
    """
    n_te, r = P.shape
    A = len(alphas)
    f.lam = lam
    f.p1 = be.asarray(P.sum(0))
    f.p1_host = P.sum(0)
    m = min(n_te, r)
    direct_cost = A * m * r
    G = P.T @ P if r else np.zeros((0, 0))
    groups = []
    if r > 1:
        thr = PF_TAU * (lam.max() + float(np.max(alphas)))
        cuts = np.flatnonzero(np.diff(lam) >= thr) + 1
        groups = [g for g in np.split(np.arange(r), cuts) if g.size > 1]
    # the partial-fraction product runs in float64: weigh it by the float64 / working
    # dtype cost ratio of this device (direct products run in the working dtype)
    pf_cost = f64_cost_ratio(be) * r * r + A * sum(g.size**2 for g in groups)
    use_pf = r > 1 and (PF_MODE == "always" or (PF_MODE == "auto" and pf_cost < direct_cost))
    f.pf = use_pf
    if not use_pf:
        F = _factor(G, P if n_te <= r else None)
        f.F = be.asarray(np.ascontiguousarray(F))
        f.m_rows = F.shape[0]
        return
    in_group = np.zeros(r, dtype=bool)
    same = np.zeros((r, r), dtype=bool)
    f.groups = []
    for g in groups:
        in_group[g] = True
        same[np.ix_(g, g)] = True
        f.groups.append((be.index(g), be.asarray(np.ascontiguousarray(_factor(G[np.ix_(g, g)])))))
    gap = lam[None, :] - lam[:, None]  # lam_l - lam_k
    np.fill_diagonal(same, True)
    with np.errstate(divide="ignore", invalid="ignore"):
        Gh = np.where(same, 0.0, G / np.where(same, 1.0, gap))
    f.Gh = be.asarray(Gh, dtype=be.float64)
    f.w_single = be.asarray(np.where(in_group, 0.0, np.diag(G)), dtype=be.float64)
    f.m_rows = r


def score_alpha_path(f, Z, B, Yte, m_y, alphas, scoring, be):
    """Scores (A, t_b) of every alpha on fold ``f``.

    Parameters
    ----------
    f : fold prepared by :func:`prepare_alpha_path` (also ``n_te``)
    Z, B : backend arrays, shape (r, t_b)
        ``Z`` as in the module doc, ``B = P^T (Y_te - m_y)`` (overwritten).
    Yte : backend array, shape (n_te, t_b)
    m_y : backend array, shape (t_b,) | None
        Training mean of Y (None without intercept).
    alphas : ndarray, shape (A,)
    scoring : "r2" | "correlation" | "neg_mse"
    be : Backend

    Returns
    -------
    scores : ndarray, shape (A, t_b), float64
    """
    A = len(alphas)
    Dm = 1.0 / (f.lam[None, :] + alphas[:, None])  # (A, r), float64
    Dm_b = be.asarray(Dm)
    B *= Z  # B is not used afterwards
    cross = be.to_numpy(Dm_b @ B).astype(np.float64)
    psum = be.to_numpy(be.asarray(Dm * f.p1_host[None, :]) @ Z).astype(np.float64)
    if f.pf:
        quad = np.zeros_like(cross)
        for idx, Fg in f.groups:
            Zg = Z[idx]
            Dg = Dm_b[:, idx]
            for a in range(A):
                M = Fg @ (Dg[a][:, None] * Zg)
                quad[a] += be.to_numpy(be.sumsq(M))
        Z64 = be.cast(Z, "float64")
        if Z64 is Z:  # float64 working dtype: Z is overwritten below
            Z64 = Z64.copy() if be.name == "numpy" else Z64.clone()
        D64 = be.asarray(Dm, dtype=be.float64)
        U = f.Gh @ Z64
        U *= Z64
        quad += 2.0 * be.to_numpy(D64 @ U)
        del U
        Z64 *= Z64
        quad += be.to_numpy((D64 * D64 * f.w_single[None, :]) @ Z64)
        del Z64
    else:
        quad = np.empty_like(cross)
        for a in range(A):
            M = f.F @ (Dm_b[a][:, None] * Z)
            quad[a] = be.to_numpy(be.sumsq(M))
    n_te, sst, ycc, syc, _ = fold_moments(Yte, m_y, be)
    return scores_from_moments(scoring, n_te, sst, ycc, syc, cross, psum, quad,
                               eps=100 * np.finfo(be.dtype_name).eps)


def fold_moments(Yte, m_y, be):
    """Test-side sums of one fold: ``(n_te, sst, ycc, syc, m_y)``, float64 (t_b,).

    ``sst`` about the test mean (0 for a target constant within the fold),
    ``ycc = sum((y - m_y)^2)`` and ``syc = sum(y - m_y)`` with ``m_y`` the
    training mean (zeros without intercept).
    """
    n_te = Yte.shape[0]
    sy_te = Yte.sum(0)
    dev = Yte - (sy_te / n_te)[None, :]
    sst = be.to_numpy(be.sumsq(dev)).astype(np.float64)
    del dev
    raw = be.to_numpy(be.sumsq(Yte, accurate=False)).astype(np.float64)  # a scale only
    sy_te = be.to_numpy(sy_te).astype(np.float64)
    my = np.zeros_like(sy_te) if m_y is None else be.to_numpy(m_y).astype(np.float64)
    eps = np.finfo(be.dtype_name).eps
    sst = np.where(sst > 100 * eps**2 * n_te * raw, sst, 0.0)  # constant within the fold
    ycc = sst + n_te * (sy_te / n_te - my) ** 2
    syc = sy_te - n_te * my
    return n_te, sst, ycc, syc, my
