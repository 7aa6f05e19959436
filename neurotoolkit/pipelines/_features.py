"""Compute the ``features`` section of a config over a StimulusSet, one cached stage per space."""

import hashlib
import logging
from pathlib import Path

import numpy as np

__all__ = ["compute_features", "stimuli_key"]

logger = logging.getLogger("neurotoolkit.pipelines")


def stimuli_key(stimuli, run):
    """A JSON-able identity of a StimulusSet: ids, image contents (file hashes or array bytes)
    and categories."""
    if stimuli is None:
        return None
    h = hashlib.sha256()
    h.update("\0".join(map(str, stimuli.ids)).encode())
    images = stimuli.images
    if isinstance(images, np.ndarray):
        h.update(np.ascontiguousarray(images).tobytes())
    elif images is not None:
        for img in images:
            if isinstance(img, (str, Path)):
                h.update(run.file_hash(img).encode())
            else:
                h.update(np.ascontiguousarray(np.asarray(img)).tobytes())
    if stimuli.categories is not None:
        h.update(stimuli.categories.to_csv().encode())
    return {"name": stimuli.name, "n": len(stimuli), "sha256": h.hexdigest()}


def _gabor(name, spec, stimuli):
    from neurotoolkit.features import FeatureSpace, GaborPyramid

    params = spec.params.model_dump()
    pyramid = GaborPyramid(**params)
    values = pyramid.transform(stimuli)
    return FeatureSpace(values, stimuli.ids, name, provenance={"kind": "gabor", **params},
                        feature_names=list(pyramid.get_feature_names_out()))


def _backbone(name, spec, stimuli, random_state):
    from neurotoolkit.features import extract_features, get_backbone

    weights = spec.weights
    kwargs = dict(spec.options)
    if weights is None:
        pass
    elif weights == "random":
        kwargs["pretrained"] = None
    elif Path(weights).expanduser().is_file():
        kwargs["checkpoint"] = str(Path(weights).expanduser())
    else:
        kwargs["pretrained"] = weights
    backbone = get_backbone(spec.name, device=spec.device, dtype=spec.dtype,
                            random_state=random_state, **kwargs)
    layers = [spec.layers] if isinstance(spec.layers, str) else list(spec.layers)
    spaces = extract_features(stimuli, backbone, layers=layers, pooling=spec.pooling,
                              batch_size=spec.batch_size, device=spec.device, verbose=None)
    out = {}
    for layer, fs in spaces.items():
        key = name if len(layers) == 1 else f"{name}.{layer}"
        out[key] = type(fs)(fs.values, fs.stimulus_ids, key, provenance=fs.provenance,
                            feature_names=fs.feature_names)
    return out


def _read_ids(path):
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def _precomputed(name, spec, stimuli):
    from neurotoolkit.features import FeatureSpace

    path = Path(spec.file)
    where = f"features.{name}.file"
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            for key in (spec.key, spec.ids_key):
                if key not in f:
                    raise ValueError(f"Invalid value for `{where}`: {path} has no dataset {key!r} "
                                     f"(it has {sorted(f.keys())}); set `features.{name}.key` / `ids_key`.")
            values = f[spec.key][()]
            ids = [v.decode() if isinstance(v, bytes) else str(v) for v in f[spec.ids_key][()]]
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            for key in (spec.key, spec.ids_key):
                if key not in f.files:
                    raise ValueError(f"Invalid value for `{where}`: {path} has no array {key!r} "
                                     f"(it has {sorted(f.files)}).")
            values, ids = f[spec.key], [str(v) for v in f[spec.ids_key]]
    elif suffix == ".npy":
        if spec.ids_file is None:
            raise ValueError(f"Invalid value for `features.{name}.ids_file`: a .npy features file needs "
                             "a text file of stimulus ids (one per row), got null.")
        values, ids = np.load(path, allow_pickle=False), _read_ids(spec.ids_file)
    else:
        raise ValueError(f"Invalid value for `{where}`: expected a .h5/.hdf5, .npz or .npy file, "
                         f"got {path.name!r}.")
    values = np.asarray(values)
    if values.ndim != 2 or values.shape[0] != len(ids):
        raise ValueError(f"Invalid value for `{where}`: expected features of shape (n_stimuli, "
                         f"n_features) with one row per id ({len(ids)} ids), got shape {values.shape}.")
    fs = FeatureSpace(values, ids, name, provenance={"kind": "precomputed", "file": str(path)})
    if stimuli is not None:
        missing = [s for s in stimuli.ids if s not in fs]
        if missing:
            raise ValueError(f"Invalid value for `{where}`: {len(missing)} stimulus id(s) of the data "
                             f"have no row in {path.name}, e.g. {missing[:5]}.")
        fs = FeatureSpace(fs.for_ids(stimuli.ids), stimuli.ids, name, provenance=fs.provenance)
    return fs


