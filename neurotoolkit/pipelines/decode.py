"""The ``decode`` pipeline: responses -> categories / embeddings / conditions over time.

    neurotoolkit decode pipelines/configs/haxby_decode.yaml

Per subject (and per ROI when ``decode.rois`` lists some): cross-validated
category decoding (linear SVM), embedding decoding (ridge decoder, all-way
retrieval both ways and 2-way identification) and, for (channel, window)
electrophysiology recordings, time-resolved decoding of the conditions;
with several simulated subjects also one cross-subject decoder. Every score
is reported beside its chance level and a permutation baseline. Outputs:
``scores.csv`` (+ ``timecourse.csv``, ``confusion_*.csv``), figures, a
Markdown + HTML report.
"""

from typing import List, Literal, Optional, Union

import numpy as np
from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, field_validator

from ._config import FeaturesConfig, Strict, validate_config
from ._data_config import DataConfig

__all__ = ["CONFIG_MODEL", "DecodeConfig", "run"]


class CrossSubjectConfig(Strict):
    """``neurotoolkit.decoding.CrossSubjectDecoder`` over all subjects (held-out ids needed)."""

    enabled: Union[bool, Literal["auto"]] = Field(
        "auto", description='"auto": with 2+ subjects that have held-out stimulus ids and an '
        "embedding target")
    hidden_dim: PositiveInt = 128
    n_blocks: PositiveInt = 1
    max_epochs: PositiveInt = 30
    batch_size: PositiveInt = 32
    learning_rate: PositiveFloat = 1e-3
    patience: PositiveInt = 8


class DecodeSection(Strict):
    """What to decode and how it is scored."""

    mode: Literal["auto", "patterns", "time_resolved"] = Field(
        "auto", description='"time_resolved" for (channel, window) ephys recordings; "auto" picks it '
        "when the units have time windows")
    targets: List[Literal["category", "embedding"]] = Field(
        ["category"], description="patterns mode: category classification and/or embedding decoding")
    labels: Union[str, List[str]] = Field(
        "stimulus_id", description="class of each trial: its stimulus id, a categories column, or a "
        "list of boolean category columns (exactly one true per stimulus)")
    embedding: Optional[str] = Field(None, description="name of the `features` space to decode "
                                     "(needed by the embedding target)")
    rois: Optional[List[str]] = Field(None, description='ROIs decoded one by one ("all": every '
                                      "unit); null: all units together")
    split: Literal["auto", "holdout", "runs", "kfold"] = Field(
        "auto", description="embedding folds: held-out ids (simulator), leave-runs-out, or k-fold")
    runs_per_fold: PositiveInt = Field(1, description="runs held out per fold (split: runs)")
    cv: Union[Literal["runs"], PositiveInt] = Field(
        "runs", description='category / time-resolved folds: "runs" (leave one run out) or k')
    alphas: Optional[List[PositiveFloat]] = Field(None, description="ridge penalties of the "
                                                  "embedding decoder; null: data-scaled grid")
    n_permutations: NonNegativeInt = Field(100, description="permutations of every null baseline")
    scoring: Literal["roc_auc", "accuracy", "balanced_accuracy"] = Field(
        "roc_auc", description="time-resolved score")
    peak_tmin: float = Field(0.0, description="time-resolved: earliest time of the peak (s)")
    cross_subject: CrossSubjectConfig = CrossSubjectConfig()
    retrieval_grid: bool = Field(True, description="figure of retrieved images (when the stimuli "
                                 "have images)")


class DecodeConfig(Strict):
    """The ``decode`` pipeline (``neurotoolkit decode CONFIG``)."""

    name: str = "decode"
    output_dir: str = Field("outputs/decode", description="run folder (cache, outputs, report)")
    random_state: int = 0
    data: DataConfig
    features: FeaturesConfig = Field({}, description="feature spaces; the one named by "
                                     "decode.embedding is the decoding target")
    decode: DecodeSection = DecodeSection()

    @field_validator("decode")
    @classmethod
    def _embedding_named(cls, value, info):
        features = info.data.get("features")
        if "embedding" in value.targets:
            if value.embedding is None:
                raise ValueError("`decode.embedding` must name a feature space of `features` when "
                                 "`decode.targets` has 'embedding'")
            if features is not None and value.embedding not in features:
                raise ValueError(f"`decode.embedding`: expected one of the feature spaces "
                                 f"{sorted(features)}, got {value.embedding!r}")
        return value


