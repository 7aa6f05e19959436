"""The result of :class:`BrainGuidedDiffusion` and the streamed top-k selection of images."""

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["GuidedDiffusionResult"]


@dataclass
class GuidedDiffusionResult:
    """Images and objective scores from :class:`BrainGuidedDiffusion`.

    Attributes
    ----------
    images : ndarray, shape (n_images, 3, H, W)
        float32 in [0, 1].
    scores : ndarray, shape (n_images,)
        Objective of each final image (no guidance applied at scoring).
    seeds : ndarray, shape (n_images,)
        The seed of each image (one ``torch.Generator`` per image).
    guidance_scale : float
    trace : ndarray, shape (n_images, n_steps) | None
        Objective at the decoded clean-latent estimate of every step (free
        when guidance is on; None for unguided runs).
    n_generated : int
        Images generated before re-ranking (``keep``).
    """

    images: np.ndarray
    scores: np.ndarray
    seeds: np.ndarray
    guidance_scale: float
    trace: np.ndarray = None
    n_generated: int = 0
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.scores)

    def top(self, fraction):
        """The best ``ceil(fraction * n)`` images, sorted by decreasing score."""
        k = _n_keep(fraction, len(self))
        order = np.argsort(-self.scores, kind="stable")[:k]
        return GuidedDiffusionResult(
            self.images[order],
            self.scores[order],
            self.seeds[order],
            self.guidance_scale,
            None if self.trace is None else self.trace[order],
            self.n_generated,
            dict(self.meta),
        )

    def to_pil(self):
        """The images as a list of ``PIL.Image`` (RGB, uint8)."""
        from PIL import Image

        arr = np.round(np.clip(self.images, 0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1)
        return [Image.fromarray(a) for a in arr]


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
