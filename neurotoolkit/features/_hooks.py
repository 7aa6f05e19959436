"""Layer listing, forward hooks and pooling of intermediate activations.

Torch is imported inside the functions: this module is imported by
``neurotoolkit.features`` and must stay light.
"""

from .._utils.validation import check_option

__all__ = ["POOLINGS", "QUERY_SUFFIX", "capture", "list_layers", "pool"]

POOLINGS = ("auto", "cls", "mean", "last", "avgpool", "flatten", "none")


def list_layers(module, prefix="", all_modules=False):
    """Names of the layers of ``module`` that hooks can be put on.

    Parameters
    ----------
    module : torch.nn.Module
    prefix : str
        Only names that start with this (e.g. ``"visual."``).
    all_modules : bool
        False lists a readable subset: each block of every ``ModuleList`` /
        ``Sequential`` stack and the direct children of the model (or of the
        ``prefix`` tower), parameter-free ones included (e.g. a ResNet's
        ``avgpool``, the usual penultimate layer), dropout and identity
        excluded; True lists every named submodule.

    Returns
    -------
    names : list of str
        In registration order (which, for the usual models, is execution order).
    """
    from torch import nn

    names = []
    containers = (nn.ModuleList, nn.Sequential)
    mods = dict(module.named_modules())
    root_depth = prefix.rstrip(".").count(".") + 1 if prefix else 0
    for name, mod in mods.items():
        if not name or not name.startswith(prefix):
            continue
        if all_modules:
            names.append(name)
            continue
        depth = name.count(".")
        in_stack = _is_stack_item(name, mods, containers) and not any(
            _is_stack_item(anc, mods, containers) for anc in _ancestors(name)
        )
        top = depth == root_depth and not isinstance(mod, containers) and not _is_dropout(mod)
        if in_stack or top:
            names.append(name)
    return names


def _ancestors(name):
    parts = name.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def _is_stack_item(name, mods, containers):
    """A numbered block of a ModuleList / Sequential stack (e.g. "transformer.resblocks.3")."""
    if "." in name:
        parent, last = name.rsplit(".", 1)
    else:
        parent, last = "", name
    return last.isdigit() and parent in mods and isinstance(mods[parent], containers)


def _is_dropout(mod):
    return "Dropout" in type(mod).__name__ or type(mod).__name__ == "Identity"


class _StopForward(Exception):
    """Raised by the last hook that is needed, to skip the rest of the network."""


def _first_tensor(out):
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        for o in out:
            t = _first_tensor(o)
            if t is not None:
                return t
    if isinstance(out, dict):
        for o in out.values():
            t = _first_tensor(o)
            if t is not None:
                return t
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state
    return None


QUERY_SUFFIX = ":query"


