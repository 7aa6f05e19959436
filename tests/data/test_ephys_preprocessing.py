"""Recorded preprocessing steps for sEEG/MEG/EEG, each checked against a closed form."""

import numpy as np
import pytest

mne = pytest.importorskip("mne")

from neurotoolkit.data import load_ephys, preprocess_raw  # noqa: E402
from neurotoolkit.data.ephys._preprocessing import shaft_contacts  # noqa: E402

SFREQ = 1000.0
NAMES = ["LA1", "LA2", "LA3", "LA4", "RH1", "RH2", "RH4"]


def _raw(data, names=NAMES, kind="seeg", sfreq=SFREQ):
    return mne.io.RawArray(data, mne.create_info(list(names), sfreq, kind), verbose="error")


def _power_at(x, freq, sfreq=SFREQ):
    spec = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    f = np.fft.rfftfreq(x.shape[-1], 1 / sfreq)
    return spec[..., np.argmin(np.abs(f - freq))]


def test_notch_removes_line_and_harmonics_keeps_rest(rng):
    t = np.arange(4013) / SFREQ
    sig = (np.sin(2 * np.pi * 60 * t) + 0.5 * np.sin(2 * np.pi * 120 * t)
           + np.sin(2 * np.pi * 37 * t))
    data = sig + 0.01 * rng.normal(size=(7, t.size))
    raw = _raw(data)
    raw.info["line_freq"] = 60.0
    out, prov = preprocess_raw(raw, ["notch"])
    x, y = raw.get_data(), out.get_data()
    assert (_power_at(y, 60) < 1e-3 * _power_at(x, 60)).all()
    assert (_power_at(y, 120) < 1e-3 * _power_at(x, 120)).all()
    np.testing.assert_allclose(_power_at(y, 37), _power_at(x, 37), rtol=0.05)
    assert prov == [{"step": "notch", "freqs": [60.0, 120.0, 180.0, 240.0, 300.0, 360.0],
                     "q": 30.0, "method": "iir"}]
    np.testing.assert_array_equal(raw.get_data(), x)  # copy=True leaves the input alone
    with pytest.raises(ValueError, match="line_freq"):
        preprocess_raw(_raw(data), ["notch"])


def test_average_bipolar_and_laplacian_references(rng):
    data = rng.normal(size=(7, 503))
    raw = _raw(data)
    avg, _ = preprocess_raw(raw, [("reference", {"method": "average"})])
    np.testing.assert_allclose(avg.get_data(), data - data.mean(axis=0), atol=1e-12)

    bip, prov = preprocess_raw(raw, [("reference", {"method": "bipolar"})])
    # RH4 has no neighbour RH3: RH1-RH2 is the only RH pair, RH4 is dropped
    assert bip.ch_names == ["LA1-LA2", "LA2-LA3", "LA3-LA4", "RH1-RH2"]
    np.testing.assert_allclose(bip.get_data()[1], data[1] - data[2], atol=1e-12)
    assert bip.get_channel_types() == ["seeg"] * 4
    assert prov[0]["pairs"][-1] == "RH1-RH2"

    lap, prov = preprocess_raw(raw, [{"step": "reference", "method": "laplacian"}])
    assert lap.ch_names == ["LA2", "LA3"]  # the only contacts with both neighbours
    np.testing.assert_allclose(lap.get_data()[0], data[1] - 0.5 * (data[0] + data[2]), atol=1e-12)
    np.testing.assert_allclose(lap.get_data()[1], data[2] - 0.5 * (data[1] + data[3]), atol=1e-12)
    assert prov[0]["dropped"] == ["LA1", "LA4", "RH1", "RH2", "RH4"]


def test_shaft_contacts():
    assert shaft_contacts(["LA10", "LA2", "LA1", "RH 3", "ECG"]) == {
        "LA": [(1, "LA1"), (2, "LA2"), (10, "LA10")], "RH": [(3, "RH 3")]}


