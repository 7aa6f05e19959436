"""Continuous (movie-watching) fMRI with planted HRFs and ROI tunings (Card 2).

A "movie" is a sequence of shots: each shot shows one image, panning slowly
in a random direction, for a few seconds. Every unit's neural drive is a
linear function, frame by frame, of two feature spaces of the shot on screen:
low-level (Gabor energy of the image, plus the pan speed) and semantic (its
category). The drive is convolved with the unit's own haemodynamic response
(a double-gamma HRF whose peak latency is planted per ROI) at the frame
rate, sampled at every TR, and white noise is added at a planted SNR. The
test run is the same movie segment recorded several times with fresh noise.
"""

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.logging import logger, verbose
from .._utils.random import check_random_state
from .._utils.validation import _raise, check_int, check_type
from ..data._recording import Recording
from ..data._stimuli import StimulusSet
from ._timecourses import spm_hrf

__all__ = ["simulate_naturalistic_fmri", "NaturalisticFMRI", "NaturalisticTruth"]

UNITS = {"V1": 60, "MT": 20, "FFA": 30, "PPA": 30, "EBA": 30, "noise": 30}
SNR = {"V1": 1.5, "MT": 1.0, "FFA": 1.5, "PPA": 1.5, "EBA": 1.0, "noise": 0.0}
# planted HRF peak latency (s) per ROI; units jitter around it (sd 0.2 s)
PEAKS = {"V1": 4.0, "MT": 4.5, "FFA": 5.5, "PPA": 6.5, "EBA": 7.5, "noise": 5.0}
# category driving each category-selective ROI (MT: pan speed; V1: Gabor energy)
DRIVERS = {"FFA": "face", "PPA": "place", "EBA": "body"}
GABOR = dict(n_orientations=4, spatial_frequencies=(2.0, 4.0), grid_sizes=(1, 2),
             image_size=32, output="energy")


class NaturalisticTruth(NamedTuple):
    """What generated a :func:`simulate_naturalistic_fmri` data set.

    Attributes
    ----------
    units : pandas.DataFrame
        One row per unit: ``roi``, ``snr`` (signal variance / noise variance
        over all samples), ``noise_sd``, ``hrf_shape`` (gamma shape of its
        HRF) and ``peak_latency`` (s, of its HRF).
    hrf_times : ndarray, shape (n_hrf_times,)
        Seconds, at the frame rate.
    hrfs : ndarray, shape (n_units, n_hrf_times)
        Each unit's HRF (peak 1).
    roi_peak_latency : dict
        ROI -> planted peak latency (s) before the per-unit jitter.
    weights : dict
        Space name -> (n_features, n_units) weights of the neural drive.
    features : dict
        Space name -> (n_frames, n_features) per-frame features in the
        order of the timeline's frame events (all runs).
    feature_names : dict
        Space name -> list of feature names.
    shots : pandas.DataFrame
        One row per shot: ``run``, ``onset``, ``duration``, ``image``,
        ``category``, ``speed`` (px/s), ``direction`` (deg).
    signal : dict
        Run label -> (n_trs, n_units) noise-free BOLD at the TRs.
    noise_ceiling_test : ndarray, shape (n_units,)
        True ceiling on the fraction of variance of the test run, averaged
        over its repeats, that the stimulus explains:
        ``v / (v + noise_sd**2 / n_repeats)`` with ``v`` the variance of the
        noise-free test signal.
    params : dict
        The simulation arguments.
    """

    units: pd.DataFrame
    hrf_times: np.ndarray
    hrfs: np.ndarray
    roi_peak_latency: dict
    weights: dict
    features: dict
    feature_names: dict
    shots: pd.DataFrame
    signal: dict
    noise_ceiling_test: np.ndarray
    params: dict

    def noise_ceiling(self, n_average=None):
        """True test-run ceiling for the average of ``n_average`` repeats (default: all)."""
        if n_average is None:
            return self.noise_ceiling_test
        n_average = check_int("n_average", n_average, min_value=1)
        v = np.stack([s for r, s in self.signal.items() if r == "test"])[0].var(axis=0)
        noise = self.units["noise_sd"].to_numpy() ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(v > 0, v / (v + noise / n_average), 0.0)


