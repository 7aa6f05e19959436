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
