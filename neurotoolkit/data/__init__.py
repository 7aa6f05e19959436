"""Recordings and stimuli: the data model, the ground-truth simulator,
noise ceilings, splits and persistence."""

from ._io import load_recording, save_recording
from ._noise_ceiling import explainable_variance, ncsnr, noise_ceiling, split_half_reliability
from ._recording import Recording, concatenate_recordings
from ._splits import StimulusKFold, make_cv, train_test_split
from ._stimuli import StimulusSet

__all__ = [
    "Recording",
    "StimulusSet",
    "StimulusKFold",
    "concatenate_recordings",
    "explainable_variance",
    "load_recording",
    "make_cv",
    "ncsnr",
    "noise_ceiling",
    "save_recording",
    "split_half_reliability",
    "train_test_split",
]

from ._cards import list_data_cards, load_data_card, validate_data_card

__all__ += ["list_data_cards", "load_data_card", "validate_data_card"]

from ._ephys import epochs_to_recording, load_ephys, make_windows, read_raw
from ._ephys_events import find_stimulus_events
from ._ephys_preprocessing import preprocess_raw

__all__ += [
    "epochs_to_recording",
    "find_stimulus_events",
    "load_ephys",
    "make_windows",
    "preprocess_raw",
    "read_raw",
]

from ._fetchers import fetch_92objects, fetch_eeglab_sample, fetch_haxby, get_data_home
from ._fmri import load_bids_events, load_fmri, save_brain_map
from ._glm import estimate_betas
from ._nsd import load_nsd_betas

__all__ += [
    "estimate_betas",
    "fetch_92objects",
    "fetch_eeglab_sample",
    "fetch_haxby",
    "get_data_home",
    "load_bids_events",
    "load_fmri",
    "load_nsd_betas",
    "save_brain_map",
]

from ._builtin_stimuli import make_builtin_stimuli
from ._simulate import GroundTruth, SimulatedDataset, simulate_recordings

__all__ += ["GroundTruth", "SimulatedDataset", "make_builtin_stimuli", "simulate_recordings"]