def _register_query_hook(module, hook):
    """Hook the query vectors of an attention module (``"<attention module>:query"`` layers).

    Works with ``torch.nn.MultiheadAttention`` (open_clip ViTs: the query part
    of ``in_proj_weight`` applied to the query input), modules with a fused
    ``qkv`` Linear (timm, DINOv2 hub models: its first third) and modules with
    a ``query`` Linear (transformers' ViT / DINOv2 self-attention). ``hook``
    receives (module, inputs, queries) with queries (n, n_tokens, d).
    """
    import torch.nn.functional as F
    from torch import nn

    if isinstance(module, nn.MultiheadAttention):
        d = module.embed_dim

        def pre(mod, args, kwargs):
            q = args[0] if args else kwargs["query"]
            bias = None if mod.in_proj_bias is None else mod.in_proj_bias[:d]
            out = F.linear(q, mod.in_proj_weight[:d], bias)
            hook(mod, args, out if mod.batch_first else out.transpose(0, 1))

        return module.register_forward_pre_hook(pre, with_kwargs=True)
    if isinstance(getattr(module, "qkv", None), nn.Linear):
        return module.qkv.register_forward_hook(
            lambda mod, args, out: hook(mod, args, out[..., : out.shape[-1] // 3]))
    for attr in ("query", "q_proj"):
        if isinstance(getattr(module, attr, None), nn.Linear):
            return getattr(module, attr).register_forward_hook(hook)
    raise ValueError(
        f"Invalid value for `layers`: a ':query' layer must name an attention module "
        f"(nn.MultiheadAttention, or a module with a 'qkv', 'query' or 'q_proj' Linear), got "
        f"{type(module).__name__}."
    )


def capture(model, layers, run, stop_early=True):
    """Run ``run()`` with forward hooks on ``layers`` of ``model``.

    Parameters
    ----------
    model : torch.nn.Module
    layers : list of str
        Submodule names (``dict(model.named_modules())`` keys); the name of an
        attention module followed by ``":query"`` captures its query vectors
        (n, n_tokens, d).
    run : callable
        Runs the forward pass; its return value is returned as ``result``.
    stop_early : bool
        When True, the forward pass is stopped once every hooked layer has
        produced its output (``result`` is then None): the layers after the
        deepest requested one are not computed.

    Returns
    -------
    outputs : dict str -> tensor
        The (first tensor of the) output of each layer; differentiable.
    result : object | None
    """
    mods = dict(model.named_modules())
    missing = [name for name in layers if name.removesuffix(QUERY_SUFFIX) not in mods]
    if missing:
        sample = [n for n in mods if n][:8]
        raise ValueError(
            f"Invalid value for `layers`: {missing} not found in the model; expected module "
            f"names such as {sample} (see Backbone.layers())."
        )
    outputs = {}
    wanted = set(layers)

    def make_hook(name):
        def hook(_module, _inputs, out):
            if name in outputs:  # a module called twice: keep the first call
                return
            tensor = _first_tensor(out)
            if tensor is None:
                raise TypeError(f"Layer {name!r} returned no tensor (got {type(out).__name__}).")
            outputs[name] = tensor
            if stop_early and wanted.issubset(outputs):
                raise _StopForward

        return hook

    handles = [_register_query_hook(mods[name.removesuffix(QUERY_SUFFIX)], make_hook(name))
               if name.endswith(QUERY_SUFFIX) else mods[name].register_forward_hook(make_hook(name))
               for name in dict.fromkeys(layers)]
    result = None
    try:
        result = run()
    except _StopForward:
        result = None
    finally:
        for h in handles:
            h.remove()
    return outputs, result


def pool(tensor, pooling, mask=None, modality="image"):
    """Reduce one layer's activations to (n, n_features) (or keep them with "none").

    Parameters
    ----------
    tensor : torch.Tensor
        (n, n_tokens, d) token sequences, (n, c, h, w) feature maps, or (n, d).
    pooling : "auto" | "cls" | "mean" | "last" | "avgpool" | "flatten" | "none"
        "cls": first token; "mean": mean over tokens (over the valid tokens of
        ``mask`` for text); "last": last valid token (the EOT token of causal
        text models); "avgpool": spatial mean of feature maps (mean over tokens
        for token sequences); "flatten": everything after the first axis;
        "none": unchanged. Feature maps (n, c, h, w) are averaged over space by
        every option except "flatten" and "none". "auto" is "cls" for image token sequences, "mean"
        for text, "avgpool" for feature maps; 2-D outputs are never changed.
    mask : torch.Tensor (n, n_tokens) | None
        1 for real tokens, 0 for padding (text inputs).
    modality : "image" | "text"
    """
    check_option("pooling", pooling, POOLINGS)
    if pooling == "none":
        return tensor
    if tensor.ndim <= 2:
        return tensor.reshape(tensor.shape[0], -1) if tensor.ndim == 2 else tensor[:, None]
    if pooling == "flatten":
        return tensor.reshape(tensor.shape[0], -1)
    if pooling == "auto":
        if tensor.ndim == 4:
            pooling = "avgpool"
        elif tensor.ndim == 3:
            pooling = "mean" if modality == "text" else "cls"
        else:
            pooling = "flatten"
    if tensor.ndim == 4:  # feature maps: token poolings do not apply, average over space
        return tensor.mean(dim=(2, 3))
    if tensor.ndim != 3:
        raise ValueError(
            f"Invalid value for `pooling`: {pooling!r} needs (n, tokens, d) or (n, c, h, w) "
            f"outputs, got shape {tuple(tensor.shape)}; use 'flatten' or 'none'."
        )
    if mask is not None and mask.shape[:2] != tensor.shape[:2]:
        mask = None  # layer with another sequence length (e.g. pooled heads)
    if pooling == "cls":
        return tensor[:, 0]
    if pooling in ("mean", "avgpool"):
        if mask is None:
            return tensor.mean(dim=1)
        m = mask.to(tensor.dtype)[..., None]
        return (tensor * m).sum(dim=1) / m.sum(dim=1).clamp_min(1)
    # last valid token
    import torch

    if mask is None:
        return tensor[:, -1]
    last = mask.long().sum(dim=1).clamp_min(1) - 1
    return tensor[torch.arange(tensor.shape[0], device=tensor.device), last]