class NaturalisticFMRI(NamedTuple):
    """Output of :func:`simulate_naturalistic_fmri`."""

    train: Recording
    test: list
    timeline: object
    stimuli: StimulusSet
    truth: NaturalisticTruth


def hrf_peak(shape, dt=0.01):
    """Peak latency (s) of ``spm_hrf(t, peak=shape)``."""
    t = np.arange(0, 32, dt)
    return float(t[np.argmax(spm_hrf(t, peak=shape))])


@lru_cache(maxsize=1)
def _peak_table():
    shapes = np.linspace(2.0, 16.0, 141)
    return shapes, np.array([hrf_peak(a, 0.005) for a in shapes])  # increasing with the shape


def _shapes_for_peaks(peaks):
    """Gamma shapes whose double-gamma HRFs peak at ``peaks`` seconds (interpolated table)."""
    shapes, table = _peak_table()
    peaks = np.asarray(peaks, dtype=float)
    if peaks.min() < table[0] or peaks.max() > table[-1]:
        _raise("peak_latency", f"latencies within [{table[0]:.1f}, {table[-1]:.1f}] s",
               f"[{peaks.min():.2f}, {peaks.max():.2f}] s (with the unit jitter)")
    return np.interp(peaks, table, shapes)


def _movie(images, categories, runs, run_duration, fps, size, shot_duration, rng):
    """Frames (n_frames, size, size, 3) uint8 and the shot table, for every run."""
    from PIL import Image

    margin = size // 4
    big = size + 2 * margin
    n_img = len(images)
    resized = np.stack([np.asarray(Image.fromarray(im).resize((big, big), Image.BILINEAR))
                        for im in images])
    frames, shots, frame_shot = [], [], []
    n_per_run = int(round(run_duration * fps))
    for run in runs:
        t = 0
        while t < n_per_run:
            dur = int(round(rng.uniform(*shot_duration) * fps))
            dur = max(1, min(dur, n_per_run - t))
            img = int(rng.integers(n_img))
            speed = float(rng.choice([0.0, 0.0, 1.0, 2.0, 3.0]))  # px/s
            ang = float(rng.uniform(0, 360))
            path = speed * dur / fps
            v = np.array([np.cos(np.deg2rad(ang)), np.sin(np.deg2rad(ang))])
            start = rng.uniform(path / 2, 2 * margin - path / 2, 2) if path < 2 * margin \
                else np.full(2, margin)
            start = start - v * path / 2
            for k in range(dur):
                x, y = np.clip(np.round(start + v * speed * k / fps), 0, 2 * margin).astype(int)
                frames.append(resized[img, y:y + size, x:x + size])
            frame_shot.extend([len(shots)] * dur)
            shots.append({"run": run, "onset": t / fps, "duration": dur / fps,
                          "image": img, "category": categories[img], "speed": speed,
                          "direction": ang})
            t += dur
    return np.stack(frames), pd.DataFrame(shots), np.asarray(frame_shot)


def _convolve(drive, hrfs):
    """Causal convolution of each column of ``drive`` with its own kernel (FFT)."""
    n, m = drive.shape[0], hrfs.shape[1]
    size = 1 << int(np.ceil(np.log2(n + m)))
    out = np.fft.irfft(np.fft.rfft(drive, size, axis=0) * np.fft.rfft(hrfs.T, size, axis=0),
                       size, axis=0)
    return out[:n]


def _check_dict(name, value, default, kind):
    out = dict(default)
    if value is None:
        return out
    if not isinstance(value, dict):
        if kind == "snr":
            return {k: (0.0 if k == "noise" else float(value)) for k in out}
        _raise(name, "a dict ROI -> value", repr(value))
    for roi in value:
        if roi not in default:
            _raise(name, f"ROIs among {list(default)}", repr(roi))
    out.update(value)
    return out


