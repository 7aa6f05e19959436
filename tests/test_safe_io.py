"""neurotoolkit._utils.safe_io: the checksummed container, JSON trees, names, temp-file cleanup."""

import hashlib
import json
import os
import pickle
import re
import time

import h5py
import numpy as np
import pandas as pd
import pytest

from neurotoolkit._utils import io as ntk_io
from neurotoolkit._utils.safe_io import (
    HEADER,
    CorruptedFileError,
    FileFormatError,
    UnsafeFileError,
    check_name,
    load_object,
    open_container,
    pack_tree,
    path_inside,
    read_header,
    save_object,
    sniff,
    unpack_tree,
    write_container,
)


class Point:
    """A plain class, allowed only where a loader lists it."""

    def __init__(self, x):
        self.x = x


def _tree():
    frame = pd.DataFrame(
        {"roi": pd.Categorical(["V1", "V2", "V1"], categories=["V2", "V1"], ordered=True),
         "x": [1.5, np.nan, -3.0], "n": np.array([1, 2, 3], dtype=np.int16),
         "hemi": pd.Series(["lh", "rh", "lh"], dtype=object), "good": [True, False, True],
         "t": pd.to_datetime(["2020-01-01", "2021-06-30", "1999-12-31"])},
        index=pd.Index(["u0", "u1", "u2"], name="unit"))
    return {
        "float": np.random.default_rng(0).standard_normal((7, 11, 13)),
        "ints": np.arange(5, dtype=np.uint8), "bools": np.array([True, False]),
        "strings": np.array([["a", "bé"], ["c", "d"]]), "scalar": np.float32(2.5),
        "tuple": (1, 2.5, None, "s", float("nan")), "nested": [{"a": [1, {"b": np.ones(2)}]}],
        7: "an int key", ("a", 1): "a tuple key", "__ndarray__": "a reserved-looking key",
        "slice": slice(2, None, 3), "frame": frame, "range_frame": pd.DataFrame({"a": [1, 2]}),
        "dtype": np.dtype("float32"), "empty": np.zeros((0, 3)), "point": Point(np.arange(3)),
    }


def test_tree_round_trip_is_exact(tmp_path):
    tree = _tree()
    fname = save_object(tmp_path / "t.h5", "Test", 1, tree, classes=(Point,))
    back, header = load_object(fname, "Test", 1, classes=(Point,))
    assert header["format"] == "neurotoolkit.Test" and header["format_version"] == 1
    assert header["checksum"]["algorithm"] == "sha256"
    assert set(back) == set(tree)
    for key in ("float", "ints", "bools", "strings", "empty"):
        np.testing.assert_array_equal(back[key], tree[key])
        assert back[key].dtype == tree[key].dtype
    np.testing.assert_array_equal(back["tuple"][:4], tree["tuple"][:4])
    assert isinstance(back["tuple"], tuple) and np.isnan(back["tuple"][4])
    assert back["scalar"] == 2.5 and back[7] == "an int key" and back[("a", 1)] == "a tuple key"
    assert back["__ndarray__"] == "a reserved-looking key"
    assert back["slice"] == slice(2, None, 3) and back["dtype"] == np.float32
    np.testing.assert_array_equal(back["nested"][0]["a"][1]["b"], np.ones(2))
    pd.testing.assert_frame_equal(back["frame"], tree["frame"])
    pd.testing.assert_frame_equal(back["range_frame"], tree["range_frame"])
    assert isinstance(back["point"], Point)
    np.testing.assert_array_equal(back["point"].x, np.arange(3))


def test_torch_tensors_round_trip(tmp_path):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    tree = {"w": torch.randn(3, 4, generator=g), "b16": torch.randn(5, generator=g).bfloat16(),
            "rng": g.get_state(), "device": torch.device("cpu")}
    back, _ = load_object(save_object(tmp_path / "t.h5", "Test", 1, tree), "Test", 1)
    for key in ("w", "b16", "rng"):
        assert back[key].dtype == tree[key].dtype and torch.equal(back[key], tree[key])
    assert back["device"] == torch.device("cpu")


