"""Analyses across models and ROIs: variance partitioning, ROI summaries, RSA."""

from ._roi import roi_summary
from ._rsa import (
    RDMNoiseCeiling,
    compare_rdms,
    crossnobis_rdm,
    load_rdms_mat,
    rdm,
    rdm_noise_ceiling,
)
from ._variance_partition import partition_from_r2, variance_partition

__all__ = ["partition_from_r2", "roi_summary", "variance_partition"]
__all__ += [
    "RDMNoiseCeiling",
    "compare_rdms",
    "crossnobis_rdm",
    "load_rdms_mat",
    "rdm",
    "rdm_noise_ceiling",
]
