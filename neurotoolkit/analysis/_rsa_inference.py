"""Inference for RSA: bootstrap over conditions and subjects, pairwise model
comparisons with FDR, condition-label permutation, time-resolved RSA with
cluster correction.

Bootstrapping conditions resamples them jointly in the model and data RDMs;
pairs of two copies of the same condition (self-pairs, distance 0 by
construction) are dropped, pairs between copies of different conditions are
kept with their multiplicity (the scheme of rsatoolbox's
``bootstrap_sample_pattern``).

References: Nili H et al. (2014). A toolbox for representational similarity
analysis. PLoS Comput Biol 10:e1003553. Schütt HH, Kipnis AD, Diedrichsen J,
Kriegeskorte N (2023). Statistical inference on representational geometries.
eLife 12:e82566.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.logging import progress
from .._utils.logging import verbose as verbose_decorator
from .._utils.random import check_random_state
from .._utils.validation import check_array, check_fraction, check_int, check_option
from ._multiple_comparisons import bonferroni, cluster_permutation_test, fdr_bh
from ._rsa import (
    _METHODS,
    _as_rdm_stack,
    _kendall_tau_a,
    _n_cond_from_pairs,
    _normalize_rows,
    _rank_rows,
    _vector_to_square,
    compare_rdms,
    rdm_noise_ceiling,
)

__all__ = ["RDMBootstrap", "TimeResolvedRSA", "bootstrap_rdm_comparison", "rdm_permutation_test",
           "time_resolved_rsa"]


def _compare_vectors(A, B, method):
    """compare_rdms on arbitrary-length pair vectors: (n_a, k), (n_b, k) -> (n_a, n_b)."""
    if method == "kendall_tau_a":
        return _kendall_tau_a(A, B)
    if method == "spearman":
        A, B = _rank_rows(A), _rank_rows(B)
    center = method != "cosine"
    return np.clip(_normalize_rows(A, center, "rdm") @ _normalize_rows(B, center, "rdm").T, -1, 1)


def _models_stack(models):
    if isinstance(models, dict):
        if not models:
            raise ValueError("Invalid value for `models`: expected a non-empty dict of model RDMs, "
                             "got an empty dict.")
        names = [str(k) for k in models]
        V = np.concatenate([_as_rdm_stack(v, f"models[{k!r}]")[0] for k, v in models.items()])
        if V.shape[0] != len(names):
            raise ValueError("Invalid value for `models`: expected one RDM per name, got a stack "
                             "under one name.")
        return names, V
    V, _ = _as_rdm_stack(models, "models")
    return [f"model{k}" for k in range(V.shape[0])], V


@dataclass
class RDMBootstrap:
    """Bootstrap distribution of model-RDM performance (mean similarity over subjects).

    Attributes
    ----------
    observed : array, shape (n_models,)
        Mean similarity to the data RDMs on all conditions and subjects.
    bootstrap : array, shape (n_bootstraps, n_models)
        The same on each resample (NaN when fewer than 3 distinct conditions were drawn).
    model_names : list of str
    method : str
    resample : {"conditions", "subjects", "both"}
    condition_indices, subject_indices : array of int | None
        The resamples, (n_bootstraps, n_cond) and (n_bootstraps, n_subjects).
    noise_ceiling : RDMNoiseCeiling | None
        Of the data on all conditions (None with one subject).
    """

    observed: np.ndarray
    bootstrap: np.ndarray
    model_names: list
    method: str
    resample: str
    condition_indices: np.ndarray = None
    subject_indices: np.ndarray = None
    noise_ceiling: tuple = None
    meta: dict = field(default_factory=dict)

    def __repr__(self):
        return (f"RDMBootstrap({len(self.model_names)} models, {self.bootstrap.shape[0]} "
                f"resamples of {self.resample}, method={self.method!r})")

    def ci(self, level=0.95):
        """Percentile intervals: (low, high), arrays (n_models,)."""
        a = (1 - check_fraction("level", level, inclusive=(False, False))) / 2
        return (np.nanquantile(self.bootstrap, a, axis=0),
                np.nanquantile(self.bootstrap, 1 - a, axis=0))

    def to_frame(self, level=0.95):
        """One row per model: ``model``, ``score``, ``se`` (bootstrap SD), ``ci_low``,
        ``ci_high``, ``p_value`` (one-sided, score > 0)."""
        lo, hi = self.ci(level)
        ok = np.isfinite(self.bootstrap[:, 0])
        B = int(ok.sum())
        p = (1 + np.sum(~(self.bootstrap[ok] > 0), axis=0)) / (B + 1)
        return pd.DataFrame({"model": self.model_names, "score": self.observed,
                             "se": np.nanstd(self.bootstrap, axis=0, ddof=1), "ci_low": lo,
                             "ci_high": hi, "p_value": p})

    def compare(self, correction="fdr_bh", q=0.05, level=0.95):
        """Pairwise model comparisons from the paired bootstrap differences.

        p (two-sided) = ``min(1, 2 (min(#{d <= 0}, #{d >= 0}) + 1) / (B + 1))``,
        corrected across the model pairs.

        Returns
        -------
        table : pandas.DataFrame
            ``model_a``, ``model_b``, ``difference``, ``se``, ``ci_low``,
            ``ci_high``, ``p_value``, ``p_adjusted``, ``significant``.
        """
        check_option("correction", correction, ("fdr_bh", "bonferroni", None))
        a_lvl = (1 - check_fraction("level", level, inclusive=(False, False))) / 2
        ok = np.isfinite(self.bootstrap).all(axis=1)
        boot, B = self.bootstrap[ok], int(ok.sum())
        rows = []
        for i, a in enumerate(self.model_names):
            for j in range(i + 1, len(self.model_names)):
                d = boot[:, i] - boot[:, j]
                le, ge = np.sum(d <= 0), np.sum(d >= 0)
                rows.append(dict(model_a=a, model_b=self.model_names[j],
                                 difference=self.observed[i] - self.observed[j],
                                 se=d.std(ddof=1), ci_low=np.quantile(d, a_lvl),
                                 ci_high=np.quantile(d, 1 - a_lvl),
                                 p_value=min(1.0, 2 * (min(le, ge) + 1) / (B + 1))))
        table = pd.DataFrame(rows)
        if len(table) == 0:
            return table
        p = table["p_value"].to_numpy()
        if correction is None:
            table["p_adjusted"], table["significant"] = p, p <= q
        else:
            reject, adj = (fdr_bh if correction == "fdr_bh" else bonferroni)(p, q)
            table["p_adjusted"], table["significant"] = adj, reject
        return table


def _draw(n, n_bootstraps, rng):
    return rng.integers(0, n, size=(n_bootstraps, n))


def _check_idx(idx, n, name):
    idx = check_array(name, idx, ndim=2, dtype=None)
    if idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"Invalid value for `{name}`: expected integer indices in [0, {n}) of "
                         f"shape (n_bootstraps, {n}), got {idx.dtype} values in "
                         f"[{idx.min()}, {idx.max()}].")
    return idx


@fill_doc
@verbose_decorator
def bootstrap_rdm_comparison(models, data, method="spearman", n_bootstraps=1000,
                             resample="conditions", condition_indices=None,
                             subject_indices=None, random_state=None, verbose=None):
    """Bootstrap the performance of model RDMs over conditions and/or subjects.

    Performance = mean over the (resampled) subjects of
    :func:`~neurotoolkit.analysis.compare_rdms` between the (resampled) model
    RDM and each data RDM, as ``rsatoolbox.inference.eval_bootstrap_pattern``
    (``"conditions"``), ``eval_bootstrap_rdm`` (``"subjects"``) and
    ``eval_bootstrap`` (``"both"``). The same resamples are used for every
    model, so differences are paired.

    Parameters
    ----------
    models : dict of str -> RDM | array (n_models, n_pairs) | (n_models, n_cond, n_cond)
        Model RDMs (vectors or square matrices).
    data : array (n_subjects, n_pairs) | (n_subjects, n_cond, n_cond)
        One data RDM per subject, same conditions and order as the models.
    method : {"spearman", "kendall_tau_a", "pearson", "cosine"}
    n_bootstraps : int
    resample : {"conditions", "subjects", "both"}
    condition_indices : array of int, shape (n_bootstraps, n_cond) | None
        Resampled conditions (e.g. the same for several ROIs); None draws them.
    subject_indices : array of int, shape (n_bootstraps, n_subjects) | None
    %(random_state)s
    %(verbose)s

    Returns
    -------
    result : RDMBootstrap
    """
    check_option("method", method, _METHODS)
    check_option("resample", resample, ("conditions", "subjects", "both"))
    names, M = _models_stack(models)
    D, _ = _as_rdm_stack(data, "data")
    if D.shape[1] != M.shape[1]:
        raise ValueError(f"Invalid value for `data`: expected RDMs over the same conditions as "
                         f"`models` ({_n_cond_from_pairs(M.shape[1], 'models')} conditions), got "
                         f"{_n_cond_from_pairs(D.shape[1], 'data')}.")
    n_cond, n_sub = _n_cond_from_pairs(M.shape[1], "models"), D.shape[0]
    n_bootstraps = check_int("n_bootstraps", n_bootstraps, min_value=1)
    rng = check_random_state(random_state)
    ci = si = None
    if resample in ("conditions", "both"):
        ci = (_draw(n_cond, n_bootstraps, rng) if condition_indices is None
              else _check_idx(condition_indices, n_cond, "condition_indices"))
    if resample in ("subjects", "both"):
        if n_sub < 2:
            raise ValueError(f"Invalid value for `data`: expected at least 2 subject RDMs to "
                             f"resample subjects, got {n_sub}. Use resample='conditions'.")
        si = (_draw(n_sub, n_bootstraps, rng) if subject_indices is None
              else _check_idx(subject_indices, n_sub, "subject_indices"))
    B = (ci if ci is not None else si).shape[0]
    Msq, Dsq = _vector_to_square(M), _vector_to_square(D)
    observed = _compare_vectors(M, D, method).mean(axis=1)
    boot = np.full((B, M.shape[0]), np.nan)
    for b in progress(range(B), desc="RDM bootstrap", verbose=verbose):
        subj = si[b] if si is not None else np.arange(n_sub)
        if ci is None:
            sims = _compare_vectors(M, D[subj], method)
        else:
            cond = np.sort(ci[b])
            if np.unique(cond).size < 3:
                continue
            ia, ib = np.triu_indices(cond.size, k=1)
            keep = cond[ia] != cond[ib]
            ra, rb = cond[ia[keep]], cond[ib[keep]]
            sims = _compare_vectors(Msq[:, ra, rb], Dsq[subj][:, ra, rb], method)
        boot[b] = sims.mean(axis=1)
    nc = rdm_noise_ceiling(D, method) if n_sub >= 2 else None
    return RDMBootstrap(observed, boot, names, method, resample, ci, si, nc)


@fill_doc
@verbose_decorator
def rdm_permutation_test(model, data, method="spearman", n_permutations=10000, random_state=None,
                         verbose=None):
    """Condition-label permutation test of a model RDM against data RDMs.

    The conditions of the model RDM are permuted (rows and columns
    together); the statistic is the mean similarity over subjects. Tests the
    null hypothesis of no relation between model and data (Nili et al., 2014).

    Parameters
    ----------
    model : array (n_pairs,) | (n_cond, n_cond)
    data : array (n_subjects, n_pairs) | (n_subjects, n_cond, n_cond) | one RDM
    method : {"spearman", "pearson", "cosine", "kendall_tau_a"}
    n_permutations : int
        At least 10,000 for a publishable p-value.
    %(random_state)s
    %(verbose)s

    Returns
    -------
    observed : float
    null : array, shape (n_permutations,)
    p_value : float
        ``(1 + #{null >= observed}) / (n_permutations + 1)``.
    """
    check_option("method", method, _METHODS)
    M, single = _as_rdm_stack(model, "model")
    if not single:
        raise ValueError(f"Invalid value for `model`: expected one RDM, got a stack of {M.shape[0]}.")
    D, _ = _as_rdm_stack(data, "data")
    if D.shape[1] != M.shape[1]:
        raise ValueError("Invalid value for `data`: expected RDMs over the same conditions as "
                         f"`model` ({M.shape[1]} pairs), got {D.shape[1]} pairs.")
    n_permutations = check_int("n_permutations", n_permutations, min_value=1)
    rng = check_random_state(random_state)
    n = _n_cond_from_pairs(M.shape[1], "model")
    pos = np.zeros((n, n), dtype=np.intp)
    iu = np.triu_indices(n, k=1)
    pos[iu] = np.arange(iu[0].size)
    pos = pos + pos.T
    observed = float(_compare_vectors(M, D, method).mean())
    null = np.empty(n_permutations)
    if method == "kendall_tau_a":
        for k in progress(range(n_permutations), desc="permutations", verbose=verbose):
            perm = rng.permutation(n)
            null[k] = _compare_vectors(M[:, pos[perm[iu[0]], perm[iu[1]]]], D, method).mean()
    else:  # ranks and norms are invariant to permuting entries: transform once, then index
        Mt = _rank_rows(M) if method == "spearman" else M
        Dt = _rank_rows(D) if method == "spearman" else D
        center = method != "cosine"
        Mn = _normalize_rows(Mt, center, "model")[0]
        Dmean = _normalize_rows(Dt, center, "data").mean(axis=0)
        for k in progress(range(n_permutations), desc="permutations", verbose=verbose):
            perm = rng.permutation(n)
            null[k] = Mn[pos[perm[iu[0]], perm[iu[1]]]] @ Dmean
    p = (1 + np.sum(null >= observed - 1e-12)) / (n_permutations + 1)
    return observed, null, float(p)


@dataclass
class TimeResolvedRSA:
    """Time-resolved RSA with a cluster-based permutation test.

    Attributes
    ----------
    scores : array, shape (n_subjects, n_times)
        Similarity of the model RDM to each subject's RDM at each time.
    times : array, shape (n_times,)
    clusters : ClusterResult
        One-sample cluster test of ``scores`` against 0 over time.
    """

    scores: np.ndarray
    times: np.ndarray
    clusters: object
    method: str

    @property
    def mean(self):
        """array (n_times,): mean over subjects."""
        return self.scores.mean(axis=0)

    def __repr__(self):
        return (f"TimeResolvedRSA({self.scores.shape[0]} subjects x {self.scores.shape[1]} times, "
                f"{self.clusters!r})")


@fill_doc
def time_resolved_rsa(data, model, times=None, method="spearman", n_permutations=1024,
                      threshold=None, tail=1, alpha=0.05, random_state=None):
    """RSA at each time point (MEG/EEG) with cluster correction over time.

    Parameters
    ----------
    data : array (n_subjects, n_times, n_pairs) | (n_subjects, n_times, n_cond, n_cond)
        One RDM per subject and time point (e.g. from
        :func:`~neurotoolkit.analysis.rdm` of the sensor patterns at each time).
    model : array (n_pairs,) | (n_cond, n_cond)
        Model RDM.
    times : array, shape (n_times,) | None
    method : {"spearman", "kendall_tau_a", "pearson", "cosine"}
    n_permutations : int
        Sign-flip permutations of the cluster test (MNE).
    threshold : float | None
        Cluster-forming t threshold (None: p < 0.05 for ``tail``).
    tail : {1, 0, -1}
        1: model similarity above 0 (default).
    alpha : float
    %(random_state)s

    Returns
    -------
    result : TimeResolvedRSA
    """
    arr = check_array("data", data, ndim=(3, 4))
    n_sub, n_times = arr.shape[:2]
    flat = arr.reshape((n_sub * n_times,) + arr.shape[2:])
    sims = compare_rdms(model, flat, method)
    scores = np.asarray(sims).reshape(n_sub, n_times)
    times = np.arange(n_times, dtype=float) if times is None else check_array("times", times, ndim=1)
    if times.shape[0] != n_times:
        raise ValueError(f"Invalid value for `times`: expected {n_times} values (one per time "
                         f"point of `data`), got {times.shape[0]}.")
    clusters = cluster_permutation_test(scores, threshold=threshold, n_permutations=n_permutations,
                                        tail=tail, alpha=alpha, random_state=random_state)
    return TimeResolvedRSA(scores, times, clusters, method)
