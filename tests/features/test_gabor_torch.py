"""TorchGaborPyramid and the "gabor" backbone: same features as GaborPyramid, differentiable."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit.data import StimulusSet
from neurotoolkit.features._gabor_core import _pool_edges, check_gabor_params, gabor_filters
from neurotoolkit.features import GaborPyramid, TorchGaborPyramid
from neurotoolkit.features._backbones import get_backbone


def _reference(gray, sfs, oris, grids, size, log=False):
    """Full-resolution numpy FFT convolution with the same filters (float64), pooled."""
    pad = size + size // 2
    g = gray - gray.mean(axis=(1, 2), keepdims=True)
    spec = np.fft.fft2(g, s=(pad, pad))
    filt = gabor_filters(size, sfs, oris, pad=pad).astype(np.complex128)
    energy = np.abs(np.fft.ifft2(spec[:, None, None] * filt)[..., :size, :size])
    if log:
        energy = np.log1p(energy)
    out = []
    for gg in grids:
        e = _pool_edges(size, gg)
        cells = np.stack(
            [np.stack([energy[..., e[r]:e[r + 1], e[c]:e[c + 1]].mean((-2, -1)) for c in range(gg)], -1)
             for r in range(gg)], -2)
        out.append(cells.reshape(*cells.shape[:3], gg * gg))
    return np.concatenate(out, -1).reshape(len(gray), -1)


def _grating(sf, ori_deg, size=64):
    yy, xx = np.mgrid[0:size, 0:size]
    th = np.deg2rad(ori_deg)
    return 0.5 + 0.5 * np.cos(2 * np.pi * sf * (xx * np.cos(th) - yy * np.sin(th)) / size)


@pytest.mark.parametrize("output", ["energy", "log_energy"])
def test_equals_full_resolution_fft_reference(rng, output):
    sfs, oris, grids, size = check_gabor_params(3, (2, 5, 9), (1, 3, 4), 37)
    rgb = rng.random((4, 3, size, size))
    gray = np.einsum("nchw,c->nhw", rgb, [0.299, 0.587, 0.114])
    tg = TorchGaborPyramid(3, (2, 5, 9), (1, 3, 4), 37, output=output, dtype="float64")
    out = tg(torch.as_tensor(rgb)).numpy()
    ref = _reference(gray, sfs, oris, grids, size, log=output == "log_energy")
    assert out.shape == (4, 3 * 3 * (1 + 9 + 16)) and out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    # float32 default agrees to single precision; batching does not matter
    out32 = TorchGaborPyramid(3, (2, 5, 9), (1, 3, 4), 37, output=output)(
        torch.as_tensor(rgb, dtype=torch.float32))
    assert out32.dtype == torch.float32
    np.testing.assert_allclose(out32.numpy(), ref, rtol=1e-4, atol=1e-5)
    one = tg(torch.as_tensor(rgb[2:3])).numpy()
    np.testing.assert_allclose(one[0], out[2], rtol=1e-12, atol=1e-14)


def test_matches_numpy_gabor_pyramid_names_and_values(rng):
    kw = {"n_orientations": 4, "spatial_frequencies": (3, 6, 12), "grid_sizes": (1, 2, 3),
          "image_size": 41}
    gp, tg = GaborPyramid(dtype="float64", **kw), TorchGaborPyramid(dtype="float64", **kw)
    np.testing.assert_array_equal(tg.get_feature_names_out(), gp.get_feature_names_out())
    assert tg.feature_table().equals(gp.feature_table())
    assert tg.n_features_out == gp.fit(None).n_features_out_
    imgs = rng.random((5, 41, 41, 3))
    xn = gp.transform(imgs)
    xt = tg(torch.as_tensor(imgs).permute(0, 3, 1, 2)).numpy()
    # numpy evaluates low-frequency bands on a coarser grid: a few % of the max at most;
    # the highest band uses the full grid there and agrees to float precision
    assert np.abs(xt - xn).max() <= 0.07 * np.abs(xn).max()
    top = (gp.feature_table()["sf"] == 12).to_numpy()
    np.testing.assert_allclose(xt[:, top], xn[:, top], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("sf", [4, 8])
def test_planted_grating_orientation_and_scale(sf):
    tg = TorchGaborPyramid(n_orientations=8)
    imgs = np.stack([_grating(sf, o) for o in (0, 45, 90, 135)])
    x = tg(torch.as_tensor(imgs, dtype=torch.float32)[:, None]).numpy()
    t = tg.feature_table()
    g1 = (t["grid"] == 1).to_numpy()
    for k, ori in enumerate((0, 45, 90, 135)):
        best = t[g1].iloc[np.argmax(x[k, g1])]
        assert (best["orientation"], best["sf"]) == (ori, sf)
    inner = ((t["grid"] == 4) & t["row"].isin([1, 2]) & t["col"].isin([1, 2]) & (t["sf"] == sf)
             & (t["orientation"] == 0)).to_numpy()
    assert x[0, inner] == pytest.approx(0.5, abs=0.03)  # documented energy scale


def test_gradcheck_float64_tiny_image_with_resize(rng):
    tg = TorchGaborPyramid(n_orientations=2, spatial_frequencies=(2, 3), grid_sizes=(1, 2), image_size=10,
                           dtype="float64")
    x = torch.as_tensor(rng.random((1, 3, 9, 11)), dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(tg, (x,), eps=1e-6, atol=1e-6, fast_mode=True)


def test_backbone_layers_gradients_and_errors(rng):
    bb = get_backbone("gabor", n_orientations=4, spatial_frequencies=(2, 4, 8), grid_sizes=(1, 2, 4),
                      image_size=32)
    assert bb.layers() == ["energy", "grid1", "grid2", "grid4", "embedding"]
    assert bb.weights_tag.startswith("weight-free:")
    assert get_backbone("gabor", n_orientations=5).weights_tag != bb.weights_tag
    x = torch.as_tensor(rng.random((3, 3, 45, 38)), dtype=torch.float32).requires_grad_(True)
    feats = bb.forward_features(bb.preprocess_tensor(x), layers=bb.layers())
    shapes = {k: tuple(v.shape) for k, v in feats.items()}
    assert shapes == {"energy": (3, 12), "grid1": (3, 12), "grid2": (3, 48), "grid4": (3, 192),
                      "embedding": (3, 12 * 21)}
    emb = feats["embedding"].reshape(3, 3, 4, 21)  # (n, sf, ori, cells): grid1, grid2, grid4
    torch.testing.assert_close(emb[..., :1].reshape(3, -1), feats["grid1"])
    torch.testing.assert_close(emb[..., 5:].reshape(3, -1), feats["grid4"])
    torch.testing.assert_close(feats["energy"], feats["grid1"], rtol=1e-5, atol=1e-6)
    # gradients reach the input pixels, finite and not all zero
    feats["grid2"][:, 7].sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="has no weights"):
        get_backbone("gabor", pretrained="laion2b_s34b_b79k")
    with pytest.raises(ValueError, match="Invalid value for `spatial_frequencies`"):
        get_backbone("gabor", spatial_frequencies=(8, 40), image_size=64)
    with pytest.raises(ValueError, match=r"Invalid value for `x`: expected a float tensor \(n, 3"):
        bb.model(torch.zeros(2, 4, 32, 32))


def test_real_92_object_images_via_backbone(objects92_dir):
    stim = StimulusSet.from_folder(objects92_dir)
    sub = stim.subset(stim.ids[::4])  # 23 images, 175 x 175 RGB
    bb = get_backbone("gabor")
    with torch.no_grad():
        x = bb.forward_features(sub.load_images(), layers=["embedding"])["embedding"].numpy()
    ref = GaborPyramid().transform(sub)  # PIL resize of uint8 RGB, then coarse-grid bands
    assert x.shape == ref.shape == (23, 672) and np.isfinite(x).all()
    # observed: max |diff| about 6 % of the max, correlation 0.998 over all values
    assert np.abs(x - ref).max() <= 0.1 * ref.max()
    assert np.corrcoef(x.ravel(), ref.ravel())[0, 1] > 0.99
    # the same images resized by PIL first agree at the full-grid band to resize precision
    small = sub.load_images(size=64)
    with torch.no_grad():
        x64 = bb.forward_features(small, layers=["embedding"])["embedding"].numpy()
    top = (GaborPyramid().feature_table()["sf"] == 16).to_numpy()
    np.testing.assert_allclose(x64[:, top], ref[:, top], rtol=1e-4, atol=1e-5)
