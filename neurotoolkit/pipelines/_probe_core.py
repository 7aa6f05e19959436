"""Science core of the ``probe`` pipeline: pure functions over a loaded encoder.

Preferred images per ROI by activation maximisation (weight-free; Olah et
al., 2017, Distill) or encoder-guided diffusion (BrainDiVE; Luo et al., 2023,
NeurIPS), each compared with the natural images and with random images
(the baselines), and a caption per ROI from a caption pool (BrainSCUBA-style
projection onto natural image embeddings; Luo et al., 2024, ICLR).
"""

import numpy as np
import pandas as pd

__all__ = []

_SKIP_ROIS = ("noise", "unknown")


def probe_rois(encoder, rois=None):
    """ROIs to probe: ``rois``, or every ROI of the encoder's units but noise/unknown."""
    units = getattr(encoder, "units_", None)
    have = [] if units is None else list(dict.fromkeys(units["roi"].astype(str)))
    if rois is None:
        rois = [r for r in have if r not in _SKIP_ROIS]
    absent = [r for r in rois if r not in have]
    if absent or not rois:
        raise ValueError(f"Invalid value for `probe.rois`: expected ROIs of the encoder's units "
                         f"{have}, got {absent or rois}.")
    return list(rois)


def make_backbone(spec, device="cpu", random_state=0):
    """(Backbone, layer, pooling) of the features the encoder was fitted on.

    ``spec``: a feature spec of the config (``kind: gabor`` with ``params``
    or ``kind: backbone`` with ``name``, one layer, ``weights``: a local
    checkpoint file, a hub tag, "random" or null for the default weights).
    """
    from pathlib import Path

    from ..features import get_backbone

    if spec.kind == "gabor":
        params = spec.params.model_dump(exclude={"dtype", "batch_size"})
        return get_backbone("gabor", device=device, **params), "embedding", "auto"
    layers = [spec.layers] if isinstance(spec.layers, str) else list(spec.layers)
    if len(layers) != 1:
        raise ValueError(f"Invalid value for `probe.features.layers`: expected one layer (the "
                         f"encoder's features), got {layers}.")
    kwargs = dict(getattr(spec, "options", None) or {})
    weights = spec.weights
    if weights == "random":
        kwargs["pretrained"] = None
    elif weights is not None and Path(weights).expanduser().is_file():
        kwargs["checkpoint"] = str(Path(weights).expanduser())
    elif weights is not None:
        kwargs["pretrained"] = weights
    backbone = get_backbone(spec.name, device=device, random_state=random_state, **kwargs)
    return backbone, layers[0], spec.pooling


def objectives(encoder, backbone, layer, pooling, rois):
    """ROI -> EncoderObjective (mean predicted response of the ROI's units)."""
    from ..probing import EncoderObjective, backbone_extractor

    extractor = backbone_extractor(backbone, layer=layer, pooling=pooling)
    return {roi: EncoderObjective(encoder, extractor, units=roi, device="cpu") for roi in rois}


def natural_activation(objs, stimuli, size=None):
    """Predicted ROI activation of every natural image, DataFrame (n_images, n_rois)."""
    from ..probing import predicted_activation

    return pd.DataFrame({roi: predicted_activation(obj, stimuli, size=size, device="cpu")
                         for roi, obj in objs.items()}, index=[str(i) for i in stimuli.ids])


def random_baseline(obj, n_images, size, random_state):
    """Predicted activation of uniform-noise images (the floor a synthesis must beat)."""
    from ..probing import predicted_activation

    rng = np.random.default_rng(random_state)
    images = rng.random((n_images, 3, size, size)).astype(np.float32)
    return predicted_activation(obj, images, device="cpu")


def activation_max(obj, params, random_state):
    """Images by activation maximisation: dict of ``images`` (n, 3, H, W), ``scores`` (n,)."""
    from ..probing import ActivationMaximizer

    res = ActivationMaximizer(obj, random_state=random_state, device="cpu", verbose=False,
                              **params).generate()
    return {"images": np.asarray(res.images, dtype=np.float32), "scores": np.asarray(res.scores)}


