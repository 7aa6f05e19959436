"""The encode pipeline: responses -> features -> voxelwise encoders -> scores, maps, report.

    neurotoolkit encode pipelines/configs/demo.yaml [--set model.cv=3] [--dry-run]

Per subject: the recording is split into train and held-out test trials
(the simulator's test images, held-out runs, or held-out stimuli), one
:class:`~neurotoolkit.encoding.VoxelwiseEncoder` is fitted on the training
trials (alphas by cross-validation within them), and every unit is scored on
the test trials (repeats averaged) beside a label-permutation baseline and
the noise ceiling. Stages (data, features, fitted models) are cached in the
run folder and reused when their inputs are unchanged.

Outputs: ``scores.csv`` (one row per unit and subject), ``roi_scores.csv``
(per subject and ROI), ``roi_scores.png``, ``score_distributions.png``,
``brain_map_<subject>.png`` and ``r_<subject>.nii.gz`` (volumes with an
affine), ``encoder_<subject>.h5`` (the fitted encoders, for ``probe``),
``report.md`` / ``report.html``, ``manifest.json``.
"""

import logging
from typing import List, Literal, Optional, Union

from pydantic import Field, NonNegativeFloat, PositiveInt, field_validator

from ._config import FeaturesConfig, ModelConfig, Strict, validate_config
from ._data_config import DataConfig

__all__ = ["CONFIG_MODEL", "EncodeConfig", "run"]

logger = logging.getLogger("neurotoolkit.pipelines")


class SplitConfig(Strict):
    """How trials are split into training and held-out test sets."""

    method: Literal["auto", "stimuli", "runs"] = Field(
        "auto", description='"auto": the simulator\'s test images; else held-out runs when every stimulus '
        'repeats across runs (block designs), else held-out stimuli')
    test_size: float = Field(0.2, gt=0, lt=1, description="fraction of stimuli (or runs) held out")
    test_runs: Optional[List[Union[int, str]]] = Field(None, description='"runs": the held-out run labels; '
                                                       "null: the last runs")


class InferenceConfig(Strict):
    """Permutation baseline of the held-out scores."""

    n_permutations: PositiveInt = Field(200, description="label permutations of the test stimuli")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level (chance = its null quantile)")


class EncodeModelConfig(ModelConfig):
    """Keyword arguments of ``neurotoolkit.encoding.VoxelwiseEncoder``."""

    cv: Union[PositiveInt, Literal["auto", "runs"]] = Field(
        "auto", description='alpha CV: "auto" (5 folds of whole stimuli; time series: leave one run '
        'out), an int (time series: K runs out), or "runs" (leave one run out)')
    delays: Optional[List[float]] = Field(
        None, description="FIR delays for time-series responses (data.responses: timeseries), e.g. "
        "[1, 2, 3, 4] samples; required for time series, ignored for betas")
    delay_unit: Literal["samples", "s"] = Field("samples", description="unit of `delays` and `trim`")
    trim: Union[Literal["auto"], NonNegativeFloat] = Field(
        "auto", description='samples dropped at each run start (time series); "auto": the largest delay')
    resample: Literal["lanczos", "average", "hrf"] = Field(
        "lanczos", description="stimulus features -> acquisition times (time series): Lanczos "
        "interpolation (Huth lab), the mean within each TR, or convolution with a canonical HRF")


class EncodeConfig(Strict):
    """The ``encode`` pipeline (``neurotoolkit encode CONFIG``)."""

    name: str = Field("encode", description="title of the report")
    output_dir: str = Field("outputs/encode", description="run folder (cache, outputs, report)")
    random_state: int = 0
    data: DataConfig = Field({"source": "simulate"}, description="where the responses come from")
    features: FeaturesConfig = Field({"gabor": {"kind": "gabor"}},
                                     description="one or more feature spaces (several: banded ridge)")
    model: EncodeModelConfig = EncodeModelConfig()
    split: SplitConfig = SplitConfig()
    inference: InferenceConfig = InferenceConfig()
    roi_bars: bool = Field(True, description="draw the per-ROI score figure")

    @field_validator("features")
    @classmethod
    def _at_least_one(cls, value):
        if not value:
            raise ValueError("expected at least one feature space")
        return value


