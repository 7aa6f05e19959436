"""_utils.backend and _utils.memory."""

import numpy as np
import pytest

from neurotoolkit._utils.backend import Backend, get_backend, to_numpy
from neurotoolkit._utils.memory import (
    batch_size_from_budget,
    parse_bytes,
    resolve_memory_budget,
    ridge_cv_batch_size,
)


def test_numpy_backend_basics():
    be = get_backend("numpy", dtype="float32")
    a = be.asarray([[1.0, 2.0], [2.0, 5.0]])
    assert a.dtype == np.float32 and be.itemsize == 4
    c = be.copy(a)
    c[0, 0] = 9
    assert a[0, 0] == 1
    w, v = be.eigh(be.cast(a, "float64"))
    np.testing.assert_allclose(v @ np.diag(w) @ v.T, [[1, 2], [2, 5]], atol=1e-12)
    assert get_backend(be) is be
    with pytest.raises(ValueError, match="Invalid value for `device`"):
        Backend("numpy", device="cuda")
    with pytest.raises(ValueError, match="Invalid value for `dtype`"):
        Backend("numpy", dtype="int32")


def test_torch_backend_cpu():
    torch = pytest.importorskip("torch")
    be = get_backend("torch", device="cpu", dtype="float64")
    x = np.arange(6.0).reshape(3, 2)
    a = be.copy(x)
    assert isinstance(a, torch.Tensor) and a.dtype == torch.float64
    a[0, 0] = 7
    assert x[0, 0] == 0  # copy never aliases the numpy input
    rows = a[be.index([2, 0])]
    np.testing.assert_array_equal(to_numpy(rows), [[4, 5], [7, 1]])
    assert be.oom_errors[0] is MemoryError
    w, v = be.eigh(be.asarray(np.array([[2.0, 1.0], [1.0, 2.0]])))
    np.testing.assert_allclose(to_numpy(w), [1, 3])


def test_parse_bytes():
    assert parse_bytes("4GB") == 4 * 10**9
    assert parse_bytes("1.5 GiB") == int(1.5 * 2**30)
    assert parse_bytes(1000) == 1000
    assert parse_bytes("512mb") == 512 * 10**6
    for bad in ("lots", "-3GB", "4 parsecs"):
        with pytest.raises(ValueError, match="Invalid value for `memory_budget`"):
            parse_bytes(bad)
    with pytest.raises(TypeError, match="Invalid value for `memory_budget`"):
        parse_bytes(True)


def test_budget_and_batch_sizes():
    assert 0 < resolve_memory_budget(None) < 10**15
    assert resolve_memory_budget("2GB") == 2 * 10**9
    assert batch_size_from_budget(1000, 200, 100, 50) == 8
    assert batch_size_from_budget(10**9, 0, 1, 50) == 50
    with pytest.raises(MemoryError, match="too small"):
        batch_size_from_budget(1000, 990, 100, 50)
    # Card 1 formula, by hand: b=4, n_tr=80, n_te=20, p=10, r=10, A=5, A_b=1
    fixed = 4 * (80 * 10 + 20 * 10 + 80 * 10 + 10 * 10 + 20 * 10)
    per = 4 * (80 + 20 + 10 + 20 + 5)
    assert ridge_cv_batch_size(fixed + 7 * per + 1, 80, 20, 10, 10, 5, 4, 100) == 7
