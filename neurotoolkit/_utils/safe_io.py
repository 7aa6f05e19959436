"""Safe on-disk format for everything neurotoolkit saves.

One container, an HDF5 file: arrays are datasets, everything else is JSON, and
the root attribute ``neurotoolkit`` holds a JSON header::

    {"format": "neurotoolkit.<kind>", "format_version": N,
     "neurotoolkit_version": "...", "created": "...",
     "checksum": {"algorithm": "sha256", "value": "..."}, "meta": {...}}

The checksum covers the format, version and ``meta`` and then every group,
dataset (name, dtype, shape, bytes) and attribute of the file, in sorted
order; it is verified on load, so a truncated, altered or half-overwritten
file raises an error naming the file instead of loading wrong numbers.
Nothing is ever unpickled: objects are described as JSON trees
(:func:`pack_tree`) and rebuilt only from the classes the loader allows.
"""

import contextlib
import dataclasses
import hashlib
import json
import re
import time
from pathlib import Path

import numpy as np

from .io import atomic_path

__all__ = [
    "CorruptedFileError",
    "FileFormatError",
    "UnsafeFileError",
    "check_name",
    "load_object",
    "open_container",
    "pack_tree",
    "path_inside",
    "read_header",
    "read_strings",
    "save_object",
    "sniff",
    "unpack_tree",
    "write_container",
    "write_strings",
]

HEADER = "neurotoolkit"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")
_BLOCK_BYTES = 1 << 26  # datasets are hashed in blocks of rows of about 64 MB


class FileFormatError(ValueError):
    """A file is not in the neurotoolkit format that the loader expects."""


class CorruptedFileError(FileFormatError):
    """A file is truncated, altered or unreadable (its checksum or structure is wrong)."""


class UnsafeFileError(FileFormatError):
    """A file is in an old pickle-based format, which can run code when loaded."""


def _h5py():
    from .optional import require

    return require("h5py", purpose="neurotoolkit files")


