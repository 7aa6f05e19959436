"""Shared pieces of the torch encoders: positional encodings, training loop with early
stopping, ensemble splits, per-unit evaluation and safe saving of network weights."""

import copy
import math
import time

import numpy as np

from .._utils.logging import logger, progress
from .._utils.optional import require
from .._utils.validation import check_int, check_type, describe
from ..data._recording import Recording
from ._evaluation import evaluate_units  # noqa: F401  (re-exported for the nonlinear encoders)

__all__ = ["sine_positional_encoding", "train_network", "ensemble_splits", "evaluate_units",
           "check_recording_units", "state_to_arrays", "arrays_to_state", "TrainingHistory",
           "RoutingObjective"]


def sine_positional_encoding(grid, dim, temperature=10000.0):
    """2-D sine positional encoding of a token grid (DETR's ``PositionEmbeddingSine``, normalised).

    Parameters
    ----------
    grid : (int, int)
        (h, w) of the token grid.
    dim : int
        Encoding size (even); half encodes y, half x.
    temperature : float

    Returns
    -------
    pos : array (h * w, dim), float32
        Row-major over the grid, ``[pos_y, pos_x]`` as in DETR (coordinates
        normalised to (0, 2 pi]).
    """
    h, w = int(grid[0]), int(grid[1])
    dim = int(dim)
    n_y = dim // 2
    n_x = dim - n_y
    y = (np.arange(1, h + 1) / h * 2 * np.pi)[:, None].repeat(w, 1)
    x = (np.arange(1, w + 1) / w * 2 * np.pi)[None, :].repeat(h, 0)

    def enc(coord, n):
        k = np.arange(n)
        dim_t = temperature ** (2 * (k // 2) / max(n, 1))
        p = coord[..., None] / dim_t
        return np.where(k % 2 == 0, np.sin(p), np.cos(p))

    pos = np.concatenate([enc(y, n_y), enc(x, n_x)], axis=-1)
    return pos.reshape(h * w, dim).astype(np.float32)


def ensemble_splits(n, n_splits, val_fraction, rng):
    """``n_splits`` random (train, validation) index splits of ``n`` items (validation >= 1)."""
    n_val = max(1, int(round(val_fraction * n)))
    out = []
    for _ in range(n_splits):
        perm = rng.permutation(n)
        out.append((np.sort(perm[n_val:]), np.sort(perm[:n_val])))
    return out


class TrainingHistory(list):
    """One dict per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``lr``, ``seconds``, ``member``."""

    def seconds_per_epoch(self):
        """Median wall-clock seconds of an epoch."""
        return float(np.median([h["seconds"] for h in self])) if self else float("nan")


def train_network(net, step_loss, val_loss, n_batches, max_epochs, learning_rate, weight_decay,
                  patience, grad_clip=None, scheduler="step", history=None, member=0, desc="training",
                  verbose=None):
    """AdamW training with early stopping on a validation loss; restores the best weights.

    Parameters
    ----------
    net : torch.nn.Module
    step_loss : callable
        ``step_loss(epoch, batch_index) -> scalar tensor`` (training mode).
    val_loss : callable | None
        ``val_loss() -> float`` (called under ``no_grad`` in eval mode);
        None trains ``max_epochs`` without early stopping.
    n_batches : int
        Batches per epoch.
    max_epochs, patience : int
    learning_rate, weight_decay : float
    grad_clip : float | None
        Gradient-norm clipping.
    scheduler : "step" | "plateau" | None
        StepLR (halve every max(1, max_epochs // 3) epochs) or
        ReduceLROnPlateau on the validation loss (factor 0.1, patience 5,
        cooldown 2, min 1e-5; BraInCoRL's recipe).
    history : TrainingHistory | None
        Appended to.

    Returns
    -------
    best_val : float
    """
    torch = require("torch")
    opt = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    if scheduler == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, max_epochs // 3), gamma=0.5)
    elif scheduler == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=5, cooldown=2,
                                                           min_lr=1e-5)
    else:
        sched = None
    best, best_state, bad = math.inf, None, 0
    history = TrainingHistory() if history is None else history
    for epoch in progress(range(int(max_epochs)), desc=desc, verbose=verbose):
        t0 = time.perf_counter()
        net.train()
        total = 0.0
        for b in range(int(n_batches)):
            opt.zero_grad(set_to_none=True)
            loss = step_loss(epoch, b)
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
            opt.step()
            total += float(loss.detach())
        v = math.nan
        if val_loss is not None:
            net.eval()
            with torch.no_grad():
                v = float(val_loss())
        if sched is not None:
            sched.step(v) if scheduler == "plateau" else sched.step()
        history.append({"member": member, "epoch": epoch, "train_loss": total / max(1, n_batches),
                        "val_loss": v, "lr": opt.param_groups[0]["lr"],
                        "seconds": time.perf_counter() - t0})
        if val_loss is None:
            continue
        if v < best - 1e-6:
            best, bad = v, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            bad += 1
            if bad >= patience:
                logger.info("%s: early stop at epoch %d (best validation loss %.4g)", desc, epoch, best)
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return best


def check_recording_units(recording, units, owner):
    """A held-out recording with the fitted units, repeats averaged."""
    check_type("recording", recording, Recording)
    if list(recording.units.index) != list(units.index):
        raise ValueError(
            f"Invalid value for `recording`: its units differ from those the {owner} was fitted on "
            f"({recording.n_units} vs {len(units)} units, or a different order)."
        )
    return recording.average_repeats()


def state_to_arrays(state):
    """A torch state dict as float32 numpy arrays (saved as HDF5 datasets, never pickled)."""
    return {k: v.detach().cpu().float().numpy() if v.is_floating_point() else v.detach().cpu().numpy()
            for k, v in state.items()}


def arrays_to_state(arrays):
    """Inverse of :func:`state_to_arrays`."""
    torch = require("torch")
    return {k: torch.as_tensor(np.asarray(v)) for k, v in arrays.items()}


def check_positive_int(name, value):
    """An int >= 1."""
    return check_int(name, value, min_value=1)


def _select_units(name, spec, units):
    """Indices of the units picked by ``spec`` (ROI / unit names, indices or a mask)."""
    n = len(units)
    if spec is None:
        return np.arange(n)
    arr = np.atleast_1d(np.asarray(spec, dtype=object if isinstance(spec, str) else None))
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"Invalid value for `{name}`: expected a boolean mask of shape ({n},), "
                             f"got shape {arr.shape}.")
        idx = np.flatnonzero(arr)
    elif arr.dtype.kind in "iu":
        idx = np.unique(arr)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"Invalid value for `{name}`: expected unit indices in [0, {n}), got "
                             f"{idx.min()}..{idx.max()}.")
    elif all(isinstance(v, str) for v in arr):
        roi = units["roi"].astype(str).to_numpy()
        names = np.asarray([str(i) for i in units.index])
        hit = np.zeros(n, bool)
        for lab in arr:
            m = (roi == lab) | (names == lab)
            if not m.any():
                raise ValueError(f"Invalid value for `{name}`: expected ROI names from units_['roi'] "
                                 f"({sorted(set(roi))}) or unit names, got {lab!r}.")
            hit |= m
        idx = np.flatnonzero(hit)
    else:
        raise TypeError(f"Invalid value for `{name}`: expected None, ROI names, indices or a mask, "
                        f"got {describe(spec)}.")
    if idx.size == 0:
        raise ValueError(f"Invalid value for `{name}`: expected at least one unit, got none.")
    return idx


