"""The ground-truth simulator: recordings with known tuning, noise ceilings
and true weights, on built-in or user images (trials, fMRI time series,
time-resolved electrophysiology)."""

from ._builtin_stimuli import make_builtin_stimuli
from ._simulate import GroundTruth, SimulatedDataset, simulate_recordings

__all__ = ["GroundTruth", "SimulatedDataset", "make_builtin_stimuli", "simulate_recordings"]

from ._multimodal import MultimodalSEEG, simulate_multimodal_seeg

__all__ += ["MultimodalSEEG", "simulate_multimodal_seeg"]

from ._routing import ROUTING_CATEGORIES, RoutingTruth, simulate_routing

__all__ += ["ROUTING_CATEGORIES", "RoutingTruth", "simulate_routing"]

from ._continuous_ephys import SimulatedTRF, simulate_trf_ephys

__all__ += ["SimulatedTRF", "simulate_trf_ephys"]

from ._continuous_fmri import NaturalisticFMRI, NaturalisticTruth, simulate_naturalistic_fmri

__all__ += ["NaturalisticFMRI", "NaturalisticTruth", "simulate_naturalistic_fmri"]
