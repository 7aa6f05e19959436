"""Feature spaces over a timeline: word rate, letter rate, audio envelope, spectrogram,
contextual word embeddings; and the per-run event matrices that ``feature_timecourses`` resamples.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.logging import logger, progress, warn
from .._utils.logging import verbose as verbose_decorator
from .._utils.validation import _raise, check_array, check_int, check_option, check_type, describe
from ._feature_space import FeatureSpace

__all__ = ["audio_envelope", "spectrogram", "word_embeddings"]

WORD_SPACES = ("word_rate", "letter_rate")
AUDIO_SPACES = ("envelope", "spectrogram")
_MAX_AUDIO_RATE = 200.0  # Hz: audio features for "average"/"hrf" are made at most at this rate


# ------------------------------------------------------------------ audio
def _mono(waveform):
    x = check_array("waveform", waveform, ndim=(1, 2), min_samples=2)
    return x.mean(axis=1) if x.ndim == 2 else x


def _check_rates(sfreq, target_sfreq):
    for name, v in (("sfreq", sfreq), ("target_sfreq", target_sfreq)):
        check_type(name, v, "numeric")
        if not v > 0:
            _raise(name, "a positive sampling rate in Hz", describe(v))
    if target_sfreq > sfreq:
        _raise("target_sfreq", f"a rate at most the audio rate ({sfreq:g} Hz)",
               describe(target_sfreq))
    return float(sfreq), float(target_sfreq)


def _to_rate(x, rate_in, rate_out, n_out):
    """Anti-aliased resampling of rows sampled at ``k / rate_in`` to ``j / rate_out``.

    Integer decimation (``scipy.signal.resample_poly``) to at least 4x the
    target rate, then Lanczos interpolation normalised to unit DC gain.
    """
    from scipy.signal import resample_poly

    from ._timecourses import lanczos_resample

    down = max(1, int(np.floor(rate_in / (4.0 * rate_out))))
    if down > 1:
        x = resample_poly(x, 1, down, axis=0)
        rate_in = rate_in / down
    new = np.arange(n_out) / rate_out
    if np.isclose(rate_in, rate_out, rtol=1e-12) and len(x) >= n_out:
        return x[:n_out]
    old = np.arange(len(x)) / rate_in
    num = lanczos_resample(x, old, new, window=3, cutoff=rate_out / 2)
    den = lanczos_resample(np.ones(len(x)), old, new, window=3, cutoff=rate_out / 2)
    return num / np.where(np.abs(den) > 1e-12, den, 1.0)[:, None]


def audio_envelope(waveform, sfreq, target_sfreq=100.0, method="hilbert"):
    """Broadband amplitude envelope of a sound, sampled at ``target_sfreq``.

    ``method="hilbert"``: magnitude of the analytic signal (``scipy.signal.hilbert``);
    ``"rectify"``: full-wave rectification ``|x|``. Either is then low-passed
    and resampled without aliasing: integer polyphase decimation
    (``resample_poly``, Kaiser FIR) to at least 4x the target rate, then
    Lanczos interpolation (3 lobes, cutoff at the target Nyquist frequency,
    unit DC gain) onto ``k / target_sfreq``. Multichannel sound is averaged
    to mono first.

    Parameters
    ----------
    waveform : array, shape (n_samples,) or (n_samples, n_channels)
    sfreq : float
        Audio sampling rate in Hz.
    target_sfreq : float
        Output rate in Hz.
    method : {"hilbert", "rectify"}

    Returns
    -------
    envelope : array, shape (n_out, 1)
        Samples at ``k / target_sfreq``, ``n_out = floor(duration * target_sfreq)``.
    """
    sfreq, target_sfreq = _check_rates(sfreq, target_sfreq)
    check_option("method", method, ("hilbert", "rectify"))
    x = _mono(waveform)
    if method == "hilbert":
        from scipy.signal import hilbert
        from scipy.fft import next_fast_len

        env = np.abs(hilbert(x, N=next_fast_len(len(x)))[: len(x)])
    else:
        env = np.abs(x)
    n_out = int(np.floor(len(x) / sfreq * target_sfreq))
    return _to_rate(env[:, None], sfreq, target_sfreq, n_out)


def _band_edges(n_bands, fmin, fmax, scale):
    if scale == "mel":
        mel = np.linspace(2595 * np.log10(1 + fmin / 700), 2595 * np.log10(1 + fmax / 700),
                          n_bands + 2)
        return 700 * (10 ** (mel / 2595) - 1)
    return np.geomspace(fmin, fmax, n_bands + 2)


def spectrogram(waveform, sfreq, n_bands=16, fmin=100.0, fmax=None, target_sfreq=100.0,
                scale="mel", log=True, window_s=0.025):
    """Band power of a sound in ``n_bands`` mel (or log) spaced bands, at ``target_sfreq``.

    Short-time power spectra (Hann window of ``window_s`` seconds, frames
    centred at ``k * hop / sfreq`` with hop close to ``sfreq / (4 target_sfreq)``)
    are pooled with triangular filters whose ``n_bands + 2`` edges are
    equally spaced on the mel scale (``2595 log10(1 + f / 700)``) or
    logarithmically between ``fmin`` and ``fmax``, then resampled to
    ``k / target_sfreq`` (Lanczos, unit DC gain). With ``log=True`` the
    output is ``log(power + 1e-10 * max power)``.

    Parameters
    ----------
    waveform : array, shape (n_samples,) or (n_samples, n_channels)
    sfreq : float
        Audio rate in Hz.
    n_bands : int
    fmin, fmax : float
        Frequency range in Hz; ``fmax`` defaults to ``min(8000, sfreq / 2)``.
    target_sfreq : float
        Output rate in Hz.
    scale : {"mel", "log"}
    log : bool
        Log-compress the band powers.
    window_s : float
        Analysis window length in seconds.

    Returns
    -------
    array, shape (n_out, n_bands)
        ``n_out = floor(duration * target_sfreq)``.
    """
    sfreq, target_sfreq = _check_rates(sfreq, target_sfreq)
    n_bands = check_int("n_bands", n_bands, min_value=1)
    check_option("scale", scale, ("mel", "log"))
    fmax = min(8000.0, sfreq / 2) if fmax is None else fmax
    if not 0 < fmin < fmax <= sfreq / 2:
        _raise("fmax", f"0 < fmin < fmax <= sfreq / 2 ({sfreq / 2:g} Hz)",
               f"fmin={fmin!r}, fmax={fmax!r}")
    x = _mono(waveform)
    nper = max(16, int(round(window_s * sfreq)))
    hop = max(1, int(np.floor(sfreq / (4.0 * target_sfreq))))
    freqs = np.fft.rfftfreq(nper, 1.0 / sfreq)
    edges = _band_edges(n_bands, fmin, fmax, scale)
    fb = np.zeros((len(freqs), n_bands))
    for b in range(n_bands):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        fb[:, b] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
    empty = np.flatnonzero(fb.sum(axis=0) == 0)
    if len(empty):
        _raise("n_bands", f"bands wider than the frequency resolution ({sfreq / nper:.1f} Hz)",
               f"{len(empty)} empty band(s)", "Use fewer bands, a larger fmin or window_s.")
    padded = np.pad(x, (nper // 2, nper // 2))
    n_frames = (len(x) - 1) // hop + 1
    win = np.hanning(nper)
    power = np.empty((n_frames, n_bands))
    for start in range(0, n_frames, 4096):  # chunks keep memory flat
        stop = min(n_frames, start + 4096)
        idx = (np.arange(start, stop) * hop)[:, None] + np.arange(nper)[None]
        spec = np.abs(np.fft.rfft(padded[idx] * win, axis=1)) ** 2
        power[start:stop] = spec @ fb
    if log:
        power = np.log(power + 1e-10 * max(power.max(), 1e-30))
    n_out = int(np.floor(len(x) / sfreq * target_sfreq))
    return _to_rate(power, sfreq / hop, target_sfreq, n_out)


# -------------------------------------------------------- word embeddings
@fill_doc
@verbose_decorator
def word_embeddings(timeline, backbone, layer, context_words=20, pooling="last", batch_size=32,
                    cache=None, verbose=None):
    """Contextual embedding of every word event, with up to N preceding words as context.

    Word ``i`` of a run is embedded by running the language backbone on
    ``" ".join(words[i - context_words : i + 1])`` (never across runs) and
    pooling ``layer`` (default: the last token, i.e. the current word's last
    sub-token in a causal model). This is the feature extraction of
    Jain and Huth (2018, NeurIPS) and Schrimpf et al. (2021, PNAS).

    Parameters
    ----------
    timeline : Timeline
        Word events (other kinds are ignored).
    backbone : Backbone | str
        A text backbone, or a name for :func:`get_backbone`.
    layer : str
        A name from ``backbone.layers("text")``, or ``"embedding"``.
    context_words : int
        Preceding words given as context (0: each word alone).
    pooling : str
        Token pooling, see ``Backbone.forward_features``.
    batch_size : int
    cache : FeatureStore | path-like | None
        Feature store: a result with the same words, backbone, layer,
        context and pooling is read from it instead of recomputed.
    %(verbose)s

    Returns
    -------
    FeatureSpace
        One row per word event, ids = the events' ``stim_id``; pass it to
        :func:`feature_timecourses` with the same timeline.
    """
    from ._backbones import Backbone, get_backbone
    from ._store import FeatureStore, make_key

    context_words = check_int("context_words", context_words, min_value=0)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    if isinstance(backbone, str):
        backbone = get_backbone(backbone)
    check_type("backbone", backbone, Backbone)
    backbone._modality("text")
    ev = timeline.select(kind="word").events
    if not len(ev):
        _raise("timeline", "a timeline with word events", describe(timeline))
    texts = []
    for _, grp in ev.groupby("run", sort=False):
        words = grp["text"].tolist()
        texts += [" ".join(words[max(0, i - context_words): i + 1]) for i in range(len(words))]
    ids = ev["stim_id"].tolist()
    # ids follow the run order of the events table
    order = np.concatenate([np.flatnonzero(ev["run"].to_numpy() == r) for r in pd.unique(ev["run"])])
    ids = [ids[k] for k in order]
    prov = dict(backbone.provenance(), layer=layer, context_words=context_words, pooling=pooling,
                modality="text", kind="word_embeddings")
    store = None if cache is None else cache if isinstance(cache, FeatureStore) else FeatureStore(cache)
    key = make_key({"v": 1, "texts": texts, "ids": ids, **prov}) if store is not None else None
    if store is not None:
        hit = store.get(key)
        if hit is not None:
            logger.info("feature store hit for word embeddings %s/%s", backbone.name, layer)
            return hit
    import torch

    rows = []
    with torch.no_grad():
        for start in progress(range(0, len(texts), batch_size), desc="word embeddings",
                              verbose=verbose):
            out = backbone.forward_features(texts[start:start + batch_size], layers=[layer],
                                            pooling=pooling, modality="text")[layer]
            rows.append(out.float().cpu().numpy().reshape(out.shape[0], -1))
    space = FeatureSpace(np.concatenate(rows), ids, f"{backbone.name}/{layer}", prov)
    if store is not None:
        try:
            store.put(key, space)
        except OSError as err:  # a cache that cannot be written costs a warning only
            warn(f"word_embeddings: cannot write to the feature cache '{store.root}' ({err}).")
    return space


# ------------------------------------------------ targets and event matrices
def run_targets(timeline, recording, sample_times, runs):
    """[(run label, rows, times)]: the target samples of each run, in recording order."""
    if recording is not None:
        if sample_times is not None:
            _raise("sample_times", "None when a recording is given", "an array")
        if not getattr(recording, "is_timeseries", False):
            _raise("recording", "a time-series Recording (meta['mode'] == 'timeseries')",
                   describe(recording), "Or pass sample_times= and runs=.")
        times = recording.sample_times()
        labels = recording.runs
        if labels is None:
            labels = np.full(len(times), _only_run(timeline, "recording.runs"), dtype=object)
        keep = None if runs is None else ([runs] if np.isscalar(runs) else list(runs))
    elif sample_times is not None:
        times = check_array("sample_times", sample_times, ndim=1, dtype=np.float64, min_samples=2)
        if runs is None:
            labels = np.full(len(times), _only_run(timeline, "runs"), dtype=object)
        else:
            labels = np.asarray(runs)
            if labels.shape != times.shape:
                _raise("runs", f"one run label per sample time, shape {times.shape}",
                       f"shape {labels.shape}")
        keep = None
    else:
        _raise("recording", "a time-series Recording, or sample_times= (and runs=)", "None")
    out = []
    tl_runs = {str(r) for r in timeline.runs}
    for label in pd.unique(labels):
        label = label.item() if isinstance(label, np.generic) else label
        if keep is not None and label not in keep and str(label) not in {str(k) for k in keep}:
            continue
        if str(label) not in tl_runs:
            _raise("timeline", f"events for every run of the targets (timeline runs: "
                   f"{timeline.runs[:10]})", f"nothing for run {label!r}",
                   "Give the timeline events the recording's run labels.")
        rows = np.flatnonzero(labels == label)
        out.append((label, rows, times[rows]))
    if not out:
        _raise("runs", f"runs of the recording ({list(pd.unique(labels))[:10]})", describe(runs))
    return out


def _only_run(timeline, param):
    if len(timeline.runs) != 1:
        _raise(param, f"run labels (the timeline has {len(timeline.runs)} runs)", "None")
    return timeline.runs[0]


@dataclass
class _Source:
    per_run: dict
    n_features: int
    dtype: object
    kinds: list
    name: str
    provenance: dict
    feature_names: object = None
    extra: dict = field(default_factory=dict)


def _events_of(timeline, kinds):
    ev = timeline.select(kind=kinds).events
    return ev[ev["kind"] != "audio"] if "audio" not in kinds else ev


def _split_runs(values, ev, targets, kinds):
    per_run = {}
    run_str = ev["run"].astype(str).to_numpy()
    for label, _, _ in targets:
        m = run_str == str(label)
        if not m.any():
            warn(f"feature_timecourses: run {label!r} has no {'/'.join(kinds)} events; its "
                 "feature time course is 0.")
        per_run[label] = (values[m], ev["onset"].to_numpy()[m], ev["duration"].to_numpy()[m])
    return per_run


def event_matrix(features, timeline, targets, kind=None, stimuli=None, method="lanczos",
                 oversampling=16):
    """Per-run ``(values, onsets, durations)`` of the events that carry ``features``."""
    kinds = None if kind is None else ([kind] if isinstance(kind, str) else list(kind))
    if isinstance(features, str):
        check_option("features", features, WORD_SPACES + AUDIO_SPACES)
    if isinstance(features, str) and features in WORD_SPACES:
        kinds = kinds or ["word"]
        ev = _events_of(timeline, kinds)
        if features == "word_rate":
            vals = np.ones((len(ev), 1))
        else:
            vals = ev["text"].map(lambda w: sum(c.isalpha() for c in w)).to_numpy(float)[:, None]
        return _Source(_split_runs(vals, ev, targets, kinds), 1, vals.dtype, kinds, features,
                       {"space": features}, [features])
    if (isinstance(features, str) and features in AUDIO_SPACES) or (
            callable(features) and not hasattr(features, "transform")
            and not isinstance(features, FeatureSpace)):
        return _audio_source(features, timeline, targets, method, oversampling)
    if isinstance(features, FeatureSpace):
        return _space_source(features, timeline, targets, kinds)
    if hasattr(features, "transform_timeline"):
        kinds = kinds or ["frame", "image"]
        ev = _events_of(timeline, kinds)
        vals = np.asarray(features.transform_timeline(timeline.select(kind=kinds), stimuli=stimuli))
        names = _names(features, vals.shape[1])
        return _Source(_split_runs(vals, ev, targets, kinds), vals.shape[1], vals.dtype, kinds,
                       type(features).__name__, {"transformer": repr(features)}, names)
    if hasattr(features, "transform"):
        kinds = kinds or ["frame", "image"]
        stim = timeline.select(kind=kinds).to_stimulus_set(stimuli)
        vals = np.asarray(features.transform(stim))
        fs = FeatureSpace(vals, stim.ids, type(features).__name__,
                          {"transformer": repr(features)}, _names(features, vals.shape[1]))
        return _space_source(fs, timeline, targets, kinds)
    if isinstance(features, np.ndarray) or isinstance(features, (list, tuple)):
        vals = check_array("features", features, ndim=(1, 2))
        vals = vals[:, None] if vals.ndim == 1 else vals
        if kinds is None:
            kinds = [k for k in ("frame", "image", "word") if k in set(timeline.events["kind"])]
        ev = _events_of(timeline, kinds)
        if len(ev) != vals.shape[0]:
            _raise("features", f"one row per {'/'.join(kinds)} event of the timeline ({len(ev)})",
                   f"{vals.shape[0]} rows", "Select the events first (timeline.select(kind=...)) "
                   "or pass kind=.")
        return _Source(_split_runs(vals, ev, targets, kinds), vals.shape[1], vals.dtype, kinds,
                       "features", {"source": "array"})
    _raise("features", "a FeatureSpace, a transformer, an (n_events, n_features) array, "
           f"one of {WORD_SPACES + AUDIO_SPACES} or an audio feature function",
           describe(features), exc=TypeError)


def _names(transformer, n):
    try:
        names = np.asarray(transformer.get_feature_names_out(), dtype=object)
        return names if names.shape == (n,) else None
    except Exception:  # noqa: BLE001 - names are optional
        return None


def _space_source(fs, timeline, targets, kinds):
    if kinds is None:
        ev_all = timeline.events
        kinds = sorted(set(ev_all.loc[ev_all["stim_id"].isin(fs.stimulus_ids), "kind"]))
        if not kinds:
            _raise("features", f"a FeatureSpace with the timeline's stim_ids (e.g. "
                   f"{ev_all['stim_id'].head(3).tolist()})",
                   f"FeatureSpace {fs.name!r} with ids {list(fs.stimulus_ids[:3])}")
    ev = _events_of(timeline, kinds)
    vals = fs.for_ids(ev["stim_id"].tolist())
    return _Source(_split_runs(vals, ev, targets, kinds), fs.n_features, vals.dtype, kinds,
                   fs.name, dict(fs.provenance), fs.feature_names)


def _audio_source(features, timeline, targets, method, oversampling):
    func = features
    if isinstance(features, str):
        func = audio_envelope if features == "envelope" else spectrogram
    name = features if isinstance(features, str) else getattr(func, "__name__", "audio")
    per_run, n_feat, rates = {}, None, {}
    for label, _, times in targets:
        dt = float(np.mean(np.diff(times)))
        rate = 1.0 / dt if method == "lanczos" else max(1.0 / dt, min(oversampling / dt,
                                                                      _MAX_AUDIO_RATE))
        wave, sfreq = timeline.audio(label)
        vals = np.asarray(func(wave, sfreq, target_sfreq=rate))
        vals = vals[:, None] if vals.ndim == 1 else vals
        t = np.arange(len(vals)) / rate
        per_run[label] = (vals, t - 0.5 / rate, np.full(len(vals), 1.0 / rate))
        n_feat = vals.shape[1]
        rates[str(label)] = rate
    prov = {"space": name, "audio_feature_rate": rates}
    if hasattr(func, "keywords"):
        prov["options"] = {k: v for k, v in func.keywords.items() if np.isscalar(v)}
    return _Source(per_run, n_feat, np.float64, ["audio"], name, prov)
