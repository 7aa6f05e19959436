"""StimulusSet basics, and from_folder on the real 92-object set."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from neurotoolkit.data import StimulusSet


def test_basics_with_arrays(rng):
    images = rng.integers(0, 256, size=(5, 7, 9, 3), dtype=np.uint8)
    cats = pd.DataFrame({"face": [1, 0, 0, 1, 0]}, index=["e", "d", "c", "b", "a"])
    stim = StimulusSet(list("edcba"), images=images, captions=list("vwxyz"), categories=cats)
    assert len(stim) == 5 and "c" in stim and "z" not in stim
    assert "5 stimuli" in repr(stim) and "captions" in repr(stim)
    np.testing.assert_array_equal(stim.index_of(["a", "e"]), [4, 0])
    np.testing.assert_array_equal(stim.load_image("d"), images[1])
    assert stim.load_images(size=(4, 6)).shape == (5, 4, 6, 3)
    sub = stim.subset(["b", "d"])
    assert sub.ids.tolist() == ["b", "d"] and sub.captions == ["y", "w"]
    assert sub.categories["face"].tolist() == [1, 0]
    np.testing.assert_array_equal(sub.load_image("b"), images[3])
    floats = StimulusSet(["p"], images=np.full((1, 2, 2, 3), 0.5))
    assert floats.load_image("p").dtype == np.uint8 and floats.load_image("p")[0, 0, 0] == 128


def test_errors():
    with pytest.raises(ValueError, match=r"expected unique stimulus ids, got duplicates \['a'\]"):
        StimulusSet(["a", "b", "a"])
    with pytest.raises(ValueError, match="`images`: expected 2 entries"):
        StimulusSet(["a", "b"], images=["x.png"])
    with pytest.raises(ValueError, match="`captions`: expected 2 entries"):
        StimulusSet(["a", "b"], captions=["x"])
    with pytest.raises(KeyError, match=r"1 id\(s\) not in StimulusSet"):
        StimulusSet(["a", "b"]).index_of(["a", "zz"])
    with pytest.raises(ValueError, match="has no images"):
        StimulusSet(["a"]).load_image("a")


def test_from_folder_with_csv(tmp_path, rng):
    for k, size in enumerate([(6, 8), (6, 8), (5, 5)]):
        Image.fromarray(rng.integers(0, 256, size=size + (3,), dtype=np.uint8)).save(
            tmp_path / f"s{k}.png"
        )
    pd.DataFrame({"filename": ["s2.png", "s0.png", "s1.png"], "animal": [1, 0, 1]}).to_csv(
        tmp_path / "categories.csv", index=False
    )
    stim = StimulusSet.from_folder(tmp_path)
    assert stim.ids.tolist() == ["s0", "s1", "s2"] and stim.name == tmp_path.name
    assert stim.categories["animal"].tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="different sizes"):
        stim.load_images()
    assert stim.load_images(size=4).shape == (3, 4, 4, 3)
    with pytest.raises(FileNotFoundError, match="expected an existing folder"):
        StimulusSet.from_folder(tmp_path / "missing")


def test_from_folder_92_objects(objects92_dir):
    stim = StimulusSet.from_folder(objects92_dir)
    assert len(stim) == 92
    assert stim.ids[0] == "img00" and stim.ids[-1] == "img91"
    img = stim.load_image("img00")
    assert img.shape == (175, 175, 3) and img.dtype == np.uint8
    cats = stim.categories
    assert list(cats.columns) == [
        "animate", "inanimate", "human", "nonhuman", "body", "face", "natural_object",
        "artificial_object",
    ]
    assert cats.index.tolist() == stim.ids.tolist()
    assert cats.loc["img00", "body"] == 1 and cats.loc["img00", "human"] == 1
    assert (cats["animate"] + cats["inanimate"] == 1).all()
    assert cats["animate"].sum() == 48  # 92-object set: 48 animate, 44 inanimate
    assert ((cats["human"] + cats["nonhuman"]) == cats["animate"]).all()
    assert stim.load_images(["img10", "img50"]).shape == (2, 175, 175, 3)
