"""Stimulus features: weight-free feature spaces (Gabor pyramid) and pretrained
backbones (open_clip, transformers, any torch module), extraction of layer
features over a StimulusSet, and a feature store that caches them.

torch is imported inside the functions that need it (``TorchGaborPyramid`` is
loaded on first access), so ``import neurotoolkit.features`` stays light.
"""

from ._backbones import Backbone, ImageTransform, get_backbone, list_backbones, register_backbone
from ._extract import extract_features
from ._feature_space import FeatureSpace
from ._gabor import GaborPyramid
from ._motion_energy import MotionEnergy
from ._store import FeatureStore
from ._temporal_spaces import audio_envelope, spectrogram, word_embeddings
from ._timecourses import FeatureTimeCourse, feature_timecourses, lanczos_resample, spm_hrf
from ._tokens import TokenFeatures

__all__ = [
    "Backbone",
    "FeatureSpace",
    "FeatureStore",
    "FeatureTimeCourse",
    "GaborPyramid",
    "ImageTransform",
    "MotionEnergy",
    "TokenFeatures",
    "TorchGaborPyramid",
    "audio_envelope",
    "extract_features",
    "feature_timecourses",
    "get_backbone",
    "lanczos_resample",
    "list_backbones",
    "register_backbone",
    "spectrogram",
    "spm_hrf",
    "word_embeddings",
]

# torch-based names, imported on first access
_LAZY_ATTRS = {"TorchGaborPyramid": "._gabor_torch"}


def __getattr__(name):
    if name in _LAZY_ATTRS:
        import importlib

        return getattr(importlib.import_module(_LAZY_ATTRS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
