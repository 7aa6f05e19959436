"""ActivationMaximizer, image parameterizations and robustness transforms."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit.probing import ActivationMaximizer, EncoderObjective, SynthesisResult
from neurotoolkit.probing.synthesis._image_param import (
    COLOR_CORRELATION_SVD_SQRT,
    FourierImage,
    Jitter,
    Pad,
    PixelImage,
    RandomRotate,
    RandomScale,
    decorrelate_colors,
    make_transforms,
)


class _Linear:
    """Toy objective: a fixed weighting of the (pooled) pixels; features = pooled pixels."""

    def __init__(self, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(3 * 8 * 8, generator=g, dtype=torch.float32)

    def features(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, 8).reshape(len(x), -1)

    def __call__(self, x):
        return self.features(x) @ self.w / 8.0


# ------------------------------------------------------------------ parameterization
@pytest.mark.parametrize("size", [(16, 16), (15, 22)])
def test_fourier_image_shapes_range_and_seed(size):
    img = FourierImage(3, size, generator=torch.Generator().manual_seed(0))
    x = img().detach()
    assert x.shape == (3, 3, *size)
    assert float(x.min()) > 0 and float(x.max()) < 1
    # lucid's init (sd 0.01, /4) starts close to mid-grey
    assert abs(float(x.mean()) - 0.5) < 0.05
    assert img.spectrum.shape == (3, 3, size[0], size[1] // 2 + 1, 2)
    again = FourierImage(3, size, generator=torch.Generator().manual_seed(0))().detach()
    other = FourierImage(3, size, generator=torch.Generator().manual_seed(1))().detach()
    assert torch.equal(x, again) and not torch.equal(x, other)


def test_fourier_inverse_is_real_ifft_of_scaled_spectrum():
    img = FourierImage(2, (12, 10), decorrelate=False, generator=torch.Generator().manual_seed(3))
    spec = (img.scale * img.spectrum).detach().numpy()
    ref = np.fft.irfft2(spec[..., 0] + 1j * spec[..., 1], s=(12, 10), norm="ortho") / 4.0
    np.testing.assert_allclose(img.raw().detach().numpy(), ref, rtol=1e-5, atol=1e-6)
    # the spectrum scale is 1 / max(|f|, 1/size): largest at DC, smallest at the highest frequency
    s = img.scale[0, 0, ..., 0].numpy()
    assert s[0, 0] == pytest.approx(12.0) and s.min() == pytest.approx(1 / np.sqrt(0.5**2 + 0.5**2))


def test_decorrelate_colors_matches_matrix():
    x = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    M = COLOR_CORRELATION_SVD_SQRT / np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0).max()
    ref = np.einsum("dc,nchw->ndhw", M, x.numpy())
    np.testing.assert_allclose(decorrelate_colors(x).numpy(), ref, rtol=1e-12)


def test_pixel_image():
    img = PixelImage(2, 9, decorrelate=False, generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(img().detach().numpy(), torch.sigmoid(img.pixels).detach().numpy())


def test_blur_matches_gaussian_filter():
    from scipy.ndimage import gaussian_filter

    pix = PixelImage(2, (13, 17), decorrelate=False, sd=1.0, generator=torch.Generator().manual_seed(0))
    before = pix.raw().detach().numpy().copy()
    pix.blur_(1.0)
    ref = gaussian_filter(before, sigma=(0, 0, 1.0, 1.0), mode="mirror", truncate=3.0)
    np.testing.assert_allclose(pix.raw().detach().numpy(), ref, rtol=1e-5, atol=1e-6)

    four = FourierImage(1, (32, 32), decorrelate=False, sd=1.0, generator=torch.Generator().manual_seed(0))
    before = four.raw().detach().numpy().copy()
    four.blur_(2.0)
    ref = gaussian_filter(before, sigma=(0, 0, 2.0, 2.0), mode="wrap")  # FFT blur is circular
    after = four.raw().detach().numpy()
    assert np.abs(after - ref).max() < 0.02 * np.abs(before).max()
    assert np.abs(np.diff(after, axis=-1)).mean() < 0.5 * np.abs(np.diff(before, axis=-1)).mean()


# ------------------------------------------------------------------ transforms
def test_transform_shapes():
    rng = np.random.default_rng(0)
    x = torch.rand(2, 3, 40, 33)
    assert Pad(12)(x, rng).shape == (2, 3, 64, 57)
    assert float(Pad(2, fill=0.5)(x, rng)[0, 0, 0, 0]) == 0.5
    assert Jitter(8)(x, rng).shape == (2, 3, 33, 26)
    assert RandomScale([1.1])(x, rng).shape == (2, 3, 44, 36)
    assert RandomRotate([7.0])(x, rng).shape == x.shape
    assert torch.equal(RandomRotate([0.0])(x, rng), x)
    out = make_transforms("default")(x, rng)
    assert out.ndim == 4 and out.shape[:2] == (2, 3)
    assert make_transforms(None)(x, rng) is x


def test_rotation_by_90_degrees_rotates_the_image():
    x = torch.rand(1, 3, 8, 8)
    out = RandomRotate([90.0])(x, np.random.default_rng(0))
    assert torch.allclose(out, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5) or \
        torch.allclose(out, torch.rot90(x, -1, dims=(2, 3)), atol=1e-5)


def test_transforms_deterministic_by_seed_and_describe_roundtrip():
    x = torch.rand(2, 3, 48, 48)
    t = make_transforms("default")
    a = [t(x, np.random.default_rng(5)) for _ in range(2)]
    assert torch.equal(a[0], a[1])
    outs = {tuple(t(x, np.random.default_rng(s)).shape) for s in range(12)}
    assert len(outs) > 1  # the scale draw changes the size
    spec = t.describe()
    assert [d["name"] for d in spec] == ["pad", "jitter", "scale", "rotate", "jitter"]
    assert spec[0] == {"name": "pad", "width": 12, "fill": 0.5}
    t2 = make_transforms(spec)
    assert torch.equal(t2(x, np.random.default_rng(5)), a[0])
    with pytest.raises(ValueError, match="Invalid value for `transforms`"):
        make_transforms([{"name": "warp"}])
    with pytest.raises(ValueError, match="Invalid value for `transforms`"):
        make_transforms("lucid")


# ------------------------------------------------------------------ optimisation
def test_objective_increases_and_result():
    obj = _Linear()
    res = ActivationMaximizer(obj, image_size=24, n_steps=60, n_images=3, random_state=0).generate()
    assert isinstance(res, SynthesisResult)
    assert res.images.shape == (3, 3, 24, 24) and res.images.dtype == np.float32
    assert res.images.min() >= 0 and res.images.max() <= 1
    curve = res.history.groupby("step")["objective"].mean().to_numpy()
    assert len(res.history) == 60 * 3
    # monotone-ish: every block of 10 steps beats the previous one
    blocks = curve.reshape(6, 10).mean(axis=1)
    assert np.all(np.diff(blocks) > 0)
    with torch.no_grad():
        start = obj(torch.full((1, 3, 24, 24), 0.5)).item()
        np.testing.assert_allclose(res.scores, obj(torch.as_tensor(res.images)).numpy(), rtol=1e-5)
    assert res.scores.min() > start + 1.0
    assert res.params["transforms"][0]["name"] == "pad"
    assert res.params["image_param"]["kind"] == "FourierImage"
    assert res.params["learning_rate"] == 0.05 and res.params["method"] == "activation_maximization"
    # the per-step trace is the history's objective, one row per image
    assert res.trace.shape == (3, 60)
    np.testing.assert_allclose(res.trace.mean(axis=0), curve, rtol=1e-6)
    assert len(set(res.seeds)) == 1 and res.seeds[0] == res.params["seed"]
    best = res.top(0.5)
    assert len(best) == 2 and np.all(np.diff(best.scores) <= 0)
    np.testing.assert_array_equal(best.images[0], res.images[res.order()[0]])
    assert set(best.history["image"]) == {0, 1} and len(best.history) == 60 * 2
    assert res.to_uint8().shape == (3, 24, 24, 3)
    assert list(res.order()) == list(np.argsort(-res.scores))


def test_deterministic_by_seed():
    kw = dict(image_size=16, n_steps=5, n_images=2)
    a = ActivationMaximizer(_Linear(), random_state=3, **kw).generate()
    b = ActivationMaximizer(_Linear(), random_state=3, **kw).generate()
    c = ActivationMaximizer(_Linear(), random_state=4, **kw).generate()
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_regularisers_and_diversity_options():
    kw = dict(image_size=20, n_steps=40, n_images=3, random_state=0, transforms=None)
    plain = ActivationMaximizer(_Linear(), **kw).generate()
    smooth = ActivationMaximizer(_Linear(), tv_weight=5.0, l2_weight=5.0, **kw).generate()

    def tv(im):
        return np.abs(np.diff(im, axis=-1)).mean() + np.abs(np.diff(im, axis=-2)).mean()

    assert tv(smooth.images) < tv(plain.images)
    assert np.abs(smooth.images - 0.5).mean() < np.abs(plain.images - 0.5).mean()
    pix = ActivationMaximizer(_Linear(), parameterization="pixel", diversity_weight=1.0, **kw).generate()
    assert pix.params["image_param"]["kind"] == "PixelImage" and pix.params["diversity_weight"] == 1.0
    blurred = ActivationMaximizer(_Linear(), parameterization="pixel", blur_every=1, blur_sigma=1.0,
                                  **kw).generate()
    assert tv(blurred.images) < tv(pix.images) and blurred.params["blur_every"] == 1
    assert np.isfinite(pix.history["loss"]).all()


def test_deprecated_lr():
    kw = dict(image_size=16, n_steps=5, n_images=2, random_state=0)
    new = ActivationMaximizer(_Linear(), learning_rate=0.2, **kw).generate()
    with pytest.warns(FutureWarning, match=r"`lr` of ActivationMaximizer is deprecated.*"
                                           r"`learning_rate=0.2`"):
        old = ActivationMaximizer(_Linear(), lr=0.2, **kw).generate()
    np.testing.assert_array_equal(old.images, new.images)
    assert old.params["learning_rate"] == 0.2
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="Invalid value for `lr`"):
        ActivationMaximizer(_Linear(), lr=-1.0, **kw).generate()


def test_validation():
    with pytest.raises(TypeError, match="Invalid value for `objective`"):
        ActivationMaximizer("ffa").generate()
    with pytest.raises(ValueError, match="Invalid value for `learning_rate`: expected a positive"):
        ActivationMaximizer(_Linear(), learning_rate=-1.0).generate()
    with pytest.raises(TypeError, match="Invalid type for `device`"):
        ActivationMaximizer(_Linear(), device=0, n_steps=1, image_size=8).generate()
    with pytest.raises(ValueError, match="Invalid value for `blur_sigma`: expected a positive"):
        ActivationMaximizer(_Linear(), blur_sigma=0).generate()
    with pytest.raises(ValueError, match="Invalid value for `parameterization`"):
        ActivationMaximizer(_Linear(), parameterization="cppn").generate()
    bad = lambda x: x.mean(dim=(2, 3))
    with pytest.raises(ValueError, match="return a tensor of shape \\(2,\\)"):
        ActivationMaximizer(bad, n_images=2, image_size=16, n_steps=1).generate()


# ------------------------------------------------------------------ the simulator claim
def test_face_roi_synthesis_beats_natural_images_and_is_face_selective(objects92_dir):
    """Simulated subject with a planted FFA (face-driven) over the 92 objects.

    Activation maximization of the FFA's mean prediction under a torch-Gabor
    encoder gives images that (1) the encoder predicts above every natural
    image, (2) a held-out encoder (another Gabor pyramid) also ranks above
    every natural image, and (3) the simulator's ground truth (a face probe on
    its own feature space) calls faces, while images made for LOC (driven by
    "inanimate") are not called faces.
    """
    from neurotoolkit.data import StimulusSet
    from neurotoolkit.simulation import simulate_recordings
    from neurotoolkit.encoding import VoxelwiseEncoder
    from neurotoolkit.features import extract_features, get_backbone
    from neurotoolkit.probing import GroundTruthJudge, compare_to_natural

    stim = StimulusSet.from_folder(objects92_dir)
    sim = simulate_recordings(stimuli=stim, n_subjects=1, n_repeats_train=2, random_state=0)
    train, _ = sim.recordings[0].split(test_ids=sim.recordings[0].meta["test_ids"])
    assert sim.truth.drivers["FFA"] == "face" and sim.truth.drivers["LOC"] == "inanimate"

    gabor = get_backbone("gabor")
    enc = VoxelwiseEncoder(features=extract_features(stim, gabor, batch_size=46)).fit(train)
    held = get_backbone("gabor", n_orientations=6, spatial_frequencies=(3, 6, 12), grid_sizes=(1, 3),
                        image_size=48)
    enc_held = VoxelwiseEncoder(features=extract_features(stim, held, batch_size=46)).fit(train)
    judge = GroundTruthJudge(sim.truth).fit()

    results = {}
    for roi in ("FFA", "LOC"):
        obj = EncoderObjective(enc, gabor.model, units=roi)
        res = ActivationMaximizer(obj, image_size=64, n_steps=64, n_images=2, random_state=0).generate()
        own = compare_to_natural(obj, res, stim)
        other = compare_to_natural(EncoderObjective(enc_held, held.model, units=roi), res, stim)
        results[roi] = (res, own, other, judge.evaluate(res, roi))
    res, own, other, verdict = results["FFA"]
    assert own.summary["fraction_above_best_natural"] == 1.0
    assert other.summary["fraction_above_best_natural"] == 1.0
    assert (verdict["category"] == "face").all()
    assert verdict["p_face"].min() > results["LOC"][3]["p_face"].max()
    noise = np.random.default_rng(0).random((3, 3, 64, 64)).astype(np.float32)  # control images
    assert verdict["p_face"].min() > judge.evaluate(noise, "FFA")["p_face"].max()
    assert (results["LOC"][3]["category"] != "face").all()
