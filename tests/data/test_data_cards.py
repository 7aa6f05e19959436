"""Data cards: every card conforms to data_cards/schema.yaml, and broken cards fail loudly."""

import copy
import hashlib
import shutil
import sys
from pathlib import Path

import pytest

from neurotoolkit.data import list_data_cards, load_data_card, validate_data_card
from neurotoolkit.data.datasets import _cards

CARDS_DIR = Path(__file__).resolve().parents[2] / "data_cards"
SLUGS = list_data_cards()
EXPECTED = {
    "nsd", "bold5000", "things_fmri", "things_meg", "things_eeg2",
    "brain_treebank", "camcan_meg", "haxby2001", "objects92", "eeglab_sample",
}
# shared/data folder -> conftest fixture that resolves (or skips) it
SHARED_FIXTURES = {
    "fmri_haxby2001_sub001": "haxby_dir",
    "eeg_eeglab_sample": "eeglab_dir",
    "stimuli_92objects": "objects92_dir",
}


@pytest.fixture(scope="module")
def schema():
    return _cards._read_yaml(CARDS_DIR / "schema.yaml")


@pytest.fixture(params=["jsonschema", "builtin"])
def backend(request, monkeypatch):
    """Run validate_data_card with jsonschema, and with jsonschema made unimportable."""
    if request.param == "jsonschema":
        pytest.importorskip("jsonschema")
    else:
        monkeypatch.setitem(sys.modules, "jsonschema", None)
    return request.param


def test_cards_folder_is_the_checkout_folder():
    assert _cards._cards_dir().resolve() == CARDS_DIR.resolve()
    assert set(SLUGS) == EXPECTED


@pytest.mark.parametrize("slug", SLUGS)
def test_card_conforms(slug, schema, backend):
    card = load_data_card(slug)  # validates, and checks slug == file name
    assert card["slug"] == slug
    validate_data_card(card, schema=schema)
    assert _cards._compact_errors(card, schema) == []


def test_slugs_and_names_unique():
    cards = [load_data_card(s) for s in SLUGS]
    assert len(SLUGS) == len(set(SLUGS))
    assert len({c["slug"].lower() for c in cards}) == len(cards)
    names = [c["identity"]["name"].lower() for c in cards]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("slug", SLUGS)
def test_card_has_licence_access_and_adapter(slug):
    card = load_data_card(slug)
    ident = card["identity"]
    assert ident["licence"].strip()
    assert ident["citation"].strip()
    access = ident["access"]
    assert access["route"] in {"open_download", "data_use_agreement", "request"}
    assert access["url"].startswith(("http://", "https://"))
    assert len(access["instructions"]) > 20
    assert card["adapter"].startswith("neurotoolkit.")
    if card["adapter_status"] == "available":
        assert _cards._resolves(card["adapter"])


@pytest.mark.parametrize("slug", [s for s in SLUGS if s in {"haxby2001", "eeglab_sample", "objects92"}])
def test_shared_copy_checksums(slug, request):
    card = load_data_card(slug)
    folder = card["identity"]["access"]["shared_copy"]
    checksums = card["identity"]["checksums"]
    assert folder in SHARED_FIXTURES and checksums["algorithm"] == "sha256"
    root = request.getfixturevalue(SHARED_FIXTURES[folder])
    for rel, digest in checksums["files"].items():
        assert hashlib.sha256((root / rel).read_bytes()).hexdigest() == digest, rel


def test_haxby_card_matches_shared_data(haxby_dir):
    nib = pytest.importorskip("nibabel")
    card = load_data_card("haxby2001")
    img = nib.load(haxby_dir / "run-01" / "bold.nii.gz")
    assert img.shape == (6, 10, 10, 121)
    assert float(img.header.get_zooms()[3]) == card["acquisition"]["sampling"]["tr_s"]
    assert set(card["geometry"]["rois"]) == {p.name.split(".")[0] for p in (haxby_dir / "masks").iterdir()}


