"""Representational similarity analysis: RDMs, RDM comparison, noise ceiling.

See Kriegeskorte et al. (Front. Syst. Neurosci. 2008) and Nili et al. (PLoS Comput. Biol. 2014). An RDM of ``n_cond`` conditions is stored as its
upper-triangle vector (``n_pairs = n_cond * (n_cond - 1) / 2`` entries, the
order of :func:`scipy.spatial.distance.squareform`) or as the square matrix.
"""

from collections import namedtuple
from pathlib import Path

import numpy as np
from scipy import stats

from .._utils.validation import check_array, check_option, check_type, describe

__all__ = [
    "RDMNoiseCeiling",
    "compare_rdms",
    "crossnobis_rdm",
    "load_rdms_mat",
    "rdm",
    "rdm_noise_ceiling",
]

_METRICS = ("correlation", "euclidean", "sqeuclidean", "cosine")
_METHODS = ("spearman", "kendall_tau_a", "pearson", "cosine")

RDMNoiseCeiling = namedtuple("RDMNoiseCeiling", ["lower", "upper"])
RDMNoiseCeiling.__doc__ = """Noise ceiling of model-RDM similarity (lower and upper bound, floats)."""


# ----------------------------------------------------------------- helpers
def _n_cond_from_pairs(n_pairs, name):
    n = round((1 + np.sqrt(1 + 8 * n_pairs)) / 2)
    if n * (n - 1) // 2 != n_pairs or n < 2:
        raise ValueError(
            f"Invalid value for `{name}`: expected an RDM vector of length n_cond * (n_cond - 1) / 2, "
            f"got length {n_pairs}, which is not such a number."
        )
    return n


def _square_to_vector(mats, name):
    """(..., n, n) -> (..., n_pairs) upper triangle (row-major, k=1)."""
    n = mats.shape[-1]
    iu = np.triu_indices(n, k=1)
    if not np.allclose(mats, np.swapaxes(mats, -1, -2), rtol=1e-5, atol=1e-8, equal_nan=True):
        raise ValueError(
            f"Invalid value for `{name}`: expected symmetric RDM matrices, got an asymmetric one. "
            "Pass the upper-triangle vector instead if the matrix is meant to be read that way."
        )
    return mats[..., iu[0], iu[1]]


def _as_rdm_stack(value, name):
    """Return (vectors (n_rdms, n_pairs), single) from one or several RDMs.

    Accepted: a vector (n_pairs,), a square matrix (n, n), a stack of vectors
    (n_rdms, n_pairs) with n_rdms != n_pairs, or a stack of squares
    (n_rdms, n, n). A 2-D square array is always read as one matrix.
    """
    arr = check_array(name, value, ndim=(1, 2, 3))
    if arr.ndim == 1:
        _n_cond_from_pairs(arr.shape[0], name)
        return arr[None].astype(np.float64), True
    if arr.ndim == 2 and arr.shape[0] == arr.shape[1]:
        return _square_to_vector(arr, name)[None].astype(np.float64), True
    if arr.ndim == 2:
        _n_cond_from_pairs(arr.shape[1], name)
        return arr.astype(np.float64), False
    if arr.shape[1] != arr.shape[2]:
        raise ValueError(
            f"Invalid value for `{name}`: expected a stack of square RDMs (n_rdms, n_cond, n_cond), "
            f"got shape {arr.shape}."
        )
    return _square_to_vector(arr, name).astype(np.float64), False


def _vector_to_square(vecs):
    n = _n_cond_from_pairs(vecs.shape[-1], "rdm")
    out = np.zeros(vecs.shape[:-1] + (n, n), dtype=vecs.dtype)
    iu = np.triu_indices(n, k=1)
    out[..., iu[0], iu[1]] = vecs
    out[..., iu[1], iu[0]] = vecs
    return out


