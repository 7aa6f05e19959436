"""Sentence-level evaluation of voxel captions (LaVCa, Matsuyama et al.).

A voxel's caption predicts its response to a stimulus as the similarity of
the caption to the stimulus's caption (both embedded by a text embedder);
the score is the Spearman correlation between these predictions and the
measured responses over held-out stimuli. A shuffled-caption baseline gives
each voxel another voxel's caption.
"""

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..._utils.random import check_random_state
from ..._utils.validation import _raise, check_array, check_int, describe
from ._text import CAPTION_STOP_WORDS, _as_text_list, _words

__all__ = ["TfidfTextEmbedder", "caption_similarity", "evaluate_captions"]


class TfidfTextEmbedder:
    """Offline text embedding: TF-IDF of content words, rows L2-normalised.

    Callable as ``embedder(texts) -> array (n_texts, n_terms)``. Words are
    lower-cased, stop words (:data:`CAPTION_STOP_WORDS`) removed and reduced
    to a crude singular form, so "faces" matches "face". Without ``corpus``
    the vocabulary and IDF are fitted on the texts of each call (evaluation
    functions embed candidates and references in one call).

    Parameters
    ----------
    corpus : list of str | None
        Fit the vocabulary and IDF once on these texts.
    stop_words : set of str
    sublinear_tf : bool

    Notes
    -----
    The literature uses SBERT (LaVCa) or CLIP text embeddings; pass any
    ``callable(list of str) -> array (n, d)`` as ``text_embedder`` instead,
    for example ``lambda t: sbert.encode(t)``.
    """

    def __init__(self, corpus=None, stop_words=CAPTION_STOP_WORDS, sublinear_tf=True):
        self.corpus = None if corpus is None else _as_text_list("corpus", corpus)
        self.stop_words = frozenset(stop_words)
        self.sublinear_tf = sublinear_tf
        self._vectorizer = None
        if self.corpus is not None:
            self._vectorizer = self._make().fit(self.corpus)

    def _make(self):
        from sklearn.feature_extraction.text import TfidfVectorizer

        stop = self.stop_words
        return TfidfVectorizer(analyzer=lambda text: _words(text, stop),
                               sublinear_tf=self.sublinear_tf, norm="l2")

    def __repr__(self):
        fitted = f"{len(self.corpus)} texts" if self.corpus is not None else "per call"
        return f"TfidfTextEmbedder(fitted on {fitted})"

    def __call__(self, texts):
        texts = _as_text_list("texts", texts)
        vec = self._vectorizer
        if vec is None:
            vec = self._make()
            try:
                return vec.fit_transform(texts).toarray()
            except ValueError:  # no content word at all
                return np.zeros((len(texts), 1))
        return vec.transform(texts).toarray()


def _check_stimulus_captions(stimulus_captions):
    """List of lists of str (one or several references per stimulus)."""
    if isinstance(stimulus_captions, str):
        _raise("stimulus_captions", "a sequence with one caption (or a list) per stimulus",
               describe(stimulus_captions), exc=TypeError)
    out = []
    for k, c in enumerate(stimulus_captions):
        refs = [c] if isinstance(c, str) else list(c)
        if not refs or not all(isinstance(r, str) for r in refs):
            _raise("stimulus_captions", "a string or a non-empty list of strings per stimulus",
                   f"{describe(c)} at position {k}", exc=TypeError)
        out.append(refs)
    if not out:
        _raise("stimulus_captions", "at least one stimulus", "an empty sequence")
    return out


def _normalize_rows(a):
    a = np.asarray(a, dtype=float)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def caption_similarity(captions, stimulus_captions, text_embedder=None):
    """Responses predicted from captions: caption-to-stimulus-caption cosine.

    Parameters
    ----------
    captions : list of str, shape (n_units,)
        One caption per unit (voxel, ROI).
    stimulus_captions : list of str | list of list of str, shape (n_stimuli,)
        The caption(s) of each stimulus; with several, the similarities are
        averaged over them.
    text_embedder : callable | None
        ``callable(list of str) -> array (n, d)``; None uses
        :class:`TfidfTextEmbedder` fitted on all texts of this call.

    Returns
    -------
    array (n_stimuli, n_units)
    """
    captions = _as_text_list("captions", captions)
    refs = _check_stimulus_captions(stimulus_captions)
    embed = TfidfTextEmbedder() if text_embedder is None else text_embedder
    if not callable(embed):
        _raise("text_embedder", "a callable(list of str) -> array (n, d) or None",
               describe(embed), exc=TypeError)
    flat = [r for rs in refs for r in rs]
    emb = np.asarray(embed(captions + flat))
    if emb.ndim != 2 or emb.shape[0] != len(captions) + len(flat):
        _raise("text_embedder", f"an array with {len(captions) + len(flat)} rows (one per text)",
               describe(emb))
    emb = _normalize_rows(emb)
    sim = emb[len(captions):] @ emb[:len(captions)].T  # (n_refs, n_units)
    owner = np.repeat(np.arange(len(refs)), [len(r) for r in refs])
    counts = np.bincount(owner, minlength=len(refs))[:, None]
    out = np.zeros((len(refs), len(captions)))
    np.add.at(out, owner, sim)
    return out / counts


