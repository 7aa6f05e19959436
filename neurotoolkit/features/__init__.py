"""Stimulus features: weight-free feature spaces and pretrained backbones."""

from ._gabor import GaborPyramid
from ._feature_space import FeatureSpace

__all__ = ["GaborPyramid", "FeatureSpace"]

# torch-based names, imported on first access (``import neurotoolkit.features`` stays light)
_LAZY_ATTRS = {"TorchGaborPyramid": "._gabor_torch"}
__all__ += ["TorchGaborPyramid"]


def __getattr__(name):
    if name in _LAZY_ATTRS:
        import importlib

        return getattr(importlib.import_module(_LAZY_ATTRS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# backbones, extraction and the feature store (torch imported inside the functions)
from ._backbones import Backbone, ImageTransform, get_backbone, list_backbones, register_backbone
from ._extract import extract_features
from ._store import FeatureStore

__all__ += ["Backbone", "ImageTransform", "get_backbone", "list_backbones", "register_backbone",
            "extract_features", "FeatureStore"]
