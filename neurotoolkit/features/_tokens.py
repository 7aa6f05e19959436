"""TokenFeatures: a layer's spatial token grid per stimulus (no pooling), with positions."""

import numpy as np

from .._utils.validation import check_array, describe
from ._feature_space import FeatureSpace

__all__ = ["TokenFeatures", "as_token_grid", "grid_positions"]


def grid_positions(grid):
    """Token centres (n_tokens, 2) as (x, y) in [0, 1] image coordinates (y down), row-major."""
    h, w = int(grid[0]), int(grid[1])
    ys, xs = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def as_token_grid(tensor, grid=None):
    """A layer's output as a token grid: ``(tokens (n, h * w, d), (h, w))``.

    Parameters
    ----------
    tensor : torch.Tensor
        CNN feature maps (n, c, h, w), or token sequences (n, n_tokens, d)
        whose last ``h * w`` tokens are the patches (leading CLS / register
        tokens are dropped).
    grid : (int, int) | None
        Grid of a token sequence; None takes the largest square number of
        tokens (ViT patch grids are square).

    Returns
    -------
    tokens : torch.Tensor (n, h * w, d)
        Row-major over the grid; differentiable.
    grid : (int, int)
    """
    if tensor.ndim == 4:
        n, c, h, w = tensor.shape
        return tensor.flatten(2).transpose(1, 2), (int(h), int(w))
    if tensor.ndim != 3:
        raise ValueError(
            "Invalid value for `pooling`: 'tokens' needs a layer with token sequences (n, n_tokens, d) "
            f"or feature maps (n, c, h, w), got shape {tuple(tensor.shape)}."
        )
    n_tok = tensor.shape[1]
    if grid is None:
        side = int(np.floor(np.sqrt(n_tok)))
        grid = (side, side)
    h, w = int(grid[0]), int(grid[1])
    if h * w > n_tok or n_tok - h * w > 8:
        raise ValueError(
            f"Invalid value for `grid`: a layer with {n_tok} tokens has no {h}x{w} patch grid "
            "(expected the patches last, after at most 8 CLS/register tokens)."
        )
    return tensor[:, n_tok - h * w:], (h, w)


class TokenFeatures:
    """Unpooled features: one token grid per stimulus, with token positions.

    Parameters
    ----------
    values : array (n_stimuli, n_tokens, dim)
        Tokens in row-major grid order (``n_tokens = h * w``).
    stimulus_ids : sequence of str, shape (n_stimuli,)
    grid : (int, int)
        (h, w) of the token grid.
    name : str
    provenance : dict | None

    Attributes
    ----------
    positions : array (n_tokens, 2)
        Token centres (x, y) in [0, 1] image coordinates (y down).

    Examples
    --------
    >>> tf = TokenFeatures(np.zeros((3, 4, 5)), ["a", "b", "c"], grid=(2, 2), name="toy")
    >>> tf.for_ids(["c", "a"]).shape, tf.pooled().values.shape
    ((2, 4, 5), (3, 5))
    """

    def __init__(self, values, stimulus_ids, grid, name, provenance=None):
        values = check_array("values", values, ndim=3, dtype=None, min_samples=1)
        grid = tuple(int(g) for g in grid)
        if len(grid) != 2 or grid[0] * grid[1] != values.shape[1]:
            raise ValueError(
                f"Invalid value for `grid`: expected (h, w) with h * w = n_tokens = {values.shape[1]}, "
                f"got {describe(grid)}."
            )
        ids = [str(s) for s in np.atleast_1d(stimulus_ids)]
        if len(ids) != values.shape[0] or len(set(ids)) != len(ids):
            raise ValueError(
                f"Invalid value for `stimulus_ids`: expected {values.shape[0]} unique ids (one per "
                f"row of `values`), got {len(ids)} ({len(set(ids))} unique)."
            )
        self.values = values
        self.stimulus_ids = np.asarray(ids, dtype=object)
        self.grid = grid
        self.name = str(name)
        self.provenance = dict(provenance or {})
        self.positions = grid_positions(grid)
        self._index = {s: k for k, s in enumerate(ids)}

    @property
    def n_stimuli(self):
        """Number of stimuli."""
        return self.values.shape[0]

    @property
    def n_tokens(self):
        """Tokens per stimulus (``h * w``)."""
        return self.values.shape[1]

    @property
    def dim(self):
        """Feature dimension of a token."""
        return self.values.shape[2]

    def __len__(self):
        return self.n_stimuli

    def __contains__(self, stimulus_id):
        return str(stimulus_id) in self._index

    def __repr__(self):
        return (f"<TokenFeatures {self.name!r}: {self.n_stimuli} stimuli x {self.grid[0]}x{self.grid[1]} "
                f"tokens x {self.dim} ({self.values.dtype})>")

    def for_ids(self, ids):
        """Token grids of ``ids`` (repeats allowed), array (len(ids), n_tokens, dim)."""
        ids = [str(s) for s in np.atleast_1d(ids)]
        missing = [s for s in dict.fromkeys(ids) if s not in self._index]
        if missing:
            raise KeyError(
                f"Invalid value for `ids`: {len(missing)} id(s) not in TokenFeatures {self.name!r}: "
                f"{missing[:10]}."
            )
        return self.values[[self._index[s] for s in ids]]

    def pooled(self, how="mean"):
        """A :class:`FeatureSpace` (n_stimuli, dim) of the tokens averaged (or max-pooled) over space.

        Parameters
        ----------
        how : "mean" | "max"
        """
        if how not in ("mean", "max"):
            raise ValueError(f"Invalid value for `how`: expected 'mean' or 'max', got {how!r}.")
        vals = self.values.mean(axis=1) if how == "mean" else self.values.max(axis=1)
        return FeatureSpace(vals, self.stimulus_ids, f"{self.name}:{how}pool",
                            dict(self.provenance, pooling=f"tokens-{how}"))

    def flat(self):
        """A :class:`FeatureSpace` (n_stimuli, n_tokens * dim) of every token side by side."""
        return FeatureSpace(self.values.reshape(self.n_stimuli, -1), self.stimulus_ids,
                            f"{self.name}:flat", dict(self.provenance, pooling="tokens-flat"))
