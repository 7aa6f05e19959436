"""GaborPyramid (weight-free features) and FeatureSpace."""

import numpy as np
import pandas as pd
import pytest

from neurotoolkit.data import StimulusSet
from neurotoolkit.features import FeatureSpace, GaborPyramid

S = 64


def _grating(sf, ori_deg, size=S):
    yy, xx = np.mgrid[0:size, 0:size]
    th = np.deg2rad(ori_deg)
    # wave vector at ori_deg counter-clockwise from x; image rows go down
    phase = 2 * np.pi * sf * (xx * np.cos(th) - yy * np.sin(th)) / size
    return 0.5 + 0.5 * np.cos(phase)


@pytest.mark.parametrize("sf", [4, 8])
def test_vertical_grating_drives_0deg_channel_at_matching_sf(sf):
    gp = GaborPyramid(n_orientations=8, spatial_frequencies=(2, 4, 8, 16))
    imgs = np.stack([_grating(sf, 0), _grating(sf, 90), _grating(sf, 45)])
    X = gp.fit_transform(imgs)
    table = gp.feature_table()
    g1 = (table["grid"] == 1).to_numpy()  # whole-image cells
    for k, ori in enumerate([0, 90, 45]):
        best = table[g1].iloc[np.argmax(X[k, g1])]
        assert best["orientation"] == ori
        assert best["sf"] == sf
    # a full-contrast grating at the centre frequency has energy ~0.5 in the image
    # interior (documented scale; zero padding lowers it near the border)
    inner = ((table["grid"] == 4) & table["row"].isin([1, 2]) & table["col"].isin([1, 2])).to_numpy()
    sel = inner & (table["sf"] == sf).to_numpy() & (table["orientation"] == 0).to_numpy()
    assert X[0, sel] == pytest.approx(0.5, abs=0.03)
    # the orthogonal channel stays near zero
    sel90 = g1 & (table["sf"] == sf).to_numpy() & (table["orientation"] == 90).to_numpy()
    assert X[0, sel90][0] < 0.05


def test_blob_top_left_is_retinotopic():
    img = np.full((80, 70), 0.5)  # non-square, resized to image_size
    yy, xx = np.mgrid[0:80, 0:70]
    img += 0.5 * np.exp(-(((xx - 12) ** 2 + (yy - 14) ** 2) / (2 * 5.0**2))) * np.cos(xx)
    gp = GaborPyramid(grid_sizes=(2, 4))
    x = gp.fit_transform(img[None])[0]
    t = gp.feature_table()
    for g in (2, 4):
        sel = (t["grid"] == g).to_numpy()
        cells = pd.Series(x[sel]).groupby([t["row"][sel].to_numpy(), t["col"][sel].to_numpy()]).sum()
        assert cells.idxmax() == (0, 0)
        assert cells[(0, 0)] > 3 * cells[(g - 1, g - 1)]


def test_shapes_dtype_names_and_table(rng):
    imgs = rng.integers(0, 256, size=(7, 37, 41, 3), dtype=np.uint8)
    gp = GaborPyramid(n_orientations=3, spatial_frequencies=(3, 6), grid_sizes=(1, 3), image_size=33,
                      dtype="float64")
    X = gp.fit_transform(imgs)
    n_feat = 2 * 3 * (1 + 9)
    assert X.shape == (7, n_feat) and X.dtype == np.float64
    assert gp.n_features_out_ == n_feat
    names = gp.get_feature_names_out()
    assert names.shape == (n_feat,) and len(set(names)) == n_feat
    assert names[0] == "sf3_ori0_g1_r0c0"
    assert "sf6_ori60_g3_r1c2" in set(names)
    t = gp.feature_table()
    assert list(t.columns) == ["sf", "orientation", "grid", "row", "col", "x", "y"]
    row = t.loc["sf6_ori60_g3_r1c2"]
    assert row["x"] == pytest.approx(5 / 6, abs=0.02) and row["y"] == pytest.approx(0.5, abs=0.02)
    # float [0, 1] input == uint8 input / 255; grayscale 2-D input matches its RGB copy
    Xf = gp.transform(imgs.astype(np.float64) / 255)
    np.testing.assert_allclose(Xf, X, rtol=1e-4, atol=1e-6)
    gray = rng.random((5, 33, 33))
    np.testing.assert_allclose(gp.transform(gray), gp.transform(np.repeat(gray[..., None], 3, -1)),
                               rtol=1e-4, atol=1e-6)
    # batching does not change results; float32 default
    gp2 = GaborPyramid(n_orientations=3, spatial_frequencies=(3, 6), grid_sizes=(1, 3), image_size=33,
                       batch_size=2)
    X2 = gp2.transform(imgs)
    assert X2.dtype == np.float32
    np.testing.assert_allclose(X2, X, rtol=1e-4, atol=1e-6)
    # log1p is applied before pooling: mean(log1p(e)) <= log1p(mean(e)) (Jensen), close for small e
    Xlog = gp.set_params(output="log_energy").transform(imgs)
    assert (Xlog <= np.log1p(X) + 1e-6).all()
    np.testing.assert_allclose(Xlog, np.log1p(X), rtol=0.02)


