"""BrainSCUBA projection of voxel weights onto natural-image embeddings (Luo et al., ICLR 2024).

Voxel weight vectors of an encoder fitted on image embeddings point away from
where real image embeddings lie. ``project_to_natural`` replaces each weight
vector by a softmax-weighted average of a pool of natural-image embeddings,
averaging direction and norm separately so that the result has a realistic
norm. The pool is streamed in chunks with an online log-sum-exp, so it may be
much larger than memory (a memmap, or an iterable of chunks).
"""

from typing import NamedTuple

import numpy as np

from ..._utils.backend import get_backend, to_numpy
from ..._utils.device import resolve_device
from ..._utils.docs import fill_doc
from ..._utils.logging import logger, verbose
from ..._utils.memory import batch_size_from_budget, format_bytes, resolve_memory_budget
from ..._utils.validation import _raise, check_array, check_int, check_type, describe

__all__ = ["NaturalProjection", "project_to_natural"]

_EPS = 1e-12


class NaturalProjection(NamedTuple):
    """Output of :func:`project_to_natural` when ``top_k`` is given.

    Attributes
    ----------
    embeddings : array (n_voxels, dim)
        Projected vectors ``n_i * d_i / ||d_i||``.
    indices : array (n_voxels, top_k) of int64
        Pool rows with the largest softmax weights, best first (row numbers
        counted over the whole stream of chunks).
    weights : array (n_voxels, top_k)
        Their softmax weights ``p_ij`` (over the whole pool; a row sums to at
        most 1).
    """

    embeddings: np.ndarray
    indices: np.ndarray
    weights: np.ndarray


def _check_temperature(temperature):
    check_type("temperature", temperature, "numeric")
    if not np.isfinite(temperature) and temperature != np.inf or temperature <= 0:
        _raise("temperature", "a positive float (tau; 1/tau = 150 in BrainSCUBA) or inf",
               describe(temperature))
    return float(temperature)


class _Ops:
    """The few numpy/torch operations the streaming loop needs."""

    def __init__(self, bk):
        self.bk = bk
        self.np = bk.name == "numpy"
        if not self.np:
            self.torch = bk._torch

    def norm_rows(self, a):
        if self.np:
            return np.sqrt(np.einsum("ij,ij->i", a, a))
        return self.torch.linalg.vector_norm(a, dim=1)

    def rowmax(self, a):
        return a.max(axis=1) if self.np else a.max(dim=1).values

    def maximum(self, a, b):
        return np.maximum(a, b) if self.np else self.torch.maximum(a, b)

    def exp(self, a):
        return np.exp(a) if self.np else self.torch.exp(a)

    def topk(self, scores, idx, k):
        """Top ``k`` of each row of ``scores`` (values, idx), best first."""
        if self.np:
            k = min(k, scores.shape[1])
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            vals = np.take_along_axis(scores, part, axis=1)
            order = np.argsort(-vals, axis=1, kind="stable")
            part = np.take_along_axis(part, order, axis=1)
            return np.take_along_axis(scores, part, axis=1), np.take_along_axis(idx, part, axis=1)
        k = min(k, scores.shape[1])
        vals, part = self.torch.topk(scores, k, dim=1, largest=True, sorted=True)
        return vals, self.torch.gather(idx, 1, part)

    def exp_shifted_(self, a, m):
        """``exp(a - m[:, None])`` computed in place in ``a``."""
        if self.np:
            np.subtract(a, m[:, None], out=a)
            return np.exp(a, out=a)
        return a.sub_(m[:, None]).exp_()

    def cat(self, a, b):
        return np.concatenate([a, b], axis=1) if self.np else self.torch.cat([a, b], dim=1)

    def arange_rows(self, start, stop, n_rows):
        if self.np:
            return np.broadcast_to(np.arange(start, stop, dtype=np.int64), (n_rows, stop - start))
        r = self.torch.arange(start, stop, device=self.bk.device, dtype=self.torch.int64)
        return r.expand(n_rows, stop - start)

    def full(self, shape, value, dtype):
        if self.np:
            return np.full(shape, value, dtype=dtype)
        return self.torch.full(shape, value, dtype=dtype, device=self.bk.device)


def _merge_top(ops, bk, top_vals, top_idx, logits, sl, start, n_vox, top_k):
    """Merge a chunk's logits into the running top-k (float64 values, int64 pool rows)."""
    if top_vals is None:
        int64 = np.int64 if ops.np else ops.torch.int64
        top_vals = ops.full((n_vox, top_k), -np.inf, bk.float64)
        top_idx = ops.full((n_vox, top_k), -1, int64)
    idx = ops.arange_rows(start, start + logits.shape[1], logits.shape[0])
    v, i = ops.topk(logits, idx, top_k)  # the chunk's own top-k first: a small merge
    v, i = ops.topk(ops.cat(top_vals[sl], bk.cast(v, "float64")), ops.cat(top_idx[sl], i), top_k)
    top_vals[sl], top_idx[sl] = v, i
    return top_vals, top_idx


