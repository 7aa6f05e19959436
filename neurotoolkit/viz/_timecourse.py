"""Plot of a decoding (or any score) time course with its chance level."""

import numpy as np

from .._utils.optional import require

__all__ = ["plot_decoding_timecourse"]


def plot_decoding_timecourse(scores, times=None, chance=None, ax=None, label=None, color=None,
                             title=None, ylabel=None, show_peak=True, figsize=(6, 3.5)):
    """Mean score over folds against time, with an SEM band and the chance line.

    Parameters
    ----------
    scores : TimeResolvedScores | array, shape (n_folds, n_times) | (n_times,)
        A result of :func:`neurotoolkit.decoding.time_resolved_decoding`, or
        per-fold scores (the band is the standard error over folds). For a
        generalization result the diagonal is drawn.
    times : array, shape (n_times,) | None
        Seconds; taken from a result object.
    chance : float | None
        Chance level line; taken from a result object.
    ax : matplotlib Axes | None
    label, color, title, ylabel : str | None
    show_peak : bool
        Mark the peak with its latency.

    Returns
    -------
    fig : matplotlib Figure
    """
    plt = require("matplotlib.pyplot", "plot_decoding_timecourse")
    scoring = None
    if hasattr(scores, "scores") and hasattr(scores, "times"):
        res = scores
        times = res.times if times is None else times
        chance = res.chance if chance is None else chance
        scoring = res.scoring
        arr = np.asarray(res.scores, dtype=float)
        if arr.ndim == 3:
            arr = np.diagonal(arr, axis1=1, axis2=2)
    else:
        arr = np.asarray(scores, dtype=float)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2:
        raise ValueError(
            "Invalid value for `scores`: expected (n_folds, n_times) or (n_times,) scores, got "
            f"shape {arr.shape}."
        )
    times = np.arange(arr.shape[1]) if times is None else np.asarray(times, dtype=float)
    if len(times) != arr.shape[1]:
        raise ValueError(
            f"Invalid value for `times`: expected {arr.shape[1]} values, got {len(times)}."
        )
    mean = arr.mean(axis=0)
    sem = arr.std(axis=0, ddof=1) / np.sqrt(arr.shape[0]) if arr.shape[0] > 1 else None
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    (line,) = ax.plot(times, mean, color=color, label=label or "mean over folds")
    if sem is not None:
        ax.fill_between(times, mean - sem, mean + sem, color=line.get_color(), alpha=0.25,
                        linewidth=0, label="± SEM over folds")
    if chance is not None and np.isfinite(chance):
        ax.axhline(chance, color="k", linestyle="--", linewidth=1, label=f"chance ({chance:g})")
    if times[0] < 0 < times[-1]:
        ax.axvline(0, color="0.6", linewidth=0.8)
    if show_peak:
        k = int(np.argmax(mean))
        ax.plot(times[k], mean[k], "o", color=line.get_color(), markersize=5)
        ax.annotate(f"peak {mean[k]:.2f} at {times[k] * 1e3:.0f} ms", (times[k], mean[k]),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(ylabel or {"roc_auc": "ROC AUC"}.get(scoring, scoring or "score"))
    ax.legend(frameon=False, fontsize=8, loc="best")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
