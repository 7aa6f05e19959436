"""Hugging Face ``transformers`` backbones: ``get_backbone("hf:<folder or model id>")``.

Vision models (ViT, DINOv2, ...) get an image transform built from their
``AutoImageProcessor`` settings and run in torch; language models (GPT-2,
BERT family, ...) get their ``AutoTokenizer``. Only local files are used
unless ``local_files_only=False``.
"""

import hashlib
from pathlib import Path

from .._utils.optional import require
from .._utils.validation import check_option
from ._backbones import (
    _DEFAULT,
    Backbone,
    ImageTransform,
    file_sha256,
    import_torchvision,
    register_backbone,
    seeded,
)

__all__ = ["hf_backbone"]

_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def _not_found(identifier, err):
    return FileNotFoundError(
        f"transformers model {identifier!r} was not found on this machine ({type(err).__name__}: "
        f"{str(err)[:160]}). Expected a folder with config.json and the weights "
        "(model.safetensors or pytorch_model.bin, as written by `save_pretrained`), or the "
        f"Hugging Face cache entry of {identifier!r} (`huggingface-cli download {identifier}`). "
        "Pass local_files_only=False to let transformers download it, or checkpoint='<file>' "
        "with a local state dict."
    )


def _weights_tag(identifier, config):
    folder = Path(identifier)
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".pth"))
        if files:
            h = hashlib.sha256()
            for p in files:
                h.update(p.name.encode() + file_sha256(p).encode())
            return "sha256:" + h.hexdigest()
    commit = getattr(config, "_commit_hash", None)
    return f"{identifier}@{commit}" if commit else str(identifier)


def _as_dict(size):
    if size is None or isinstance(size, (int, float)):
        return size
    if hasattr(size, "__dataclass_fields__"):
        return {k: getattr(size, k) for k in size.__dataclass_fields__ if getattr(size, k) is not None}
    if hasattr(size, "keys"):
        return {k: v for k, v in dict(size).items() if v is not None}
    return {"height": size[0], "width": size[-1]}


def _image_transform(processor):
    size = _as_dict(getattr(processor, "size", None)) or {"height": 224, "width": 224}
    crop = _as_dict(getattr(processor, "crop_size", None)) if getattr(processor, "do_center_crop", False) else None
    if isinstance(size, dict) and "shortest_edge" in size:
        mode, resize = "shortest", size["shortest_edge"]
    elif isinstance(size, dict):
        mode, resize = "squash", (size["height"], size["width"])
    else:
        mode, resize = "squash", size
    if isinstance(crop, dict):
        crop = (crop["height"], crop["width"])
    mean = getattr(processor, "image_mean", None) or (0.0, 0.0, 0.0)
    std = getattr(processor, "image_std", None) or (1.0, 1.0, 1.0)
    if not getattr(processor, "do_normalize", True):
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    resample = getattr(processor, "resample", 3)
    try:
        interp = _RESAMPLE.get(int(getattr(resample, "value", resample)), "bicubic")
    except (TypeError, ValueError):
        interp = "bicubic"
    return ImageTransform(resize, crop=crop, mean=mean, std=std, resize_mode=mode, interpolation=interp)


class _HFTokenize:
    def __init__(self, tokenizer, identifier, max_length=None):
        self.tokenizer = tokenizer
        self.identifier = identifier
        self.max_length = max_length
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token

    def __call__(self, texts):
        out = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        return {k: v for k, v in out.items() if k in ("input_ids", "attention_mask", "token_type_ids")}

    def describe(self):
        return {"tokenizer": type(self.tokenizer).__name__, "name": str(self.identifier),
                "vocab_size": len(self.tokenizer), "max_length": self.max_length}


def _embed_image(model, x):
    out = model(pixel_values=x)
    pooled = getattr(out, "pooler_output", None)
    return pooled if pooled is not None else out.last_hidden_state[:, 0]


def _embed_text(model, tokens):
    out = model(**tokens)
    hidden = out.last_hidden_state
    m = tokens["attention_mask"].to(hidden.dtype)[..., None]
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1)


def hf_backbone(identifier, pretrained=_DEFAULT, checkpoint=None, device="auto", dtype="float32",
                random_state=0, local_files_only=True, modality=None, max_length=None, **kwargs):
    """Factory registered as ``"hf"``; see :func:`get_backbone`.

    Extra parameters
    ----------------
    local_files_only : bool
        True (default): never download; False lets transformers fetch the model.
    modality : "image" | "text" | None
        None: "image" when the model has an image processor, else "text".
    max_length : int | None
        Truncation length of the tokenizer (default: the model's).
    **kwargs
        Passed to ``from_pretrained`` (e.g. ``revision``, ``cache_dir``).

    Notes
    -----
    The "embedding" layer is the pooler output (or the first token) of vision
    models and the attention-masked mean of the last hidden state of
    language models.
    """
    import_torchvision()
    transformers = require("transformers", purpose="Hugging Face backbones")
    torch = require("torch")
    if not identifier:
        raise ValueError("Invalid value for `name`: expected 'hf:<local folder or model id>'.")
    load = dict(local_files_only=local_files_only, **kwargs)
    try:
        config = transformers.AutoConfig.from_pretrained(identifier, **load)
    except (OSError, ValueError) as err:
        raise _not_found(identifier, err) from err
    processor = tokenizer = None
    if modality in (None, "image"):
        try:
            processor = transformers.AutoImageProcessor.from_pretrained(identifier, **load)
        except (OSError, ValueError, KeyError, TypeError):
            processor = None
    if processor is None and modality in (None, "text"):
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(identifier, **load)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise _not_found(identifier, err) if modality == "text" else ValueError(
                f"transformers model {identifier!r} has neither an image processor nor a tokenizer "
                f"saved with it ({err}); save one with `save_pretrained` in the same folder."
            ) from err
    if modality is None:
        modality = "image" if processor is not None else "text"
    check_option("modality", modality, ("image", "text"))
    if modality == "image" and processor is None:
        raise ValueError(f"transformers model {identifier!r} has no image processor saved with it.")
    if pretrained is None or checkpoint is not None:
        seed, ctx = seeded(random_state)
        with ctx:
            model = transformers.AutoModel.from_config(config)
        weights_tag = f"random-init-seed{seed}"
        if checkpoint is not None:
            path = Path(checkpoint)
            if not path.is_file():
                raise FileNotFoundError(f"Invalid value for `checkpoint`: no file at '{path}'.")
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(str(path), map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            weights_tag = "sha256:" + file_sha256(path)
    else:
        try:
            model = transformers.AutoModel.from_pretrained(identifier, **load)
        except OSError as err:
            raise _not_found(identifier, err) from err
        weights_tag = _weights_tag(identifier, config)
    model = model.to(getattr(torch, dtype)).eval()
    return Backbone(
        model, f"hf:{identifier}", modality, weights_tag,
        image_transform=_image_transform(processor) if processor is not None else None,
        tokenizer=_HFTokenize(tokenizer, identifier, max_length) if tokenizer is not None else None,
        embed_image=_embed_image if modality == "image" else None,
        embed_text=_embed_text if modality == "text" else None,
        layer_prefix={modality: ""}, device=device,
        config={"hf": config.to_diff_dict() if hasattr(config, "to_diff_dict") else {}, "dtype": dtype},
    )


register_backbone("hf", hf_backbone)
