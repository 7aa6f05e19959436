"""One validation vocabulary for the whole package.

Every error names the parameter, what was expected, what was received and,
where there is one, the fix::

    Invalid value for `alphas`: expected a 1-D array of positive floats, got shape (3, 2).
"""

from numbers import Integral, Real

import numpy as np

__all__ = [
    "check_option",
    "check_type",
    "check_array",
    "check_positive_array",
    "check_consistent_length",
    "check_int",
    "check_fraction",
    "check_min_samples",
    "check_nonblank_strings",
    "check_image_files",
    "check_image_array",
    "describe",
]


def describe(value):
    """Short, readable description of a received value for error messages."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"a {type(value).__name__} of length {len(value)}"
    if isinstance(value, str):
        return repr(value)
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} (type {type(value).__name__})"


def _raise(name, expected, got, fix=None, exc=ValueError):
    msg = f"Invalid value for `{name}`: expected {expected}, got {got}."
    if fix:
        msg += f" {fix}"
    raise exc(msg)


def check_option(name, value, allowed, fix=None):
    """Check that ``value`` is one of ``allowed`` and return it."""
    allowed = tuple(allowed)
    if value not in allowed:
        _raise(name, "one of " + ", ".join(repr(a) for a in allowed), describe(value), fix)
    return value


def check_type(name, value, types, type_name=None):
    """Check ``isinstance(value, types)`` and return ``value``.

    ``types`` may contain ``None`` to allow None. ``"path-like"``,
    ``"int-like"`` and ``"numeric"`` are accepted as shortcuts.
    """
    if not isinstance(types, tuple):
        types = (types,)
    resolved = []
    names = []
    for t in types:
        if t is None:
            resolved.append(type(None))
            names.append("None")
        elif t == "path-like":
            import os

            resolved.extend([str, os.PathLike])
            names.append("path-like")
        elif t == "int-like":
            resolved.append(Integral)
            names.append("int")
        elif t == "numeric":
            resolved.append(Real)
            names.append("numeric")
        else:
            resolved.append(t)
            names.append(t.__name__)
    if isinstance(value, bool) and Integral in resolved and bool not in resolved:
        _raise(name, type_name or " or ".join(names), describe(value), exc=TypeError)
    if not isinstance(value, tuple(resolved)):
        _raise(name, type_name or " or ".join(names), describe(value), exc=TypeError)
    return value


def check_int(name, value, min_value=None, max_value=None):
    """Check an integer parameter with optional bounds and return it as int."""
    check_type(name, value, "int-like")
    bounds = []
    if min_value is not None:
        bounds.append(f">= {min_value}")
    if max_value is not None:
        bounds.append(f"<= {max_value}")
    if (min_value is not None and value < min_value) or (
        max_value is not None and value > max_value
    ):
        _raise(name, "an integer " + " and ".join(bounds), describe(value))
    return int(value)


def check_fraction(name, value, inclusive=(True, True)):
    """Check a float in [0, 1] (bounds inclusive per ``inclusive``)."""
    check_type(name, value, "numeric")
    lo_ok = value >= 0 if inclusive[0] else value > 0
    hi_ok = value <= 1 if inclusive[1] else value < 1
    if not (lo_ok and hi_ok):
        lo = "[" if inclusive[0] else "("
        hi = "]" if inclusive[1] else ")"
        _raise(name, f"a number in {lo}0, 1{hi}", describe(value))
    return float(value)


def check_array(
    name,
    value,
    ndim=None,
    dtype="numeric",
    allow_nan=False,
    min_samples=None,
    copy=False,
):
    """Convert ``value`` to a numpy array and check its shape and content.

    Parameters
    ----------
    name : str
        Parameter name used in error messages.
    value : array-like
    ndim : int | tuple of int | None
        Allowed number of dimensions.
    dtype : "numeric" | numpy dtype | None
        "numeric" keeps float arrays as they are and converts others to
        float64; a dtype converts to it; None keeps the dtype.
    allow_nan : bool
        If False, NaN or inf raise an error that lists where they are.
    min_samples : int | None
        Minimum length of the first axis.
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.array(value, copy=copy) if copy else np.asarray(value)
    except Exception as err:  # pragma: no cover - exotic inputs
        _raise(name, "an array-like", describe(value), exc=TypeError)
        raise err
    if dtype == "numeric":
        if arr.dtype.kind not in "fiub":
            _raise(name, "a numeric array", describe(arr), exc=TypeError)
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float64)
    elif dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            dims = " or ".join(f"{d}-D" for d in allowed)
            _raise(name, f"a {dims} array", f"shape {arr.shape}")
    if min_samples is not None and (arr.ndim == 0 or arr.shape[0] < min_samples):
        unit = "sample" if min_samples == 1 else "samples"
        _raise(name, f"at least {min_samples} {unit} along axis 0",
               f"an empty array of shape {arr.shape}" if arr.size == 0 else f"shape {arr.shape}")
    if not allow_nan and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = ~np.isfinite(arr)
        if arr.ndim == 2:
            cols = np.flatnonzero(bad.any(axis=0))
            where = f"columns {_short_list(cols)}"
        elif arr.ndim == 1:
            where = f"positions {_short_list(np.flatnonzero(bad))}"
        else:
            where = f"{int(bad.sum())} entries"
        _raise(name, "finite values (no NaN or inf)", f"non-finite values in {where}")
    return arr


