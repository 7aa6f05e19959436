"""Time-series path of :class:`VoxelwiseEncoder` (Card 2: FIR delays, run-wise CV).

A continuous recording (one row per TR or sample) is modelled from feature
time courses sampled at the same times: features are z-scored within each
run, delayed by FIR delays within each run (no delay crosses a run
boundary), the first and last samples of every run are trimmed from fitting
and scoring, responses are optionally z-scored within each run, and the
ridge penalties are chosen by leave-one-run-out (or K-runs-out)
cross-validation. The functions here work on the encoder object; the public
API is the encoder's.
"""

import re

import numpy as np
import pandas as pd

from .._utils.logging import logger
from .._utils.validation import _raise, check_option, describe
from ..data._recording import Recording
from ._delayer import Delayer, _check_delays

__all__ = []

_REPEAT = re.compile(r"^(?P<stem>.+?)[-_]?rep(?:eat)?[-_]?(?P<k>\d+)$")


# ------------------------------------------------------------------- checks
def time_model_error(recording):
    """The error for a time-series recording given to an encoder without delays."""
    n_runs = 1 if recording.runs is None else len(pd.unique(recording.runs))
    return ValueError(
        "Invalid value for `recording`: expected trial responses (one row per trial), got a "
        f"time-series recording ({recording.n_trials} samples in {n_runs} run(s)) and an "
        "encoder without a time model. Fitting its rows directly would ignore the "
        "haemodynamic delay. Either model the time series: VoxelwiseEncoder(features=..., "
        "delays=[1, 2, 3, 4]).fit(recording, timeline=...) with feature time courses; or, "
        "for a trial design, estimate one response per trial first: "
        "neurotoolkit.data.estimate_betas(recording, events) and fit on the betas."
    )


def check_empty_ids(recording, who):
    """Trial recordings must have a stimulus id on every row (nothing is dropped silently)."""
    empty = np.asarray(recording.stimulus_ids) == ""
    if empty.any():
        _raise("recording", "a stimulus id on every trial",
               f"{int(empty.sum())} of {recording.n_trials} rows without one ('')",
               f"{who} does not drop rows silently: a time-series recording needs "
               "meta['mode'] = 'timeseries' and delays=; to drop the rows, pass "
               "recording.select_trials(recording.stimulus_ids != '').")


def sample_period(recording):
    """Seconds between two samples (``meta['tr']`` or ``1 / meta['sfreq']``)."""
    if recording.meta.get("tr") is not None:
        return float(recording.meta["tr"])
    if recording.meta.get("sfreq") is not None:
        return 1.0 / float(recording.meta["sfreq"])
    _raise("recording", "meta['tr'] (s) or meta['sfreq'] (Hz) on a time-series recording",
           "neither", "Set recording.meta['tr'] to the repetition time.")


def run_labels(recording):
    """Run label of every row (one run when ``runs`` is None)."""
    return np.zeros(recording.n_trials, dtype=int) if recording.runs is None else recording.runs


def resolve_delays(delays, delay_unit, dt):
    """Delays in samples (int) and in seconds from the ``delays`` parameter."""
    check_option("delay_unit", delay_unit, ("samples", "s"))
    if delay_unit == "samples":
        samples = _check_delays(delays)
    else:
        arr = np.atleast_1d(np.asarray(delays, dtype=float))
        if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
            _raise("delays", "a non-empty 1-D sequence of delays in seconds", describe(delays))
        steps = arr / dt
        if np.abs(steps - np.round(steps)).max() > 1e-6:
            _raise("delays", f"multiples of the sampling period ({dt:g} s) with delay_unit='s'",
                   f"{arr.tolist()}", "Round the delays to whole samples.")
        samples = _check_delays(np.round(steps).astype(np.int64))
    return samples, samples * dt


def resolve_trim(trim, delays, delay_unit, dt):
    """(n_start, n_end) samples trimmed at each run's start and end."""
    if isinstance(trim, str):
        check_option("trim", trim, ("auto",))
        return int(max(delays.max(), 0)), int(max(-delays.min(), 0))
    arr = np.atleast_1d(np.asarray(trim, dtype=float))
    if arr.ndim != 1 or arr.size not in (1, 2) or not np.all(np.isfinite(arr)) or (arr < 0).any():
        _raise("trim", "'auto', a non-negative number or a pair (start, end)", describe(trim))
    if delay_unit == "s":
        arr = arr / dt
    if np.abs(arr - np.round(arr)).max() > 1e-6:
        _raise("trim", "whole samples", f"{np.atleast_1d(trim).tolist()} ({delay_unit})")
    arr = np.round(arr).astype(int)
    return (int(arr[0]), int(arr[-1]))


