"""EncoderObjective: a fitted encoder as a differentiable function of images."""

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit.data import Recording, StimulusSet
from neurotoolkit.encoding import VoxelwiseEncoder
from neurotoolkit.features import FeatureSpace, GaborPyramid, TorchGaborPyramid
from neurotoolkit.probing import EncoderObjective, encoder_objective

GABOR = dict(n_orientations=3, spatial_frequencies=(2.0, 4.0), grid_sizes=(1, 2), image_size=16)



@pytest.fixture(scope="module")
def fitted():
    """37 random images (23 px), 13 units in 3 ROIs, an encoder on torch-Gabor features."""
    rng = np.random.default_rng(0)
    n, n_units = 37, 13
    images = rng.random((n, 23, 23, 3)).astype(np.float32)
    ids = [f"im{k:02d}" for k in range(n)]
    extractor = TorchGaborPyramid(**GABOR, dtype="float64")
    x = torch.as_tensor(images.transpose(0, 3, 1, 2), dtype=torch.float64)
    with torch.no_grad():
        X = extractor(x).numpy()
    Y = X @ rng.standard_normal((X.shape[1], n_units)) + 0.1 * rng.standard_normal((n, n_units))
    units = pd.DataFrame({"roi": ["A"] * 5 + ["B"] * 4 + ["C"] * 4},
                         index=[f"u{k}" for k in range(n_units)])
    rec = Recording(Y.astype(np.float32), ids, units, subject="s1")
    fs = FeatureSpace(X, ids, name="gabor")
    enc = VoxelwiseEncoder(features=fs, cv=4).fit(rec)
    return dict(images=images, x=x, ids=ids, X=X, enc=enc, extractor=extractor, rec=rec)


