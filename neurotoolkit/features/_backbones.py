"""Backbone registry, ``get_backbone`` and the :class:`Backbone` wrapper.

A Backbone wraps a torch module with everything feature extraction needs:
preprocessing done in torch (so that it is differentiable), layer names,
forward hooks with pooling, the final embedding, and a weights tag that
identifies the weights (for the feature store and provenance).

Backends register a factory under a prefix: ``"open_clip:<arch>"``,
``"hf:<path or id>"``, ``"gabor"``; :func:`register_backbone` adds more.
"""

import hashlib
import importlib
import os
from pathlib import Path

import numpy as np

from .._utils.logging import logger
from .._utils.optional import require
from .._utils.validation import check_option, describe
from ._hooks import capture, list_layers, pool

__all__ = ["Backbone", "ImageTransform", "get_backbone", "register_backbone", "list_backbones"]

_REGISTRY = {}
# prefixes whose module registers its factory when imported (imported on first use)
_LAZY = {
    "open_clip": "neurotoolkit.features._open_clip",
    "hf": "neurotoolkit.features._hf",
    "gabor": "neurotoolkit.features._gabor_torch",
}
_DEFAULT = "default"


def register_backbone(prefix, factory):
    """Register ``factory`` for backbone names ``"<prefix>"`` or ``"<prefix>:<identifier>"``.

    Parameters
    ----------
    prefix : str
        E.g. ``"open_clip"``; names are matched on the text before the first ``":"``.
    factory : callable
        ``factory(identifier, pretrained=..., checkpoint=..., device=..., dtype=...,
        random_state=..., **kwargs) -> Backbone``; ``identifier`` is the text
        after ``":"`` ("" when there is none) and ``pretrained`` is the string
        ``"default"`` when the user did not pass one.
    """
    if not isinstance(prefix, str) or not prefix or ":" in prefix:
        raise ValueError(f"Invalid value for `prefix`: expected a non-empty str without ':', got {describe(prefix)}.")
    if not callable(factory):
        raise TypeError(f"Invalid value for `factory`: expected a callable, got {describe(factory)}.")
    _REGISTRY[prefix] = factory


def list_backbones():
    """Registered (and built-in, lazily loaded) backbone prefixes."""
    return sorted(set(_REGISTRY) | set(_LAZY))


def get_backbone(name, pretrained=_DEFAULT, checkpoint=None, device=None, dtype="float32",
                 random_state=0, **kwargs):
    """Build a pretrained (or randomly initialised) backbone by name.

    Parameters
    ----------
    name : str | Backbone
        ``"open_clip:<arch>"`` (e.g. ``"open_clip:ViT-B-32"``), ``"hf:<local folder or
        model id>"`` (transformers ``AutoModel``), ``"gabor"`` (weight-free), or a
        prefix added with :func:`register_backbone`. A Backbone is returned as is.
        Wrap any ``torch.nn.Module`` with :meth:`Backbone.from_module`.
    pretrained : str | bool | None
        Weights: an open_clip pretrained tag (e.g. ``"laion2b_s34b_b79k"``), True
        for the weights stored with a transformers model, or None for the
        architecture with random weights (random-init controls), seeded by
        ``random_state``.
    checkpoint : path-like | None
        A local weights file to load instead of a download; its sha256 becomes
        the weights tag.
    %(device)s
    dtype : "float32" | "float16" | "bfloat16"
        Precision of the model weights.
    random_state : int | None
        Seed of the random initialisation when ``pretrained=None``.
    **kwargs
        Passed to the backend's factory, e.g. ``local_files_only=False`` (allow
        downloads), ``cache_dir=``, ``model_cfg=`` (open_clip architecture dict).

    Returns
    -------
    backbone : Backbone
    """
    if isinstance(name, Backbone):
        return name
    if not isinstance(name, str):
        raise TypeError(
            f"Invalid value for `name`: expected a backbone name such as 'open_clip:ViT-B-32' or "
            f"'hf:/path/to/model', got {describe(name)}. Wrap a torch module with "
            "Backbone.from_module(module, preprocess=...)."
        )
    prefix, _, identifier = name.partition(":")
    if prefix not in _REGISTRY and prefix in _LAZY:
        try:
            importlib.import_module(_LAZY[prefix])
        except ImportError as err:
            if f"features.{_LAZY[prefix].rsplit('.', 1)[-1]}" in str(err):
                raise ValueError(f"Backbone {prefix!r} is not available in this installation.") from err
            raise
    if prefix not in _REGISTRY:
        raise ValueError(
            f"Invalid value for `name`: expected a name starting with one of {list_backbones()}, "
            f"got {name!r}. Add backends with register_backbone(prefix, factory)."
        )
    check_option("dtype", dtype, ("float32", "float16", "bfloat16"))
    return _REGISTRY[prefix](
        identifier, pretrained=pretrained, checkpoint=checkpoint, device=device, dtype=dtype,
        random_state=random_state, **kwargs
    )


# ---------------------------------------------------------------------------- helpers
def resolve_device(device):
    """A torch.device: ``device`` or CUDA when available, else the CPU."""
    torch = require("torch", purpose="backbones")
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


