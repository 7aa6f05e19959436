"""Time courses for the simulator: canonical HRF, event-related fMRI runs, evoked responses."""

import numpy as np
import pandas as pd

__all__ = ["spm_hrf", "evoked_shape", "fmri_timeseries", "window_grid"]

# peak latency (s) of the evoked response of each ROI in time-resolved mode
LATENCIES = {"V1": 0.09, "LOC": 0.13, "FFA": 0.17, "EBA": 0.17, "PPA": 0.19, "animate": 0.22}


def spm_hrf(times, peak=6.0, undershoot=16.0, ratio=6.0):
    """SPM-like canonical double-gamma HRF, normalised to a peak of 1.

    ``h(t) = G(t; peak) - G(t; undershoot) / ratio`` with ``G(t; a)`` the
    gamma density with shape ``a`` and unit scale (peak near 5 s, undershoot
    near 15 s); ``h(t) = 0`` for ``t <= 0``.

    Parameters
    ----------
    times : array (n_times,)
        Seconds after the neural event.

    Returns
    -------
    array (n_times,)
    """
    from scipy.stats import gamma

    t = np.asarray(times, dtype=float)
    h = gamma.pdf(t, peak) - gamma.pdf(t, undershoot) / ratio
    h[t <= 0] = 0.0
    grid = np.arange(0, 32, 0.01)
    hmax = (gamma.pdf(grid, peak) - gamma.pdf(grid, undershoot) / ratio).max()
    return h / hmax


def evoked_shape(times, latency, exponent=4.0):
    """Gamma-shaped evoked response ``(t / L)^a exp(a (1 - t / L))``, peak 1 at ``t = L``."""
    t = np.asarray(times, dtype=float)
    out = np.zeros_like(t)
    pos = t > 0
    x = t[pos] / latency
    out[pos] = x**exponent * np.exp(exponent * (1.0 - x))
    return out


def window_grid(tmin=-0.1, tmax=0.6, width=0.05):
    """Non-overlapping windows [start, start + width) from tmin to tmax.

    Returns (starts, stops, centres), each of shape (n_windows,).
    """
    starts = np.arange(tmin, tmax - width / 2, width)
    return starts, starts + width, starts + width / 2


def window_means(latency, starts, stops, step=0.001):
    """Mean of :func:`evoked_shape` over each window, shape (n_windows,)."""
    out = np.empty(len(starts))
    for k, (a, b) in enumerate(zip(starts, stops)):
        out[k] = evoked_shape(np.arange(a, b, step) + step / 2, latency).mean()
    return out


def fmri_timeseries(amplitudes, trial_ids, trial_runs, tr, rng, isi=(3.0, 5.0), duration=1.0,
                    lead_in=4.0, tail=20.0, ts_noise=0.1):
    """Event-related BOLD time series: trial amplitudes convolved with the HRF.

    Parameters
    ----------
    amplitudes : array (n_trials, n_units)
        Neural response of each trial (signal + trial noise), in trial order.
    trial_ids : array (n_trials,) of str
    trial_runs : array (n_trials,) of int
        Run of each trial; trials of a run are presented in the given order.
    tr : float
        Repetition time in seconds.
    rng : numpy.random.Generator
    isi : (float, float)
        Onset asynchrony range in seconds (raised to at least ``tr`` so that a
        TR holds at most one onset).
    ts_noise : float
        Standard deviation of white measurement noise added to each TR.

    Returns
    -------
    bold : array (n_trs, n_units) float32
    tr_ids : array (n_trs,) of str ("" where no onset falls in the TR)
    tr_runs : array (n_trs,) of int
    events : pandas.DataFrame with onset, duration, stimulus_id, run, trial
    """
    lo, hi = max(isi[0], tr), max(isi[1], tr)
    dt = 0.1
    kernel_t = np.arange(0, 32, dt)
    box = np.ones(max(1, int(round(duration / dt))))
    hrf_box = np.convolve(spm_hrf(kernel_t), box)[: len(kernel_t)] / len(box)
    blocks, ids, runs, events = [], [], [], []
    for run in np.unique(trial_runs):
        sel = np.flatnonzero(trial_runs == run)
        onsets = lead_in + np.concatenate([[0.0], np.cumsum(rng.uniform(lo, hi, len(sel) - 1))])
        n_trs = int(np.ceil((onsets[-1] + tail) / tr))
        acq = np.arange(n_trs) * tr
        lag = acq[:, None] - onsets[None, :]
        design = np.interp(lag, kernel_t, hrf_box, left=0.0, right=0.0)  # (n_trs, n_events)
        noise = ts_noise * rng.standard_normal((n_trs, amplitudes.shape[1]))
        bold = design @ amplitudes[sel] + noise
        tr_ids = np.full(n_trs, "", dtype=object)
        tr_ids[np.floor(onsets / tr).astype(int)] = trial_ids[sel]
        blocks.append(bold.astype(np.float32))
        ids.append(tr_ids)
        runs.append(np.full(n_trs, run))
        events.append(pd.DataFrame({"onset": onsets, "duration": duration,
                                    "stimulus_id": trial_ids[sel], "run": run, "trial": sel}))
    return (np.concatenate(blocks), np.concatenate(ids), np.concatenate(runs),
            pd.concat(events, ignore_index=True))
