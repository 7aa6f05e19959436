"""Electrophysiology adapters: MNE round trips, event alignment, windowed responses, bad input."""

import numpy as np
import pandas as pd
import pytest

mne = pytest.importorskip("mne")

from neurotoolkit.data import (  # noqa: E402
    StimulusSet,
    epochs_to_recording,
    find_stimulus_events,
    load_ephys,
    make_windows,
    read_raw,
)

SFREQ = 250.0
SEEG = ["LA1", "LA2", "LA3", "LA4", "RH1", "RH2", "RH3"]


def _seeg_raw(rng, n_times=2537, first_samp=0):
    """7 sEEG contacts (two shafts) + 1 stim channel, with 11 annotated events."""
    info = mne.create_info(SEEG, SFREQ, "seeg")
    data = rng.normal(scale=1e-5, size=(len(SEEG), n_times))
    raw = mne.io.RawArray(data, info, first_samp=first_samp, verbose="error")
    onsets = 0.5 + 0.7 * np.arange(11)
    raw.set_annotations(mne.Annotations(onsets, 0.1, [f"img{k % 4}" for k in range(11)]))
    return raw


def _assert_seeg(raw):
    assert raw.get_channel_types(picks=SEEG) == ["seeg"] * len(SEEG)


def test_fif_round_trip_keeps_seeg_bads_and_events(tmp_path, rng):
    raw = _seeg_raw(rng)
    raw.info["bads"] = ["RH3"]
    pos = {c: rng.normal(scale=0.03, size=3) for c in SEEG}  # metres, head frame
    raw.set_montage(mne.channels.make_dig_montage(pos, coord_frame="head"))
    fname = tmp_path / "sub-01_task-x_ieeg.fif"
    raw.save(fname, verbose="error")
    back = read_raw(fname)
    _assert_seeg(back)
    assert back.info["bads"] == ["RH3"]
    rec = load_ephys(fname, windows=[(0, 0.1)], tmin=-0.1, tmax=0.2)
    assert list(rec.units["channel"]) == SEEG[:-1]  # bad channel left out
    np.testing.assert_allclose(rec.units[["x", "y", "z"]].to_numpy(),
                               1e3 * np.array([pos[c] for c in SEEG[:-1]]), rtol=1e-6)
    assert rec.space == "head"
    np.testing.assert_allclose(back.get_data(), raw.get_data(), rtol=1e-6, atol=0)
    ev = find_stimulus_events(back)
    np.testing.assert_allclose(ev["onset"], 0.5 + 0.7 * np.arange(11), atol=1 / SFREQ)


def test_fif_keeps_meg_and_ecog_types(tmp_path, rng):
    names = ["MEG0111", "MEG0112", "MEG0113", "G1", "G2"]
    kinds = ["mag", "grad", "grad", "ecog", "ecog"]
    raw = mne.io.RawArray(rng.normal(size=(5, 1000)) * 1e-12, mne.create_info(names, SFREQ, kinds),
                          verbose="error")
    raw.set_annotations(mne.Annotations([1.0, 2.0], 0, ["a", "b"]))
    raw.save(tmp_path / "meg_raw.fif", verbose="error")
    back = read_raw(tmp_path / "meg_raw.fif")
    assert back.get_channel_types() == kinds
    rec = load_ephys(tmp_path / "meg_raw.fif", windows=[(0, 0.1)], tmin=0, tmax=0.2,
                     picks=["mag", "grad"])
    assert rec.modality == "meg" and list(rec.units["ch_type"]) == kinds[:3]


@pytest.mark.parametrize("fmt,suffix", [("edf", ".edf"), ("brainvision", ".vhdr")])
def test_edf_brainvision_lose_seeg_and_mapping_restores_it(tmp_path, rng, fmt, suffix):
    pytest.importorskip("edfio" if fmt == "edf" else "pybv")
    raw = _seeg_raw(rng)
    fname = tmp_path / f"rec{suffix}"
    mne.export.export_raw(fname, raw, fmt=fmt, verbose="error")
    # The format does not store sEEG: MNE reads the channels back as EEG.
    plain = mne.io.read_raw(fname, verbose="error")
    assert set(plain.get_channel_types()) == {"eeg"}
    back = read_raw(fname, ch_types={c: "SEEG" for c in SEEG})
    _assert_seeg(back)
    # EDF pads the last 1-s data record; values are 16-bit (resolution ~2e-9 V here)
    np.testing.assert_allclose(back.get_data()[:, : raw.n_times], raw.get_data(), atol=2e-8)
    # A BIDS-style channels.tsv sidecar next to the file is found and applied, bads included.
    sidecar = tmp_path / "rec_channels.tsv"
    pd.DataFrame({"name": SEEG, "type": ["SEEG"] * 7, "units": "V",
                  "status": ["good"] * 6 + ["bad"]}).to_csv(sidecar, sep="\t", index=False)
    back = read_raw(fname)
    _assert_seeg(back)
    assert back.info["bads"] == ["RH3"]
    # (EDF marks its padding with a BAD_ACQ_SKIP annotation: BAD_/EDGE annotations are skipped)
    ev = find_stimulus_events(back)
    np.testing.assert_allclose(ev["onset"], 0.5 + 0.7 * np.arange(11), atol=1 / SFREQ)


