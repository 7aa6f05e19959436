"""Encoding models: stimulus features -> responses (ridge family, delays, scores)."""

__all__ = []

from ._ridge_cv import RidgeCV
from .._ridge._scores import noise_normalized, score_correlation, score_neg_mse, score_r2
from .._ridge._solve_ridge import RidgeCVResults, default_alphas, solve_ridge, solve_ridge_cv
from .._ridge._banded import BandedRidgeCVResults, solve_banded_ridge_cv

__all__ += [
    "BandedRidgeCVResults",
    "RidgeCV",
    "RidgeCVResults",
    "default_alphas",
    "noise_normalized",
    "score_correlation",
    "score_neg_mse",
    "score_r2",
    "solve_banded_ridge_cv",
    "solve_ridge",
    "solve_ridge_cv",
]

from ._banded import BandedRidgeCV, sample_gammas
from ._delayer import Delayer
from ._split_scores import correlation_score_split, r2_score_split

__all__ += [
    "BandedRidgeCV",
    "Delayer",
    "correlation_score_split",
    "r2_score_split",
    "sample_gammas",
]

from ._voxelwise import VoxelwiseEncoder, load_encoder

__all__ += ["VoxelwiseEncoder", "load_encoder"]

from ._attention_routing import AttentionRoutingEncoder, build_routing_network
from ._in_context import InContextEncoder, build_in_context_network
from ._nonlinear_common import RoutingObjective, sine_positional_encoding

__all__ += ["AttentionRoutingEncoder", "InContextEncoder", "RoutingObjective", "build_in_context_network",
            "build_routing_network", "sine_positional_encoding"]

from ._trf import TemporalReceptiveField

__all__ += ["TemporalReceptiveField"]