def trim_mask(runs, n_start, n_end):
    """Rows kept after trimming ``n_start``/``n_end`` samples of every run."""
    keep = np.zeros(len(runs), dtype=bool)
    for label in pd.unique(runs):
        rows = np.flatnonzero(runs == label)
        if len(rows) <= n_start + n_end:
            _raise("trim", f"fewer samples than run {label!r} has ({len(rows)})",
                   f"{n_start} + {n_end} samples trimmed at its start and end",
                   "Use trim=0 or shorter delays.")
        keep[rows[n_start:len(rows) - n_end]] = True
    return keep


def zscore_runs(values, runs, dtype=np.float64):
    """z-score every column within each run (ddof 0); constant columns become 0."""
    out = np.array(values, dtype=dtype)
    for label in pd.unique(runs):
        rows = runs == label
        block = out[rows]
        block -= block.mean(axis=0)
        std = block.std(axis=0)
        std[std == 0] = 1.0
        block /= std
        out[rows] = block
    return out


# ------------------------------------------------------------ time courses
def _is_timecourse(obj):
    return all(hasattr(obj, a) for a in ("values", "runs", "times"))


def _align(ftc, name, recording, dt):
    """Rows of a FeatureTimeCourse matching the recording's (run, time) samples."""
    values = np.asarray(ftc.values)
    if values.ndim == 1:
        values = values[:, None]
    keys = pd.MultiIndex.from_arrays([np.asarray(ftc.runs).astype(str),
                                      np.round(np.asarray(ftc.times, float) / dt, 3)])
    want = pd.MultiIndex.from_arrays([run_labels(recording).astype(str),
                                      np.round(recording.sample_times() / dt, 3)])
    if len(keys) == len(want) and keys.equals(want):
        return values
    if keys.has_duplicates:
        _raise(f"features[{name!r}]", "one sample per (run, time)", "repeated (run, time) pairs")
    pos = keys.get_indexer(want)
    if (pos < 0).any():
        k = int(np.flatnonzero(pos < 0)[0])
        _raise(f"features[{name!r}]",
               "a time course with a sample at every (run, time) of the recording",
               f"none at run {want[k][0]!r}, t = {want[k][1] * dt:g} s ({int((pos < 0).sum())} "
               "samples missing)",
               "Resample the features to the recording's sample times "
               "(feature_timecourses(..., recording=recording)).")
    return values[pos]


def timecourses(features, recording, timeline, stimuli, method, dt):
    """Feature time courses aligned with the recording's rows.

    Returns ``(arrays, provenance)``: dicts name -> (n_samples, n_features)
    float array and name -> dict.
    """
    if features is None:
        _raise("features", "feature time courses (FeatureTimeCourse), or features plus a "
               "timeline", "None")
    if not isinstance(features, dict):
        features = {"features": features}
    arrays, prov = {}, {}
    for name, feat in features.items():
        if _is_timecourse(feat):
            arrays[name] = _align(feat, name, recording, dt)
            prov[name] = dict(getattr(feat, "provenance", None) or {}, source="FeatureTimeCourse")
            continue
        if isinstance(feat, np.ndarray) and (timeline is None or feat.shape[0] == recording.n_trials):
            if feat.ndim != 2 or feat.shape[0] != recording.n_trials:
                _raise(f"features[{name!r}]",
                       f"an array with one row per sample ({recording.n_trials} rows)",
                       f"shape {feat.shape}", "Or pass a FeatureTimeCourse (runs and times).")
            arrays[name] = feat
            prov[name] = {"source": "array aligned with the recording's rows"}
            continue
        if timeline is None:
            _raise("timeline", f"a Timeline, to resample features[{name!r}] "
                   f"({type(feat).__name__}) to the recording's sample times", "None",
                   "Pass fit(recording, timeline=...), or give FeatureTimeCourse objects.")
        from ..features import feature_timecourses

        ftc = feature_timecourses(feat, timeline, recording=recording, method=method,
                                  stimuli=stimuli)
        arrays[name] = _align(ftc, name, recording, dt)
        prov[name] = dict(getattr(ftc, "provenance", None) or {}, source=type(feat).__name__)
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.kind not in "fiub" or not np.all(np.isfinite(arr)):
            _raise(f"features[{name!r}]", "finite numbers", "NaN, inf or non-numeric values")
    return arrays, prov


def _dtype(enc):
    return np.float64 if str(getattr(enc, "dtype", "float32")) == "float64" else np.float32


def design(arrays, names, runs, delays, dtype=np.float32):
    """Per space: z-score within runs, then FIR-delay within runs; list of blocks."""
    blocks = []
    for name in names:
        x = zscore_runs(arrays[name], runs)
        delayer = Delayer(delays).fit(x)
        blocks.append(delayer.transform(x.astype(dtype, copy=False), runs=runs))
    return blocks


