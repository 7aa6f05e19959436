"""``extract_features``: a StimulusSet -> FeatureSpaces from layers of a backbone."""

import time

import numpy as np

from .._utils.docs import fill_doc
from .._utils.logging import logger, progress, warn
from .._utils.logging import verbose as verbose_decorator
from .._utils.optional import require
from .._utils.validation import check_int, check_option, check_type, describe
from ._backbones import Backbone, get_backbone
from ._feature_space import FeatureSpace
from ._hooks import POOLINGS
from ._store import FeatureStore, make_key, stimulus_set_hash
from ._tokens import TokenFeatures, as_token_grid

__all__ = ["extract_features"]

_KEY_VERSION = 1


def _check_reduce(reduce):
    if reduce is None:
        return None
    if not isinstance(reduce, dict) or "method" not in reduce or "n_components" not in reduce:
        raise ValueError(
            "Invalid value for `reduce`: expected None or a dict such as {'method': 'pca', "
            f"'n_components': 100, 'random_state': 0}}, got {describe(reduce)}."
        )
    extra = set(reduce) - {"method", "n_components", "random_state"}
    if extra:
        raise ValueError(f"Invalid value for `reduce`: unknown keys {sorted(extra)}.")
    check_option("reduce['method']", reduce["method"], ("pca", "random_projection"))
    check_int("reduce['n_components']", reduce["n_components"], min_value=1)
    return {"method": reduce["method"], "n_components": int(reduce["n_components"]),
            "random_state": reduce.get("random_state", 0)}


def _apply_reduce(values, spec):
    """(reduced values, provenance dict)."""
    k = spec["n_components"]
    n, d = values.shape
    if spec["method"] == "pca":
        from sklearn.decomposition import PCA

        if k > min(n, d):
            raise ValueError(
                f"Invalid value for `reduce['n_components']`: expected at most min(n_stimuli, "
                f"n_features) = {min(n, d)} for PCA, got {k}."
            )
        pca = PCA(n_components=k, random_state=spec["random_state"]).fit(values.astype(np.float64))
        out = pca.transform(values.astype(np.float64))
        return out, {"explained_variance_ratio": float(pca.explained_variance_ratio_.sum())}
    rng = np.random.default_rng(spec["random_state"])
    proj = rng.standard_normal((d, k), dtype=np.float32) / np.sqrt(k)
    return values.astype(np.float32) @ proj, {}


def _batch_inputs(backbone, stimuli, ids, modality):
    """Model inputs for ``ids`` and, for texts, the owner index of each caption."""
    if modality == "image":
        return backbone.preprocess_images([stimuli.load_image(sid) for sid in ids]), None
    texts, owner = [], []
    pos = stimuli.index_of(ids)
    for j, k in enumerate(pos):
        cap = stimuli.captions[k]
        caps = [cap] if isinstance(cap, str) else list(cap)
        texts.extend(str(c) for c in caps)
        owner.extend([j] * len(caps))
    return backbone.preprocess_texts(texts), np.asarray(owner)


def _average_by_owner(torch, out, owner, n):
    if owner is None or (len(owner) == n and np.all(owner == np.arange(n))):
        return out
    idx = torch.as_tensor(owner, device=out.device)
    total = torch.zeros((n,) + tuple(out.shape[1:]), dtype=out.dtype, device=out.device).index_add_(0, idx, out)
    counts = torch.bincount(idx, minlength=n).to(out.dtype)
    return total / counts.reshape((-1,) + (1,) * (out.ndim - 1))


