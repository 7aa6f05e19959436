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

from ._inference import (
    BootstrapScores,
    bootstrap_encoding_scores,
    bootstrap_indices,
    bootstrap_scores,
    cross_val_predictions,
)
from ._permutation import PermutationScores, permutation_scores
from ._multiple_comparisons import ClusterResult, bonferroni, cluster_permutation_test, fdr_bh
from ._multimodal import MultimodalResult, multimodal_integration_test
from ._rsa_inference import (
    RDMBootstrap,
    TimeResolvedRSA,
    bootstrap_rdm_comparison,
    rdm_permutation_test,
    time_resolved_rsa,
)
from ._trsa import compare_trsa, geotopological_transform

__all__ += [
    "BootstrapScores",
    "ClusterResult",
    "MultimodalResult",
    "PermutationScores",
    "RDMBootstrap",
    "TimeResolvedRSA",
    "bonferroni",
    "bootstrap_encoding_scores",
    "bootstrap_indices",
    "bootstrap_rdm_comparison",
    "bootstrap_scores",
    "cluster_permutation_test",
    "compare_trsa",
    "cross_val_predictions",
    "fdr_bh",
    "geotopological_transform",
    "multimodal_integration_test",
    "permutation_scores",
    "rdm_permutation_test",
    "time_resolved_rsa",
]
