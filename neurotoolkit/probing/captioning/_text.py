"""Offline text helpers for captions: tokens, stop words, keywords, nouns, prompts.

No language model and no downloaded data: a regular-expression tokenizer, a
crude singular form, scikit-learn's English stop words plus caption filler
("photo", "image", ...), LaVCa-style keyword weighting, and a POS-free noun
picker. When NLTK and its perceptron tagger data happen to be installed, the
noun picker can use them (``use_nltk=True``); nothing relies on it.
"""

import math
import re
from collections import Counter

import numpy as np

from ..._utils.validation import check_int, check_type

__all__ = [
    "CAPTION_STOP_WORDS",
    "caption_frequencies",
    "extract_keywords",
    "head_noun",
    "make_prompt",
    "pick_noun",
    "singular",
    "tokenize",
]

_FILLER = {
    "photo", "photograph", "picture", "image", "images", "photos", "pictures", "view", "shot",
    "close", "closeup", "close-up", "up", "cartoon", "drawing", "illustration", "rendering", "showing",
    "shows", "depicting", "there", "seen", "looking", "side", "front", "background", "foreground",
    "stock", "camera", "pov", "various", "different", "several", "many", "some", "lot", "lots",
    "group", "couple", "pair", "kind", "sort", "type", "thing", "things", "one", "two", "three",
    "four", "five", "six", "small", "large", "big", "little", "tiny", "huge", "white", "black",
    "red", "green", "blue", "yellow", "brown", "gray", "grey", "orange", "pink", "purple",
    "dark", "bright", "light", "colorful", "old", "new", "young", "near", "next", "top",
    "bottom", "left", "right", "sitting", "standing", "holding", "wearing", "using",
}


def _sklearn_stop_words():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return set(ENGLISH_STOP_WORDS)


#: scikit-learn's English stop words plus words that fill captions without
#: naming content ("photo", "cartoon", colours, numbers, sizes, poses).
CAPTION_STOP_WORDS = frozenset(_sklearn_stop_words() | _FILLER)

# adjectives and other non-nouns that survive the stop list and end like nouns
_NOT_NOUNS = {
    "human", "headless", "legged", "natural", "artificial", "wooden", "metal", "plastic",
    "outdoor", "indoor", "urban", "rural", "animate", "inanimate", "nonhuman", "male", "female",
    "modern", "ancient", "empty", "full", "open", "closed", "round", "square", "tall", "short",
    "long", "wide", "high", "low", "busy", "quiet", "happy", "sad", "smiling", "flying",
    "walking", "running", "eating", "playing", "lying", "parked", "covered", "filled",
}
_NOUNS_ENDING_LIKE_ADJECTIVES = {
    "building", "buildings", "ceiling", "clothing", "painting", "drawing", "ring", "king",
    "string", "thing", "wing", "bed", "shed", "sled", "animal", "animals", "metal", "pedal",
    "table", "bottle", "vehicle", "bicycle", "apple", "people", "ball", "bowl", "hill",
}
_ADJ_SUFFIXES = ("ly", "ous", "ful", "ive", "less", "ish", "ical", "able", "ible", "ed", "ing")
_IRREGULAR = {
    "people": "person", "men": "man", "women": "woman", "children": "child", "feet": "foot",
    "teeth": "tooth", "mice": "mouse", "geese": "goose", "knives": "knife", "leaves": "leaf",
    "wolves": "wolf", "shelves": "shelf",
}
_KEEP_S = {"glass", "grass", "bus", "gas", "dress", "cross", "class", "boss", "chess", "lens",
           "news", "series", "species", "always", "this", "is", "was", "his", "has", "its",
           "as", "us", "yes", "canvas", "cactus", "octopus", "virus", "bonus", "campus"}
_TOKEN = re.compile(r"[a-z]+(?:[-'][a-z]+)*")


def tokenize(text):
    """Lower-case word tokens of ``text`` (letters, inner hyphens and apostrophes).

    >>> tokenize("A four-legged animal, on grass.")
    ['a', 'four-legged', 'animal', 'on', 'grass']
    """
    check_type("text", text, str)
    return _TOKEN.findall(text.lower())


def singular(word):
    """A crude singular form ("bodies" -> "body", "boxes" -> "box", "faces" -> "face")."""
    w = word.lower()
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(w) <= 3 or w in _KEEP_S or w.endswith(("ss", "us", "is")):
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "zes", "sses")):
        return w[:-2]
    if w.endswith("s"):
        return w[:-1]
    return w


def _words(text, stop_words):
    """Content words of one caption (singular forms, stop words removed; hyphenated
    compounds such as "four-legged" stay one word)."""
    out = []
    for tok in tokenize(text):
        tok = tok.replace("'s", "").strip("'")
        if len(tok) < 2 or tok in stop_words:
            continue
        s = singular(tok)
        if s not in stop_words:
            out.append(s)
    return out


def caption_frequencies(captions, stop_words=CAPTION_STOP_WORDS):
    """Inverse caption frequency of every content word of a caption pool.

    ``icf(word) = log((1 + n_captions) / (1 + n_captions_with_word)) + 1`` (the
    smoothed IDF of scikit-learn), so a word present in every caption still
    counts a little.

    Returns
    -------
    dict word -> float
    """
    captions = _as_text_list("captions", captions)
    df = Counter()
    for cap in captions:
        df.update(set(_words(cap, stop_words)))
    n = len(captions)
    return {w: math.log((1 + n) / (1 + c)) + 1.0 for w, c in df.items()}


