"""Permutation baselines for prediction scores: label permutation for trials,
circular shifts for time series."""

from dataclasses import dataclass

import numpy as np

from .._utils.docs import fill_doc
from .._utils.logging import progress
from .._utils.logging import verbose as verbose_decorator
from .._utils.random import check_random_state
from .._utils.validation import check_array, check_int, check_option
from ._inference import _METRICS, _as_predictions

__all__ = ["PermutationScores", "permutation_scores"]


@dataclass
class PermutationScores:
    """Permutation null of a prediction score per unit.

    Attributes
    ----------
    observed : array, shape (n_units,)
    null : array, shape (n_permutations, n_units)
    p_values : array, shape (n_units,)
        ``(1 + #{null >= observed}) / (n_permutations + 1)`` (one-sided).
    kind : {"circular", "labels"}
    """

    observed: np.ndarray
    null: np.ndarray
    p_values: np.ndarray
    kind: str

    def __repr__(self):
        return (f"PermutationScores({self.observed.size} units, {self.null.shape[0]} "
                f"{self.kind} permutations)")


@fill_doc
@verbose_decorator
def permutation_scores(Y_true, Y_pred, n_permutations=1000, kind="labels", min_shift=None,
                       metric="correlation", random_state=None, verbose=None):
    """Permutation baseline for a prediction score.

    Parameters
    ----------
    Y_true, Y_pred : array, shape (n_samples, n_units)
    n_permutations : int
    kind : {"labels", "circular"}
        ``"labels"``: permute the trials (independent trials or events);
        ``"circular"``: shift the predictions in time by a random offset in
        ``[min_shift, n_samples - min_shift]`` (keeps autocorrelation; for
        time series).
    min_shift : int | None
        Smallest circular shift; None: ``n_samples // 10`` (at least 1).
    metric : {"correlation", "r2"}
    %(random_state)s
    %(verbose)s

    Returns
    -------
    result : PermutationScores
    """
    Y = check_array("Y_true", Y_true, ndim=2, min_samples=3).astype(np.float64)
    _, P = _as_predictions(Y_pred, *Y.shape)
    P = P[0]
    check_option("kind", kind, ("labels", "circular"))
    check_option("metric", metric, tuple(_METRICS))
    n_permutations = check_int("n_permutations", n_permutations, min_value=1)
    n = Y.shape[0]
    if min_shift is None:
        min_shift = max(1, n // 10)
    min_shift = check_int("min_shift", min_shift, min_value=1, max_value=n // 2)
    rng = check_random_state(random_state)
    func = _METRICS[metric]
    observed = func(Y, P)
    null = np.empty((n_permutations, Y.shape[1]))
    for k in progress(range(n_permutations), desc="permutations", verbose=verbose):
        if kind == "labels":
            order = rng.permutation(n)
        else:
            order = np.roll(np.arange(n), int(rng.integers(min_shift, n - min_shift + 1)))
        null[k] = func(Y, P[order])
    p = (1 + np.sum(null >= observed, axis=0)) / (n_permutations + 1)
    return PermutationScores(observed, null, np.where(np.isnan(observed), np.nan, p), kind)
