"""The ``random_state`` convention: None, an int seed, a numpy Generator or
a legacy RandomState; every function turns it into a ``numpy.random.Generator``
with :func:`check_random_state` and never touches the global RNG."""

from numbers import Integral

import numpy as np

__all__ = ["check_random_state", "seeded", "spawn"]


def check_random_state(random_state):
    """Return a ``numpy.random.Generator`` for ``random_state``.

    Parameters
    ----------
    random_state : None | int | numpy.random.Generator | numpy.random.RandomState
        None gives fresh entropy; an int seeds a new Generator; a Generator
        is returned as is; a RandomState is wrapped (its state is advanced).
    """
    if random_state is None or isinstance(random_state, (Integral, np.integer)):
        if isinstance(random_state, bool):
            raise TypeError(
                "Invalid value for `random_state`: expected None, an int, a "
                "numpy Generator or RandomState, got a bool."
            )
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    raise TypeError(
        "Invalid value for `random_state`: expected None, an int, a numpy Generator "
        f"or RandomState, got {type(random_state).__name__}."
    )


def spawn(rng, n):
    """Independent child generators (for subjects, folds, workers)."""
    return [np.random.default_rng(s) for s in rng.bit_generator.seed_seq.spawn(n)] if hasattr(
        rng.bit_generator, "seed_seq"
    ) else [np.random.default_rng(rng.integers(2**63)) for _ in range(n)]


def seeded(random_state):
    """(seed, context manager) that seeds torch's CPU RNG inside and restores the global state after.

    None draws a fresh seed; an int is used as is. Random-init models, dropout
    in training loops and tiny test models are reproducible without touching
    the caller's torch random state.
    """
    from .optional import require

    torch = require("torch", purpose="seeded torch random state")
    seed = int(np.random.default_rng(random_state).integers(2**31 - 1)) if random_state is None else int(random_state)

    class _Ctx:
        def __enter__(self):
            self._fork = torch.random.fork_rng(devices=[])
            self._fork.__enter__()
            torch.manual_seed(seed)

        def __exit__(self, *exc):
            return self._fork.__exit__(*exc)

    return seed, _Ctx()
