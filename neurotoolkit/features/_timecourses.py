"""Feature time courses: stimulus features resampled to the acquisition times of a recording.

Three methods (``feature_timecourses(method=...)``):

- ``"lanczos"``: Huth-lab ``interpdata.lanczosinterp2D`` (sparse, per run);
- ``"average"``: mean of the events weighted by their overlap with each sample interval;
- ``"hrf"``: events as boxcars on a fine grid, convolved with the SPM canonical HRF, sampled.
"""

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.logging import logger
from .._utils.logging import verbose as verbose_decorator
from .._utils.validation import _raise, check_array, check_int, check_option, check_type, describe

__all__ = ["FeatureTimeCourse", "feature_timecourses", "lanczos_resample", "spm_hrf"]

METHODS = ("lanczos", "average", "hrf")


class FeatureTimeCourse:
    """Features sampled at the acquisition times of a time-series recording.

    Parameters
    ----------
    values : array, shape (n_samples, n_features) or (n_samples,)
        One row per sample (TR, or EEG/MEG sample).
    runs : array, shape (n_samples,)
        Run label of each sample.
    times : array, shape (n_samples,)
        Seconds from the start of the run; strictly increasing within a run.
    name : str
        Short name, e.g. "motion_energy".
    provenance : dict | None
        How the values were made (method, window, cutoff, source features).
    feature_names : sequence of str | None
        One per column; default ``"{name}_{k}"``.

    Examples
    --------
    >>> ftc = FeatureTimeCourse(np.zeros((4, 2)), [1, 1, 2, 2], [0.0, 2.0, 0.0, 2.0])
    >>> len(ftc), ftc.select_runs([2]).times
    (4, array([0., 2.]))
    """

    def __init__(self, values, runs, times, name="features", provenance=None, feature_names=None):
        values = check_array("values", values, ndim=(1, 2), min_samples=1)
        if values.ndim == 1:
            values = values[:, None]
        n = values.shape[0]
        runs = np.asarray(runs)
        if runs.shape != (n,):
            _raise("runs", f"one run label per sample, shape ({n},)", f"shape {runs.shape}")
        times = check_array("times", times, ndim=1, dtype=np.float64)
        if times.shape != (n,):
            _raise("times", f"one time per sample, shape ({n},)", f"shape {times.shape}")
        for run in pd.unique(runs):
            t = times[runs == run]
            if len(t) > 1 and not (np.diff(t) > 0).all():
                _raise("times", "strictly increasing times within each run",
                       f"run {run!r} with times not increasing (or repeated)")
        if feature_names is None:
            feature_names = [f"{name}_{k}" for k in range(values.shape[1])]
        feature_names = np.asarray([str(f) for f in feature_names], dtype=object)
        if feature_names.shape != (values.shape[1],):
            _raise("feature_names", f"one name per column ({values.shape[1]})",
                   f"{feature_names.shape[0]} names")
        self.values = values
        self.runs = runs
        self.times = times
        self.name = str(name)
        self.provenance = dict(provenance or {})
        self.feature_names = feature_names

    @property
    def n_features(self):
        """Number of features (columns)."""
        return self.values.shape[1]

    @property
    def run_labels(self):
        """Run labels in order of first appearance, list (Python scalars)."""
        return [r.item() if isinstance(r, np.generic) else r for r in pd.unique(self.runs)]

    def __len__(self):
        return self.values.shape[0]

    def __repr__(self):
        method = self.provenance.get("method")
        return (f"<FeatureTimeCourse {self.name!r}: {len(self)} samples x {self.n_features} "
                f"features in {len(self.run_labels)} run(s)" + (f"; {method}" if method else "")
                + ">")

    def select_runs(self, runs):
        """A FeatureTimeCourse with only ``runs`` (in that order).

        Parameters
        ----------
        runs : label | sequence of labels
            Matched exactly, else as strings.

        Returns
        -------
        FeatureTimeCourse
        """
        wanted = [runs] if (np.isscalar(runs) or isinstance(runs, str)) else list(runs)
        have = {str(r): r for r in self.run_labels}
        rows = []
        for r in wanted:
            key = r if r in self.run_labels else have.get(str(r))
            if key is None:
                _raise("runs", f"runs of this time course ({self.run_labels[:10]})", describe(r))
            rows.append(np.flatnonzero(self.runs == key))
        rows = np.concatenate(rows)
        return FeatureTimeCourse(self.values[rows], self.runs[rows], self.times[rows], self.name,
                                 self.provenance, self.feature_names)

    @classmethod
    def concat(cls, timecourses, name=None):
        """Join time courses of the same samples column-wise (for banded models).

        Provenance keeps each part and ``"bands"``, the column slice of each.
        """
        tcs = list(timecourses)
        if not tcs or not all(isinstance(t, cls) for t in tcs):
            _raise("timecourses", "a non-empty list of FeatureTimeCourse",
                   describe([type(t).__name__ for t in tcs]), exc=TypeError)
        first = tcs[0]
        for t in tcs[1:]:
            if len(t) != len(first) or not (np.array_equal(t.runs.astype(str), first.runs.astype(str))
                                            and np.allclose(t.times, first.times)):
                _raise("timecourses", "time courses sampled at the same (run, time) points",
                       f"{t.name!r} differs from {first.name!r}")
        bounds = np.cumsum([0] + [t.n_features for t in tcs])
        prov = {"parts": {t.name: t.provenance for t in tcs},
                "bands": {t.name: (int(a), int(b)) for t, a, b in zip(tcs, bounds[:-1], bounds[1:])}}
        names = np.concatenate([[f"{t.name}:{f}" for f in t.feature_names] for t in tcs])
        values = np.concatenate([t.values for t in tcs], axis=1)
        return cls(values, first.runs, first.times, name or "+".join(t.name for t in tcs), prov,
                   names)


