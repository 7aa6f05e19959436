"""A tiny array backend: numpy on the CPU, or torch on the CPU or a CUDA device.

Compute code asks this layer for arrays and for the few operations whose
spelling differs between numpy and torch (creation, casting, indexing rows,
eigendecomposition, moving back to numpy). Everything else is written with
operators that both libraries share (``@``, ``*``, ``.T``, ``.sum(0)``).

Which library and device run is decided once, by :func:`resolve_backend`,
from ``backend="auto"`` and ``device="auto"`` (the defaults everywhere):
torch when the device asks for a GPU, numpy otherwise. Devices are resolved
by :func:`neurotoolkit._utils.device.resolve_device`, the one resolver.
torch is imported only when it is installed and a GPU could be used.
"""

import numpy as np

from .device import _check_device_value, cuda_available, resolve_device
from .validation import check_option

__all__ = ["BACKENDS", "Backend", "get_backend", "resolve_backend", "to_numpy"]

BACKENDS = ("auto", "numpy", "torch")
_DTYPES = ("float32", "float64")


def to_numpy(a):
    """Return ``a`` as a numpy array (torch tensors are moved to the host)."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _is_auto(device):
    return device is None or (isinstance(device, str) and device == "auto")


def _is_cpu(device):
    return str(device).split(":")[0] == "cpu"


def resolve_backend(backend="auto", device="auto"):
    """Decide the array library and the device of a computation.

    Parameters
    ----------
    backend : "auto" | "numpy" | "torch"
        "auto": torch when ``device`` asks for a GPU (an explicit
        "cuda"/"cuda:N"/"mps" or torch.device, or "auto" while torch sees a
        CUDA device), numpy otherwise.
    device : "auto" | "cpu" | "cuda" | "cuda:N" | "mps" | torch.device | None
        None is accepted as "auto".

    Returns
    -------
    name : "numpy" | "torch"
    device : "cpu" | torch.device
        "cpu" for numpy; the resolved ``torch.device`` for torch.

    Raises
    ------
    ValueError
        ``backend="numpy"`` with a non-CPU device, or a device that is not
        available (from :func:`~neurotoolkit._utils.device.resolve_device`).
    """
    check_option("backend", backend, BACKENDS)
    _check_device_value(device, "device")
    if backend == "auto":
        if _is_auto(device):
            backend = "torch" if cuda_available() else "numpy"
        else:
            backend = "numpy" if _is_cpu(device) else "torch"
    if backend == "numpy":
        if not (_is_auto(device) or _is_cpu(device)):
            raise ValueError(
                f"Invalid value for `device`: expected 'auto' or 'cpu' with backend='numpy', "
                f"got {device!r}. Use backend='auto' (or 'torch') to run on {str(device)!r}."
            )
        return "numpy", "cpu"
    return "torch", resolve_device(device, purpose="backend='torch'")


class Backend:
    """Array namespace for one (library, device, dtype) choice.

    Parameters
    ----------
    name : "auto" | "numpy" | "torch"
    device : "auto" | str | torch.device | None
        Resolved with ``name`` by :func:`resolve_backend`.
    dtype : "float32" | "float64"
        Working precision of the large arrays.
    """

    def __init__(self, name="auto", device="auto", dtype="float32"):
        check_option("dtype", str(np.dtype(dtype)) if dtype is not None else dtype, _DTYPES)
        name, device = resolve_backend(name, device)
        self.name = name
        self.device = device
        self.dtype_name = str(np.dtype(dtype))
        self.itemsize = np.dtype(dtype).itemsize
        if name == "numpy":
            self.dtype = np.dtype(dtype)
            self.float64 = np.dtype("float64")
            self.oom_errors = (MemoryError,)
        else:
            import torch

            self._torch = torch
            self.dtype = getattr(torch, self.dtype_name)
            self.float64 = torch.float64
            oom = [MemoryError]
            if hasattr(torch.cuda, "OutOfMemoryError"):
                oom.append(torch.cuda.OutOfMemoryError)
            self.oom_errors = tuple(oom)

    def __repr__(self):
        return f"Backend({self.name!r}, device={str(self.device)!r}, dtype={self.dtype_name!r})"

    @property
    def is_cuda(self):
        return self.name == "torch" and self.device.type == "cuda"

    # creation and conversion -------------------------------------------------
    def asarray(self, a, dtype=None):
        """``a`` (numpy or tensor) as a backend array of ``dtype`` (default: working dtype)."""
        dtype = self.dtype if dtype is None else dtype
        if self.name == "numpy":
            return np.asarray(to_numpy(a), dtype=dtype)
        torch = self._torch
        if isinstance(a, torch.Tensor):
            return a.to(device=self.device, dtype=dtype)
        arr = np.asarray(a)
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        return torch.as_tensor(arr, device=self.device).to(dtype)

    def copy(self, a, dtype=None):
        """A copy of ``a`` as a backend array (never a view of the input)."""
        if self.name == "numpy":
            return np.array(to_numpy(a), dtype=self.dtype if dtype is None else dtype)
        out = self.asarray(a, dtype=dtype)
        if out.device.type == "cpu" or isinstance(a, self._torch.Tensor):
            out = out.clone()
        return out

    def zeros(self, shape, dtype=None):
        dtype = self.dtype if dtype is None else dtype
        if self.name == "numpy":
            return np.zeros(shape, dtype=dtype)
        return self._torch.zeros(shape, dtype=dtype, device=self.device)

    def cast(self, a, dtype):
        """``a`` in ``dtype`` ("float32", "float64" or a library dtype) on the same device."""
        if isinstance(dtype, str):
            dtype = self.float64 if dtype == "float64" else self.dtype
        if self.name == "numpy":
            return a.astype(dtype, copy=False)
        return a.to(dtype)

    def index(self, idx):
        """An integer index array usable to take rows of a backend array."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.name == "numpy":
            return idx
        return self._torch.as_tensor(idx, device=self.device)

    def to_numpy(self, a):
        return to_numpy(a)

    # linear algebra ------------------------------------------------------------
    def eigh(self, a):
        """Eigenvalues (ascending) and eigenvectors of a symmetric matrix."""
        if self.name == "numpy":
            import scipy.linalg

            return scipy.linalg.eigh(a, overwrite_a=False, check_finite=False, driver="evd")
        return self._torch.linalg.eigh(a)

    def sumsq(self, a, accurate=True):
        """Column sums of squares of a 2-D array without a temporary copy, accumulated in
        float64 (``accurate=False``: in ``a``'s dtype, 3x faster on numpy; float32
        accumulation over a few hundred rows costs ~1e-6 relative, enough to flip
        near-tied alphas)."""
        if self.name == "numpy":
            return np.einsum("ij,ij->j", a, a, dtype=np.float64 if accurate else None)
        if not accurate:
            return self._torch.linalg.vector_norm(a, dim=0) ** 2
        return self._torch.linalg.vector_norm(a, dim=0, dtype=self._torch.float64) ** 2

    def stack(self, arrays):
        """Backend arrays of one shape stacked along a new first axis."""
        return np.stack(arrays) if self.name == "numpy" else self._torch.stack(arrays)

    def add_product_(self, C, A, B, alpha=1.0):
        """``C += alpha * A @ B`` in place, for a small inner dimension (the rank-1 and
        rank-2 intercept updates of the ridge engine): one pass over ``C`` without a
        temporary of its size (numpy: by blocks of rows that stay in cache; numpy's own
        BLAS, since mixing in scipy's OpenBLAS makes the two thread pools contend)."""
        if self.name != "numpy":
            return C.addmm_(A, B, alpha=alpha)
        step = max(1, (1 << 19) // max(C.shape[1], 1))
        for i in range(0, C.shape[0], step):
            prod = A[i:i + step] @ B
            if alpha != 1.0:
                prod *= alpha
            C[i:i + step] += prod
        return C

    def rows(self, a, idx):
        """``a[idx]``: ``idx`` a slice (a view) or an index from :meth:`index` (a copy)."""
        return a[idx]

    def sqrt(self, a):
        return np.sqrt(a) if self.name == "numpy" else self._torch.sqrt(a)

    def synchronize(self):
        if self.is_cuda:
            self._torch.cuda.synchronize(self.device)

    def empty_cache(self):
        if self.is_cuda:
            self._torch.cuda.empty_cache()


def get_backend(backend="auto", device="auto", dtype="float32"):
    """Return a :class:`Backend` (or ``backend`` itself if it already is one).

    See :func:`resolve_backend` for how ``backend`` and ``device`` are decided.
    """
    if isinstance(backend, Backend):
        return backend
    return Backend(backend, device=device, dtype=dtype)
