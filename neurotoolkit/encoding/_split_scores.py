"""Scores split over feature spaces (Card 2, "product measure").

A joint linear model over several feature spaces predicts the sum of one
prediction per space, ``y_hat = sum_i y_hat_i``. These functions attribute
its score to the spaces so that the parts add up to the joint score (the
product measure of himalaya's ``r2_score_split`` and
``correlation_score_split``).
"""

import numpy as np

from neurotoolkit._utils.logging import warn
from neurotoolkit._utils.validation import _raise, check_array

__all__ = ["r2_score_split", "correlation_score_split"]


def r2_score_split(y_true, y_preds, include_correlation=True):
    """Split the R^2 of a joint prediction over feature spaces.

    With ``y`` zero-mean over samples and ``y_hat = sum_j y_hat_j``, space
    ``i`` gets::

        R2_i = sum_n (2 y y_hat_i - y_hat_i sum_j y_hat_j) / sum_n y^2

    so that ``sum_i R2_i = 1 - ||y - y_hat||^2 / ||y||^2``, the R^2 of the
    joint prediction. With ``include_correlation=False`` the cross terms are
    dropped: ``R2_i = sum_n (2 y y_hat_i - y_hat_i^2) / sum_n y^2`` (the R^2
    of ``y_hat_i`` alone); these no longer add up to the joint R^2 when the
    per-space predictions are correlated.

    Parameters
    ----------
    y_true : array-like, shape (n_samples, n_targets) or (n_samples,)
        Observed responses, zero-mean over samples (centre them with the
        test mean first; a warning is raised otherwise).
    y_preds : array-like, shape (n_spaces, n_samples, n_targets) or \
(n_samples, n_targets)
        Per-space predictions (``BandedRidgeCV.predict(X, split=True)``).
        With one fewer dimension (one space), this is the plain R^2 about 0.
    include_correlation : bool
        Whether to include the cross terms between spaces (default True).

    Returns
    -------
    r2 : ndarray, shape (n_spaces, n_targets), or (n_targets,) when
        ``y_preds`` has no space axis; ``n_targets`` is dropped for a 1-D
        ``y_true``. Targets with zero variance score 0.

    See Also
    --------
    correlation_score_split, neurotoolkit.encoding.BandedRidgeCV.score_split

    Notes
    -----
    Computed in float64. The shared part of two correlated spaces is split
    between them by the cross term ``-y_hat_i y_hat_j`` (each gets half), so
    a space can receive a negative share.
    """
    y_true, y_preds, no_split, vector = _check_split_inputs(y_true, y_preds)
    _check_zero_mean(y_true)
    sst = np.einsum("nt,nt->t", y_true, y_true)
    if include_correlation:
        total = y_preds.sum(axis=0)
        fit_terms = np.einsum("mnt,nt->mt", y_preds, total)
    else:
        fit_terms = np.einsum("mnt,mnt->mt", y_preds, y_preds)
    num = 2.0 * np.einsum("mnt,nt->mt", y_preds, y_true) - fit_terms
    r2 = _safe_divide(num, sst[None])
    return _finish(r2, no_split, vector)


def correlation_score_split(y_true, y_preds):
    """Split the Pearson correlation of a joint prediction over feature spaces.

    With ``y_hat = sum_j y_hat_j`` (all centred over samples), space ``i``
    gets ``r_i = sum_n y y_hat_i / (||y|| ||y_hat||)``, so that
    ``sum_i r_i = corr(y, y_hat)``.

    Parameters
    ----------
    y_true : array-like, shape (n_samples, n_targets) or (n_samples,)
        Observed responses (centred internally).
    y_preds : array-like, shape (n_spaces, n_samples, n_targets) or \
(n_samples, n_targets)
        Per-space predictions (centred internally). Without a space axis
        this is the plain Pearson correlation.

    Returns
    -------
    r : ndarray, shape (n_spaces, n_targets), or (n_targets,) when
        ``y_preds`` has no space axis; ``n_targets`` is dropped for a 1-D
        ``y_true``. A zero-variance target or joint prediction gives 0.

    See Also
    --------
    r2_score_split
    """
    y_true, y_preds, no_split, vector = _check_split_inputs(y_true, y_preds)
    y_true = y_true - y_true.mean(axis=0)
    y_preds = y_preds - y_preds.mean(axis=1, keepdims=True)
    norm_true = np.sqrt(np.einsum("nt,nt->t", y_true, y_true))
    total = y_preds.sum(axis=0)
    norm_pred = np.sqrt(np.einsum("nt,nt->t", total, total))
    num = np.einsum("mnt,nt->mt", y_preds, y_true)
    r = _safe_divide(num, (norm_true * norm_pred)[None])
    return _finish(r, no_split, vector)


def _check_split_inputs(y_true, y_preds):
    y_true = check_array("y_true", y_true, ndim=(1, 2), dtype=np.float64)
    vector = y_true.ndim == 1
    if vector:
        y_true = y_true[:, None]
    y_preds = check_array("y_preds", y_preds, ndim=(1, 2, 3), dtype=np.float64)
    if vector:
        y_preds = y_preds[..., None]
    no_split = y_preds.ndim == 2
    if no_split:
        y_preds = y_preds[None]
    if y_preds.ndim != 3 or y_preds.shape[1:] != y_true.shape:
        shape = y_true.shape if not vector else y_true.shape[:1]
        _raise(
            "y_preds",
            f"an array of shape (n_spaces, *{shape}) or {shape} matching `y_true`",
            f"shape {y_preds.shape if not vector else y_preds.shape[:-1]}",
        )
    return y_true, y_preds, no_split, vector


def _check_zero_mean(y_true):
    mean = np.abs(y_true.mean(axis=0))
    scale = np.sqrt((y_true**2).mean(axis=0))
    bad = mean > 1e-5 * np.maximum(scale, np.finfo(np.float64).tiny)
    if bad.any():
        warn(
            f"`y_true` is not zero-mean over samples for {int(bad.sum())} of {bad.size} "
            "targets: the split R^2 scores do not add up to the joint R^2. Centre "
            "`y_true` with its mean over the test samples first."
        )


def _safe_divide(num, den):
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape))
    np.divide(num, den, out=out, where=np.broadcast_to(den > 0, out.shape))
    return out


def _finish(score, no_split, vector):
    if vector:
        score = score[:, 0]
    if no_split:
        score = score[0]
    return score
