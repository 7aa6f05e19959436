"""Atomic file writes: write to a temporary file in the same folder, then
``os.replace`` it over the target, so that a crash never leaves a half-written
cache or output behind and an existing file is kept until the new one is complete.

Temporary files are named ``.<name>.ntk-<random>.tmp<suffix>``; a write that
was killed (so that its ``finally`` never ran) leaves one behind, which
:func:`remove_stale_temp_files` deletes on the next run.
"""

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_text", "remove_stale_temp_files"]

_TEMP_TAG = ".ntk-"
_TEMP_RE = re.compile(r"^\.(?P<target>.+)\.ntk-[A-Za-z0-9_]+\.tmp[^/\\]*$")
# temporary files older than this process (and than the grace period) belong to a dead write
_PROCESS_START = time.time()
_GRACE_SECONDS = 60.0


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yield a temporary path next to ``path``; move it over ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{_TEMP_TAG}", suffix=".tmp" + suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_write_text(path, text, encoding="utf-8"):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding=encoding)


def remove_stale_temp_files(folder, target=None):
    """Delete temporary files that killed :func:`atomic_path` writes left in ``folder``.

    Only files named like this module's temporary files (``.<name>.ntk-<random>.tmp*``)
    whose modification time is before the start of the current process and
    more than a minute old are removed, so that a write in progress in this
    or another process is never touched.

    Parameters
    ----------
    folder : path-like
    target : str | None
        Only the temporary files of this target file name (e.g.
        ``"ckpt.h5"``); None removes those of any file.

    Returns
    -------
    removed : list of pathlib.Path
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    cutoff = min(_PROCESS_START, time.time() - _GRACE_SECONDS)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        match = _TEMP_RE.match(p.name)
        if match is None or (target is not None and match["target"] != target):
            continue
        try:
            if p.is_file() and not p.is_symlink() and p.stat().st_mtime < cutoff:
                p.unlink()
                removed.append(p)
        except OSError:  # read-only folder, or removed by someone else meanwhile
            continue
    return removed