# ----------------------------------------------------------------- RDMs
def rdm(patterns, metric="correlation", squareform=False):
    """Representational dissimilarity matrix of condition patterns.

    Parameters
    ----------
    patterns : array (n_cond, n_units) | array (n_sets, n_cond, n_units)
        One activity pattern per condition (e.g. averaged betas of an ROI);
        a 3-D array gives one RDM per set (subjects, time points, layers).
    metric : {"correlation", "euclidean", "sqeuclidean", "cosine"}
        ``1 - r(b_i, b_j)`` (default), ``||b_i - b_j||``, its square, or
        ``1 - cos(b_i, b_j)``; the same values as
        :func:`scipy.spatial.distance.pdist`. (rsatoolbox's "euclidean" is
        ``"sqeuclidean"`` divided by ``n_units``.)
    squareform : bool
        Return square matrices instead of upper-triangle vectors.

    Returns
    -------
    rdm : array (n_pairs,) | (n_cond, n_cond) | (n_sets, n_pairs) | (n_sets, n_cond, n_cond)
        ``n_pairs = n_cond * (n_cond - 1) / 2``, ordered as
        :func:`scipy.spatial.distance.squareform` (row-major upper triangle).

    Notes
    -----
    A pattern with zero variance (correlation) or zero norm (cosine) has an
    undefined distance: an error names it. For noisy single-run patterns
    prefer :func:`crossnobis_rdm` (shared noise biases correlation distances).

    Examples
    --------
    >>> B = np.random.default_rng(0).normal(size=(5, 20))
    >>> rdm(B).shape
    (10,)
    """
    arr = check_array("patterns", patterns, ndim=(2, 3))
    check_option("metric", metric, _METRICS)
    single = arr.ndim == 2
    B = arr[None] if single else arr
    if B.shape[1] < 2 or B.shape[2] < 1:
        raise ValueError(
            "Invalid value for `patterns`: expected at least 2 conditions and 1 unit "
            f"(n_cond, n_units), got shape {arr.shape}."
        )
    B = B.astype(np.float64)
    if metric in ("correlation", "cosine"):
        if metric == "correlation":
            B = B - B.mean(axis=-1, keepdims=True)
        norms = np.linalg.norm(B, axis=-1, keepdims=True)
        bad = np.argwhere(norms[..., 0] <= 1e-12 * max(1.0, float(np.abs(arr).max())))
        if len(bad):
            what = "zero variance" if metric == "correlation" else "zero norm"
            raise ValueError(
                f"Invalid value for `patterns`: expected patterns with nonzero spread for metric "
                f"{metric!r}, got {what} for condition(s) {bad[:8, -1].tolist()}."
            )
        B = B / norms
        D = 1.0 - B @ np.swapaxes(B, -1, -2)
    else:
        sq = (B**2).sum(-1)
        D = sq[..., :, None] + sq[..., None, :] - 2.0 * B @ np.swapaxes(B, -1, -2)
        D = np.maximum(D, 0.0)
        if metric == "euclidean":
            D = np.sqrt(D)
    n = D.shape[-1]
    iu = np.triu_indices(n, k=1)
    vec = D[:, iu[0], iu[1]]
    out = _vector_to_square(vec) if squareform else vec
    return out[0] if single else out


def crossnobis_rdm(patterns, noise_cov=None, residuals=None, squareform=False):
    """Cross-validated Mahalanobis (crossnobis) RDM from independent data partitions.

    ``d_ij = mean_{A != B} (b_i - b_j)_A^T S^-1 (b_i - b_j)_B / n_units`` over
    all ordered pairs of partitions (runs), with ``S`` the noise covariance.
    Unbiased: zero in expectation for identical conditions; can be negative.

    Parameters
    ----------
    patterns : array (n_partitions, n_cond, n_units)
        Condition patterns estimated separately in each partition (run).
    noise_cov : array (n_units, n_units) | None
        Noise covariance ``S``. Default: Ledoit-Wolf shrinkage estimate from
        ``residuals``, or the identity (cross-validated Euclidean) when no
        residuals are given.
    residuals : array (n_samples, n_units) | None
        Residuals of the first-level model, to estimate ``S``.
    squareform : bool
        Return the square matrix.

    Returns
    -------
    rdm : array (n_pairs,) | (n_cond, n_cond)
    """
    P = check_array("patterns", patterns, ndim=3).astype(np.float64)
    n_part, n_cond, n_units = P.shape
    if n_part < 2 or n_cond < 2:
        raise ValueError(
            "Invalid value for `patterns`: expected at least 2 partitions and 2 conditions "
            f"(n_partitions, n_cond, n_units), got shape {P.shape}."
        )
    if noise_cov is not None and residuals is not None:
        raise ValueError(
            "Invalid value for `residuals`: expected None when `noise_cov` is given, got both."
        )
    if residuals is not None:
        from sklearn.covariance import LedoitWolf

        res = check_array("residuals", residuals, ndim=2)
        if res.shape[1] != n_units:
            raise ValueError(
                f"Invalid value for `residuals`: expected {n_units} columns (n_units), "
                f"got shape {res.shape}."
            )
        noise_cov = LedoitWolf().fit(res).covariance_
    if noise_cov is not None:
        S = check_array("noise_cov", noise_cov, ndim=2)
        if S.shape != (n_units, n_units):
            raise ValueError(
                f"Invalid value for `noise_cov`: expected shape ({n_units}, {n_units}), got {S.shape}."
            )
        # whiten: S^-1/2 via eigendecomposition (S symmetric positive definite)
        w, V = np.linalg.eigh((S + S.T) / 2)
        if w.min() <= 0:
            raise ValueError(
                "Invalid value for `noise_cov`: expected a positive definite matrix, got smallest "
                f"eigenvalue {w.min():.3g}. Use a shrinkage estimate (pass `residuals=`)."
            )
        P = P @ (V / np.sqrt(w)) @ V.T
    iu = np.triu_indices(n_cond, k=1)
    diffs = P[:, iu[0], :] - P[:, iu[1], :]  # (n_part, n_pairs, n_units)
    total = diffs.sum(axis=0)
    # sum over A != B of <d_A, d_B> = <sum d, sum d> - sum_A <d_A, d_A>
    cross = (total**2).sum(-1) - (diffs**2).sum(axis=(0, 2))
    vec = cross / (n_part * (n_part - 1) * n_units)
    return _vector_to_square(vec) if squareform else vec