def test_objects_only_from_allowed_classes(tmp_path):
    fname = save_object(tmp_path / "p.h5", "Test", 1, {"p": Point(1)}, classes=(Point,))
    with pytest.raises(FileFormatError, match=r"class '.*Point'.*not one of the classes"):
        load_object(fname, "Test", 1, classes=())


def test_unsaveable_object_fails_before_writing(tmp_path):
    with pytest.raises(TypeError, match=r"Cannot save the Test: Test\['p'\] is a .*Point object"):
        save_object(tmp_path / "p.h5", "Test", 1, {"p": Point(1)})
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left


def test_checksum_covers_data_attributes_and_meta(tmp_path):
    fname = tmp_path / "c.h5"
    meta = {"a": 1}
    with write_container(fname, "Test", 1, meta) as f:
        f.create_dataset("x", data=np.arange(10.0)).attrs["unit"] = "mm"
        meta["b"] = [1, 2]  # meta filled inside the block is covered too
    with open_container(fname, "Test", 1) as (f, header):
        assert header["meta"] == {"a": 1, "b": [1, 2]}
    for change in ("data", "attr", "new dataset", "meta"):
        bad = tmp_path / f"bad-{change.replace(' ', '_')}.h5"
        bad.write_bytes(fname.read_bytes())
        with h5py.File(bad, "r+") as f:
            if change == "data":
                f["x"][3] = np.nan
            elif change == "attr":
                f["x"].attrs["unit"] = "cm"
            elif change == "new dataset":
                f.create_dataset("y", data=[1])
            else:
                header = json.loads(f.attrs[HEADER])
                header["meta"]["a"] = 2
                f.attrs[HEADER] = json.dumps(header)
        with pytest.raises(CorruptedFileError, match=re.escape(f"'{bad}'") + ".*checksum mismatch"):
            with open_container(bad, "Test", 1):
                pass


def test_checksum_is_sha256_of_documented_stream(tmp_path):
    """The digest is recomputable from its documented definition (not a hard-coded value)."""
    fname = tmp_path / "d.h5"
    data = np.arange(6, dtype="<f8").reshape(2, 3)
    with write_container(fname, "Test", 1) as f:
        f.create_dataset("x", data=data)
    h = hashlib.sha256(json.dumps({"format": "neurotoolkit.Test", "format_version": 1, "meta": {}},
                                  sort_keys=True, separators=(",", ":")).encode())
    h.update(b"D|/x|<f8|(2, 3)|" + data.tobytes())
    assert read_header(fname)["checksum"]["value"] == h.hexdigest()


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "/abs", "", "..", "x\0y", ".hidden",
                                  "-opt", "a" * 201, 3, None, "a..b"])
def test_check_name_rejects_paths(name):
    with pytest.raises(ValueError, match=r"Invalid value for `key`: expected a plain name.*got"):
        check_name("key", name)


def test_check_name_and_path_inside(tmp_path):
    assert check_name("key", "ab_c-1.2") == "ab_c-1.2"
    assert path_inside(tmp_path, "x.h5") == tmp_path / "x.h5"
    outside = tmp_path.parent / "outside.txt"
    (tmp_path / "link").symlink_to(outside)
    with pytest.raises(ValueError, match=r"`key`: 'link' resolves to .*outside the folder"):
        path_inside(tmp_path, "link", "key")


def test_sniff(tmp_path):
    (tmp_path / "p").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    (tmp_path / "e").write_bytes(b"")
    (tmp_path / "z").write_bytes(b"PK\x03\x04rest")
    (tmp_path / "u").write_bytes(b"hello world")
    with h5py.File(tmp_path / "h", "w"):
        pass
    assert [sniff(tmp_path / n) for n in "pezuh"] == ["pickle", "empty", "torch", "unknown", "hdf5"]