def check_positive_array(name, value, ndim=1, strict=True):
    """Check a 1-D array of (strictly) positive floats, e.g. alphas."""
    arr = check_array(name, np.atleast_1d(value) if ndim == 1 else value, ndim=ndim)
    if arr.size == 0:
        _raise(name, f"a non-empty {ndim}-D array of positive floats", "an empty array")
    bad = arr <= 0 if strict else arr < 0
    if bad.any():
        kind = "positive" if strict else "non-negative"
        _raise(
            name,
            f"a {ndim}-D array of {kind} floats",
            f"{_short_list(arr[bad])} at positions {_short_list(np.flatnonzero(bad))}",
        )
    return arr


def check_consistent_length(**arrays):
    """Check that named arrays share their first dimension.

    Example: ``check_consistent_length(X=X, Y=Y)``.
    """
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"`{k}` has {n}" for k, n in lengths.items())
        names = " and ".join(f"`{k}`" for k in lengths)
        raise ValueError(
            f"Inconsistent lengths: {names} must have the same number of samples "
            f"(first axis), got {detail}."
        )


def check_min_samples(name, n_samples, min_samples, reason=None, fix=None, what="samples"):
    """Check that ``n_samples >= min_samples`` (a count known at ``fit``).

    Parameters
    ----------
    name : str
        Parameter name used in the error message (e.g. ``"X['sub-01']"``).
    n_samples : int
        Number of samples received.
    min_samples : int
        Smallest number that makes the computation meaningful.
    reason : str | None
        Why that many are needed, e.g. ``"to z-score the responses"``.
    fix : str | None
        What the user can do.
    what : str
        What is counted (plural), e.g. ``"distinct stimuli"``.

    Returns
    -------
    n_samples : int
    """
    n_samples = int(n_samples)
    if n_samples < min_samples:
        why = f" {reason}" if reason else ""
        _raise(name, f"at least {min_samples} {what}{why}", f"{n_samples}", fix)
    return n_samples


def check_nonblank_strings(name, values):
    """Check a sequence of strings with no empty or whitespace-only entry.

    Parameters
    ----------
    name : str
        Parameter name used in error messages.
    values : sequence of str

    Returns
    -------
    values : list of str

    Raises
    ------
    TypeError
        When an entry is not a string (its position is named).
    ValueError
        When entries are blank; the message gives how many and where.
    """
    values = list(values)
    for k, v in enumerate(values):
        if not isinstance(v, str):
            _raise(name, "a sequence of strings", f"{describe(v)} at position {k}",
                   exc=TypeError)
    blank = [k for k, v in enumerate(values) if not v.strip()]
    if blank:
        _raise(
            name,
            "non-empty strings",
            f"{len(blank)} blank or whitespace-only string(s) at positions {_short_list(blank)}",
            "Remove them (and their rows in any paired array) first.",
        )
    return values


def check_image_files(name, paths):
    """Check that every path is an existing file that PIL decodes as an image.

    Each file is opened with ``PIL.Image.open(path).verify()``, which reads
    the header and checks the data without decoding the pixels; the first
    bad file is named in the error.

    Parameters
    ----------
    name : str
        Parameter name used in error messages.
    paths : sequence of path-like

    Returns
    -------
    paths : list of str
    """
    import os

    from PIL import Image

    out = []
    for k, path in enumerate(paths):
        check_type(f"{name}[{k}]", path, "path-like")
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Invalid value for `{name}`: expected existing image files, got '{path}' "
                f"(position {k}), which does not exist."
            )
        try:
            with Image.open(path) as im:
                im.verify()
        except Exception as err:  # PIL raises many types (OSError, SyntaxError, struct.error)
            raise ValueError(
                f"Invalid value for `{name}`: expected image files that PIL can read, got "
                f"'{path}' (position {k}), which is not a valid image ({type(err).__name__}: "
                f"{str(err)[:120]}). Remove or replace that file."
            ) from None
        out.append(path)
    return out


def check_image_array(name, images, channels=(1, 3, 4), min_images=1, atol=1e-4):
    """Check a batch of images: shape, dtype and value range.

    Parameters
    ----------
    name : str
        Parameter name used in error messages.
    images : array, shape (n_images, height, width) or (n_images, height, width, n_channels)
        uint8 (0-255) or floats in [0, 1].
    channels : tuple of int
        Allowed sizes of the last axis of 4-D arrays.
    min_images : int
        Smallest number of images.
    atol : float
        Float values may exceed [0, 1] by this much (rounding of resampling).

    Returns
    -------
    images : ndarray
        The input as a numpy array (not converted).
    """
    arr = np.asarray(images)
    shapes = "(n_images, height, width)" + "".join(
        f" or (n_images, height, width, {c})" for c in channels)
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] not in channels):
        _raise(name, f"an image array {shapes}", describe(arr))
    if arr.shape[0] < min_images or 0 in arr.shape:
        _raise(name, f"at least {min_images} non-empty image(s) {shapes}",
               f"an empty array of shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind != "f":
        _raise(name, "uint8 images (0-255) or floats in [0, 1]", describe(arr),
               "Convert with images.astype(np.uint8) (0-255) or images / 255.0.", exc=TypeError)
    finite = np.isfinite(arr)
    if not finite.all():
        where = np.flatnonzero(~finite.reshape(len(arr), -1).all(axis=1))
        _raise(name, "finite pixel values (no NaN or inf)",
               f"non-finite values in image(s) {_short_list(where)}")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -atol or hi > 1 + atol:
        _raise(name, "float images in [0, 1] (or uint8 in 0-255)",
               f"values in [{lo:.4g}, {hi:.4g}]",
               "Divide 0-255 floats by 255, or convert them to np.uint8.")
    return arr


def _short_list(values, limit=8):
    values = list(np.asarray(values).ravel())
    text = ", ".join(str(v) for v in values[:limit])
    if len(values) > limit:
        text += f", ... ({len(values)} in total)"
    return "[" + text + "]"
