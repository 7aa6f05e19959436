"""Brain maps of per-unit values, drawn by nilearn in the recording's own space."""

import numpy as np

from .._utils.optional import require

__all__ = ["plot_brain_map"]

_FSAVERAGE = {10242: "fsaverage5", 40962: "fsaverage6", 163842: "fsaverage"}


def plot_brain_map(
    recording,
    values,
    threshold=None,
    title=None,
    cmap="RdBu_r",
    bg_img=None,
    display_mode="ortho",
    mesh=None,
    symmetric=True,
    figure=None,
    **kwargs,
):
    """Plot one value per unit (score, weight, preferred category) on the brain.

    Parameters
    ----------
    recording : Recording
        fMRI recording with voxel geometry (``to_nifti``) or surface units
        (``hemisphere``, ``vertex``; ``to_surface``).
    values : array, shape (n_units,)
    threshold : float | None
        Values with ``|value| < threshold`` are not drawn.
    title : str | None
    cmap : str
    bg_img : image | path | None
        Volume background. None draws no anatomy for native-space data (the
        recording's own grid) and nilearn's MNI template when ``space``
        starts with "MNI".
    display_mode : str
        nilearn display mode for volumes ("ortho", "z", "x", "y", "mosaic").
    mesh : str | dict | None
        For surfaces: a nilearn fsaverage name or ``{"left": mesh, "right":
        mesh}``; None picks the fsaverage resolution from the vertex count.
    symmetric : bool
        Colour scale symmetric around 0 (False for scores >= 0 or labels).
    figure : matplotlib Figure | None
    **kwargs
        Passed to ``nilearn.plotting.plot_stat_map`` / ``plot_surf_stat_map``.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = require("matplotlib.pyplot", "plot_brain_map")
    plotting = require("nilearn.plotting", "plot_brain_map")
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"Invalid value for `values`: expected a 1-D array (n_units,), got shape "
                         f"{values.shape}.")
    vmax = float(np.nanmax(np.abs(values))) if values.size else 1.0
    if {"hemisphere", "vertex"} <= set(recording.units.columns):
        maps = recording.to_surface(values)
        fig = figure or plt.figure(figsize=(4 * len(maps), 3.5))
        for n, (hemi, arr) in enumerate(maps.items()):
            surf = _mesh(mesh, hemi, arr.shape[-1])
            ax = fig.add_subplot(1, len(maps), n + 1, projection="3d")
            plotting.plot_surf_stat_map(surf, np.nan_to_num(arr), hemi=hemi, threshold=threshold,
                                        cmap=cmap, axes=ax, figure=fig, colorbar=n == len(maps) - 1,
                                        vmax=vmax, symmetric_cbar=symmetric, **kwargs)
        if title:
            fig.suptitle(title)
        return fig
    img = recording.to_nifti(values)
    if bg_img is None and str(recording.space).upper().startswith("MNI"):
        from nilearn import datasets  # bundled with nilearn: no download

        bg_img = datasets.load_mni152_template()  # None draws no background: the native grid alone
    fig = figure or plt.figure(figsize=(7, 3))
    plotting.plot_stat_map(img, bg_img=bg_img, threshold=threshold, title=title, cmap=cmap,
                           display_mode=display_mode, figure=fig, vmax=vmax,
                           symmetric_cbar=symmetric, draw_cross=False, black_bg=False,
                           **kwargs)
    return fig


def _mesh(mesh, hemi, n_vertices):
    if isinstance(mesh, dict):
        return mesh[hemi]
    datasets = require("nilearn.datasets", "plot_brain_map")
    name = mesh or _FSAVERAGE.get(n_vertices)
    if name is None:
        raise ValueError(
            f"Invalid value for `mesh`: the {hemi} hemisphere has {n_vertices} vertices, which is "
            "no fsaverage resolution; pass mesh={'left': ..., 'right': ...} (the subject's "
            "surfaces)."
        )
    fs = datasets.fetch_surf_fsaverage(name)
    return fs[f"infl_{hemi}"]
