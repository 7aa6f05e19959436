"""RetrievalCaptioner: embeddings -> text by retrieval over a captioned pool (offline).

The offline stand-in for the LLM steps of LaVCa (Matsuyama et al.): the
top-N captions nearest to an embedding (cosine) are weighted by a softmax,
their content words are scored by caption weight times inverse caption
frequency, the top keywords are kept, and a short caption is composed from
them. An ``llm`` callable can replace the composer.
"""

import numpy as np
import pandas as pd

from ..._utils.logging import logger, warn
from ..._utils.validation import (
    _raise,
    _short_list,
    check_array,
    check_int,
    check_nonblank_strings,
    check_option,
    check_type,
    describe,
)
from ._project import _check_temperature
from ._text import (
    CAPTION_STOP_WORDS,
    _words,
    caption_frequencies,
    extract_keywords,
    make_prompt,
    pick_noun,
)

__all__ = ["RetrievalCaptioner"]

_STYLES = ("sentence", "keywords", "noun")


class RetrievalCaptioner:
    """Caption embeddings by retrieving and summarising the nearest captions of a pool.

    Implements the decoder protocol of :class:`SelectivityCaptioner`:
    ``caption(embeddings (n, d)) -> list of str``.

    Parameters
    ----------
    captions : sequence of str, shape (n_pool,)
        Captions of the pool (for example one caption per captioned image;
        repeat an image's embedding to give it several captions). Empty or
        whitespace-only captions raise an error that gives their positions.
    embeddings : array (n_pool, dim)
        Embedding of each caption in the space of the queries (for example
        the image embedding of the captioned image, or a text embedding).
        All-zero rows raise (their cosine similarity is undefined).
    n_captions : int
        Captions retrieved per query (LaVCa's top-N). Larger than the pool,
        it warns and every query retrieves the whole pool.
    temperature : float
        Softmax temperature ``tau`` over the cosine similarities of the
        retrieved captions (logits ``cos / tau``); the default ``1 / 150``
        matches :func:`project_to_natural`.
    n_keywords : int
        Keywords kept per query (LaVCa keeps 5).
    style : "sentence" | "keywords" | "noun"
        How the caption is composed without an LLM. "sentence": the retrieved
        caption that carries the most keyword weight (ties: the most similar
        one), a real sentence of the pool. "keywords": the keywords joined by
        commas ("face, head, person"). "noun": ``template`` filled with the
        picked noun ("a photo of a face").
    template : str
        Prompt template for ``style="noun"`` and :meth:`describe`'s ``prompt``.
    llm : callable | None
        ``llm(list of retrieved captions) -> str``; when given it writes the
        caption (for users with a local or hosted language model), and
        ``style`` is ignored.
    stop_words : set of str
        Words never used as keywords (default :data:`CAPTION_STOP_WORDS`).
    use_nltk : bool
        Pick nouns with NLTK's perceptron tagger when NLTK and its tagger data
        are installed (falls back to the offline rule otherwise); see
        :func:`pick_noun`.

    Attributes
    ----------
    icf_ : dict
        Inverse caption frequency of every content word of the pool.

    Examples
    --------
    >>> cap = RetrievalCaptioner(pool_captions, pool_embeddings)  # doctest: +SKIP
    >>> cap.caption(projected)                                   # doctest: +SKIP
    ['a cartoon face', 'a street scene with buildings', ...]
    """

    def __init__(self, captions, embeddings, n_captions=10, temperature=1 / 150, n_keywords=5,
                 style="sentence", template="a photo of a {noun}", llm=None,
                 stop_words=CAPTION_STOP_WORDS, use_nltk=False):
        captions = check_nonblank_strings("captions", captions)
        E = check_array("embeddings", embeddings, ndim=2)
        if E.shape[0] != len(captions):
            _raise("embeddings", f"one row per caption ({len(captions)} rows)", f"shape {E.shape}")
        if not captions:
            _raise("captions", "at least one caption", "an empty sequence")
        zero = np.flatnonzero(~(np.abs(E) > 0).any(axis=1))
        if zero.size:
            _raise("embeddings", "rows with a nonzero norm (cosine similarity is undefined for "
                   "a zero vector)", f"{zero.size} all-zero row(s) at positions "
                   f"{_short_list(zero)}", "Drop those captions or recompute their embeddings.")
        self.captions = captions
        self.embeddings = E
        self.n_captions = check_int("n_captions", n_captions, min_value=1)
        if self.n_captions > len(captions):
            warn(f"RetrievalCaptioner: n_captions={self.n_captions} is larger than the pool "
                 f"({len(captions)} captions); every query retrieves the whole pool. Pass "
                 f"n_captions <= {len(captions)} or a larger pool.")
        self.temperature = _check_temperature(temperature)
        self.n_keywords = check_int("n_keywords", n_keywords, min_value=1)
        self.style = check_option("style", style, _STYLES)
        check_type("template", template, str)
        if "{noun}" not in template:
            _raise("template", "a string containing '{noun}'", repr(template))
        self.template = template
        if llm is not None and not callable(llm):
            _raise("llm", "a callable(list of str) -> str or None", describe(llm), exc=TypeError)
        self.llm = llm
        self.stop_words = frozenset(stop_words)
        self.use_nltk = bool(use_nltk)
        self.icf_ = caption_frequencies(captions, self.stop_words)
        norms = np.linalg.norm(E, axis=1, keepdims=True)
        self._E_hat = E / np.maximum(norms, 1e-12)

    def __repr__(self):
        return (f"RetrievalCaptioner({len(self.captions)} captions, dim={self.embeddings.shape[1]}, "
                f"n_captions={self.n_captions}, style={self.style!r}"
                f"{', llm' if self.llm is not None else ''})")

    # ------------------------------------------------------------------ retrieval
    def retrieve(self, embeddings):
        """Top-N pool captions per query, by cosine similarity.

        Parameters
        ----------
        embeddings : array (n_queries, dim)

        Returns
        -------
        indices : array (n_queries, n) of int
            Pool rows, most similar first (``n = min(n_captions, n_pool)``).
        weights : array (n_queries, n)
            Softmax of ``cos / temperature`` over the retrieved rows.
        """
        Q = check_array("embeddings", embeddings, ndim=(1, 2))
        if Q.ndim == 1:
            Q = Q[None, :]
        if Q.shape[1] != self.embeddings.shape[1]:
            _raise("embeddings", f"an array (n, {self.embeddings.shape[1]}) in the pool's space",
                   f"shape {Q.shape}")
        Q_hat = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-12)
        sim = Q_hat @ self._E_hat.T
        n = min(self.n_captions, sim.shape[1])
        idx = np.argsort(-sim, axis=1, kind="stable")[:, :n]
        top = np.take_along_axis(sim, idx, axis=1)
        logits = top / self.temperature if np.isfinite(self.temperature) else 0.0 * top
        logits = logits - logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        return idx, w / w.sum(axis=1, keepdims=True)

    def summarize(self, captions, weights=None, similarities=None):
        """Keywords, noun and composed caption for one set of retrieved captions.

        Parameters
        ----------
        captions : list of str
            Retrieved captions, most similar first.
        weights : array (n,) | None
            Their softmax weights.

        Returns
        -------
        dict with ``caption``, ``keywords`` (list of str), ``keyword_weights``
        (list of float), ``noun``, ``prompt``.
        """
        kw = extract_keywords(captions, weights, n_keywords=self.n_keywords, icf=self.icf_,
                              stop_words=self.stop_words)
        words = [k for k, _ in kw]
        noun = pick_noun(words, captions, use_nltk=self.use_nltk)
        prompt = make_prompt(noun, self.template) if noun else ""
        if self.llm is not None:
            text = str(self.llm(list(captions)))
        elif self.style == "keywords":
            text = ", ".join(words)
        elif self.style == "noun":
            text = prompt
        else:
            text = self._best_sentence(captions, weights, dict(kw))
        return {"caption": text, "keywords": words, "keyword_weights": [w for _, w in kw],
                "noun": noun, "prompt": prompt}

    def _best_sentence(self, captions, weights, kw):
        """The retrieved caption covering the most keyword weight (ties: retrieval order)."""
        weights = np.ones(len(captions)) if weights is None else np.asarray(weights)
        best, best_score = 0, -np.inf
        for k, cap in enumerate(captions):
            score = sum(kw.get(w, 0.0) for w in set(_words(cap, self.stop_words)))
            score += 1e-6 * weights[k]
            if score > best_score + 1e-12:
                best, best_score = k, score
        return captions[best]

    # ------------------------------------------------------------------ protocol
    def describe(self, embeddings):
        """Captions plus keywords, nouns, prompts and retrieved captions per query.

        Parameters
        ----------
        embeddings : array (n_queries, dim)

        Returns
        -------
        pandas.DataFrame
            One row per query: ``caption``, ``keywords``, ``keyword_weights``,
            ``noun``, ``prompt``, ``retrieved`` (list of str),
            ``retrieved_weights`` (list of float).
        """
        idx, w = self.retrieve(embeddings)
        rows = []
        for i in range(idx.shape[0]):
            caps = [self.captions[j] for j in idx[i]]
            row = self.summarize(caps, w[i])
            row["retrieved"] = caps
            row["retrieved_weights"] = w[i].tolist()
            rows.append(row)
        logger.debug("RetrievalCaptioner: captioned %d embeddings.", len(rows))
        return pd.DataFrame(rows)

    def caption(self, embeddings, **kwargs):
        """Captions of ``embeddings`` (n, dim) -> list of n strings.

        Extra keyword arguments (``num_beams`` and the like, meant for
        generative captioners) are accepted and ignored.
        """
        return self.describe(embeddings)["caption"].tolist()
