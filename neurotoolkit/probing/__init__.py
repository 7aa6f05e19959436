"""Probing what units prefer: :mod:`~neurotoolkit.probing.synthesis` (images)
and :mod:`~neurotoolkit.probing.captioning` (words). Their public names are
re-exported here."""

from . import captioning, synthesis
from .captioning import (
    BrainCaptioner,
    NaturalProjection,
    PrefixCaptioner,
    RetrievalCaptioner,
    SelectivityCaptioner,
    TfidfTextEmbedder,
    build_word_tokenizer,
    caption_brain,
    caption_scores,
    caption_similarity,
    evaluate_captions,
    extract_keywords,
    load_prefix_captioner,
    make_prompt,
    project_to_natural,
    prompts_for,
)
from .synthesis import (
    ActivationMaximizer,
    BrainGuidedDiffusion,
    EncoderObjective,
    GroundTruthJudge,
    NaturalComparison,
    SynthesisResult,
    backbone_extractor,
    category_specificity,
    compare_to_natural,
    conditioning_dim,
    generate_from_embeddings,
    load_generator,
    predicted_activation,
    refine_img2img,
    zero_shot_category,
)

__all__ = ["captioning", "synthesis", *captioning.__all__, *synthesis.__all__]

# Old names kept for one release: (where it lives now, what to use instead)
_DEPRECATED = {
    "make_tiny_components": ("neurotoolkit.testing", "neurotoolkit.testing.make_tiny_components"),
    "encoder_objective": ("neurotoolkit.probing.synthesis._objective", "EncoderObjective(...)"),
    "guided_epsilon": ("neurotoolkit.probing.synthesis._guidance", None),
    "images_to_float": ("neurotoolkit.probing.synthesis._evaluate", None),
    "pick_noun": ("neurotoolkit.probing.captioning._text", None),
    "head_noun": ("neurotoolkit.probing.captioning._text", None),
    "CAPTION_STOP_WORDS": ("neurotoolkit.probing.captioning._text", None),
    "tokenize_caption": ("neurotoolkit.probing.captioning._caption_metrics", None),
}


def __getattr__(name):
    if name in synthesis._LAZY_IMAGE_PARAM or name in synthesis._DEPRECATED:
        return getattr(synthesis, name)
    if name in _DEPRECATED:
        import importlib
        import warnings

        module, instead = _DEPRECATED[name]
        hint = f"use `{instead}`" if instead else "it is an internal helper and will be removed"
        warnings.warn(f"`neurotoolkit.probing.{name}` is deprecated: {hint}.", FutureWarning, stacklevel=2)
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