def test_pickle_is_refused_with_the_hint(tmp_path):
    fname = tmp_path / "old.bin"
    fname.write_bytes(pickle.dumps([1, 2], protocol=5))
    with pytest.raises(UnsafeFileError, match=re.escape(f"'{fname}'") + ".*old pickle-based.*can "
                       "run arbitrary code.*Do this"):
        load_object(fname, "Test", 1, pickle_hint="Do this.")


def test_kind_and_version_checked(tmp_path):
    fname = save_object(tmp_path / "v.h5", "Other", 1, {"a": 1})
    with pytest.raises(FileFormatError, match="is a 'neurotoolkit.Other' file, expected a "
                       "'neurotoolkit.Test' file"):
        load_object(fname, "Test", 1)
    newer = save_object(tmp_path / "n.h5", "Test", 5, {"a": 1})
    with pytest.raises(FileFormatError, match="format version 5, newer than .* reads \\(4\\); "
                       "upgrade neurotoolkit"):
        load_object(newer, "Test", 4)


def test_header_less_hdf5_and_unreadable_header(tmp_path):
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = [1]
    with pytest.raises(FileFormatError, match="without a neurotoolkit header"):
        load_object(plain, "Test", 1)
    with open_container(plain, "Test", 1, allow_legacy=True) as (f, header):
        assert header is None and list(f) == ["x"]
    with h5py.File(plain, "r+") as f:
        f.attrs[HEADER] = "{not json"
    with pytest.raises(CorruptedFileError, match=re.escape(f"'{plain}'") + " has an unreadable "
                       "neurotoolkit header"):
        load_object(plain, "Test", 1)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="Invalid value for `fname`: no such file"):
        load_object(tmp_path / "nope.h5", "Test", 1)


def test_interrupted_write_leaves_existing_file(tmp_path):
    fname = save_object(tmp_path / "keep.h5", "Test", 1, {"a": 1})
    with pytest.raises(RuntimeError, match="boom"):
        with write_container(fname, "Test", 1) as f:
            f.create_dataset("x", data=[1])
            raise RuntimeError("boom")
    assert load_object(fname, "Test", 1)[0] == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["keep.h5"]


def test_remove_stale_temp_files(tmp_path, monkeypatch):
    with ntk_io.atomic_path(tmp_path / "out.h5") as tmp:  # the temporary-name pattern
        stale_name = tmp.name
    assert re.match(r"^\.out\.h5\.ntk-.+\.tmp\.h5$", stale_name)
    old = time.time() - 3600
    stale, fresh = tmp_path / stale_name, tmp_path / ".out.h5.ntk-fresh123.tmp.h5"
    other_target, unrelated = tmp_path / ".ckpt.h5.ntk-abcdefgh.tmp.h5", tmp_path / ".x.tmp"
    for p in (stale, fresh, other_target, unrelated):
        p.write_bytes(b"partial")
    for p in (stale, other_target, unrelated):
        os.utime(p, (old, old))
    assert ntk_io.remove_stale_temp_files(tmp_path, target="out.h5") == [stale]
    assert ntk_io.remove_stale_temp_files(tmp_path) == [other_target]
    assert fresh.exists() and unrelated.exists()  # in progress / not ours
    # a temporary file written after this process started belongs to a live write
    monkeypatch.setattr(ntk_io, "_PROCESS_START", old - 10)
    os.utime(fresh, (old, old))
    assert ntk_io.remove_stale_temp_files(tmp_path) == []


def test_pack_tree_rejects_unknown_types(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        with pytest.raises(TypeError, match=r"obj\[0\] is a builtins.object object"):
            pack_tree([object()], f)
        with pytest.raises(TypeError, match=r"dtype object, which cannot be saved"):
            pack_tree(np.array([1, "a"], dtype=object), f)
        desc = pack_tree({"k": np.arange(3)}, f)
        np.testing.assert_array_equal(unpack_tree(json.loads(json.dumps(desc)), f)["k"],
                                      np.arange(3))
