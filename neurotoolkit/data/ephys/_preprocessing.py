"""Preprocessing of electrophysiology recordings as recorded steps.

Each step is a name and its parameters, applied with MNE in the order given
and appended to a provenance list (the usual order, as in MNE's tutorials, Gramfort et al., Front. Neurosci. 2013:
drop bad channels, notch, re-reference, band-pass or high-gamma envelope,
resample, scale).
"""

import re

import numpy as np

from ..._utils.docs import fill_doc
from ..._utils.logging import logger, verbose
from ..._utils.optional import require
from ..._utils.validation import check_type

__all__ = ["preprocess_raw", "STEPS", "shaft_contacts"]


def _drop_bads(raw, extra=()):
    drop = sorted(set(raw.info["bads"]) | set(extra))
    missing = [c for c in extra if c not in raw.ch_names]
    if missing:
        raise ValueError(f"Invalid value for `channels`: {missing} not in the recording.")
    _check_some_left(raw, drop, "drop_bads")
    raw.drop_channels(drop)
    return {"dropped": drop}


def _notch(raw, freqs=None, line_freq=None, q=30.0):
    sfreq = raw.info["sfreq"]
    if freqs is None:
        line = line_freq or raw.info.get("line_freq")
        if line is None:
            raise ValueError(
                "Invalid value for `line_freq`: expected 50 or 60 (the mains frequency), got None "
                "and the file does not record it. Pass ('notch', {'line_freq': 60})."
            )
        freqs = np.arange(line, sfreq / 2, line)[:6]
    freqs = [float(f) for f in np.atleast_1d(freqs) if f < sfreq / 2]
    if not freqs:
        raise ValueError(f"Notch: no frequency below Nyquist ({sfreq / 2:g} Hz) to remove.")
    # IIR notch, Q = freq / bandwidth (Card 9: Q = 30).
    for f in freqs:
        raw.notch_filter(f, method="iir", iir_params=dict(order=2, ftype="butter", output="sos"),
                         notch_widths=f / q, picks="data", verbose="error")
    return {"freqs": freqs, "q": q, "method": "iir"}


def _bandpass(raw, l_freq=0.1, h_freq=40.0):
    raw.filter(l_freq, h_freq, picks="data", verbose="error")
    return {"l_freq": l_freq, "h_freq": h_freq, "method": "fir (MNE default)"}


def _reference(raw, method="average", ch_type="auto"):
    mne = require("mne", "re-referencing")
    if method == "average":
        raw.set_eeg_reference("average", ch_type=ch_type, projection=False, verbose="error")
        return {"method": "average", "ch_type": ch_type}
    if method not in ("bipolar", "laplacian"):
        raise ValueError(
            f"Invalid value for `method`: expected one of 'average', 'bipolar', 'laplacian', got "
            f"{method!r}."
        )
    shafts = shaft_contacts([c for c in raw.ch_names if c not in raw.info["bads"]])
    if method == "bipolar":
        anode, cathode = [], []
        for contacts in shafts.values():
            for (n1, a), (n2, c) in zip(contacts[:-1], contacts[1:]):
                if n2 == n1 + 1:
                    anode.append(a)
                    cathode.append(c)
        if not anode:
            raise ValueError("Bipolar reference: no adjacent contacts (e.g. LA1, LA2) found in "
                             f"{raw.ch_names[:8]}.")
        used = set(anode) | set(cathode)
        unpaired = [name for contacts in shafts.values() for _, name in contacts
                    if name not in used]
        mne.set_bipolar_reference(raw, anode, cathode, copy=False, drop_refs=True, verbose="error")
        if unpaired:
            raw.drop_channels(unpaired)
        return {"method": "bipolar", "pairs": [f"{a}-{c}" for a, c in zip(anode, cathode)],
                "dropped": unpaired}
    # Shaft Laplacian x_c - (x_{c-1} + x_{c+1}) / 2, both neighbours required (not in MNE).
    data = raw.get_data()
    index = {c: k for k, c in enumerate(raw.ch_names)}
    out, kept = {}, []
    for contacts in shafts.values():
        nums = {n: name for n, name in contacts}
        for n, name in contacts:
            if n - 1 in nums and n + 1 in nums:
                out[name] = data[index[name]] - 0.5 * (data[index[nums[n - 1]]]
                                                       + data[index[nums[n + 1]]])
                kept.append(name)
    if not kept:
        raise ValueError("Laplacian reference: no contact has both neighbours on its shaft.")
    for name in kept:
        data[index[name]] = out[name]
    raw._data[:] = data
    drop = [c for c in raw.ch_names if c not in kept]
    raw.drop_channels(drop)
    return {"method": "laplacian", "dropped": drop}


