"""Offline word-level tokenizer for training tiny language models (no download)."""

from ..._utils.optional import require
from ..._utils.validation import describe

__all__ = ["build_word_tokenizer"]


def build_word_tokenizer(captions, lowercase=True, extra_tokens=(".",)):
    """A word-level tokenizer built offline from a list of captions.

    Words (split at whitespace; hyphenated words stay whole) and the
    punctuation marks ``.,!?;:`` each get one id; ``<pad>`` is 0 and ``<unk>`` is 1. Useful to train a tiny language
    model from a config without downloading a tokenizer.

    Parameters
    ----------
    captions : sequence of str
        Text that defines the vocabulary.
    lowercase : bool
        Lower-case text before splitting (also when encoding later).
    extra_tokens : sequence of str
        Tokens added to the vocabulary even if absent from ``captions``
        (the default "." is :class:`PrefixCaptioner`'s stop token).

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        ``decode`` removes the space before punctuation ("a ball." not "a ball .").
    """
    tokenizers = require("tokenizers", purpose="build_word_tokenizer")
    transformers = require("transformers", purpose="build_word_tokenizer")
    if isinstance(captions, str) or len(captions) == 0:
        raise ValueError(
            f"Invalid value for `captions`: expected a non-empty list of str, got {describe(captions)}."
        )
    pt = tokenizers.pre_tokenizers
    pre = pt.Sequence([
        pt.Split(tokenizers.Regex(r"\s+"), behavior="removed"),
        pt.Split(tokenizers.Regex(r"[.,!?;:]"), behavior="isolated"),
    ])
    words = set()
    for cap in captions:
        text = str(cap).lower() if lowercase else str(cap)
        words.update(w for w, _ in pre.pre_tokenize_str(text))
    words.update(str(t) for t in extra_tokens)
    vocab = {"<pad>": 0, "<unk>": 1}
    vocab.update({w: k + 2 for k, w in enumerate(sorted(words))})
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
    if lowercase:
        tok.normalizer = tokenizers.normalizers.Lowercase()
    tok.pre_tokenizer = pre
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", clean_up_tokenization_spaces=True
    )