def test_predict_matches_encoder_predict(fitted):
    obj = EncoderObjective(fitted["enc"], fitted["extractor"], dtype="float64")
    with torch.no_grad():
        pred = obj.predict(fitted["x"]).numpy()
    ref = fitted["enc"].predict(fitted["ids"])
    assert pred.shape == (37, 13)
    np.testing.assert_allclose(pred, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
    # any image size: the extractor resizes (differentiably)
    big = torch.nn.functional.interpolate(fitted["x"], size=(31, 29), mode="bilinear")
    assert obj.predict(big).shape == (37, 13)


def test_linear_readout_reproduces_predict(fitted):
    ro = fitted["enc"].linear_readout()
    assert ro["coef"].shape == (fitted["X"].shape[1], 13) and ro["intercept"].shape == (13,)
    Z = (fitted["X"] - ro["feature_mean"]) / ro["feature_scale"]
    np.testing.assert_allclose(Z @ ro["coef"] + ro["intercept"], fitted["enc"].predict(fitted["ids"]),
                               rtol=1e-6, atol=1e-6)


def test_units_rois_and_contrast(fitted):
    x = fitted["x"][:7]
    full = EncoderObjective(fitted["enc"], fitted["extractor"], dtype="float64")
    with torch.no_grad():
        P = full.predict(x).numpy()
        a = EncoderObjective(fitted["enc"], fitted["extractor"], units="A", dtype="float64")(x).numpy()
        ab = EncoderObjective(fitted["enc"], fitted["extractor"], units="A", contrast=["B", "C"],
                              dtype="float64")(x).numpy()
        one = encoder_objective(fitted["enc"], fitted["extractor"], units=6, dtype="float64")(x).numpy()
        mask = np.zeros(13, bool)
        mask[[1, 8, 12]] = True
        masked = EncoderObjective(fitted["enc"], fitted["extractor"], units=mask, dtype="float64")(x).numpy()
        named = EncoderObjective(fitted["enc"], fitted["extractor"], units=["u1", "u8", "u12"],
                                 dtype="float64")(x).numpy()
    np.testing.assert_allclose(a, P[:, :5].mean(1), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ab, P[:, :5].mean(1) - P[:, 5:].mean(1), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(one, P[:, 6], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(masked, P[:, [1, 8, 12]].mean(1), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(named, masked, rtol=1e-12)
    assert full.describe()["n_units"] == 13


def test_readout_tuple_and_dict(fitted):
    rng = np.random.default_rng(1)
    coef, icpt = rng.standard_normal((7, 3)), rng.standard_normal(3)
    lin = torch.nn.Linear(12, 7, bias=False).double()
    extractor = lambda im: lin(im.mean(dim=(2, 3)).repeat(1, 4))
    x = torch.rand(5, 3, 9, 11, dtype=torch.float64)
    obj = EncoderObjective((coef, icpt), extractor, units=[0, 2], dtype="float64")
    with torch.no_grad():
        f = extractor(x).numpy()
        np.testing.assert_allclose(obj(x).numpy(), (f @ coef + icpt)[:, [0, 2]].mean(1), rtol=1e-10)
    units = pd.DataFrame({"roi": ["X", "Y", "X"]})
    obj2 = EncoderObjective({"coef": coef, "intercept": icpt, "feature_mean": 1.0, "feature_scale": 2.0,
                             "units": units}, extractor, units="X", dtype="float64")
    with torch.no_grad():
        np.testing.assert_allclose(obj2(x).numpy(), (((f - 1) / 2) @ coef + icpt)[:, [0, 2]].mean(1),
                                   rtol=1e-10)


def test_gradcheck_toy_objective():
    rng = np.random.default_rng(2)
    coef = rng.standard_normal((12, 4))
    lin = torch.nn.Conv2d(3, 3, 3).double()
    extractor = lambda im: torch.tanh(lin(im)).mean(dim=(2, 3)).repeat(1, 4)
    obj = EncoderObjective((coef, rng.standard_normal(4)), extractor, units=[0, 1], contrast=[3],
                           dtype="float64")
    x = torch.rand(2, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(obj, (x,), eps=1e-6, atol=1e-5)


def test_gradcheck_gabor_objective(fitted):
    obj = EncoderObjective(fitted["enc"], fitted["extractor"], units="B", dtype="float64")
    x = (0.25 + 0.5 * torch.rand(1, 3, 16, 16, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(obj, (x,), eps=1e-6, atol=1e-5)


def test_gabor_transformer_infers_extractor(fitted):
    stim = StimulusSet(fitted["ids"], images=(fitted["images"] * 255).astype(np.uint8))
    enc = VoxelwiseEncoder(features=GaborPyramid(**GABOR), cv=4).fit(fitted["rec"], stim)
    obj = EncoderObjective(enc, units="C")  # TorchGaborPyramid with the same parameters
    assert isinstance(obj.feature_extractor, TorchGaborPyramid)
    x = torch.as_tensor(stim.images.transpose(0, 3, 1, 2) / 255.0, dtype=torch.float32)
    with torch.no_grad():
        pred = obj.predict(x).numpy()
    ref = enc.predict(fitted["ids"])
    # numpy and torch pyramids resize differently (PIL vs torch): close, not identical
    assert np.corrcoef(pred.ravel(), ref.ravel())[0, 1] > 0.97


def test_errors(fitted):
    enc, ext = fitted["enc"], fitted["extractor"]
    with pytest.raises(ValueError, match="Invalid value for `units`: expected ROI names"):
        EncoderObjective(enc, ext, units="FFA")
    with pytest.raises(ValueError, match="boolean mask of shape \\(13,\\)"):
        EncoderObjective(enc, ext, units=np.ones(4, bool))
    with pytest.raises(ValueError, match="unit indices in \\[0, 13\\)"):
        EncoderObjective(enc, ext, contrast=[3, 40])
    with pytest.raises(ValueError, match="returns 20 features but the encoder was fitted on 30"):
        EncoderObjective(enc, TorchGaborPyramid(n_orientations=2, spatial_frequencies=(2.0, 4.0),
                                                grid_sizes=(1, 2), image_size=16))
    with pytest.raises(ValueError, match="ROI names need a units table"):
        EncoderObjective((np.ones((3, 2)), np.zeros(2)), lambda x: x.mean(dim=(2, 3)), units="A")
    with pytest.raises(ValueError, match="feature_extractor`: expected a torch module"):
        EncoderObjective(enc)
    with pytest.raises(TypeError, match="fitted VoxelwiseEncoder"):
        EncoderObjective("encoder", ext)
    obj = EncoderObjective((np.ones((5, 2)), np.zeros(2)), lambda x: x.mean(dim=(2, 3)))
    with pytest.raises(ValueError, match="returned 3 features, the encoder expects 5"):
        obj(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="expected a float tensor \\(B, 3, H, W\\)"):
        obj(torch.rand(2, 8, 8))


def test_backbone_extractor_clip_matches_extracted_features():
    """The BrainDiVE set-up: an encoder on L2-normalised CLIP embeddings (tiny random open_clip)."""
    from neurotoolkit.features import extract_features, get_backbone
    from neurotoolkit.features._backbones import import_torchvision
    from neurotoolkit.probing import backbone_extractor

    import_torchvision()
    pytest.importorskip("open_clip")
    cfg = {"embed_dim": 24,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8, "head_width": 32},
           "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 1, "layers": 1}}
    clip = get_backbone("open_clip:p1-objective-tiny", pretrained=None, model_cfg=cfg, random_state=0)
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (29, 40, 36, 3), dtype=np.uint8)
    ids = [f"s{k}" for k in range(29)]
    stim = StimulusSet(ids, images=images)
    fs = extract_features(stim, clip, normalize=True, batch_size=16)
    Y = fs.values @ rng.standard_normal((24, 7)) + 0.05 * rng.standard_normal((29, 7))
    units = pd.DataFrame({"roi": ["FFA"] * 3 + ["PPA"] * 4})
    enc = VoxelwiseEncoder(features=fs, cv=3).fit(Recording(Y, ids, units, subject="s"))
    obj = EncoderObjective(enc, backbone_extractor(clip, "embedding", normalize=True), units="FFA",
                           contrast="PPA")
    x = torch.as_tensor(images.transpose(0, 3, 1, 2) / 255.0, dtype=torch.float32).requires_grad_(True)
    out = obj(x)
    P = enc.predict(ids)
    np.testing.assert_allclose(out.detach().numpy(), P[:, :3].mean(1) - P[:, 3:].mean(1), rtol=1e-3,
                               atol=1e-4)
    out.sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert obj.describe()["feature_extractor"]["layer"] == "embedding"
