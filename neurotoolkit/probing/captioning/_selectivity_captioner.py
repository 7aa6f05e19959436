"""SelectivityCaptioner: captions, keywords and nouns for voxels and ROIs (BrainSCUBA,
Luo et al., ICLR 2024)."""

import numpy as np
import pandas as pd

from ..._utils.docs import fill_doc
from ..._utils.logging import logger, warn
from ..._utils.validation import _raise, check_array, check_option, check_type, describe
from ._project import _check_temperature, project_to_natural
from ._text import extract_keywords, make_prompt, pick_noun

__all__ = ["SelectivityCaptioner", "prompts_for"]

_AVERAGES = ("projected", "weights")


def prompts_for(nouns, template="a photo of a {noun}"):
    """Text-to-image prompts "a photo of a {noun}" for nouns or a caption table.

    Parameters
    ----------
    nouns : list of str | pandas.DataFrame
        Nouns, or a frame with a ``noun`` column (the output of
        :meth:`SelectivityCaptioner.caption_units` / ``caption_rois``).
        Missing nouns (None) give an empty prompt.
    template : str
        Must contain ``{noun}``; "a" becomes "an" before a vowel.

    Returns
    -------
    list of str
    """
    if isinstance(nouns, pd.DataFrame):
        if "noun" not in nouns.columns:
            _raise("nouns", "a list of nouns or a DataFrame with a 'noun' column",
                   f"a DataFrame with columns {list(nouns.columns)}")
        nouns = nouns["noun"].tolist()
    if isinstance(nouns, str):
        nouns = [nouns]
    check_type("template", template, str)
    if "{noun}" not in template:
        _raise("template", "a string containing '{noun}'", repr(template))
    return [make_prompt(n, template) if isinstance(n, str) and n else "" for n in nouns]


