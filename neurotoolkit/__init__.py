"""neurotoolkit: encoding, decoding and selectivity probing for fMRI, sEEG and MEG.

``import neurotoolkit`` is light: it imports numpy, scipy, pandas and
scikit-learn only when a submodule that needs them is touched, and never
torch, diffusers, open_clip, mne or matplotlib (those are imported inside the
functions that use them).

Subpackages
-----------
data        Recording, StimulusSet, splits, noise ceilings; file adapters
            (data.fmri, data.ephys) and public datasets (data.datasets).
features    Stimulus features (weight-free Gabor pyramid, pretrained backbones).
simulation  The ground-truth simulator.
encoding    Ridge family with one alpha per target, delays, scores.
decoding    Brain -> embedding decoders and retrieval metrics.
probing     Image synthesis (probing.synthesis) and captioning
            (probing.captioning) of selectivity.
analysis    RSA, variance partitioning, ROI summaries.
viz         Plots (imported lazily).
testing     Tiny real components for tests and tutorials.
"""

import importlib

__version__ = "0.1.0.dev0"

_SUBMODULES = (
    "data",
    "features",
    "simulation",
    "encoding",
    "decoding",
    "probing",
    "analysis",
    "viz",
    "testing",
)

__all__ = list(_SUBMODULES) + ["__version__", "set_log_level"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"neurotoolkit.{name}")
    if name == "set_log_level":
        from neurotoolkit._utils.logging import set_log_level

        return set_log_level
    raise AttributeError(f"module 'neurotoolkit' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
