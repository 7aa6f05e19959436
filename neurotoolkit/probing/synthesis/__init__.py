"""Images for what a unit or region prefers: encoder objectives, activation
maximization, encoder-guided diffusion (BrainDiVE), generation from decoded
embeddings, and evaluation of generated images. Synthesized images come back as
one result type, :class:`SynthesisResult`."""

from ._activation_max import ActivationMaximizer
from ._embedding_generation import (
    conditioning_dim,
    generate_from_embeddings,
    load_generator,
    refine_img2img,
)
from ._evaluate import (
    GroundTruthJudge,
    NaturalComparison,
    category_specificity,
    compare_to_natural,
    predicted_activation,
    zero_shot_category,
)
from ._guided_diffusion import BrainGuidedDiffusion
from ._objective import EncoderObjective, backbone_extractor
from ._result import SynthesisResult

__all__ = [
    "ActivationMaximizer",
    "BrainGuidedDiffusion",
    "EncoderObjective",
    "GroundTruthJudge",
    "NaturalComparison",
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


# old names kept for one release: name -> what to use instead
_DEPRECATED = {"GuidedDiffusionResult": "SynthesisResult"}


def __getattr__(name):
    if name in _LAZY_IMAGE_PARAM:
        from . import _image_param

        return getattr(_image_param, name)
    if name in _DEPRECATED:
        from ..._utils.logging import warn

        warn(f"`{name}` is deprecated and will be removed in the next release: use "
             f"`{_DEPRECATED[name]}` (the one result type of ActivationMaximizer and "
             f"BrainGuidedDiffusion).", FutureWarning)
        return globals()[_DEPRECATED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
