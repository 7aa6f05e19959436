"""neurotoolkit.probing (see DESIGN.md); populated by later issues."""

__all__ = []

# captions for voxels (issue 8, part 1: BrainSCUBA projection, retrieval captioner, evaluation)
from ._project import NaturalProjection, project_to_natural
from ._retrieval_captioner import RetrievalCaptioner
from ._selectivity_captioner import SelectivityCaptioner, prompts_for
from ._caption_eval import TfidfTextEmbedder, caption_similarity, evaluate_captions
from ._text import CAPTION_STOP_WORDS, extract_keywords, head_noun, make_prompt, pick_noun

__all__ += [
    "CAPTION_STOP_WORDS",
    "NaturalProjection",
    "RetrievalCaptioner",
    "SelectivityCaptioner",
    "TfidfTextEmbedder",
    "caption_similarity",
    "evaluate_captions",
    "extract_keywords",
    "head_noun",
    "make_prompt",
    "pick_noun",
    "project_to_natural",
    "prompts_for",
]

# caption decoding (issue 8, part 2: ClipCap prefix captioner, caption metrics, brain captioning)
from ._prefix_captioner import PrefixCaptioner, build_word_tokenizer, load_prefix_captioner
from ._caption_metrics import caption_scores, tokenize_caption
from ._brain_captioning import BrainCaptioner, caption_brain

__all__ += [
    "BrainCaptioner",
    "PrefixCaptioner",
    "build_word_tokenizer",
    "caption_brain",
    "caption_scores",
    "load_prefix_captioner",
    "tokenize_caption",
]

# encoder objectives, activation maximization, evaluation of synthesized images (issue 7, part 1)
from ._objective import EncoderObjective, backbone_extractor, encoder_objective
from ._activation_max import ActivationMaximizer, SynthesisResult
from ._evaluate import (
    GroundTruthJudge,
    category_specificity,
    compare_to_natural,
    images_to_float,
    predicted_activation,
    zero_shot_category,
)

__all__ += [
    "ActivationMaximizer",
    "EncoderObjective",
    "GroundTruthJudge",
    "SynthesisResult",
    "backbone_extractor",
    "category_specificity",
    "compare_to_natural",
    "encoder_objective",
    "images_to_float",
    "predicted_activation",
    "zero_shot_category",
]

# image parameterizations and transforms import torch: loaded on first access
_LAZY_IMAGE_PARAM = ("FourierImage", "PixelImage", "decorrelate_colors", "make_transforms")
__all__ += list(_LAZY_IMAGE_PARAM)


def __getattr__(name):
    if name in _LAZY_IMAGE_PARAM:
        from . import _image_param

        return getattr(_image_param, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# encoder-guided diffusion (BrainDiVE) and generation from decoded embeddings (issue 7, part 2)
from ._guided_diffusion import BrainGuidedDiffusion
from ._guided_result import GuidedDiffusionResult
from ._guidance import guided_epsilon
from ._embedding_generation import (
    conditioning_dim,
    generate_from_embeddings,
    load_generator,
    make_tiny_components,
    refine_img2img,
)

__all__ += [
    "BrainGuidedDiffusion",
    "GuidedDiffusionResult",
    "conditioning_dim",
    "generate_from_embeddings",
    "guided_epsilon",
    "load_generator",
    "make_tiny_components",
    "refine_img2img",
]
