"""On-disk feature store: one HDF5 file per (backbone, weights, layer, ...) key.

A key is the sha256 of a JSON dict of everything that determines the
features: backbone name, weights tag (pretrained tag, checkpoint sha256 or
random-init seed), layer, pooling, normalisation, preprocessing description,
dtype, reduction spec and the stimulus-set hash (:func:`stimulus_set_hash`).
Changing any part gives another key, so stale features are never returned.

Entries are checksummed neurotoolkit HDF5 files (:mod:`neurotoolkit._utils.safe_io`),
written atomically (temporary file + ``os.replace``). An entry that fails to
load (truncated, altered, or written by an older version without checksum) is
reported with a warning, moved to ``<root>/corrupted/`` and treated as
missing, so that it is recomputed: a bad file never blocks the user. Keys are
plain names (letters, digits, ``_ - .``), so no key reaches a file outside the
root. Temporary files left by killed writes are removed when the store is
opened. An extraction that is interrupted keeps its completed rows in
``<key>.partial.h5`` (values plus a ``done`` mask), which the next call
resumes from.
"""

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from .._utils.io import remove_stale_temp_files
from .._utils.logging import warn
from .._utils.safe_io import (
    FileFormatError,
    open_container,
    path_inside,
    read_header,
    read_strings,
    write_container,
    write_strings,
)
from .._utils.validation import check_type
from ._feature_space import FeatureSpace

__all__ = ["FeatureStore", "make_key", "stimulus_set_hash"]

_FORMAT = 2  # 2: checksummed safe_io container; 1 (no checksum) entries are recomputed


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