def test_bids_round_trip_seeg(tmp_path, rng):
    mne_bids = pytest.importorskip("mne_bids")
    pytest.importorskip("pybv")
    raw = _seeg_raw(rng)
    raw.set_meas_date(0)
    raw.info["line_freq"] = 50
    bids_path = mne_bids.BIDSPath(subject="01", task="x", datatype="ieeg", root=tmp_path / "bids")
    mne_bids.write_raw_bids(raw, bids_path, allow_preload=True, format="BrainVision",
                            verbose="error")
    back = read_raw(bids_path)
    _assert_seeg(back)  # restored from channels.tsv by mne-bids
    rec = load_ephys(bids_path, tmin=-0.1, tmax=0.3, windows=[(0.0, 0.1), (0.1, 0.3)])
    assert rec.modality == "seeg"
    assert rec.responses.shape == (11, 7 * 2)
    assert list(rec.stimulus_ids[:4]) == ["img0", "img1", "img2", "img3"]


def test_windowed_means_match_numpy(rng):
    raw = _seeg_raw(rng, first_samp=37)
    windows = [(0.0, 0.1), (0.05, 0.2), (0.2, 0.4)]
    rec, epochs = load_ephys(raw, tmin=-0.2, tmax=0.4, windows=windows, return_epochs=True,
                             subject="sub-07")
    data = raw.get_data()
    times = np.arange(int(-0.2 * SFREQ), int(0.4 * SFREQ) + 1) / SFREQ
    onsets = 0.5 + 0.7 * np.arange(11)
    expected = np.empty((11, 7, 3))
    for e, on in enumerate(onsets):
        seg = data[:, int(round(on * SFREQ)) + int(round(-0.2 * SFREQ)):][:, : len(times)]
        for w, (a, b) in enumerate(windows):
            sel = (times >= a - 1e-9) & (times < b - 1e-9)
            expected[e, :, w] = seg[:, sel].mean(axis=1)
    np.testing.assert_allclose(rec.responses, expected.reshape(11, 21), rtol=1e-10)
    assert rec.units.loc["LA2@50-200ms", "channel"] == "LA2"
    assert rec.units.loc["LA2@50-200ms", "tmin"] == 0.05
    assert set(rec.units["roi"]) == {"LA", "RH"}
    assert set(rec.units["ch_type"]) == {"seeg"}
    assert rec.subject == "sub-07" and rec.modality == "seeg"
    assert list(epochs.metadata["stim_id"]) == list(rec.stimulus_ids)
    # full time courses: one unit per (channel, sample)
    full = epochs_to_recording(epochs, windows="samples")
    assert full.responses.shape == (11, 7 * len(times))


def test_events_table_stim_channel_delay_and_photodiode(rng):
    n = 3001
    info = mne.create_info(["LA1", "LA2", "STI", "PD"], SFREQ, ["seeg", "seeg", "stim", "misc"])
    data = np.zeros((4, n))
    data[:2] = rng.normal(size=(2, n))
    trig = np.array([300, 900, 1500, 2100])
    lags = np.array([5, 8, 6, 11])  # photodiode lags in samples
    for s, lag in zip(trig, lags):
        data[2, s:s + 5] = 3
        data[3, s + lag:s + lag + 40] = 1.0
    raw = mne.io.RawArray(data, info, verbose="error")
    ev = find_stimulus_events(raw, "stim_channel", stim_channel="STI", event_id={3: "face"})
    assert list(ev["sample"]) == trig.tolist() and set(ev["stim_id"]) == {"face"}
    ev = find_stimulus_events(raw, "stim_channel", stim_channel="STI", delay=0.016)
    np.testing.assert_allclose(ev["onset"], trig / SFREQ + 0.016)
    ev = find_stimulus_events(raw, "stim_channel", stim_channel="STI", photodiode="PD")
    assert list(ev["sample"]) == (trig + lags).tolist()
    np.testing.assert_allclose(ev.attrs["photodiode_lags"], lags / SFREQ)
    table = pd.DataFrame({"onset": [2.0, 6.1, 1.2], "trial_type": "img",
                          "stim_id": ["b", "c", "a"]})
    ev = find_stimulus_events(raw, "table", events_table=table)
    assert list(ev["stim_id"]) == ["a", "b", "c"]  # sorted by onset
    assert list(ev["sample"]) == [300, 500, 1525]