@fill_doc
class SelectivityCaptioner:
    """Write captions for voxels (or ROIs) from their encoding weights.

    The weights of an encoder fitted on image embeddings are first projected
    onto the natural-image distribution (:func:`project_to_natural`,
    BrainSCUBA), then turned into text by an interchangeable ``captioner``
    (embedding -> text): anything with ``caption(embeddings (n, d)) -> list
    of str``, such as the offline :class:`RetrievalCaptioner` or the
    generative :class:`PrefixCaptioner` (ClipCap).

    Parameters
    ----------
    captioner : object with ``caption(embeddings) -> list of str``
        If it also has ``describe(embeddings) -> DataFrame`` with ``keywords``
        and ``noun`` columns (:class:`RetrievalCaptioner`), those are used;
        otherwise keywords and nouns are extracted from each caption.
    image_embeddings : array (n_pool, dim) | memmap | iterable | None
        Natural-image pool for the projection. None uses the captioner's own
        ``embeddings`` when it has them (a retrieval captioner's pool).
    project : bool
        False feeds the weight vectors to the captioner as they are (useful
        for comparison; BrainSCUBA shows that this gives poor captions).
    temperature : float
        Softmax temperature ``tau`` of the projection (``1 / tau = 150``).
    batch_size : int | None
        Pool rows per chunk of the projection.
    %(memory_budget)s
    backend : "numpy" | "torch"
    %(device)s
    captioner_kwargs : dict | None
        Passed to ``captioner.caption``, e.g. ``{"num_beams": 5, "max_length": 67}``.
    template : str
        Prompt template for the ``prompt`` column.
    use_nltk : bool
        For captioners without ``describe``: pick nouns with NLTK's tagger
        when it and its data are installed.
    decoder, decoder_kwargs : optional
        Deprecated spellings of ``captioner`` and ``captioner_kwargs``
        (FutureWarning).

    Examples
    --------
    >>> cap = SelectivityCaptioner(RetrievalCaptioner(pool_captions, pool_embeddings))  # doctest: +SKIP
    >>> readout = encoder.linear_readout()  # doctest: +SKIP
    >>> cap.caption_units(readout["coef"].T, units=recording.units.index)   # doctest: +SKIP
    """

    def __init__(self, captioner=None, image_embeddings=None, project=True, temperature=1 / 150,
                 batch_size=None, memory_budget=None, backend="numpy", device="auto",
                 captioner_kwargs=None, template="a photo of a {noun}", use_nltk=False,
                 decoder=None, decoder_kwargs=None):
        for old, new, value in (("decoder", "captioner", decoder),
                                ("decoder_kwargs", "captioner_kwargs", decoder_kwargs)):
            if value is not None:
                warn(f"`{old}` of SelectivityCaptioner is deprecated and will be removed in the "
                     f"next release: use `{new}=` instead (it maps embeddings to text).",
                     FutureWarning)
        if decoder is not None:
            if captioner is not None:
                _raise("decoder", "None when `captioner` is given (it is the old name of "
                       "`captioner`)", describe(decoder))
            captioner = decoder
        if decoder_kwargs is not None:
            captioner_kwargs = decoder_kwargs if captioner_kwargs is None else captioner_kwargs
        if not callable(getattr(captioner, "caption", None)):
            _raise("captioner", "an object with a caption(embeddings) -> list of str method",
                   describe(captioner), exc=TypeError)
        if project and image_embeddings is None and getattr(captioner, "embeddings", None) is None:
            _raise("image_embeddings", "a pool of natural-image embeddings (the captioner has "
                   "none)", "None", fix="Pass image_embeddings=..., or project=False.")
        self.captioner = captioner
        self.image_embeddings = image_embeddings
        self.project = bool(project)
        self.temperature = _check_temperature(temperature)
        self.batch_size = batch_size
        self.memory_budget = memory_budget
        self.backend = backend
        self.device = device
        self.captioner_kwargs = dict(captioner_kwargs or {})
        self.template = template
        self.use_nltk = bool(use_nltk)

    def __repr__(self):
        return (f"SelectivityCaptioner(captioner={type(self.captioner).__name__}, "
                f"project={self.project}, 1/tau={1 / self.temperature:.4g})")

    # ---------------------------------------------------------------- building blocks
    def project_weights(self, weights):
        """Projected vectors (n_units, dim) of weight rows (n_units, dim), or the weights
        unchanged when ``project=False``."""
        W = check_array("weights", weights, ndim=2)
        if not self.project:
            return W
        pool = self.image_embeddings
        if pool is None:
            pool = self.captioner.embeddings
        return project_to_natural(W, pool, temperature=self.temperature,
                                  batch_size=self.batch_size, memory_budget=self.memory_budget,
                                  backend=self.backend, device=self.device)

    def caption_embeddings(self, embeddings):
        """Caption, keywords, noun and prompt of each embedding (no projection).

        Parameters
        ----------
        embeddings : array (n, dim)

        Returns
        -------
        pandas.DataFrame with columns ``caption``, ``keywords``, ``noun``, ``prompt``
        """
        E = check_array("embeddings", embeddings, ndim=2)
        if hasattr(self.captioner, "describe"):
            frame = self.captioner.describe(E)
            frame = frame[["caption", "keywords", "noun"]].copy()
        else:
            caps = list(self.captioner.caption(E, **self.captioner_kwargs))
            if len(caps) != len(E):
                _raise("captioner", f"a caption() returning {len(E)} strings", f"{len(caps)}")
            kws = [[k for k, _ in extract_keywords([c])] if c.strip() else [] for c in caps]
            frame = pd.DataFrame({"caption": caps, "keywords": kws,
                                  "noun": [pick_noun(k, [c], use_nltk=self.use_nltk)
                                           for k, c in zip(kws, caps)]})
        frame["prompt"] = prompts_for(frame, self.template)
        return frame

    # ---------------------------------------------------------------- public API
    def caption_units(self, weights, units=None):
        """Caption every unit (voxel) from its weight vector.

        Parameters
        ----------
        weights : array (n_units, dim)
            Encoder weights, one row per unit, in the embedding space of the
            pool (for ``coef_`` of shape (n_features, n_units), pass ``coef_.T``).
        units : sequence, shape (n_units,) | None
            Unit names (e.g. ``recording.units.index``); default 0..n_units-1.

        Returns
        -------
        pandas.DataFrame
            One row per unit: ``unit``, ``caption``, ``keywords`` (list of
            str, best first), ``noun``, ``prompt``.
        """
        W = check_array("weights", weights, ndim=2)
        units = np.arange(len(W)) if units is None else np.asarray(units)
        if len(units) != len(W):
            _raise("units", f"{len(W)} names (one per row of `weights`)", f"{len(units)}")
        frame = self.caption_embeddings(self.project_weights(W))
        frame.insert(0, "unit", units)
        logger.info("Captioned %d units.", len(frame))
        return frame

    def caption_rois(self, weights, roi_labels, average="projected"):
        """One caption per ROI.

        Parameters
        ----------
        weights : array (n_units, dim)
        roi_labels : sequence, shape (n_units,)
            ROI of each unit (e.g. ``recording.units["roi"]``).
        average : "projected" | "weights"
            "projected": project every unit, then average the projected
            vectors of the ROI (each unit's natural-image neighbourhood counts
            equally). "weights": average the ROI's unit-norm weight vectors
            (so every unit counts equally whatever its weight norm), then
            project that one vector.

        Returns
        -------
        pandas.DataFrame
            One row per ROI (sorted): ``roi``, ``n_units``, ``caption``,
            ``keywords``, ``noun``, ``prompt``.
        """
        W = check_array("weights", weights, ndim=2)
        check_option("average", average, _AVERAGES)
        labels = np.asarray(roi_labels)
        if labels.shape != (len(W),):
            _raise("roi_labels", f"one label per unit (shape ({len(W)},))", f"shape {labels.shape}")
        rois = pd.unique(pd.Series(labels).sort_values())
        if average == "projected":
            V = self.project_weights(W)
            M = np.stack([V[labels == r].mean(axis=0) for r in rois])
        else:
            Wn = W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-12)
            M = self.project_weights(np.stack([Wn[labels == r].mean(axis=0) for r in rois]))
        frame = self.caption_embeddings(M)
        frame.insert(0, "n_units", [int((labels == r).sum()) for r in rois])
        frame.insert(0, "roi", rois)
        return frame

    @property
    def decoder(self):
        """Deprecated: use :attr:`captioner`."""
        warn("`SelectivityCaptioner.decoder` is deprecated and will be removed in the next "
             "release: use `.captioner`.", FutureWarning)
        return self.captioner

    def prompts_for(self, nouns):
        """Prompts from nouns or a caption table (see :func:`prompts_for`)."""
        return prompts_for(nouns, self.template)
