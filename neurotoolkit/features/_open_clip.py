"""open_clip backbones: ``get_backbone("open_clip:<arch>", pretrained=<tag>)``.

Weights come from the local caches only unless ``local_files_only=False``
(a download attempt without network takes tens of seconds of retries), from
``checkpoint=<file>``, or are random (``pretrained=None``).
"""

import json
import os
import tempfile
from pathlib import Path

from .._utils.optional import require
from ._backbones import (
    _DEFAULT,
    Backbone,
    ImageTransform,
    file_sha256,
    import_torchvision,
    register_backbone,
    seeded,
)

__all__ = ["open_clip_backbone"]

_CONFIG_DIR = None


def import_open_clip():
    """Import open_clip (after :func:`import_torchvision`, which works around broken wheels)."""
    import_torchvision()
    return require("open_clip", purpose="open_clip backbones")


def _register_config(open_clip, arch, model_cfg):
    """Make ``model_cfg`` (a dict with embed_dim, vision_cfg, text_cfg) known as ``arch``."""
    global _CONFIG_DIR
    missing = [k for k in ("embed_dim", "vision_cfg", "text_cfg") if k not in model_cfg]
    if missing:
        raise ValueError(f"Invalid value for `model_cfg`: expected keys embed_dim, vision_cfg, text_cfg; missing {missing}.")
    if _CONFIG_DIR is None:
        _CONFIG_DIR = Path(tempfile.mkdtemp(prefix="neurotoolkit_open_clip_cfg_"))
        open_clip.add_model_config(_CONFIG_DIR)
    (_CONFIG_DIR / f"{arch}.json").write_text(json.dumps(model_cfg))
    open_clip.add_model_config(_CONFIG_DIR / f"{arch}.json")


def _cached_weights(open_clip, arch, tag, cache_dir):
    """(path or None, human description of where the weights come from, pretrained cfg)."""
    from open_clip import pretrained as oc_pre

    cfg = oc_pre.get_pretrained_cfg(arch, tag)
    hub = cfg.get("hf_hub", "")
    url = cfg.get("url", "")
    if cfg.get("file"):
        return cfg["file"], cfg["file"], cfg
    candidates = []
    where = []
    if hub:
        repo, filename = os.path.split(hub)
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        try:
            from huggingface_hub import try_to_load_from_cache

            for fname in names:
                hit = try_to_load_from_cache(repo, fname, cache_dir=cache_dir)
                if isinstance(hit, str) and os.path.isfile(hit):
                    candidates.append(hit)
        except ImportError:
            pass
        where.append(f"'{' or '.join(names)}' of the Hugging Face repo '{repo}' in the Hugging "
                     f"Face cache (`huggingface-cli download {repo} {names[0]}`)")
    if url:
        target = os.path.join(cache_dir or os.path.expanduser("~/.cache/clip"), os.path.basename(url))
        if os.path.isfile(target):
            candidates.append(target)
        where.append(f"{url} (saved as {target})")
    return (candidates[0] if candidates else None), "; or ".join(where), cfg


