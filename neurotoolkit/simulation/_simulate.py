"""Ground-truth simulator: recordings whose tuning, SNR and noise ceiling are known."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.logging import logger, verbose
from .._utils.random import check_random_state, spawn
from .._utils.validation import check_fraction, check_int, check_option, check_type
from ..features._gabor_core import check_gabor_params, gabor_feature_table, gabor_features
from ..data._recording import Recording
from ._timecourses import LATENCIES, fmri_timeseries, window_grid, window_means
from ..data._stimuli import StimulusSet

__all__ = ["simulate_recordings", "SimulatedDataset", "GroundTruth", "GABOR_CONFIG"]

GABOR_CONFIG = dict(n_orientations=8, spatial_frequencies=(2.0, 4.0, 8.0, 16.0),
                    grid_sizes=(1, 2, 4), image_size=64, output="energy")
UNITS_FMRI = {"V1": 120, "FFA": 40, "EBA": 40, "PPA": 40, "LOC": 40, "noise": 40}
UNITS_EPHYS = {"V1": 8, "FFA": 4, "EBA": 4, "PPA": 4, "LOC": 4, "noise": 4}
SNR_DEFAULT = {"V1": 1.0, "FFA": 0.8, "EBA": 0.6, "PPA": 0.6, "LOC": 0.5, "animate": 0.6,
               "noise": 0.0}
# category columns that drive each category-selective ROI, first match wins
DRIVERS = {"FFA": ("face", "faces"), "EBA": ("body", "bodies"),
           "PPA": ("place", "places", "scene", "scenes"),
           "LOC": ("object", "objects", "inanimate", "artificial_object"), "animate": ("animate",)}
# plausible MNI centres (left hemisphere; right = mirrored x), mm
CENTRES = {"V1": (-10, -90, 2), "FFA": (-40, -52, -18), "EBA": (-46, -72, 4),
           "PPA": (-26, -46, -10), "LOC": (-42, -80, -6), "animate": (-34, -60, -14),
           "noise": (-30, 30, 30)}
CH_TYPES = {"fmri": "voxel", "seeg": "seeg", "meg": "mag", "eeg": "eeg", "ecog": "ecog"}
_CATEGORY_SHARE = 0.85  # variance share of the category term in category-selective units


class SimulatedDataset(NamedTuple):
    """Output of :func:`simulate_recordings`."""

    recordings: list
    stimuli: StimulusSet
    truth: "GroundTruth"


@dataclass
class GroundTruth:
    """What generated the simulated data.

    For subject ``s`` and unit ``u``, the noise-free response to stimulus ``i``
    is ``signal[s][i, u] = intercepts[s][u] + features[i] @ weights[s][:, u]
    + categories[i] @ category_weights[s][:, u]``; a single trial adds
    Gaussian noise of variance ``noise_var`` per unit, with
    ``var_i(signal) / noise_var = snr`` exactly (variance over all stimuli).

    Attributes
    ----------
    subjects : list of str
    units : list of pandas.DataFrame
        Per subject, one row per unit: ``roi``, ``snr``, ``noise_var``,
        ``template`` and, for V1, the pRF ``prf_x``, ``prf_y`` (in [0, 1]
        image coordinates, y down), ``prf_size``, ``orientation`` (deg, the
        :class:`~neurotoolkit.features.GaborPyramid` convention), ``sf``.
    weights : list of array (n_features, n_units)
        Weights on the Gabor features (``features``).
    category_weights : list of array (n_categories, n_units)
    intercepts : list of array (n_units,)
    signal : list of array (n_stimuli, n_units)
    features : array (n_stimuli, n_features), float32
        Gabor-energy features of the stimuli, the output of
        ``GaborPyramid(**gabor).transform(stimuli)``; wrap them with
        ``FeatureSpace(truth.features, truth.stimulus_ids, "gabor",
        feature_names=truth.feature_names)``.
    feature_names : array (n_features,) of str
    categories : array (n_stimuli, n_categories)
    category_names : list of str
    stimulus_ids, train_ids, test_ids : array of str
    gabor : dict
        ``GaborPyramid`` parameters of ``features``.
    drivers : dict
        ROI -> category column driving it, or ``"gabor_direction"`` where the
        stimulus set has no such column, or ``"gabor_prf"`` (V1), ``"none"``.
    params : dict
        The simulation arguments.
    """

    subjects: list
    units: list
    weights: list
    category_weights: list
    intercepts: list
    signal: list
    features: np.ndarray
    feature_names: np.ndarray
    categories: np.ndarray
    category_names: list
    stimulus_ids: np.ndarray
    train_ids: np.ndarray
    test_ids: np.ndarray
    gabor: dict
    drivers: dict
    params: dict = field(default_factory=dict)

    @property
    def roi(self):
        """Per subject, the ROI of each unit (list of arrays)."""
        return [u["roi"].to_numpy() for u in self.units]

    @property
    def snr(self):
        """Per subject, the single-trial SNR (signal var / noise var) of each unit."""
        return [u["snr"].to_numpy() for u in self.units]

    def noise_ceiling(self, n_average=1, subject=None):
        """True noise ceiling ``snr / (snr + 1 / n_average)`` per unit.

        This is the fraction of variance of the average of ``n_average``
        trials that the signal explains (NSD convention, as a fraction).

        Parameters
        ----------
        n_average : int
            Number of trials averaged.
        subject : int | str | None
            Index or label of one subject; None returns a list over subjects.

        Returns
        -------
        array (n_units,) | list of arrays
        """
        n_average = check_int("n_average", n_average, min_value=1)
        ncs = [s / (s + 1.0 / n_average) for s in self.snr]
        if subject is None:
            return ncs
        if isinstance(subject, str):
            if subject not in self.subjects:
                raise ValueError(
                    f"Invalid value for `subject`: expected one of {self.subjects}, got {subject!r}."
                )
            subject = self.subjects.index(subject)
        return ncs[subject]


# ------------------------------------------------------------------ tuning
def _unit_var(signal):
    sd = signal.std(axis=0)
    return np.where(sd > 0, sd, 1.0)


def _prf_weights(table, x, y, size, ori, sf):
    """Gabor-feature weights of pRF units on the finest pooling grid, (n_features, n_units)."""
    fine = (table["grid"] == table["grid"].max()).to_numpy()[:, None]
    d2 = (table["x"].to_numpy()[:, None] - x) ** 2 + (table["y"].to_numpy()[:, None] - y) ** 2
    dori = np.deg2rad(table["orientation"].to_numpy()[:, None] - ori)
    dsf = np.log2(table["sf"].to_numpy()[:, None]) - np.log2(sf)
    w = np.exp(-d2 / (2 * size**2)) * np.exp(2.0 * (np.cos(2 * dori) - 1)) * np.exp(-dsf**2 / 0.5)
    return w * fine


def _prf_params(rng, n):
    return dict(x=rng.uniform(0.1, 0.9, n), y=rng.uniform(0.1, 0.9, n),
                size=rng.uniform(0.08, 0.25, n), ori=rng.uniform(0, 180, n),
                sf=2.0 ** rng.uniform(1, 4, n))


def _templates(roi, n_templates, ctx, rng):
    """ROI prototypes: (W (n_features, k), C (n_cat, k), prf params or None)."""
    p, q = ctx["X"].shape[1], ctx["C"].shape[1]
    if roi == "noise":
        return np.zeros((p, n_templates)), np.zeros((q, n_templates)), None
    if roi == "V1":
        prm = _prf_params(rng, n_templates)
        return _prf_weights(ctx["table"], **prm), np.zeros((q, n_templates)), prm
    W = rng.standard_normal((p, n_templates)) / ctx["sd_X"][:, None]
    C = np.zeros((q, n_templates))
    col = ctx["drivers"][roi]
    if col in ctx["category_names"]:
        k = ctx["category_names"].index(col)
        W *= np.sqrt(1 - _CATEGORY_SHARE) / _unit_var(ctx["Xc"] @ W)
        C[k] = np.sqrt(_CATEGORY_SHARE) / max(ctx["C"][:, k].std(), 1e-12)
    return W, C, None


def _subject_units(roi, n, tmpl, shared, ctx, rng):
    """Unit weights = shared * prototype + (1 - shared) * individual deviation."""
    W_t, C_t, prm = tmpl
    pick = rng.integers(W_t.shape[1], size=n)
    extra = {"template": pick}
    if roi == "V1":  # deviation in pRF-parameter space keeps one clean pRF per unit
        dev, j = _prf_params(rng, n), 1.0 - shared
        x = np.clip(prm["x"][pick] + j * rng.normal(0, 0.3, n), 0.02, 0.98)
        y = np.clip(prm["y"][pick] + j * rng.normal(0, 0.3, n), 0.02, 0.98)
        size = np.exp(shared * np.log(prm["size"][pick]) + j * np.log(dev["size"]))
        ori = (prm["ori"][pick] + j * rng.normal(0, 60, n)) % 180
        sf = 2.0 ** np.clip(np.log2(prm["sf"][pick]) + j * rng.normal(0, 1.0, n), 1, 4)
        extra.update(prf_x=x, prf_y=y, prf_size=size, orientation=ori, sf=sf)
        return _prf_weights(ctx["table"], x, y, size, ori, sf), np.zeros((C_t.shape[0], n)), extra
    if roi == "noise":
        return np.zeros((W_t.shape[0], n)), np.zeros((C_t.shape[0], n)), extra
    W_i = rng.standard_normal((W_t.shape[0], n)) / ctx["sd_X"][:, None]
    C_i = np.zeros((C_t.shape[0], n))
    if C_t.any():  # individual loadings: own category plus small loadings on the others
        sd_C = np.maximum(ctx["C"].std(axis=0), 1e-12)[:, None]
        C_i = C_t[:, pick] * rng.uniform(0.6, 1.4, n) + 0.3 * rng.standard_normal(C_i.shape) / sd_C
    W_i *= np.sqrt(1 - _CATEGORY_SHARE if C_t.any() else 1.0) / _unit_var(ctx["Xc"] @ W_i)
    # normalise both parts to unit signal variance before mixing
    s_t = _unit_var(ctx["Xc"] @ W_t[:, pick] + ctx["Cc"] @ C_t[:, pick])
    s_i = _unit_var(ctx["Xc"] @ W_i + ctx["Cc"] @ C_i)
    W = shared * W_t[:, pick] / s_t + (1 - shared) * W_i / s_i
    C = shared * C_t[:, pick] / s_t + (1 - shared) * C_i / s_i
    return W, C, extra


def _coords(roi, hemi, extra, rng, modality):
    n = len(hemi)
    c = np.tile(np.asarray(CENTRES.get(roi, CENTRES["noise"]), float), (n, 1))
    c[:, 0] *= np.where(hemi == "left", 1, -1)
    c += rng.normal(0, 20 if roi == "noise" else 5, (n, 3))
    if roi == "V1":  # crude retinotopy: upper visual field lower in z
        c[:, 2] += 12 * (extra["prf_y"] - 0.5)
    if modality in ("meg", "eeg"):  # project to a 95-mm head sphere (sensor positions)
        c = 95.0 * c / np.linalg.norm(c, axis=1, keepdims=True)
    return c


def _split(ids, cat, n_train, n_test, rng):
    """Stratified test set (by category pattern) and a train set of the other stimuli."""
    n = len(ids)
    if n_test is None:
        n_test = max(2, int(round(0.2 * n)))
    n_test = check_int("n_test", n_test, min_value=1)
    rest = n - n_test
    n_train = rest if n_train is None else check_int("n_train", n_train, min_value=1)
    if n_train + n_test > n:
        raise ValueError(
            f"Invalid value for `n_train`/`n_test`: expected n_train + n_test <= {n} stimuli, "
            f"got {n_train} + {n_test}.")
    groups = pd.factorize(pd.Series([tuple(r) for r in cat]) if cat.shape[1] else np.zeros(n))[0]
    key = np.empty(n)
    for g in np.unique(groups):
        m = np.flatnonzero(groups == g)
        key[m] = (rng.permutation(len(m)) + rng.uniform(size=len(m))) / len(m)
    order = np.argsort(key, kind="stable")
    test = np.sort(order[:n_test])
    train = np.sort(rng.permutation(order[n_test:])[:n_train])
    return ids[train], ids[test]


def _load_stimuli(stimuli):
    if stimuli is None:
        from ._builtin_stimuli import make_builtin_stimuli

        return make_builtin_stimuli()
    if isinstance(stimuli, (str, Path)):
        return StimulusSet.from_folder(stimuli)
    check_type("stimuli", stimuli, (StimulusSet,), "a StimulusSet, a folder path or None")
    if stimuli.images is None:
        raise ValueError(
            "Invalid value for `stimuli`: expected a StimulusSet with images, got one without."
        )
    return stimuli


def _category_table(stim):
    if stim.categories is None:
        return np.zeros((len(stim), 0)), []
    cols = [c for c in stim.categories.columns
            if set(pd.unique(stim.categories[c].dropna())) <= {0, 1, True, False}]
    return stim.categories[cols].to_numpy(dtype=float), [str(c) for c in cols]


@fill_doc
@verbose
def simulate_recordings(stimuli=None, n_subjects=3, n_units_per_roi=None, snr=None, n_train=None,
                        n_test=None, n_repeats_train=1, n_repeats_test=3, modality="fmri",
                        mode="trials", tr=2.0, n_runs=4, windows=(-0.1, 0.6, 0.05),
                        shared_tuning=0.8, ts_noise=0.1, random_state=0, verbose=None):
    """Simulate recordings of several subjects with known tuning and noise ceilings.

    Parameters
    ----------
    stimuli : StimulusSet | path-like | None
        Stimuli with images; a folder is read with :meth:`StimulusSet.from_folder`;
        None uses :func:`make_builtin_stimuli` (100 images, 5 categories).
    n_subjects : int
    n_units_per_roi : dict | None
        ROI -> units (fMRI voxels) or channels (ephys) per subject before a
        +-20 % jitter per subject. Known ROIs: "V1", "FFA", "EBA", "PPA",
        "LOC", "animate", "noise". Defaults: V1 120, FFA/EBA/PPA/LOC 40, noise
        40 (ephys: 8, 4, ..., 4 channels).
    snr : float | dict | None
        Single-trial SNR (signal variance / noise variance) per ROI; each unit
        varies around it (lognormal, sd 0.3). Defaults: V1 1.0, FFA 0.8, EBA
        0.6, PPA 0.6, LOC 0.5, animate 0.6, noise 0.
    n_train, n_test : int | None
        Stimuli in the train and test sets (disjoint; the test set is
        stratified by category). Default: 20 % test, the rest train.
    n_repeats_train, n_repeats_test : int
        Trials per train / test stimulus.
    modality : {"fmri", "seeg", "meg", "eeg", "ecog"}
    mode : {"trials", "timeseries", "time_resolved"}
        "trials": one row per trial (single-trial betas). "timeseries" (fMRI
        only): event-related runs convolved with a double-gamma HRF, one row
        per TR. "time_resolved" (ephys only): one row per trial, units are
        (channel, time-window) pairs of an evoked response.
    tr : float
        Repetition time (s), timeseries mode.
    n_runs : int
        Runs; trials are shuffled and split across runs.
    windows : (float, float, float)
        (tmin, tmax, width) of the time windows in time-resolved mode (s).
    shared_tuning : float in [0, 1]
        Weight of the ROI prototype (shared across subjects) against each
        unit's individual deviation.
    ts_noise : float
        White measurement noise per TR in timeseries mode (on top of the
        trial noise).
    %(random_state)s
    %(verbose)s

    Returns
    -------
    SimulatedDataset
        ``recordings`` (one :class:`Recording` per subject), ``stimuli``,
        ``truth`` (:class:`GroundTruth`).

    Notes
    -----
    V1 units have a pRF (position, size, orientation, spatial frequency): their
    signal is a weighted sum of Gabor-energy features (``truth.features``,
    ``GaborPyramid(**truth.gabor)``) near that position, orientation and SF.
    Category ROIs respond ``sqrt(0.85)`` (in signal sd) to a category
    indicator (``truth.drivers``) plus ``sqrt(0.15)`` to a random direction of
    the Gabor features; where the stimulus set lacks the column (e.g. no
    "place" in the 92 objects), the ROI is driven by a random Gabor direction
    only. Each unit's signal is scaled so that its variance over *all* stimuli
    is exactly ``snr * noise_var`` (total single-trial variance about 1), so the
    true noise ceiling of the average of n trials is ``snr / (snr + 1/n)``
    (``truth.noise_ceiling(n)``); ncsnr = sqrt(snr). In timeseries mode this
    holds for the trial amplitudes (ideal GLM betas). In time-resolved mode a
    channel's signal is multiplied by its evoked shape in each window (peak 1,
    ROI latency), so each (channel, window) unit has ``snr = snr_channel *
    shape**2``. V1 prototypes are shared in pRF-parameter space: a unit's pRF
    is its prototype's, jittered in proportion to ``1 - shared_tuning``.
    """
    n_subjects = check_int("n_subjects", n_subjects, min_value=1)
    check_option("modality", modality, tuple(CH_TYPES))
    check_option("mode", mode, ("trials", "timeseries", "time_resolved"))
    if mode == "timeseries" and modality != "fmri":
        raise ValueError(
            f"Invalid value for `mode`: 'timeseries' needs modality='fmri', got {modality!r}; "
            "use mode='time_resolved' for electrophysiology."
        )
    if mode == "time_resolved" and modality == "fmri":
        raise ValueError(
            "Invalid value for `mode`: 'time_resolved' needs an ephys modality "
            "('seeg', 'meg', 'eeg', 'ecog'), got 'fmri'."
        )
    shared = check_fraction("shared_tuning", shared_tuning)
    rep_tr = check_int("n_repeats_train", n_repeats_train, min_value=1)
    rep_te = check_int("n_repeats_test", n_repeats_test, min_value=1)
    n_runs = check_int("n_runs", n_runs, min_value=1)
    counts, snrs = _check_counts_snr(n_units_per_roi, snr, modality)
    rng = check_random_state(random_state)
    stim = _load_stimuli(stimuli)
    C, cat_names = _category_table(stim)
    train_ids, test_ids = _split(stim.ids, C, n_train, n_test, rng)
    gabor_params = check_gabor_params(**GABOR_CONFIG)
    X = gabor_features(stim, *gabor_params, output=GABOR_CONFIG["output"]).astype(np.float64)
    table = gabor_feature_table(*gabor_params)
    drivers = _drivers(counts, cat_names)
    sd_X = X.std(0)
    ctx = dict(X=X, Xc=X - X.mean(0), sd_X=np.where(sd_X > 0, sd_X, 1.0), C=C, Cc=C - C.mean(0),
               table=table, drivers=drivers, category_names=cat_names)
    templates = {roi: _templates(roi, 16 if roi == "V1" else 4, ctx, rng) for roi in counts}
    starts, stops, centres = window_grid(*windows)
    params = dict(n_subjects=n_subjects, modality=modality, mode=mode, snr=snrs, counts=counts,
                  shared_tuning=shared, n_repeats_train=rep_tr, n_repeats_test=rep_te, tr=tr)
    truth = GroundTruth(
        subjects=[], units=[], weights=[], category_weights=[], intercepts=[], signal=[],
        features=X.astype(np.float32), feature_names=np.asarray(table.index, dtype=object),
        categories=C, category_names=cat_names, stimulus_ids=stim.ids.copy(),
        train_ids=train_ids, test_ids=test_ids, gabor=dict(GABOR_CONFIG), drivers=drivers,
        params=params,
    )
    recordings = []
    for s, srng in enumerate(spawn(rng, n_subjects)):
        subject = f"sub-{s + 1:02d}"
        parts = [
            _roi_units(roi, n_roi, templates[roi], shared, snrs[roi], ctx, srng, modality)
            for roi, n_roi in counts.items()
            if n_roi > 0
        ]
        units = pd.concat([p[0] for p in parts])
        W, Cw, icpt = (np.concatenate([p[k] for p in parts], axis=-1) for k in (1, 2, 3))
        if mode == "time_resolved":
            units, W, Cw, icpt = _expand_windows(units, W, Cw, icpt, starts, stops, centres)
        signal = icpt + X @ W + C @ Cw
        rec = _make_recording(subject, units, signal, stim, train_ids, test_ids, rep_tr, rep_te,
                              modality, mode, tr, n_runs, ts_noise, srng, centres, windows)
        truth.subjects.append(subject)
        truth.units.append(units.drop(columns=["x", "y", "z", "hemisphere"]))
        truth.weights.append(W.astype(np.float32))
        truth.category_weights.append(Cw.astype(np.float32))
        truth.intercepts.append(icpt)
        truth.signal.append(signal)
        recordings.append(rec)
        logger.info("Simulated %s: %d units, %d rows (%s, %s).",
                    subject, rec.n_units, rec.n_trials, modality, mode)
    return SimulatedDataset(recordings, stim, truth)


def _check_counts_snr(n_units_per_roi, snr, modality):
    counts = dict(UNITS_FMRI if modality == "fmri" else UNITS_EPHYS)
    if n_units_per_roi is not None:
        check_type("n_units_per_roi", n_units_per_roi, dict)
        for roi, n in n_units_per_roi.items():
            counts[roi] = check_int(f"n_units_per_roi[{roi!r}]", n, min_value=0)
    snrs = dict(SNR_DEFAULT)
    if isinstance(snr, dict):
        snrs.update(snr)
    elif snr is not None:
        snrs = {k: (0.0 if k == "noise" else float(snr)) for k in snrs}
    for roi in counts:
        snrs.setdefault(roi, 0.6)
        if not np.isfinite(snrs[roi]) or snrs[roi] < 0:
            raise ValueError(
                "Invalid value for `snr`: expected non-negative floats, got "
                f"{snrs[roi]!r} for {roi!r}."
            )
    return counts, snrs


def _drivers(counts, cat_names):
    drivers = {}
    for roi in counts:
        if roi in ("V1", "noise"):
            drivers[roi] = "gabor_prf" if roi == "V1" else "none"
            continue
        drivers[roi] = next((c for c in DRIVERS.get(roi, ()) if c in cat_names), "gabor_direction")
        if drivers[roi] == "gabor_direction":
            logger.info("ROI %s: no category column among %s; driven by a random Gabor direction.",
                        roi, DRIVERS.get(roi, ()))
    return drivers


def _roi_units(roi, n_roi, tmpl, shared, roi_snr, ctx, rng, modality):
    """One subject's units of one ROI: (table, W, C, intercept), scaled to the planted SNR."""
    n = max(2, int(round(n_roi * rng.uniform(0.8, 1.2))))
    W, Cw, extra = _subject_units(roi, n, tmpl, shared, ctx, rng)
    raw = ctx["Xc"] @ W + ctx["Cc"] @ Cw
    unit_snr = roi_snr * np.exp(rng.normal(0, 0.3, n) - 0.045) if roi_snr > 0 else np.zeros(n)
    noise_var = 1.0 / (1.0 + unit_snr)
    gain = np.sqrt(unit_snr * noise_var) / _unit_var(raw)
    W, Cw = W * gain, Cw * gain
    icpt = rng.normal(0, 0.5, n) - ctx["X"].mean(0) @ W - ctx["C"].mean(0) @ Cw
    if roi == "V1":  # left hemisphere sees the right visual field
        hemi = np.where(extra["prf_x"] < 0.5, "right", "left")
    else:
        hemi = np.where(rng.random(n) < (0.6 if roi == "FFA" else 0.5), "right", "left")
    table = pd.DataFrame({"roi": roi, "hemisphere": hemi, "snr": unit_snr, "noise_var": noise_var,
                          **extra})
    table["x"], table["y"], table["z"] = _coords(roi, hemi, extra, rng, modality).T
    table.index = [f"{roi}-{k:03d}" for k in range(n)]
    return table, W, Cw, icpt


