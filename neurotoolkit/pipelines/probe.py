"""The ``probe`` pipeline: a saved encoder -> preferred images and captions per ROI.

    neurotoolkit probe pipelines/configs/probe_demo.yaml

Loads an encoder saved by ``neurotoolkit encode`` (``encoder_<subject>.h5``)
or by ``VoxelwiseEncoder.save``, rebuilds the feature extractor it was fitted
on (``probe.features``: the Gabor pyramid or a backbone layer), and for each
ROI: ranks the natural images by predicted response, synthesizes images by
activation maximisation (weight-free) or encoder-guided diffusion (local
Stable Diffusion weights), and captions the ROI from a caption pool.
Synthesized images are scored beside the best natural image and random-noise
images (the baselines). Outputs: ``synthesis.csv``, ``captions.csv``,
``natural_top.csv``, ``preferred_images.png``, a Markdown + HTML report.
"""

from typing import List, Literal, Optional

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from ._config import BackboneFeatures, ExistingDir, ExistingFile, GaborFeatures, Strict
from ._config import validate_config
from ._data_config import DataConfig

__all__ = ["CONFIG_MODEL", "ProbeConfig", "run"]


class SynthesisConfig(Strict):
    """Image synthesis per ROI."""

    method: Literal["activation_max", "diffusion"] = Field(
        "activation_max", description="ActivationMaximizer (weight-free) or BrainGuidedDiffusion "
        "(needs `diffusion_path`)")
    n_images: PositiveInt = 4
    image_size: PositiveInt = Field(96, description="activation_max: image size (pixels)")
    n_steps: PositiveInt = Field(128, description="activation_max: optimisation steps")
    learning_rate: PositiveFloat = 0.05
    diffusion_path: Optional[ExistingDir] = Field(
        None, description="diffusion: local diffusers folder of a Stable Diffusion pipeline "
        "(e.g. stabilityai/stable-diffusion-2-1-base downloaded beforehand; never downloaded here)")
    guidance_scale: float = Field(130.0, description="diffusion: brain guidance scale")
    num_inference_steps: PositiveInt = Field(50, description="diffusion: sampling steps")

    @model_validator(mode="after")
    def _diffusion_needs_path(self):
        if self.method == "diffusion" and self.diffusion_path is None:
            raise ValueError("method 'diffusion' needs `diffusion_path` (a local diffusers folder)")
        return self


class CaptionsConfig(Strict):
    """Captions per ROI from a pool of captioned images (SelectivityCaptioner + retrieval)."""

    enabled: bool = True
    n_per_category: PositiveInt = Field(
        40, description="the caption pool: built-in captioned images per category")


class ProbeSection(Strict):
    """The encoder to probe and how."""

    encoder: ExistingFile = Field(..., description="saved encoder (.h5), e.g. encoder_sub-01.h5 "
                                  "of an encode run")
    features: Optional[GaborFeatures | BackboneFeatures] = Field(
        None, description="the features the encoder was fitted on (kind gabor or backbone, one "
        "layer); null: the Gabor pyramid with default parameters")
    rois: Optional[List[str]] = Field(None, description="ROIs to probe; null: all but noise/unknown")
    synthesis: SynthesisConfig = SynthesisConfig()
    captions: CaptionsConfig = CaptionsConfig()


class ProbeConfig(Strict):
    """The ``probe`` pipeline (``neurotoolkit probe CONFIG``)."""

    name: str = "probe"
    output_dir: str = Field("outputs/probe", description="run folder (cache, outputs, report)")
    random_state: int = 0
    data: Optional[DataConfig] = Field(
        None, description="source of the natural images compared with (its stimuli); null: the "
        "built-in images")
    probe: ProbeSection


CONFIG_MODEL = ProbeConfig


def _natural_stimuli(cfg, run):
    from neurotoolkit.simulation import make_builtin_stimuli

    from ._sources import load_data

    if cfg.data is None:
        return make_builtin_stimuli(n_per_category=20, random_state=cfg.random_state)
    stimuli = load_data(cfg.data, run).stimuli
    if stimuli is None or stimuli.images is None:
        raise ValueError(f"Invalid value for `data`: the source {cfg.data.source!r} gives no "
                         "stimulus images to compare the synthesized ones with.")
    return stimuli