# ------------------------------------------------------------------- real data
def test_eeglab_sample_epochs_and_windows(eeglab_dir):
    fname = eeglab_dir / "eeglab_data.set"
    rec = load_ephys(fname, stimulus_ids=["square", "rt"], tmin=-0.2, tmax=0.6, windows=0.1,
                     baseline=(None, 0), preprocessing=[("bandpass", {"l_freq": 1, "h_freq": 30})])
    assert rec.modality == "eeg"
    assert rec.responses.shape == (154, 32 * 6)
    assert (rec.stimulus_ids == "square").sum() == 80 and (rec.stimulus_ids == "rt").sum() == 74
    assert {"channel", "tmin", "tmax", "roi", "ch_type", "x", "y", "z"} <= set(rec.units.columns)
    assert rec.meta["preprocessing"][0]["step"] == "bandpass"
    assert rec.meta["source_files"] == [str(fname)]
    assert rec.space == "head"


# -------------------------------------------------------------------- bad input
def test_unreadable_missing_and_unknown_files(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="nope.fif"):
        read_raw(tmp_path / "nope.fif")
    other = tmp_path / "data.xyz"
    other.write_text("x")
    with pytest.raises(ValueError, match=r"data.xyz.*suffix"):
        read_raw(other)
    raw = _seeg_raw(rng)
    good = tmp_path / "good_raw.fif"
    raw.save(good, verbose="error")
    blob = good.read_bytes()
    bad = tmp_path / "trunc_raw.fif"
    bad.write_bytes(blob[: len(blob) // 3])
    with pytest.raises(ValueError, match=r"trunc_raw.fif.*FIF"):
        read_raw(bad)
    pytest.importorskip("edfio")
    mne.export.export_raw(tmp_path / "full.edf", raw, fmt="edf", verbose="error")
    blob = (tmp_path / "full.edf").read_bytes()
    (tmp_path / "cut.edf").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"cut.edf looks truncated.*file size"):
        read_raw(tmp_path / "cut.edf")
    assert read_raw(tmp_path / "cut.edf", allow_truncated=True).n_times < raw.n_times
    garbage = tmp_path / "garbage.edf"
    garbage.write_bytes(b"0" * 100)
    with pytest.raises(ValueError, match=r"garbage.edf.*EDF"):
        read_raw(garbage)


def test_events_outside_the_recording(tmp_path, rng):
    raw = _seeg_raw(rng)
    fname = tmp_path / "short_raw.fif"
    raw.save(fname, verbose="error")
    table = pd.DataFrame({"onset": [1.0, 40.0], "stim_id": ["a", "b"]})
    with pytest.raises(ValueError, match=r"outside the recording in .*short_raw.fif.*40.0"):
        load_ephys(fname, events=table)
    # the epoch windows of the last two events (6.8 and 7.5 s) leave the 10.148-s file
    with pytest.raises(ValueError, match=r"outside the recording.*epoch window"):
        load_ephys(fname, tmin=-0.1, tmax=3.5)
    rec = load_ephys(fname, tmin=-0.1, tmax=3.5, on_outside="drop")
    assert rec.n_trials == 9 and rec.meta["dropped_events"] == 2


def test_stimulus_ids_missing_from_stimulus_set(rng):
    raw = _seeg_raw(rng)
    stimuli = StimulusSet(["img0", "img1", "img2"])
    with pytest.raises(ValueError, match=r"missing from the StimulusSet.*img3"):
        load_ephys(raw, stimuli=stimuli, windows=[(0, 0.2)])
    rec = load_ephys(raw, stimuli=StimulusSet([f"img{k}" for k in range(4)]), windows=[(0, 0.2)])
    assert rec.n_trials == 11


def test_sampling_rate_mismatch_and_runs(tmp_path, rng):
    a, b = _seeg_raw(rng), _seeg_raw(rng).resample(200.0, verbose="error")
    fa, fb = tmp_path / "run1_raw.fif", tmp_path / "run2_raw.fif"
    a.save(fa, verbose="error")
    b.save(fb, verbose="error")
    with pytest.raises(ValueError, match=r"Sampling-rate mismatch.*run2_raw.fif.*200 Hz"):
        load_ephys([fa, fb], windows=[(0, 0.2)])
    rec = load_ephys([fa, fb], windows=[(0, 0.2)], preprocessing=[("resample", {"sfreq": 100})])
    assert rec.n_trials == 22 and list(np.unique(rec.runs)) == [0, 1]
    assert rec.meta["preprocessing"][0] == {"step": "resample", "sfreq": 100.0,
                                            "from_sfreq": 250.0}


def test_all_bad_channels(tmp_path, rng):
    raw = _seeg_raw(rng)
    raw.info["bads"] = list(SEEG)
    fname = tmp_path / "allbad_raw.fif"
    raw.save(fname, verbose="error")
    with pytest.raises(ValueError, match=r"All channels of .*allbad_raw.fif are marked bad"):
        load_ephys(fname)
    with pytest.raises(ValueError, match=r"not channels of"):
        read_raw(fname, bads=["XX9"])


def test_make_windows():
    w = make_windows(-2, 2, 0.2, 0.025)
    assert w[0] == (-2.0, -1.8) and w[-1] == (1.8, 2.0) and len(w) == 153
    assert make_windows(0, 0.5, 0.1) == [(0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4),
                                         (0.4, 0.5)]
    with pytest.raises(ValueError, match="length"):
        make_windows(0, 0.1, 0.2)
