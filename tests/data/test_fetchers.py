"""Fetchers, offline: file:// URLs to files written (or copied) by the tests."""

import hashlib
import shutil

import pytest

from neurotoolkit.data import fetch_haxby, get_data_home
from neurotoolkit.data.datasets import _fetchers


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