@fill_doc
@verbose_decorator
def extract_features(stimuli, backbone, layers="embedding", modality="image", pooling="auto",
                     batch_size=32, device="auto", dtype="float32", normalize=False, reduce=None,
                     cache=None, checkpoint_every=60.0, callback=None, verbose=None):
    """Features of every stimulus from layers of a backbone.

    Parameters
    ----------
    stimuli : StimulusSet
        Images (``modality="image"``) or captions (``modality="text"``; a
        stimulus with several captions gets the mean of their features).
    backbone : Backbone | str
        A Backbone or a name for :func:`get_backbone` (e.g. ``"gabor"``).
    layers : str | sequence of str
        Layer names from ``backbone.layers()``; ``"embedding"`` is the model's
        final embedding. The type of ``layers`` sets the return type: one name
        (a str) gives one FeatureSpace, a list or tuple gives a dict keyed by
        layer, also when it holds a single name.
    modality : "image" | "text"
    pooling : "auto" | "cls" | "mean" | "last" | "avgpool" | "flatten" | "tokens"
        How token sequences and feature maps become vectors (see
        ``Backbone.forward_features``). "tokens" keeps the spatial token
        grid without pooling (ViT patch tokens with CLS/register tokens
        dropped, CNN feature maps as h * w tokens, or the query vectors of an
        attention module named ``"<module>:query"``) and returns
        :class:`TokenFeatures` (image modality only; cached like the others).
    batch_size : int
    device : "auto" | "cpu" | "cuda" | "cuda:N" | torch.device, default="auto"
        "auto" keeps the device of a Backbone object (and builds a backbone
        given by name on CUDA when torch sees a GPU, else the CPU); another
        value moves the backbone there (in place).
    dtype : "float32" | "float16"
        Precision of the returned (and cached) features; on CUDA, float16
        also runs the model under autocast.
    normalize : bool
        L2-normalise each row (before any reduction).
    reduce : dict | None
        ``{"method": "pca" | "random_projection", "n_components": k,
        "random_state": 0}`` to reduce large layers (fit on all stimuli).
    cache : path-like | FeatureStore | None
        Feature store: complete results are read from it; new ones and the
        rows of an interrupted run are written to it and resumed from. A bad
        cache entry is reported, moved aside and recomputed; a cache that
        cannot be written (read-only, full) gives a warning, and the computed
        features are still returned.
    checkpoint_every : float
        Seconds between saves of partial results to the cache (they are also
        saved when the extraction stops on an error or KeyboardInterrupt).
    callback : callable | None
        ``callback(batch_index, n_batches)`` after each computed batch.
    %(verbose)s

    Returns
    -------
    features : FeatureSpace | TokenFeatures | dict str -> either
        (n_stimuli, n_features), or (n_stimuli, n_tokens, dim) TokenFeatures
        with ``pooling="tokens"``, rows in ``stimuli.ids`` order: one
        FeatureSpace when ``layers`` is a str (the default, "embedding"); a
        dict layer -> FeatureSpace, in the order asked, when it is a list or
        tuple.
    """
    torch = require("torch", purpose="extract_features")
    single = isinstance(layers, str)
    if not single and not (isinstance(layers, (list, tuple)) and
                           all(isinstance(layer, str) for layer in layers)):
        raise TypeError(f"Invalid type for `layers`: expected a layer name (str) or a list of layer "
                        f"names, got {describe(layers)}.")
    layers = [layers] if single else list(dict.fromkeys(layers))
    if not layers:
        raise ValueError("Invalid value for `layers`: expected at least one layer name, got none.")
    auto = device is None or (isinstance(device, str) and device == "auto")
    backbone = get_backbone(backbone, device=device) if isinstance(backbone, str) else backbone
    check_type("backbone", backbone, Backbone)
    check_option("modality", modality, ("image", "text"))
    check_option("pooling", pooling, tuple(p for p in POOLINGS if p != "none") + ("tokens",),
                 fix="Use 'flatten' to keep every unit of a layer, 'tokens' to keep its token grid.")
    tokens = pooling == "tokens"
    if tokens and (modality != "image" or reduce is not None):
        raise ValueError(
            "Invalid value for `pooling`: 'tokens' needs modality='image' and reduce=None, got "
            f"modality={modality!r}, reduce={reduce!r}."
        )
    check_option("dtype", dtype, ("float32", "float16"))
    batch_size = check_int("batch_size", batch_size, min_value=1)
    reduce = _check_reduce(reduce)
    if modality == "text" and stimuli.captions is None:
        raise ValueError(f"Invalid value for `modality`: StimulusSet {stimuli.name!r} has no captions.")
    if modality == "image" and stimuli.images is None:
        raise ValueError(f"Invalid value for `modality`: StimulusSet {stimuli.name!r} has no images.")
    backbone._modality(modality)
    if not auto:
        backbone.to(device)
    store = None if cache is None else cache if isinstance(cache, FeatureStore) else FeatureStore(cache)
    ids = [str(i) for i in stimuli.ids]
    n = len(ids)

    base = {
        "version": _KEY_VERSION, "backbone": backbone.name, "weights": backbone.weights_tag,
        "modality": modality, "pooling": pooling, "normalize": bool(normalize), "dtype": dtype,
        "preprocessing": backbone.describe_preprocessing(modality),
        "stimuli": stimulus_set_hash(stimuli, modality),
    }
    parts = {layer: dict(base, layer=layer, reduce=None) for layer in layers}
    keys = {layer: make_key(p) for layer, p in parts.items()}
    final_keys = {layer: make_key(dict(parts[layer], reduce=reduce)) for layer in layers}

    results = {}
    values, done = {}, {}
    for layer in layers:
        if store is not None:
            hit = store.get(final_keys[layer])
            if hit is not None:
                logger.info("feature store hit for %s/%s", backbone.name, layer)
                results[layer] = hit
                continue
            raw = store.get(keys[layer]) if reduce is not None else None
            if raw is not None:
                values[layer], done[layer] = raw.values, np.ones(n, bool)
                continue
            partial = store.get_partial(keys[layer])
            if partial is not None and partial[2] == ids:
                values[layer], done[layer] = partial[0], partial[1]
                logger.info("resuming %s/%s: %d of %d stimuli done", backbone.name, layer,
                            int(partial[1].sum()), n)
                continue
        values[layer], done[layer] = None, np.zeros(n, bool)
    todo_layers = [layer for layer in layers if layer not in results]
    todo = np.flatnonzero(~np.all([done[layer] for layer in todo_layers], axis=0)) if todo_layers else []
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    np_dtype = np.dtype(dtype)

    cache_failed = []

    def write(method, *args):
        """Write to the store; a cache that cannot be written costs a warning, never the features."""
        if store is None or cache_failed:
            return
        try:
            getattr(store, method)(*args)
        except OSError as err:
            cache_failed.append(err)
            warn(f"extract_features: cannot write to the feature cache '{store.root}' "
                 f"({type(err).__name__}: {err}); the features computed now are returned but not "
                 "cached. Free space, fix permissions, or pass another `cache`.")

    def save_partials():
        for layer in todo_layers:
            if values[layer] is not None and done[layer].any() and not done[layer].all():
                write("put_partial", keys[layer], values[layer], done[layer], ids, parts[layer])

    autocast = (backbone.device.type == "cuda" and dtype == "float16")
    grids = {}
    last_save = time.monotonic()
    try:
        for b, rows in enumerate(progress(batches, desc=f"{backbone.name} features", verbose=verbose)):
            batch_ids = [ids[k] for k in rows]
            inputs, owner = _batch_inputs(backbone, stimuli, batch_ids, modality)
            need = [layer for layer in todo_layers if not done[layer][rows].all()]
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=autocast):
                out = backbone.forward_features(inputs, layers=need,
                                                pooling="none" if tokens else pooling,
                                                modality=modality, normalize=False)
            for layer in need:
                feats = _average_by_owner(torch, out[layer], owner, len(rows))
                if tokens:
                    feats, grids[layer] = as_token_grid(feats)
                feats = feats.float()
                if normalize:
                    feats = torch.nn.functional.normalize(feats, dim=-1)
                arr = feats.reshape(len(rows), -1).cpu().numpy().astype(np_dtype)
                if values[layer] is None:
                    values[layer] = np.zeros((n, arr.shape[1]), dtype=np_dtype)
                values[layer][rows] = arr
                done[layer][rows] = True
            if callback is not None:
                callback(b, len(batches))
            if store is not None and time.monotonic() - last_save > checkpoint_every:
                save_partials()
                last_save = time.monotonic()
    except BaseException:
        save_partials()
        raise

    for layer in todo_layers:
        provenance = dict(backbone.provenance(), layer=layer, pooling=pooling, modality=modality,
                          normalize=bool(normalize), dtype=dtype,
                          preprocessing=base["preprocessing"], stimulus_set=stimuli.name,
                          stimuli_hash=base["stimuli"])
        provenance.pop("config", None)
        if tokens:
            provenance["token_grid"] = list(grids[layer])
        name = f"{backbone.name}/{layer}"
        raw = FeatureSpace(values[layer], ids, name, provenance)
        if store is not None and keys[layer] not in store:
            write("put", keys[layer], raw, parts[layer])
        if reduce is None:
            results[layer] = raw
            continue
        reduced, info = _apply_reduce(values[layer], reduce)
        provenance = dict(provenance, reduce=reduce, **info)
        space = FeatureSpace(reduced.astype(np_dtype), ids, name, provenance,
                             [f"{name}:{reduce['method']}{k}" for k in range(reduced.shape[1])])
        write("put", final_keys[layer], space, dict(parts[layer], reduce=reduce))
        results[layer] = space
    results = {layer: _as_tokens(results[layer]) if tokens else results[layer] for layer in layers}
    return results[layers[0]] if single else results


def _as_tokens(space):
    """TokenFeatures from a (cached) flattened token FeatureSpace."""
    h, w = space.provenance["token_grid"]
    values = space.values.reshape(space.n_stimuli, h * w, -1)
    provenance = {k: v for k, v in space.provenance.items()}
    return TokenFeatures(values, space.stimulus_ids, (h, w), space.name, provenance)
