"""Image grids (stimuli, preferred images, synthesized images)."""

import numpy as np

from .._utils.optional import require

__all__ = ["plot_image_grid"]


def plot_image_grid(images, titles=None, n_cols=8, size=1.4, suptitle=None):
    """Show images in a grid.

    Parameters
    ----------
    images : array (n, height, width[, 3]) | list of arrays | StimulusSet
        uint8 or float in [0, 1]. A StimulusSet shows all its images.
    titles : list of str | None
        One short title per image.
    n_cols : int
    size : float
        Inches per image.
    suptitle : str | None

    Returns
    -------
    fig : matplotlib Figure
    """
    plt = require("matplotlib.pyplot", "plot_image_grid")
    if hasattr(images, "load_images"):
        titles = list(images.ids) if titles is None else titles
        images = [images.load_image(i) for i in images.ids]
    images = list(images)
    n = len(images)
    if n == 0:
        raise ValueError("Invalid value for `images`: expected at least one image, got none.")
    n_cols = min(n_cols, n)
    n_rows = int(np.ceil(n / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols, size * n_rows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < n:
            img = np.asarray(images[k])
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
            if titles is not None:
                ax.set_title(str(titles[k]), fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