def test_invalid_parameters():
    with pytest.raises(ValueError, match="`spatial_frequencies`.*Nyquist"):
        GaborPyramid(spatial_frequencies=(4, 40), image_size=64).fit()
    with pytest.raises(ValueError, match="`output`"):
        GaborPyramid(output="power").fit()
    with pytest.raises(ValueError, match="`images`"):
        GaborPyramid().transform(np.zeros((3, 8)))


def test_stimulus_set_input_matches_array(rng):
    imgs = rng.integers(0, 256, size=(5, 64, 64, 3), dtype=np.uint8)
    stim = StimulusSet([f"s{k}" for k in range(5)], images=imgs)
    gp = GaborPyramid(grid_sizes=(1, 2))
    np.testing.assert_allclose(gp.transform(stim), gp.transform(imgs), rtol=1e-5, atol=1e-7)


def test_92_objects(objects92_dir):
    stim = StimulusSet.from_folder(objects92_dir)
    X = GaborPyramid(batch_size=40).fit_transform(stim)
    assert X.shape == (92, 4 * 8 * 21) and X.dtype == np.float32
    assert np.isfinite(X).all() and (X >= 0).all()
    assert (X.std(axis=0) > 0).all()  # every channel varies across real images


# ---------------------------------------------------------------- FeatureSpace
def test_feature_space_for_ids_concat_and_errors(rng):
    vals = rng.standard_normal((7, 11))
    ids = [f"im{k}" for k in range(7)]
    fs = FeatureSpace(vals, ids, "a", provenance={"backbone": "none"})
    assert fs.n_features == 11 and fs.n_stimuli == 7
    np.testing.assert_array_equal(fs.for_ids(["im3", "im0", "im3"]), vals[[3, 0, 3]])
    assert "7 stimuli x 11 features" in repr(fs)
    with pytest.raises(KeyError, match="im9"):
        fs.for_ids(["im1", "im9"])
    other = FeatureSpace(rng.standard_normal((7, 3)), ids[::-1], "b", feature_names=list("xyz"))
    joint = FeatureSpace.concat([fs, other])
    assert joint.values.shape == (7, 14) and joint.name == "a+b"
    np.testing.assert_array_equal(joint.for_ids(["im2"])[0, 11:], other.for_ids(["im2"])[0])
    assert joint.provenance["bands"] == {"a": (0, 11), "b": (11, 14)}
    assert joint.feature_names[-1] == "b:z"
    with pytest.raises(ValueError, match="`stimulus_ids`"):
        FeatureSpace(vals, ids[:5], "a")
    with pytest.raises(ValueError, match="duplicates"):
        FeatureSpace(vals, ids[:6] + ["im0"], "a")
    with pytest.raises(ValueError, match="`feature_names`"):
        FeatureSpace(vals, ids, "a", feature_names=["f"])
    with pytest.raises(ValueError, match="different stimulus"):
        FeatureSpace.concat([fs, FeatureSpace(vals, [f"x{k}" for k in range(7)], "c")])
