"""Time-resolved decoding: against scikit-learn per time point, planted effects, real EEG."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("mne")

from neurotoolkit.data import Recording
from neurotoolkit.decoding import (
    TimeResolvedScores,
    peak_score,
    time_resolved_decoding,
)


def _planted(rng, n_epochs=61, n_chans=7, n_times=13, effect=slice(5, 9), strength=1.5):
    """Two classes that differ along one spatial pattern only at times ``effect``."""
    y = np.r_[np.zeros(31, int), np.ones(n_epochs - 31, int)]
    X = rng.normal(size=(n_epochs, n_chans, n_times))
    pattern = rng.normal(size=n_chans)
    X[:, :, effect] += strength * (2 * y[:, None, None] - 1) * pattern[None, :, None]
    times = np.linspace(-0.2, 0.4, n_times)
    return X, y, times


def test_matches_sklearn_cross_val_score_per_time(rng):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, times = _planted(rng)
    cv = StratifiedKFold(4, shuffle=True, random_state=3)
    res = time_resolved_decoding(X, y, times=times, cv=cv)
    assert isinstance(res, TimeResolvedScores)
    assert res.scores.shape == (4, 13)
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    for t in (0, 6):
        ref = cross_val_score(est, X[:, :, t], y, cv=cv, scoring="roc_auc")
        np.testing.assert_allclose(res.scores[:, t], ref, rtol=1e-10)


def test_planted_effect_peak_and_chance(rng):
    X, y, times = _planted(rng)
    res = time_resolved_decoding(X, y, times=times, cv=5, random_state=0)
    assert res.chance == 0.5
    assert res.mean[5:9].min() > 0.85
    assert abs(np.r_[res.mean[:5], res.mean[9:]].mean() - 0.5) < 0.12
    score, latency = res.peak()
    assert times[5] - 1e-12 <= latency <= times[8] + 1e-12 and score == res.mean.max()
    # search window outside the effect
    s2, l2 = res.peak(tmax=times[3])
    assert l2 <= times[3] and s2 < score
    assert res.sem.shape == (13,) and (res.sem >= 0).all()
    acc = time_resolved_decoding(X, y, times=times, scoring="accuracy", cv=5, random_state=0)
    assert acc.chance == pytest.approx(31 / 61)


def test_generalization_matrix(rng):
    X, y, times = _planted(rng, n_times=9, effect=slice(2, 7))
    res = time_resolved_decoding(X, y, times=times, cv=3, generalize=True, random_state=1)
    assert res.scores.shape == (3, 9, 9)
    # the same pattern at times 2..6: training at 3 generalises to testing at 5, not to 0
    assert res.mean[3, 5] > 0.8 and abs(res.mean[3, 0] - 0.5) < 0.25
    np.testing.assert_allclose(res.diagonal, np.diag(res.mean))


def test_recording_input_reshapes_channel_windows(rng):
    X, y, times = _planted(rng, n_times=5, effect=slice(2, 4))
    n_ep, n_ch, n_t = X.shape
    units = pd.DataFrame({
        "channel": np.repeat([f"ch{c}" for c in range(n_ch)], n_t),
        "tmin": np.tile(np.arange(n_t) * 0.1, n_ch),
        "tmax": np.tile(np.arange(n_t) * 0.1 + 0.1, n_ch),
        "roi": "eeg",
    }, index=[f"u{k}" for k in range(n_ch * n_t)])
    rec = Recording(X.reshape(n_ep, -1), [str(v) for v in y], units=units, modality="eeg")
    a = time_resolved_decoding(rec, y, cv=4, random_state=2)
    b = time_resolved_decoding(X, y, times=np.arange(n_t) * 0.1 + 0.05, cv=4, random_state=2)
    np.testing.assert_allclose(a.scores, b.scores)
    np.testing.assert_allclose(a.times, b.times)


def test_bad_input(rng):
    X, y, times = _planted(rng)
    with pytest.raises(ValueError, match="Inconsistent lengths"):
        time_resolved_decoding(X, y[:-1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        time_resolved_decoding(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match=r"`X`: expected a 3-D array"):
        time_resolved_decoding(X[:, :, 0], y)
    with pytest.raises(ValueError, match=r"`times`: expected 13 values"):
        time_resolved_decoding(X, y, times=times[:-1])
    with pytest.raises(ValueError, match=r"`cv`: 40 folds"):
        time_resolved_decoding(X, y, cv=40)
    with pytest.raises(ValueError, match="holds no time point"):
        peak_score(np.ones(13), times, tmin=1.0)


def test_eeglab_stimulus_vs_response_locked(eeglab_dir):
    from neurotoolkit.data import load_ephys

    rec, epochs = load_ephys(
        eeglab_dir / "eeglab_data.set", stimulus_ids=["square", "rt"], tmin=-0.2, tmax=0.6,
        windows=0.1, baseline=(None, 0), return_epochs=True,
        preprocessing=[("bandpass", {"l_freq": 1.0, "h_freq": 30.0}), ("resample", {"sfreq": 32})],
    )
    y = (epochs.metadata["trial_type"] == "rt").to_numpy().astype(int)
    res = time_resolved_decoding(epochs, y, cv=5, random_state=0)
    assert res.scores.shape == (5, len(epochs.times))
    score, latency = res.peak(tmin=0.0)
    assert score > 0.85 and 0.0 <= latency <= 0.6


def test_plot_decoding_timecourse(rng):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from neurotoolkit.viz import plot_decoding_timecourse

    X, y, times = _planted(rng)
    res = time_resolved_decoding(X, y, times=times, cv=3, random_state=0)
    fig = plot_decoding_timecourse(res, title="planted")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), res.mean)
    assert any(np.allclose(line.get_ydata(), 0.5) for line in ax.lines[1:])  # chance line
    assert len(ax.collections) == 1  # the SEM band
    with pytest.raises(ValueError, match=r"`times`: expected 13 values"):
        plot_decoding_timecourse(res.scores, times=times[:-2])
    matplotlib.pyplot.close("all")
