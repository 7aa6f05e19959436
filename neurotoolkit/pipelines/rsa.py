"""The ``rsa`` pipeline: brain RDMs per ROI vs model RDMs, with noise ceiling and inference.

    neurotoolkit rsa pipelines/configs/objects92_rsa.yaml

Brain RDMs come from the recordings (one per subject and ROI, over the
stimuli every subject saw; trials of a stimulus averaged) or from the data
source itself (the human IT RDMs of the 92 objects, Kriegeskorte et al.,
2008, Neuron). Model RDMs come from the ``features`` section (backbone
layers, the Gabor pyramid, precomputed features, categories). Each model is
scored by its mean similarity to the subjects' RDMs, with a bootstrap over
conditions and subjects, a condition-label permutation test and the noise
ceiling (Nili et al., 2014, PLoS Comput. Biol.). Outputs: ``rsa_scores.csv``,
``model_pairs.csv``, ``rsa_scores.png``, a Markdown + HTML report.
"""

from typing import List, Literal, Optional

import numpy as np
from pydantic import Field, PositiveInt, field_validator

from ._config import FeaturesConfig, Strict, validate_config
from ._data_config import DataConfig

__all__ = ["CONFIG_MODEL", "RsaConfig", "run"]

_METHODS = Literal["spearman", "kendall_tau_a", "pearson", "cosine"]


class RsaSection(Strict):
    """How RDMs are built and compared."""

    brain_rdms: Literal["auto", "recordings", "dataset"] = Field(
        "auto", description='"dataset": RDMs the data source gives (92 objects: human IT); '
        '"recordings": computed per ROI; "auto": the first available')
    rois: Optional[List[str]] = Field(None, description="ROIs of the recordings; null: all")
    rdm_metric: Literal["correlation", "euclidean", "sqeuclidean", "cosine"] = Field(
        "correlation", description="dissimilarity of patterns (brain and model RDMs; category "
        "features always use euclidean)")
    method: _METHODS = Field("spearman", description="RDM comparison (compare_rdms)")
    n_bootstraps: PositiveInt = Field(1000, description="bootstrap resamples (conditions, and "
                                      "subjects when 2+)")
    n_permutations: PositiveInt = Field(1000, description="condition-label permutations per model")


class RsaConfig(Strict):
    """The ``rsa`` pipeline (``neurotoolkit rsa CONFIG``)."""

    name: str = "rsa"
    output_dir: str = Field("outputs/rsa", description="run folder (cache, outputs, report)")
    random_state: int = 0
    data: DataConfig
    features: FeaturesConfig = Field(..., description="model feature spaces (one RDM each; a "
                                     "backbone with several layers gives one per layer)")
    rsa: RsaSection = RsaSection()

    @field_validator("features")
    @classmethod
    def _at_least_one(cls, value):
        if not value:
            raise ValueError("expected at least one feature space (the models)")
        return value


CONFIG_MODEL = RsaConfig


def _dataset_rdms(extra, n_cond):
    rdms = np.asarray(extra["rdms"], dtype=np.float64)
    if rdms.ndim == 4:  # subjects x sessions x n x n: average the sessions
        rdms = rdms.mean(axis=1)
    iu = np.triu_indices(n_cond, k=1)
    return {"hIT": rdms[:, iu[0], iu[1]]}


