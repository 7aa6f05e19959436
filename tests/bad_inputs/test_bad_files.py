"""Bad files given to every loader: crafted pickles, byte flips, truncation, old formats,
traversal keys, unwritable caches, stale temporary files. Each error names the file."""

import os
import pickle
import re
import shutil
import time
import warnings
from pathlib import Path

import h5py
import joblib
import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit._utils.safe_io import (  # noqa: E402
    HEADER,
    CorruptedFileError,
    FileFormatError,
    UnsafeFileError,
)
from neurotoolkit.data import Recording, StimulusSet, load_recording  # noqa: E402
from neurotoolkit.decoding import (  # noqa: E402
    CrossSubjectDecoder,
    RidgeDecoder,
    load_decoder,
    save_decoder,
)
from neurotoolkit.encoding import VoxelwiseEncoder, load_encoder  # noqa: E402
from neurotoolkit.features import (  # noqa: E402
    Backbone,
    FeatureSpace,
    FeatureStore,
    extract_features,
)

N_STIM, N_UNITS, N_FEAT = 17, 7, 5


# ------------------------------------------------------------------------ payloads
class Payload:
    """Unpickling this object creates ``marker``: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = Path(marker)

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _craft(path, marker, how):
    """A file whose loading with pickle/joblib/torch.load(weights_only=False) runs the payload."""
    if how == "pickle":
        path.write_bytes(pickle.dumps({"encoder": Payload(marker)}, protocol=4))
    elif how == "joblib":
        joblib.dump({"format_version": 1, "encoder": Payload(marker)}, path)
    else:
        torch.save({"model": Payload(marker), "version": 2}, path)
    return path


@pytest.mark.parametrize("how", ["pickle", "joblib", "torch"])
def test_payload_is_real(tmp_path, how):
    """The crafted files do run code when unpickled: the loaders' tests below are meaningful."""
    marker = tmp_path / "ran"
    path = _craft(tmp_path / "evil.h5", marker, how)
    if how == "torch":
        torch.load(path, weights_only=False)
    else:
        joblib.load(path)
    assert marker.exists()


# ------------------------------------------------------------------------ saved objects
def _data(seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"s{k:02d}" for k in range(N_STIM)]
    feats = rng.standard_normal((N_STIM, N_FEAT))
    responses = feats @ rng.standard_normal((N_FEAT, N_UNITS)) + 0.1 * rng.standard_normal(
        (N_STIM, N_UNITS))
    units = pd.DataFrame({"roi": ["V1"] * 4 + ["V2"] * 3, "x": np.arange(N_UNITS, dtype=float)})
    rec = Recording(responses, ids, units=units, meta={"note": "tiny", "arr": np.arange(3)})
    return rec, FeatureSpace(feats, ids, name="feats"), feats, responses


def _tiny_cross_subject(checkpoint=None, max_epochs=2):
    _, _, feats, responses = _data()
    dec = CrossSubjectDecoder(hidden_dim=8, n_blocks=1, max_epochs=max_epochs, batch_size=8,
                              mixup=0.0, device="cpu", checkpoint=checkpoint, verbose=False)
    return dec.fit({"a": responses, "b": responses[:, :5]}, {"a": feats, "b": feats})


def _captioner_parts():
    pytest.importorskip("transformers")
    from neurotoolkit.features._backbones import import_torchvision
    from neurotoolkit.probing.captioning._prefix_captioner import PrefixCaptioner
    from neurotoolkit.probing.captioning._word_tokenizer import build_word_tokenizer

    import_torchvision()
    from transformers import GPT2Config

    captions = ["a red ball", "a blue cat", "the green tree"]
    tok = build_word_tokenizer(captions)
    cfg = GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=96, vocab_size=len(tok),
                     bos_token_id=None, eos_token_id=None)
    E = np.random.default_rng(0).standard_normal((3, 6)).astype("float32")
    cap = PrefixCaptioner(cfg, tok, prefix_length=2, max_epochs=2, batch_size=3, device="cpu",
                          random_state=0)
    return cap.fit(E, captions), E


