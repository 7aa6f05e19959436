"""The per-unit evaluation table shared by every encoder (linear and nonlinear)."""

import warnings

import numpy as np

from .._ridge._scores import noise_normalized, score_correlation, score_r2
from .._utils.logging import logger, warn
from ..data._noise_ceiling import noise_ceiling

__all__ = ["evaluate_units"]


def evaluate_units(recording, avg, Y_pred, units, subject=None, owner="encoder"):
    """Per-unit table: r, r2 and, with repeats, the noise ceiling and normalised score.

    Parameters
    ----------
    recording : Recording
        Held-out trials with repeats kept (for the noise ceiling).
    avg : Recording
        The same trials with repeats averaged (rows of ``Y_pred``).
    Y_pred : array, shape (avg.n_trials, n_units)
        Predicted responses.
    units : pandas.DataFrame
        The fitted units (one row per unit); copied into the table.
    subject : str | None
        Inserted as the first column when given.
    owner : str
        Estimator name used in warnings.

    Returns
    -------
    table : pandas.DataFrame
        ``r`` (Pearson), ``r2`` and, when some stimulus repeats,
        ``noise_ceiling``, ``noise_ceiling_r`` and ``normalized`` (Algonauts
        2023: 100 r^2 / NC, capped at 100).
    """
    table = units.copy()
    if avg.n_trials < 2:  # r and r2 undefined: one warning, in the estimator's words
        warn(f"{owner}.evaluate: the test recording has {avg.n_trials} distinct stimulus; r and r2 "
             "are undefined with fewer than 2 test stimuli and are NaN. Hold out at least 2 stimuli.")
    with warnings.catch_warnings():
        if avg.n_trials < 2:
            warnings.simplefilter("ignore", UserWarning)
        table["r"] = score_correlation(avg.responses, Y_pred)
        table["r2"] = score_r2(avg.responses, Y_pred)
    if recording.repeat_counts().max() >= 2:
        nc = noise_ceiling(recording, n_average="data")
        table["noise_ceiling"] = nc
        table["noise_ceiling_r"] = np.sqrt(nc)
        table["normalized"] = noise_normalized(table["r"].to_numpy(), nc, kind="r")
    else:
        logger.info("No repeats in the test recording: noise ceiling not estimated.")
    if subject is not None:
        table.insert(0, "subject", subject)
    return table
