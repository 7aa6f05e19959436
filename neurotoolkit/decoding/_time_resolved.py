"""Time-resolved decoding on top of MNE's SlidingEstimator (King & Dehaene, TICS 2014).

One classifier per time point (or, with ``generalize=True``, trained at each
time and tested at every time), cross-validated with
:func:`mne.decoding.cross_val_multiscore`.
"""

from dataclasses import dataclass, field

import numpy as np

from .._utils.docs import fill_doc
from .._utils.logging import logger, verbose
from .._utils.optional import require
from .._utils.random import check_random_state
from .._utils.validation import check_array, check_consistent_length, describe

__all__ = ["time_resolved_decoding", "TimeResolvedScores", "peak_score"]


@dataclass
class TimeResolvedScores:
    """Cross-validated scores over time.

    Attributes
    ----------
    scores : array, shape (n_folds, n_times) or (n_folds, n_times, n_times)
        Per fold; the generalization matrix is (train time, test time).
    times : array, shape (n_times,)
        Seconds relative to the event.
    scoring : str
    chance : float
        Chance level of the score (0.5 for AUC; 1 / n_classes for accuracy
        with balanced classes, else the majority-class rate).
    meta : dict
        Estimator, cross-validation and class counts.
    """

    scores: np.ndarray
    times: np.ndarray
    scoring: str
    chance: float
    meta: dict = field(default_factory=dict)

    @property
    def mean(self):
        """Mean over folds, shape (n_times,) (or (n_times, n_times))."""
        return self.scores.mean(axis=0)

    @property
    def sem(self):
        """Standard error of the mean over folds (ddof=1)."""
        n = self.scores.shape[0]
        return self.scores.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(self.mean)

    @property
    def diagonal(self):
        """Mean score when training and testing at the same time, shape (n_times,)."""
        return np.diag(self.mean) if self.mean.ndim == 2 else self.mean

    def peak(self, tmin=None, tmax=None):
        """Peak of the (diagonal) mean score within [tmin, tmax]: (score, latency in s)."""
        return peak_score(self.diagonal, self.times, tmin=tmin, tmax=tmax)

    def plot(self, **kwargs):
        """Plot the time course; see :func:`neurotoolkit.viz.plot_decoding_timecourse`."""
        from ..viz import plot_decoding_timecourse

        return plot_decoding_timecourse(self, **kwargs)

    def __repr__(self):
        score, lat = self.peak()
        shape = "x".join(map(str, self.scores.shape))
        return (f"<TimeResolvedScores {self.scoring} ({shape}): peak {score:.3f} at "
                f"{1e3 * lat:.0f} ms, chance {self.chance:.3f}>")


def peak_score(scores, times, tmin=None, tmax=None):
    """Largest score and its time within [tmin, tmax].

    Parameters
    ----------
    scores : array, shape (n_times,) | (n_folds, n_times)
        A 2-D input is averaged over folds first.
    times : array, shape (n_times,)
    tmin, tmax : float | None
        Search interval in seconds (inclusive); None is unbounded.

    Returns
    -------
    score : float
    latency : float
        Seconds.
    """
    scores = check_array("scores", scores, ndim=(1, 2))
    if scores.ndim == 2:
        scores = scores.mean(axis=0)
    times = check_array("times", times, ndim=1)
    check_consistent_length(scores=scores, times=times)
    sel = np.ones(len(times), dtype=bool)
    if tmin is not None:
        sel &= times >= tmin
    if tmax is not None:
        sel &= times <= tmax
    if not sel.any():
        raise ValueError(
            f"Invalid value for `tmin`/`tmax`: the interval [{tmin}, {tmax}] s holds no time "
            f"point; times run from {times[0]:g} to {times[-1]:g} s."
        )
    idx = np.flatnonzero(sel)[np.argmax(scores[sel])]
    return float(scores[idx]), float(times[idx])


