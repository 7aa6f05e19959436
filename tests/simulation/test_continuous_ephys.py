"""simulate_trf_ephys: recording layout, planted kernels reproduce the signal, SNR, errors."""

import numpy as np
import pytest

from neurotoolkit.simulation import SimulatedTRF, simulate_trf_ephys


def test_recording_layout_and_truth():
    sim = simulate_trf_ephys(n_chans=10, n_runs=3, run_duration=8.0, sfreq=100.0, n_bands=5,
                             modality="seeg", noise_fraction=0.3, random_state=0)
    assert isinstance(sim, SimulatedTRF)
    rec = sim.recording
    assert rec.is_timeseries and rec.meta["sfreq"] == 100.0 and rec.modality == "seeg"
    assert rec.responses.shape == (2400, 10) and sim.features.shape == (2400, 5)
    np.testing.assert_array_equal(rec.runs, sim.runs)
    np.testing.assert_allclose(rec.sample_times(), sim.times)
    assert sim.kernels.shape == (10, 5, 51) and sim.lag_times[0] == pytest.approx(-0.1)
    assert (sim.snr == 0).sum() == 3
    assert set(rec.units.loc[sim.snr == 0, "roi"]) == {"noise"}
    assert np.all(sim.kernels[sim.snr == 0] == 0)
    assert np.all(sim.kernels[:, :, sim.lag_times < 0] == 0)  # causal kernels
    assert set(np.unique(sim.sign)) <= {-1.0, 1.0}
    # the positive lobe of each signal channel's time course peaks at its latency
    sig = np.flatnonzero(sim.snr > 0)
    tc = (sim.kernels[sig] * sim.sign[sig, None, None]).sum(1)  # tuning >= 0
    peak = sim.lag_times[np.argmax(tc, axis=1)]
    np.testing.assert_allclose(peak, sim.latency[sig], atol=0.011)


def test_signal_is_lagged_convolution_of_features_with_kernels():
    sim = simulate_trf_ephys(n_chans=4, n_runs=2, run_duration=6.0, sfreq=50.0, n_bands=3,
                             random_state=1)
    lags = np.round(sim.lag_times * 50).astype(int)
    ref = np.zeros_like(sim.signal)
    for r in np.unique(sim.runs):
        idx = np.flatnonzero(sim.runs == r)
        for c in range(4):
            for f in range(3):
                # np.convolve of the run with the kernel on its lag axis (causal part only)
                k = sim.kernels[c, f, lags >= 0]
                ref[idx, c] += np.convolve(sim.features[idx, f], k)[:idx.size]
    np.testing.assert_allclose(sim.signal, ref, atol=1e-10)
    # noise has unit variance: the response variance is about 1 + snr
    noise = sim.recording.responses - sim.signal
    np.testing.assert_allclose(noise.std(0), 1.0, rtol=1e-10)
    np.testing.assert_allclose(sim.signal.var(0), sim.snr, rtol=1e-10, atol=1e-12)


def test_reproducible_and_envelope_mode():
    a = simulate_trf_ephys(n_chans=3, n_runs=2, run_duration=5.0, features="envelope",
                           random_state=7)
    b = simulate_trf_ephys(n_chans=3, n_runs=2, run_duration=5.0, features="envelope",
                           random_state=7)
    np.testing.assert_array_equal(a.recording.responses, b.recording.responses)
    assert a.features.shape[1] == 1 and a.feature_names == ["envelope"]
    assert np.corrcoef(a.features[:, 0], a.envelope)[0, 1] > 0.99


@pytest.mark.parametrize("kwargs, match", [
    ({"tmin": 0.1}, "tmin <= 0"),
    ({"features": "words"}, "`features`"),
    ({"modality": "fmri"}, "`modality`"),
    ({"noise_fraction": 1.0}, "`noise_fraction`"),
    ({"run_duration": 0.3}, "runs longer than the lag window"),
    ({"sfreq": -1.0}, "`sfreq`"),
])
def test_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_trf_ephys(**kwargs)


def test_feature_timecourse_view():
    features = pytest.importorskip("neurotoolkit.features")
    if not hasattr(features, "FeatureTimeCourse"):
        pytest.skip("FeatureTimeCourse not available yet")
    sim = simulate_trf_ephys(n_chans=2, n_runs=2, run_duration=5.0, random_state=0)
    ftc = sim.feature_timecourse()
    np.testing.assert_array_equal(ftc.values, sim.features)
    np.testing.assert_array_equal(ftc.runs, sim.runs)
