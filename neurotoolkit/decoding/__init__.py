"""neurotoolkit.decoding (see DESIGN.md); populated by later issues."""

__all__ = []

from ._time_resolved import TimeResolvedScores, peak_score, time_resolved_decoding

__all__ += ["TimeResolvedScores", "peak_score", "time_resolved_decoding"]

from ._classify import DecodingResult, decode_categories

__all__ += ["DecodingResult", "decode_categories"]

from ._metrics import retrieval_accuracy, two_way_identification
from ._ridge_decoder import RidgeDecoder, paired_responses

__all__ += ["RidgeDecoder", "paired_responses", "retrieval_accuracy", "two_way_identification"]

from ._adaptation import adaptation_curve, top1_retrieval
from ._adapters import SubjectAdapters
from ._contrastive import info_nce, mixco, mixco_loss, soft_clip
from ._cross_subject import CrossSubjectDecoder

__all__ += ["SubjectAdapters", "CrossSubjectDecoder", "adaptation_curve", "top1_retrieval",
            "info_nce", "soft_clip", "mixco", "mixco_loss"]