def test_eeglab_card_matches_shared_data(eeglab_dir):
    mne = pytest.importorskip("mne")
    card = load_data_card("eeglab_sample")
    raw = mne.io.read_raw_eeglab(eeglab_dir / "eeglab_data.set", verbose=False)
    assert raw.info["sfreq"] == card["acquisition"]["sampling"]["sfreq_hz"]
    channels = card["acquisition"]["channels"]
    assert len(raw.ch_names) == sum(channels.values())
    assert sum(name.startswith("EOG") for name in raw.ch_names) == channels["eog"]
    assert set(raw.annotations.description) == {"square", "rt"}
    assert len(raw.annotations) == 154


def _broken(slug="nsd"):
    return copy.deepcopy(load_data_card(slug))


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda c: c["identity"].pop("licence"), r"`identity\.licence` is required"),
        (lambda c: c.pop("adapter"), r"`adapter` is required"),
        (lambda c: c["identity"]["access"].pop("url"), r"`identity\.access\.url` is required"),
        (lambda c: c["population"].update(n_subjects="eight"), r"`population\.n_subjects`"),
        (lambda c: c.update(adapter_status="done"), r"`adapter_status`"),
        (lambda c: c["acquisition"].update(modality=["pet"]), r"`acquisition\.modality\.0`"),
        (lambda c: c["identity"]["access"].update(route="torrent"), r"`identity\.access\.route`"),
        (lambda c: c["identity"]["access"].update(url="ftp://x"), r"`identity\.access\.url`"),
        (lambda c: c["practical"].update(intended_tasks=[]), r"`practical\.intended_tasks`"),
        (lambda c: c.update(licence="CC0"), r"`licence` is not a known field"),
        (lambda c: c["identity"].update(
            checksums={"algorithm": "sha256", "scope": "x", "files": {"a": "not-hex"}}),
         r"`identity\.checksums\.files\.a`"),
    ],
)
def test_broken_card_names_the_field(mutate, field, schema, backend):
    card = _broken()
    mutate(card)
    with pytest.raises(ValueError, match=field):
        validate_data_card(card, schema=schema)


def test_error_lists_every_problem(schema, backend):
    card = _broken()
    del card["identity"]["licence"]
    del card["population"]["n_subjects"]
    with pytest.raises(ValueError, match=r"2 problem\(s\)") as info:
        validate_data_card(card, schema=schema)
    assert "identity.licence" in str(info.value) and "population.n_subjects" in str(info.value)
    assert "'nsd'" in str(info.value)


def test_cross_field_rules(schema):
    card = _broken("brain_treebank")
    card["population"]["implant_rationale"] = None
    with pytest.raises(ValueError, match=r"population\.implant_rationale"):
        validate_data_card(card, schema=schema)
    card = _broken("nsd")
    card["adapter"], card["adapter_status"] = "neurotoolkit.data.no_such_reader", "available"
    with pytest.raises(ValueError, match=r"cannot be imported"):
        validate_data_card(card, schema=schema)
    assert not _cards._resolves("neurotoolkit.data.StimulusSet.no_such_method")
    assert _cards._resolves("neurotoolkit.data.StimulusSet.from_folder")


def test_validate_rejects_non_dict():
    with pytest.raises(TypeError, match="`card`"):
        validate_data_card(["not", "a", "card"])


def test_unknown_slug_lists_available():
    with pytest.raises(ValueError, match=r"Invalid value for `slug`.*'nsd'.*got 'nds'"):
        load_data_card("nds")


def test_env_override_and_slug_mismatch(tmp_path, monkeypatch):
    shutil.copy(CARDS_DIR / "schema.yaml", tmp_path / "schema.yaml")
    shutil.copy(CARDS_DIR / "objects92.yaml", tmp_path / "objects92.yaml")
    shutil.copy(CARDS_DIR / "nsd.yaml", tmp_path / "renamed.yaml")
    monkeypatch.setenv("NEUROTOOLKIT_DATA_CARDS", str(tmp_path))
    assert list_data_cards() == ["objects92", "renamed"]
    assert load_data_card("objects92")["adapter_status"] == "available"
    with pytest.raises(ValueError, match=r"`slug` must equal the file name 'renamed', got 'nsd'"):
        load_data_card("renamed")
    assert load_data_card("renamed", validate=False)["slug"] == "nsd"


def test_missing_folder_explains_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROTOOLKIT_DATA_CARDS", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="source checkout"):
        list_data_cards()
