"""Plots for inference results: per-bin score curves with confidence intervals,
electrode sites on a glass brain."""

import numpy as np

from .._utils.optional import require

__all__ = ["plot_score_curves", "plot_sites"]


def plot_score_curves(scores, channel=None, models=None, alignment=None, time_col="tmin",
                      ax=None, title=None, figsize=(6, 3.5)):
    """Score per time bin with its confidence band, one curve per model.

    Parameters
    ----------
    scores : pandas.DataFrame
        Tidy table with ``model``, ``score``, ``ci_low``, ``ci_high`` and the
        unit columns (``channel``, a time column), e.g.
        ``BootstrapScores.to_frame()`` or ``MultimodalResult.scores``.
    channel : str | None
        Electrode to draw (rows with ``scores["channel"] == channel``); None
        uses every row (one unit per time bin).
    models : list of str | None
        Models to draw, in order (default: all).
    alignment : str | None
        With an ``alignment`` column: draw only that alignment (None: one
        panel per alignment).
    time_col : str
        Column with the bin times (``tmin``; falls back to ``bin``).
    ax : matplotlib Axes | None
        Only with a single panel.
    title : str | None
    figsize : tuple

    Returns
    -------
    fig : matplotlib Figure
    """
    plt = require("matplotlib.pyplot", "plot_score_curves")
    needed = {"model", "score", "ci_low", "ci_high"}
    if not needed <= set(scores.columns):
        raise ValueError(f"Invalid value for `scores`: expected a table with columns "
                         f"{sorted(needed)}, got {list(scores.columns)}.")
    table = scores
    if channel is not None:
        if "channel" not in table.columns or not (table["channel"] == channel).any():
            known = sorted(table["channel"].unique())[:8] if "channel" in table.columns else []
            raise ValueError(f"Invalid value for `channel`: expected an electrode of the table "
                             f"(e.g. {known}), got {channel!r}.")
        table = table[table["channel"] == channel]
    if time_col not in table.columns:
        time_col = "bin" if "bin" in table.columns else None
    aligns = [None]
    if "alignment" in table.columns:
        aligns = [alignment] if alignment is not None else list(dict.fromkeys(table["alignment"]))
    models = list(dict.fromkeys(table["model"])) if models is None else list(models)
    if ax is not None and len(aligns) > 1:
        raise ValueError("Invalid value for `ax`: expected None when several alignments are "
                         "drawn, got an Axes. Pass `alignment=` to draw one.")
    if ax is None:
        fig, axes = plt.subplots(1, len(aligns), figsize=(figsize[0] * len(aligns), figsize[1]),
                                 squeeze=False, sharey=True)
        axes = axes[0]
    else:
        fig, axes = ax.figure, [ax]
    for a, align in zip(axes, aligns):
        sub = table if align is None else table[table["alignment"] == align]
        for m in models:
            rows = sub[sub["model"] == m]
            x = rows[time_col].to_numpy(float) if time_col else np.arange(len(rows))
            order = np.argsort(x)
            line, = a.plot(x[order], rows["score"].to_numpy()[order], label=m)
            a.fill_between(x[order], rows["ci_low"].to_numpy()[order],
                           rows["ci_high"].to_numpy()[order], color=line.get_color(), alpha=0.2)
        a.axhline(0, color="k", lw=0.8)
        a.set_xlabel("time (s)" if time_col == "tmin" else (time_col or "bin"))
        a.set_title(" ".join(str(t) for t in (title or channel, align) if t))
    axes[0].set_ylabel("score (with CI)")
    axes[-1].legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_sites(sites, column="multimodal", coords=("x", "y", "z"), title=None, display_mode="lzr",
               node_size=30, figure=None, backend="auto"):
    """Electrodes on a glass brain (nilearn ``plot_markers``), a site column highlighted.

    Parameters
    ----------
    sites : pandas.DataFrame
        One row per electrode with MNI coordinates (mm) in ``coords`` and the
        value to show in ``column`` (bool: highlighted sites; numbers: a
        colour scale), e.g. ``MultimodalResult.sites``.
    column : str
    coords : tuple of str
    title : str | None
    display_mode : str
        nilearn's glass-brain views (``"lzr"``, ``"ortho"``, ...).
    node_size : float
    figure : matplotlib Figure | None
    backend : {"auto", "nilearn", "matplotlib"}
        ``"matplotlib"``: three scatter projections without a brain outline
        (when nilearn is not installed).

    Returns
    -------
    fig : matplotlib Figure
    """
    plt = require("matplotlib.pyplot", "plot_sites")
    missing = [c for c in (*coords, column) if c not in sites.columns]
    if missing:
        raise ValueError(f"Invalid value for `sites`: expected columns {[*coords, column]}, got "
                         f"{list(sites.columns)} (missing {missing}).")
    xyz = sites[list(coords)].to_numpy(float)
    values = sites[column].to_numpy()
    is_bool = values.dtype == bool
    vals = values.astype(float)
    title = title or (f"{int(values.sum())} of {len(values)} sites: {column}" if is_bool else column)
    use_nilearn = backend == "nilearn"
    if backend == "auto":
        try:
            import nilearn.plotting

            use_nilearn = nilearn.plotting is not None
        except ImportError:
            use_nilearn = False
    if use_nilearn:
        from nilearn import plotting

        fig = figure or plt.figure(figsize=(9, 3.2))
        order = np.argsort(vals)  # highlighted sites drawn last (on top)
        plotting.plot_markers(vals[order], xyz[order], node_size=node_size, node_cmap="coolwarm",
                              node_vmin=0 if is_bool else None, node_vmax=1 if is_bool else None,
                              display_mode=display_mode, title=title, figure=fig,
                              colorbar=not is_bool)
        return fig
    fig = figure or plt.figure(figsize=(9, 3.2))
    axes = fig.subplots(1, 3)
    for a, (i, j, name) in zip(axes, [(0, 1, "axial (x, y)"), (1, 2, "sagittal (y, z)"),
                                      (0, 2, "coronal (x, z)")]):
        a.scatter(xyz[:, i], xyz[:, j], c=vals, cmap="coolwarm", s=node_size, edgecolors="k",
                  linewidths=0.3)
        a.set_title(name, fontsize="small")
        a.set_aspect("equal")
    fig.suptitle(title)
    return fig
