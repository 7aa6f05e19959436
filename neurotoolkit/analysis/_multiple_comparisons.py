"""Multiple-comparison control: Benjamini-Hochberg FDR, Bonferroni, and
cluster-based permutation over time through MNE.

References
----------
Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate: a
practical and powerful approach to multiple testing. J R Stat Soc B 57:289-300.
Maris E, Oostenveld R (2007). Nonparametric statistical testing of EEG- and
MEG-data. J Neurosci Methods 164:177-190.
"""

from dataclasses import dataclass, field

import numpy as np

from .._utils.docs import fill_doc
from .._utils.logging import verbose as verbose_decorator
from .._utils.validation import check_array, check_fraction, check_int, check_option

__all__ = ["ClusterResult", "bonferroni", "cluster_permutation_test", "fdr_bh"]


def _check_pvalues(pvalues):
    p = check_array("pvalues", pvalues, allow_nan=True)
    finite = p[np.isfinite(p)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise ValueError(
            "Invalid value for `pvalues`: expected p-values in [0, 1] (NaN allowed for untested "
            f"units), got values in [{finite.min():.3g}, {finite.max():.3g}]."
        )
    return p


def fdr_bh(pvalues, q=0.05):
    """Benjamini-Hochberg step-up FDR control across all entries.

    Parameters
    ----------
    pvalues : array, any shape
        One p-value per test (unit, bin, ...). NaN marks an untested entry:
        it is neither counted among the tests nor rejected.
    q : float in (0, 1)
        Target false discovery rate.

    Returns
    -------
    reject : array of bool, same shape as ``pvalues``
        Tests declared significant at FDR ``q``.
    p_adjusted : array, same shape as ``pvalues``
        BH-adjusted p-values, ``min_{k >= i} m p_(k) / k`` clipped at 1 (NaN
        where the input is NaN); ``reject == p_adjusted <= q``.
    """
    p = _check_pvalues(pvalues)
    q = check_fraction("q", q, inclusive=(False, False))
    flat = p.ravel()
    ok = np.flatnonzero(np.isfinite(flat))
    adj = np.full(flat.shape, np.nan)
    m = ok.size
    if m:
        order = np.argsort(flat[ok], kind="mergesort")
        ranked = flat[ok][order] * m / np.arange(1, m + 1)
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        adj[ok[order]] = np.minimum(ranked, 1.0)
    adj = adj.reshape(p.shape)
    with np.errstate(invalid="ignore"):
        reject = np.where(np.isfinite(adj), adj <= q, False)
    return reject.astype(bool), adj


def bonferroni(pvalues, alpha=0.05):
    """Bonferroni correction across all (non-NaN) entries.

    Parameters
    ----------
    pvalues : array, any shape
        NaN marks an untested entry (not counted).
    alpha : float in (0, 1)
        Family-wise error rate.

    Returns
    -------
    reject : array of bool, same shape
    p_adjusted : array, same shape
        ``min(m p, 1)`` with ``m`` the number of finite p-values.
    """
    p = _check_pvalues(pvalues)
    alpha = check_fraction("alpha", alpha, inclusive=(False, False))
    m = int(np.isfinite(p).sum())
    adj = np.minimum(p * m, 1.0)
    with np.errstate(invalid="ignore"):
        reject = np.where(np.isfinite(adj), adj <= alpha, False)
    return reject.astype(bool), adj


@dataclass
class ClusterResult:
    """Result of a cluster-based permutation test (MNE's output, named).

    Attributes
    ----------
    statistic : array, shape (n_times,) or (n_times, ...)
        Observed statistic (t or F) at each point.
    clusters : list of array of bool
        One mask per cluster, the shape of ``statistic``.
    cluster_pvalues : array, shape (n_clusters,)
        Permutation p-value of each cluster (max cluster mass).
    h0 : array, shape (n_permutations,)
        Maximum cluster mass of each permutation.
    alpha : float
        Clusters with ``cluster_pvalues <= alpha`` are significant.
    """

    statistic: np.ndarray
    clusters: list
    cluster_pvalues: np.ndarray
    h0: np.ndarray
    alpha: float = 0.05
    meta: dict = field(default_factory=dict)

    @property
    def significant_mask(self):
        """array of bool, shape of ``statistic``: points inside a significant cluster."""
        mask = np.zeros(self.statistic.shape, dtype=bool)
        for c, p in zip(self.clusters, self.cluster_pvalues):
            if p <= self.alpha:
                mask |= c
        return mask

    def __repr__(self):
        n_sig = int(np.sum(np.asarray(self.cluster_pvalues) <= self.alpha))
        return (f"ClusterResult({len(self.clusters)} clusters, {n_sig} with p <= {self.alpha}, "
                f"{self.h0.size} permutations)")


def _as_masks(clusters, shape):
    masks = []
    for c in clusters:
        if isinstance(c, np.ndarray) and c.dtype == bool:
            masks.append(c.reshape(shape))
        else:  # tuple of index arrays
            m = np.zeros(shape, dtype=bool)
            m[c] = True
            masks.append(m)
    return masks


@fill_doc
@verbose_decorator
def cluster_permutation_test(X, Y=None, threshold=None, n_permutations=1024, tail=0, alpha=0.05,
                             adjacency=None, random_state=None, n_jobs=None, verbose=None):
    """Cluster-based permutation test over time bins (MNE's implementation).

    With ``Y=None``, a one-sample test of ``X`` against 0 by sign flips
    (:func:`mne.stats.permutation_cluster_1samp_test`); e.g. per-subject score
    curves minus chance, or paired differences of two models. With ``Y``, a
    two-sample F test by label permutation
    (:func:`mne.stats.permutation_cluster_test`).

    Parameters
    ----------
    X : array, shape (n_observations, n_times) or (n_observations, n_times, n_space)
        Observations (subjects, folds, electrodes) by time bins.
    Y : array, shape (n_observations_y, n_times, ...) | None
        Second group for the two-sample test.
    threshold : float | dict | None
        Cluster-forming threshold (MNE's meaning: None = t or F at p < 0.05;
        ``dict(start=, step=)`` for TFCE).
    n_permutations : int
        Number of permutations (MNE runs the exact test when it is smaller
        than all sign flips).
    tail : {0, 1, -1}
        Two-sided, upper or lower tail of the one-sample t (the two-sample F
        test is always upper-tailed: it detects differences in either direction).
    alpha : float
        Level at which clusters are called significant (``significant_mask``).
    adjacency : scipy.sparse matrix | None
        Spatial adjacency for (time, space) data; None: time bins only.
    %(random_state)s
        An int gives MNE the same seed, so the same clusters and p-values.
    n_jobs : int | None
    %(verbose)s

    Returns
    -------
    result : ClusterResult
    """
    from mne.stats import permutation_cluster_1samp_test, permutation_cluster_test

    Xa = check_array("X", X, ndim=(2, 3))
    n_permutations = check_int("n_permutations", n_permutations, min_value=1)
    check_option("tail", tail, (0, 1, -1))
    alpha = check_fraction("alpha", alpha, inclusive=(False, False))
    if Xa.shape[0] < 2:
        raise ValueError(
            f"Invalid value for `X`: expected at least 2 observations (n_observations, n_times), "
            f"got shape {Xa.shape}."
        )
    seed = random_state
    if isinstance(random_state, np.random.Generator):
        seed = int(random_state.integers(2**31 - 1))
    import inspect

    kw = dict(threshold=threshold, n_permutations=n_permutations, tail=tail, adjacency=adjacency,
              n_jobs=n_jobs, out_type="mask", verbose=False)
    # MNE >= 1.11 names the seed `rng` (`seed` still works with a log message)
    seed_name = "rng" if "rng" in inspect.signature(permutation_cluster_1samp_test).parameters else "seed"
    kw[seed_name] = seed
    if Y is None:
        T, clusters, pv, h0 = permutation_cluster_1samp_test(Xa, **kw)
        kind = "one-sample t (sign flips)"
    else:
        Ya = check_array("Y", Y, ndim=Xa.ndim)
        if Ya.shape[1:] != Xa.shape[1:]:
            raise ValueError(
                f"Invalid value for `Y`: expected the same shape as `X` after the first axis "
                f"{Xa.shape[1:]}, got {Ya.shape[1:]}."
            )
        kw["tail"] = 1  # F is one-tailed: large F = groups differ (either direction)
        T, clusters, pv, h0 = permutation_cluster_test([Xa, Ya], **kw)
        kind = "F (label permutation)"
    T = np.asarray(T)
    return ClusterResult(T, _as_masks(clusters, T.shape), np.asarray(pv, dtype=float),
                         np.asarray(h0, dtype=float), alpha,
                         meta={"test": kind, "threshold": threshold, "tail": kw["tail"],
                               "n_permutations": n_permutations, "seed": seed})
