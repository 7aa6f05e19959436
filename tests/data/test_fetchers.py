"""Fetchers, offline: file:// URLs to files written (or copied) by the tests."""

import hashlib
import shutil

import numpy as np
import pytest

from neurotoolkit.data import (
    fetch_eeglab_sample,
    fetch_haxby,
    get_data_home,
    load_92objects,
    load_eeglab_sample,
    load_haxby,
)
from neurotoolkit.data.datasets import _fetchers
from neurotoolkit.data.datasets._fetchers import MIRROR_ENV


def _sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def source(tmp_path):
    src = tmp_path / "server"
    (src / "sub").mkdir(parents=True)
    files = {"a.txt": b"alpha\n", "sub/b.bin": bytes(range(256)) * 7}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    return src, files


def test_data_home_resolution(tmp_path, monkeypatch):
    assert get_data_home(tmp_path / "x") == tmp_path / "x" and (tmp_path / "x").is_dir()
    monkeypatch.setenv("NEUROTOOLKIT_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("NEUROTOOLKIT_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert get_data_home() == tmp_path / "home" / "neurotoolkit_data"


def test_download_verify_skip_and_mismatch(tmp_path, source, monkeypatch):
    src, files = source
    dest = tmp_path / "data" / "ds"
    spec = [(rel, src.joinpath(rel).as_uri(), _sha(data)) for rel, data in files.items()]
    _fetchers._fetch_files(dest, spec)
    for rel, data in files.items():
        assert (dest / rel).read_bytes() == data
    # present and verified: nothing is downloaded again
    calls = []
    monkeypatch.setattr(_fetchers, "_download", lambda url, d: calls.append(url))
    _fetchers._fetch_files(dest, spec)
    assert calls == []
    monkeypatch.undo()
    # one file missing: only that one is fetched (resume)
    (dest / "a.txt").unlink()
    seen = []
    real = _fetchers._download
    monkeypatch.setattr(_fetchers, "_download", lambda url, d: (seen.append(url), real(url, d)))
    _fetchers._fetch_files(dest, spec)
    assert seen == [spec[0][1]] and (dest / "a.txt").read_bytes() == files["a.txt"]
    monkeypatch.undo()
    # a mismatching hash: clear error, nothing moved in, no temporary folder left
    new = tmp_path / "data" / "other"
    bad = [spec[0], ("sub/b.bin", spec[1][1], "0" * 64)]
    msg = r"Checksum mismatch for file://.*b\.bin.*expected SHA-256 0+"
    with pytest.raises(OSError, match=msg):
        _fetchers._fetch_files(new, bad)
    assert not new.exists()
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["ds"]
    # a corrupted local file is replaced
    (dest / "a.txt").write_bytes(b"corrupt")
    _fetchers._fetch_files(dest, spec)
    assert (dest / "a.txt").read_bytes() == files["a.txt"]


def test_unpinned_hash_warns_with_digest(tmp_path, source):
    src, files = source
    with pytest.warns(UserWarning, match=_sha(files["a.txt"])):
        _fetchers._fetch_files(tmp_path / "u", [("a.txt", (src / "a.txt").as_uri(), None)])
    assert (tmp_path / "u" / "a.txt").exists()


def test_unreachable_url(tmp_path):
    with pytest.raises(OSError, match="Could not download"):
        _fetchers._fetch_files(tmp_path / "d", [("x", (tmp_path / "missing").as_uri(), None)])
    assert not (tmp_path / "d").exists()


def test_fetch_haxby_from_mirror_of_shared_copy(tmp_path, haxby_dir):
    """Mirror the shared copy in PyMVPA's layout: the pinned hashes must match it."""
    mirror = tmp_path / "mirror"
    for r in range(1, 13):
        d = mirror / "BOLD" / f"task001_run{r:03d}"
        d.mkdir(parents=True)
        shutil.copy(haxby_dir / f"run-{r:02d}" / "bold.nii.gz", d / "bold_25mm.nii.gz")
        shutil.copy(haxby_dir / f"run-{r:02d}" / "events.tsv", d / "bold_events.tsv")
    (mirror / "masks" / "25mm").mkdir(parents=True)
    for m in ("brain", "gray", "vt", "hoc"):
        shutil.copy(haxby_dir / "masks" / f"{m}.nii.gz", mirror / "masks" / "25mm")
    ds = fetch_haxby(data_home=tmp_path / "home", base_url=mirror.as_uri())
    assert ds.path == tmp_path / "home" / "haxby2001_sub001"
    assert len(ds.bold) == 12 and all(p.exists() for p in ds.bold + ds.events)
    assert ds.masks["vt"].read_bytes() == (haxby_dir / "masks" / "vt.nii.gz").read_bytes()
    assert "Haxby" in ds.description and ds.tr == 2.5


# ------------------------------------------------------------------ local mirror
def _tiny_mirror(root, files):
    """A mirror with the EEGLAB folder holding ``files`` ({name: bytes})."""
    folder = root / "eeg_eeglab_sample"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return root


@pytest.fixture
def eeglab_like(monkeypatch):
    """Pin the EEGLAB hashes to three tiny files (the mechanics are dataset-independent)."""
    files = {"eeglab_data.set": b"set\n", "eeglab_data.fdt": bytes(range(200)),
             "eeglab_chan32.locs": b"locs\n"}
    monkeypatch.setattr(_fetchers, "_EEGLAB", {k: _sha(v) for k, v in files.items()})
    return files


def test_mirror_copies_verifies_and_never_downloads(tmp_path, eeglab_like, monkeypatch):
    mirror = _tiny_mirror(tmp_path / "mirror", eeglab_like)
    monkeypatch.setattr(_fetchers, "_download", lambda *a: pytest.fail("downloaded"))
    ds = fetch_eeglab_sample(data_home=tmp_path / "home", mirror=mirror)
    assert ds.path == tmp_path / "home" / "eeglab_sample"
    assert ds.fdt.read_bytes() == eeglab_like["eeglab_data.fdt"]
    assert not (ds.fdt.samefile(mirror / "eeg_eeglab_sample" / "eeglab_data.fdt"))
    # present and verified: the mirror is not read again (even when it is gone)
    shutil.rmtree(mirror / "eeg_eeglab_sample")
    (mirror / "eeg_eeglab_sample").mkdir()
    assert fetch_eeglab_sample(data_home=tmp_path / "home", mirror=mirror).set.exists()


def test_mirror_hash_mismatch_names_file_and_both_hashes(tmp_path, eeglab_like):
    bad = dict(eeglab_like, **{"eeglab_data.fdt": b"corrupted"})
    mirror = _tiny_mirror(tmp_path / "mirror", bad)
    home = tmp_path / "home"
    expected, got = _sha(eeglab_like["eeglab_data.fdt"]), _sha(b"corrupted")
    with pytest.raises(OSError, match=rf"Checksum mismatch for .*eeglab_data\.fdt: expected "
                                      rf"SHA-256 {expected}, got {got}"):
        fetch_eeglab_sample(data_home=home, mirror=mirror)
    assert list(home.iterdir()) == []  # nothing moved in, no temporary folder left


def test_mirror_missing_file_is_an_error_naming_file_and_mirror(tmp_path, eeglab_like):
    partial = {k: v for k, v in eeglab_like.items() if k != "eeglab_chan32.locs"}
    mirror = _tiny_mirror(tmp_path / "mirror", partial)
    with pytest.raises(FileNotFoundError, match=r"local mirror lacks 1 file.*"
                                                r"eeg_eeglab_sample/eeglab_chan32\.locs"):
        fetch_eeglab_sample(data_home=tmp_path / "home", mirror=mirror)
    assert list((tmp_path / "home").iterdir()) == []
    with pytest.raises(FileNotFoundError, match=r"Invalid value for `mirror`: expected an "
                                                r"existing folder.*got '.*nowhere'"):
        fetch_eeglab_sample(data_home=tmp_path / "home", mirror=tmp_path / "nowhere")


def test_mirror_resolution_order(tmp_path, eeglab_like, monkeypatch):
    """Argument, then NEUROTOOLKIT_DATA_MIRROR (unless base_url is explicit), then download."""
    env_mirror = _tiny_mirror(tmp_path / "env", eeglab_like)
    arg_mirror = _tiny_mirror(tmp_path / "arg", {k: v for k, v in eeglab_like.items()})
    (arg_mirror / "eeg_eeglab_sample" / "eeglab_data.set").unlink()
    monkeypatch.setenv(MIRROR_ENV, str(env_mirror))
    assert _fetchers._resolve_mirror(None, None) == env_mirror
    assert _fetchers._resolve_mirror(arg_mirror, None) == arg_mirror
    assert _fetchers._resolve_mirror(None, "https://example.org/") is None
    # the argument wins: its missing file is an error, not filled from the env mirror
    with pytest.raises(FileNotFoundError, match=str(arg_mirror)):
        fetch_eeglab_sample(data_home=tmp_path / "h1", mirror=arg_mirror)
    # the env var alone is used
    assert fetch_eeglab_sample(data_home=tmp_path / "h2").set.read_bytes() == b"set\n"
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match=f"environment variable {MIRROR_ENV}.*absent"):
        fetch_eeglab_sample(data_home=tmp_path / "h3")
    with pytest.raises(ValueError, match=r"Invalid value for `mirror`: expected None when "
                                         r"`base_url` is given"):
        fetch_eeglab_sample(data_home=tmp_path / "h4", mirror=env_mirror, base_url="file:///x")
    # no mirror at all: a download, which download_if_missing=False refuses
    monkeypatch.delenv(MIRROR_ENV)
    assert _fetchers._resolve_mirror(None, None) is None
    with pytest.raises(OSError, match=r"not in .* and download_if_missing=False"):
        fetch_eeglab_sample(data_home=tmp_path / "h5", download_if_missing=False)


