"""Words for what a unit or region prefers: the BrainSCUBA projection onto
natural embeddings, retrieval and prefix (ClipCap) captioners, caption
evaluation against held-out responses, caption metrics, brain captioning."""

from ._brain_captioning import BrainCaptioner, caption_brain
from ._caption_eval import TfidfTextEmbedder, caption_similarity, evaluate_captions
from ._caption_metrics import caption_scores
from ._prefix_captioner import PrefixCaptioner, build_word_tokenizer, load_prefix_captioner
from ._project import NaturalProjection, project_to_natural
from ._retrieval_captioner import RetrievalCaptioner
from ._selectivity_captioner import SelectivityCaptioner, prompts_for
from ._text import extract_keywords, make_prompt

__all__ = [
    "BrainCaptioner",
    "NaturalProjection",
    "PrefixCaptioner",
    "RetrievalCaptioner",
    "SelectivityCaptioner",
    "TfidfTextEmbedder",
    "build_word_tokenizer",
    "caption_brain",
    "caption_scores",
    "caption_similarity",
    "evaluate_captions",
    "extract_keywords",
    "load_prefix_captioner",
    "make_prompt",
    "project_to_natural",
    "prompts_for",
]