CONFIG_MODEL = DecodeConfig


def _is_time_resolved(rec, mode):
    if mode != "auto":
        return mode == "time_resolved"
    cols = set(rec.units.columns)
    return {"channel", "tmin", "tmax"} <= cols and rec.units["tmin"].nunique() > 1


def _check_trials(rec):
    if rec.is_timeseries:
        raise ValueError(f"Invalid value for `data`: {rec.subject} is a time series; decoding "
                         "needs one pattern per trial or block (set data.responses: betas).")


def _roi_recordings(rec, rois):
    if rois is None:
        return {"all": rec}
    out = {}
    for roi in rois:
        if roi == "all":
            out["all"] = rec
        elif roi not in rec.rois:
            raise ValueError(f"Invalid value for `decode.rois`: {rec.subject} has no ROI {roi!r} "
                             f"(it has {rec.rois}).")
        else:
            out[roi] = rec.select(roi=roi)
    return out


def _decode_patterns(rec, stimuli, space, dcfg, seed):
    import pandas as pd

    from . import _decode_core as core

    y = core.stimulus_labels(rec, stimuli, dcfg.labels)
    tables, extra = [], {}
    if "category" in dcfg.targets:
        row, confusion = core.category_decoding(rec, y, cv=dcfg.cv,
                                                n_permutations=dcfg.n_permutations,
                                                random_state=seed)
        tables.append(pd.DataFrame([row]))
        extra["confusion"] = confusion.rename_axis("true").reset_index()
    if "embedding" in dcfg.targets:
        table, preds = core.embedding_decoding(
            rec, space, split=dcfg.split, runs_per_fold=dcfg.runs_per_fold,
            alphas=None if dcfg.alphas is None else np.asarray(dcfg.alphas),
            n_permutations=dcfg.n_permutations, random_state=seed,
            target=f"embedding ({dcfg.embedding})")
        tables.append(table)
        extra["predictions"] = {k: np.asarray(v, dtype=str if k == "ids" else float)
                                for k, v in preds.items()}
    return {"table": pd.concat(tables, ignore_index=True), **extra}


