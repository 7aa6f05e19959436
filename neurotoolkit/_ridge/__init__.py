"""The ridge engine shared by :mod:`neurotoolkit.encoding` and :mod:`neurotoolkit.decoding`.

Private: users reach it through ``neurotoolkit.encoding.solve_ridge_cv`` (features ->
responses) or the decoders of ``neurotoolkit.decoding`` (responses -> embeddings).
It depends only on ``_utils`` so that neither public layer imports the other.
"""

from ._scores import SCORINGS, noise_normalized, score_correlation, score_neg_mse, score_r2
from ._solve_ridge import RidgeCVResults, default_alphas, solve_ridge, solve_ridge_cv

__all__ = [
    "SCORINGS",
    "RidgeCVResults",
    "default_alphas",
    "noise_normalized",
    "score_correlation",
    "score_neg_mse",
    "score_r2",
    "solve_ridge",
    "solve_ridge_cv",
]
