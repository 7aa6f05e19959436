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
from pathlib import Path

import numpy as np

from .._utils.device import resolve_device
from .._utils.docs import fill_doc
from .._utils.logging import logger
from .._utils.optional import require
from .._utils.random import seeded  # noqa: F401  (re-exported for the backbone factories)
from .._utils.validation import check_option, describe
from ._hooks import capture, list_layers, pool

__all__ = ["Backbone", "ImageTransform", "get_backbone", "list_backbones", "register_backbone"]

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


@fill_doc
def get_backbone(name, pretrained=_DEFAULT, checkpoint=None, device="auto", dtype="float32",
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
_FILE_HASHES = {}


def import_torchvision():
    """Import torchvision (needed by open_clip and transformers); None when not installed.

    A torchvision built for another torch variant (e.g. the CUDA wheel from PyPI
    next to a CPU-only torch) fails on import with "operator torchvision::nms
    does not exist". open_clip and transformers need only its Python parts, so
    the import is retried with the fake-kernel registration of the missing ops
    skipped (``torchvision.ops`` such as nms then stay unavailable) and a
    warning is logged.
    """
    import sys

    try:
        import torchvision

        return torchvision
    except ImportError:
        return None
    except RuntimeError as err:
        if "torchvision::" not in str(err):
            raise
        first = err
    import torch.library

    for mod in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
        del sys.modules[mod]
    original = torch.library.register_fake

    def tolerant(op, *args, **kwargs):
        decorator = original(op, *args, **kwargs)

        def wrap(fn):
            try:
                return decorator(fn)
            except RuntimeError as exc:
                if "does not exist" in str(exc):
                    return fn
                raise

        return wrap

    torch.library.register_fake = tolerant
    try:
        import torchvision
    finally:
        torch.library.register_fake = original
    logger.warning(
        "torchvision's compiled ops do not match the installed torch (%s); imported it without "
        "them. Install the torchvision build that matches torch to silence this.", str(first)[:80]
    )
    return torchvision


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
        t = t.detach().cpu()
        h.update((t.float() if t.is_floating_point() else t).contiguous().numpy().tobytes())
    return h.hexdigest()


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
            top, left = round((h - ch) / 2.0), round((w - cw) / 2.0)
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
        arr = np.array(arr[..., :3], copy=True, order="C")  # writable, contiguous
        t = torch.as_tensor(arr, device=device).permute(2, 0, 1)
        t = t.float() / 255.0 if arr.dtype == np.uint8 else t.float()
        out.append(t[None])
    return out


class Backbone:
    """A torch model with preprocessing, named layers and a weights tag.

    Build one with :func:`get_backbone` or :meth:`from_module`.

    Parameters
    ----------
    model : torch.nn.Module
        Set to eval mode and moved to ``device``.
    name : str
        E.g. ``"open_clip:ViT-B-32"``.
    modality : "image" | "text" | "image+text"
    weights_tag : str
        Pretrained tag, ``"sha256:<hex>"`` of a checkpoint, or ``"random-init-seed<k>"``.
    image_transform : ImageTransform | callable | None
        Maps float images (n, 3, h, w) in [0, 1] to model inputs (in torch).
    tokenizer : callable | None
        ``tokenizer(list of str)`` -> LongTensor (n, n_tokens) or dict of tensors
        (``input_ids``, ``attention_mask``...).
    embed_image, embed_text : callable | None
        ``embed(model, inputs)`` -> (n, d) final embedding ("embedding" layer).
    layer_prefix : dict | None
        ``{"image": "visual.", "text": ""}``: where each tower's layers are named.
    device : "auto" | "cpu" | "cuda" | "cuda:N" | torch.device
        Resolved by ``neurotoolkit._utils.device.resolve_device``.
    config : dict | None
        Architecture description (provenance).
    """

    def __init__(self, model, name, modality, weights_tag, image_transform=None, tokenizer=None,
                 embed_image=None, embed_text=None, layer_prefix=None, device="auto", config=None,
                 text_mask=None):
        check_option("modality", modality, ("image", "text", "image+text"))
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.name = str(name)
        self.modality = modality
        self.weights_tag = str(weights_tag)
        self.image_transform = image_transform
        self.tokenizer = tokenizer
        self._embed = {"image": embed_image, "text": embed_text}
        self.layer_prefix = dict(layer_prefix or {})
        self.config = dict(config or {})
        self._text_mask = text_mask

    def __repr__(self):
        return (f"<Backbone {self.name!r} ({self.modality}), weights {self.weights_tag!r}, "
                f"device {self.device}>")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_module(cls, module, preprocess=None, modality="image", name=None, embed=None,
                    weights_tag=None, device="auto", layer_prefix=""):
        """Wrap any ``torch.nn.Module``.

        Parameters
        ----------
        module : torch.nn.Module
            ``module(inputs)`` gives the final output ("embedding" layer).
        preprocess : callable | dict | None
            Image modality: a callable on float tensors (n, 3, h, w) in [0, 1]
            returning the model input (keep it in torch for gradients), or a
            dict of :class:`ImageTransform` arguments; None passes images
            through. Text modality: a tokenizer ``f(list of str)`` -> tensor
            or dict of tensors.
        modality : "image" | "text"
        name : str | None
            Default: the module's class name.
        embed : callable | None
            ``embed(module, inputs)`` -> (n, d); default ``module(inputs)`` (first tensor).
        weights_tag : str | None
            Default: sha256 of the module's parameters and buffers.
        device : "auto" | "cpu" | "cuda" | "cuda:N" | torch.device
            "auto" (the default) picks CUDA when torch sees a GPU, else the CPU.
        """
        nn = require("torch.nn", purpose="Backbone.from_module")
        if not isinstance(module, nn.Module):
            raise TypeError(f"Invalid value for `module`: expected a torch.nn.Module, got {describe(module)}.")
        check_option("modality", modality, ("image", "text"))
        if isinstance(preprocess, dict):
            preprocess = ImageTransform(**preprocess)
        if embed is None:
            from ._hooks import _first_tensor

            def embed(model, x):
                return _first_tensor(model(**x) if isinstance(x, dict) else model(x))

        tag = weights_tag or "sha256:" + module_sha256(module)
        return cls(
            module, name or type(module).__name__, modality, tag,
            image_transform=preprocess if modality == "image" else None,
            tokenizer=preprocess if modality == "text" else None,
            embed_image=embed if modality == "image" else None,
            embed_text=embed if modality == "text" else None,
            layer_prefix={modality: layer_prefix}, device=device,
        )

    # ------------------------------------------------------------------ layers
    def _modality(self, modality):
        if modality is None:
            return "image" if "image" in self.modality else "text"
        check_option("modality", modality, ("image", "text"))
        if modality not in self.modality.split("+"):
            raise ValueError(
                f"Invalid value for `modality`: backbone {self.name!r} takes {self.modality} "
                f"inputs, got {modality!r}."
            )
        return modality

    def layers(self, modality=None, all_modules=False):
        """Layer names usable in :meth:`forward_features` / ``extract_features``.

        Parameters
        ----------
        modality : "image" | "text" | None
            Tower to list (default: image when the model has one).
        all_modules : bool
            Every named submodule instead of the blocks and top-level layers.

        Returns
        -------
        names : list of str
            Module names (e.g. ``"visual.transformer.resblocks.3"``) followed by
            ``"embedding"``, the model's final embedding.
        """
        modality = self._modality(modality)
        prefix = self.layer_prefix.get(modality, "")
        names = list_layers(self.model, prefix=prefix, all_modules=all_modules)
        other = [p for m, p in self.layer_prefix.items() if m != modality and p and p != prefix]
        names = [n for n in names if not any(n == p.rstrip(".") or n.startswith(p) for p in other)]
        return names + ["embedding"]

    # ------------------------------------------------------------------ preprocessing
    def preprocess_tensor(self, images):
        """Model inputs from float images (n, 3, h, w) in [0, 1], in torch (differentiable)."""
        self._modality("image")
        images = images.to(self.device)
        return images if self.image_transform is None else self.image_transform(images)

    def preprocess_images(self, images):
        """Model inputs (tensor (n, 3, H, W)) from uint8 RGB images (n, h, w, 3) or a list of them."""
        torch = require("torch")
        tensors = images_to_tensor(images, device=self.device)
        if len({tuple(t.shape) for t in tensors}) == 1:  # one resize call for the whole batch
            tensors = [torch.cat(tensors, dim=0)]
        batch = [self.preprocess_tensor(t) for t in tensors]
        shapes = {tuple(b.shape[1:]) for b in batch}
        if len(shapes) > 1:
            raise ValueError(
                f"Images of different sizes {sorted(shapes)[:3]} after preprocessing; give the "
                "backbone an image transform that resizes (ImageTransform) or resize them first."
            )
        return torch.cat(batch, dim=0)

    def preprocess_texts(self, texts):
        """Token tensor (or dict of tensors) from a list of strings."""
        self._modality("text")
        if isinstance(texts, str):
            texts = [texts]
        if self.tokenizer is None:
            raise ValueError(f"Backbone {self.name!r} has no tokenizer.")
        tokens = self.tokenizer([str(t) for t in texts])
        if isinstance(tokens, dict) or hasattr(tokens, "keys"):
            return {k: v.to(self.device) for k, v in dict(tokens).items()}
        return tokens.to(self.device)

    def describe_preprocessing(self, modality=None):
        """A JSON-able description of the preprocessing (feature-store key part)."""
        modality = self._modality(modality)
        if modality == "image":
            t = self.image_transform
            if t is None:
                return {"image": None}
            return {"image": t.describe() if hasattr(t, "describe") else getattr(t, "__qualname__", repr(t))}
        tok = self.tokenizer
        return {"text": getattr(tok, "describe", lambda: getattr(tok, "__qualname__", type(tok).__name__))()}

    # ------------------------------------------------------------------ forward
    def forward_features(self, inputs, layers=("embedding",), pooling="auto", modality=None,
                         normalize=False):
        """Activations of ``layers`` for a batch.

        Parameters
        ----------
        inputs : torch.Tensor | dict | numpy.ndarray | list of str
            Preprocessed images (n, 3, H, W) (e.g. from :meth:`preprocess_tensor`,
            which keeps gradients), tokens (tensor or dict), uint8 images
            (n, h, w, 3) or a list of strings (preprocessed here).
        layers : str | sequence of str
            Names from :meth:`layers` (any submodule name works).
        pooling : str
            See :func:`neurotoolkit.features._hooks.pool`: "auto", "cls", "mean",
            "last", "avgpool", "flatten", "none". The "embedding" layer is
            never pooled.
        modality : "image" | "text" | None
            Inferred from ``inputs`` when None.
        normalize : bool
            L2-normalise each returned row (pooled outputs only).

        Returns
        -------
        features : dict str -> torch.Tensor
            (n, n_features) per layer ((n, ...) with pooling="none"); part of
            the autograd graph when the input requires grad.
        """
        torch = require("torch")
        layers = [layers] if isinstance(layers, str) else list(layers)
        if modality is None:
            is_text = isinstance(inputs, (list, tuple, dict)) or (
                isinstance(inputs, torch.Tensor) and not inputs.is_floating_point())
            modality = "text" if is_text else "image"
        modality = self._modality(modality)
        if isinstance(inputs, np.ndarray):
            inputs = self.preprocess_images(inputs)
        elif isinstance(inputs, (list, tuple)):
            inputs = self.preprocess_texts(list(inputs))
        elif isinstance(inputs, dict):
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
        else:
            inputs = inputs.to(self.device)
        embed = self._embed[modality]
        if embed is None:
            raise ValueError(f"Backbone {self.name!r} has no {modality} forward function.")
        hooked = [name for name in layers if name != "embedding"]
        want_embedding = "embedding" in layers
        outputs, result = capture(self.model, hooked, lambda: embed(self.model, inputs),
                                  stop_early=not want_embedding)
        mask = None
        if modality == "text":
            if isinstance(inputs, dict) and "attention_mask" in inputs:
                mask = inputs["attention_mask"]
            elif self._text_mask is not None:
                mask = self._text_mask(inputs)
        feats = {}
        for name in layers:
            if name == "embedding":
                out = result
            else:
                out = pool(outputs[name], pooling, mask=mask, modality=modality)
            if normalize and out.ndim == 2:
                out = torch.nn.functional.normalize(out, dim=-1)
            feats[name] = out
        return feats

    def to(self, device):
        """Move the model to ``device`` (in place); returns self."""
        self.device = resolve_device(device)
        self.model.to(self.device)
        return self

    def provenance(self):
        """Backbone part of a FeatureSpace's provenance."""
        return {"backbone": self.name, "weights_tag": self.weights_tag, "config": self.config}