def run(config, verbose=True):
    """Run the probe pipeline.

    Parameters
    ----------
    config : dict | ProbeConfig
        Validated first (unknown keys, wrong types and missing files raise
        ``ConfigError`` naming the key path before any work).
    verbose : bool | int | str

    Returns
    -------
    output_dir : pathlib.Path
    """
    import numpy as np
    import pandas as pd

    from neurotoolkit.encoding import load_encoder

    from . import _probe_core as core
    from ._features import stimuli_key
    from ._runner import Run

    cfg = validate_config(CONFIG_MODEL, config)
    pcfg, scfg = cfg.probe, cfg.probe.synthesis
    with Run(cfg.output_dir, cfg, "probe", verbose=verbose) as run:
        encoder = load_encoder(pcfg.encoder)
        rois = core.probe_rois(encoder, pcfg.rois)
        spec = pcfg.features or GaborFeatures()
        backbone, layer, pooling = core.make_backbone(spec, random_state=cfg.random_state)
        objs = core.objectives(encoder, backbone, layer, pooling, rois)
        stimuli = _natural_stimuli(cfg, run)
        key = {"encoder": run.file_hash(pcfg.encoder), "features": spec.model_dump(mode="json"),
               "random_state": cfg.random_state}
        natural = run.stage("natural", {**key, "stimuli": stimuli_key(stimuli, run)},
                            lambda: core.natural_activation(objs, stimuli), kind="table")
        synth, rows = {}, []
        for k, roi in enumerate(rois):
            seed = cfg.random_state + k
            if scfg.method == "activation_max":
                params = dict(image_size=scfg.image_size, n_steps=scfg.n_steps,
                              learning_rate=scfg.learning_rate, n_images=scfg.n_images)

                def compute(roi=roi, params=params, seed=seed):
                    return core.activation_max(objs[roi], params, seed)
            else:
                params = dict(guidance_scale=scfg.guidance_scale,
                              num_inference_steps=scfg.num_inference_steps)

                def compute(roi=roi, params=params, seed=seed):
                    return core.guided_diffusion(objs[roi], scfg.diffusion_path, params,
                                                 scfg.n_images, seed)
            synth_key = {**key, "roi": roi, "synthesis": scfg.model_dump(mode="json")}
            if scfg.diffusion_path is not None:
                synth_key["weights"] = run.file_hash(scfg.diffusion_path)
            synth[roi] = run.stage(f"synthesis-{roi}", synth_key, compute, kind="arrays")
            size = int(synth[roi]["images"].shape[-1])
            random_scores = core.random_baseline(objs[roi], max(8, scfg.n_images), size, seed)
            rows.append(core.synthesis_table(roi, synth[roi]["images"], objs[roi], natural,
                                             random_scores))
        table = pd.DataFrame(rows)
        run.write_table("synthesis", table, caption=(
            "Predicted mean ROI response (the encoder's prediction) of the synthesized images "
            "beside the baselines: the best natural image (`best_natural`, id in "
            "`best_natural_id`), the 95th percentile and mean over natural images, and uniform-"
            "noise images (`random_mean`). `fraction_above_best_natural`: share of synthesized "
            "images the encoder predicts above every natural one."))
        top = pd.concat({roi: natural[roi].nlargest(5).rename("predicted").rename_axis("id")
                         .reset_index() for roi in rois}, names=["roi"]).reset_index(level=0)
        run.write_table("natural_top", top, caption="The 5 natural images with the largest "
                        "predicted response per ROI.")
        n_show = min(4, scfg.n_images)
        run.write_figure("preferred_images", core.plot_grid(stimuli, natural, synth, rois, n_show),
                         caption="Per ROI: top natural images (left), synthesized images (right), "
                                 "with their predicted responses.")
        summary = [f"{r['roi']}: synthesized {r['synthesized_mean']:.3f} vs best natural "
                   f"{r['best_natural']:.3f}, natural 95% {r['natural_q95']:.3f}, random "
                   f"{r['random_mean']:.3f}" for r in rows]
        if pcfg.captions.enabled:
            from neurotoolkit.simulation import make_builtin_stimuli

            pool = make_builtin_stimuli(n_per_category=pcfg.captions.n_per_category,
                                        random_state=cfg.random_state + 1)
            emb = run.stage("pool-embeddings", {**key, "pool": pcfg.captions.model_dump()},
                            lambda: {"embeddings": core.pool_embeddings(
                                encoder, backbone, layer, pooling, pool)}, kind="arrays")
            captions = core.roi_captions(encoder, pool, np.asarray(emb["embeddings"]), rois)
            captions["keywords"] = captions["keywords"].map(
                lambda v: ", ".join(v) if isinstance(v, (list, tuple, np.ndarray)) else v)
            run.write_table("captions", captions, caption=(
                "Caption per ROI: the ROI's encoder weights projected onto the caption pool's "
                "image embeddings (BrainSCUBA), then the closest captions; `top_pool_caption`: "
                "the caption of the single pool image closest to the mean weights (a reference)."))
            summary += [f"{r['roi']} caption: {r['caption']!r}" for r in
                        captions.to_dict("records")]
        return run.finish(f"{cfg.name}: probing report", summary)
