"""Plots of encoding scores per ROI against the noise ceiling."""

import numpy as np

from .._utils.optional import require

__all__ = ["plot_roi_scores", "plot_score_vs_ceiling"]


def _axes(ax, figsize):
    plt = require("matplotlib.pyplot", "plotting")
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    return fig, ax


def plot_roi_scores(scores, score="r", ceiling="noise_ceiling_r", roi="roi", ax=None,
                    title=None, figsize=(6, 3.5)):
    """Distribution of a per-unit score in each ROI, with the ROI's noise ceiling.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per unit with columns ``roi``, ``score`` and optionally
        ``ceiling`` (as returned by ``VoxelwiseEncoder.score``).
    score, ceiling, roi : str
        Column names. ``ceiling=None`` draws no ceiling.
    ax : matplotlib Axes | None
    title : str | None

    Returns
    -------
    fig : matplotlib Figure
    """
    fig, ax = _axes(ax, figsize)
    rois = sorted(scores[roi].astype(str).unique())
    data = [scores.loc[scores[roi].astype(str) == r, score].to_numpy() for r in rois]
    positions = np.arange(len(rois))
    parts = ax.violinplot(data, positions=positions, showmedians=True, widths=0.8)
    for body in parts["bodies"]:
        body.set_alpha(0.5)
    if ceiling is not None and ceiling in scores.columns:
        for pos, r in zip(positions, rois):
            nc = scores.loc[scores[roi].astype(str) == r, ceiling].median()
            ax.hlines(nc, pos - 0.4, pos + 0.4, colors="k", linestyles="--", linewidth=1.2)
        ax.text(0.99, 0.02, "dashed: median noise ceiling", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=7, color="0.3")
    ax.axhline(0, color="0.7", linewidth=0.8)
    ax.set_xticks(positions)
    ax.set_xticklabels(rois, rotation=30, ha="right")
    ax.set_ylabel(score)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_score_vs_ceiling(scores, score="r", ceiling="noise_ceiling_r", roi="roi", ax=None,
                          title=None, figsize=(4.5, 4)):
    """Scatter of per-unit score against its noise ceiling, coloured by ROI.

    Returns
    -------
    fig : matplotlib Figure
    """
    fig, ax = _axes(ax, figsize)
    for r in sorted(scores[roi].astype(str).unique()):
        sel = scores[roi].astype(str) == r
        ax.scatter(scores.loc[sel, ceiling], scores.loc[sel, score], s=8, alpha=0.6, label=r)
    lim = [min(0, scores[score].min()), max(scores[ceiling].max(), scores[score].max()) * 1.05]
    ax.plot(lim, lim, "k--", linewidth=1, label="ceiling")
    ax.set_xlabel(ceiling)
    ax.set_ylabel(score)
    ax.legend(frameon=False, fontsize=7, markerscale=2)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