# ------------------------------------------------------------ comparison
def _rank_rows(V):
    return np.apply_along_axis(stats.rankdata, -1, V)


def _normalize_rows(V, center, name):
    V = V - V.mean(axis=-1, keepdims=True) if center else V
    norms = np.linalg.norm(V, axis=-1, keepdims=True)
    if np.any(norms <= 1e-300):
        raise ValueError(
            f"Invalid value for `{name}`: expected RDMs with nonzero variance, got a constant RDM."
        )
    return V / norms


def _kendall_tau_a(A, B, chunk=512):
    """Kendall tau-a between each row of A and each row of B (n_a, n_b)."""
    n = A.shape[1]
    out = np.zeros((A.shape[0], B.shape[0]))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        sa = np.sign(A[:, start:stop, None] - A[:, None, :])  # (n_a, c, n)
        sb = np.sign(B[:, start:stop, None] - B[:, None, :])
        out += np.einsum("acn,bcn->ab", sa, sb)
    return out / (n * (n - 1))  # each unordered pair counted twice


def compare_rdms(a, b, method="spearman"):
    """Similarity between RDMs (model vs brain, or any two sets).

    Parameters
    ----------
    a, b : array
        One RDM (vector (n_pairs,) or square (n_cond, n_cond)) or a stack
        (n_rdms, n_pairs) or (n_rdms, n_cond, n_cond); both over the same
        conditions in the same order. A 2-D square array is read as one matrix.
    method : {"spearman", "kendall_tau_a", "pearson", "cosine"}
        Spearman rho for graded model RDMs (default); Kendall tau-a when the
        model has ties (categorical models); Pearson r; cosine similarity.

    Returns
    -------
    similarity : float | array (n_b,) | array (n_a,) | array (n_a, n_b)
        One value per pair of RDMs; single RDMs drop their axis.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> model, subjects = rng.random(10), rng.random((4, 10))
    >>> compare_rdms(model, subjects).shape
    (4,)
    """
    check_option("method", method, _METHODS)
    A, a_single = _as_rdm_stack(a, "a")
    B, b_single = _as_rdm_stack(b, "b")
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"Invalid value for `b`: expected RDMs over the same conditions as `a` "
            f"({A.shape[1]} pairs, {_n_cond_from_pairs(A.shape[1], 'a')} conditions), "
            f"got {B.shape[1]} pairs ({_n_cond_from_pairs(B.shape[1], 'b')} conditions)."
        )
    if method == "kendall_tau_a":
        sim = _kendall_tau_a(A, B)
    else:
        if method == "spearman":
            A, B = _rank_rows(A), _rank_rows(B)
        center = method != "cosine"
        sim = _normalize_rows(A, center, "a") @ _normalize_rows(B, center, "b").T
        sim = np.clip(sim, -1.0, 1.0)
    if a_single and b_single:
        return float(sim[0, 0])
    if a_single:
        return sim[0]
    if b_single:
        return sim[:, 0]
    return sim