def _resample(raw, sfreq):
    check_type("sfreq", sfreq, "numeric")
    old = raw.info["sfreq"]
    raw.resample(sfreq, verbose="error")
    return {"sfreq": float(sfreq), "from_sfreq": float(old)}


def _high_gamma(raw, l_freq=70.0, h_freq=150.0, log=True, zscore=True):
    nyq = raw.info["sfreq"] / 2
    if h_freq >= nyq:
        raise ValueError(
            f"Invalid value for `h_freq`: expected below Nyquist ({nyq:g} Hz) for the high-gamma "
            f"band, got {h_freq:g} Hz; the recording's sampling rate is {2 * nyq:g} Hz."
        )
    picks = _data_picks(raw)  # bad channels included, so that every row stays comparable
    raw.filter(l_freq, h_freq, picks=picks, verbose="error")
    raw.apply_hilbert(picks=picks, envelope=True, verbose="error")
    data = raw._data[picks]
    if log:
        data = np.log(np.maximum(data, np.finfo(float).tiny))
    if zscore:
        data = (data - data.mean(axis=1, keepdims=True)) / data.std(axis=1, keepdims=True)
    raw._data[picks] = data
    return {"l_freq": l_freq, "h_freq": h_freq, "envelope": "hilbert", "log": log, "zscore": zscore}


def _zscore(raw):
    picks = _data_picks(raw)
    data = raw._data[picks]
    raw._data[picks] = (data - data.mean(axis=1, keepdims=True)) / data.std(axis=1, keepdims=True)
    return {}


def _robust_scale(raw, clamp=5.0):
    """Per channel: subtract the median, divide by the interquartile range, clamp at ±clamp."""
    picks = _data_picks(raw)
    data = raw._data[picks]
    med = np.median(data, axis=1, keepdims=True)
    q1, q3 = np.percentile(data, [25, 75], axis=1, keepdims=True)
    iqr = np.where(q3 > q1, q3 - q1, 1.0)
    data = (data - med) / iqr
    if clamp is not None:
        data = np.clip(data, -clamp, clamp)
    raw._data[picks] = data
    return {"clamp": clamp, "center": "median", "scale": "iqr"}


def _crop(raw, tmin=0.0, tmax=None):
    raw.crop(tmin, tmax)
    return {"tmin": tmin, "tmax": tmax}


STEPS = {
    "drop_bads": _drop_bads,
    "notch": _notch,
    "bandpass": _bandpass,
    "reference": _reference,
    "resample": _resample,
    "high_gamma": _high_gamma,
    "zscore": _zscore,
    "robust_scale": _robust_scale,
    "crop": _crop,
}


def _data_picks(raw):
    mne = require("mne", "preprocessing")
    return mne.pick_types(raw.info, meg=True, eeg=True, seeg=True, ecog=True, dbs=True,
                          exclude=[])


def _check_some_left(raw, drop, step):
    left = [c for c in raw.ch_names if c not in drop]
    if not left:
        name = (raw.filenames[0] if getattr(raw, "filenames", None) and raw.filenames[0]
                else "<in-memory Raw>")
        raise ValueError(
            f"All channels of {name} are marked bad ({len(drop)} channels) in step {step!r}: "
            "nothing is left to analyse. Check raw.info['bads'] or the channels sidecar."
        )