def _iter_chunks(pool, chunk_rows, dim):
    """Yield (start_row, chunk as numpy array) over an array, memmap or iterable of chunks."""
    if isinstance(pool, np.ndarray) or hasattr(pool, "shape") and hasattr(pool, "__getitem__"):
        n = pool.shape[0]
        for start in range(0, n, chunk_rows):
            yield start, pool[start:start + chunk_rows]
        return
    start = 0
    for k, chunk in enumerate(pool):
        chunk = check_array(f"image_embeddings[chunk {k}]", chunk, ndim=2)
        if chunk.shape[1] != dim:
            raise ValueError(
                f"Invalid value for `image_embeddings`: expected chunks of shape (n, {dim}), got "
                f"shape {chunk.shape} for chunk {k}."
            )
        for s in range(0, chunk.shape[0], chunk_rows):
            yield start + s, chunk[s:s + chunk_rows]
        start += chunk.shape[0]


@fill_doc
@verbose
def project_to_natural(weights, image_embeddings, temperature=1 / 150, top_k=None,
                       batch_size=None, voxel_batch_size=4096, memory_budget=None,
                       backend="numpy", device="auto", dtype="float32", verbose=None):
    """Project voxel weight vectors onto the distribution of natural-image embeddings.

    BrainSCUBA (Luo et al., ICLR 2024). For voxel ``i``
    with weight vector ``w_i`` and pool embeddings ``e_j``::

        p_ij   = softmax_j( cos(w_i, e_j) / temperature )
        d_i    = sum_j p_ij e_j / ||e_j||        (direction)
        n_i    = sum_j p_ij ||e_j||              (norm)
        proj_i = n_i d_i / ||d_i||

    Parameters
    ----------
    weights : array (n_voxels, dim)
        One weight vector per voxel (row), in the embedding space of the
        pool, bias excluded. For a fitted ridge model whose ``coef_`` is
        (n_features, n_voxels), pass ``coef_.T``.
    image_embeddings : array (n_pool, dim) | memmap | iterable of arrays (n_j, dim)
        Raw (not normalised) embeddings of natural images. Arrays and memmaps
        are read in chunks of ``batch_size`` rows; an iterable (for example a
        generator over files) is consumed once, chunk by chunk.
    temperature : float
        Softmax temperature ``tau`` applied to cosine similarities, i.e. the
        logits are ``cos / tau``. BrainSCUBA uses ``1 / tau = 150`` (the
        default ``1 / 150``); BrainACTIV ``1 / tau = 100``. ``tau -> 0``
        returns the single most similar pool embedding (with its own norm);
        ``tau = inf`` returns the pool's mean direction scaled to its mean norm.
    top_k : int | None
        Also return, per voxel, the ``top_k`` pool rows with the largest
        softmax weights and those weights (used by
        :class:`RetrievalCaptioner`-style summaries).
    batch_size : int | None
        Pool rows per chunk. None sizes chunks from ``memory_budget``.
    voxel_batch_size : int
        Voxels scored against a chunk at once.
    %(memory_budget)s
    backend : "numpy" | "torch"
    %(device)s
        With ``backend="numpy"`` only "auto" and "cpu" are allowed.
    dtype : "float32" | "float64"
        Working precision of the logits and matrix products; the running
        maximum, the accumulators and the top-k values are kept in float64.
    %(verbose)s

    Returns
    -------
    projected : array (n_voxels, dim)
        When ``top_k`` is None.
    projection : NaturalProjection
        ``(embeddings, indices, weights)`` when ``top_k`` is an int.

    Notes
    -----
    The pool is read once. Per voxel the loop keeps the running maximum
    logit ``m``, ``sum_j exp(l_ij - m)``, ``sum_j exp(l_ij - m) e_j/||e_j||`` and
    ``sum_j exp(l_ij - m) ||e_j||`` (an online log-sum-exp), so memory is
    ``O(n_voxels * dim + voxel_batch_size * batch_size)`` whatever the pool
    size, and the cost is ``n_voxels * n_pool * dim``. BrainSCUBA repeats
    the projection on disjoint pool slices (5 x 2M images) to get several
    captions per voxel: call this function once per slice.

    Examples
    --------
    >>> proj = project_to_natural(encoder_coef.T, clip_embeddings)  # doctest: +SKIP
    """
    W = check_array("weights", weights, ndim=(1, 2))
    if W.ndim == 1:
        W = W[None, :]
    n_vox, dim = W.shape
    if n_vox == 0:
        _raise("weights", "at least one weight vector (row)", f"shape {W.shape}")
    tau = _check_temperature(temperature)
    if top_k is not None:
        top_k = check_int("top_k", top_k, min_value=1)
    voxel_batch_size = check_int("voxel_batch_size", voxel_batch_size, min_value=1)
    if backend == "torch":
        device = resolve_device(device, purpose="backend='torch'")
    elif device is None or (isinstance(device, str) and device == "auto"):
        device = None
    bk = get_backend(backend, device=device, dtype=dtype)
    ops = _Ops(bk)

    is_array = isinstance(image_embeddings, np.ndarray) or (
        hasattr(image_embeddings, "shape") and hasattr(image_embeddings, "__getitem__"))
    if is_array:
        shape = tuple(image_embeddings.shape)
        if len(shape) != 2 or shape[1] != dim:
            _raise("image_embeddings", f"an array (n_pool, {dim}) matching `weights` (dim {dim})",
                   f"shape {shape}")
        if shape[0] == 0:
            _raise("image_embeddings", "a non-empty pool", f"shape {shape}")
    elif isinstance(image_embeddings, (str, bytes)) or not hasattr(image_embeddings, "__iter__"):
        _raise("image_embeddings", "an array (n_pool, dim), a memmap or an iterable of chunks",
               describe(image_embeddings), exc=TypeError)

    vb = min(voxel_batch_size, n_vox)
    if batch_size is None:
        budget = resolve_memory_budget(memory_budget, bk)
        b = bk.itemsize
        k = top_k or 0
        fixed = 8 * n_vox * (dim + 3 + 2 * k) + b * n_vox * dim
        # a chunk and its normalised copy, the logits (exponentiated in place), top-k temporaries
        per_row = 2 * b * dim + 2 * b * vb + 24 * (k > 0) * vb
        batch_size = batch_size_from_budget(budget, fixed, per_row, 1 << 20)
        logger.debug("project_to_natural: %d pool rows per chunk (budget %s).",
                     batch_size, format_bytes(budget))
    else:
        batch_size = check_int("batch_size", batch_size, min_value=1)

    # unit-norm weights (a zero vector gives uniform weights, i.e. the pool mean)
    w_norm = np.linalg.norm(W, axis=1, keepdims=True)
    W_hat = bk.asarray(W / np.maximum(w_norm, _EPS))
    f64 = bk.float64
    m = ops.full((n_vox,), -np.inf, f64)
    s0 = bk.zeros((n_vox,), dtype=f64)
    sd = bk.zeros((n_vox, dim), dtype=f64)
    sn = bk.zeros((n_vox,), dtype=f64)
    top_vals = top_idx = None
    inv_tau = 0.0 if tau == np.inf else 1.0 / tau
    n_seen = 0
    for start, chunk in _iter_chunks(image_embeddings, batch_size, dim):
        E = bk.asarray(chunk)  # numpy, memmap slice or (torch backend) a tensor
        if E.shape[0] == 0:
            continue
        norms = ops.norm_rows(E)
        E_hat = E / (norms[:, None] + _EPS)
        for v0 in range(0, n_vox, vb):
            sl = slice(v0, min(v0 + vb, n_vox))
            logits = W_hat[sl] @ E_hat.T  # (vb, J) cosines, working dtype
            logits *= inv_tau
            m_new = ops.maximum(m[sl], bk.cast(ops.rowmax(logits), "float64"))
            scale = ops.exp(m[sl] - m_new)
            if top_k is not None:
                top_vals, top_idx = _merge_top(ops, bk, top_vals, top_idx, logits, sl, start,
                                               n_vox, top_k)
            p = ops.exp_shifted_(logits, bk.cast(m_new, bk.dtype_name))  # in place, in (0, 1]
            s0[sl] = s0[sl] * scale + bk.cast(p.sum(1), "float64")
            sd[sl] = sd[sl] * scale[:, None] + bk.cast(p @ E_hat, "float64")
            sn[sl] = sn[sl] * scale + bk.cast(p @ norms, "float64")
            m[sl] = m_new
        n_seen += E.shape[0]
    if n_seen == 0:
        _raise("image_embeddings", "a non-empty pool", "no rows")
    d = sd / s0[:, None]
    d_norm = ops.norm_rows(d)
    proj = (sn / s0)[:, None] * d / (d_norm[:, None] + _EPS)
    proj = to_numpy(bk.cast(proj, bk.dtype_name))
    logger.info("Projected %d voxels onto %d natural-image embeddings (1/tau = %.4g).",
                n_vox, n_seen, inv_tau)
    if top_k is None:
        return proj
    k = min(top_k, n_seen)
    weights_k = to_numpy(ops.exp(top_vals[:, :k] - m[:, None]) / s0[:, None])
    return NaturalProjection(proj, to_numpy(top_idx[:, :k]).astype(np.int64),
                             weights_k.astype(proj.dtype))
