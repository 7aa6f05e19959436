"""FeatureStore: hits, misses, invalidation of every key part, interrupted runs resumed."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit.data import StimulusSet
from neurotoolkit.features import Backbone, FeatureSpace, FeatureStore, extract_features
from neurotoolkit.features._store import make_key, stimulus_set_hash


class CountingNet(torch.nn.Module):
    """A small conv net that counts its forward calls (and can fail on the n-th)."""

    def __init__(self, seed=0, fail_on=None):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.head = torch.nn.Linear(4, 3)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))
        self.calls = 0
        self.fail_on = fail_on

    def forward(self, x):
        self.calls += 1
        if self.fail_on is not None and self.calls == self.fail_on:
            raise KeyboardInterrupt("simulated interruption")
        return self.head(self.conv(x).relu().mean(dim=(2, 3)))


def _stimuli(n=23, seed=0):
    images = np.random.default_rng(seed).integers(0, 256, (n, 9, 11, 3), dtype=np.uint8)
    return StimulusSet([f"s{k:02d}" for k in range(n)], images=images, name="rand")


def _backbone(**kwargs):
    net = CountingNet(**kwargs)
    return net, Backbone.from_module(net, name="counting", device="cpu")


def test_hit_miss_and_reuse_across_store_objects(tmp_path):
    stim = _stimuli()
    net, bb = _backbone()
    first = extract_features(stim, bb, layers=["conv", "embedding"], batch_size=5, cache=tmp_path)
    assert net.calls == 5
    again = extract_features(stim, bb, layers=["conv", "embedding"], batch_size=5, cache=FeatureStore(tmp_path))
    assert net.calls == 5  # all from the store
    for k in first:
        np.testing.assert_array_equal(first[k].values, again[k].values)
        assert list(again[k].stimulus_ids) == list(stim.ids)
        assert again[k].provenance["cache_key"] in FeatureStore(tmp_path)
    # one cached and one new layer: one pass over the data for the new one only
    extract_features(stim, bb, layers=["conv", "head"], batch_size=5, cache=tmp_path)
    assert net.calls == 10
    info = FeatureStore(tmp_path).info()
    assert sorted(info["layer"]) == ["conv", "embedding", "head"] and info["complete"].all()
    assert set(info["n_stimuli"]) == {23}
    assert not list(tmp_path.glob("*.tmp*"))  # atomic writes leave no temporary files


@pytest.mark.parametrize("change", ["layer", "pooling", "normalize", "dtype", "weights", "preprocessing",
                                    "stimuli", "image_content", "reduce"])
def test_any_key_part_change_invalidates(tmp_path, change):
    stim = _stimuli()
    net, bb = _backbone()
    kw = {"layers": "conv", "batch_size": 8, "cache": tmp_path}
    base = extract_features(stim, bb, **kw)
    assert net.calls == 3
    if change == "layer":
        kw["layers"] = "head"
    elif change == "pooling":
        kw["pooling"] = "flatten"
    elif change == "normalize":
        kw["normalize"] = True
    elif change == "dtype":
        kw["dtype"] = "float16"
    elif change == "reduce":
        kw["reduce"] = {"method": "random_projection", "n_components": 2}
    elif change == "weights":
        net, bb = _backbone(seed=1)
    elif change == "preprocessing":
        bb = Backbone.from_module(net, preprocess={"size": (7, 7), "resize_mode": "squash"}, name="counting")
    elif change == "stimuli":
        stim = stim.subset(stim.ids[:20])
    elif change == "image_content":
        images = stim.images.copy()
        images[4, 0, 0, 0] ^= 1
        stim = StimulusSet(stim.ids, images=images, name="rand")
    before = net.calls
    out = extract_features(stim, bb, **kw)
    if change == "reduce":  # raw features are reused from the store, only the projection is new
        assert net.calls == before
        assert out.values.shape == (23, 2)
    else:
        assert net.calls > before, change
    if change == "image_content":
        assert not np.array_equal(out.values[4], base.values[4])
        np.testing.assert_array_equal(out.values[5:], base.values[5:])
    assert len(FeatureStore(tmp_path).keys()) == 2  # the old entry and the new one


def test_interrupted_extraction_resumes(tmp_path):
    stim = _stimuli()
    _, ref_bb = _backbone()
    reference = extract_features(stim, ref_bb, layers=["conv", "embedding"], batch_size=4)
    net, bb = _backbone(fail_on=4)  # batches 1-3 complete, the 4th raises KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        extract_features(stim, bb, layers=["conv", "embedding"], batch_size=4, cache=tmp_path)
    store = FeatureStore(tmp_path)
    assert store.keys() == []
    info = store.info()
    assert len(info) == 2 and not info["complete"].any() and set(info["n_done"]) == {12}
    net.fail_on = None
    calls = []
    out = extract_features(stim, bb, layers=["conv", "embedding"], batch_size=4, cache=tmp_path,
                           callback=lambda b, n: calls.append((b, n)))
    assert calls[-1] == (2, 3)  # 11 remaining stimuli: 3 batches
    assert net.calls == 4 + 3
    for k in out:
        np.testing.assert_allclose(out[k].values, reference[k].values, rtol=1e-6, atol=1e-7)
    assert info.shape[0] == 2 and FeatureStore(tmp_path).info()["complete"].all()
    assert not list(tmp_path.glob("*.partial.h5"))


def test_failing_callback_keeps_partial_and_periodic_checkpoints(tmp_path):
    stim = _stimuli(n=17)
    net, bb = _backbone()

    def stop_after_two(b, n):
        if b == 1:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        extract_features(stim, bb, layers="conv", batch_size=3, cache=tmp_path, callback=stop_after_two,
                         checkpoint_every=0.0)
    assert FeatureStore(tmp_path).info()["n_done"].tolist() == [6]
    out = extract_features(stim, bb, layers="conv", batch_size=3, cache=tmp_path)
    assert net.calls == 2 + 4
    _, fresh = _backbone()
    np.testing.assert_allclose(out.values, extract_features(stim, fresh, layers="conv").values, rtol=1e-6)


def test_store_roundtrip_and_keys(tmp_path):
    store = FeatureStore(tmp_path / "sub")
    assert store.keys() == [] and store.info().empty and store.get("0" * 64) is None
    space = FeatureSpace(np.arange(12.0).reshape(4, 3), ["a", "b", "c", "d"], "demo",
                         {"backbone": "x", "layer": "y"}, ["f0", "f1", "f2"])
    key = make_key({"backbone": "x", "layer": "y"})
    assert key == make_key({"layer": "y", "backbone": "x"}) != make_key({"backbone": "x", "layer": "z"})
    store.put(key, space, {"backbone": "x", "layer": "y"})
    back = store.get(key)
    np.testing.assert_array_equal(back.values, space.values)
    assert list(back.feature_names) == ["f0", "f1", "f2"] and back.provenance["layer"] == "y"
    assert key in store and store.keys() == [key]
    store.remove(key)
    assert key not in store


def test_stimulus_set_hash_file_paths(tmp_path):
    from PIL import Image

    for k in range(3):
        Image.fromarray(np.full((5, 6, 3), 40 * k, np.uint8)).save(tmp_path / f"im{k}.png")
    stim = StimulusSet.from_folder(tmp_path)
    h1 = stimulus_set_hash(stim)
    assert h1 == stimulus_set_hash(StimulusSet.from_folder(tmp_path))
    Image.fromarray(np.full((5, 6, 3), 200, np.uint8)).save(tmp_path / "im1.png")
    import os

    os.utime(tmp_path / "im1.png", ns=(1, 10**9))  # a new modification time
    assert stimulus_set_hash(StimulusSet.from_folder(tmp_path)) != h1
    caps = StimulusSet(["a", "b"], captions=["x", "y"])
    assert stimulus_set_hash(caps, "text") != stimulus_set_hash(StimulusSet(["a", "b"], captions=["x", "z"]), "text")