def _as_array(X, times):
    """(n_epochs, n_chans, n_times) array and times from Epochs, a Recording or an array."""
    if hasattr(X, "get_data") and hasattr(X, "times"):  # mne.Epochs
        return X.get_data(picks="data"), np.asarray(X.times, dtype=float)
    if hasattr(X, "responses") and hasattr(X, "units"):  # Recording with (channel, window) units
        units = X.units
        if not {"channel", "tmin", "tmax"} <= set(units.columns):
            raise ValueError(
                "Invalid value for `X`: a Recording needs units columns channel, tmin, tmax "
                "((channel, window) units from load_ephys), got columns "
                f"{list(units.columns)}."
            )
        chans = list(dict.fromkeys(units["channel"]))
        centres = (units["tmin"].to_numpy() + units["tmax"].to_numpy()) / 2
        grid = np.unique(centres)
        out = np.full((X.n_trials, len(chans), len(grid)), np.nan)
        ci = units["channel"].map({c: k for k, c in enumerate(chans)}).to_numpy()
        ti = np.searchsorted(grid, centres)
        out[:, ci, ti] = X.responses
        if np.isnan(out).any():
            raise ValueError("Invalid value for `X`: the Recording's units do not form a full "
                             "channel x window grid.")
        return out, grid
    X = check_array("X", X, ndim=3)
    if times is None:
        times = np.arange(X.shape[2], dtype=float)
    times = check_array("times", times, ndim=1)
    if len(times) != X.shape[2]:
        raise ValueError(
            f"Invalid value for `times`: expected {X.shape[2]} values (X.shape[2]), got "
            f"{len(times)}."
        )
    return X, times


@fill_doc
@verbose
def time_resolved_decoding(X, y, times=None, estimator=None, scoring="roc_auc", cv=5,
                           groups=None, generalize=False, n_jobs=None, random_state=None,
                           verbose=None):
    """Cross-validated decoding at every time point.

    Parameters
    ----------
    X : mne.Epochs | Recording | array, shape (n_epochs, n_chans, n_times)
        Epochs (data channels), a Recording whose units are (channel,
        window) pairs (windows become time points at their centres), or an
        array.
    y : array, shape (n_epochs,)
        Labels.
    times : array, shape (n_times,) | None
        Seconds; taken from Epochs / Recording, default sample indices for
        arrays.
    estimator : scikit-learn estimator | None
        Fitted at each time point; default
        ``make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))``.
    scoring : str
        scikit-learn scorer name ("roc_auc", "accuracy", "balanced_accuracy").
    cv : int | cross-validation splitter
        An int gives ``StratifiedKFold(cv, shuffle=True)`` seeded by
        ``random_state``.
    groups : array (n_epochs,) | None
        Groups for group-aware splitters (e.g. runs).
    generalize : bool
        Use :class:`mne.decoding.GeneralizingEstimator` (train time x test
        time) instead of :class:`mne.decoding.SlidingEstimator`.
    n_jobs : int | None
        Parallel jobs over time points (MNE). BLAS runs single-threaded during
        the fits, which is much faster for these small problems.
    %(random_state)s
    %(verbose)s

    Returns
    -------
    TimeResolvedScores
        ``scores`` (n_folds, n_times) or (n_folds, n_times, n_times),
        ``times``, ``chance``; ``.peak()`` gives the peak score and latency.
    """
    require("mne", "time_resolved_decoding")
    from mne.decoding import GeneralizingEstimator, SlidingEstimator, cross_val_multiscore
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, times = _as_array(X, times)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(
            f"Invalid value for `y`: expected a 1-D array of labels, got {describe(y)}."
        )
    check_consistent_length(X=X, y=y)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(
            f"Invalid value for `y`: expected at least 2 classes, got {classes.tolist()}."
        )
    if estimator is None:
        estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    else:
        estimator = clone(estimator)
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        if counts.min() < cv:
            raise ValueError(
                f"Invalid value for `cv`: {cv} folds need at least {cv} epochs of each class, "
                f"got class counts {dict(zip(classes.tolist(), counts.tolist()))}."
            )
        seed = int(check_random_state(random_state).integers(2**31 - 1))
        cv = StratifiedKFold(int(cv), shuffle=True, random_state=seed)
    wrapper = GeneralizingEstimator if generalize else SlidingEstimator
    est = wrapper(estimator, scoring=scoring, n_jobs=n_jobs, verbose=False)
    logger.info("Time-resolved decoding: X %s, %d classes, %s", X.shape, len(classes), scoring)
    # One small fit per time point: BLAS threads only add overhead (about 20x slower with two
    # OpenBLAS pools on 2 cores), so fits run single-threaded; n_jobs parallelises instead.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        scores = cross_val_multiscore(est, X, y, cv=cv, groups=groups, n_jobs=n_jobs,
                                      verbose=False)
    if scoring == "roc_auc" or scoring == "balanced_accuracy":
        chance = 0.5 if scoring == "roc_auc" else 1.0 / len(classes)
    elif scoring == "accuracy":
        chance = float(counts.max() / counts.sum())
    else:
        chance = float("nan")
    meta = {"estimator": repr(estimator), "cv": repr(cv), "classes": classes.tolist(),
            "class_counts": counts.tolist(), "generalize": bool(generalize)}
    return TimeResolvedScores(np.asarray(scores), np.asarray(times, dtype=float), scoring,
                              chance, meta)