def _parse_step(step):
    if isinstance(step, str):
        return step, {}
    if isinstance(step, dict):
        params = dict(step)
        name = params.pop("step", None) or params.pop("name", None)
        return name, params
    if isinstance(step, (tuple, list)) and len(step) == 2 and isinstance(step[1], dict):
        return step[0], dict(step[1])
    raise TypeError(
        "Invalid value for `steps`: expected each step as a name, a (name, params) tuple or a "
        f"dict with a 'step' key, got {step!r}."
    )


@fill_doc
@verbose
def preprocess_raw(raw, steps, copy=True, verbose=None):
    """Apply preprocessing steps to a recording and record them.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording (loaded into memory on the copy when needed).
    steps : list
        Each a name, a ``(name, params)`` tuple or a dict ``{"step": name,
        **params}``, applied in order. Names and parameters (defaults):

        - ``"drop_bads"`` (``extra=()``): drop ``info["bads"]`` and ``extra``.
        - ``"notch"`` (``freqs=None, line_freq=None, q=30``): IIR notch at the
          line frequency and its harmonics below Nyquist (at most 6).
        - ``"bandpass"`` (``l_freq=0.1, h_freq=40``): MNE FIR filter.
        - ``"reference"`` (``method="average", ch_type="auto"``): common
          average; ``"bipolar"`` (adjacent contacts of a shaft, e.g.
          ``LA1-LA2``; unpaired contacts dropped) or ``"laplacian"``
          (``x_c - (x_{c-1} + x_{c+1}) / 2``, contacts without both
          neighbours dropped) for sEEG.
        - ``"resample"`` (``sfreq``).
        - ``"high_gamma"`` (``l_freq=70, h_freq=150, log=True,
          zscore=True``): band-pass, Hilbert envelope, log, z-score.
        - ``"zscore"``; ``"robust_scale"`` (``clamp=5``): median / IQR per
          channel, clamped; ``"crop"`` (``tmin, tmax``).
    copy : bool
        Work on a copy (default) or modify ``raw`` in place.
    %(verbose)s

    Returns
    -------
    raw : mne.io.BaseRaw
        The preprocessed recording.
    provenance : list of dict
        One dict per step: ``{"step": name, **parameters used}``.
    """
    require("mne", "preprocess_raw")
    check_type("steps", steps, (list, tuple))
    parsed = [_parse_step(s) for s in steps]
    unknown = [n for n, _ in parsed if n not in STEPS]
    if unknown:
        raise ValueError(
            f"Invalid value for `steps`: unknown step(s) {unknown}; expected names among "
            f"{sorted(STEPS)}."
        )
    raw = raw.copy() if copy else raw
    if not raw.preload:
        raw.load_data(verbose="error")
    _check_some_left(raw, raw.info["bads"], "start")
    provenance = []
    for name, params in parsed:
        try:
            used = STEPS[name](raw, **params)
        except TypeError as err:
            raise TypeError(f"Invalid parameters for preprocessing step {name!r}: {err}") from err
        record = {"step": name, **params, **used}
        provenance.append(record)
        logger.info("preprocess: %s %s", name, {k: v for k, v in record.items() if k != "step"})
    return raw, provenance


_CONTACT = re.compile(r"^(.*?)(\d+)$")


def shaft_contacts(ch_names):
    """Group sEEG contact names into shafts ordered by contact number.

    ``"LA1"``, ``"LA2"``, ``"LA'3"``, ``"RH 10"`` -> ``{"LA": [(1, "LA1"), (2,
    "LA2")], ...}``; names without a trailing number are left out.

    Returns
    -------
    dict
        Shaft stem -> list of (contact number, channel name), sorted.
    """
    shafts = {}
    for name in ch_names:
        match = _CONTACT.match(name.strip())
        if match is None or not match.group(1):
            continue
        shafts.setdefault(match.group(1).strip(), []).append((int(match.group(2)), name))
    return {k: sorted(v) for k, v in shafts.items()}
