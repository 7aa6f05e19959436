"""_utils.backend and _utils.memory."""

import numpy as np
import pytest

from neurotoolkit._utils import backend as backend_module
from neurotoolkit._utils.backend import Backend, get_backend, resolve_backend, to_numpy
from neurotoolkit._utils.device import cuda_available
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
    with pytest.raises(ValueError, match="Invalid value for `device`: expected 'auto' or 'cpu' "
                                         "with backend='numpy', got 'cuda'. Use backend='auto'"):
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


def test_resolve_backend_rules(monkeypatch):
    """backend="auto": torch exactly when the device asks for a GPU."""
    assert resolve_backend("auto", "cpu") == ("numpy", "cpu")
    assert resolve_backend("numpy", "auto") == ("numpy", "cpu")
    assert resolve_backend("numpy", None) == ("numpy", "cpu")
    for bad, match in [("jax", "Invalid value for `backend`"),
                       (("numpy", "cuda:1"), "expected 'auto' or 'cpu' with backend='numpy'")]:
        args = bad if isinstance(bad, tuple) else (bad, "auto")
        with pytest.raises(ValueError, match=match):
            resolve_backend(*args)
    with pytest.raises(TypeError, match="Invalid type for `device`"):
        resolve_backend("auto", 3)
    # "auto" follows the GPU: numpy without one, torch with one
    monkeypatch.setattr(backend_module, "cuda_available", lambda: False)
    assert resolve_backend("auto", "auto") == ("numpy", "cpu")
    pytest.importorskip("torch")
    monkeypatch.setattr(backend_module, "cuda_available", lambda: True)
    name, device = resolve_backend("auto", "auto")
    assert name == "torch" and device.type == ("cuda" if cuda_available() else "cpu")


def test_default_backend_on_this_machine():
    """The defaults give numpy without a GPU (today's path) and torch on CUDA with one."""
    be = get_backend()
    if cuda_available():
        assert be.name == "torch" and be.is_cuda
    else:
        assert be.name == "numpy" and be.device == "cpu"


@pytest.mark.skipif(cuda_available(), reason="checks the error on a machine without CUDA")
def test_cuda_alone_goes_to_torch_and_says_when_unavailable():
    pytest.importorskip("torch")
    # not the numpy backend's complaint: device="cuda" alone asks for torch
    with pytest.raises(ValueError, match="Invalid value for `device`: got 'cuda' but torch "
                                         "sees no CUDA device"):
        get_backend(device="cuda")


@pytest.mark.gpu
def test_ridge_family_on_cuda_matches_numpy(rng):
    """device="cuda" alone runs the ridge family on the GPU with the numpy results."""
    from neurotoolkit.encoding import BandedRidgeCV, RidgeCV, solve_ridge_cv

    X = rng.standard_normal((120, 17))
    Y = X @ rng.standard_normal((17, 300)) + rng.standard_normal((120, 300))
    alphas = np.logspace(-2, 4, 9)
    ref = solve_ridge_cv(X, Y, alphas, 4, backend="numpy", dtype="float64")
    for kw in (dict(device="cuda"), dict(), dict(backend="torch", device="cuda:0")):
        res = solve_ridge_cv(X, Y, alphas, 4, dtype="float64", **kw)
        assert res.info["backend"] == "torch" and res.info["device"].startswith("cuda")
        np.testing.assert_allclose(res.cv_scores, ref.cv_scores, rtol=1e-8, atol=1e-10)
        np.testing.assert_array_equal(res.best_alphas, ref.best_alphas)
        np.testing.assert_allclose(res.coef, ref.coef, rtol=1e-7, atol=1e-9)
    cpu = RidgeCV(alphas, 4, backend="numpy", dtype="float64").fit(X, Y)
    gpu = RidgeCV(alphas, 4, device="cuda", dtype="float64").fit(X, Y)
    assert gpu.results_.info["backend"] == "torch"
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-7, atol=1e-8)
    Xs = [X[:, :8], X[:, 8:]]
    kwargs = dict(alphas=alphas, cv=4, n_iter=4, random_state=0, dtype="float64")
    b_cpu = BandedRidgeCV(backend="numpy", **kwargs).fit(Xs, Y)
    b_gpu = BandedRidgeCV(device="cuda", **kwargs).fit(Xs, Y)
    assert b_gpu.results_.info["backend"] == "torch"
    np.testing.assert_array_equal(b_gpu.best_gammas_, b_cpu.best_gammas_)
    np.testing.assert_allclose(b_gpu.coef_, b_cpu.coef_, rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="expected 'auto' or 'cpu' with backend='numpy'"):
        RidgeCV(alphas, 4, backend="numpy", device="cuda").fit(X, Y)
