"""Analyses across models and ROIs: variance partitioning, ROI summaries, RSA."""

__all__ = []