def _ranks(a):
    """Column-wise average ranks, centred and scaled to unit norm (0 for constant columns)."""
    r = rankdata(a, axis=0, method="average")
    r = r - r.mean(axis=0)
    norm = np.linalg.norm(r, axis=0)
    return r / np.where(norm > 0, norm, np.inf)


def evaluate_captions(captions, responses, stimulus_captions, text_embedder=None, units=None,
                      n_shuffles=20, random_state=0):
    """Score voxel captions by how well they predict held-out responses (LaVCa).

    For unit ``i`` with caption ``c_i``, the predicted response to stimulus
    ``m`` is ``cos(embed(c_i), embed(caption_m))``; the score is Spearman's
    rho between predicted and measured responses over the stimuli. The
    shuffled baseline scores unit ``i`` with the caption of unit ``pi(i)``
    for ``n_shuffles`` random permutations ``pi`` of the units and averages.

    Parameters
    ----------
    captions : list of str, shape (n_units,)
    responses : array (n_stimuli, n_units)
        Measured responses to held-out stimuli (repeats averaged), rows in
        the order of ``stimulus_captions``.
    stimulus_captions : list of str | list of list of str, shape (n_stimuli,)
    text_embedder : callable | None
        See :func:`caption_similarity`; default TF-IDF (offline). LaVCa
        uses SBERT.
    units : sequence, shape (n_units,) | None
        Unit names for the output; default 0..n_units-1.
    n_shuffles : int
        Permutations for the shuffled-caption baseline (0 skips it).
    random_state : None | int | numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        One row per unit: ``unit``, ``caption``, ``spearman`` and, if
        ``n_shuffles > 0``, ``spearman_shuffled`` (mean over permutations).
        A caption whose predictions are constant over the stimuli (no word
        in common with any stimulus caption) scores 0.

    Notes
    -----
    LaVCa reports mean +- s.d. over the 5000 best-predicted voxels of NSD
    subjects (shuffled: about 0.01-0.07; BrainSCUBA about 0.2; LaVCa about
    0.25-0.3), with SBERT text embeddings: select the units before calling,
    and summarise with ``df[["spearman", "spearman_shuffled"]].agg(["mean", "std"])``.
    """
    captions = _as_text_list("captions", captions)
    Y = check_array("responses", responses, ndim=2)
    refs = _check_stimulus_captions(stimulus_captions)
    if Y.shape != (len(refs), len(captions)):
        _raise("responses", f"an array (n_stimuli={len(refs)}, n_units={len(captions)})",
               f"shape {Y.shape}")
    if len(refs) < 3:
        _raise("stimulus_captions", "at least 3 held-out stimuli", f"{len(refs)}")
    n_shuffles = check_int("n_shuffles", n_shuffles, min_value=0)
    units = np.arange(len(captions)) if units is None else np.asarray(units)
    if len(units) != len(captions):
        _raise("units", f"{len(captions)} names (one per caption)", f"{len(units)}")
    S = caption_similarity(captions, refs, text_embedder)
    rY, rS = _ranks(Y), _ranks(S)
    out = pd.DataFrame({"unit": units, "caption": captions,
                        "spearman": np.einsum("ij,ij->j", rY, rS)})
    if n_shuffles:
        rng = check_random_state(random_state)
        shuffled = np.zeros(len(captions))
        for _ in range(n_shuffles):
            perm = rng.permutation(len(captions))
            shuffled += np.einsum("ij,ij->j", rY, rS[:, perm])
        out["spearman_shuffled"] = shuffled / n_shuffles
    return out
