"""Recording: validation errors, dropping units, geometry (NIfTI, surface), concatenation."""

import numpy as np
import pandas as pd
import pytest

from neurotoolkit.data import Recording, concatenate_recordings


def _rec(rng, n_trials=37, n_units=11, **kw):
    ids = [f"s{k % 13}" for k in range(n_trials)]
    return Recording(rng.normal(size=(n_trials, n_units)), ids, **kw)


# ------------------------------------------------------------------ errors
def test_length_mismatch(rng):
    with pytest.raises(ValueError, match=r"`stimulus_ids`: expected one id per trial \(length 37"):
        Recording(rng.normal(size=(37, 11)), [str(k) for k in range(36)])
    with pytest.raises(ValueError, match=r"`units`: expected one row per unit \(11"):
        Recording(rng.normal(size=(37, 11)), range(37), units=pd.DataFrame({"roi": ["V1"] * 10}))
    with pytest.raises(ValueError, match=r"`runs`: expected shape \(37,\)"):
        Recording(rng.normal(size=(37, 11)), range(37), runs=np.zeros(30))


def test_nonfinite_units_listed_and_dropped(rng):
    Y = rng.normal(size=(37, 11))
    Y[3, 2] = np.nan
    Y[5, 7] = np.inf
    with pytest.raises(ValueError, match=r"2 unit\(s\) contain NaN or inf.*unit00002.*unit00007"):
        Recording(Y, range(37))
    rec = Recording(Y, range(37), drop_nonfinite=True)
    assert rec.n_units == 9
    assert "unit00002" not in rec.units.index and "unit00007" not in rec.units.index
    assert rec.meta["dropped_units"] == ["unit00002", "unit00007"]
    np.testing.assert_array_equal(rec.responses, np.delete(Y, [2, 7], axis=1))


def test_constant_units(rng):
    Y = rng.normal(size=(37, 11))
    Y[:, 4] = 2.5
    Y[:, 9] = 0.0
    units = pd.DataFrame({"roi": ["V1"] * 11}, index=[f"v{k}" for k in range(11)])
    with pytest.raises(ValueError, match=r"2 unit\(s\) are constant over trials.*'v4', 'v9'.*drop_constant=True"):
        Recording(Y, range(37), units=units)
    meta = {"dropped_units": ["earlier"]}
    rec = Recording(Y, range(37), units=units, drop_constant=True, meta=meta)
    assert rec.units.index.tolist() == [f"v{k}" for k in range(11) if k not in (4, 9)]
    assert rec.meta["dropped_units"] == ["earlier", "v4", "v9"]
    assert meta["dropped_units"] == ["earlier"]  # caller's dict untouched
    # one trial: every unit is "constant", no check
    assert Recording(Y[:1], ["a"]).n_units == 11
    # derived recordings are not re-checked
    Y2 = rng.normal(size=(37, 11))
    Y2[:5, 3] = 1.0
    part = Recording(Y2, range(37)).select_trials(np.arange(5))
    assert part.n_units == 11 and np.ptp(part.responses[:, 3]) == 0


def test_duplicated_unit_names_and_missing_roi(rng):
    units = pd.DataFrame({"roi": ["V1"] * 11}, index=["a"] * 2 + [f"u{k}" for k in range(9)])
    with pytest.raises(ValueError, match=r"duplicated unit names \['a'\]"):
        Recording(rng.normal(size=(37, 11)), range(37), units=units)
    with pytest.raises(ValueError, match="expected a 'roi' column"):
        Recording(rng.normal(size=(37, 11)), range(37), units=pd.DataFrame({"x": range(11)}))


def test_select_unknown_roi(rng):
    units = pd.DataFrame({"roi": ["V1"] * 5 + ["FFA"] * 6})
    rec = Recording(rng.normal(size=(37, 11)), range(37), units=units)
    with pytest.raises(ValueError, match=r"unknown ROI name\(s\) \['PPA'\]; this recording has \['FFA', 'V1'\]"):
        rec.select(roi=["FFA", "PPA"])
    sub = rec.select(roi="FFA")
    np.testing.assert_array_equal(sub.responses, rec.responses[:, 5:])


# ---------------------------------------------------------------- geometry
def _fmri_rec(rng, n_trials=7):
    shape = (4, 5, 6)
    ijk = np.array([[0, 0, 0], [3, 4, 5], [1, 2, 3], [2, 0, 5], [3, 1, 0]])
    units = pd.DataFrame({"roi": "V1", "i": ijk[:, 0], "j": ijk[:, 1], "k": ijk[:, 2]})
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-10, -20, 5]
    meta = {"affine": affine, "volume_shape": shape}
    rec = Recording(rng.normal(size=(n_trials, 5)), range(n_trials), units=units, meta=meta)
    return rec, ijk, affine, shape