# ------------------------------------------------------------------ loaders on real data
def test_load_92objects_from_mirror(data_mirror, objects92_dir):
    from neurotoolkit.analysis import load_rdms_mat

    ds = load_92objects()
    stim = ds.stimuli
    assert list(stim.ids) == [f"img{k:02d}" for k in range(92)]
    cats = stim.categories
    assert list(cats.columns) == ["animate", "inanimate", "human", "nonhuman", "body", "face",
                                  "natural_object", "artificial_object"]
    assert (cats.dtypes == bool).all()
    assert cats.sum().to_dict() == {"animate": 48, "inanimate": 44, "human": 24, "nonhuman": 24,
                                    "body": 24, "face": 24, "natural_object": 23,
                                    "artificial_object": 21}
    assert (cats["animate"] ^ cats["inanimate"]).all()
    assert stim.load_images(["img00", "img91"]).shape == (2, 175, 175, 3)
    assert ds.rdms.shape == (4, 2, 92, 92) and ds.rdm_names.shape == (4, 2)
    np.testing.assert_array_equal(ds.rdms, np.swapaxes(ds.rdms, -1, -2))
    np.testing.assert_array_equal(np.diagonal(ds.rdms, axis1=-2, axis2=-1), 0)
    ref, names = load_rdms_mat(objects92_dir / "brain_rdms_hIT.mat")  # the analysis reader
    np.testing.assert_array_equal(ds.rdms, ref)
    assert list(ds.rdm_names.ravel()) == list(names.ravel())
    assert str(data_mirror) not in str(stim.meta["source"])  # copied into data_home


