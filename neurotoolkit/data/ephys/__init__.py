"""Electrophysiology file adapters (MEG, EEG, sEEG/ECoG) through MNE: reading,
recorded preprocessing, stimulus events, epochs to a Recording."""

from ._events import find_stimulus_events
from ._load import epochs_to_recording, load_ephys, make_windows, read_raw
from ._preprocessing import preprocess_raw

__all__ = [
    "epochs_to_recording",
    "find_stimulus_events",
    "load_ephys",
    "make_windows",
    "preprocess_raw",
    "read_raw",
]