# --------------------------------------------------------------------------- names
def check_name(param, name):
    """Validate a cache key or output name: a plain file name, never a path.

    Letters, digits, ``_``, ``-`` and ``.``; at most 200 characters; not
    starting with ``.`` or ``-``; no ``..``. Returns ``name``.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name) or ".." in name:
        raise ValueError(
            f"Invalid value for `{param}`: expected a plain name of letters, digits, '_', '-' "
            "and '.' (no path separators, no '..', not starting with '.' or '-', at most 200 "
            f"characters), got {name!r}. Use such a name; paths are given by the root folder."
        )
    return name


def path_inside(root, name, param="name"):
    """``root / name`` after :func:`check_name`, checked to resolve inside ``root``."""
    check_name(param, name)
    root = Path(root)
    path = root / name
    if not path.resolve().is_relative_to(root.resolve()):  # e.g. a symbolic link out of root
        raise ValueError(
            f"Invalid value for `{param}`: {name!r} resolves to '{path.resolve()}', outside the "
            f"folder '{root}'. Remove the link or choose another name."
        )
    return path


# ------------------------------------------------------------------------ sniffing
def sniff(fname):
    """What a file looks like from its first bytes.

    Returns "hdf5", "pickle" (pickle protocol 2+, e.g. joblib), "torch" (a
    zip archive, as written by ``torch.save``), "empty" or "unknown".
    """
    with open(fname, "rb") as f:
        head = f.read(8)
    if not head:
        return "empty"
    if head.startswith(_HDF5_SIGNATURE):
        return "hdf5"
    if head.startswith(b"PK\x03\x04"):
        return "torch"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    return "unknown"


# ------------------------------------------------------------------------ checksum
def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _attr_bytes(value):
    if isinstance(value, str):
        return b"s" + value.encode("utf-8")
    if isinstance(value, bytes):
        return b"b" + value
    arr = np.asarray(value)
    if arr.dtype.kind in "OSU":
        return b"t" + _canonical([x.decode() if isinstance(x, bytes) else str(x)
                                  for x in arr.ravel()]).encode()
    return f"{arr.dtype.str}{arr.shape}".encode() + arr.tobytes()


def _hash_attrs(h, name, attrs, skip=()):
    for key in sorted(attrs):
        if key not in skip:
            h.update(f"A|{name}|{key}|".encode() + _attr_bytes(attrs[key]))


def _hash_dataset(h5py, h, dset):
    h.update(f"D|{dset.name}|{dset.dtype.str}|{dset.shape}|".encode())
    if h5py.check_string_dtype(dset.dtype) is not None and dset.dtype.kind == "O":
        h.update(_canonical(np.asarray(dset.asstr()[()], dtype=object).ravel().tolist()).encode())
    elif dset.shape == () or dset.size == 0:
        h.update(np.asarray(dset[()]).tobytes())
    else:
        row = max(1, dset.dtype.itemsize * int(np.prod(dset.shape[1:])))
        step = max(1, _BLOCK_BYTES // row)
        for start in range(0, dset.shape[0], step):
            h.update(np.ascontiguousarray(dset[start:start + step]).data)  # no copy


def _digest(f, fields):
    h5py = _h5py()
    h = hashlib.sha256(_canonical(fields).encode())
    _hash_attrs(h, "/", f.attrs, skip=(HEADER,))
    names = []
    f.visit(names.append)
    for name in sorted(names):
        obj = f[name]
        if isinstance(obj, h5py.Dataset):
            _hash_dataset(h5py, h, obj)
        else:
            h.update(f"G|{obj.name}|".encode())
        _hash_attrs(h, obj.name, obj.attrs)
    return h.hexdigest()


def _version():
    import neurotoolkit

    return getattr(neurotoolkit, "__version__", "unknown")


# --------------------------------------------------------------------- container
@contextlib.contextmanager
def write_container(fname, kind, version, meta=None):
    """Write a checksummed neurotoolkit HDF5 file atomically.

    Yields an open ``h5py.File`` (on a temporary file next to ``fname``) for
    the caller to fill; ``meta`` (a JSON-able dict) may be filled in the
    ``with`` block too. On exit the header with the checksum is written and
    the file moved over ``fname``; on an error nothing is left behind.
    """
    h5py = _h5py()
    meta = {} if meta is None else meta
    with atomic_path(fname) as tmp:
        with h5py.File(tmp, "w") as f:
            yield f
            fields = {"format": f"neurotoolkit.{kind}", "format_version": int(version),
                      "meta": meta}
            header = dict(fields, neurotoolkit_version=_version(),
                          created=time.strftime("%Y-%m-%dT%H:%M:%S"),
                          checksum={"algorithm": "sha256", "value": _digest(f, fields)})
            f.attrs[HEADER] = json.dumps(header, allow_nan=True)


def _corrupted(param, fname, what, err=None):
    detail = f" ({type(err).__name__}: {err})" if err is not None else ""
    return CorruptedFileError(
        f"Invalid value for `{param}`: '{fname}' {what}{detail}. Restore it from a backup or "
        "write it again."
    )


def _unreadable(param, fname, err=None):
    return _corrupted(param, fname, "cannot be read as HDF5: truncated or not a neurotoolkit "
                      "file", err)


def _check_kind(fname, kind, param, pickle_hint):
    """Raise for a missing, empty, pickle or non-HDF5 file."""
    fname = Path(fname)
    if not fname.is_file():
        raise FileNotFoundError(f"Invalid value for `{param}`: no such file '{fname}'.")
    found = sniff(fname)
    if found in ("pickle", "torch"):
        hint = f" {pickle_hint}" if pickle_hint else ""
        what = "a zip archive, as torch.save writes" if found == "torch" else "a pickle"
        raise UnsafeFileError(
            f"Invalid value for `{param}`: '{fname}' is in an old pickle-based format ({what}), "
            f"not a neurotoolkit {kind} file; loading such a file can run arbitrary code, so "
            f"neurotoolkit does not unpickle it.{hint}"
        )
    if found != "hdf5":
        raise _unreadable(param, fname)
    return fname


def _parse_header(f, fname, param):
    raw = f.attrs.get(HEADER)
    if raw is None:
        return None
    try:
        header = json.loads(raw)
        header["format"], int(header["format_version"]), header["checksum"]["value"]
    except (TypeError, ValueError, KeyError) as err:
        raise _corrupted(param, fname, "has an unreadable neurotoolkit header", err) from None
    return header


def read_header(fname, param="fname"):
    """The JSON header of a neurotoolkit file (checksum not verified), or None."""
    h5py = _h5py()
    try:
        with h5py.File(fname, "r") as f:
            return _parse_header(f, fname, param)
    except OSError as err:
        raise _unreadable(param, fname, err) from None


@contextlib.contextmanager
def open_container(fname, kind, max_version, param="fname", pickle_hint=None,
                   allow_legacy=False, verify=True):
    """Open a neurotoolkit HDF5 file for reading, after checking it.

    Yields ``(h5py.File, header)``. Raises :class:`UnsafeFileError` for a
    pickle/torch file (the message ends with ``pickle_hint``, a sentence on
    how to convert it), :class:`CorruptedFileError` for a truncated, unreadable or altered
    file (checksum mismatch) and :class:`FileFormatError` for a file of
    another kind or a newer version. With ``allow_legacy``, an HDF5 file
    without header (older neurotoolkit) is yielded with ``header=None``.
    Errors raised while reading inside the block name the file too.
    """
    h5py = _h5py()
    fname = _check_kind(fname, kind, param, pickle_hint)
    try:
        f = h5py.File(fname, "r")
    except OSError as err:
        raise _unreadable(param, fname, err) from None
    with f:
        try:
            header = _parse_header(f, fname, param)
            if header is None:
                if not allow_legacy:
                    raise FileFormatError(
                        f"Invalid value for `{param}`: '{fname}' is an HDF5 file without a "
                        f"neurotoolkit header, not a neurotoolkit {kind} file."
                    )
            else:
                _check_header(header, fname, kind, max_version, param)
                if verify:
                    fields = {k: header.get(k) for k in ("format", "format_version", "meta")}
                    if _digest(f, fields) != header["checksum"]["value"]:
                        raise _corrupted(param, fname, "failed its checksum: checksum mismatch: "
                                         "the file was altered or corrupted")
        except (OSError, RuntimeError, KeyError) as err:  # h5py errors on a damaged structure
            raise _unreadable(param, fname, err) from None
        try:
            yield f, header
        except (OSError, RuntimeError, KeyError) as err:
            if isinstance(err, FileNotFoundError):
                raise
            raise _corrupted(param, fname, "is damaged or incomplete", err) from err


def _check_header(header, fname, kind, max_version, param):
    expected = f"neurotoolkit.{kind}"
    if header["format"] != expected:
        raise FileFormatError(
            f"Invalid value for `{param}`: '{fname}' is a {header['format']!r} file, expected "
            f"a {expected!r} file. Use the loader of that kind of file."
        )
    version = int(header["format_version"])
    if version > max_version:
        raise FileFormatError(
            f"Invalid value for `{param}`: '{fname}' has format version {version}, newer than "
            f"this neurotoolkit ({_version()}) reads ({max_version}); upgrade neurotoolkit."
        )


# ----------------------------------------------------------------------- strings
def write_strings(group, name, values):
    """A UTF-8 variable-length string dataset from a sequence of str."""
    h5py = _h5py()
    data = np.asarray([str(v) for v in values], dtype=object)
    return group.create_dataset(name, data=data, shape=(len(data),),
                                dtype=h5py.string_dtype(encoding="utf-8"))


def read_strings(dset):
    """A string dataset as a list of str."""
    return [str(v) for v in dset.asstr()[()]]


# -------------------------------------------------------------------------- trees
_TAGS = ("__ndarray__", "__strings__", "__tensor__", "__tuple__", "__items__", "__slice__",
         "__dtype__", "__device__", "__path__", "__object__", "__dataframe__", "__range__",
         "__categorical__")


def _qualname(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _store(group, arr):
    key = f"a{len(group):05d}"
    group.create_dataset(key, data=arr)
    return key


def pack_tree(obj, group, classes=(), path="obj"):
    """A JSON-able description of ``obj``; its arrays become datasets of ``group``.

    Handles None, bool, int, float, str, lists, tuples, dicts (any keys),
    numpy arrays (numbers, bools, datetimes, strings) and scalars, torch
    tensors and devices, slices, paths, numpy dtypes, pandas DataFrames and
    the objects of ``classes`` (their ``__dict__``). Anything else raises
    ``TypeError`` naming ``path``.
    """
    def rec(value, where):
        return pack_tree(value, group, classes, where)

    if _is_plain(obj):
        return obj
    if isinstance(obj, np.generic):
        return rec(obj.item(), path) if obj.dtype.kind in "biufU" else rec(np.asarray(obj), path)
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in "biufc":
            return {"__ndarray__": _store(group, np.ascontiguousarray(obj))}
        if obj.dtype.kind in "mM":
            return {"__ndarray__": _store(group, obj.view("int64")), "dtype": obj.dtype.str}
        if obj.dtype.kind in "US" or (obj.dtype.kind == "O" and all(isinstance(v, str)
                                                                     for v in obj.ravel())):
            key = f"a{len(group):05d}"
            write_strings(group, key, obj.ravel())
            return {"__strings__": key, "shape": list(obj.shape), "dtype": obj.dtype.str}
        raise TypeError(f"{path} is an array of dtype {obj.dtype}, which cannot be saved safely")
    if type(obj).__module__.split(".")[0] == "torch":
        return _pack_torch(obj, group, path)
    if isinstance(obj, (list, tuple)):
        items = [rec(v, f"{path}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else {"__tuple__": items}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and not set(obj) & set(_TAGS):
            return {k: rec(v, f"{path}[{k!r}]") for k, v in obj.items()}
        return {"__items__": [[rec(k, f"{path}.keys"), rec(v, f"{path}[{k!r}]")]
                              for k, v in obj.items()]}
    if isinstance(obj, slice):
        return {"__slice__": [rec(obj.start, path), rec(obj.stop, path), rec(obj.step, path)]}
    if isinstance(obj, Path):
        return {"__path__": str(obj)}
    if isinstance(obj, np.dtype):
        return {"__dtype__": obj.str}
    if type(obj).__module__.split(".")[0] == "pandas":
        return _pack_pandas(obj, rec, path)
    if type(obj) in classes:
        return {"__object__": _qualname(type(obj)), "state": rec(dict(vars(obj)), path)}
    raise TypeError(f"{path} is a {_qualname(type(obj))} object, which cannot be saved safely")


def _is_plain(obj):
    return obj is None or (isinstance(obj, (bool, int, float, str))
                           and not isinstance(obj, np.generic))


def _pack_torch(obj, group, path):
    import torch

    if isinstance(obj, torch.device):
        return {"__device__": str(obj)}
    if isinstance(obj, torch.dtype):
        return {"__dtype__": str(obj)}
    if not isinstance(obj, torch.Tensor):
        raise TypeError(f"{path} is a {_qualname(type(obj))} object, which cannot be saved safely")
    t = obj.detach().cpu().contiguous()
    dtype = str(t.dtype).replace("torch.", "")
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return {"__tensor__": _store(group, t.numpy()), "dtype": dtype}


def _pack_pandas(obj, rec, path):
    import pandas as pd

    if not isinstance(obj, pd.DataFrame) or isinstance(obj.index, pd.MultiIndex):
        raise TypeError(f"{path} is a {_qualname(type(obj))} object, which cannot be saved safely")
    if isinstance(obj.index, pd.RangeIndex):
        index = {"__range__": [obj.index.start, obj.index.stop, obj.index.step]}
    else:
        index = rec(obj.index.to_numpy(), f"{path}.index")
    columns = []
    for pos, col in enumerate(obj.columns):
        series = obj.iloc[:, pos]
        where = f"{path}[{col!r}]"
        if isinstance(series.dtype, pd.CategoricalDtype):
            data = {"__categorical__": rec(series.cat.codes.to_numpy(), where),
                    "categories": rec(list(series.cat.categories), where),
                    "ordered": bool(series.cat.ordered)}
        elif series.dtype.kind in "biufcmM":
            data = rec(series.to_numpy(), where)
        else:
            data = rec(series.tolist(), where)
        columns.append([rec(col, where), str(series.dtype), data])
    return {"__dataframe__": columns, "index": index, "index_name": rec(obj.index.name, path)}


def unpack_tree(desc, group, classes=(), path="obj"):
    """Rebuild what :func:`pack_tree` described; objects only of the given ``classes``."""
    def rec(value):
        return unpack_tree(value, group, classes, path)

    if isinstance(desc, list):
        return [rec(v) for v in desc]
    if not isinstance(desc, dict):
        return desc
    tag = next((t for t in _TAGS if t in desc), None)
    if tag is None:
        return {k: rec(v) for k, v in desc.items()}
    value = desc[tag]
    if tag == "__ndarray__":
        arr = group[value][()]
        return arr.view(desc["dtype"]) if "dtype" in desc else arr
    if tag == "__strings__":
        arr = np.asarray(read_strings(group[value]), dtype=object).reshape(desc["shape"])
        return arr if desc["dtype"] == "|O" else arr.astype(desc["dtype"])
    if tag == "__tensor__":
        import torch

        t = torch.from_numpy(np.array(group[value][()]))
        return t.view(torch.bfloat16) if desc["dtype"] == "bfloat16" else t
    if tag == "__tuple__":
        return tuple(rec(v) for v in value)
    if tag == "__items__":
        return {_hashable(rec(k)): rec(v) for k, v in value}
    if tag == "__slice__":
        return slice(*value)
    if tag == "__path__":
        return Path(value)
    if tag == "__dtype__":
        if value.startswith("torch."):
            import torch

            return getattr(torch, value[len("torch."):])
        return np.dtype(value)
    if tag == "__device__":
        import torch

        return torch.device(value)
    if tag == "__object__":
        allowed = {_qualname(c): c for c in classes}
        if value not in allowed:
            raise FileFormatError(f"the file describes an object of class {value!r}, which is "
                                  f"not one of the classes this loader rebuilds")
        cls = allowed[value]
        obj = cls.__new__(cls)
        state = rec(desc["state"])
        if dataclasses.is_dataclass(cls) and getattr(cls, "__slots__", None):
            obj = cls(**state)
        else:
            obj.__dict__.update(state)
        return obj
    if tag == "__dataframe__":
        return _unpack_dataframe(desc, rec)
    raise FileFormatError(f"the file holds an unknown entry {tag!r}")  # pragma: no cover


def _hashable(value):
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def _unpack_dataframe(desc, rec):
    import pandas as pd

    index = desc["index"]
    if isinstance(index, dict) and "__range__" in index:
        index = pd.RangeIndex(*index["__range__"])
    else:
        index = pd.Index(rec(index))
    index.name = rec(desc["index_name"])
    data = {}
    for col, dtype, values in desc["__dataframe__"]:
        if isinstance(values, dict) and "__categorical__" in values:
            series = pd.Series(pd.Categorical.from_codes(
                rec(values["__categorical__"]), rec(values["categories"]),
                ordered=values["ordered"]), index=index)
        else:
            values = rec(values)
            if not isinstance(values, np.ndarray):
                values = np.asarray(values + [None], dtype=object)[:-1]  # keep nested lists
            series = pd.Series(values, index=index, dtype=dtype)
        data[_hashable(rec(col))] = series
    return pd.DataFrame(data, index=index)


# ----------------------------------------------------------------------- objects
def save_object(fname, kind, version, obj, classes=(), what=None):
    """Write ``obj`` (a tree of :func:`pack_tree` types) to a checksummed file.

    An object that cannot be described raises ``TypeError`` saying which
    part and what to do, before anything is written.
    """
    meta = {}
    try:
        with write_container(fname, kind, version, meta) as f:
            meta["tree"] = pack_tree(obj, f.create_group("arrays"), classes,
                                     path=what or kind)
    except TypeError as err:
        raise TypeError(
            f"Cannot save the {kind}: {err}. Only numbers, strings, arrays, tensors, "
            "DataFrames and neurotoolkit objects (e.g. FeatureSpace, GaborPyramid, RidgeCV) can be "
            "saved without pickle; replace that part (e.g. pass precomputed features as a "
            "FeatureSpace) and save again."
        ) from None
    return Path(fname)


def load_object(fname, kind, max_version, classes=(), param="fname", pickle_hint=None):
    """Read what :func:`save_object` wrote; returns ``(obj, header)``."""
    with open_container(fname, kind, max_version, param=param, pickle_hint=pickle_hint) as (
            f, header):
        try:
            return unpack_tree(header["meta"]["tree"], f["arrays"], classes), header
        except FileFormatError as err:
            raise FileFormatError(f"Invalid value for `{param}`: '{fname}': {err}.") from None