@fill_doc
@verbose
def simulate_naturalistic_fmri(stimuli=None, n_train_runs=6, n_test_repeats=4, run_duration=200.0,
                               tr=2.0, fps=5.0, frame_size=32, shot_duration=(2.0, 6.0),
                               n_units_per_roi=None, snr=None, peak_latency=None,
                               random_state=0, verbose=None):
    """Simulate fMRI during a movie, with planted per-ROI HRFs and feature tunings.

    Parameters
    ----------
    stimuli : StimulusSet | None
        Images with a boolean ``categories`` table (None: the built-in set,
        :func:`make_builtin_stimuli` at 96 px, 20 per category). Each shot
        of the movie pans over one image.
    n_train_runs : int
        Training runs (``"run-01"``, ...), each a different movie segment.
    n_test_repeats : int
        Recordings of the test run (the same segment, fresh noise).
    run_duration : float
        Seconds per run (a whole number of TRs and of frames).
    tr : float
        Repetition time (s).
    fps : float
        Frame rate of the movie.
    frame_size : int
        Frame height and width (pixels).
    shot_duration : (float, float)
        Range of shot durations (s), drawn uniformly.
    n_units_per_roi : dict | None
        ROI -> number of units. ROIs: "V1" (Gabor energy), "MT" (pan speed),
        "FFA" (faces), "PPA" (places), "EBA" (bodies) and "noise" (no
        signal). Defaults: V1 60, MT 20, FFA/PPA/EBA 30, noise 30.
    snr : float | dict | None
        Signal variance / noise variance per ROI (over all samples); units
        vary around it (lognormal, sd 0.2). Defaults: V1 1.5, MT 1.0, FFA
        1.5, PPA 1.5, EBA 1.0, noise 0.
    peak_latency : dict | None
        ROI -> HRF peak latency (s). Defaults: V1 4.0, MT 4.5, FFA 5.5, PPA
        6.5, EBA 7.5; each unit jitters around it (sd 0.2 s).
    %(random_state)s
    %(verbose)s

    Returns
    -------
    NaturalisticFMRI
        ``train``: one time-series :class:`~neurotoolkit.data.Recording`
        (runs ``run-01``...); ``test``: a list of ``n_test_repeats``
        recordings of run ``"test"``; ``timeline``: a
        :class:`~neurotoolkit.data.Timeline` with one ``"frame"`` event per
        frame (all runs, the test run once); ``stimuli``: the frames as a
        :class:`~neurotoolkit.data.StimulusSet` (ids = the timeline's
        ``stim_id``, categories of the image on screen); ``truth``:
        :class:`NaturalisticTruth`.

    Notes
    -----
    The neural drive of a unit at frame ``f`` is ``x_low[f] @ w_low +
    x_sem[f] @ w_sem``: V1 units weigh the Gabor energies
    (``GaborPyramid(**GABOR)`` of the image on screen, 4 orientations x 2
    spatial frequencies x 5 cells), MT units the pan speed, FFA/PPA/EBA units
    their category (weight 1, plus 0.3 in drive sd on a random Gabor
    direction). The drive is convolved at the frame rate with the unit's
    double-gamma HRF (:func:`spm_hrf` with the gamma shape that puts its
    peak at the planted latency) and sampled at the start of every TR.
    White noise of variance ``var(signal) / snr`` is added per TR.
    """
    from ..features._gabor_core import check_gabor_params, gabor_feature_table, gabor_features

    n_train_runs = check_int("n_train_runs", n_train_runs, min_value=1)
    n_test_repeats = check_int("n_test_repeats", n_test_repeats, min_value=1)
    frame_size = check_int("frame_size", frame_size, min_value=16)
    tr, fps, run_duration = float(tr), float(fps), float(run_duration)
    n_trs = run_duration / tr
    frames_per_tr = tr * fps
    if tr <= 0 or fps <= 0 or abs(n_trs - round(n_trs)) > 1e-9 or n_trs < 10:
        _raise("run_duration", "a positive whole number (>= 10) of TRs", f"{run_duration} s at "
               f"TR {tr} s")
    if abs(frames_per_tr - round(frames_per_tr)) > 1e-9:
        _raise("fps", "a whole number of frames per TR", f"{fps} fps at TR {tr} s")
    counts = _check_dict("n_units_per_roi", n_units_per_roi, UNITS, "counts")
    snrs = _check_dict("snr", snr, SNR, "snr")
    peaks = _check_dict("peak_latency", peak_latency, PEAKS, "peaks")
    rng = check_random_state(random_state)
    if stimuli is None:
        from ._builtin_stimuli import make_builtin_stimuli

        stimuli = make_builtin_stimuli(n_per_category=20, random_state=0)
    check_type("stimuli", stimuli, StimulusSet)
    if stimuli.categories is None:
        _raise("stimuli", "a StimulusSet with a boolean categories table", "none")
    images = stimuli.load_images(size=max(64, 2 * frame_size))
    cats = [c for c in stimuli.categories.columns
            if stimuli.categories[c].dtype == bool and c != "animate"]
    labels = stimuli.categories[cats].to_numpy().argmax(axis=1)
    cat_names = np.asarray(cats, dtype=object)[labels]

    runs = [f"run-{k + 1:02d}" for k in range(n_train_runs)] + ["test"]
    frames, shots, frame_shot = _movie(images, cat_names, runs, run_duration, fps, frame_size,
                                       shot_duration, rng)
    # per-image features, then per frame through its shot
    gparams = check_gabor_params(**GABOR)
    gab = gabor_features(images, *gparams, output="energy").astype(np.float64)
    gab = (gab - gab.mean(0)) / np.where(gab.std(0) > 0, gab.std(0), 1.0)
    onehot = (cat_names[:, None] == np.asarray(cats)[None]).astype(float)
    img_of_frame = shots["image"].to_numpy()[frame_shot]
    speed = shots["speed"].to_numpy()[frame_shot][:, None]
    x_low = np.hstack([gab[img_of_frame], speed])
    x_sem = onehot[img_of_frame]
    low_names = list(gabor_feature_table(*gparams).index) + ["speed"]

    # units: weights, HRFs, SNR
    rows, w_low, w_sem = [], [], []
    for roi, n in counts.items():
        for k in range(n):
            wl, ws = np.zeros(x_low.shape[1]), np.zeros(len(cats))
            if roi == "V1":
                wl[:-1] = rng.standard_normal(x_low.shape[1] - 1) * (rng.random(x_low.shape[1] - 1)
                                                                    < 0.3)
            elif roi == "MT":
                wl[-1] = 1.0
            elif roi in DRIVERS:
                if DRIVERS[roi] not in cats:
                    _raise("stimuli", f"a {DRIVERS[roi]!r} category column for ROI {roi}",
                           f"columns {cats}", "Set its units to 0 in n_units_per_roi.")
                ws[cats.index(DRIVERS[roi])] = 1.0 / max(onehot[:, cats.index(DRIVERS[roi])].std(),
                                                         1e-6)
                g = rng.standard_normal(x_low.shape[1] - 1)
                wl[:-1] = 0.3 * g / np.linalg.norm(g)
            unit_snr = snrs[roi] * np.exp(rng.normal(0, 0.2)) if snrs[roi] > 0 else 0.0
            rows.append({"roi": roi, "snr": unit_snr, "target": peaks[roi] + rng.normal(0, 0.2)})
            w_low.append(wl)
            w_sem.append(ws)
    units = pd.DataFrame(rows)
    units["hrf_shape"] = _shapes_for_peaks(units.pop("target").to_numpy())
    units["peak_latency"] = [hrf_peak(a) for a in units["hrf_shape"]]
    units.index = [f"{r}-{k:03d}" for r, k in zip(units["roi"], units.groupby("roi").cumcount())]
    W_low, W_sem = np.array(w_low).T, np.array(w_sem).T
    hrf_t = np.arange(0, 32, 1 / fps)
    hrfs = np.stack([spm_hrf(hrf_t, peak=s) for s in units["hrf_shape"]])

    drive = x_low @ W_low + x_sem @ W_sem
    n_frames_run = int(round(run_duration * fps))
    step = int(round(frames_per_tr))
    signal = {}
    for j, run in enumerate(runs):
        block = drive[j * n_frames_run:(j + 1) * n_frames_run]
        signal[run] = _convolve(block - drive.mean(0), hrfs)[::step]
    allsig = np.concatenate(list(signal.values()))
    sd_sig = allsig.std(0)
    gain = np.where(sd_sig > 0, 1.0 / np.where(sd_sig > 0, sd_sig, 1.0), 0.0)
    snr_arr = units["snr"].to_numpy()
    noise_sd = np.where(snr_arr > 0, 1.0 / np.sqrt(np.maximum(snr_arr, 1e-12)), 1.0)
    has_signal = snr_arr > 0
    for run in runs:
        signal[run] = signal[run] * gain * has_signal
    units["noise_sd"] = noise_sd
    baseline = rng.normal(100, 10, len(units))

    def record(run_list, label):
        Y = np.concatenate([baseline + signal[r] + noise_sd * rng.standard_normal(signal[r].shape)
                            for r in run_list])
        run_lab = np.repeat(np.asarray(run_list, dtype=object), signal[run_list[0]].shape[0])
        table = pd.DataFrame({"roi": units["roi"]}, index=units.index)
        meta = {"mode": "timeseries", "tr": tr, "simulated": True, "recording": label}
        return Recording(Y.astype(np.float32), np.full(len(Y), "", dtype=object), table,
                         subject="sub-01", modality="fmri", runs=run_lab, meta=meta)

    train = record(runs[:-1], "train")
    test = [record(["test"], f"test-rep{k + 1}") for k in range(n_test_repeats)]
    v = signal["test"].var(0)
    nc = np.where(v > 0, v / (v + noise_sd**2 / n_test_repeats), 0.0)

    frame_ids = [f"{r}/f{k:05d}" for r in runs for k in range(n_frames_run)]
    frame_runs = np.repeat(np.asarray(runs, dtype=object), n_frames_run)
    onsets = np.tile(np.arange(n_frames_run) / fps, len(runs))
    cat_table = pd.DataFrame({c: cat_names[img_of_frame] == c for c in cats}, index=frame_ids)
    frame_set = StimulusSet(frame_ids, images=frames, categories=cat_table, name="movie",
                            meta={"simulated": True, "fps": fps})
    timeline = _timeline(frame_ids, onsets, 1.0 / fps, frame_runs)
    truth = NaturalisticTruth(
        units=units, hrf_times=hrf_t, hrfs=hrfs, roi_peak_latency=dict(peaks),
        weights={"lowlevel": W_low * gain * has_signal, "semantic": W_sem * gain * has_signal},
        features={"lowlevel": x_low, "semantic": x_sem},
        feature_names={"lowlevel": low_names, "semantic": list(cats)}, shots=shots,
        signal=signal, noise_ceiling_test=nc,
        params=dict(n_train_runs=n_train_runs, n_test_repeats=n_test_repeats,
                    run_duration=run_duration, tr=tr, fps=fps, frame_size=frame_size,
                    shot_duration=tuple(shot_duration), counts=counts, snr=snrs, peaks=peaks,
                    gabor=dict(GABOR)),
    )
    logger.info("Simulated a movie of %d frames in %d runs (+ test x %d): %d units.",
                len(frames), len(runs) - 1, n_test_repeats, len(units))
    return NaturalisticFMRI(train, test, timeline, frame_set, truth)


def _timeline(stim_ids, onsets, duration, runs):
    from ..data import Timeline

    events = pd.DataFrame({"run": runs, "onset": onsets, "duration": duration, "kind": "frame",
                           "stim_id": stim_ids})
    return Timeline(events)