def run(config, verbose=True):
    """Run the rsa pipeline.

    Parameters
    ----------
    config : dict | RsaConfig
        Validated first (unknown keys, wrong types and missing files raise
        ``ConfigError`` naming the key path before any work).
    verbose : bool | int | str

    Returns
    -------
    output_dir : pathlib.Path
    """
    import pandas as pd

    from . import _rsa_core as core
    from ._features import compute_features
    from ._runner import Run
    from ._sources import load_data

    cfg = validate_config(CONFIG_MODEL, config)
    rcfg = cfg.rsa
    with Run(cfg.output_dir, cfg, "rsa", verbose=verbose) as run:
        bundle = load_data(cfg.data, run)
        source = rcfg.brain_rdms
        if source == "auto":
            source = "dataset" if "rdms" in bundle.extra else "recordings"
        key = {"data": bundle.extra.get("key"), "rsa": rcfg.model_dump(mode="json"),
               "random_state": cfg.random_state}
        if source == "dataset":
            if "rdms" not in bundle.extra or bundle.stimuli is None:
                raise ValueError(f"Invalid value for `rsa.brain_rdms`: the data source "
                                 f"{cfg.data.source!r} gives no RDMs; use 'recordings'.")
            ids = [str(i) for i in bundle.stimuli.ids]
            brain = _dataset_rdms(bundle.extra, len(ids))
        else:
            recs = [bundle.recordings[s] for s in sorted(bundle.recordings)]
            if not recs:
                raise ValueError(f"Invalid value for `rsa.brain_rdms`: the data source "
                                 f"{cfg.data.source!r} gives no recordings.")
            ids = core.common_stimuli(recs)
            brain = run.stage("brain-rdms", key, lambda: core.brain_rdms(
                recs, ids, rcfg.rois, rcfg.rdm_metric), kind="arrays")
        spaces = compute_features(cfg.features, bundle.stimuli, run,
                                  random_state=cfg.random_state)
        kinds = {name: spec.kind for name, spec in cfg.features.items()}
        metrics = {name: "euclidean" if kinds.get(name.split(".")[0]) == "category"
                   else rcfg.rdm_metric for name in spaces}
        models = core.model_rdms(spaces, ids, metrics)
        model_key = {"features": {k: v.model_dump(mode="json") for k, v in cfg.features.items()}}
        tables, pairs = [], []
        for roi, data in brain.items():
            def compare(data=data):
                table, pairs_ = core.compare_models(models, data, rcfg.method, rcfg.n_bootstraps,
                                                    rcfg.n_permutations, cfg.random_state)
                return {"table": table, "pairs": pairs_}

            out = run.stage(f"rsa-{roi}", {**key, **model_key, "roi": roi}, compare,
                            kind="object")
            tables.append(out["table"].assign(roi=roi))
            if len(out["pairs"]):
                pairs.append(out["pairs"].assign(roi=roi))
        scores = pd.concat(tables, ignore_index=True)
        cols = ["roi", "model", "score", "ci_low", "ci_high", "p_bootstrap", "null_mean",
                "null_q95", "p_permutation", "nc_lower", "nc_upper", "fraction_of_ceiling",
                "n_subjects", "method"]
        scores = scores[cols]
        run.write_table("rsa_scores", scores, caption=(
            f"One row per ROI and model. `score`: mean {rcfg.method} similarity between the model "
            "RDM and each subject's RDM; `ci_low`/`ci_high`: 95 % bootstrap interval (conditions"
            " and subjects resampled); `null_mean`, `null_q95`, `p_permutation`: condition-label "
            "permutation baseline (chance is 0); `nc_lower`/`nc_upper`: noise ceiling (a model "
            "reaching the lower bound explains what subjects share); `fraction_of_ceiling`: "
            "score / lower bound."))
        if pairs:
            run.write_table("model_pairs", pd.concat(pairs, ignore_index=True), caption=(
                "Pairwise model differences (paired bootstrap), FDR-corrected across pairs."))
        run.write_figure("rsa_scores_plot", core.plot_rsa(scores, rcfg.method), caption=(
            "Model scores (95 % bootstrap CI), the permutation 95th percentile (black tick) and "
            "the noise ceiling (grey band)."))
        summary = [f"{r['roi']} / {r['model']}: {r['score']:.3f} [{r['ci_low']:.3f}, "
                   f"{r['ci_high']:.3f}] (permutation 95% {r['null_q95']:.3f}, p = "
                   f"{r['p_permutation']:.3g}; noise ceiling {r['nc_lower']:.3f}-"
                   f"{r['nc_upper']:.3f})" for r in scores.to_dict("records")[:16]]
        return run.finish(f"{cfg.name}: representational similarity report", summary)
