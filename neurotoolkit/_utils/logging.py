"""Package logger and the ``verbose=`` convention.

``verbose`` accepted everywhere: None (use the package level), bool (True is
INFO, False is WARNING), an int logging level, or a level name ("DEBUG",
"INFO", "WARNING", "ERROR").
"""

import contextlib
import functools
import inspect
import logging
import os
import warnings

logger = logging.getLogger("neurotoolkit")
if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("[neurotoolkit] %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False

__all__ = ["logger", "set_log_level", "use_log_level", "verbose", "warn", "resolve_level"]

_NAMED = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def resolve_level(verbose):
    """Convert a ``verbose`` value to a logging level (int)."""
    if verbose is None:
        return logger.level
    if isinstance(verbose, bool):
        return logging.INFO if verbose else logging.WARNING
    if isinstance(verbose, str):
        key = verbose.upper()
        if key not in _NAMED:
            raise ValueError(
                f"Invalid value for `verbose`: expected None, a bool, an int level or one of "
                f"{sorted(_NAMED)}, got {verbose!r}."
            )
        return _NAMED[key]
    if isinstance(verbose, int):
        return verbose
    raise TypeError(
        f"Invalid value for `verbose`: expected None, a bool, an int or a str, got "
        f"{type(verbose).__name__}."
    )


def set_log_level(verbose=None):
    """Set the package log level; returns the previous one.

    Parameters
    ----------
    verbose : bool | int | str | None
        None reads the environment variable ``NEUROTOOLKIT_LOGGING_LEVEL``
        (default WARNING).
    """
    old = logger.level
    if verbose is None:
        verbose = os.environ.get("NEUROTOOLKIT_LOGGING_LEVEL", "WARNING")
    logger.setLevel(resolve_level(verbose))
    return old


@contextlib.contextmanager
def use_log_level(verbose):
    """Context manager that sets the log level for the duration of a block."""
    old = logger.level
    logger.setLevel(resolve_level(verbose))
    try:
        yield
    finally:
        logger.setLevel(old)


def verbose(func):
    """Decorator: a ``verbose`` keyword argument sets the level for the call.

    For methods, ``self.verbose`` is used when the call does not pass one.
    """
    sig = inspect.signature(func)
    if "verbose" not in sig.parameters:
        raise RuntimeError(f"{func.__qualname__} needs a `verbose` parameter")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        bound = sig.bind_partial(*args, **kwargs)
        level = bound.arguments.get("verbose")
        if level is None and args and hasattr(args[0], "verbose"):
            level = getattr(args[0], "verbose")
        if level is None:
            return func(*args, **kwargs)
        with use_log_level(level):
            return func(*args, **kwargs)

    return wrapper


def _user_stacklevel():
    """Stack level of the first frame outside the neurotoolkit package."""
    frame = inspect.currentframe()
    level = 0
    pkg_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    while frame is not None:
        fname = os.path.abspath(frame.f_code.co_filename)
        if not fname.startswith(pkg_dir):
            return max(level, 1)
        frame = frame.f_back
        level += 1
    return 1


def warn(message, category=UserWarning):
    """Warn so that the warning points at the user's line, and log it."""
    warnings.warn(message, category, stacklevel=_user_stacklevel())
    logger.debug("warning: %s", message)


def progress(iterable=None, total=None, desc=None, verbose=None, **kwargs):
    """A tqdm progress bar shown when the log level is INFO or lower."""
    try:  # notebook widgets when ipywidgets is there, plain text bars otherwise (no warning)
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm

    disable = resolve_level(verbose) > logging.INFO
    return tqdm(iterable, total=total, desc=desc, disable=disable, leave=False, **kwargs)
