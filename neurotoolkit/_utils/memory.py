"""Memory budgets: parse "4GB", read what the machine (or GPU) has free, and
turn a byte budget into a number of targets per batch.

Users give a budget, never batch sizes (himalaya's batching, Dupré la Tour et al., NeuroImage 2022; "Memory-aware
batching"). The default is 70 % of the available RAM on the CPU and the free
CUDA memory minus 15 % on a GPU.
"""

import re
from numbers import Real

from .validation import _raise, describe

__all__ = [
    "parse_bytes",
    "format_bytes",
    "available_memory",
    "cuda_free_memory",
    "resolve_memory_budget",
    "batch_size_from_budget",
    "ridge_cv_batch_size",
]

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def parse_bytes(value, name="memory_budget"):
    """Number of bytes in ``value``: an int, a float, or a string such as "4GB", "512 MiB".

    Decimal units (KB, MB, GB, TB) are powers of 1000, binary ones (KiB,
    MiB, GiB, TiB) powers of 1024.
    """
    if isinstance(value, bool):
        _raise(name, 'a number of bytes or a string such as "4GB"', describe(value), exc=TypeError)
    if isinstance(value, Real):
        if value <= 0:
            _raise(name, "a positive number of bytes", describe(value))
        return int(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", value)
        unit = match.group(2).upper() if match else None
        if match is None or unit not in _UNITS:
            _raise(
                name,
                'a number of bytes or a string such as "4GB", "512MiB"',
                describe(value),
            )
        n = float(match.group(1)) * _UNITS[unit]
        if n <= 0:
            _raise(name, "a positive amount of memory", describe(value))
        return int(n)
    _raise(name, 'a number of bytes or a string such as "4GB"', describe(value), exc=TypeError)


def format_bytes(n):
    """Readable size ("1.5 GB")."""
    n = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"


def available_memory():
    """Bytes of RAM available to new allocations (psutil)."""
    import psutil

    return int(psutil.virtual_memory().available)


def cuda_free_memory(device=None):
    """Free memory on a CUDA device minus 15 %, in bytes."""
    import torch

    free, _ = torch.cuda.mem_get_info(device)
    return int(0.85 * free)


def resolve_memory_budget(memory_budget=None, backend=None):
    """Budget in bytes from the user's value, or from the machine when None.

    Parameters
    ----------
    memory_budget : int | float | str | None
    backend : neurotoolkit._utils.backend.Backend | None
        A CUDA backend makes None mean "free GPU memory minus 15 %".
    """
    if memory_budget is not None:
        return parse_bytes(memory_budget)
    if backend is not None and getattr(backend, "is_cuda", False):
        return cuda_free_memory(backend.device)
    return int(0.7 * available_memory())


def batch_size_from_budget(budget, fixed_bytes, bytes_per_item, n_items, name="memory_budget"):
    """``floor((budget - fixed) / per_item)`` clipped to ``[1, n_items]``.

    Raises a MemoryError naming the shortfall when not even one item fits.
    """
    room = budget - fixed_bytes
    size = int(room // max(bytes_per_item, 1)) if room > 0 else 0
    if size < 1:
        raise MemoryError(
            f"Invalid value for `{name}`: {format_bytes(budget)} is too small; the fixed part of "
            f"this problem needs {format_bytes(fixed_bytes)} and each target "
            f"{format_bytes(bytes_per_item)}. Give a larger budget."
        )
    return int(min(size, n_items))


def ridge_cv_batch_size(budget, n_train, n_test, n_features, rank, n_alphas, itemsize,
                        n_targets, n_alphas_batch=1):
    """Targets per batch for cross-validated ridge (Card 1 formula).

    ``fixed = b (n_tr p + n_te p + n_tr r + p r + n_te r)`` and
    ``t_b = (M - fixed) / (b (n_tr + n_te + r + A_b n_te + A))``.
    """
    b = itemsize
    fixed = b * (n_train * n_features + n_test * n_features + n_train * rank
                 + n_features * rank + n_test * rank)
    per_target = b * (n_train + n_test + rank + n_alphas_batch * n_test + n_alphas)
    return batch_size_from_budget(budget, fixed, per_target, n_targets)
