"""Topological RSA (tRSA): the geo-topological transform of RDMs and their comparison.

Reference: Lin B, Kriegeskorte N (2024). The topology and geometry of neural
representations. PNAS 121(42):e2317881121 (arXiv:2309.11028).
"""

import numpy as np

from .._utils.validation import check_option
from ._rsa import _as_rdm_stack, _vector_to_square, compare_rdms

__all__ = ["compare_trsa", "geotopological_transform"]


def _thresholds(V, lower, upper, thresholds):
    check_option("thresholds", thresholds, ("quantile", "distance"))
    for name, value in (("lower", lower), ("upper", upper)):
        if not np.isscalar(value) or not np.isfinite(value):
            raise ValueError(f"Invalid value for `{name}`: expected a finite number, got {value!r}.")
        if thresholds == "quantile" and not 0 <= value <= 1:
            raise ValueError(
                f"Invalid value for `{name}`: expected a quantile in [0, 1] with "
                f"thresholds='quantile', got {value!r}. Pass thresholds='distance' for "
                "thresholds in distance units."
            )
    if lower > upper:
        raise ValueError(f"Invalid value for `upper`: expected a threshold >= `lower` ({lower!r}), "
                         f"got {upper!r}.")
    if thresholds == "quantile":
        lo = np.quantile(V, lower, axis=1)
        hi = np.quantile(V, upper, axis=1)
    else:
        lo = np.full(V.shape[0], float(lower))
        hi = np.full(V.shape[0], float(upper))
    return lo[:, None], hi[:, None]


def geotopological_transform(rdms, lower=0.0, upper=1.0, thresholds="quantile", squareform=False):
    """Geo-topological transform of dissimilarities (Lin and Kriegeskorte, 2024).

    ``g(d) = 0`` if ``d <= l``; ``(d - l) / (u - l)`` if ``l < d < u``; ``1``
    if ``d >= u``. Small distances collapse to 0 (neighbours), large ones to
    1 (unrelated): only the local geometry in between is kept. ``l = 0`` and
    ``u = max(d)`` (``thresholds="distance"``) rescale the RDM by its maximum,
    keeping the geometry: every comparison measure is unchanged. ``l = u``
    gives a binary adjacency graph (pure topology: 1 where ``d > l``).

    Parameters
    ----------
    rdms : array (n_pairs,) | (n_cond, n_cond) | (n_rdms, n_pairs) | (n_rdms, n_cond, n_cond)
        One RDM or a stack (upper-triangle vectors or square matrices).
    lower, upper : float
        Thresholds ``l <= u``: quantiles in [0, 1] of each RDM's own
        dissimilarities (``thresholds="quantile"``, the default, as
        rsatoolbox's ``geotopological_transform`` for a single RDM) or values
        in distance units (``thresholds="distance"``).
    thresholds : {"quantile", "distance"}
        How to read ``lower`` and ``upper``.
    squareform : bool
        Return square matrices.

    Returns
    -------
    transformed : array (n_pairs,) | (n_rdms, n_pairs)
        Values in [0, 1]; square matrices (n_cond, n_cond) or
        (n_rdms, n_cond, n_cond) with ``squareform=True``.

    Examples
    --------
    >>> d = np.array([0.1, 0.4, 0.5, 0.9, 1.2, 2.0])
    >>> geotopological_transform(d, 0.5, 1.5, thresholds="distance").round(2).tolist()
    [0.0, 0.0, 0.0, 0.4, 0.7, 1.0]
    """
    V, single = _as_rdm_stack(rdms, "rdms")
    lo, hi = _thresholds(V, lower, upper, thresholds)
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        G = np.where(span > 0, (V - lo) / np.where(span > 0, span, 1.0), (V > lo).astype(float))
    G = np.clip(G, 0.0, 1.0)
    G[V <= lo] = 0.0
    G[(V >= hi) & (V > lo)] = 1.0
    out = _vector_to_square(G) if squareform else G
    return out[0] if single else out


def compare_trsa(a, b, lower=0.0, upper=1.0, method="pearson", thresholds="quantile"):
    """Compare RDMs after the geo-topological transform of each (tRSA).

    Parameters
    ----------
    a, b : array
        RDMs or stacks, as :func:`neurotoolkit.analysis.compare_rdms`.
    lower, upper : float
        Thresholds (see :func:`geotopological_transform`); choose them on
        held-out data (e.g. by how well regions are told apart).
    method : {"pearson", "spearman", "kendall_tau_a", "cosine"}
        Comparison of the transformed matrices (Pearson by default: the
        transform creates ties at 0 and 1, which rank measures treat as ties).
    thresholds : {"quantile", "distance"}

    Returns
    -------
    similarity : float | array
        Shapes as :func:`neurotoolkit.analysis.compare_rdms`.
    """
    return compare_rdms(geotopological_transform(a, lower, upper, thresholds),
                        geotopological_transform(b, lower, upper, thresholds), method)
