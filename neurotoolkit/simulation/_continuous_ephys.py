"""Continuous electrophysiology with planted temporal receptive fields (TRFs).

A synthetic speech-like stimulus (syllable-rate bursts grouped in phrases,
each syllable with its own spectral profile; power-law compressed as an
auditory spectrogram) drives every channel through a planted TRF: a
P1/N1-like biphasic kernel with a channel-specific latency and sign, times
a channel-specific spectral tuning. Channel SNR follows two "auditory"
sources (left and right temporal), so a topography of the recovered TRF
shows two lobes; the farthest channels carry noise only. Lags follow the
convention of :class:`neurotoolkit.encoding.TemporalReceptiveField`
(``y[t] = sum_l K[:, l] x[t - l]``, zero outside the run).
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.random import check_random_state
from .._utils.validation import _raise, check_int, check_option, check_type

__all__ = ["SimulatedTRF", "simulate_trf_ephys"]

_MODALITIES = ("eeg", "meg", "seeg", "ecog")


@dataclass
class SimulatedTRF:
    """Output of :func:`simulate_trf_ephys`.

    Attributes
    ----------
    recording : Recording
        Time-series recording (n_times, n_chans): ``meta["mode"] ==
        "timeseries"``, ``meta["sfreq"]``, ``runs``; units with ``roi``
        ("auditory" or "noise"), ``x``, ``y``, ``z`` (mm), ``ch_type``.
    features : ndarray, shape (n_times, n_features)
        The stimulus features at the recording rate (spectrogram bands, or
        the envelope as one column).
    envelope : ndarray, shape (n_times,)
        Broadband envelope (mean of the bands before compression, then
        compressed), the usual target of stimulus reconstruction.
    runs : ndarray, shape (n_times,)
    times : ndarray, shape (n_times,)
        Seconds from the start of each run.
    feature_names : list of str
    kernels : ndarray, shape (n_chans, n_features, n_lags)
        Planted TRFs (zero for noise channels), in the lag convention above.
    lag_times : ndarray, shape (n_lags,)
        Lags of ``kernels`` in seconds.
    snr : ndarray, shape (n_chans,)
        Signal-to-noise variance ratio of each channel (0: noise only).
    latency : ndarray, shape (n_chans,)
        Peak latency (s) of the positive lobe of each kernel's time course.
    sign : ndarray, shape (n_chans,)
        +1 or -1.
    signal : ndarray, shape (n_times, n_chans)
        Noise-free part of the responses.
    true_r : ndarray, shape (n_chans,)
        Population correlation between signal and response,
        ``sqrt(snr / (1 + snr))``.
    meta : dict
        Parameters of the simulation.
    """

    recording: object
    features: np.ndarray
    envelope: np.ndarray
    runs: np.ndarray
    times: np.ndarray
    feature_names: list
    kernels: np.ndarray
    lag_times: np.ndarray
    snr: np.ndarray
    latency: np.ndarray
    sign: np.ndarray
    signal: np.ndarray
    true_r: np.ndarray
    meta: dict = field(default_factory=dict)

    def feature_timecourse(self, name="spectrogram"):
        """The stimulus as a :class:`neurotoolkit.features.FeatureTimeCourse`."""
        from ..features import FeatureTimeCourse

        return FeatureTimeCourse(self.features, self.runs, self.times, name=name,
                                 provenance={"source": "simulate_trf_ephys"})


def _speech_like(n, sfreq, n_bands, rng):
    """(n, n_bands) uncompressed spectrogram of syllable bursts grouped into phrases."""
    spec = np.zeros((n, n_bands))
    t = 0.0
    dur = n / sfreq
    bands = np.arange(n_bands)
    while t < dur:
        phrase_end = t + rng.uniform(1.0, 3.0)
        while t < min(phrase_end, dur):
            d = rng.uniform(0.08, 0.25)  # syllable duration
            a = rng.lognormal(0.0, 0.4)
            i0, i1 = int(t * sfreq), min(int((t + d) * sfreq) + 1, n)
            if i1 - i0 >= 2:
                bump = np.sin(np.linspace(0, np.pi, i1 - i0)) ** 2
                centre, width = rng.uniform(-0.5, n_bands - 0.5), rng.uniform(1.0, 3.0)
                profile = np.exp(-0.5 * ((bands - centre) / width) ** 2) + 0.15
                spec[i0:i1] += a * bump[:, None] * profile[None, :]
            t += rng.exponential(1 / 4.5) + 0.6 * d  # ~4-5 syllables per second
        t = phrase_end + rng.uniform(0.15, 0.8)  # pause
    floor = np.abs(rng.standard_normal((n, n_bands))) * 0.02
    return spec + floor


def _positions(n_chans, modality, rng):
    if modality in ("eeg", "meg"):  # Fibonacci points on the upper half of a 90 mm sphere
        k = np.arange(n_chans) + 0.5
        z = 1 - k / n_chans  # (0, 1]
        phi = np.pi * (1 + 5 ** 0.5) * k
        r = np.sqrt(1 - z ** 2)
        xyz = 90.0 * np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)
    else:  # depth contacts scattered in a box
        xyz = rng.uniform([-70, -60, -40], [70, 60, 60], size=(n_chans, 3))
    sources = np.array([[-70.0, 0.0, 10.0], [70.0, 0.0, 10.0]])  # left/right temporal
    return xyz, sources


@fill_doc
def simulate_trf_ephys(n_chans=32, n_runs=4, run_duration=60.0, sfreq=100.0,
                       features="spectrogram", n_bands=8, modality="eeg", tmin=-0.1,
                       tmax=0.4, snr_max=2.0, noise_fraction=0.25, random_state=None):
    """Simulate continuous MEG/EEG/sEEG driven by a speech-like stimulus through planted TRFs.

    Parameters
    ----------
    n_chans : int
        Number of channels.
    n_runs : int
        Number of runs (lags never cross a run boundary).
    run_duration : float
        Seconds per run.
    sfreq : float
        Sampling rate (Hz) of stimulus features and responses.
    features : "spectrogram" | "envelope"
        Stimulus features: ``n_bands`` compressed spectrogram bands, or the
        broadband envelope (one column).
    n_bands : int
        Number of spectrogram bands.
    modality : "eeg" | "meg" | "seeg" | "ecog"
        Scalp-like positions on a sphere (EEG, MEG) or scattered contacts.
    tmin, tmax : float
        Lag window of the returned kernels (s); the planted kernels are
        causal (zero before 0 s) and vanish before 0.4 s.
    snr_max : float
        SNR (variance ratio) of a channel at an auditory source; it decays
        with the distance to the nearest source (Gaussian, 45 mm).
    noise_fraction : float
        Fraction of channels (the farthest from both sources) with no signal.
    %(random_state)s

    Returns
    -------
    sim : SimulatedTRF
        The recording, the stimulus features and the truth (kernels, SNR,
        latency, sign, noise-free signal).
    """
    rng = check_random_state(random_state)
    n_chans = check_int("n_chans", n_chans, min_value=1)
    n_runs = check_int("n_runs", n_runs, min_value=1)
    n_bands = check_int("n_bands", n_bands, min_value=1)
    check_option("features", features, ("spectrogram", "envelope"))
    check_option("modality", modality, _MODALITIES)
    for name, value in (("run_duration", run_duration), ("sfreq", sfreq),
                        ("snr_max", snr_max)):
        check_type(name, value, "numeric")
        if not value > 0:
            _raise(name, "a positive number", repr(value))
    if not 0 <= noise_fraction < 1:
        _raise("noise_fraction", "a fraction in [0, 1)", repr(noise_fraction))
    if tmin > 0 or tmax < 0.4 or tmin > tmax:
        _raise("tmin", "tmin <= 0 and tmax >= 0.4 (the window holds the planted kernels)",
               f"tmin={tmin}, tmax={tmax}")
    n_per = int(round(run_duration * sfreq))
    lags = np.arange(int(round(tmin * sfreq)), int(round(tmax * sfreq)) + 1)
    if n_per <= lags.max() - min(lags.min(), 0):
        _raise("run_duration", f"runs longer than the lag window ({tmax - tmin} s)",
               f"{run_duration} s")
    lag_t = lags / sfreq
    raw = [_speech_like(n_per, sfreq, n_bands, rng) for _ in range(n_runs)]
    comp = [r ** 0.6 for r in raw]  # power-law compression (auditory spectrogram)
    env = np.concatenate([r.mean(1) ** 0.6 for r in raw])
    X = np.concatenate(comp) if features == "spectrogram" else env[:, None]
    names = ([f"band{k:02d}" for k in range(n_bands)] if features == "spectrogram"
             else ["envelope"])
    X = (X - X.mean(0)) / X.std(0)
    env = (env - env.mean()) / env.std()
    n_feat = X.shape[1]
    runs = np.repeat(np.arange(n_runs), n_per)
    times = np.tile(np.arange(n_per) / sfreq, n_runs)

    xyz, sources = _positions(n_chans, modality, rng)
    dist = np.linalg.norm(xyz[:, None, :] - sources[None], axis=2).min(1)
    snr = snr_max * np.exp(-0.5 * (dist / 45.0) ** 2)
    n_noise = int(round(noise_fraction * n_chans))
    if n_noise:
        snr[np.argsort(dist)[n_chans - n_noise:]] = 0.0
    latency = rng.uniform(0.06, 0.18, n_chans)
    sign = rng.choice([-1.0, 1.0], n_chans)
    tc = np.where(lag_t[None] >= 0,
                  np.exp(-0.5 * ((lag_t[None] - latency[:, None]) / 0.025) ** 2)
                  - 0.6 * np.exp(-0.5 * ((lag_t[None] - latency[:, None] - 0.09) / 0.04) ** 2),
                  0.0) * sign[:, None]  # (n_chans, n_lags)
    if n_feat > 1:
        centre = rng.uniform(0, n_feat - 1, n_chans)
        tuning = np.exp(-0.5 * ((np.arange(n_feat)[None] - centre[:, None]) / 2.0) ** 2)
    else:
        tuning = np.ones((n_chans, 1))
    kernels = tuning[:, :, None] * tc[:, None, :]  # (n_chans, n_feat, n_lags)
    signal = np.zeros((X.shape[0], n_chans))
    for r in range(n_runs):
        s, e = r * n_per, (r + 1) * n_per
        for a, lag in enumerate(lags):
            K = kernels[:, :, a].T  # (n_feat, n_chans)
            if lag >= 0:
                signal[s + lag:e] += X[s:e - lag] @ K
            else:
                signal[s:e + lag] += X[s - lag:e] @ K
    sd = signal.std(0)
    signal = signal / np.where(sd > 0, sd, 1.0)
    from scipy.signal import lfilter

    # AR(1) background (more power at low frequencies, as in real recordings)
    noise = lfilter([1.0], [1.0, -0.8], rng.standard_normal(signal.shape), axis=0)
    noise = noise / noise.std(0)
    kernels = kernels / np.where(sd > 0, sd, 1.0)[:, None, None] * np.sqrt(snr)[:, None, None]
    signal = signal * np.sqrt(snr)[None]
    Y = signal + noise
    units = pd.DataFrame(
        {"roi": np.where(snr > 0, "auditory", "noise"), "x": xyz[:, 0], "y": xyz[:, 1],
         "z": xyz[:, 2], "ch_type": modality},
        index=[f"{modality.upper()}{k + 1:03d}" for k in range(n_chans)])
    meta = {"mode": "timeseries", "sfreq": float(sfreq), "simulated": True,
            "simulation": {"function": "simulate_trf_ephys", "features": features,
                           "n_bands": n_bands, "snr_max": snr_max, "tmin": tmin, "tmax": tmax,
                           "noise_fraction": noise_fraction}}
    from ..data import Recording

    rec = Recording(Y, [""] * len(Y), units=units, subject="sim-01", modality=modality,
                    space="head" if modality in ("eeg", "meg") else "native", runs=runs,
                    meta=meta)
    return SimulatedTRF(recording=rec, features=X, envelope=env, runs=runs, times=times,
                        feature_names=names, kernels=kernels, lag_times=lag_t, snr=snr,
                        latency=latency, sign=sign, signal=signal,
                        true_r=np.sqrt(snr / (1 + snr)), meta=meta["simulation"])