def open_clip_backbone(identifier, pretrained=_DEFAULT, checkpoint=None, device="auto", dtype="float32",
                       random_state=0, local_files_only=True, cache_dir=None, model_cfg=None, **kwargs):
    """Factory registered as ``"open_clip"``; see :func:`get_backbone`.

    Extra parameters
    ----------------
    local_files_only : bool
        True (default) never touches the network: weights must be in the
        open_clip / Hugging Face caches. False lets open_clip download them.
    cache_dir : str | None
        open_clip cache folder.
    model_cfg : dict | None
        An architecture not shipped with open_clip, registered under
        ``identifier`` (keys ``embed_dim``, ``vision_cfg``, ``text_cfg``).
    **kwargs
        Passed to ``open_clip.create_model`` (e.g. ``force_image_size``).
    """
    open_clip = import_open_clip()
    torch = require("torch")
    arch = identifier.replace("/", "-")
    if not arch:
        raise ValueError("Invalid value for `name`: expected 'open_clip:<architecture>', e.g. 'open_clip:ViT-B-32'.")
    if model_cfg is not None:
        _register_config(open_clip, arch, model_cfg)
    if arch not in open_clip.list_models():
        raise ValueError(
            f"Invalid value for `name`: open_clip has no architecture {arch!r}; expected one of "
            f"open_clip.list_models() (e.g. 'ViT-B-32', 'RN50', 'ViT-L-14'), or pass model_cfg=."
        )
    tags = open_clip.list_pretrained_tags_by_model(arch)
    precision = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}[dtype]
    create = dict(precision=precision, device="cpu", **kwargs)
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise FileNotFoundError(
                f"Invalid value for `checkpoint`: no file at '{checkpoint}' for open_clip model {arch!r}."
            )
        weights_tag = "sha256:" + file_sha256(checkpoint)
        if isinstance(pretrained, str) and pretrained not in (_DEFAULT,):
            pcfg = open_clip.get_pretrained_cfg(arch, pretrained)
            create["force_preprocess_cfg"] = {k: pcfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in pcfg}
            create["force_quick_gelu"] = bool(pcfg.get("quick_gelu", False))
        model = open_clip.create_model(arch, pretrained=str(checkpoint), **create)
    elif pretrained is None:
        seed, ctx = seeded(random_state)
        with ctx, _quiet_random_init():
            model = open_clip.create_model(arch, pretrained=None, **create)
        weights_tag = f"random-init-seed{seed}"
    else:
        if pretrained is _DEFAULT or pretrained is True or not isinstance(pretrained, str):
            raise ValueError(
                f"Invalid value for `pretrained`: open_clip model {arch!r} needs a pretrained tag, "
                f"one of {tags}, got {pretrained!r}. Or pass checkpoint='<file>' for local weights, "
                "or pretrained=None for random weights."
            )
        if not open_clip.get_pretrained_cfg(arch, pretrained):
            raise ValueError(
                f"Invalid value for `pretrained`: open_clip has no tag {pretrained!r} for {arch!r}; "
                f"expected one of {tags}, or checkpoint='<file>'."
            )
        path, where, pcfg = _cached_weights(open_clip, arch, pretrained, cache_dir)
        if path is None and local_files_only:
            raise FileNotFoundError(
                f"Weights for open_clip model {arch!r} with pretrained={pretrained!r} are not on "
                f"this machine. Expected file: {where}. Download it there (or run once with "
                f"local_files_only=False on a machine with internet access), or pass "
                f"checkpoint='/path/to/file' to get_backbone('open_clip:{arch}', checkpoint=...)."
            )
        create["force_preprocess_cfg"] = {k: pcfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in pcfg}
        create["force_quick_gelu"] = bool(pcfg.get("quick_gelu", False))
        try:
            model = open_clip.create_model(arch, pretrained=path or pretrained, cache_dir=cache_dir, **create)
        except Exception as err:
            if path is not None:
                raise
            raise FileNotFoundError(
                f"Could not download the weights of open_clip model {arch!r} pretrained="
                f"{pretrained!r} ({type(err).__name__}: {str(err)[:200]}). Expected file: {where}; "
                "or pass checkpoint='/path/to/file'."
            ) from err
        weights_tag = pretrained
    model.eval()
    pp = open_clip.get_model_preprocess_cfg(model)
    size = pp.get("size", 224)
    mode = pp.get("resize_mode", "shortest")
    transform = ImageTransform(
        size=size, crop=None if mode != "shortest" else size, mean=pp.get("mean"), std=pp.get("std"),
        resize_mode=mode, interpolation=pp.get("interpolation", "bicubic"),
        fill=pp.get("fill_color", 0) / 255.0,
    )
    tokenizer = open_clip.get_tokenizer(arch)
    tokenize = _Tokenize(tokenizer, arch)
    text_prefix = "text." if hasattr(model, "text") and model.text is not None else ""
    model_config = open_clip.get_model_config(arch) or {}
    return Backbone(
        model, f"open_clip:{arch}", "image+text", weights_tag, image_transform=transform,
        tokenizer=tokenize,
        embed_image=lambda m, x: m.encode_image(x),
        embed_text=lambda m, t: m.encode_text(t),
        layer_prefix={"image": "visual.", "text": text_prefix},
        device=device, config={"open_clip": model_config, "dtype": dtype},
        text_mask=lambda t: (t != 0).long() if torch.is_tensor(t) else None,
    )


class _quiet_random_init:
    """Drop open_clip's "initialized randomly" root-logger warning: random weights were asked for."""

    def filter(self, record):
        return "initialized randomly" not in record.getMessage()

    def __enter__(self):
        import logging

        logging.getLogger().addFilter(self)

    def __exit__(self, *exc):
        import logging

        logging.getLogger().removeFilter(self)


class _Tokenize:
    def __init__(self, tokenizer, arch):
        self.tokenizer = tokenizer
        self.arch = arch

    def __call__(self, texts):
        return self.tokenizer(texts)

    def describe(self):
        tok = self.tokenizer
        return {"tokenizer": type(tok).__name__, "arch": self.arch,
                "context_length": getattr(tok, "context_length", None)}


register_backbone("open_clip", open_clip_backbone)