def _load_captioner(path, **kwargs):
    from neurotoolkit.probing.captioning._prefix_captioner import load_prefix_captioner

    return load_prefix_captioner(path, device="cpu", **kwargs)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One saved file of every format: name -> (path, load(path) -> result to compare)."""
    root = tmp_path_factory.mktemp("saved")
    rec, space, feats, responses = _data()
    out = {}
    rec.save(root / "recording.h5")
    out["recording"] = (root / "recording.h5", lambda p: load_recording(p).responses)
    enc = VoxelwiseEncoder(features=space, cv=3).fit(rec)
    enc.save(root / "encoder.h5")
    out["encoder"] = (root / "encoder.h5", lambda p: load_encoder(p).predict(space.stimulus_ids))
    RidgeDecoder(cv=3).fit(responses, feats).save(root / "ridge.h5")
    out["ridge decoder"] = (root / "ridge.h5", lambda p: load_decoder(p).predict(responses))
    save_decoder(_tiny_cross_subject(), root / "cross.h5")
    out["cross-subject decoder"] = (root / "cross.h5",
                                    lambda p: load_decoder(p).predict(responses, "a"))
    _tiny_cross_subject(checkpoint=root / "ckpt.h5")
    out["checkpoint"] = (root / "ckpt.h5", _resume_from)
    FeatureStore(root / "store").put("entry", space)
    out["feature-store entry"] = (root / "store" / "entry.h5", _store_get)
    try:
        cap, E = _captioner_parts()
    except pytest.skip.Exception:
        pass
    else:
        cap.save(root / "captioner.h5")
        out["prefix captioner"] = (root / "captioner.h5",
                                   lambda p: _load_captioner(p).caption(E, num_beams=1))
    return out


def _resume_from(path):
    """Load a training checkpoint the way training does (its 2 epochs are done: nothing is
    trained or rewritten); returns the history stored in it."""
    return _tiny_cross_subject(checkpoint=path, max_epochs=2).history_["train_loss"].to_numpy()


def _store_get(path):
    """Read a feature-store entry in strict mode (raise instead of quarantining)."""
    return FeatureStore._read_entry(path)[0]


FORMATS = ["recording", "encoder", "ridge decoder", "cross-subject decoder", "checkpoint",
           "feature-store entry", "prefix captioner"]


def _copy(saved, name, tmp_path):
    if name not in saved:
        pytest.skip(f"{name}: optional dependency missing")
    src, load = saved[name]
    dst = tmp_path / src.name
    shutil.copyfile(src, dst)
    return src, dst, load


def _flip_data_byte(path):
    """Flip one byte in the middle of the data of the file's largest contiguous dataset."""
    found = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if (isinstance(obj, h5py.Dataset) and obj.dtype.kind != "O" and obj.nbytes
                    and obj.id.get_offset() is not None):
                found.append((obj.nbytes, obj.id.get_offset()))
        f.visititems(visit)
    nbytes, offset = max(found)
    with open(path, "r+b") as f:
        f.seek(offset + nbytes // 2)
        byte = f.read(1)
        f.seek(offset + nbytes // 2)
        f.write(bytes([byte[0] ^ 0xFF]))


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# --------------------------------------------------------------------- 1. round trips
@pytest.mark.parametrize("name", FORMATS)
def test_round_trip_gives_identical_results(saved, name, tmp_path):
    src, dst, load = _copy(saved, name, tmp_path)
    a, b = load(src), load(dst)
    if isinstance(a, list):
        assert a == b
    else:
        np.testing.assert_array_equal(a, b)


def test_round_trip_matches_the_fitted_objects(tmp_path):
    rec, space, feats, responses = _data()
    enc = VoxelwiseEncoder(features=space, cv=3).fit(rec)
    back = load_encoder(enc.save(tmp_path / "enc.h5"))
    np.testing.assert_array_equal(back.predict(space.stimulus_ids), enc.predict(space.stimulus_ids))
    pd.testing.assert_frame_equal(back.units_, enc.units_)
    dec = RidgeDecoder(cv=3).fit(responses, feats)
    np.testing.assert_array_equal(load_decoder(dec.save(tmp_path / "dec.h5")).predict(responses),
                                  dec.predict(responses))
    cross = _tiny_cross_subject()
    loaded = load_decoder(save_decoder(cross, tmp_path / "cross.h5"))
    np.testing.assert_array_equal(loaded.predict(responses[:, :5], "b"),
                                  cross.predict(responses[:, :5], "b"))
    back_rec = load_recording(rec.save(tmp_path / "rec.h5"))
    np.testing.assert_array_equal(back_rec.responses, rec.responses)
    np.testing.assert_array_equal(back_rec.meta["arr"], np.arange(3))


# --------------------------------------------------------------------- 2. crafted pickles
LOADERS = {
    "load_encoder": load_encoder,
    "load_decoder": load_decoder,
    "load_recording": load_recording,
    "load_prefix_captioner": _load_captioner,
    "checkpoint": _resume_from,
}


@pytest.mark.parametrize("how", ["pickle", "joblib", "torch"])
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_crafted_pickle_never_runs(tmp_path, loader, how):
    if loader == "load_prefix_captioner":
        pytest.importorskip("transformers")
    marker = tmp_path / "payload-ran"
    path = _craft(tmp_path / "evil.h5", marker, how)
    with pytest.raises(UnsafeFileError, match=re.escape(f"'{path}'") + r" is in an old "
                       r"pickle-based format.*can run arbitrary code"):
        LOADERS[loader](path)
    assert not marker.exists()


def test_crafted_pickle_with_trust_flag_refused_by_weights_only(tmp_path):
    """Even the trusted path for old captioners uses torch.load(weights_only=True)."""
    pytest.importorskip("transformers")
    marker = tmp_path / "payload-ran"
    path = _craft(tmp_path / "evil.pt", marker, "torch")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        _load_captioner(path, trust_pickle=True)
    assert not marker.exists()


@pytest.mark.parametrize("how", ["pickle", "torch"])
def test_crafted_clipcap_weights_never_run(tmp_path, how):
    pytest.importorskip("transformers")
    from neurotoolkit.probing.captioning._prefix_captioner import PrefixCaptioner

    marker = tmp_path / "payload-ran"
    path = _craft(tmp_path / "coco_weights.pt", marker, how)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        PrefixCaptioner.from_pretrained(path, language_model=str(tmp_path))
    assert not marker.exists()


@pytest.mark.parametrize("how", ["pickle", "torch"])
def test_crafted_feature_store_entry_is_quarantined(tmp_path, how):
    marker = tmp_path / "payload-ran"
    store = FeatureStore(tmp_path / "store")
    _, space, _, _ = _data()
    store.put("k1", space)
    path = _craft(store.path("k1"), marker, how)
    with pytest.warns(UserWarning, match=re.escape(f"'{path}'") + ".*pickle-based.*moved to"):
        assert store.get("k1") is None
    assert not marker.exists() and not path.exists()
    assert len(list((store.root / "corrupted").iterdir())) == 1


# --------------------------------------------------------------------- 3. byte flips, truncation
@pytest.mark.parametrize("name", FORMATS)
def test_byte_flipped_file_is_detected(saved, name, tmp_path):
    _, path, load = _copy(saved, name, tmp_path)
    _flip_data_byte(path)
    with pytest.raises(CorruptedFileError, match=re.escape(f"'{path}'") + ".*checksum mismatch: "
                       "the file was altered or corrupted"):
        load(path)


@pytest.mark.parametrize("name", FORMATS)
def test_truncated_file_is_detected(saved, name, tmp_path):
    _, path, load = _copy(saved, name, tmp_path)
    _truncate(path)
    with pytest.raises(CorruptedFileError, match=re.escape(f"'{path}'") + " cannot be read as "
                       "HDF5: truncated or not a neurotoolkit file"):
        load(path)


@pytest.mark.parametrize("content", [b"", b"\x00" * 100, b"not an HDF5 file at all"])
@pytest.mark.parametrize("name", FORMATS)
def test_empty_or_garbage_file(saved, name, tmp_path, content):
    _, path, load = _copy(saved, name, tmp_path)
    path.write_bytes(content)
    with pytest.raises(CorruptedFileError,
                       match=re.escape(f"'{path}'") + " cannot be read as HDF5"):
        load(path)


def test_values_silently_set_to_nan_are_detected(saved, tmp_path):
    """The issue's case: 50 response values overwritten with NaN in a saved Recording."""
    _, path, _ = _copy(saved, "recording", tmp_path)
    with h5py.File(path, "r+") as f:
        data = f["responses"][()]
        data.flat[:50] = np.nan
        f["responses"][...] = data
    with pytest.raises(CorruptedFileError, match=re.escape(f"'{path}'") + ".*checksum mismatch"):
        load_recording(path)


@pytest.mark.parametrize("name", ["encoder", "ridge decoder"])
def test_removed_dataset_is_detected(saved, name, tmp_path):
    _, path, load = _copy(saved, name, tmp_path)
    with h5py.File(path, "r+") as f:
        del f["arrays/a00000"]
    with pytest.raises(CorruptedFileError, match=re.escape(f"'{path}'") + ".*checksum mismatch"):
        load(path)


def test_garbled_header(saved, tmp_path):
    _, path, _ = _copy(saved, "encoder", tmp_path)
    with h5py.File(path, "r+") as f:
        f.attrs[HEADER] = f.attrs[HEADER][:-7]
    with pytest.raises(CorruptedFileError, match=re.escape(f"'{path}'") + " has an unreadable "
                       "neurotoolkit header"):
        load_encoder(path)


# --------------------------------------------------------------------- 4. wrong files
def test_file_of_another_kind(saved, tmp_path):
    _, path, _ = _copy(saved, "recording", tmp_path)
    with pytest.raises(FileFormatError, match=re.escape(f"'{path}'") + " is a "
                       "'neurotoolkit.Recording' file, expected a 'neurotoolkit.VoxelwiseEncoder'"):
        load_encoder(path)
    _, enc, _ = _copy(saved, "encoder", tmp_path)
    with pytest.raises(FileFormatError, match="expected a 'neurotoolkit.Decoder'"):
        load_decoder(enc)


def test_foreign_hdf5_file(tmp_path):
    path = tmp_path / "betas.h5"  # e.g. an NSD betas file given by mistake
    with h5py.File(path, "w") as f:
        f["betas"] = np.zeros((3, 4))
    for load in (load_encoder, load_decoder):
        with pytest.raises(FileFormatError, match=re.escape(f"'{path}'") + " is an HDF5 file "
                           "without a neurotoolkit header"):
            load(path)
    with pytest.raises(FileFormatError, match="not a neurotoolkit Recording file"):
        load_recording(path)


def test_newer_format_version(saved, tmp_path):
    import json

    _, path, _ = _copy(saved, "encoder", tmp_path)
    with h5py.File(path, "r+") as f:
        header = json.loads(f.attrs[HEADER])
        header["format_version"] = 99
        f.attrs[HEADER] = json.dumps(header)
    with pytest.raises(FileFormatError, match=re.escape(f"'{path}'") + " has format version 99, "
                       "newer than .*upgrade neurotoolkit"):
        load_encoder(path)


# --------------------------------------------------------------------- 5. old formats
def test_old_joblib_encoder_conversion(tmp_path):
    rec, space, _, _ = _data()
    enc = VoxelwiseEncoder(features=space, cv=3).fit(rec)
    old = tmp_path / "enc.joblib"
    joblib.dump({"format_version": 1, "encoder": enc}, old)  # what neurotoolkit wrote before
    with pytest.raises(UnsafeFileError, match=re.escape(f"'{old}'") + ".*pickle-based.*"
                       + re.escape(f"load_encoder('{old}', trust_pickle=True)") + r".*\.save"):
        load_encoder(old)
    converted = load_encoder(old, trust_pickle=True).save(tmp_path / "enc.h5")
    np.testing.assert_array_equal(load_encoder(converted).predict(space.stimulus_ids),
                                  enc.predict(space.stimulus_ids))


def test_old_pickled_checkpoint(tmp_path):
    old = tmp_path / "ckpt.pt"
    torch.save({"version": 2, "model": {"w": torch.zeros(2)}}, old)
    with pytest.raises(UnsafeFileError, match=re.escape(f"'{old}'") + ".*torch.save writes.*"
                       "delete the file to train from scratch"):
        _resume_from(old)


def test_old_torch_captioner_conversion(tmp_path):
    pytest.importorskip("transformers")
    from neurotoolkit.probing.captioning import _prefix_captioner as pc

    cap, E = _captioner_parts()
    new = cap.save(tmp_path / "cap.h5")
    ckpt, _ = pc.load_object(new, "PrefixCaptioner", 2)
    old = tmp_path / "cap.pt"
    torch.save(dict(ckpt, version=1), old)  # the old torch.save layout, tensors and strings
    with pytest.raises(UnsafeFileError, match=re.escape(f"'{old}'") + ".*from_pretrained.*"
                       "trust_pickle=True"):
        _load_captioner(old)
    loaded = _load_captioner(old, trust_pickle=True)
    assert loaded.caption(E, num_beams=1) == cap.caption(E, num_beams=1)


def test_recording_format_1_loads_with_warning(tmp_path):
    rec, _, _, _ = _data()
    path = rec.save(tmp_path / "v1.h5")
    with h5py.File(path, "r+") as f:  # a version 1 file: format attributes, no header
        del f.attrs[HEADER]
        f.attrs["format"] = "neurotoolkit.Recording"
        f.attrs["format_version"] = 1
    with pytest.warns(UserWarning, match="older neurotoolkit.*without a checksum.*save it again"):
        back = load_recording(path)
    np.testing.assert_array_equal(back.responses, rec.responses)


# --------------------------------------------------------------------- 6. feature store
@pytest.mark.parametrize("key", ["../x", "../../etc/passwd", "a/b", "a\\b", "/tmp/abs", "", "..",
                                 "x\0y", ".hidden"])
def test_traversal_keys_are_refused(tmp_path, key):
    root = tmp_path / "store"
    store = FeatureStore(root)
    _, space, _, _ = _data()
    outside = tmp_path / "x.h5"
    outside.write_text("user file")
    for call in (lambda: store.put(key, space), lambda: store.remove(key),
                 lambda: store.get(key), lambda: key in store):
        with pytest.raises(ValueError, match=r"Invalid value for `key`: expected a plain name"):
            call()
    assert outside.read_text() == "user file" and sorted(tmp_path.iterdir()) == [outside]


def test_symlinked_entry_outside_the_store(tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    outside = tmp_path / "secret.h5"
    outside.write_text("user file")
    (root / "evil.h5").symlink_to(outside)
    with pytest.raises(ValueError, match="resolves to .*outside the folder"):
        FeatureStore(root).remove("evil")
    assert outside.read_text() == "user file"


def _stimuli(n=11):
    images = np.random.default_rng(0).integers(0, 256, (n, 9, 11, 3), dtype=np.uint8)
    return StimulusSet([f"s{k:02d}" for k in range(n)], images=images, name="rand")


def _backbone():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten())
    return Backbone.from_module(net, name="tiny", device="cpu")


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_corrupted_cache_entry_is_reported_moved_and_recomputed(tmp_path, damage):
    stim, bb = _stimuli(), _backbone()
    store = FeatureStore(tmp_path / "cache")
    first = extract_features(stim, bb, cache=store)
    [key] = store.keys()
    path = store.path(key)
    {"flip": _flip_data_byte, "truncate": _truncate, "empty": lambda p: p.write_bytes(b"")}[
        damage](path)
    with pytest.warns(UserWarning, match=re.escape(f"'{path}'") + ".*moved to.*recomputed"):
        again = extract_features(stim, bb, cache=store)
    np.testing.assert_array_equal(again.values, first.values)
    assert len(list((store.root / "corrupted").iterdir())) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the recomputed entry is sound
        np.testing.assert_array_equal(extract_features(stim, bb, cache=store).values, first.values)


def test_corrupted_partial_file_is_quarantined(tmp_path):
    store = FeatureStore(tmp_path / "cache")
    store.put_partial("k", np.ones((4, 2)), [True, False, True, False], list("abcd"))
    assert store.get_partial("k")[1].tolist() == [True, False, True, False]
    path = store.path("k", partial=True)
    _truncate(path)
    with pytest.warns(UserWarning, match=re.escape(f"'{path}'") + " cannot be read as HDF5"):
        assert store.get_partial("k") is None


def test_unwritable_cache_returns_features_with_warning(tmp_path):
    stim, bb = _stimuli(), _backbone()
    expected = extract_features(stim, bb).values
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")  # mkdir fails, even as root
    with pytest.warns(UserWarning, match=re.escape(f"feature cache '{blocked}'") + r" \(File"
                      r"ExistsError.*returned but not cached"):
        got = extract_features(stim, bb, cache=blocked)
    np.testing.assert_array_equal(got.values, expected)


def test_full_disk_returns_features_with_warning(tmp_path, monkeypatch):
    stim, bb = _stimuli(), _backbone()
    expected = extract_features(stim, bb).values

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FeatureStore, "put", full)
    monkeypatch.setattr(FeatureStore, "put_partial", full)
    with pytest.warns(UserWarning, match="No space left on device.*returned but not cached"):
        got = extract_features(stim, bb, cache=tmp_path / "cache", checkpoint_every=0)
    np.testing.assert_array_equal(got.values, expected)


# --------------------------------------------------------------------- 7. stale temporary files
def _stale(folder, target):
    path = folder / f".{target}.ntk-deadbeef.tmp.h5"
    path.write_bytes(b"half-written")
    old = time.time() - 3600
    os.utime(path, (old, old))
    return path


def test_stale_store_temp_files_removed_on_open(tmp_path):
    tmp_path.joinpath("cache").mkdir()
    stale = _stale(tmp_path / "cache", "abc.h5")
    keep = tmp_path / "cache" / "notes.tmp"
    keep.write_text("user file")
    with pytest.warns(UserWarning, match=re.escape(f"removed '{stale}'")):
        FeatureStore(tmp_path / "cache")
    assert not stale.exists() and keep.exists()


def test_stale_checkpoint_temp_files_removed(tmp_path):
    stale = _stale(tmp_path, "ckpt.h5")
    other = _stale(tmp_path, "other.h5")  # another file's temporary: not the checkpoint's
    _tiny_cross_subject(checkpoint=tmp_path / "ckpt.h5")
    assert not stale.exists() and other.exists()
    assert not list(tmp_path.glob(".ckpt.h5.ntk-*"))


# --------------------------------------------------------------------- 8. unsaveable objects
def test_unsaveable_feature_extractor_fails_at_save(tmp_path):
    class MyExtractor:
        def transform(self, stimuli):
            return np.random.default_rng(0).standard_normal((len(stimuli.ids), 3))

    rec, _, _, _ = _data()
    stim = StimulusSet(list(rec.stimulus_ids), captions=["c"] * rec.n_trials)
    enc = VoxelwiseEncoder(features=MyExtractor(), cv=3).fit(rec, stim)
    with pytest.raises(TypeError, match=r"Cannot save the VoxelwiseEncoder: .*\['features'\] is "
                       r"a .*MyExtractor object.*FeatureSpace"):
        enc.save(tmp_path / "enc.h5")
    assert list(tmp_path.iterdir()) == []


def test_repeated_corruption_keeps_every_bad_copy(tmp_path):
    store = FeatureStore(tmp_path / "cache")
    _, space, _, _ = _data()
    for _ in range(2):
        _truncate(store.put("k", space))
        with pytest.warns(UserWarning, match="moved to"):
            assert store.get("k") is None
    assert len(list((store.root / "corrupted").iterdir())) == 2
