"""The ground-truth simulator: recordings with known tuning, noise ceilings
and true weights, on built-in or user images (trials, fMRI time series,
time-resolved electrophysiology)."""

from ._builtin_stimuli import make_builtin_stimuli
from ._simulate import GroundTruth, SimulatedDataset, simulate_recordings

__all__ = ["GroundTruth", "SimulatedDataset", "make_builtin_stimuli", "simulate_recordings"]

from ._multimodal import MultimodalSEEG, simulate_multimodal_seeg

__all__ += ["MultimodalSEEG", "simulate_multimodal_seeg"]