def guided_diffusion(obj, path, params, n_images, random_state, components=None):
    """Images by encoder-guided diffusion from a local diffusers folder (never downloads).

    ``components``: the pipeline's components (unet, vae, text_encoder,
    tokenizer) instead of a folder, e.g. tiny ones for tests.
    """
    from ..probing import BrainGuidedDiffusion

    if components is not None:
        pipe = BrainGuidedDiffusion(**components, objective=obj, device="cpu", **params)
    else:
        pipe = BrainGuidedDiffusion.from_pretrained(str(path), objective=obj, device="cpu",
                                                    local_files_only=True, **params)
    seeds = [int(random_state) + k for k in range(n_images)]
    res = pipe.generate(random_state=seeds, return_trace=False, verbose=False)
    return {"images": np.asarray(res.images, dtype=np.float32), "scores": np.asarray(res.scores)}


def synthesis_table(roi, images, obj, natural, random_scores):
    """One row: synthesized vs best / top-5 % natural images vs random images."""
    from ..probing import predicted_activation

    scores = predicted_activation(obj, images, device="cpu")
    nat = natural[roi].to_numpy()
    return dict(roi=roi, n_images=len(scores), synthesized_mean=float(scores.mean()),
                synthesized_max=float(scores.max()), best_natural=float(nat.max()),
                natural_q95=float(np.quantile(nat, 0.95)), natural_mean=float(nat.mean()),
                random_mean=float(np.mean(random_scores)),
                fraction_above_best_natural=float(np.mean(scores > nat.max())),
                best_natural_id=str(natural[roi].idxmax()))


def pool_embeddings(encoder, backbone, layer, pooling, pool, batch_size=32):
    """Pool images in the encoder's standardized feature space, (n_pool, n_features)."""
    from ..features import extract_features

    space = extract_features(pool, backbone, layers=layer, pooling=pooling, batch_size=batch_size,
                             device="cpu", verbose=False)
    readout = encoder.linear_readout()
    return (np.asarray(space.values, dtype=np.float64) - readout["feature_mean"]) / readout[
        "feature_scale"]


def roi_captions(encoder, pool, pool_emb, rois):
    """Caption per ROI: its units' weights projected onto the pool, then retrieval captions.

    Returns
    -------
    table : pandas.DataFrame
        ``roi, n_units, caption, keywords, noun, prompt`` and
        ``top_pool_caption`` (the caption of the pool image the ROI's mean
        weights are most similar to, for reference).
    """
    from ..probing import RetrievalCaptioner, SelectivityCaptioner

    if pool.captions is None:
        raise ValueError("Invalid value for `probe.captions.pool`: expected a stimulus set with "
                         "captions, got one without.")
    readout = encoder.linear_readout()
    W = np.asarray(readout["coef"], dtype=np.float64).T
    labels = encoder.units_["roi"].astype(str).to_numpy()
    keep = np.isin(labels, rois)
    captioner = SelectivityCaptioner(RetrievalCaptioner(list(pool.captions), pool_emb),
                                     image_embeddings=pool_emb, backend="numpy", device="cpu")
    table = captioner.caption_rois(W[keep], labels[keep])
    unit_norm = pool_emb / np.maximum(np.linalg.norm(pool_emb, axis=1, keepdims=True), 1e-12)
    top = []
    for roi in table["roi"]:
        w = W[labels == roi].mean(axis=0)
        top.append(list(pool.captions)[int(np.argmax(unit_norm @ w))])
    table["top_pool_caption"] = top
    cols = [c for c in ("roi", "n_units", "caption", "keywords", "noun", "prompt",
                        "top_pool_caption") if c in table.columns]
    return table[cols].reset_index(drop=True)


def plot_grid(stimuli, natural, synth, rois, n_show=4):
    """Per ROI a row: the top natural images, then the synthesized ones (best first)."""
    from ..viz import plot_image_grid

    images, titles = [], []
    for roi in rois:
        top = natural[roi].nlargest(n_show)
        images += [stimuli.load_image(i) for i in top.index]
        titles += [f"{roi} natural {v:.2f}" for v in top]
        arr, scores = synth[roi]["images"], synth[roi]["scores"]
        order = np.argsort(-scores)[:n_show]
        images += [np.clip(arr[k].transpose(1, 2, 0) * 255, 0, 255).astype(np.uint8) for k in order]
        titles += [f"synth {scores[k]:.2f}" for k in order]
    n_cols = 2 * n_show if len(images) >= 2 * n_show else len(images)
    return plot_image_grid(images, titles=titles, n_cols=max(n_cols, 1), size=1.4,
                           suptitle="preferred images per ROI: natural (left) vs synthesized")
