"""On-disk feature store: one HDF5 file per (backbone, weights, layer, ...) key.

A key is the sha256 of a JSON dict of everything that determines the
features: backbone name, weights tag (pretrained tag, checkpoint sha256 or
random-init seed), layer, pooling, normalisation, preprocessing description,
dtype, reduction spec and the stimulus-set hash (:func:`stimulus_set_hash`).
Changing any part gives another key, so stale features are never returned.

Writes are atomic (temporary file + ``os.replace``). An extraction that is
interrupted keeps its completed rows in ``<key>.partial.h5`` (values plus a
``done`` mask), which the next call resumes from.
"""

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from .._utils.io import atomic_path
from .._utils.validation import check_type
from ._feature_space import FeatureSpace

__all__ = ["FeatureStore", "make_key", "stimulus_set_hash"]

_FORMAT = 1


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))


def make_key(parts):
    """sha256 hex digest of the canonical JSON of ``parts`` (a dict)."""
    check_type("parts", parts, dict)
    return hashlib.sha256(_canonical(parts).encode()).hexdigest()


def stimulus_set_hash(stimuli, modality="image"):
    """Hash of a StimulusSet's ids and content for one modality.

    Images given as files are hashed by resolved path, size and modification
    time (fast; touching or replacing a file changes the hash); images given
    as arrays by their bytes; texts by the captions themselves.
    """
    h = hashlib.sha256()
    h.update(_canonical([str(i) for i in stimuli.ids]).encode())
    if modality == "text":
        h.update(_canonical(stimuli.captions).encode())
        return h.hexdigest()
    images = stimuli.images
    if images is None:
        return h.hexdigest()
    if isinstance(images, np.ndarray) and images.dtype != object:
        arr = np.ascontiguousarray(images)
        h.update(str((arr.shape, str(arr.dtype))).encode())
        h.update(arr.tobytes())
        return h.hexdigest()
    for img in images:
        if isinstance(img, (str, os.PathLike)):
            p = Path(img)
            st = p.stat()
            h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns};".encode())
        else:
            arr = np.ascontiguousarray(np.asarray(img))
            h.update(str(arr.shape).encode() + arr.tobytes())
    return h.hexdigest()


def _h5py():
    from .._utils.optional import require

    return require("h5py", purpose="FeatureStore")


class FeatureStore:
    """A folder of cached feature spaces (HDF5 files), shared across sessions.

    Parameters
    ----------
    root : path-like
        Folder (created on first write).

    Examples
    --------
    >>> store = FeatureStore("~/neurotoolkit_features")          # doctest: +SKIP
    >>> feats = extract_features(stimuli, backbone, cache=store)  # doctest: +SKIP
    >>> store.info()                                             # doctest: +SKIP
    """

    def __init__(self, root):
        check_type("root", root, "path-like")
        self.root = Path(root).expanduser()

    def __repr__(self):
        return f"FeatureStore('{self.root}')"

    make_key = staticmethod(make_key)

    def path(self, key, partial=False):
        """File of ``key`` (complete, or the partial file of an interrupted run)."""
        return self.root / (f"{key}.partial.h5" if partial else f"{key}.h5")

    def __contains__(self, key):
        return self.path(key).is_file()

    def keys(self):
        """Keys of the complete entries."""
        if not self.root.is_dir():
            return []
        return sorted(p.name[:-3] for p in self.root.glob("*.h5") if not p.name.endswith(".partial.h5"))

    # ------------------------------------------------------------------ complete entries
    def get(self, key):
        """The FeatureSpace stored under ``key``, or None."""
        path = self.path(key)
        if not path.is_file():
            return None
        h5py = _h5py()
        with h5py.File(path, "r") as f:
            values = f["values"][()]
            ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["stimulus_ids"][()]]
            names = None
            if "feature_names" in f:
                names = [s.decode() if isinstance(s, bytes) else str(s) for s in f["feature_names"][()]]
            name = f.attrs["name"]
            provenance = json.loads(f.attrs["provenance"])
        provenance["cache_key"] = key
        return FeatureSpace(values, ids, name, provenance, names)

    def put(self, key, space, parts=None):
        """Write ``space`` (a FeatureSpace) under ``key`` atomically; removes the partial file.

        Returns the file path.
        """
        check_type("space", space, FeatureSpace)
        h5py = _h5py()
        path = self.path(key)
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:  # closed before the move
            f.create_dataset("values", data=space.values)
            f.create_dataset("stimulus_ids", data=np.asarray(space.stimulus_ids, dtype="S"))
            default = [f"{space.name}_{k}" for k in range(space.n_features)]
            if list(space.feature_names) != default:
                f.create_dataset("feature_names", data=np.asarray(space.feature_names, dtype="S"))
            f.attrs["name"] = space.name
            f.attrs["provenance"] = _canonical(space.provenance)
            f.attrs["parts"] = _canonical(parts or {})
            f.attrs["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            f.attrs["format"] = _FORMAT
        self.path(key, partial=True).unlink(missing_ok=True)
        return path

    def remove(self, key):
        """Delete the entry (and any partial file) of ``key``."""
        self.path(key).unlink(missing_ok=True)
        self.path(key, partial=True).unlink(missing_ok=True)

    # ------------------------------------------------------------------ partial entries
    def get_partial(self, key):
        """(values, done, stimulus_ids) of an interrupted extraction, or None."""
        path = self.path(key, partial=True)
        if not path.is_file():
            return None
        h5py = _h5py()
        with h5py.File(path, "r") as f:
            ids = [s.decode() if isinstance(s, bytes) else str(s) for s in f["stimulus_ids"][()]]
            return f["values"][()], f["done"][()].astype(bool), ids

    def put_partial(self, key, values, done, stimulus_ids, parts=None):
        """Save the rows done so far (atomically: the previous partial file stays until replaced)."""
        h5py = _h5py()
        with atomic_path(self.path(key, partial=True)) as tmp, h5py.File(tmp, "w") as f:
            f.create_dataset("values", data=values)
            f.create_dataset("done", data=np.asarray(done, dtype=bool))
            f.create_dataset("stimulus_ids", data=np.asarray(stimulus_ids, dtype="S"))
            f.attrs["parts"] = _canonical(parts or {})
            f.attrs["format"] = _FORMAT

    # ------------------------------------------------------------------ summary
    def info(self):
        """A pandas DataFrame: one row per file (complete or partial) with its key parts."""
        import pandas as pd

        rows = []
        if self.root.is_dir():
            h5py = _h5py()
            for p in sorted(self.root.glob("*.h5")):
                partial = p.name.endswith(".partial.h5")
                key = p.name[: -len(".partial.h5")] if partial else p.name[:-3]
                try:
                    with h5py.File(p, "r") as f:
                        parts = json.loads(f.attrs.get("parts", "{}"))
                        shape = f["values"].shape
                        dtype = str(f["values"].dtype)
                        n_done = int(f["done"][()].sum()) if partial else shape[0]
                except OSError:
                    continue
                rows.append({
                    "key": key, "complete": not partial, "backbone": parts.get("backbone"),
                    "weights": parts.get("weights"), "layer": parts.get("layer"),
                    "pooling": parts.get("pooling"), "n_stimuli": shape[0], "n_done": n_done,
                    "n_features": shape[1] if len(shape) > 1 else 1, "dtype": dtype,
                    "reduce": parts.get("reduce"), "size_bytes": p.stat().st_size,
                })
        cols = ["key", "complete", "backbone", "weights", "layer", "pooling", "n_stimuli", "n_done",
                "n_features", "dtype", "reduce", "size_bytes"]
        return pd.DataFrame(rows, columns=cols)
