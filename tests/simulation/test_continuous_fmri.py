"""simulate_naturalistic_fmri: a movie, planted per-ROI HRFs, repeats of a test run."""

import numpy as np
import pandas as pd
import pytest

from neurotoolkit.simulation import simulate_naturalistic_fmri
from neurotoolkit.simulation._timecourses import spm_hrf


@pytest.fixture(scope="module")
def movie():
    return simulate_naturalistic_fmri(n_train_runs=3, n_test_repeats=5, run_duration=120.0,
                                      random_state=1)


def test_structure(movie):
    train, test, tl, stim, truth = movie
    n_units = len(truth.units)
    assert train.is_timeseries and train.meta["tr"] == 2.0
    assert list(pd.unique(train.runs)) == ["run-01", "run-02", "run-03"]
    assert train.responses.shape == (3 * 60, n_units)
    assert len(test) == 5 and all(list(pd.unique(t.runs)) == ["test"] for t in test)
    assert list(train.units.index) == list(test[0].units.index) == list(truth.units.index)
    ev = tl.events
    assert (ev["kind"] == "frame").all() and len(ev) == 4 * 120 * 5  # 3 runs + test, 5 fps
    assert list(tl.runs) == ["run-01", "run-02", "run-03", "test"]
    assert list(ev["stim_id"]) == list(stim.ids)
    np.testing.assert_allclose(ev.loc[ev["run"] == "test", "onset"], np.arange(600) / 5.0)
    assert truth.features["lowlevel"].shape == (len(ev), 41)  # 4 ori x 2 SF x 5 cells + speed
    assert truth.features["semantic"].shape == (len(ev), 5)
    assert truth.hrfs.shape == (n_units, len(truth.hrf_times))
    # the test repeats share the signal, not the noise
    assert not np.allclose(test[0].responses, test[1].responses)


def test_signal_is_the_drive_convolved_with_each_units_hrf(movie):
    """Reference: np.convolve of the per-frame drive with spm_hrf at the planted shape."""
    train, test, tl, stim, truth = movie
    fps, step = 5.0, 10
    drive = (truth.features["lowlevel"] @ truth.weights["lowlevel"]
             + truth.features["semantic"] @ truth.weights["semantic"])
    ev = tl.events
    for u in [0, 70, 100, 150]:  # V1, MT, FFA, PPA
        h = spm_hrf(np.arange(0, 32, 1 / fps), peak=truth.units["hrf_shape"].iloc[u])
        for run in ["run-02", "test"]:
            d = drive[(ev["run"] == run).to_numpy(), u] - drive[:, u].mean()
            ref = np.convolve(d, h)[:len(d)][::step]
            np.testing.assert_allclose(truth.signal[run][:, u], ref, atol=1e-9 * np.abs(ref).max())
    # planted SNR: signal variance over all samples / noise variance
    allsig = np.concatenate(list(truth.signal.values()))
    snr = allsig.var(0) / truth.units["noise_sd"].to_numpy() ** 2
    np.testing.assert_allclose(snr, truth.units["snr"], rtol=1e-6, atol=1e-12)
    # the recording is baseline + signal + noise of the planted sd
    resid = train.responses - np.concatenate([truth.signal[r] for r in ["run-01", "run-02",
                                                                        "run-03"]])
    resid -= resid.mean(0)
    ratio = resid.std(0) / truth.units["noise_sd"].to_numpy()
    assert np.all(np.abs(ratio - 1) < 0.25) and abs(ratio.mean() - 1) < 0.03


def test_planted_peak_latencies(movie):
    truth = movie.truth
    peaks = truth.hrf_times[np.argmax(truth.hrfs, axis=1)]
    np.testing.assert_allclose(peaks, truth.units["peak_latency"], atol=0.2 + 1e-9)  # 1 frame
    by_roi = truth.units.groupby("roi")["peak_latency"].mean()
    for roi in ("V1", "MT", "FFA", "PPA", "EBA"):
        assert abs(by_roi[roi] - truth.roi_peak_latency[roi]) < 0.15
    assert by_roi["V1"] < by_roi["FFA"] < by_roi["PPA"] < by_roi["EBA"]


def test_true_noise_ceiling_matches_the_repeats(movie):
    from neurotoolkit.data import noise_ceiling

    test, truth = movie.test, movie.truth
    R, n = len(test), test[0].n_trials
    Y = np.vstack([t.responses for t in test])
    ids = np.tile(np.arange(n).astype(str), R)
    nc = noise_ceiling(Y, ids, n_average=R, zscore_by=np.repeat(np.arange(R), n))
    true = truth.noise_ceiling()
    sig = (truth.units["roi"] != "noise").to_numpy()
    assert np.abs(nc[sig] - true[sig]).mean() < 0.05
    # pure noise: the true ceiling is 0; the estimate is clipped at 0, and small
    assert (true[~sig] == 0).all() and np.median(nc[~sig]) < 0.05 and nc[~sig].mean() < 0.15
    np.testing.assert_allclose(truth.noise_ceiling(R), true)
    assert (truth.noise_ceiling(1)[sig] < true[sig]).all()


def test_reproducible_and_errors():
    from neurotoolkit.simulation import make_builtin_stimuli

    small = dict(n_train_runs=1, n_test_repeats=1, run_duration=20.0,
                 stimuli=make_builtin_stimuli(n_per_category=3, size=48),
                 n_units_per_roi={"V1": 3, "MT": 1, "FFA": 1, "PPA": 1, "EBA": 1, "noise": 1})
    a = simulate_naturalistic_fmri(random_state=3, **small)
    b = simulate_naturalistic_fmri(random_state=3, **small)
    c = simulate_naturalistic_fmri(random_state=4, **small)
    np.testing.assert_array_equal(a.train.responses, b.train.responses)
    assert not np.allclose(a.train.responses, c.train.responses)
    with pytest.raises(ValueError, match=r"`fps`: expected a whole number of frames per TR"):
        simulate_naturalistic_fmri(fps=3.3, **small)
    with pytest.raises(ValueError, match=r"`run_duration`: expected a positive whole number"):
        simulate_naturalistic_fmri(run_duration=21.0, **{k: v for k, v in small.items()
                                                         if k != "run_duration"})
    with pytest.raises(ValueError, match=r"`n_units_per_roi`: expected ROIs among"):
        simulate_naturalistic_fmri(n_units_per_roi={"V4": 3}, stimuli=small["stimuli"])
    with pytest.raises(ValueError, match=r"`peak_latency`: expected latencies within"):
        simulate_naturalistic_fmri(peak_latency={"V1": 40.0}, **small)
