"""Brain captioning: decode an embedding from brain responses, then caption it
(decoded-embedding captioning as in MindEye2, Scotti et al. 2024; ClipCap-style
captioners, Mokady et al. 2021).

The decoder is any object with ``predict(X) -> (n_samples, n_dims)`` (e.g.
:class:`neurotoolkit.decoding.RidgeDecoder`, or a scikit-learn regressor);
the captioner any object with ``caption(embeddings, num_beams=, max_length=)
-> list of str`` (:class:`PrefixCaptioner`, ``SelectivityCaptioner``).
"""

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ..._utils.docs import fill_doc
from ..._utils.logging import logger, warn
from ..._utils.validation import (
    check_array,
    check_consistent_length,
    check_type,
    describe,
)

__all__ = ["BrainCaptioner", "caption_brain"]


def _check_captioner(captioner):
    if not callable(getattr(captioner, "caption", None)):
        raise TypeError(
            "Invalid value for `captioner`: expected an object with a caption(embeddings, num_beams=, "
            f"max_length=) method (e.g. PrefixCaptioner), got {describe(captioner)}."
        )


def _rescale(E, target_norm):
    """Rows of E rescaled to L2 norm ``target_norm`` (zero rows stay zero)."""
    norms = np.linalg.norm(E, axis=1, keepdims=True)
    return E * (float(target_norm) / np.where(norms > 0, norms, 1.0))


def caption_brain(decoder, captioner, X, num_beams=5, max_length=67, target_norm=None):
    """Captions of brain responses: ``captioner.caption(decoder.predict(X))``.

    Parameters
    ----------
    decoder : fitted estimator
        ``predict(X)`` gives embeddings (n_samples, n_dims) in the space the
        captioner was trained on (e.g. CLIP ViT-B/32 image embeddings for
        ClipCap COCO).
    captioner : object with ``caption``
        E.g. a fitted :class:`PrefixCaptioner`.
    X : array, shape (n_samples, n_units)
        Brain responses.
    num_beams, max_length : int
        Passed to ``captioner.caption``.
    target_norm : float | None
        Rescale each decoded embedding to this L2 norm before captioning.
        Ridge predictions are shrunk toward the mean, while ClipCap's mapper
        saw unnormalised CLIP features (norm ~10 for ViT-B/32): pass the mean
        norm of the training embeddings. None leaves them as they are.

    Returns
    -------
    list of str, length n_samples
    """
    _check_captioner(captioner)
    if not callable(getattr(decoder, "predict", None)):
        raise TypeError(
            f"Invalid value for `decoder`: expected a fitted estimator with predict(X), got {describe(decoder)}."
        )
    E = check_array("decoder.predict(X)", decoder.predict(X), ndim=2)
    if target_norm is not None:
        check_type("target_norm", target_norm, "numeric")
        if not target_norm > 0:
            raise ValueError(f"Invalid value for `target_norm`: expected a positive number, got {target_norm!r}.")
        E = _rescale(E, target_norm)
    return list(captioner.caption(E, num_beams=num_beams, max_length=max_length))


@fill_doc
class BrainCaptioner(BaseEstimator):
    """Decoder + captioner as one estimator: ``fit(X, embeddings)``, ``predict(X) -> captions``.

    ``decoder`` maps brain responses to embeddings, ``captioner`` embeddings to
    text. The estimator is not a regressor, so it has no ``score``: caption
    quality is :meth:`score_captions` (CIDEr and the other caption metrics)
    and the embedding decoder's R^2 is ``self.decoder_.score(X, embeddings)``.

    Parameters
    ----------
    decoder : estimator
        Regressor from responses to embeddings (e.g. ``RidgeDecoder()``);
        cloned and fitted in :meth:`fit`.
    captioner : object with ``caption``
        An already trained captioner (e.g. ``PrefixCaptioner.from_pretrained``
        or a fitted :class:`PrefixCaptioner`); not refitted.
    match_norm : bool
        Rescale decoded embeddings to the mean L2 norm of the training
        embeddings before captioning (ClipCap needs realistic norms; ridge
        shrinks them).
    num_beams : int
        Beams of the caption search.
    max_length : int
        Most tokens per caption.

    Attributes
    ----------
    decoder_ : estimator
        The fitted clone of ``decoder``.
    embedding_norm_ : float
        Mean L2 norm of the training embeddings.
    """

    def __init__(self, decoder, captioner, match_norm=True, num_beams=5, max_length=67):
        self.decoder = decoder
        self.captioner = captioner
        self.match_norm = match_norm
        self.num_beams = num_beams
        self.max_length = max_length

    def fit(self, X, embeddings, **fit_params):
        """Fit the decoder from responses ``X`` (n_samples, n_units) to ``embeddings`` (n_samples, n_dims).

        Extra keyword arguments go to ``decoder.fit`` (e.g. ``groups``). Returns self.
        """
        _check_captioner(self.captioner)
        E = check_array("embeddings", embeddings, ndim=2)
        check_consistent_length(X=X, embeddings=E)
        self.decoder_ = clone(self.decoder).fit(X, E, **fit_params)
        self.embedding_norm_ = float(np.linalg.norm(E, axis=1).mean())
        logger.info("BrainCaptioner: decoder fitted on %d samples; mean embedding norm %.3g",
                    len(E), self.embedding_norm_)
        return self

    def predict_embeddings(self, X):
        """Decoded embeddings (n_samples, n_dims), rescaled when ``match_norm``."""
        check_is_fitted(self, "decoder_")
        E = check_array("decoder.predict(X)", self.decoder_.predict(X), ndim=2)
        return _rescale(E, self.embedding_norm_) if self.match_norm else E

    def predict(self, X):
        """One caption per row of ``X``: list of str, length n_samples."""
        E = self.predict_embeddings(X)
        return list(self.captioner.caption(E, num_beams=self.num_beams, max_length=self.max_length))

    def score_captions(self, X, references, metric="CIDEr", **kwargs):
        """Corpus caption score of :meth:`predict` against reference captions.

        Parameters
        ----------
        X : array, shape (n_samples, n_units)
        references : sequence of (str | sequence of str), length n_samples
            The reference caption(s) of each sample.
        metric : str
            One metric of :func:`caption_scores` ("CIDEr", "BLEU-4", ...).
        **kwargs
            Passed to :func:`caption_scores` (e.g. ``protocol``, ``tokenize``).

        Returns
        -------
        score : float
        """
        from ._caption_metrics import caption_scores

        table = caption_scores(self.predict(X), references, metrics=[metric], **kwargs)
        return float(table["score"].iloc[0])

    def score(self, X, references, metric="CIDEr", **kwargs):
        """Deprecated: use :meth:`score_captions` (same arguments)."""
        warn("`BrainCaptioner.score` is deprecated and will be removed in the next release: use "
             "`score_captions(X, references, metric=...)` for caption metrics, or "
             "`decoder_.score(X, embeddings)` for the R^2 of the decoded embeddings.",
             FutureWarning)
        return self.score_captions(X, references, metric=metric, **kwargs)
