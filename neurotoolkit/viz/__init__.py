"""Plots. Importing this module does not import matplotlib; each plot function does."""

from ._images import plot_image_grid
from ._scores import plot_roi_scores, plot_score_vs_ceiling

__all__ = ["plot_image_grid", "plot_roi_scores", "plot_score_vs_ceiling"]

from ._timecourse import plot_decoding_timecourse

__all__ += ["plot_decoding_timecourse"]

from ._brain import plot_brain_map

__all__ += ["plot_brain_map"]
