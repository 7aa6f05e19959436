"""project_to_natural: streamed BrainSCUBA projection against a direct full-softmax reference."""

import numpy as np
import pytest

from neurotoolkit.probing import NaturalProjection, project_to_natural


def _direct(W, E, tau):
    """Card 7a written out with the full (n_voxels, n_pool) softmax."""
    W_hat = W / np.linalg.norm(W, axis=1, keepdims=True)
    norms = np.linalg.norm(E, axis=1)
    E_hat = E / norms[:, None]
    logits = W_hat @ E_hat.T / tau
    logits -= logits.max(axis=1, keepdims=True)
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    d = P @ E_hat
    return (P @ norms)[:, None] * d / np.linalg.norm(d, axis=1, keepdims=True), P


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((13, 11))
    E = rng.standard_normal((37, 11)) * rng.uniform(0.5, 3.0, (37, 1)) + 0.5
    return W, E


@pytest.mark.parametrize("batch_size", [1, 5, 36, 37, 100])
@pytest.mark.parametrize("tau", [1 / 150, 1 / 10, 2.0])
def test_matches_direct_for_any_chunk_size(problem, batch_size, tau):
    W, E = problem
    ref, P = _direct(W, E, tau)
    out = project_to_natural(W, E, temperature=tau, batch_size=batch_size, dtype="float64",
                             voxel_batch_size=4, top_k=4)
    assert isinstance(out, NaturalProjection)
    np.testing.assert_allclose(out.embeddings, ref, rtol=1e-9, atol=1e-9)
    order = np.argsort(-P, axis=1, kind="stable")[:, :4]
    np.testing.assert_array_equal(out.indices, order)
    np.testing.assert_allclose(out.weights, np.take_along_axis(P, order, axis=1), atol=1e-12)


def test_pool_as_iterable_of_chunks_and_memmap(problem, tmp_path):
    W, E = problem
    ref, _ = _direct(W, E, 1 / 150)
    chunks = (E[k:k + 10] for k in range(0, len(E), 10))
    out = project_to_natural(W, chunks, batch_size=3, dtype="float64", top_k=2)
    np.testing.assert_allclose(out.embeddings, ref, rtol=1e-9, atol=1e-9)
    assert out.indices.max() < len(E)  # indices count rows over the whole stream
    mm = np.lib.format.open_memmap(tmp_path / "pool.npy", mode="w+", dtype=np.float32,
                                   shape=E.shape)
    mm[:] = E
    mm.flush()
    pool = np.load(tmp_path / "pool.npy", mmap_mode="r")
    out32 = project_to_natural(W, pool, memory_budget="200KB")
    assert out32.dtype == np.float32 and out32.shape == (13, 11)
    np.testing.assert_allclose(out32, ref, rtol=2e-4, atol=2e-4)


def test_small_temperature_gives_nearest_neighbour(problem):
    W, E = problem
    out = project_to_natural(W, E, temperature=1e-9, dtype="float64")
    cos = (W / np.linalg.norm(W, axis=1, keepdims=True)) @ (
        E / np.linalg.norm(E, axis=1, keepdims=True)).T
    nearest = E[cos.argmax(axis=1)]  # with its own norm
    np.testing.assert_allclose(out, nearest, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("tau", [np.inf, 1e9])
def test_large_temperature_gives_mean_direction_with_mean_norm(problem, tau):
    W, E = problem
    out = project_to_natural(W, E, temperature=tau, batch_size=6, dtype="float64")
    norms = np.linalg.norm(E, axis=1)
    d = (E / norms[:, None]).mean(axis=0)
    expected = norms.mean() * d / np.linalg.norm(d)
    np.testing.assert_allclose(out, np.tile(expected, (len(W), 1)), rtol=1e-7, atol=1e-7)


def test_norm_is_realistic_and_scale_of_weights_irrelevant(problem):
    W, E = problem
    a = project_to_natural(W, E, dtype="float64")
    b = project_to_natural(W * np.arange(1, 14)[:, None] * 1e3, E, dtype="float64")
    np.testing.assert_allclose(a, b, rtol=1e-10)
    norms = np.linalg.norm(E, axis=1)
    out_norms = np.linalg.norm(a, axis=1)
    assert (out_norms >= norms.min() - 1e-9).all() and (out_norms <= norms.max() + 1e-9).all()


def test_torch_backend_matches_numpy(problem):
    pytest.importorskip("torch")
    W, E = problem
    ref = project_to_natural(W, E, dtype="float64", top_k=3)
    out = project_to_natural(W, E, backend="torch", device="cpu", batch_size=8,
                             voxel_batch_size=5, top_k=3)
    np.testing.assert_allclose(out.embeddings, ref.embeddings, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(out.indices, ref.indices)
    np.testing.assert_allclose(out.weights, ref.weights, rtol=1e-4, atol=1e-6)


def test_single_vector_and_errors(problem):
    W, E = problem
    assert project_to_natural(W[0], E).shape == (1, 11)
    with pytest.raises(ValueError, match="Invalid value for `image_embeddings`"):
        project_to_natural(W, E[:, :5])
    with pytest.raises(ValueError, match="Invalid value for `temperature`"):
        project_to_natural(W, E, temperature=0)
    with pytest.raises(ValueError, match="Invalid value for `top_k`"):
        project_to_natural(W, E, top_k=0)
    with pytest.raises(TypeError, match="Invalid value for `image_embeddings`"):
        project_to_natural(W, 3.0)
    with pytest.raises(ValueError, match=r"chunk 1"):
        project_to_natural(W, iter([E[:3], E[:3, :4]]))
    with pytest.raises(MemoryError, match="memory_budget"):
        project_to_natural(W, E, memory_budget=100)