def _category(name, spec, stimuli):
    import pandas as pd

    from neurotoolkit.features import FeatureSpace

    if stimuli is None or stimuli.categories is None:
        raise ValueError(f"Invalid value for `features.{name}.kind`: \"category\" needs stimuli with "
                         "categories, and this data source gives none.")
    table = stimuli.categories
    columns = spec.columns or list(table.columns)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"Invalid value for `features.{name}.columns`: {missing} are not category "
                         f"columns (available: {list(table.columns)}).")
    table = table.loc[list(stimuli.ids), columns]
    parts = []
    for col in columns:
        series = table[col]
        if series.dtype == bool or set(pd.unique(series.dropna())) <= {0, 1}:
            parts.append(series.astype(float).rename(col).to_frame())
        else:
            parts.append(pd.get_dummies(series.astype(str), prefix=col, dtype=float))
    onehot = pd.concat(parts, axis=1)
    return FeatureSpace(onehot.to_numpy(), stimuli.ids, name,
                        provenance={"kind": "category", "columns": columns},
                        feature_names=list(onehot.columns))


def compute_features(features_cfg, stimuli, run, random_state=0):
    """Features of every stimulus for each configured space (cached stages ``features-<name>``).

    Parameters
    ----------
    features_cfg : dict of str -> feature spec (``FeaturesConfig``)
    stimuli : StimulusSet | None
        Needed for every kind except ``precomputed``.
    run : Run
    random_state : int
        Seed of random-init backbones.

    Returns
    -------
    spaces : dict of str -> FeatureSpace
        One per space (a backbone with several layers gives ``<name>.<layer>``).
    """
    skey = stimuli_key(stimuli, run)
    out = {}
    for name, spec in features_cfg.items():
        section = spec.model_dump(mode="json")
        key = {"features": section, "stimuli": skey}
        if spec.kind == "precomputed":
            key["file"] = run.file_hash(spec.file)
        elif spec.kind == "backbone":
            key["random_state"] = random_state
            if spec.weights and Path(spec.weights).expanduser().is_file():
                key["weights"] = run.file_hash(Path(spec.weights).expanduser())
        if spec.kind != "precomputed" and stimuli is None:
            raise ValueError(f"Invalid value for `features.{name}`: {spec.kind!r} features need "
                             "stimuli, and this data source gives none (set `data.stimuli`).")
        if spec.kind in ("gabor", "backbone") and stimuli.images is None:
            raise ValueError(f"Invalid value for `features.{name}`: {spec.kind!r} features need stimulus "
                             "images, and this data source gives ids only (set `data.stimuli` to a "
                             "folder of images, or use precomputed / category features).")

        def compute(name=name, spec=spec):
            if spec.kind == "gabor":
                return {name: _gabor(name, spec, stimuli)}
            if spec.kind == "backbone":
                return _backbone(name, spec, stimuli, random_state)
            if spec.kind == "precomputed":
                return {name: _precomputed(name, spec, stimuli)}
            return {name: _category(name, spec, stimuli)}

        out.update(run.stage(f"features-{name}", key, compute, kind="features"))
    return out