class FeatureStore:
    """A folder of cached feature spaces (HDF5 files), shared across sessions.

    Parameters
    ----------
    root : path-like
        Folder (created on first write). Temporary files that killed writes
        left in it are removed (with a warning) when the store is opened.

    Examples
    --------
    >>> store = FeatureStore("~/neurotoolkit_features")          # doctest: +SKIP
    >>> feats = extract_features(stimuli, backbone, cache=store)  # doctest: +SKIP
    >>> store.info()                                             # doctest: +SKIP
    """

    def __init__(self, root):
        check_type("root", root, "path-like")
        self.root = Path(root).expanduser()
        for tmp in remove_stale_temp_files(self.root):
            warn(f"FeatureStore: removed '{tmp}', left behind by an interrupted write.")

    def __repr__(self):
        return f"FeatureStore('{self.root}')"

    make_key = staticmethod(make_key)

    def path(self, key, partial=False):
        """File of ``key`` (complete, or the partial file of an interrupted run).

        ``key`` must be a plain name (letters, digits, ``_``, ``-``, ``.``; no
        path separators, no ``..``), so that every file stays inside ``root``.
        """
        path_inside(self.root, key, "key")
        return path_inside(self.root, f"{key}.partial.h5" if partial else f"{key}.h5", "key")

    def __contains__(self, key):
        return self.path(key).is_file()

    def keys(self):
        """Keys of the complete entries."""
        if not self.root.is_dir():
            return []
        return sorted(p.name[:-3] for p in self.root.glob("*.h5")
                      if not p.name.endswith(".partial.h5") and not p.name.startswith("."))

    # ------------------------------------------------------------------ bad entries
    def _quarantine(self, path, err):
        """Warn about a bad entry and move it to ``root/corrupted/``; it is then recomputed."""
        dest = self.root / "corrupted" / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}"
        n = 0
        while dest.exists():  # never replace an earlier bad copy
            n += 1
            dest = dest.with_name(f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}-{n}")
        try:
            dest.parent.mkdir(exist_ok=True)
            shutil.move(str(path), str(dest))
            where = f"moved to '{dest}'"
        except OSError as move_err:
            where = f"left in place: it could not be moved aside ({move_err})"
        warn(f"FeatureStore: ignoring a bad cache entry: {err} The file was {where}; its "
             "features are recomputed.")

    def _read(self, key, partial):
        """The arrays of ``key``'s file if it exists and is sound, else None."""
        path = self.path(key, partial=partial)
        if not path.is_file():
            return None
        try:
            return self._read_entry(path, partial)
        except FileFormatError as err:  # corrupted, old format, pickle: never load, recompute
            self._quarantine(path, err)
            return None

    @staticmethod
    def _read_entry(path, partial=False):
        """Read one entry file, raising ``FileFormatError`` (naming it) when it is bad."""
        kind = "FeatureStorePartial" if partial else "FeatureStoreEntry"
        with open_container(path, kind, _FORMAT, param="cache") as (f, header):
            ids = read_strings(f["stimulus_ids"])
            if partial:
                return f["values"][()], f["done"][()].astype(bool), ids
            names = read_strings(f["feature_names"]) if "feature_names" in f else None
            return f["values"][()], ids, header["meta"], names

    # ------------------------------------------------------------------ complete entries
    def get(self, key):
        """The FeatureSpace stored under ``key``, or None.

        A bad entry (truncated, altered, older format) is reported with a
        warning, moved to ``root/corrupted/`` and treated as missing.
        """
        entry = self._read(key, partial=False)
        if entry is None:
            return None
        values, ids, meta, names = entry
        provenance = dict(meta["provenance"], cache_key=key)
        return FeatureSpace(values, ids, meta["name"], provenance, names)

    def put(self, key, space, parts=None):
        """Write ``space`` (a FeatureSpace) under ``key`` atomically; removes the partial file.

        Returns the file path. Raises ``OSError`` when the folder cannot be
        written (read-only, full); nothing is left behind then.
        """
        check_type("space", space, FeatureSpace)
        path = self.path(key)
        meta = {"name": space.name, "provenance": json.loads(_canonical(space.provenance)),
                "parts": json.loads(_canonical(parts or {}))}
        with write_container(path, "FeatureStoreEntry", _FORMAT, meta) as f:
            f.create_dataset("values", data=space.values)
            write_strings(f, "stimulus_ids", space.stimulus_ids)
            default = [f"{space.name}_{k}" for k in range(space.n_features)]
            if list(space.feature_names) != default:
                write_strings(f, "feature_names", space.feature_names)
        self.path(key, partial=True).unlink(missing_ok=True)
        return path

    def remove(self, key):
        """Delete the entry (and any partial file) of ``key``."""
        self.path(key).unlink(missing_ok=True)
        self.path(key, partial=True).unlink(missing_ok=True)

    # ------------------------------------------------------------------ partial entries
    def get_partial(self, key):
        """(values, done, stimulus_ids) of an interrupted extraction, or None."""
        return self._read(key, partial=True)

    def put_partial(self, key, values, done, stimulus_ids, parts=None):
        """Save the rows done so far atomically (the previous partial file stays until replaced)."""
        meta = {"parts": json.loads(_canonical(parts or {}))}
        with write_container(self.path(key, partial=True), "FeatureStorePartial", _FORMAT,
                             meta) as f:
            f.create_dataset("values", data=values)
            f.create_dataset("done", data=np.asarray(done, dtype=bool))
            write_strings(f, "stimulus_ids", stimulus_ids)

    # ------------------------------------------------------------------ summary
    def info(self):
        """A pandas DataFrame: one row per file (complete or partial) with its key parts.

        Checksums are not verified here (:meth:`get` does); unreadable files are left out.
        """
        import h5py
        import pandas as pd

        rows = []
        if self.root.is_dir():
            for p in sorted(self.root.glob("*.h5")):
                partial = p.name.endswith(".partial.h5")
                key = p.name[: -len(".partial.h5")] if partial else p.name[:-3]
                try:
                    header = read_header(p)
                    with h5py.File(p, "r") as f:
                        shape = f["values"].shape
                        dtype = str(f["values"].dtype)
                        n_done = int(f["done"][()].sum()) if partial else shape[0]
                except (OSError, KeyError, FileFormatError):
                    continue
                if p.name.startswith(".") or header is None:
                    continue
                parts = header["meta"].get("parts", {})
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