def run(config, verbose=True):
    """Run the decode pipeline.

    Parameters
    ----------
    config : dict | DecodeConfig
        Validated first (unknown keys, wrong types and missing files raise
        ``ConfigError`` naming the key path before any work).
    verbose : bool | int | str

    Returns
    -------
    output_dir : pathlib.Path
    """
    import warnings

    import pandas as pd

    from . import _decode_core as core
    from ._runner import Run
    from ._sources import load_data

    cfg = validate_config(CONFIG_MODEL, config)
    dcfg = cfg.decode
    with Run(cfg.output_dir, cfg, "decode", verbose=verbose) as run:
        bundle = load_data(cfg.data, run)
        if not bundle.recordings:
            raise ValueError(f"Invalid value for `data`: the source {cfg.data.source!r} gives no "
                             "recordings to decode.")
        spaces = {}
        if "embedding" in dcfg.targets:
            from ._features import compute_features

            spaces = compute_features({dcfg.embedding: cfg.features[dcfg.embedding]},
                                      bundle.stimuli, run)
        base_key = {"data": bundle.extra.get("key"), "decode": dcfg.model_dump(mode="json"),
                    "random_state": cfg.random_state,
                    "features": {k: v.model_dump(mode="json") for k, v in cfg.features.items()
                                 if k == dcfg.embedding}}
        rows, courses, outputs = [], [], {}
        for k, (subject, rec) in enumerate(sorted(bundle.recordings.items())):
            seed = cfg.random_state + k
            if _is_time_resolved(rec, dcfg.mode):
                y = core.stimulus_labels(rec, bundle.stimuli, dcfg.labels)
                cv = 5 if dcfg.cv == "runs" else dcfg.cv
                arrays = run.stage(f"decode-{subject}", {**base_key, "subject": subject},
                                   lambda: core.time_resolved(rec, y, dcfg.scoring, cv,
                                                              dcfg.n_permutations, seed),
                                   kind="arrays")
                row, course = core.time_resolved_summary(arrays, subject, tmin=dcfg.peak_tmin)
                rows.append({**row, "roi": "all", "metric": f"peak {dcfg.scoring} (time-resolved)"})
                courses.append(course.assign(subject=subject))
                continue
            _check_trials(rec)
            for roi, sub_rec in _roi_recordings(rec, dcfg.rois).items():
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="Alpha-grid saturation")
                    out = run.stage(f"decode-{subject}-{roi}",
                                    {**base_key, "subject": subject, "roi": roi},
                                    lambda: _decode_patterns(sub_rec, bundle.stimuli,
                                                             spaces.get(dcfg.embedding), dcfg, seed),
                                    kind="object")
                rows += out["table"].assign(roi=roi).to_dict("records")
                outputs[(subject, roi)] = out
        cross = dcfg.cross_subject
        recs = [bundle.recordings[s] for s in sorted(bundle.recordings)]
        use_cross = cross.enabled is True or (
            cross.enabled == "auto" and len(recs) > 1 and "embedding" in dcfg.targets
            and all(r.meta.get("test_ids") is not None for r in recs))
        if use_cross:
            params = cross.model_dump(exclude={"enabled"})
            table = run.stage("decode-cross-subject", {**base_key, "cross": params},
                              lambda: core.cross_subject_decoding(
                                  recs, spaces[dcfg.embedding], params,
                                  n_permutations=dcfg.n_permutations,
                                  random_state=cfg.random_state), kind="table")
            rows += table.assign(roi="all").to_dict("records")

        scores = pd.DataFrame(rows)
        order = ["subject", "roi", "target", "metric", "score", "chance", "null_mean", "null_q95",
                 "p_value", "n_permutations", "n_way", "sem", "n_folds", "split", "peak_time_s"]
        scores = scores[[c for c in order if c in scores.columns]]
        run.write_table("scores", scores, caption=(
            "One row per subject, ROI and metric. `score`: mean over cross-validation folds; "
            "`chance`: the score of guessing (1/n_classes or the majority rate; 1/n_way for "
            "all-way retrieval among the `n_way` held-out stimuli; 0.5 for 2-way identification and AUC); `null_mean`, `null_q95`, "
            "`p_value`: the permutation baseline (category: labels shuffled within runs; "
            "embedding: training labels shuffled within runs, every fold refitted; "
            "cross-subject: held-out targets permuted; time-resolved: maximum over windows, so "
            "the p-value is corrected across time)."))
        run.write_figure("scores_plot", core.plot_scores(scores, title=f"{cfg.name}: decoding"),
                         caption="Scores (dots, one per subject/ROI) against chance (dotted) and "
                                 "the permutation null (grey band: mean to 95th percentile).")
        first_roi = {}
        for (subject, roi), out in outputs.items():
            if "confusion" in out and first_roi.setdefault(subject, roi) == roi:
                run.write_table(f"confusion_{subject}_{roi}", out["confusion"],
                                caption=f"{subject}, {roi}: cross-validated confusion counts "
                                        "(rows true, columns predicted).")
        if courses:
            course = pd.concat(courses, ignore_index=True)
            run.write_table("timecourse", course, caption=(
                "Time-resolved score per window (mean and SEM over folds), chance, and the "
                "permutation null (mean, 95th percentile) at each window."))
            for subject, grp in course.groupby("subject"):
                run.write_figure(f"timecourse_{subject}", core.plot_timecourse(
                    grp, subject, dcfg.scoring), caption=f"{subject}: decoding over time; grey: "
                                                         "permutation null; dotted: chance.")
        stimuli = bundle.stimuli
        if dcfg.retrieval_grid and stimuli is not None and stimuli.images is not None:
            for (subject, roi), out in list(outputs.items())[:1]:
                if "predictions" in out:
                    run.write_figure(f"retrieval_{subject}", core.plot_retrieval_grid(
                        stimuli, out["predictions"], subject=subject),
                        caption="Held-out stimulus (left) and the stimuli whose embeddings are "
                                "closest to the decoded one, best first.")
        summary = [f"{r['subject']} {r['roi']} {r['target']} {r['metric']}: {r['score']:.3f} "
                   f"(chance {r['chance']:.3f}, permutation 95% {r['null_q95']:.3f}, "
                   f"p = {r['p_value']:.3g})" for r in scores.to_dict("records")[:12]]
        return run.finish(f"{cfg.name}: decoding report", summary)
