"""Decoding: from brain responses back to the stimulus.

Brain -> embedding decoders (:class:`RidgeDecoder`; the cross-subject
:class:`CrossSubjectDecoder` with its :class:`SubjectAdapters`), the field's
evaluation protocol (:func:`retrieval_accuracy`, :func:`two_way_identification`,
:func:`top1_retrieval`, :func:`adaptation_curve`), category decoding and
time-resolved decoding of MEG / EEG / sEEG epochs.
"""

from ._adaptation import adaptation_curve, top1_retrieval
from ._adapters import SubjectAdapters
from ._classify import DecodingResult, decode_categories
from ._cross_subject import CrossSubjectDecoder
from ._metrics import retrieval_accuracy, two_way_identification
from ._persistence import load_decoder, save_decoder
from ._ridge_decoder import RidgeDecoder, paired_responses
from ._time_resolved import TimeResolvedScores, peak_score, time_resolved_decoding

__all__ = [
    "CrossSubjectDecoder",
    "DecodingResult",
    "RidgeDecoder",
    "SubjectAdapters",
    "TimeResolvedScores",
    "adaptation_curve",
    "decode_categories",
    "load_decoder",
    "paired_responses",
    "peak_score",
    "retrieval_accuracy",
    "save_decoder",
    "time_resolved_decoding",
    "top1_retrieval",
    "two_way_identification",
]

# The contrastive losses are training internals of CrossSubjectDecoder; their package-level
# names are kept for one release.
_DEPRECATED = ("info_nce", "mixco", "mixco_loss", "soft_clip")


def __getattr__(name):
    if name in _DEPRECATED:
        from .._utils.logging import warn
        from . import _contrastive

        warn(f"`neurotoolkit.decoding.{name}` is deprecated and will be removed from the public "
             f"API in the next release: it is a training internal of CrossSubjectDecoder "
             f"(import it from `neurotoolkit.decoding._contrastive` at your own risk).",
             FutureWarning)
        return getattr(_contrastive, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