def rdm_noise_ceiling(rdms, method="spearman"):
    """Lower and upper bound of the noise ceiling for model-RDM similarity.

    Over S subjects: *upper* = mean_s sim(RDM_s, mean RDM of all subjects);
    *lower* = mean_s sim(RDM_s, mean RDM of the other subjects) (leave one
    subject out). Before averaging, RDMs are rank-transformed (spearman,
    kendall_tau_a), z-scored (pearson) or scaled to unit norm (cosine), so
    that the mean is the best-fitting RDM for that measure. A model whose
    mean similarity to the subjects (``compare_rdms(model, rdms,
    method).mean()``) reaches the lower bound explains all the variance that
    subjects share.

    Parameters
    ----------
    rdms : array (n_subjects, n_pairs) | array (n_subjects, n_cond, n_cond)
        One RDM per subject (average sessions first), at least 2 subjects.
    method : {"spearman", "kendall_tau_a", "pearson", "cosine"}
        The same measure as used to score models.

    Returns
    -------
    ceiling : RDMNoiseCeiling
        Named tuple ``(lower, upper)`` of floats.
    """
    check_option("method", method, _METHODS)
    V, single = _as_rdm_stack(rdms, "rdms")
    if single or V.shape[0] < 2:
        raise ValueError(
            "Invalid value for `rdms`: expected a stack of at least 2 subject RDMs "
            f"(n_subjects, n_pairs), got {describe(np.asarray(rdms))}."
        )
    if method in ("spearman", "kendall_tau_a"):
        T = _rank_rows(V)
    elif method == "pearson":
        T = _normalize_rows(V, True, "rdms")
    else:
        T = _normalize_rows(V, False, "rdms")
    S = V.shape[0]
    mean_all = T.mean(axis=0)
    upper = np.mean([compare_rdms(V[s], mean_all, method) for s in range(S)])
    lower = np.mean(
        [compare_rdms(V[s], (mean_all * S - T[s]) / (S - 1), method) for s in range(S)]
    )
    return RDMNoiseCeiling(float(lower), float(upper))


# ------------------------------------------------------------------ I/O
def load_rdms_mat(fname, squareform=True):
    """Read RDMs from a MATLAB file in the rsatoolbox (MATLAB) format.

    The file holds a struct array ``RDMs`` with fields ``RDM`` (square matrix
    or upper-triangle vector) and ``name``, e.g. ``brain_rdms_hIT.mat`` of the
    92-object set (human IT, 4 subjects x 2 sessions).

    Parameters
    ----------
    fname : path-like
        The .mat file.
    squareform : bool
        Square matrices (default) or upper-triangle vectors.

    Returns
    -------
    rdms : array, shape ``(*shape, n_cond, n_cond)`` | ``(*shape, n_pairs)``
        ``shape`` is the struct array's shape with singleton axes dropped,
        (4, 2) = (subjects, sessions) for ``brain_rdms_hIT.mat``.
    names : array of str, shape ``shape``
        The ``name`` field, e.g. ``"hIT | BE | Session: 1"``.
    """
    from scipy.io import loadmat

    check_type("fname", fname, "path-like")
    path = Path(fname)
    if not path.is_file():
        raise FileNotFoundError(f"Invalid value for `fname`: expected an existing .mat file, got '{path}'.")
    mat = loadmat(path, squeeze_me=True, struct_as_record=False)
    if "RDMs" not in mat:
        keys = [k for k in mat if not k.startswith("__")]
        raise ValueError(
            f"Invalid value for `fname`: expected a MATLAB struct array `RDMs` in '{path}', "
            f"got variables {keys}."
        )
    structs = np.atleast_1d(mat["RDMs"])
    shape = structs.shape
    vecs, names = [], []
    for idx in np.ndindex(shape):
        entry = structs[idx]
        arr = np.asarray(entry.RDM, dtype=np.float64)
        vec = _as_rdm_stack(arr, f"RDMs{list(idx)}.RDM")[0][0]
        vecs.append(vec)
        names.append(str(getattr(entry, "name", "")))
    lengths = {len(v) for v in vecs}
    if len(lengths) != 1:
        raise ValueError(
            f"Invalid value for `fname`: expected RDMs of one size in '{path}', got sizes "
            f"{sorted(_n_cond_from_pairs(n, 'RDM') for n in lengths)}."
        )
    out = np.stack(vecs).reshape(shape + (vecs[0].shape[0],))
    if squareform:
        out = _vector_to_square(out)
    return out, np.asarray(names, dtype=object).reshape(shape)