def test_load_92objects_from_upstream_mat(tmp_path, monkeypatch):
    """The downloaded layout (rsatoolbox's .mat files), written here with scipy: same objects."""
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    server = tmp_path / "server"
    server.mkdir()
    images = rng.integers(0, 256, size=(92, 9, 11, 3), dtype=np.uint8)
    structs = np.zeros((1, 92), dtype=[("image", object)])
    for k in range(92):
        structs[0, k]["image"] = images[k]
    vectors = np.zeros((92, 11), dtype=np.uint8)
    vectors[:48, 0] = 1
    vectors[48:, 1] = 1
    vectors[:, 8:] = 1  # extra columns (rand24...) are dropped
    savemat(server / "Kriegeskorte_Neuron2008_supplementalData.mat",
            {"stimuli_92objs": structs, "categoryVectors": vectors})
    rdms = np.zeros((4, 2), dtype=[("RDM", object), ("name", object)])
    for s in range(4):
        for r in range(2):
            m = rng.random((92, 92))
            m = m + m.T
            np.fill_diagonal(m, 0)
            rdms[s, r] = (m, f"hIT | S{s} | Session: {r + 1}")
    savemat(server / "92_brainRDMs.mat", {"RDMs": rdms})
    monkeypatch.setattr(_fetchers, "_RDM_SHA256", _sha((server / "92_brainRDMs.mat").read_bytes()))
    with pytest.warns(UserWarning, match="No published checksum"):
        ds = load_92objects(data_home=tmp_path / "home", base_url=server.as_uri())
    assert list(ds.stimuli.ids) == [f"img{k:02d}" for k in range(92)]
    np.testing.assert_array_equal(ds.stimuli.load_images(["img05"])[0], images[5])
    assert ds.stimuli.categories["animate"].sum() == 48 and ds.stimuli.categories.shape == (92, 8)
    assert ds.rdms.shape == (4, 2, 92, 92) and ds.rdm_names[3, 1] == "hIT | S3 | Session: 2"
    np.testing.assert_array_equal(ds.rdms[2, 0], rdms[2, 0]["RDM"])


def test_load_haxby_from_mirror(data_mirror, haxby_dir):
    from neurotoolkit.data import load_fmri

    ds = load_haxby()
    rec = ds.recording
    assert rec.responses.shape[0] == 12 * 121 and ds.tr == 2.5
    assert set(rec.units["roi"]) == {"vt", "brain"}
    assert sorted(set(rec.runs)) == list(range(1, 13))
    # the same as reading the mirror's files directly
    ref = load_fmri([haxby_dir / f"run-{r:02d}" / "bold.nii.gz" for r in range(1, 13)],
                    mask=haxby_dir / "masks" / "brain.nii.gz", detrend=True,
                    events=[haxby_dir / f"run-{r:02d}" / "events.tsv" for r in range(1, 13)],
                    runs=list(range(1, 13)))
    np.testing.assert_allclose(rec.responses, ref.responses)


def test_load_eeglab_sample_from_mirror(data_mirror):
    pytest.importorskip("mne")
    raw = load_eeglab_sample()
    assert len(raw.ch_names) == 32 and raw.info["sfreq"] == 128
    assert raw.get_channel_types(picks=["EOG1", "EOG2"]) == ["eog", "eog"]
    assert set(raw.annotations.description) == {"square", "rt"}
