"""neurotoolkit.decoding (see DESIGN.md); populated by later issues."""

__all__ = []

from ._time_resolved import TimeResolvedScores, peak_score, time_resolved_decoding

__all__ += ["TimeResolvedScores", "peak_score", "time_resolved_decoding"]

from ._classify import DecodingResult, decode_categories

__all__ += ["DecodingResult", "decode_categories"]