# ------------------------------------------------------------------- kernels
def _lanczos_fun(f, t, window):
    """Huth-lab ``lanczosfun``: zeros of the sinc at multiples of 1/f, ``window`` lobes."""
    t = t * f
    with np.errstate(divide="ignore", invalid="ignore"):
        val = window * np.sin(np.pi * t) * np.sin(np.pi * t / window) / (np.pi**2 * t**2)
    val[t == 0] = 1.0
    val[np.abs(t) > window] = 0.0
    return val


def _ranges(lo, hi):
    """(owner, index) pairs for the integer ranges [lo[i], hi[i])."""
    counts = np.maximum(hi - lo, 0)
    owner = np.repeat(np.arange(len(lo)), counts)
    starts = np.cumsum(counts) - counts
    index = lo[owner] + (np.arange(counts.sum()) - starts[owner])
    return owner, index


def lanczos_resample(values, old_times, new_times, window=3, cutoff=None):
    """Lanczos interpolation of rows at ``old_times`` to ``new_times``.

    The same numbers as the Huth-lab ``interpdata.lanczosinterp2D(values,
    old_times, new_times, window, cutoff_mult)`` (Huth et al., 2016, Nature;
    LeBel et al., 2023, Scientific Data) with ``cutoff_mult = 2 * cutoff *
    mean(diff(new_times))``, computed with a sparse matrix (memory linear in
    the number of samples). Each new sample is ``sum_i L(t - t_i) x_i``
    with ``L(t) = sinc(2 f t) sinc(2 f t / window)`` for ``|2 f t| <= window``
    and 0 beyond (no normalisation: a rate such as word rate comes out in
    events per sample interval).

    Parameters
    ----------
    values : array, shape (n_old, n_features) or (n_old,)
    old_times : array, shape (n_old,)
        Time of each row, seconds.
    new_times : array, shape (n_new,)
        Target times (evenly spaced for the default cutoff).
    window : int
        Number of lobes of the Lanczos kernel (3 in the Huth-lab pipeline).
    cutoff : float | None
        Low-pass frequency in Hz; default the Nyquist frequency of the target
        rate, ``1 / (2 mean(diff(new_times)))``.

    Returns
    -------
    array, shape (n_new, n_features) (or (n_new,) for 1-D input)
    """
    x = check_array("values", values, ndim=(1, 2))
    old = check_array("old_times", old_times, ndim=1, dtype=np.float64)
    new = check_array("new_times", new_times, ndim=1, dtype=np.float64, min_samples=1)
    if len(old) != x.shape[0]:
        _raise("old_times", f"one time per row of `values` ({x.shape[0]})", f"{len(old)} times")
    window = check_int("window", window, min_value=1)
    cutoff = _default_cutoff(new, cutoff)
    order = np.argsort(old, kind="stable")
    old, xs = old[order], x[order]
    f = 2.0 * cutoff
    half = window / f
    lo = np.searchsorted(old, new - half, side="left")
    hi = np.searchsorted(old, new + half, side="right")
    rows, cols = _ranges(lo, hi)
    from scipy import sparse

    mat = sparse.csr_matrix((_lanczos_fun(f, new[rows] - old[cols], window), (rows, cols)),
                            shape=(len(new), len(old)))
    out = mat @ (xs if xs.ndim == 2 else xs[:, None])
    out = np.asarray(out, dtype=np.result_type(x.dtype, np.float32))
    return out if x.ndim == 2 else out[:, 0]