def test_to_nifti_3d_and_4d(rng):
    rec, ijk, affine, shape = _fmri_rec(rng)
    values = np.arange(1.0, 6.0)
    img = rec.to_nifti(values)
    data = np.asarray(img.dataobj)
    assert data.shape == shape
    np.testing.assert_array_equal(img.affine, affine)
    np.testing.assert_array_equal(data[tuple(ijk.T)], values)
    assert data.sum() == values.sum()  # everything else is 0
    maps = rng.normal(size=(3, 5))
    img4 = rec.to_nifti(maps)
    data4 = np.asarray(img4.dataobj)
    assert data4.shape == shape + (3,)
    np.testing.assert_array_equal(data4[ijk[:, 0], ijk[:, 1], ijk[:, 2], :], maps.T)
    # the same voxel through nilearn-style world coordinates
    world = affine @ np.r_[ijk[1], 1]
    assert np.allclose(np.linalg.inv(img.affine) @ world, np.r_[ijk[1], 1])


def test_to_nifti_errors(rng):
    rec, *_ = _fmri_rec(rng)
    with pytest.raises(ValueError, match=r"`values`: expected a numeric array \(n_units,\).*n_units=5"):
        rec.to_nifti(np.ones(4))
    no_geom = Recording(rng.normal(size=(7, 5)), range(7))
    with pytest.raises(ValueError, match=r"needs the voxel geometry.*\['i', 'j', 'k', 'meta\[\"affine\"\]'"):
        no_geom.to_nifti(np.ones(5))
    meg = Recording(rng.normal(size=(7, 5)), range(7), modality="meg")
    with pytest.raises(ValueError, match="to_nifti needs an fMRI recording, got modality='meg'"):
        meg.to_nifti(np.ones(5))
    bad = rec._replace(meta={**rec.meta, "volume_shape": (2, 2, 2)})
    with pytest.raises(ValueError, match="inside volume_shape"):
        bad.to_nifti(np.ones(5))


def test_to_surface(rng):
    units = pd.DataFrame(
        {"roi": "V1", "hemisphere": ["lh", "lh", "rh", "L", "right"], "vertex": [4, 0, 2, 7, 9]}
    )
    rec = Recording(rng.normal(size=(6, 5)), range(6), units=units)
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    maps = rec.to_surface(values)
    assert set(maps) == {"left", "right"}
    assert maps["left"].shape == (8,) and maps["right"].shape == (10,)
    np.testing.assert_array_equal(maps["left"][[4, 0, 7]], [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(maps["right"][[2, 9]], [3.0, 5.0])
    assert np.isnan(maps["left"]).sum() == 5 and np.isnan(maps["right"]).sum() == 8
    rec.meta["n_vertices"] = {"lh": 12, "rh": 10}
    maps2 = rec.to_surface(np.stack([values, -values]))
    assert maps2["left"].shape == (2, 12)
    np.testing.assert_array_equal(maps2["left"][1, [4, 0, 7]], [-1.0, -2.0, -4.0])
    rec.meta["n_vertices"] = {"left": 5, "right": 10}
    with pytest.raises(ValueError, match=r"n_vertices\['left'\] = 5 but a unit has vertex 7"):
        rec.to_surface(values)
    with pytest.raises(ValueError, match="needs units columns 'hemisphere' and 'vertex'"):
        Recording(rng.normal(size=(6, 5)), range(6)).to_surface(values)


# ----------------------------------------------------------- concatenation
def test_concatenate_recordings(rng):
    a = _rec(rng, n_trials=37)
    b = _rec(rng, n_trials=13)
    both = concatenate_recordings([a, b])
    assert both.n_trials == 50 and both.n_units == 11
    np.testing.assert_array_equal(both.responses, np.vstack([a.responses, b.responses]))
    np.testing.assert_array_equal(both.stimulus_ids, np.r_[a.stimulus_ids, b.stimulus_ids])
    np.testing.assert_array_equal(both.runs, np.r_[np.zeros(37), np.ones(13)])
    ra = a._replace(runs=np.full(37, "r1", dtype=object))
    rb = b._replace(runs=np.full(13, "r2", dtype=object))
    np.testing.assert_array_equal(concatenate_recordings([ra, rb]).runs, ["r1"] * 37 + ["r2"] * 13)
    with pytest.warns(UserWarning, match="treated as the same run"):
        concatenate_recordings([ra, ra])
    with pytest.raises(ValueError, match="some recordings have runs and others do not"):
        concatenate_recordings([ra, b])
    with pytest.raises(ValueError, match="does not have the same units"):
        concatenate_recordings([a, a.select(units=a.units.index[:5])])
    other = Recording(a.responses, a.stimulus_ids, subject="sub-02")
    with pytest.raises(ValueError, match="recording 1 is sub-02/fmri"):
        concatenate_recordings([a, other])
    with pytest.raises(TypeError, match="expected a non-empty list of Recording"):
        concatenate_recordings([])


def test_average_repeats_and_split_method(rng):
    rec = _rec(rng, runs=np.arange(37) // 10)
    avg = rec.average_repeats()
    assert avg.n_trials == 13
    np.testing.assert_allclose(avg.responses[0], rec.responses[rec.stimulus_ids == "s0"].mean(0))
    train, test = rec.split(test_size=3, random_state=0)
    assert len(set(test.stimulus_ids)) == 3
    assert not set(train.stimulus_ids) & set(test.stimulus_ids)
