"""HDF5 persistence of Recordings: round trip of every field, errors, atomic writes."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurotoolkit.data import Recording, load_recording, save_recording
from neurotoolkit.data import _io


def _rich_recording(rng):
    n_trials, n_units = 37, 11
    units = pd.DataFrame(
        {
            "roi": ["V1"] * 5 + ["FFA"] * 6,
            "x": rng.normal(size=n_units),
            "x32": rng.normal(size=n_units).astype(np.float32),
            "i": np.arange(n_units, dtype=np.int16),
            "vertex": np.arange(n_units, dtype=np.int64) * 1000,
            "good": rng.random(n_units) > 0.5,
            "hemisphere": pd.Categorical(["lh", "rh"] * 5 + ["lh"], categories=["rh", "lh"]),
            "label": ["a", None, "c", "d", "e", "f", "g", "h", "i", "j", "k"],
            "n_opt": pd.array([1, None] + list(range(9)), dtype="Int64"),
            "when": pd.date_range("2024-01-01", periods=n_units, freq="h"),
        },
        index=pd.Index([f"vox{k}" for k in range(n_units)], name="voxel"),
    )
    meta = {
        "affine": np.eye(4) * 2.0,
        "volume_shape": [40, 48, 40],
        "source": {"files": ["run-01.nii.gz", "run-02.nii.gz"], "tr": 2.0, "n": 3},
        "steps": [{"name": "zscore", "axis": 0}, {"name": "detrend", "coefs": np.arange(3)}],
        "flag": True,
        "nothing": None,
        "labels": np.array(["a", "bb"]),
        "scalar": np.float32(1.5),
        "path": Path("/tmp/x.nii"),
    }
    return Recording(
        rng.normal(size=(n_trials, n_units)).astype(np.float32),
        [f"img{k % 13}" for k in range(n_trials)],
        units=units,
        subject="sub-07",
        modality="fmri",
        space="MNI152",
        runs=np.arange(n_trials) // 10,
        meta=meta,
    )


def test_round_trip(rng, tmp_path):
    rec = _rich_recording(rng)
    fname = rec.save(tmp_path / "rec.h5")
    assert fname == tmp_path / "rec.h5"
    back = Recording.load(fname)
    assert isinstance(back, Recording)
    np.testing.assert_array_equal(back.responses, rec.responses)
    assert back.responses.dtype == np.float32
    np.testing.assert_array_equal(back.stimulus_ids, rec.stimulus_ids)
    np.testing.assert_array_equal(back.runs, rec.runs)
    assert (back.subject, back.modality, back.space) == ("sub-07", "fmri", "MNI152")
    pd.testing.assert_frame_equal(back.units, rec.units)
    assert list(back.units.dtypes) == list(rec.units.dtypes)
    m = back.meta
    np.testing.assert_array_equal(m["affine"], rec.meta["affine"])
    assert m["volume_shape"] == [40, 48, 40]
    assert m["source"] == rec.meta["source"]
    assert m["steps"][0] == {"name": "zscore", "axis": 0}
    np.testing.assert_array_equal(m["steps"][1]["coefs"], np.arange(3))
    assert m["flag"] is True and m["nothing"] is None
    np.testing.assert_array_equal(m["labels"], ["a", "bb"])
    assert m["scalar"] == 1.5 and m["path"] == "/tmp/x.nii"
    # a Recording built from the loaded fields works as usual
    assert back.select(roi="FFA").n_units == 6
    assert back.average_repeats().n_trials == 13


def test_round_trip_minimal_and_string_runs(rng, tmp_path):
    rec = Recording(rng.normal(size=(5, 3)), ["a", "b", "a", "c", "b"], space=None)
    back = load_recording(save_recording(rec, tmp_path / "min.hdf5"))
    assert back.runs is None and back.space is None and back.meta == {}
    pd.testing.assert_frame_equal(back.units, rec.units)
    rec2 = rec._replace(runs=np.array(["r1", "r1", "r2", "r2", "r3"], dtype=object))
    rec2.meta["n_repeats"] = np.array([2, 2, 1])  # as average_repeats stores
    back2 = load_recording(save_recording(rec2, tmp_path / "runs.h5"))
    np.testing.assert_array_equal(back2.runs, rec2.runs)
    np.testing.assert_array_equal(back2.meta["n_repeats"], [2, 2, 1])


def test_unsavable_meta_warns(rng, tmp_path):
    rec = Recording(rng.normal(size=(5, 3)), range(5), meta={"table": pd.DataFrame({"a": [1]}), "ok": 1})
    with pytest.warns(UserWarning, match=r"1 meta value\(s\) cannot be saved.*meta\['table'\]"):
        rec.save(tmp_path / "r.h5")
    assert load_recording(tmp_path / "r.h5").meta == {"ok": 1}


def test_errors(rng, tmp_path):
    rec = Recording(rng.normal(size=(5, 3)), range(5))
    with pytest.raises(ValueError, match=r"ending in .h5 or .hdf5, got 'rec.npz'"):
        rec.save(tmp_path / "rec.npz")
    rec.save(tmp_path / "rec.h5")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        rec.save(tmp_path / "rec.h5")
    rec2 = Recording(rng.normal(size=(6, 3)), range(6))
    rec2.save(tmp_path / "rec.h5", overwrite=True)
    assert load_recording(tmp_path / "rec.h5").n_trials == 6
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_recording(tmp_path / "missing.h5")
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="not a neurotoolkit Recording file"):
        load_recording(tmp_path / "other.h5")
    with pytest.raises(TypeError, match="`recording`"):
        save_recording(rec.responses, tmp_path / "x.h5")


def test_crash_mid_write_keeps_existing_file(rng, tmp_path, monkeypatch):
    old = Recording(rng.normal(size=(5, 3)), range(5), subject="sub-old")
    fname = old.save(tmp_path / "rec.h5")
    before = fname.read_bytes()

    def boom(group, units):
        raise RuntimeError("disk full")

    monkeypatch.setattr(_io, "_write_units", boom)
    new = Recording(rng.normal(size=(9, 3)), range(9), subject="sub-new")
    with pytest.raises(RuntimeError, match="disk full"):
        new.save(fname, overwrite=True)
    assert fname.read_bytes() == before
    assert load_recording(fname).subject == "sub-old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.h5"]  # no temporary left
    with pytest.raises(RuntimeError, match="disk full"):
        new.save(tmp_path / "fresh.h5")
    assert not (tmp_path / "fresh.h5").exists()
