"""Stimulus features: weight-free feature spaces and pretrained backbones."""

from ._gabor import GaborPyramid
from ._feature_space import FeatureSpace

__all__ = ["GaborPyramid", "FeatureSpace"]
