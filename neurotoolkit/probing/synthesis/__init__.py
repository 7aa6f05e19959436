"""Images for what a unit or region prefers: encoder objectives, activation
maximization, encoder-guided diffusion (BrainDiVE), generation from decoded
embeddings, and evaluation of generated images."""

from ._activation_max import ActivationMaximizer, SynthesisResult
from ._embedding_generation import (
    conditioning_dim,
    generate_from_embeddings,
    load_generator,
    refine_img2img,
)
from ._evaluate import (
    GroundTruthJudge,
    category_specificity,
    compare_to_natural,
    predicted_activation,
    zero_shot_category,
)
from ._guided_diffusion import BrainGuidedDiffusion
from ._guided_result import GuidedDiffusionResult
from ._objective import EncoderObjective, backbone_extractor

__all__ = [
    "ActivationMaximizer",
    "BrainGuidedDiffusion",
    "EncoderObjective",
    "GroundTruthJudge",
    "GuidedDiffusionResult",
    "SynthesisResult",
    "backbone_extractor",
    "category_specificity",
    "compare_to_natural",
    "conditioning_dim",
    "generate_from_embeddings",
    "load_generator",
    "predicted_activation",
    "refine_img2img",
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