# ---------------------------------------------------------------- repeats
def split_repeats(recording):
    """Repeats of a test run: a list of recordings, or runs labelled ``<stem>-rep<k>``.

    Returns (list of Recording, list of run stems or None).
    """
    if isinstance(recording, (list, tuple)):
        if not recording:
            _raise("recording", "a Recording or a non-empty list of repeats", "an empty list")
        for k, rec in enumerate(recording):
            if not isinstance(rec, Recording):
                _raise(f"recording[{k}]", "a Recording", describe(rec), exc=TypeError)
        return list(recording), None
    if not isinstance(recording, Recording):
        _raise("recording", "a Recording or a list of repeats", describe(recording), exc=TypeError)
    if recording.runs is None:
        return [recording], None
    labels = [str(r) for r in pd.unique(recording.runs)]
    matches = [_REPEAT.match(lab) for lab in labels]
    if len(labels) < 2 or not all(matches) or len({m["stem"] for m in matches}) != 1:
        return [recording], None
    runs = recording.runs.astype(str)
    reps = [recording.select_trials(runs == lab) for lab in labels]
    stem = matches[0]["stem"]
    for rep in reps:
        rep.runs = np.full(rep.n_trials, stem, dtype=object)
    return reps, stem


def check_repeats(reps, dt):
    """All repeats: time series with the same runs, lengths and sample times."""
    first = reps[0]
    for k, rep in enumerate(reps):
        if not rep.is_timeseries:
            _raise(f"recording[{k}]", "a time-series recording (meta['mode'] == 'timeseries')",
                   f"mode {rep.meta.get('mode')!r}")
        if k and (rep.n_trials != first.n_trials
                  or not np.array_equal(run_labels(rep).astype(str), run_labels(first).astype(str))
                  or not np.allclose(rep.sample_times(), first.sample_times())):
            _raise("recording", "repeats of the same run(s): equal lengths, run labels and times",
                   f"repeat {k} with {rep.n_trials} samples against {first.n_trials}")
        if abs(sample_period(rep) - dt) > 1e-9 * dt:
            _raise(f"recording[{k}]", f"the training sampling period ({dt:g} s)",
                   f"{sample_period(rep):g} s")


def coef_matrix(est):
    """Weights (n_features_total, n_units) of a fitted linear estimator."""
    coef = getattr(est, "coef_", None)
    if coef is None:
        if getattr(est, "dual_coef_", None) is not None and hasattr(est, "X_fit_"):
            coef = est.X_fit_.T @ est.dual_coef_
        else:
            _raise("estimator", "an estimator with linear weights (`coef_`)",
                   f"{type(est).__name__}, which exposes none")
    coef = np.asarray(coef, dtype=np.float64)
    return coef[:, None] if coef.ndim == 1 else coef


# ------------------------------------------------------- fit / predict / score
def fit_timeseries(enc, recording, timeline, stimuli, make_estimator):
    """Fit ``enc`` on a time-series recording (sets the fitted attributes)."""
    from ..data._splits import make_cv

    dt = sample_period(recording)
    delays, delay_times = resolve_delays(enc.delays, enc.delay_unit, dt)
    n_start, n_end = resolve_trim(enc.trim, delays, enc.delay_unit, dt)
    runs = run_labels(recording)
    arrays, prov = timecourses(enc.features, recording, timeline, stimuli, enc.resample, dt)
    names = list(arrays)
    keep = trim_mask(runs, n_start, n_end)
    blocks = [b[keep] for b in design(arrays, names, runs, delays, _dtype(enc))]
    kept_runs = runs[keep]
    Y = recording.responses[keep]
    dtype = np.result_type(Y.dtype, np.float32)
    Y = zscore_runs(Y, kept_runs, dtype) if enc.zscore_runs else np.asarray(Y, dtype)
    n_runs = len(pd.unique(kept_runs))
    cv = enc.cv
    if isinstance(cv, str) and cv in ("auto", "runs"):
        if n_runs < 2:
            _raise("cv", "at least 2 runs for leave-one-run-out CV", f"{n_runs} run",
                   "Pass cv=k for k contiguous blocks of samples.")
        folds = make_cv("runs", runs=kept_runs)
    elif n_runs >= 2:
        folds = make_cv(cv, runs=kept_runs)
    else:
        folds = make_cv(cv, n_samples=len(kept_runs))
    est = make_estimator(folds, len(blocks))
    logger.info("Fitting %s on %d samples (%d runs, %d trimmed) x %d units, %s features x "
                "%d delays", type(est).__name__, len(Y), n_runs, int((~keep).sum()),
                Y.shape[1], " + ".join(str(a.shape[1]) for a in arrays.values()), len(delays))
    enc.estimator_ = est.fit(blocks[0] if len(blocks) == 1 else blocks, Y)
    enc.mode_ = "timeseries"
    enc.space_names_ = names
    enc.n_features_per_space_ = {n: int(arrays[n].shape[1]) for n in names}
    enc.delays_, enc.delay_times_ = delays, delay_times
    enc.sample_period_ = dt
    enc.trim_ = (n_start, n_end)
    enc.timecourse_provenance_ = prov
    enc.train_runs_ = [str(r) for r in pd.unique(runs)]
    return enc