CONFIG_MODEL = EncodeConfig


def _split(rec, cfg, test_ids, timeseries=False):
    """(train, test, description) of one subject's recording."""
    import numpy as np

    method = cfg.split.method
    runs = None if rec.runs is None else np.asarray(rec.runs)
    if method == "auto" and timeseries:
        method = "runs"
    if method == "auto":
        if test_ids is not None:
            is_test = np.isin(rec.stimulus_ids, test_ids)
            return rec.select_trials(~is_test), rec.select_trials(is_test), "the simulator's test images"
        n_stim = len(np.unique(rec.stimulus_ids))
        method = "runs" if runs is not None and len(np.unique(runs)) >= 3 and n_stim * 3 <= rec.n_trials \
            else "stimuli"
    if method == "runs":
        if runs is None:
            raise ValueError("Invalid value for `split.method`: \"runs\" needs run labels, and the "
                             f"recording of {rec.subject} has none; use \"stimuli\".")
        labels = list(dict.fromkeys(runs.tolist()))
        held = cfg.split.test_runs or labels[-max(1, int(round(cfg.split.test_size * len(labels)))):]
        missing = [r for r in held if r not in labels]
        if missing:
            raise ValueError(f"Invalid value for `split.test_runs`: runs {missing} are not in the "
                             f"recording of {rec.subject} (runs: {labels}).")
        is_test = np.isin(runs, held)
        return (rec.select_trials(~is_test), rec.select_trials(is_test),
                f"held-out runs {list(held)} of {len(labels)}")
    train, test = rec.split(test_size=cfg.split.test_size, random_state=cfg.random_state)
    return train, test, f"held-out stimuli ({cfg.split.test_size:.0%})"


def _fit(train, spaces, cfg):
    from neurotoolkit.encoding import VoxelwiseEncoder

    features = spaces if len(spaces) > 1 else next(iter(spaces.values()))
    model = cfg.model
    enc = VoxelwiseEncoder(features=features, alphas=model.alphas, cv=model.cv,
                           alpha_selection=model.alpha_selection, backend=model.backend,
                           device=model.device, random_state=cfg.random_state, verbose=None)
    return enc.fit(train)


def _evaluate(enc, test, cfg):
    """Per-unit held-out scores, their label-permutation null and the number of test stimuli."""
    from neurotoolkit.analysis import permutation_scores

    scores = enc.evaluate(test)
    avg = test.average_repeats()
    pred = enc.predict(avg.stimulus_ids)
    perm = permutation_scores(avg.responses, pred, n_permutations=cfg.inference.n_permutations,
                              kind="labels", metric="correlation", random_state=cfg.random_state,
                              verbose=False)
    return scores, perm, avg.n_trials


def _attach_null(scores, perm, subject):
    """Subject column and per-unit p-values on the scores; the ROI-mean null of each ROI."""
    import numpy as np

    if "subject" in scores:
        scores["subject"] = subject
    else:
        scores.insert(0, "subject", subject)
    scores["p_perm"] = perm.p_values
    null_roi = {roi: np.nanmean(perm.null[:, (scores["roi"] == roi).to_numpy()], axis=1)
                for roi in scores["roi"].unique()}
    return scores, null_roi


def _roi_table(scores, nulls, alpha):
    import numpy as np
    import pandas as pd

    rows = []
    for (subject, roi), part in scores.groupby(["subject", "roi"], sort=False):
        null = nulls[subject][roi]
        mean_r = float(np.nanmean(part["r"]))
        row = {"subject": subject, "roi": roi, "n_units": len(part), "r_mean": mean_r,
               "r_median": float(np.nanmedian(part["r"])), "r2_mean": float(np.nanmean(part["r2"])),
               "chance_r_mean": float(np.nanquantile(null, 1 - alpha)),
               "p_perm": float((1 + np.sum(null >= mean_r)) / (null.size + 1)),
               "frac_units_p<alpha": float(np.mean(part["p_perm"] < alpha))}
        for col in ("noise_ceiling", "noise_ceiling_r", "true_noise_ceiling"):
            if col in part and part[col].notna().any():
                row[f"{col}_mean"] = float(np.nanmean(part[col]))
        rows.append(row)
    return pd.DataFrame(rows)