class RoutingObjective:
    """A fitted :class:`AttentionRoutingEncoder` as a differentiable function of images.

    ``objective(images)`` (float images (B, 3, H, W) in [0, 1]) runs the
    backbone's differentiable preprocessing, takes the token grid of
    ``layer``, and returns the mean predicted response of ``units`` minus
    that of ``contrast`` (B,): the objective contract of
    ``neurotoolkit.probing`` (ActivationMaximizer, BrainGuidedDiffusion).
    Build it with :meth:`AttentionRoutingEncoder.objective`.
    """

    def __init__(self, encoder, backbone, layer, units=None, contrast=None):
        from ..features import get_backbone

        torch = require("torch", purpose="RoutingObjective")
        self.encoder = encoder
        self.backbone = get_backbone(backbone)
        self.layer = str(layer)
        self.units_ = _select_units("units", units, encoder.units_)
        self.contrast_ = None if contrast is None else _select_units("contrast", contrast, encoder.units_)
        self.units, self.contrast = units, contrast
        self.device = encoder.device_
        self._mean = torch.as_tensor(encoder.token_mean_, device=self.device)
        self._scale = torch.as_tensor(encoder.token_scale_, device=self.device)
        self._ymean = torch.as_tensor(encoder.response_mean_, dtype=torch.float32, device=self.device)
        self._yscale = torch.as_tensor(encoder.response_scale_, dtype=torch.float32, device=self.device)

    def features(self, images):
        """Standardised token grids (B, n_tokens, dim) of images (differentiable)."""
        from ..features._tokens import as_token_grid

        x = self.backbone.preprocess_tensor(images)
        out = self.backbone.forward_features(x, layers=[self.layer], pooling="none")[self.layer]
        tokens, grid = as_token_grid(out, self.encoder.grid_ if out.ndim == 3 else None)
        if tuple(grid) != tuple(self.encoder.grid_):
            raise ValueError(f"Invalid value for `backbone`: layer {self.layer!r} gives a {grid} grid, the "
                             f"encoder was fitted on {self.encoder.grid_}.")
        return (tokens.to(self.device).float() - self._mean) / self._scale

    def predict(self, images):
        """Predicted responses of all units (B, n_units) (differentiable)."""
        return self.encoder._forward(self.features(images)) * self._yscale + self._ymean

    def __call__(self, images):
        """Objective (B,): mean predicted response of ``units`` (minus ``contrast``)."""
        pred = self.predict(images)
        out = pred[:, self.units_].mean(dim=1)
        if self.contrast_ is not None:
            out = out - pred[:, self.contrast_].mean(dim=1)
        return out

    def describe(self):
        """A JSON-able description (stored with synthesized images)."""
        return {"objective": "RoutingObjective", "backbone": self.backbone.name,
                "weights_tag": self.backbone.weights_tag, "layer": self.layer,
                "n_units": int(len(self.units_)),
                "units": self.units if isinstance(self.units, (str, type(None))) else "selection",
                "n_contrast_units": 0 if self.contrast_ is None else int(len(self.contrast_))}

    def __repr__(self):
        return f"<RoutingObjective: mean of {len(self.units_)} of {len(self.encoder.units_)} units>"
