"""Stimulus events of an electrophysiology recording.

Three sources, one output: MNE annotations, a trigger (stim) channel, or an
events table (BIDS ``events.tsv`` style). An optional constant delay and an
optional photodiode refinement move each onset to when the stimulus really
appeared (event alignment as in Subramaniam et al., ICML 2024).
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ..._utils.logging import logger
from ..._utils.validation import check_option, check_type

__all__ = ["find_stimulus_events", "check_events_inside"]

_SOURCES = ("annotations", "stim_channel", "table")


def _raw_name(raw):
    """A readable name for the file behind ``raw`` (or "<in-memory Raw>")."""
    names = [str(f) for f in (getattr(raw, "filenames", None) or []) if f is not None]
    return names[0] if names else "<in-memory Raw>"


def find_stimulus_events(
    raw,
    source="annotations",
    *,
    descriptions=None,
    stim_channel=None,
    event_id=None,
    events_table=None,
    onset_column="onset",
    id_column="stim_id",
    type_column="trial_type",
    delay=0.0,
    photodiode=None,
    photodiode_threshold=0.5,
    max_photodiode_delay=0.2,
):
    """Stimulus onsets of a recording, as a table.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording.
    source : {"annotations", "stim_channel", "table"}
        Where the events come from: ``raw.annotations`` (EEGLAB, BrainVision,
        EDF and BIDS readers put them there), a trigger channel read with
        :func:`mne.find_events`, or ``events_table``.
    descriptions : str | list of str | None
        Annotations only: keep these descriptions; None keeps all but MNE's
        ``BAD*`` and ``EDGE*`` annotations (e.g. the ``BAD_ACQ_SKIP`` that
        marks EDF padding).
    stim_channel : str | None
        Trigger channel name for ``source="stim_channel"`` (MNE's default
        channels when None).
    event_id : dict | None
        ``source="stim_channel"``: trigger code -> trial type name (codes not
        in it are dropped); None keeps every code, named by its value.
    events_table : pandas.DataFrame | path-like | None
        ``source="table"``: a table (or a tab-separated file) with an
        ``onset_column`` in seconds from the first sample of ``raw`` and
        optionally ``id_column`` and ``type_column``.
    onset_column, id_column, type_column : str
        Column names of ``events_table``.
    delay : float
        Constant delay in seconds added to every onset (e.g. the measured
        trigger-to-screen lag).
    photodiode : str | None
        Name of a photodiode channel. Each onset (after ``delay``) is moved
        to the first sample in ``[onset, onset + max_photodiode_delay]``
        where the photodiode crosses ``photodiode_threshold`` (a fraction of
        its range); events without a crossing keep their onset and are
        counted in ``events.attrs["photodiode_missed"]``.
    photodiode_threshold : float
        Threshold as a fraction between the channel's 1st and 99th
        percentiles.
    max_photodiode_delay : float
        Longest lag searched, in seconds.

    Returns
    -------
    events : pandas.DataFrame, shape (n_events, 5)
        Columns ``sample`` (absolute sample index, MNE convention, including
        ``raw.first_samp``), ``onset`` (s from the first sample), ``trial_type``,
        ``stim_id`` (str) and ``delay`` (s added to the raw onset). Sorted by
        onset. ``attrs`` records the source and, with a photodiode, the lags.

    Raises
    ------
    ValueError
        When an event falls outside the recording (the message names the
        file and the events), or the source has no events.
    """
    check_option("source", source, _SOURCES)
    fname = _raw_name(raw)
    sfreq = float(raw.info["sfreq"])
    if source == "annotations":
        table = _from_annotations(raw, descriptions, fname)
    elif source == "stim_channel":
        table = _from_stim_channel(raw, stim_channel, event_id, fname)
    else:
        table = _from_table(events_table, onset_column, id_column, type_column, fname)
    check_type("delay", delay, "numeric")
    table["delay"] = float(delay)
    table["onset"] = table["onset"] + float(delay)
    attrs = {"source": source, "file": fname, "delay": float(delay)}
    if photodiode is not None:
        lags, missed = _photodiode_lags(
            raw, table["onset"].to_numpy(), photodiode, photodiode_threshold, max_photodiode_delay
        )
        table["onset"] = table["onset"] + lags
        table["delay"] = table["delay"] + lags
        attrs.update(photodiode=photodiode, photodiode_lags=lags, photodiode_missed=int(missed))
        logger.info(
            "Photodiode %s: median lag %.1f ms over %d events (%d without a crossing).",
            photodiode, 1e3 * float(np.median(lags)), len(lags), missed,
        )
    table["sample"] = np.round(table["onset"].to_numpy() * sfreq).astype(np.int64) + raw.first_samp
    table = table.sort_values("onset", kind="stable").reset_index(drop=True)
    table = table[["sample", "onset", "trial_type", "stim_id", "delay"]]
    check_events_inside(raw, table["onset"].to_numpy())
    table.attrs.update(attrs)
    return table


def check_events_inside(raw, onsets, tmin=0.0, tmax=0.0, fname=None):
    """Raise a ValueError naming the file when an event window leaves the recording.

    Parameters
    ----------
    raw : mne.io.BaseRaw
    onsets : array, shape (n_events,)
        Onsets in seconds from the first sample.
    tmin, tmax : float
        Epoch window around each onset, in seconds.
    fname : str | None
        Name used in the message (the raw's file by default).
    """
    onsets = np.asarray(onsets, dtype=float)
    duration = raw.n_times / raw.info["sfreq"]
    last = (raw.n_times - 1) / raw.info["sfreq"]
    bad = np.flatnonzero((onsets + tmin < 0) | (onsets + tmax > last + 0.5 / raw.info["sfreq"]))
    if bad.size:
        name = fname or _raw_name(raw)
        window = f" with the epoch window [{tmin:g}, {tmax:g}] s" if (tmin or tmax) else ""
        raise ValueError(
            f"Events outside the recording in {name}: {bad.size} event(s){window} fall outside "
            f"[0, {duration:.3f}] s, e.g. event(s) {bad[:5].tolist()} at onset(s) "
            f"{np.round(onsets[bad[:5]], 3).tolist()} s. Check the events' time base (seconds "
            "from the first sample), the file they belong to, or drop those events "
            "(load_ephys(..., on_outside='drop'))."
        )


def _from_annotations(raw, descriptions, fname):
    ann = raw.annotations
    if descriptions is not None:
        wanted = [descriptions] if isinstance(descriptions, str) else list(descriptions)
        present = sorted(set(ann.description))
        unknown = [d for d in wanted if d not in present]
        if unknown:
            raise ValueError(
                f"Invalid value for `descriptions`: {unknown} not found in the annotations of "
                f"{fname}; they have {present[:20]}."
            )
        keep = np.isin(ann.description, wanted)
    else:
        keep = np.array([not str(d).upper().startswith(("BAD", "EDGE")) for d in ann.description],
                        dtype=bool)
    if not keep.any():
        raise ValueError(f"No events in {fname}: the recording has no annotations.")
    # Onsets from the first sample of this Raw, whatever the annotations' origin.
    if ann.orig_time is None:  # onsets then count from sample 0, not from first_samp
        onsets = ann.onset[keep] - raw.first_time
    else:
        idx = raw.time_as_index(ann.onset[keep], use_rounding=True, origin=ann.orig_time)
        onsets = idx / raw.info["sfreq"]
    desc = np.asarray(ann.description[keep], dtype=object)
    stim_ids = desc.copy()
    extras = getattr(ann, "extras", None)
    if extras is not None:
        ex = [e for e, k in zip(extras, keep) if k]
        ids = [None if e is None else e.get("stim_id") for e in ex]
        stim_ids = np.asarray([s if i is None else str(i) for s, i in zip(desc, ids)], dtype=object)
    return pd.DataFrame({"onset": onsets, "trial_type": desc, "stim_id": stim_ids})


def _from_stim_channel(raw, stim_channel, event_id, fname):
    mne = _mne()
    try:
        ev = mne.find_events(raw, stim_channel=stim_channel, shortest_event=1, verbose="error")
    except ValueError as err:
        raise ValueError(f"Could not read triggers from {fname}: {err}") from err
    if event_id is not None:
        check_type("event_id", event_id, dict)
        keep = np.isin(ev[:, 2], list(event_id.keys()))
        ev = ev[keep]
        names = [str(event_id[c]) for c in ev[:, 2]]
    else:
        names = [str(c) for c in ev[:, 2]]
    if len(ev) == 0:
        where = stim_channel or "the stim channel"
        raise ValueError(f"No events in {fname}: no trigger found on {where}.")
    onsets = (ev[:, 0] - raw.first_samp) / raw.info["sfreq"]
    return pd.DataFrame({"onset": onsets, "trial_type": names, "stim_id": names})


def _from_table(events_table, onset_column, id_column, type_column, fname):
    if events_table is None:
        raise ValueError("Invalid value for `events_table`: expected a DataFrame or a .tsv path "
                         "with source='table', got None.")
    if not isinstance(events_table, pd.DataFrame):
        check_type("events_table", events_table, ("path-like", pd.DataFrame))
        path = Path(events_table)
        if not path.is_file():
            raise FileNotFoundError(f"Events file {path} does not exist.")
        events_table = pd.read_csv(path, sep="\t" if path.suffix != ".csv" else ",")
    if onset_column not in events_table.columns:
        raise ValueError(
            f"Invalid value for `events_table`: expected a column {onset_column!r} (onsets in "
            f"seconds), got columns {list(events_table.columns)}."
        )
    onsets = pd.to_numeric(events_table[onset_column], errors="coerce").to_numpy(float)
    if not np.isfinite(onsets).all():
        raise ValueError(
            f"Invalid value for `events_table`: column {onset_column!r} has non-numeric or missing "
            f"onsets at rows {np.flatnonzero(~np.isfinite(onsets))[:5].tolist()} (events for "
            f"{fname})."
        )
    n = len(events_table)
    types = (events_table[type_column].astype(str).to_numpy(object) if type_column in events_table
             else np.full(n, "stimulus", dtype=object))
    ids = (events_table[id_column].astype(str).to_numpy(object) if id_column in events_table
           else types.copy())
    return pd.DataFrame({"onset": onsets, "trial_type": types, "stim_id": ids})


def _photodiode_lags(raw, onsets, channel, threshold, max_delay):
    if channel not in raw.ch_names:
        raise ValueError(
            f"Invalid value for `photodiode`: channel {channel!r} is not in {_raw_name(raw)}; "
            f"channels include {raw.ch_names[:10]}."
        )
    sfreq = raw.info["sfreq"]
    sig = raw.get_data(picks=[channel])[0]
    lo, hi = np.percentile(sig, [1, 99])
    if hi <= lo:
        raise ValueError(f"Photodiode channel {channel!r} of {_raw_name(raw)} is flat.")
    above = sig > lo + threshold * (hi - lo)
    n_max = int(round(max_delay * sfreq))
    lags = np.zeros(len(onsets))
    missed = 0
    for k, onset in enumerate(onsets):
        start = int(round(onset * sfreq))
        seg = above[max(start, 0): start + n_max + 1]
        rising = np.flatnonzero(seg)
        if rising.size == 0 or (seg[0] and start > 0 and above[start - 1]):
            missed += 1
            continue
        lags[k] = rising[0] / sfreq
    return lags, missed


def _mne():
    from ..._utils.optional import require

    return require("mne", "electrophysiology data")