def _as_text_list(name, texts):
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    for k, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"Invalid value for `{name}`: expected strings, got "
                            f"{type(t).__name__} at position {k}.")
    return texts


def extract_keywords(captions, weights=None, n_keywords=5, icf=None,
                     stop_words=CAPTION_STOP_WORDS):
    """Weighted keywords of a set of retrieved captions (LaVCa-style, offline).

    Candidate words are the content words of ``captions``; a word's score is
    ``sum over captions containing it of weight(caption) * icf(word)``, where
    ``icf`` is its inverse caption frequency in the pool (so words common to
    every caption, like "a photo", carry little). Scores are normalised to
    sum to 1 over the kept keywords.

    Parameters
    ----------
    captions : list of str, shape (n_captions,)
        Retrieved captions (for example the top-N for one voxel).
    weights : array (n_captions,) | None
        Softmax weights of the captions; None weighs them equally.
    n_keywords : int
        Keywords kept (LaVCa keeps 5).
    icf : dict | None
        Word -> inverse caption frequency over the whole caption pool (see
        :func:`caption_frequencies`); None uses 1 for every word.
    stop_words : set of str

    Returns
    -------
    list of (str, float)
        ``(keyword, weight)`` pairs, best first; ties are broken by first
        appearance.
    """
    captions = _as_text_list("captions", captions)
    n_keywords = check_int("n_keywords", n_keywords, min_value=1)
    if weights is None:
        weights = np.ones(len(captions))
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(captions),):
        raise ValueError(f"Invalid value for `weights`: expected shape ({len(captions)},), "
                         f"got {weights.shape}.")
    scores, first = {}, {}
    for cap, w in zip(captions, weights):
        for word in set(_words(cap, stop_words)):
            scores[word] = scores.get(word, 0.0) + w * (1.0 if icf is None else icf.get(word, 1.0))
        for word in _words(cap, stop_words):
            first.setdefault(word, len(first))
    ranked = sorted(scores, key=lambda x: (-scores[x], first[x]))[:n_keywords]
    total = sum(scores[w] for w in ranked)
    return [(w, float(scores[w] / total) if total > 0 else 0.0) for w in ranked]


_PREPOSITIONS = {"with", "of", "on", "in", "at", "by", "near", "under", "over", "behind", "from",
                 "to", "into", "for", "and", "or", "while", "that", "which", "who", "against",
                 "across", "along", "between", "beside", "above", "below", "inside", "outside"}


def head_noun(caption, stop_words=CAPTION_STOP_WORDS):
    """The head noun of a caption's first noun phrase, by a word-order rule.

    The caption is cut at its first preposition or conjunction ("with",
    "of", "on", "and", ...) that follows a content word; the last content
    word before the cut is the head ("a human figure with a small head" ->
    "figure", "a photo of a dog on grass" -> "dog"). Returns None when the
    caption has no content word.
    """
    segment = []
    for tok in tokenize(caption):
        if tok in _PREPOSITIONS:
            if segment:
                break
            continue
        segment.extend(_words(tok, stop_words))
    nouns = [w for w in segment if _looks_like_noun(w)]
    if nouns:
        return nouns[-1]
    return segment[-1] if segment else None


def _looks_like_noun(word):
    if word in _NOUNS_ENDING_LIKE_ADJECTIVES:
        return True
    if word in _NOT_NOUNS or word in CAPTION_STOP_WORDS:
        return False
    return not word.endswith(_ADJ_SUFFIXES)


def _nltk_nouns(words):
    """Words tagged as nouns by NLTK, or None when NLTK or its tagger data are missing."""
    try:
        import nltk

        nltk.data.find("taggers/averaged_perceptron_tagger_eng")
        tags = nltk.pos_tag(list(words))
    except (ImportError, LookupError, OSError):  # not installed, or no tagger data
        return None
    return {w for w, t in tags if t.startswith("NN")}


def pick_noun(keywords, captions=None, use_nltk=False):
    """Pick the noun that names a ranked keyword list, without a POS tagger.

    The first keyword that looks like a noun (not a stop word, not a known
    adjective, no adjective/verb suffix such as "-ed", "-ing", "-less",
    except nouns like "building") wins; if none does, the top keyword.
    A keyword that is the head noun of one of ``captions`` (see
    :func:`head_noun`) is preferred over one that never is.

    Parameters
    ----------
    keywords : list of str | list of (str, float)
        Ranked keywords, best first.
    captions : list of str | None
        The captions the keywords came from.
    use_nltk : bool
        Use NLTK's perceptron tagger when it and its data are installed
        (it is not part of the offline default).

    Returns
    -------
    str | None
        None when ``keywords`` is empty.
    """
    words = [k[0] if isinstance(k, tuple) else k for k in keywords]
    if not words:
        return None
    heads = {h for h in map(head_noun, _as_text_list("captions", captions or [])) if h}
    tagged = _nltk_nouns(words) if use_nltk else None
    nounish = [w for w in words if (w in tagged if tagged is not None else _looks_like_noun(w))]
    for w in nounish:
        if not heads or w in heads:
            return w
    return nounish[0] if nounish else words[0]


def make_prompt(noun, template="a photo of a {noun}"):
    """A text-to-image prompt for ``noun``; "a" becomes "an" before a vowel.

    >>> make_prompt("animal")
    'a photo of an animal'
    """
    check_type("noun", noun, str)
    text = template.format(noun=noun)
    return re.sub(r"\b([Aa]) (?=[aeiouAEIOU])", lambda m: m.group(1) + "n ", text)