def _default_cutoff(new, cutoff):
    if cutoff is None:
        if len(new) < 2 or not np.mean(np.diff(new)) > 0:
            _raise("cutoff", "a frequency in Hz (the target times do not give a sampling rate)",
                   "None")
        return 0.5 / float(np.mean(np.diff(new)))
    check_type("cutoff", cutoff, "numeric")
    if not cutoff > 0:
        _raise("cutoff", "a positive frequency in Hz", describe(cutoff))
    return float(cutoff)


def _average(values, onsets, durations, times, dt):
    """Overlap-weighted mean of events within [t_k, t_k + dt_k); 0 where no event."""
    if (durations <= 0).any():
        _raise("timeline", "events with durations > 0 for method='average'",
               f"{int((durations <= 0).sum())} event(s) of zero duration",
               "Use method='lanczos' (point events), or give the events durations.")
    starts = times
    ends = times + dt
    ev_end = onsets + durations
    lo = np.searchsorted(ends, onsets, side="right")
    hi = np.searchsorted(starts, ev_end, side="left")
    ev, k = _ranges(lo, hi)
    w = np.minimum(ev_end[ev], ends[k]) - np.maximum(onsets[ev], starts[k])
    keep = w > 0
    from scipy import sparse

    mat = sparse.csr_matrix((w[keep], (k[keep], ev[keep])), shape=(len(times), len(onsets)))
    total = np.asarray(mat.sum(axis=1)).ravel()
    out = np.asarray(mat @ values)
    nz = total > 0
    out[nz] /= total[nz, None]
    return out, int((~nz).sum())


def spm_hrf(dt, length=32.0):
    """SPM canonical HRF sampled every ``dt`` seconds, normalised to sum 1.

    ``h(t) = G(t; 6) - G(t; 16) / 6`` for ``t = 0, dt, ..., length`` with
    ``G(t; a)`` the gamma density of shape ``a`` and unit scale, as
    ``spm_hrf`` (Friston et al., 1998, NeuroImage) with default parameters.

    Parameters
    ----------
    dt : float
        Sampling step in seconds.
    length : float
        Kernel length in seconds.

    Returns
    -------
    array, shape (n_taps,)
    """
    from scipy.stats import gamma

    t = np.arange(0.0, length + dt / 2, dt)
    h = gamma.pdf(t, 6.0) - gamma.pdf(t, 16.0) / 6.0
    return h / h.sum()


