"""One place that turns a user's ``device=`` into a device.

Every estimator and function that can run on a GPU takes ``device="auto"``
(the one default): CUDA when torch sees a GPU, else the CPU. Explicit values
are ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"`` or a ``torch.device``.
Asking for CUDA on a machine without it is an error, never a silent fall-back.
"""

import glob
import importlib.util
import os
import sys

from .optional import require

__all__ = ["DEVICE_DOC", "cuda_available", "is_cuda_request", "resolve_device"]

DEVICE_DOC = """device : "auto" | "cpu" | "cuda" | "cuda:N" | torch.device, default="auto"
        Where torch computations run. "auto" picks CUDA when torch sees a GPU,
        else the CPU; asking for an unavailable device raises an error."""


def cuda_available():
    """True when torch is installed and sees a CUDA device.

    Cheap on machines without a GPU: torch is imported only when it is
    installed and, on Linux, an NVIDIA driver is present (importing torch
    takes seconds); on macOS CUDA is never available.
    """
    if "torch" not in sys.modules:
        if importlib.util.find_spec("torch") is None or sys.platform == "darwin":
            return False
        if sys.platform.startswith("linux") and not (
            os.path.exists("/proc/driver/nvidia") or glob.glob("/dev/nvidia[0-9]*")
        ):
            return False
    import torch

    return bool(torch.cuda.is_available())


def is_cuda_request(device):
    """True when ``device`` names a CUDA device (without importing torch)."""
    return str(device).split(":")[0] == "cuda"


def _check_device_value(device, name):
    ok = device is None or isinstance(device, str) or type(device).__name__ == "device"
    if not ok:
        raise TypeError(
            f"Invalid type for `{name}`: expected 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a "
            f"torch.device, got {type(device).__name__} {device!r}."
        )


def resolve_device(device="auto", *, name="device", purpose=None):
    """Resolve ``device`` to a ``torch.device``.

    Parameters
    ----------
    device : "auto" | str | torch.device | None
        "auto" (or None, accepted for backward compatibility) picks CUDA when
        available, else the CPU.
    name : str
        Parameter name used in error messages.
    purpose : str | None
        What needs torch, for the missing-extra message.

    Returns
    -------
    torch.device
    """
    _check_device_value(device, name)
    torch = require("torch", purpose=purpose or f"`{name}`")
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"Invalid value for `{name}`: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', "
            f"got {device!r} ({err})."
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"Invalid value for `{name}`: got {device!r} but torch sees no CUDA device "
                f"(torch.cuda.is_available() is False). Use device='auto' or 'cpu'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"Invalid value for `{name}`: got {device!r} but only "
                f"{torch.cuda.device_count()} CUDA device(s) are visible."
            )
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"Invalid value for `{name}`: got {device!r} but MPS is not available.")
    return dev