_FILE_HASHES = {}


def file_sha256(path):
    """sha256 hex digest of a file (memoised on path, size and modification time)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Invalid value for `checkpoint`: no file at '{path}'.")
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _FILE_HASHES[key] = h.hexdigest()
    return _FILE_HASHES[key]


def module_sha256(module):
    """sha256 of a module's parameters and buffers (names, shapes and values)."""
    h = hashlib.sha256()
    for name, t in list(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view_as_real().numpy().tobytes()
                 if t.is_complex() else t.detach().cpu().contiguous().numpy().tobytes()
                 if t.dtype.is_floating_point is False or str(t.dtype) != "torch.bfloat16"
                 else t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def seeded(random_state):
    """(seed, context manager) that seeds torch without touching the global RNG state."""
    torch = require("torch", purpose="random-init backbones")
    seed = int(np.random.default_rng(random_state).integers(2**31 - 1)) if random_state is None else int(random_state)

    class _Ctx:
        def __enter__(self):
            self._fork = torch.random.fork_rng(devices=[])
            self._fork.__enter__()
            torch.manual_seed(seed)

        def __exit__(self, *exc):
            return self._fork.__exit__(*exc)

    return seed, _Ctx()


class ImageTransform:
    """Resize, crop and normalise image batches in torch (differentiable).

    Parameters
    ----------
    size : int | (int, int)
        With ``resize_mode="shortest"``: length of the shorter side after
        resizing; ``"squash"``: the (height, width) to resize to; ``"longest"``:
        length of the longer side (the image is then padded to a square).
    crop : int | (int, int) | None
        Centre crop after resizing (None: no crop).
    mean, std : sequence of 3 floats
        Per-channel normalisation applied to [0, 1] images.
    resize_mode : "shortest" | "squash" | "longest"
    interpolation : "bicubic" | "bilinear" | "nearest"
    """

    def __init__(self, size, crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                 resize_mode="shortest", interpolation="bicubic", fill=0.0):
        check_option("resize_mode", resize_mode, ("shortest", "squash", "longest"))
        check_option("interpolation", interpolation, ("bicubic", "bilinear", "nearest"))
        self.size = _pair(size) if resize_mode == "squash" else int(np.max(size))
        self.crop = None if crop is None else _pair(crop)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.resize_mode = resize_mode
        self.interpolation = interpolation
        self.fill = float(fill)

    def describe(self):
        """A JSON-able description (part of the feature-store key)."""
        return {"size": self.size, "crop": self.crop, "mean": self.mean, "std": self.std,
                "resize_mode": self.resize_mode, "interpolation": self.interpolation,
                "fill": self.fill, "impl": "torch-antialias-v1"}

    def __repr__(self):
        return "ImageTransform(" + ", ".join(f"{k}={v!r}" for k, v in self.describe().items()) + ")"

    def __call__(self, x):
        """x: float tensor (n, 3, h, w) in [0, 1] -> normalised tensor (n, 3, H, W)."""
        import torch
        import torch.nn.functional as F

        h, w = x.shape[-2:]
        if self.resize_mode == "squash":
            out_hw = self.size
        elif self.resize_mode == "shortest":
            s = self.size / min(h, w)
            out_hw = (max(1, round(h * s)), max(1, round(w * s)))
        else:
            s = self.size / max(h, w)
            out_hw = (max(1, round(h * s)), max(1, round(w * s)))
        if tuple(out_hw) != (h, w):
            kw = {} if self.interpolation == "nearest" else {"align_corners": False, "antialias": True}
            x = F.interpolate(x, size=tuple(out_hw), mode=self.interpolation, **kw)
            x = x.clamp(0.0, 1.0)
        if self.resize_mode == "longest" and out_hw[0] != out_hw[1]:
            ph, pw = self.size - out_hw[0], self.size - out_hw[1]
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=self.fill)
        if self.crop is not None:
            ch, cw = self.crop
            h, w = x.shape[-2:]
            if ch > h or cw > w:
                x = F.pad(x, (max(0, cw - w) // 2, max(0, cw - w) - max(0, cw - w) // 2,
                              max(0, ch - h) // 2, max(0, ch - h) - max(0, ch - h) // 2), value=self.fill)
                h, w = x.shape[-2:]
            top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
            x = x[..., top:top + ch, left:left + cw]
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device)[:, None, None]
        std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device)[:, None, None]
        return (x - mean) / std


def _pair(v):
    v = np.atleast_1d(v).astype(int)
    return (int(v[0]), int(v[-1]))


def images_to_tensor(images, device=None):
    """uint8 (n, h, w, 3) array or list of (h, w, 3) arrays -> list of float tensors in [0, 1]."""
    torch = require("torch", purpose="image preprocessing")
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = images[None]
    out = []
    for img in images:
        arr = np.asarray(img)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise ValueError(f"Invalid value for `images`: expected (n, h, w, 3) RGB images, got {describe(arr)}.")
        arr = arr[..., :3]
        t = torch.as_tensor(np.ascontiguousarray(arr), device=device).permute(2, 0, 1)
        t = t.float() / 255.0 if arr.dtype == np.uint8 else t.float()
        out.append(t[None])
    return out