def _background(rec):
    """nilearn's bundled MNI152 template for MNI-space data (no download); None: no anatomy."""
    if str(rec.space).upper().startswith("MNI"):
        from nilearn.datasets import load_mni152_template

        return load_mni152_template(resolution=2)
    return None


def _figures(run, scores, roi_table, recordings, cfg, alpha):
    import matplotlib.pyplot as plt
    import numpy as np

    from neurotoolkit.viz import plot_brain_map, plot_roi_scores

    if cfg.roi_bars:
        ceiling = "noise_ceiling_r" if scores.get("noise_ceiling_r", None) is not None \
            and scores["noise_ceiling_r"].notna().any() else None
        fig = plot_roi_scores(scores, score="r", ceiling=ceiling,
                              title=f"{cfg.name}: held-out r per ROI")
        run.write_figure("roi_scores", fig, caption="Held-out Pearson r of every unit per ROI (all "
                         "subjects); dashed: noise ceiling (sqrt of the explainable variance).")
    rois = list(dict.fromkeys(scores["roi"]))
    fig, axes = plt.subplots(1, len(rois), figsize=(3 * len(rois), 2.6), squeeze=False)
    for ax, roi in zip(axes[0], rois):
        part = roi_table[roi_table["roi"] == roi]
        ax.hist(scores.loc[scores["roi"] == roi, "r"].dropna(), bins=30, color="0.4")
        for chance in part["chance_r_mean"]:
            ax.axvline(chance, color="tab:red", ls="--", lw=1)
        ax.set(title=roi, xlabel="held-out r")
    axes[0][0].set_ylabel("units")
    run.write_figure("score_distributions", fig, caption="Distribution of held-out r per ROI; red "
                     f"dashed: permutation chance level of the ROI mean r ({1 - alpha:.0%} quantile).")
    for subject, rec in recordings.items():
        if "affine" not in rec.meta or not {"i", "j", "k"} <= set(rec.units.columns):
            continue
        r = scores.loc[scores["subject"] == subject, "r"].to_numpy(dtype=float)
        nifti = run.output_dir / f"r_{subject}.nii.gz"
        from neurotoolkit._utils.io import atomic_path

        with atomic_path(nifti) as tmp:
            rec.to_nifti(np.nan_to_num(r)).to_filename(str(tmp))
        run.add_output(f"r_{subject}", nifti, "map")
        fig = plot_brain_map(rec, np.nan_to_num(r), title=f"{subject}: held-out r",
                             display_mode="z",
                             cut_coords=min(5, int(rec.meta.get("volume_shape", (0, 0, 5))[2])), bg_img=_background(rec))
        run.write_figure(f"brain_map_{subject}", fig, caption=f"Held-out r of every voxel of {subject} "
                         "on its own volume grid (`r_<subject>.nii.gz`).")