def _hrf_convolve(values, onsets, durations, times, dt, oversampling, hrf):
    """Boxcars on a grid of step dt / oversampling, convolved with the HRF, sampled at times."""
    from scipy.signal import oaconvolve

    step = dt / oversampling
    t_end = max(float(times.max()), float((onsets + durations).max())) + dt
    n_fine = int(np.ceil(t_end / step)) + 1
    ev_end = np.maximum(onsets + durations, onsets)
    lo = np.clip(np.floor(onsets / step).astype(int), 0, n_fine - 1)
    hi = np.clip(np.ceil(ev_end / step).astype(int), lo + 1, n_fine)
    ev, j = _ranges(lo, hi)
    cover = (np.minimum(ev_end[ev], (j + 1) * step) - np.maximum(onsets[ev], j * step)) / step
    cover = np.where(durations[ev] > 0, np.clip(cover, 0.0, 1.0), 1.0)  # sticks fill one bin
    from scipy import sparse

    box = sparse.csr_matrix((cover, (j, ev)), shape=(n_fine, len(onsets))) @ values
    kernel = hrf(step) if callable(hrf) else spm_hrf(step)
    fine = oaconvolve(np.asarray(box), kernel[:, None], axes=0)[:n_fine]
    grid = np.arange(n_fine) * step
    return np.stack([np.interp(times, grid, fine[:, c]) for c in range(fine.shape[1])], axis=1)


