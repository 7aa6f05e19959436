"""Plots: brain maps, image grids, ROI score summaries and decoding time courses.

Importing this module does not import matplotlib; each plot function does, and
returns the matplotlib Figure. Result objects' ``plot()`` methods call these
functions.
"""

from ._brain import plot_brain_map
from ._images import plot_image_grid
from ._scores import plot_roi_scores, plot_score_vs_ceiling
from ._timecourse import plot_decoding_timecourse

__all__ = [
    "plot_brain_map",
    "plot_decoding_timecourse",
    "plot_image_grid",
    "plot_roi_scores",
    "plot_score_vs_ceiling",
]

from ._inference import plot_score_curves, plot_sites

__all__ += ["plot_score_curves", "plot_sites"]

from ._temporal import plot_hrf

__all__ += ["plot_hrf"]
