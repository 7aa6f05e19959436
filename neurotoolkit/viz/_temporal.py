"""Plots of temporal response functions: fitted HRFs (FIR profiles) per unit or ROI."""

import numpy as np

from .._utils.optional import require

__all__ = ["plot_hrf"]


def plot_hrf(profiles, times=None, groups=None, normalize=False, truth=None, ax=None,
             max_lines=40, title=None, figsize=(5, 3.5)):
    """Response over delays per unit, or its mean and standard error per group.

    Parameters
    ----------
    profiles : pandas.DataFrame | array, shape (n_units, n_delays)
        For example ``VoxelwiseEncoder.hrf()`` (columns: delays in seconds).
    times : array, shape (n_delays,) | None
        Delays in seconds; taken from the DataFrame's columns.
    groups : array, shape (n_units,) | None
        Group label of each unit (e.g. its ROI): one mean line per group
        with a standard-error band. None draws each unit (at most
        ``max_lines``, evenly spread).
    normalize : bool
        Divide each profile by its maximum before plotting (compares shapes
        and peak latencies across units of different gain).
    truth : dict | None
        Group label -> (times, values) drawn as dashed lines (e.g. the
        simulator's planted HRFs, peak-normalised).
    ax : matplotlib Axes | None
    max_lines : int
    title : str | None
    figsize : (float, float)

    Returns
    -------
    fig : matplotlib Figure
    """
    plt = require("matplotlib.pyplot", "plot_hrf")
    if hasattr(profiles, "columns"):
        times = np.asarray(profiles.columns, dtype=float) if times is None else times
        values = profiles.to_numpy(dtype=float)
    else:
        values = np.asarray(profiles, dtype=float)
    if values.ndim != 2:
        raise ValueError(
            "Invalid value for `profiles`: expected an array (n_units, n_delays), got shape "
            f"{values.shape}."
        )
    times = np.arange(values.shape[1]) if times is None else np.asarray(times, dtype=float)
    if len(times) != values.shape[1]:
        raise ValueError(
            f"Invalid value for `times`: expected {values.shape[1]} values, got {len(times)}."
        )
    if normalize:
        peak = np.abs(values).max(axis=1, keepdims=True)
        values = values / np.where(peak > 0, peak, 1.0)
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    colors = {}
    if groups is None:
        step = max(1, len(values) // max_lines)
        for v in values[::step]:
            ax.plot(times, v, color="0.4", lw=0.8, alpha=0.6)
    else:
        groups = np.asarray(groups)
        if len(groups) != len(values):
            raise ValueError(
                f"Invalid value for `groups`: expected {len(values)} labels, got {len(groups)}."
            )
        for g in dict.fromkeys(groups.tolist()):
            sel = values[groups == g]
            mean = sel.mean(axis=0)
            line, = ax.plot(times, mean, marker="o", lw=2, label=f"{g} (n={len(sel)})")
            colors[g] = line.get_color()
            if len(sel) > 1:
                sem = sel.std(axis=0, ddof=1) / np.sqrt(len(sel))
                ax.fill_between(times, mean - sem, mean + sem, color=line.get_color(), alpha=0.2)
    for g, (t, v) in (truth or {}).items():
        ax.plot(t, v, ls="--", lw=1.2, color=colors.get(g, "k"))
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("delay (s)")
    ax.set_ylabel("normalised weight" if normalize else "weight")
    if groups is not None:
        ax.legend(fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
