"""Noise ceilings: how much of a unit's response variance stimuli can explain.

Three estimators, all vectorised over units:

- :func:`ncsnr`, the noise-ceiling signal-to-noise ratio of the Natural Scenes
  Dataset (Allen et al. 2022), from single trials with repeats;
- :func:`split_half_reliability`, random split halves of the repeats with the
  Spearman-Brown correction;
- :func:`explainable_variance`, from a repeated test set (R, n, t) with the
  bias correction of Hsu et al. (2004) / himalaya.

:func:`noise_ceiling` turns them into a ceiling on the fraction of variance
that a model can explain for data averaged over ``n`` trials:
``NC = ncsnr**2 / (ncsnr**2 + 1/n)``. Ceilings are fractions in [0, 1] (NSD
publishes them x 100); the ceiling on a Pearson correlation is ``sqrt(NC)``.
"""

from numbers import Integral

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.random import check_random_state
from .._utils.validation import check_array, check_int, check_option, describe

__all__ = ["ncsnr", "noise_ceiling", "split_half_reliability", "explainable_variance"]


# ------------------------------------------------------------------ helpers
def _check_responses_ids(responses, stimulus_ids):
    responses = check_array("responses", responses, ndim=2)
    if stimulus_ids is None:
        raise ValueError(
            "Invalid value for `stimulus_ids`: expected one stimulus id per trial, got None. "
            "Pass the ids, or a Recording."
        )
    ids = np.asarray([str(s) for s in np.asarray(stimulus_ids, dtype=object).ravel()], dtype=object)
    if len(ids) != responses.shape[0]:
        raise ValueError(
            "Invalid value for `stimulus_ids`: expected one id per trial (length "
            f"{responses.shape[0]} = responses.shape[0]), got {len(ids)} ids."
        )
    return responses, ids


def _group_matrix(codes, n_groups):
    """Sparse (n_groups, n_trials) indicator matrix: row g sums the trials of group g."""
    from scipy import sparse

    n = len(codes)
    return sparse.csr_matrix(
        (np.ones(n), (codes, np.arange(n))), shape=(n_groups, n), dtype=np.float64
    )


def _zscore(responses, zscore_by):
    """z-score every unit over trials (ddof 0), within each ``zscore_by`` group."""
    Y = np.array(responses, dtype=np.float64)
    groups = np.zeros(len(Y), dtype=int) if zscore_by is None else pd.factorize(zscore_by)[0]
    for g in np.unique(groups):
        rows = groups == g
        block = Y[rows]
        block -= block.mean(axis=0)
        std = block.std(axis=0)
        std[std == 0] = 1.0  # constant within the group: leave at 0
        Y[rows] = block / std
    return Y


