"""The ridge engine shared by :mod:`neurotoolkit.encoding` and :mod:`neurotoolkit.decoding`.

Private: users reach it through ``neurotoolkit.encoding.solve_ridge_cv`` and
``neurotoolkit.encoding.solve_banded_ridge_cv`` (features -> responses), the
ridge estimators built on them, or the decoders of ``neurotoolkit.decoding``
(responses -> embeddings). It imports ``_utils`` (validation, logging, the
numpy/torch backend and the device resolver) and, from ``data``, only
``make_cv`` to turn ``cv`` into folds; it sits above ``data`` and below
``encoding`` and ``decoding``, so that neither public layer imports the other.
"""

from ._banded import BandedRidgeCVResults, sample_gammas, solve_banded_ridge_cv
from ._scores import SCORINGS, noise_normalized, score_correlation, score_neg_mse, score_r2
from ._solve_ridge import RidgeCVResults, default_alphas, solve_ridge, solve_ridge_cv

__all__ = [
    "SCORINGS",
    "BandedRidgeCVResults",
    "RidgeCVResults",
    "default_alphas",
    "noise_normalized",
    "sample_gammas",
    "score_correlation",
    "score_neg_mse",
    "score_r2",
    "solve_banded_ridge_cv",
    "solve_ridge",
    "solve_ridge_cv",
]
