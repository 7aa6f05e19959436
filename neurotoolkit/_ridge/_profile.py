"""Per-phase wall-clock times of one ridge fit (``RidgeCVResults.info["timings"]``).

:func:`phase` is a no-op unless a :func:`timing` context is active in the
calling thread (work run in worker threads is charged to the phase that waits
for it). Phases are exclusive: a nested phase pauses its parent. With a CUDA
backend, ``sync`` (``torch.cuda.synchronize``) is called at every boundary so
that asynchronous kernels are charged to the phase that launched them.
"""

import contextvars
import time
from contextlib import contextmanager

__all__ = ["PHASES", "phase", "timing"]

# the phases the engine reports, in order
PHASES = ("x_statistics", "decompositions", "fold_setup", "load", "y_statistics",
          "rotations", "scoring", "selection", "refit")

_ACTIVE = contextvars.ContextVar("neurotoolkit_ridge_timer", default=None)


class _Timer:
    def __init__(self, sync=None):
        self.times = {}
        self.sync = sync
        self.stack = []
        self.current = None
        self.t0 = None

    def _add(self, name, seconds):
        self.times[name] = self.times.get(name, 0.0) + seconds


@contextmanager
def phase(name):
    """Charge the time spent in the block to ``name`` (exclusive of nested phases)."""
    tm = _ACTIVE.get()
    if tm is None:
        yield
        return
    if tm.sync is not None:
        tm.sync()
    now = time.perf_counter()
    if tm.current is not None:
        tm._add(tm.current, now - tm.t0)
    tm.stack.append(tm.current)
    tm.current, tm.t0 = name, now
    try:
        yield
    finally:
        if tm.sync is not None:
            tm.sync()
        now = time.perf_counter()
        tm._add(name, now - tm.t0)
        tm.current, tm.t0 = tm.stack.pop(), now


@contextmanager
def timing(sync=None):
    """Collect phase times in this thread; yields the dict ``{phase: seconds}``."""
    tm = _Timer(sync)
    token = _ACTIVE.set(tm)
    try:
        yield tm.times
    finally:
        _ACTIVE.reset(token)
