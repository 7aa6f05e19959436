"""One result type for synthesized images (:class:`SynthesisResult`), returned by
:class:`ActivationMaximizer` and :class:`BrainGuidedDiffusion`, and the streamed
top-k selection of guided-diffusion images."""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["SynthesisResult"]


@dataclass(repr=False)
class SynthesisResult:
    """Images synthesized for an objective, with their scores, seeds and settings.

    Returned by :meth:`ActivationMaximizer.generate` and
    :meth:`BrainGuidedDiffusion.generate` (``GuidedDiffusionResult`` is a
    deprecated alias of this class).

    Attributes
    ----------
    images : ndarray, shape (n_images, 3, height, width)
        float32 in [0, 1], in generation order (or best first after
        ``keep`` / :meth:`top`).
    scores : ndarray, shape (n_images,)
        Objective of each final image (no transforms, no guidance); NaN
        for unguided diffusion without an objective.
    seeds : ndarray of int, shape (n_images,)
        The seed of each image. Guided diffusion draws each image from its
        own ``torch.Generator`` seeded with it (an image is reproducible by
        its seed alone); activation maximization optimises all images as
        one batch from one seed, repeated here for every image.
    trace : ndarray, shape (n_images, n_steps) | None
        Objective at every optimisation or sampling step (activation
        maximization: on the transformed image of the step; guided
        diffusion: on the decoded clean-latent estimate). None when it was
        not recorded (unguided diffusion, ``return_trace=False``).
    history : pandas.DataFrame | None
        Activation maximization only: one row per (step, image) with
        ``step``, ``image``, ``objective`` and ``loss`` (minus the objective
        plus the TV and L2 penalties; the batch-level diversity term is not
        included).
    params : dict
        Everything needed to reproduce the images: ``method``
        ("activation_maximization" | "guided_diffusion"), the optimiser or
        sampler settings, ``random_state`` and the objective's description.
    n_generated : int | None
        Images generated before a selection (``keep``); None means
        ``len(images)``.
    """

    images: np.ndarray
    scores: np.ndarray
    seeds: np.ndarray
    trace: np.ndarray = None
    history: pd.DataFrame = field(default=None)
    params: dict = field(default_factory=dict)
    n_generated: int = None

    def __post_init__(self):
        if self.n_generated is None:
            self.n_generated = len(self.images)

    def __len__(self):
        return len(self.images)

    def __repr__(self):
        return (f"SynthesisResult({len(self)} images {tuple(self.images.shape[2:])}, "
                f"method={self.params.get('method')!r}, scores "
                f"{np.round(self.scores, 3).tolist()})")

    @property
    def guidance_scale(self):
        """Guidance scale of a guided-diffusion run (``params["guidance_scale"]``), else None."""
        return self.params.get("guidance_scale")

    @property
    def meta(self):
        """Deprecated: use :attr:`params`."""
        from ..._utils.logging import warn

        warn("`SynthesisResult.meta` is deprecated and will be removed in the next release: use "
             "`.params` instead.", FutureWarning)
        return self.params

    def order(self):
        """Image indices sorted by score, best first (stable)."""
        return np.argsort(-np.nan_to_num(self.scores, nan=-np.inf), kind="stable")

    def to_frame(self):
        """Per-image metadata: ``image``, ``seed``, ``score``, ``rank`` (1 = best).

        Returns
        -------
        pandas.DataFrame, one row per image in the order of :attr:`images`
        """
        rank = np.empty(len(self), dtype=int)
        rank[self.order()] = np.arange(1, len(self) + 1)
        return pd.DataFrame({"image": np.arange(len(self)), "seed": np.asarray(self.seeds),
                             "score": self.scores, "rank": rank})

    def top(self, fraction):
        """The best ``ceil(fraction * n)`` images, sorted by decreasing score.

        Parameters
        ----------
        fraction : float in (0, 1]

        Returns
        -------
        SynthesisResult
        """
        k = _n_keep(fraction, len(self))
        order = self.order()[:k]
        history = None
        if self.history is not None:
            keep = self.history[self.history["image"].isin(order)].copy()
            keep["image"] = keep["image"].map({int(old): new for new, old in enumerate(order)})
            history = keep.sort_values(["step", "image"], kind="stable").reset_index(drop=True)
        return SynthesisResult(
            self.images[order], self.scores[order], np.asarray(self.seeds)[order],
            None if self.trace is None else self.trace[order], history, dict(self.params),
            self.n_generated,
        )

    def to_uint8(self):
        """Images as uint8 (n_images, height, width, 3), e.g. for ``plot_image_grid``."""
        return np.round(np.clip(self.images, 0, 1).transpose(0, 2, 3, 1) * 255).astype(np.uint8)

    def to_pil(self):
        """The images as a list of ``PIL.Image`` (RGB, uint8)."""
        from PIL import Image

        return [Image.fromarray(a) for a in self.to_uint8()]

    def plot(self, n_cols=8, size=1.4, suptitle=None):
        """Grid of the images titled by their scores, best first.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ...viz import plot_image_grid

        order = self.order()
        return plot_image_grid(self.to_uint8()[order], titles=[f"{s:.2f}" for s in self.scores[order]],
                               n_cols=n_cols, size=size, suptitle=suptitle)


def _n_keep(fraction, n):
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ValueError(
            f"Invalid value for `keep`: expected a fraction in (0, 1], got {fraction!r}."
        )
    return max(1, math.ceil(fraction * n - 1e-9))


def _merge(kept, out, k):
    """Concatenate batch results; with k, keep the k best by score (stable, seed order on ties)."""
    if kept is None:
        merged = list(out)
    else:
        merged = [np.concatenate([a, b]) if a is not None else None for a, b in zip(kept, out)]
    if k is not None:
        order = np.argsort(-merged[1], kind="stable")[:k]
        merged = [m[order] if m is not None else None for m in merged]
    return merged