# ----------------------------------------------------------- the entry point
@fill_doc
@verbose_decorator
def feature_timecourses(features, timeline, recording=None, *, sample_times=None, runs=None,
                        method="lanczos", stimuli=None, window=3, cutoff=None, hrf="spm",
                        kind=None, event_time="center", oversampling=16, name=None,
                        verbose=None):
    """Resample stimulus features onto the sample times of a recording, run by run.

    Parameters
    ----------
    features : FeatureSpace | transformer | array | str | callable
        - :class:`FeatureSpace` keyed by the timeline's ``stim_id`` (e.g.
          ``extract_features(tl.to_stimulus_set(), ...)`` or
          :func:`word_embeddings`);
        - a transformer: with ``transform_timeline(timeline, stimuli)``
          (:class:`MotionEnergy`, per-frame features over each run) or
          ``transform(StimulusSet)`` (:class:`GaborPyramid`, applied to
          ``timeline.to_stimulus_set(stimuli)``);
        - an array (n_events, n_features) in event order (events of ``kind``);
        - ``"word_rate"``, ``"letter_rate"`` (per word event), ``"envelope"``,
          ``"spectrogram"`` (from each run's audio), or a callable
          ``f(waveform, sfreq, target_sfreq=rate) -> (n, n_features)`` like
          :func:`audio_envelope` (use ``functools.partial`` for options).
    timeline : Timeline
        What was presented when (:class:`neurotoolkit.data.Timeline`).
    recording : Recording | None
        A time-series recording: targets are ``recording.sample_times()``
        in ``recording.runs``. Runs are matched by label (or as strings).
    sample_times : array, shape (n_samples,) | None
        Target times (seconds within run) when no recording is given.
    runs : array | sequence | None
        With ``sample_times``: run label of each sample (default: the
        timeline's only run). With a recording: the runs to keep.
    method : {"lanczos", "average", "hrf"}
        ``"lanczos"``: Huth-lab Lanczos interpolation of the events (at their
        centres) to the sample times (see :func:`lanczos_resample`).
        ``"average"``: mean of events weighted by their overlap with each
        interval ``[t_k, t_{k+1})`` (0 where no event overlaps).
        ``"hrf"``: events as boxcars (value x over [onset, onset + duration))
        on a grid of step ``dt / oversampling``, convolved with the HRF
        (sum 1: a sustained value x gives a plateau of x), sampled at ``t_k``.
    stimuli : StimulusSet | None
        Pixels for transformers, if the timeline holds none.
    window : int
        Lanczos lobes.
    cutoff : float | None
        Lanczos low-pass frequency in Hz; default the Nyquist frequency of
        each run's sample rate.
    hrf : "spm" | callable
        ``"spm"`` (:func:`spm_hrf`) or ``f(step) -> kernel`` sampled every
        ``step`` seconds.
    kind : str | sequence of str | None
        Event kinds that carry the features; default: the kinds found in a
        FeatureSpace, frames and images for transformers, words for word
        spaces, all non-audio events for arrays.
    event_time : {"center", "onset"}
        Time of an event for ``"lanczos"`` (Huth lab: word centres).
    oversampling : int
        Fine-grid points per sample for ``"hrf"`` (and for audio spaces with
        ``"average"``/``"hrf"``).
    name : str | None
        Name of the result; default from the features.
    %(verbose)s

    Returns
    -------
    FeatureTimeCourse
        ``values`` (n_samples, n_features), ``runs``, ``times``;
        ``provenance`` records the method, window, cutoff (Hz, per run),
        HRF and the source features' provenance.
    """
    from ._temporal_spaces import event_matrix, run_targets

    check_option("method", method, METHODS)
    check_option("event_time", event_time, ("center", "onset"))
    window = check_int("window", window, min_value=1)
    oversampling = check_int("oversampling", oversampling, min_value=1)
    if not (hrf == "spm" or callable(hrf)):
        _raise("hrf", "'spm' or a callable step -> kernel", describe(hrf))
    targets = run_targets(timeline, recording, sample_times, runs)
    source = event_matrix(features, timeline, targets, kind=kind, stimuli=stimuli,
                          method=method, oversampling=oversampling)
    blocks, cutoffs, empty = [], {}, 0
    for run, rows, times in targets:
        values, onsets, durations = source.per_run[run]
        dt = _sample_step(times, rows, run)
        if method == "lanczos":
            at = onsets + durations / 2 if event_time == "center" else onsets
            c = cutoff if cutoff is not None else 0.5 / dt
            cutoffs[str(run)] = float(c)
            out = lanczos_resample(values, at, times, window=window, cutoff=c)
        elif method == "average":
            steps = np.append(np.diff(times), dt)
            out, n_empty = _average(values, onsets, durations, times, steps)
            empty += n_empty
        else:
            out = _hrf_convolve(values, onsets, durations, times, dt, oversampling, hrf)
        blocks.append((rows, out))
    index = np.concatenate([rows for rows, _ in blocks])
    order = np.argsort(index, kind="stable")  # rows in the recording's order
    out = np.concatenate([vals for _, vals in blocks])[order]
    out = out.astype(np.result_type(source.dtype, np.float32), copy=False)
    all_runs = np.concatenate([np.repeat(np.asarray([run], dtype=object), len(rows))
                               for run, rows, _ in targets])[order]
    all_times = np.concatenate([times for _, _, times in targets])[order]
    prov = {"method": method, "timeline": timeline.name, "kind": source.kinds,
            "source": source.provenance}
    if method == "lanczos":
        prov.update(window=window, event_time=event_time,
                    cutoff=cutoffs if len(set(cutoffs.values())) > 1 else next(iter(cutoffs.values())))
    elif method == "average":
        prov["empty_samples"] = empty
    else:
        prov.update(hrf="spm" if hrf == "spm" else repr(hrf), oversampling=oversampling)
    if empty:
        logger.info("feature_timecourses: %d sample(s) overlap no event (set to 0).", empty)
    return FeatureTimeCourse(out, _same_type_runs(all_runs), all_times, name or source.name, prov,
                             source.feature_names)


def _sample_step(times, rows, run):
    if len(times) < 2:
        _raise("recording", "at least 2 samples per run to know the sample rate",
               f"{len(times)} sample(s) in run {run!r}")
    d = np.diff(times)
    if not (d > 0).all():
        _raise("sample_times", "increasing times within each run", f"run {run!r}")
    return float(np.mean(d))


def _same_type_runs(runs):
    """Object array of labels -> the labels' own dtype (int, str) when they share one."""
    types = {type(r) for r in runs}
    return np.asarray(list(runs)) if len(types) == 1 else runs