def run(config, verbose=True):
    """Run the encode pipeline.

    Parameters
    ----------
    config : dict | EncodeConfig
        Validated first (every problem is reported by key path before any work).
    verbose : bool | int | str | None

    Returns
    -------
    output_dir : pathlib.Path
    """
    import numpy as np
    import pandas as pd

    from . import _timeseries as ts
    from ._features import compute_features
    from ._runner import Run
    from ._sources import load_data

    cfg = validate_config(CONFIG_MODEL, config)
    with Run(cfg.output_dir, cfg, "encode", verbose=verbose) as run:
        bundle = load_data(cfg.data, run)
        if not bundle.recordings:
            raise ValueError(f"Invalid value for `data`: the {cfg.data.source} source "
                             f"{getattr(cfg.data, 'name', '')} gives no recordings to encode.")
        for sub, rec in bundle.recordings.items():
            if rec.is_timeseries and cfg.model.delays is None:
                raise ValueError(f"Invalid value for `model.delays`: {sub} is a time series, which needs "
                                 "FIR delays (e.g. model.delays: [1, 2, 3, 4]); or set "
                                 "data.responses: betas to fit one response per trial.")
        spaces = compute_features(cfg.features, bundle.stimuli, run, random_state=cfg.random_state)
        feature_keys = {name: fs.provenance for name, fs in spaces.items()}
        tables, nulls, split_text, n_test = [], {}, {}, {}
        for sub, rec in bundle.recordings.items():
            test_ids = (bundle.extra.get("test_ids") or {}).get(sub)
            if rec.is_timeseries and cfg.split.method == "stimuli":
                raise ValueError("Invalid value for `split.method`: a time series is split by whole "
                                 "runs; use \"runs\" or \"auto\".")
            train, test, split_text[sub] = _split(rec, cfg, test_ids, timeseries=rec.is_timeseries)
            key = {"data": bundle.extra.get("key"), "subject": sub, "features": feature_keys,
                   "features_cfg": {k: v.model_dump(mode="json") for k, v in cfg.features.items()},
                   "model": cfg.model.model_dump(mode="json"), "split": cfg.split.model_dump(mode="json"),
                   "random_state": cfg.random_state}
            if rec.is_timeseries:
                timeline = ts.timeline_from_recording(rec)
                enc = run.stage(f"model-{sub}", key, lambda: ts.fit_timeseries(train, spaces, timeline, cfg),
                                kind="encoder")
                scores, perm, n_test[sub] = ts.evaluate_timeseries(enc, test, timeline, cfg)
            else:
                enc = run.stage(f"model-{sub}", key, lambda: _fit(train, spaces, cfg), kind="encoder")
                scores, perm, n_test[sub] = _evaluate(enc, test, cfg)
            scores, nulls[sub] = _attach_null(scores, perm, sub)
            enc.save(run.output_dir / f"encoder_{sub}.h5", overwrite=True)
            run.add_output(f"encoder_{sub}", run.output_dir / f"encoder_{sub}.h5", "model")
            truth = bundle.extra.get("truth")
            if truth is not None:
                scores["true_noise_ceiling"] = truth.noise_ceiling(
                    n_average=int(test.repeat_counts().min()), subject=rec.subject)
            tables.append(scores)
            logger.info("%s: mean r = %.3f over %d units (%s)", sub, np.nanmean(scores["r"]),
                        len(scores), split_text[sub])
        scores = pd.concat(tables).reset_index(names="unit")
        alpha = cfg.inference.alpha
        roi_table = _roi_table(scores, nulls, alpha)
        run.write_table("roi_scores", roi_table, caption=(
            "Held-out scores per subject and ROI. `r_mean`/`r_median`: Pearson r over the ROI's units "
            "(test repeats averaged); `r2_mean`: R^2; `chance_r_mean`: the "
            f"{1 - alpha:.0%} quantile of the ROI mean r when the test stimuli are permuted "
            f"({cfg.inference.n_permutations} permutations); `p_perm`: its permutation p-value; "
            "`frac_units_p<alpha`: units whose own permutation p < alpha (uncorrected); "
            "`noise_ceiling_mean`: explainable variance fraction at the test averaging (NSD ncsnr "
            "method); `true_noise_ceiling_mean`: the simulator's ground truth."))
        run.write_table("scores", scores, report=False)
        _figures(run, scores, roi_table, bundle.recordings, cfg, alpha)
        best = roi_table.sort_values("r_mean", ascending=False).iloc[0]
        summary = [
            f"data: {cfg.data.source}; subjects: {', '.join(bundle.recordings)}; "
            f"features: {', '.join(f'{k} ({v.n_features})' for k, v in spaces.items())}",
            "split: " + "; ".join(f"{s}: {t}, {n_test[s]} test "
                                  f"{'samples' if bundle.recordings[s].is_timeseries else 'stimuli'}"
                                  for s, t in split_text.items()),
            f"best ROI: {best['subject']} {best['roi']} mean r = {best['r_mean']:.3f} "
            f"(chance {best['chance_r_mean']:.3f}, p = {best['p_perm']:.3g}"
            + (f", noise ceiling {best['noise_ceiling_mean']:.2f}" if "noise_ceiling_mean" in best
               and best["noise_ceiling_mean"] == best["noise_ceiling_mean"] else "") + ")",
        ]
        return run.finish(f"{cfg.name}: voxelwise encoding", summary)