def _unit_chunks(n_rows, n_units, budget=2**27):
    """Slices over units so that one float64 block of n_rows rows stays near ``budget`` bytes."""
    step = max(1, budget // (8 * max(n_rows, 1)))
    return [slice(start, min(start + step, n_units)) for start in range(0, n_units, step)]


def _signal_noise(responses, stimulus_ids, zscore_by=None):
    """Unbiased signal and noise variances per unit (see :func:`ncsnr`).

    Returns (sigma2_signal (n_units,), not clipped; sigma2_noise (n_units,)).
    """
    responses, ids = _check_responses_ids(responses, stimulus_ids)
    if zscore_by is not None:
        zscore_by = np.asarray(zscore_by).ravel()
        if len(zscore_by) != len(ids):
            raise ValueError(
                f"Invalid value for `zscore_by`: expected one label per trial (length {len(ids)}), "
                f"got {len(zscore_by)}."
            )
    keep = ids != ""  # time-series rows without a stimulus
    codes, uniques = pd.factorize(ids[keep])
    counts = np.bincount(codes, minlength=len(uniques))
    if len(uniques) < 2:
        raise ValueError(
            "Invalid value for `stimulus_ids`: a noise ceiling needs at least 2 distinct "
            f"stimuli, got {len(uniques)}."
        )
    if counts.max() < 2:
        raise ValueError(
            "Invalid value for `stimulus_ids`: a noise ceiling needs repeated stimuli, but every "
            f"one of the {len(uniques)} stimuli was shown once. Repeats of the same stimulus must "
            "share an id."
        )
    G = _group_matrix(codes, len(uniques))
    rep = counts >= 2
    G_rep = G[rep]
    n_units = responses.shape[1]
    sigma2_signal = np.empty(n_units)
    sigma2_noise = np.empty(n_units)
    groups = None if zscore_by is None else zscore_by[keep]
    rows = np.flatnonzero(keep)
    for sl in _unit_chunks(len(rows), n_units):
        Y = _zscore(responses[rows, sl], groups)
        means = (G @ Y) / counts[:, None]
        Y -= means[codes]
        Y **= 2
        var_within = np.asarray(G_rep @ Y) / (counts[rep] - 1)[:, None]
        sigma2_noise[sl] = var_within.mean(axis=0)
        sigma2_signal[sl] = means.var(axis=0, ddof=1) - sigma2_noise[sl] * np.mean(1.0 / counts)
    return sigma2_signal, sigma2_noise


# -------------------------------------------------------------- estimators
def ncsnr(responses, stimulus_ids, zscore_by=None):
    """Noise-ceiling signal-to-noise ratio per unit (NSD formulation).

    Parameters
    ----------
    responses : array, shape (n_trials, n_units)
        Single-trial responses.
    stimulus_ids : array-like of str, shape (n_trials,)
        Stimulus of each trial; repeats share an id. Trials with id ``""``
        are ignored.
    zscore_by : array-like, shape (n_trials,) | None
        Session (or run) of each trial: responses are z-scored per unit
        within each group first, as NSD does per session, which removes
        session offsets and gain changes. None z-scores over all trials.

    Returns
    -------
    ncsnr : array, shape (n_units,)
        ``sigma_signal / sigma_noise`` (0 for units without signal, ``inf``
        for noiseless repeats).

    Notes
    -----
    With ``y = s_stim + e`` the noise variance is the mean, over stimuli with
    at least 2 repeats, of the across-repeat variance (ddof 1). NSD takes
    the signal variance as ``1 - sigma2_noise`` because z-scored single
    trials have total variance 1; with finitely many stimuli that total is
    biased low (its expectation is ``sigma2_noise + sigma2_signal * (N -
    sum_k r_k**2 / N) / (N - 1)``). Here the total is defined so that the
    signal estimate is unbiased for any repeat counts ``r_k``::

        sigma2_signal = max(0, var_k(mean_k, ddof=1) - sigma2_noise * mean_k(1 / r_k))

    where ``mean_k`` is the average of stimulus k's trials (every stimulus,
    repeated or not, enters). The estimates agree with NSD's for many
    stimuli. ``ncsnr = sqrt(sigma2_signal) / sqrt(sigma2_noise)``.
    """
    sigma2_signal, sigma2_noise = _signal_noise(responses, stimulus_ids, zscore_by)
    sigma2_signal = np.maximum(sigma2_signal, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.sqrt(sigma2_signal) / np.sqrt(sigma2_noise)
    out[(sigma2_signal == 0)] = 0.0
    return out


@fill_doc
def split_half_reliability(
    responses, stimulus_ids, n_splits=20, random_state=None, spearman_brown=True
):
    """Split-half reliability of each unit's stimulus responses.

    For each split, the repeats of every stimulus with at least 2 trials are
    shuffled and dealt into two halves of ``r_k // 2`` trials each (one
    trial is left out, at random, when ``r_k`` is odd); each half is
    averaged, and the Pearson correlation across stimuli between the two
    half averages is taken per unit. Correlations are averaged over splits.

    Parameters
    ----------
    responses : array, shape (n_trials, n_units)
    stimulus_ids : array-like of str, shape (n_trials,)
    n_splits : int
        Number of random splits to average.
    %(random_state)s
    spearman_brown : bool
        If True, apply ``2 r / (1 + r)``: the reliability of an average of
        ``2 * (r_k // 2)`` trials (all the repeats when counts are even).

    Returns
    -------
    reliability : array, shape (n_units,)
        Correlation in [-1, 1]; NaN for units constant within a half.
    """
    responses, ids = _check_responses_ids(responses, stimulus_ids)
    n_splits = check_int("n_splits", n_splits, min_value=1)
    r = _split_half_r(responses, ids, n_splits, check_random_state(random_state))[0]
    if spearman_brown:
        r = 2 * r / (1 + r)
    return r


def _split_half_r(responses, ids, n_splits, rng):
    """Mean half-vs-half Pearson r over splits, and the half sizes per stimulus."""
    codes, uniques = pd.factorize(ids)
    codes = np.where(ids == "", -1, codes)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    half = counts // 2
    usable = half >= 1
    if usable.sum() < 3:
        raise ValueError(
            "Invalid value for `stimulus_ids`: split-half reliability needs at least 3 stimuli "
            f"with 2 or more trials, got {int(usable.sum())}."
        )
    rows = np.flatnonzero((codes >= 0) & usable[np.maximum(codes, 0)])
    c_rows = codes[rows]
    # renumber usable stimuli 0..m-1
    new = np.full(len(uniques), -1)
    new[usable] = np.arange(usable.sum())
    c_rows = new[c_rows]
    h = half[usable]
    m = len(h)
    starts = np.concatenate([[0], np.cumsum(np.bincount(c_rows, minlength=m))[:-1]])
    halves = []  # the same random halves for every chunk of units
    for _ in range(n_splits):
        order = np.lexsort((rng.random(len(rows)), c_rows))  # shuffled within stimulus
        rank = np.empty(len(rows), dtype=int)
        rank[order] = np.arange(len(rows)) - starts[c_rows[order]]
        in_a = rank < h[c_rows]
        in_b = (rank >= h[c_rows]) & (rank < 2 * h[c_rows])
        halves.append(tuple(_half_matrix(c_rows, sel, h, m) for sel in (in_a, in_b)))
    total = np.zeros(responses.shape[1])
    for sl in _unit_chunks(len(rows), responses.shape[1]):
        Y = np.asarray(responses[rows, sl], dtype=np.float64)
        for G_a, G_b in halves:
            total[sl] += _pearson_columns(G_a @ Y, G_b @ Y)
    return total / n_splits, h


def _half_matrix(c_rows, sel, h, m):
    """Sparse (m, n_rows) matrix averaging the selected rows of each stimulus."""
    from scipy import sparse

    idx = np.flatnonzero(sel)
    return sparse.csr_matrix(
        (1.0 / h[c_rows[idx]], (c_rows[idx], idx)), shape=(m, len(c_rows)), dtype=np.float64
    )


def _pearson_columns(a, b):
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    num = np.einsum("ij,ij->j", a, b)
    den = np.sqrt(np.einsum("ij,ij->j", a, a) * np.einsum("ij,ij->j", b, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def explainable_variance(Y_rep, bias_correction=True):
    """Explainable variance of each unit from a repeated test set.

    Parameters
    ----------
    Y_rep : array, shape (n_repeats, n_stimuli, n_units)
        The same stimulus sequence recorded ``n_repeats`` times.
    bias_correction : bool
        If True, return ``EV - (1 - EV) / (n_repeats - 1)``, an unbiased
        estimate of the fraction of *single-trial* variance explained by the
        stimulus (the variance noise ceiling for one trial); it can be
        negative for units without signal.

    Returns
    -------
    ev : array, shape (n_units,)
        ``var_n(mean_R Y) / mean_R var_n(Y)`` after z-scoring each repeat
        over stimuli.
    """
    Y = check_array("Y_rep", Y_rep, ndim=3)
    R = Y.shape[0]
    if R < 2:
        raise ValueError(
            "Invalid value for `Y_rep`: expected at least 2 repeats along axis 0, got shape "
            f"{Y.shape}."
        )
    Y = Y - Y.mean(axis=1, keepdims=True)
    std = Y.std(axis=1, keepdims=True)
    std[std == 0] = 1.0
    Y = Y / std
    with np.errstate(divide="ignore", invalid="ignore"):
        ev = Y.mean(axis=0).var(axis=0) / Y.var(axis=1).mean(axis=0)
    if bias_correction:
        ev = ev - (1 - ev) / (R - 1)
    return ev


# ------------------------------------------------------------ the ceiling
def _mean_inverse_n(n_average, counts):
    if isinstance(n_average, str):
        check_option("n_average", n_average, ("data",))
        if counts is None:
            raise ValueError("Invalid value for `n_average`: 'data' needs stimulus ids.")
        return float(np.mean(1.0 / counts))
    if isinstance(n_average, Integral) and not isinstance(n_average, bool):
        return 1.0 / check_int("n_average", n_average, min_value=1)
    arr = np.asarray(n_average)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu" or (arr < 1).any():
        raise ValueError(
            "Invalid value for `n_average`: expected a positive int, 'data', or a 1-D array of "
            f"repeat counts (ints >= 1) per test stimulus, got {describe(n_average)}."
        )
    return float(np.mean(1.0 / arr))


@fill_doc
def noise_ceiling(
    data,
    stimulus_ids=None,
    n_average=1,
    method="ncsnr",
    zscore_by=None,
    n_splits=20,
    random_state=None,
):
    """Noise ceiling per unit, as a fraction of variance.

    Parameters
    ----------
    data : Recording | array, shape (n_trials, n_units)
        Single-trial responses with repeats.
    stimulus_ids : array-like of str, shape (n_trials,) | None
        Needed when ``data`` is an array; ignored for a Recording.
    n_average : int | array of int | "data"
        How the data the model will be scored on are averaged: every test
        stimulus averaged over ``n_average`` trials (1: single trials), or
        the number of trials per test stimulus, giving the Algonauts 2023
        ceiling ``NC = ncsnr**2 / (ncsnr**2 + mean_k(1 / n_k))``. ``"data"``
        uses the repeat counts of ``data`` itself.
    method : {"ncsnr", "split_half"}
        "ncsnr": NSD's signal-to-noise ratio (:func:`ncsnr`).
        "split_half": the split-half correlation ``r_h`` of averages of
        ``h_k = r_k // 2`` trials estimates ``sigma2_signal / (sigma2_signal
        + sigma2_noise * mean_k(1 / h_k))``, which is inverted to ``ncsnr**2
        = r_h * mean_k(1 / h_k) / (1 - r_h)`` (``r_h`` clipped at 0).
    zscore_by : array-like, shape (n_trials,) | "runs" | None
        Session/run labels to z-score within (``"runs"``: the Recording's
        ``runs``). See :func:`ncsnr`.
    n_splits : int
        Splits for ``method="split_half"``.
    %(random_state)s

    Returns
    -------
    nc : array, shape (n_units,)
        Ceiling on the fraction of variance explained (R**2) in [0, 1], not
        a percentage. The ceiling on a Pearson correlation is ``sqrt(nc)``.
    """
    from ._recording import Recording

    if isinstance(data, Recording):
        responses, ids = data.responses, data.stimulus_ids
        if isinstance(zscore_by, str) and zscore_by == "runs":
            if data.runs is None:
                raise ValueError(
                    "Invalid value for `zscore_by`: 'runs' needs a Recording with runs, got "
                    "runs=None."
                )
            zscore_by = data.runs
    else:
        responses, ids = _check_responses_ids(data, stimulus_ids)
        if isinstance(zscore_by, str):
            raise ValueError(
                "Invalid value for `zscore_by`: 'runs' needs a Recording; pass one label per trial."
            )
    check_option("method", method, ("ncsnr", "split_half"))
    ids = np.asarray(ids, dtype=object)
    counts = pd.Series(ids[ids != ""]).value_counts().to_numpy()
    inv_n = _mean_inverse_n(n_average, counts)
    if method == "ncsnr":
        snr2 = ncsnr(responses, ids, zscore_by=zscore_by) ** 2
    else:
        Y = responses if zscore_by is None else _zscore(responses, zscore_by)
        n_splits = check_int("n_splits", n_splits, min_value=1)
        r_h, h = _split_half_r(Y, ids, n_splits, check_random_state(random_state))
        r_h = np.clip(np.nan_to_num(r_h, nan=0.0), 0.0, 1.0)
        with np.errstate(divide="ignore"):
            snr2 = r_h * np.mean(1.0 / h) / (1.0 - r_h)
    with np.errstate(invalid="ignore"):
        nc = snr2 / (snr2 + inv_n)
    nc[np.isinf(snr2)] = 1.0
    return nc
