"""Recordings and stimuli: the data model (``Recording``, ``StimulusSet``),
splits, noise ceilings and safe persistence; file adapters in
:mod:`neurotoolkit.data.fmri` and :mod:`neurotoolkit.data.ephys`; public
datasets in :mod:`neurotoolkit.data.datasets`. Every adapter and fetcher is
re-exported here."""

from ._io import load_recording, save_recording
from ._noise_ceiling import explainable_variance, ncsnr, noise_ceiling, split_half_reliability
from ._recording import Recording, concatenate_recordings
from ._splits import StimulusKFold, make_cv, train_test_split
from ._stimuli import StimulusSet
from ._timeline import Timeline
from .datasets import (
    fetch_92objects,
    fetch_eeglab_sample,
    fetch_haxby,
    get_data_home,
    list_data_cards,
    load_92objects,
    load_data_card,
    load_eeglab_sample,
    load_haxby,
    validate_data_card,
)
from .ephys import (
    epochs_to_recording,
    find_stimulus_events,
    load_ephys,
    make_windows,
    preprocess_raw,
    read_raw,
)
from .fmri import estimate_betas, load_bids_events, load_fmri, load_nsd_betas, save_brain_map

__all__ = [
    "Recording",
    "StimulusKFold",
    "StimulusSet",
    "Timeline",
    "concatenate_recordings",
    "epochs_to_recording",
    "estimate_betas",
    "explainable_variance",
    "fetch_92objects",
    "fetch_eeglab_sample",
    "fetch_haxby",
    "find_stimulus_events",
    "get_data_home",
    "list_data_cards",
    "load_92objects",
    "load_bids_events",
    "load_data_card",
    "load_eeglab_sample",
    "load_ephys",
    "load_fmri",
    "load_haxby",
    "load_nsd_betas",
    "load_recording",
    "make_cv",
    "make_windows",
    "ncsnr",
    "noise_ceiling",
    "preprocess_raw",
    "read_raw",
    "save_brain_map",
    "save_recording",
    "split_half_reliability",
    "train_test_split",
    "validate_data_card",
]

# The simulator moved to ``neurotoolkit.simulation`` (a layer above features).
_MOVED_TO_SIMULATION = ("GroundTruth", "SimulatedDataset", "make_builtin_stimuli", "simulate_recordings")


def __getattr__(name):
    if name in _MOVED_TO_SIMULATION:
        import importlib
        import warnings

        warnings.warn(
            f"`neurotoolkit.data.{name}` moved to `neurotoolkit.simulation.{name}`; "
            "the old name will be removed in 0.3.",
            FutureWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module("neurotoolkit.simulation"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
