"""Save and load Recordings as checksummed HDF5 files.

Layout (format ``neurotoolkit.Recording``, version 2; the container, its JSON
header and sha256 checksum are those of :mod:`neurotoolkit._utils.safe_io`)::

    /                 attrs: neurotoolkit (JSON header), subject, modality, space (JSON)
    /responses        (n_trials, n_units), dtype kept
    /stimulus_ids     (n_trials,) UTF-8 strings
    /runs             (n_trials,) ints/floats, or strings (attr kind="str"); absent if None
    /units/index      (n_units,) UTF-8 strings; attrs name (JSON), columns (JSON list)
    /units/c00000...  one dataset per column, attrs name, dtype, encoding
    /meta             attrs json: meta with arrays replaced by {"__ndarray__": "a00000"}
    /meta/a00000...   the numpy arrays found in meta

The checksum is verified on load: a truncated or altered file raises an error
naming the file. Version 1 files (no checksum) still load, with a warning.
The file is written to a temporary file next to ``fname`` and moved over it
only when complete, so an interrupted save never leaves a broken file and
never destroys an existing one.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .._utils.safe_io import FileFormatError, open_container, write_container
from .._utils.logging import warn
from .._utils.validation import check_type

__all__ = ["save_recording", "load_recording"]

FORMAT = "neurotoolkit.Recording"
FORMAT_VERSION = 2  # 2: checksummed container (safe_io); 1: no checksum
_SUFFIXES = (".h5", ".hdf5")


def _check_fname(fname):
    check_type("fname", fname, "path-like")
    fname = Path(fname)
    if fname.suffix.lower() not in _SUFFIXES:
        raise ValueError(
            f"Invalid value for `fname`: expected a file name ending in .h5 or .hdf5, got "
            f"'{fname.name}'."
        )
    return fname


def _str_dtype():
    import h5py

    return h5py.string_dtype(encoding="utf-8")


def _write_strings(group, name, values):
    return group.create_dataset(
        name, data=np.asarray([str(v) for v in values], dtype=object), dtype=_str_dtype()
    )


def _read_strings(dset):
    return np.asarray(dset.asstr()[()], dtype=object)


# -------------------------------------------------------------------- units
def _write_units(group, units):
    _write_strings(group, "index", units.index)
    group.attrs["index_name"] = json.dumps(units.index.name)
    group.attrs["columns"] = json.dumps([str(c) for c in units.columns])
    for pos, col in enumerate(units.columns):
        series = units[col]
        key = f"c{pos:05d}"
        dtype = str(series.dtype)
        values = series.to_numpy()
        if isinstance(series.dtype, pd.CategoricalDtype):
            cats = series.cat.categories
            dset = _write_strings(group, key, series.astype(str).to_numpy())
            dset.attrs["encoding"] = "categorical"
            dset.attrs["categories"] = json.dumps([str(c) for c in cats])
            dset.attrs["ordered"] = bool(series.cat.ordered)
            dset.attrs["mask"] = json.dumps(np.flatnonzero(series.isna()).tolist())
        elif values.dtype.kind in "biufc":
            dset = group.create_dataset(key, data=values)
            dset.attrs["encoding"] = "numeric"
        elif values.dtype.kind in "mM":
            dset = group.create_dataset(key, data=values.view("int64"))
            dset.attrs["encoding"] = "datetime"
        elif all(isinstance(v, str) for v in values):
            dset = _write_strings(group, key, values)
            dset.attrs["encoding"] = "str"
        else:
            try:
                encoded = [json.dumps(_to_jsonable(v)) for v in values]
            except TypeError as err:
                raise TypeError(
                    f"Invalid value for `recording`: units column {col!r} holds values that "
                    f"cannot be saved ({err}); convert it to numbers or strings."
                ) from None
            dset = _write_strings(group, key, encoded)
            dset.attrs["encoding"] = "json"
        dset.attrs["name"] = json.dumps(str(col) if not isinstance(col, (int, float)) else col)
        dset.attrs["dtype"] = dtype


def _read_units(group):
    index = pd.Index(_read_strings(group["index"]), name=json.loads(group.attrs["index_name"]))
    columns = {}
    n_cols = len(json.loads(group.attrs["columns"]))
    for pos in range(n_cols):
        dset = group[f"c{pos:05d}"]
        name = json.loads(dset.attrs["name"])
        enc = dset.attrs["encoding"]
        dtype = dset.attrs["dtype"]
        if enc == "numeric":
            values = pd.Series(dset[()], index=index).astype(dtype)
        elif enc == "datetime":
            values = pd.Series(dset[()].view(dtype), index=index)
        elif enc == "categorical":
            raw = _read_strings(dset).astype(object)
            raw[json.loads(dset.attrs["mask"])] = None
            cats = json.loads(dset.attrs["categories"])
            values = pd.Series(
                pd.Categorical(raw, categories=cats, ordered=bool(dset.attrs["ordered"])),
                index=index,
            )
        elif enc == "str":
            values = pd.Series(_read_strings(dset), index=index)
            if dtype != "object":
                values = values.astype(dtype)
        else:  # json
            values = pd.Series([json.loads(v) for v in _read_strings(dset)], index=index)
            if dtype != "object":
                values = values.astype(dtype)
        columns[name] = values
    return pd.DataFrame(columns, index=index)


# --------------------------------------------------------------------- meta
def _to_jsonable(value):
    """Python scalars/containers for JSON; raises TypeError for the rest."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _pack_meta(value, group, path, dropped):
    """Replace arrays by dataset references (written to ``group``), drop the unsavable."""
    if isinstance(value, np.ndarray):
        key = f"a{len(group):05d}"
        if value.dtype.kind in "biufc":
            group.create_dataset(key, data=value)
        elif value.dtype.kind in "UO" and all(isinstance(v, str) for v in value.ravel()):
            dset = _write_strings(group, key, value.ravel())
            dset.attrs["shape"] = json.dumps(list(value.shape))
            dset.attrs["kind"] = value.dtype.kind
        else:
            dropped.append(path)
            return _DROP
        return {"__ndarray__": key}
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            packed = _pack_meta(v, group, f"{path}[{k!r}]", dropped)
            if packed is not _DROP:
                out[str(k)] = packed
        return out
    if isinstance(value, (list, tuple)):
        out = [_pack_meta(v, group, f"{path}[{i}]", dropped) for i, v in enumerate(value)]
        return [v for v in out if v is not _DROP]
    try:
        return _to_jsonable(value)
    except TypeError:
        dropped.append(path)
        return _DROP