def _expand_windows(units, W, Cw, icpt, starts, stops, centres):
    """Channels -> (channel, window) units with evoked-shape gains."""
    rows, gains = [], []
    for ch, row in units.iterrows():
        shape = window_means(LATENCIES.get(row["roi"], 0.15), starts, stops)
        gains.append(shape)
        for k in range(len(centres)):
            rows.append({**row.to_dict(), "channel": ch, "tmin": starts[k], "tmax": stops[k],
                         "snr": row["snr"] * shape[k] ** 2,
                         "name": f"{ch}@{1000 * centres[k]:+.0f}ms"})
    g = np.concatenate(gains)
    rep = np.repeat(np.arange(len(units)), len(centres))
    table = pd.DataFrame(rows).set_index("name")
    table.index.name = None
    # baseline stays constant over windows; the stimulus-driven part scales with the shape
    return table, W[:, rep] * g, Cw[:, rep] * g, icpt[rep]


def _make_recording(subject, units, signal, stim, train_ids, test_ids, rep_tr, rep_te, modality,
                    mode, tr, n_runs, ts_noise, rng, centres, windows):
    trial_ids = np.concatenate([np.repeat(train_ids, rep_tr), np.repeat(test_ids, rep_te)])
    trial_ids = trial_ids[rng.permutation(len(trial_ids))]
    runs = np.zeros(len(trial_ids), dtype=int)
    for r, chunk in enumerate(np.array_split(np.arange(len(trial_ids)), n_runs)):
        runs[chunk] = r + 1
    idx = stim.index_of(trial_ids)
    sd = np.sqrt(units["noise_var"].to_numpy())
    responses = signal[idx] + sd * rng.standard_normal((len(idx), signal.shape[1]))
    table = units.drop(columns=["snr", "noise_var", "template"] + [
        c for c in ("prf_x", "prf_y", "prf_size", "orientation", "sf") if c in units.columns])
    table["ch_type"] = CH_TYPES[modality]
    meta = {"simulated": True, "test_ids": list(test_ids), "train_ids": list(train_ids),
            "mode": mode}
    space = "head" if modality in ("meg", "eeg") else "MNI152"
    if mode == "timeseries":
        bold, tr_ids, tr_runs, events = fmri_timeseries(responses, trial_ids, runs, tr, rng,
                                                        ts_noise=ts_noise)
        meta.update(events=events, tr=float(tr), hrf="spm_double_gamma")
        return Recording(bold, tr_ids, table, subject=subject, modality=modality, space=space,
                         runs=tr_runs, meta=meta)
    if mode == "time_resolved":
        meta.update(times=np.asarray(centres), sfreq=1.0 / windows[2], window=float(windows[2]))
    return Recording(responses.astype(np.float32), trial_ids, table, subject=subject,
                     modality=modality, space=space, runs=runs, meta=meta)