def _arrays_from_data(enc, data):
    """(arrays, runs) from time courses given directly to predict."""
    feats = data if isinstance(data, dict) else {enc.space_names_[0]: data}
    missing = [n for n in enc.space_names_ if n not in feats]
    if missing:
        _raise("data", f"time courses for the feature spaces {enc.space_names_}",
               f"none for {missing}")
    arrays, runs = {}, None
    for name in enc.space_names_:
        feat = feats[name]
        if _is_timecourse(feat):
            arrays[name] = np.asarray(feat.values)
            runs = np.asarray(feat.runs) if runs is None else runs
        else:
            arrays[name] = np.asarray(feat)
    n = {a.shape[0] for a in arrays.values()}
    if len(n) != 1:
        _raise("data", "time courses with the same number of samples", f"lengths {sorted(n)}")
    runs = np.zeros(n.pop(), dtype=int) if runs is None else runs
    return arrays, runs


def predict_timeseries(enc, data, timeline, stimuli, features=None):
    """Predictions for every row of a time-series recording (or of time courses)."""
    if isinstance(data, Recording):
        if not data.is_timeseries:
            _raise("data", "a time-series recording (the encoder was fitted with delays)",
                   f"a recording with mode {data.meta.get('mode')!r}")
        dt = sample_period(data)
        if abs(dt - enc.sample_period_) > 1e-9 * dt:
            _raise("data", f"the training sampling period ({enc.sample_period_:g} s)",
                   f"{dt:g} s")
        feats = enc.features if features is None else features
        arrays, _ = timecourses(feats, data, timeline, stimuli, enc.resample, dt)
        runs = run_labels(data)
    else:
        arrays, runs = _arrays_from_data(enc, data)
    for name in enc.space_names_:
        if arrays[name].shape[1] != enc.n_features_per_space_[name]:
            _raise(f"features[{name!r}]", f"{enc.n_features_per_space_[name]} features (as in fit)",
                   f"{arrays[name].shape[1]}")
    blocks = design(arrays, enc.space_names_, runs, enc.delays_, _dtype(enc))
    return blocks, np.asarray(enc.estimator_.predict(blocks[0] if len(blocks) == 1 else blocks))


def evaluate_timeseries(enc, recording, timeline, stimuli, features, check_units):
    """Per-unit table on a (repeated) test run; see VoxelwiseEncoder.evaluate."""
    from ..data._noise_ceiling import explainable_variance, noise_ceiling
    from .._ridge._scores import noise_normalized, score_correlation, score_r2

    reps, _ = split_repeats(recording)
    check_repeats(reps, enc.sample_period_)
    for rep in reps:
        check_units(rep)
    first = reps[0]
    runs = run_labels(first)
    keep = trim_mask(runs, *enc.trim_)
    blocks, pred = predict_timeseries(enc, first, timeline, stimuli, features)
    pred = pred[keep]
    kept_runs = runs[keep]
    Y_rep = np.stack([zscore_runs(r.responses[keep], kept_runs) if enc.zscore_runs
                      else np.asarray(r.responses[keep], np.float64) for r in reps])
    Y = Y_rep.mean(axis=0)
    if enc.zscore_runs and len(reps) > 1:
        Y = zscore_runs(Y, kept_runs)  # the mean of z-scored repeats, z-scored again (Card 2)
    table = enc.units_.copy()
    table["r"] = score_correlation(Y, pred)
    table["r2"] = score_r2(Y, pred)
    R = len(reps)
    table["n_repeats"] = R
    if R >= 2:
        n = len(Y)
        ids = np.tile([f"{r}|{k}" for k, r in enumerate(kept_runs)], R)
        nc = noise_ceiling(Y_rep.reshape(R * n, -1), ids, n_average=R,
                           zscore_by=np.repeat(np.arange(R), n))
        table["noise_ceiling"] = nc
        table["noise_ceiling_r"] = np.sqrt(nc)
        table["normalized"] = noise_normalized(table["r"].to_numpy(), nc, kind="r")
        table["ev"] = explainable_variance(Y_rep)
    else:
        logger.info("One repeat of the test run: noise ceiling not estimated.")
    if len(enc.space_names_) > 1 and hasattr(enc.estimator_, "score_split"):
        split = enc.estimator_.score_split([b[keep] for b in blocks], Y)
        for name, values in zip(enc.space_names_, split):
            table[f"r2_{name}"] = values
    return table, Y, pred