_DROP = object()


def _unpack_meta(value, group):
    if isinstance(value, dict):
        if set(value) == {"__ndarray__"}:
            dset = group[value["__ndarray__"]]
            if "kind" in dset.attrs:
                arr = _read_strings(dset).reshape(json.loads(dset.attrs["shape"]))
                return arr.astype(str) if dset.attrs["kind"] == "U" else arr
            return dset[()]
        return {k: _unpack_meta(v, group) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack_meta(v, group) for v in value]
    return value


# --------------------------------------------------------------- public API
def save_recording(recording, fname, overwrite=False):
    """Save a Recording to an HDF5 file.

    Parameters
    ----------
    recording : Recording
    fname : path-like
        File name ending in ``.h5`` or ``.hdf5``.
    overwrite : bool
        If False (default), an existing file raises ``FileExistsError``.

    Returns
    -------
    fname : pathlib.Path

    Notes
    -----
    Units columns keep their dtypes (bool, ints, floats, strings,
    categoricals, datetimes; other objects as JSON). ``meta`` is stored as
    JSON with its numpy arrays as datasets; tuples come back as lists, and
    values that are neither (e.g. a DataFrame) are dropped with a warning.
    """
    from ._recording import Recording

    check_type("recording", recording, Recording)
    fname = _check_fname(fname)
    if fname.exists() and not overwrite:
        raise FileExistsError(
            f"Invalid value for `fname`: '{fname}' exists; pass overwrite=True to replace it."
        )
    with write_container(fname, "Recording", FORMAT_VERSION) as f:
        f.attrs["subject"] = recording.subject
        f.attrs["modality"] = recording.modality
        f.attrs["space"] = json.dumps(recording.space)
        f.create_dataset("responses", data=recording.responses)
        _write_strings(f, "stimulus_ids", recording.stimulus_ids)
        if recording.runs is not None:
            runs = np.asarray(recording.runs)
            if runs.dtype.kind in "biuf":
                f.create_dataset("runs", data=runs)
            else:
                _write_strings(f, "runs", runs).attrs["kind"] = "str"
        _write_units(f.create_group("units"), recording.units)
        group = f.create_group("meta")
        dropped = []
        packed = _pack_meta(dict(recording.meta), group, "meta", dropped)
        group.attrs["json"] = json.dumps(packed)
        if dropped:
            warn(
                f"save_recording: {len(dropped)} meta value(s) cannot be saved and were left "
                f"out: {dropped[:8]}."
            )
    return fname


def load_recording(fname):
    """Load a Recording saved with :func:`save_recording`.

    Parameters
    ----------
    fname : path-like

    Returns
    -------
    Recording
    """
    from ._recording import Recording

    fname = _check_fname(fname)
    with open_container(fname, "Recording", FORMAT_VERSION, allow_legacy=True) as (f, header):
        if header is None:
            if f.attrs.get("format") != FORMAT:
                raise FileFormatError(
                    f"Invalid value for `fname`: '{fname}' is not a neurotoolkit Recording file "
                    f"(format attribute {f.attrs.get('format')!r})."
                )
            warn(f"'{fname}' was saved by an older neurotoolkit (Recording format 1) without a "
                 "checksum, so corruption cannot be detected; save it again to add one.")
        runs = None
        if "runs" in f:
            dset = f["runs"]
            runs = _read_strings(dset) if dset.attrs.get("kind") == "str" else dset[()]
        meta = _unpack_meta(json.loads(f["meta"].attrs["json"]), f["meta"])
        return Recording._from_fields(
            responses=f["responses"][()],
            stimulus_ids=_read_strings(f["stimulus_ids"]),
            units=_read_units(f["units"]),
            subject=str(f.attrs["subject"]),
            modality=str(f.attrs["modality"]),
            space=json.loads(f.attrs["space"]),
            runs=runs,
            meta=meta,
        )