def test_high_gamma_envelope_tracks_amplitude_modulation(rng):
    t = np.arange(6007) / SFREQ
    am = 1 + 0.8 * np.sin(2 * np.pi * 1.3 * t)  # slow amplitude modulation
    data = am * np.sin(2 * np.pi * 110 * t) + 0.05 * rng.normal(size=(7, t.size))
    raw = _raw(data)
    out, prov = preprocess_raw(raw, ["high_gamma", ("resample", {"sfreq": 200})])
    env = out.get_data()
    assert out.info["sfreq"] == 200
    am_ds = np.log(np.interp(out.times, t, am))
    core = slice(100, -100)  # filter edges
    for ch in env:
        assert np.corrcoef(ch[core], am_ds[core])[0, 1] > 0.95
    np.testing.assert_allclose(env.mean(axis=1), 0, atol=0.05)
    assert prov[0] == {"step": "high_gamma", "l_freq": 70.0, "h_freq": 150.0,
                       "envelope": "hilbert", "log": True, "zscore": True}
    with pytest.raises(ValueError, match="Nyquist"):
        preprocess_raw(_raw(data[:, ::5], sfreq=200.0), ["high_gamma"])


def test_bandpass_robust_scale_zscore(rng):
    data = rng.standard_t(3, size=(7, 2011)) * np.arange(1, 8)[:, None] + 5
    raw = _raw(data)
    out, prov = preprocess_raw(raw, [("robust_scale", {"clamp": None})])
    q1, med, q3 = np.percentile(data, [25, 50, 75], axis=1, keepdims=True)
    np.testing.assert_allclose(out.get_data(), (data - med) / (q3 - q1), atol=1e-12)
    out, _ = preprocess_raw(raw, ["robust_scale"])
    assert np.abs(out.get_data()).max() <= 5
    out, _ = preprocess_raw(raw, ["zscore"])
    np.testing.assert_allclose(out.get_data().std(axis=1), 1, atol=1e-12)
    t = np.arange(4001) / SFREQ
    mix = np.sin(2 * np.pi * 10 * t) + np.sin(2 * np.pi * 200 * t)
    out, prov = preprocess_raw(_raw(np.tile(mix, (7, 1))), [("bandpass", {"l_freq": 1,
                                                                          "h_freq": 40})])
    y = out.get_data()
    assert (_power_at(y, 200) < 1e-4 * _power_at(mix, 200)).all()
    assert prov[0]["l_freq"] == 1 and prov[0]["h_freq"] == 40


def test_steps_recorded_in_recording_meta_and_bad_steps(rng):
    data = rng.normal(size=(7, 3000))
    raw = _raw(data)
    raw.info["bads"] = ["RH4"]
    raw.set_annotations(mne.Annotations([0.5, 1.5], 0, ["a", "b"]))
    steps = ["drop_bads", ("reference", {"method": "bipolar"}), ("resample", {"sfreq": 250})]
    rec = load_ephys(raw, tmin=-0.1, tmax=0.4, windows=[(0, 0.2)], preprocessing=steps)
    assert [s["step"] for s in rec.meta["preprocessing"]] == ["drop_bads", "reference", "resample"]
    assert rec.meta["preprocessing"][0]["dropped"] == ["RH4"]
    assert list(rec.units["channel"]) == ["LA1-LA2", "LA2-LA3", "LA3-LA4", "RH1-RH2"]
    assert rec.meta["sfreq"] == 250
    with pytest.raises(ValueError, match=r"unknown step\(s\) \['detrend'\]"):
        preprocess_raw(raw, ["detrend"])
    with pytest.raises(TypeError, match="Invalid parameters for preprocessing step 'resample'"):
        preprocess_raw(raw, [("resample", {"rate": 100})])
    raw.info["bads"] = list(NAMES)
    with pytest.raises(ValueError, match="All channels of <in-memory Raw> are marked bad"):
        preprocess_raw(raw, ["zscore"])
