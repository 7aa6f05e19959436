"""Plots. Importing this module does not import matplotlib; each plot function does."""

from ._images import plot_image_grid
from ._scores import plot_roi_scores, plot_score_vs_ceiling

__all__ = ["plot_image_grid", "plot_roi_scores", "plot_score_vs_ceiling"]
