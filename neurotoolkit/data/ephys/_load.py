"""sEEG, ECoG, MEG and EEG recordings read through MNE into Recordings.

``read_raw`` picks the MNE reader from the file name (FIF, EDF/BDF,
BrainVision, EEGLAB, CTF, or a BIDS path through mne-bids) and restores
channel types from a sidecar or mapping when the format loses them (EDF and
BrainVision read sEEG back as ``eeg``). ``load_ephys`` goes from files to a
Recording of windowed responses after each stimulus onset, units being
(channel, window) pairs (as in time-resolved encoding of sEEG, Subramaniam et al., ICML 2024).
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..._utils.docs import fill_doc
from ..._utils.logging import logger, verbose
from ..._utils.optional import require
from ..._utils.validation import check_option, check_type, describe
from ._events import _raw_name, check_events_inside, find_stimulus_events
from ._preprocessing import preprocess_raw
from .._recording import Recording

__all__ = ["read_raw", "load_ephys", "epochs_to_recording", "make_windows", "BIDS_CH_TYPES"]

# suffix -> (MNE reader, format name)
_READERS = {
    ".fif": ("read_raw_fif", "FIF"),
    ".fif.gz": ("read_raw_fif", "FIF"),
    ".edf": ("read_raw_edf", "EDF"),
    ".bdf": ("read_raw_bdf", "BDF"),
    ".vhdr": ("read_raw_brainvision", "BrainVision"),
    ".set": ("read_raw_eeglab", "EEGLAB"),
    ".ds": ("read_raw_ctf", "CTF"),
}

_TRUNCATION_HINTS = ("does not match the file size", "truncat", "incomplete", "fewer samples")

# BIDS channels.tsv types -> MNE channel types
BIDS_CH_TYPES = {
    "EEG": "eeg", "SEEG": "seeg", "ECOG": "ecog", "DBS": "dbs", "MEGMAG": "mag",
    "MEGGRADPLANAR": "grad", "MEGGRADAXIAL": "mag", "MEGREFMAG": "ref_meg",
    "MEGREFGRADAXIAL": "ref_meg", "EOG": "eog", "VEOG": "eog", "HEOG": "eog", "ECG": "ecg",
    "EMG": "emg", "TRIG": "stim", "MISC": "misc", "RESP": "resp", "AUDIO": "misc",
}

_MODALITY_OF_TYPE = {"seeg": "seeg", "dbs": "seeg", "ecog": "ecog", "mag": "meg", "grad": "meg",
                     "eeg": "eeg"}


def _suffix(path):
    name = path.name.lower()
    for suf in sorted(_READERS, key=len, reverse=True):
        if name.endswith(suf):
            return suf
    return path.suffix.lower()


@fill_doc
@verbose
def read_raw(fname, ch_types=None, bads=None, preload=True, allow_truncated=False, verbose=None,
             **kwargs):
    """Read an electrophysiology recording with MNE, keeping channel types.

    Parameters
    ----------
    fname : path-like | mne_bids.BIDSPath
        ``.fif``/``.fif.gz``, ``.edf``, ``.bdf``, ``.vhdr`` (BrainVision),
        ``.set`` (EEGLAB), a ``.ds`` folder (CTF), or a BIDSPath read with
        :func:`mne_bids.read_raw_bids` (channel types, bads, events and
        montage from the sidecars).
    ch_types : dict | path-like | None
        Channel types to restore: a mapping ``{channel: type}`` (MNE names such
        as ``"seeg"``, or BIDS names such as ``"SEEG"``) or a BIDS
        ``channels.tsv`` file (columns ``name``, ``type``, optionally
        ``status`` = good/bad). None looks for a ``*_channels.tsv`` sidecar
        next to the file.
    bads : list of str | None
        Channels to mark bad (added to those in the file or sidecar).
    preload : bool
        Load the data into memory.
    allow_truncated : bool
        If False (default), a file that MNE reports as shorter than its header
        says (e.g. an EDF whose last records are missing) raises an error
        naming the file; True reads the samples that are there. (A
        BrainVision ``.eeg`` file has no length in its header: a truncated
        one reads as a shorter recording, and its markers after the end
        then fail event alignment.)
    %(verbose)s
    **kwargs
        Passed to the MNE reader.

    Returns
    -------
    raw : mne.io.BaseRaw
    """
    mne = require("mne", "read_raw")
    if type(fname).__name__ == "BIDSPath":
        mne_bids = require("mne_bids", "reading BIDS recordings")
        try:
            raw = mne_bids.read_raw_bids(fname, verbose="error", **kwargs)
        except Exception as err:
            raise ValueError(f"Could not read BIDS recording {fname.fpath}: {err}") from err
        if preload:
            raw.load_data(verbose="error")
        return _apply_channel_info(raw, ch_types, bads, fname.fpath)
    check_type("fname", fname, "path-like", type_name="path-like or mne_bids.BIDSPath")
    path = Path(fname)
    if not path.exists():
        raise FileNotFoundError(f"Recording file {path} does not exist.")
    suffix = _suffix(path)
    if suffix not in _READERS:
        raise ValueError(
            f"Invalid value for `fname`: cannot tell the format of {path} from its suffix "
            f"{suffix!r}; expected one of {sorted(_READERS)} (or a mne_bids.BIDSPath)."
        )
    reader, fmt = _READERS[suffix]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            raw = getattr(mne.io, reader)(path, preload=preload, verbose="warning", **kwargs)
    except Exception as err:  # MNE raises many types for broken files
        raise ValueError(
            f"Could not read {path} as a {fmt} file ({type(err).__name__}: {err}). The file may "
            "be truncated or not in that format."
        ) from err
    for w in caught:
        text = str(w.message)
        if any(k in text.lower() for k in _TRUNCATION_HINTS) and not allow_truncated:
            raise ValueError(
                f"{path} looks truncated: MNE says {text!r} Pass allow_truncated=True to read "
                "the samples that are there."
            )
        logger.info("%s: %s", path.name, text)
    if ch_types is None:
        sidecar = _find_channels_sidecar(path)
        if sidecar is not None:
            logger.info("Channel types from sidecar %s", sidecar)
            ch_types = sidecar
    return _apply_channel_info(raw, ch_types, bads, path)


def _find_channels_sidecar(path):
    stem = path.name
    for suf in _READERS:
        if stem.lower().endswith(suf):
            stem = stem[: -len(suf)]
            break
    base = stem.rsplit("_", 1)[0] if "_" in stem else stem
    candidates = [path.parent / f"{base}_channels.tsv", path.parent / f"{stem}_channels.tsv"]
    return next((c for c in candidates if c.is_file()), None)


def _apply_channel_info(raw, ch_types, bads, fname):
    if ch_types is not None:
        status = {}
        if not isinstance(ch_types, dict):
            check_type("ch_types", ch_types, ("path-like", dict))
            table = pd.read_csv(ch_types, sep="\t")
            missing = [c for c in ("name", "type") if c not in table.columns]
            if missing:
                raise ValueError(
                    f"Invalid value for `ch_types`: the channels table {ch_types} lacks columns "
                    f"{missing} (has {list(table.columns)})."
                )
            if "status" in table.columns:
                status = dict(zip(table["name"].astype(str), table["status"].astype(str)))
            ch_types = dict(zip(table["name"].astype(str), table["type"].astype(str)))
        mapping = {}
        for name, kind in ch_types.items():
            if name not in raw.ch_names:
                continue
            kind = BIDS_CH_TYPES.get(str(kind).upper(), str(kind).lower())
            if raw.get_channel_types(picks=[name])[0] != kind:
                mapping[name] = kind
        unknown = [c for c in ch_types if c not in raw.ch_names]
        if unknown:
            logger.info("ch_types: %d channel(s) not in %s, e.g. %s", len(unknown), fname,
                        unknown[:5])
        if mapping:
            try:
                raw.set_channel_types(mapping, on_unit_change="ignore", verbose="error")
            except ValueError as err:
                raise ValueError(f"Invalid value for `ch_types` for {fname}: {err}") from err
        new_bads = [n for n, s in status.items() if s.lower() == "bad" and n in raw.ch_names]
        raw.info["bads"] = sorted(set(raw.info["bads"]) | set(new_bads))
    if bads is not None:
        missing = [b for b in bads if b not in raw.ch_names]
        if missing:
            raise ValueError(
                f"Invalid value for `bads`: {missing} are not channels of {fname}; it has "
                f"{raw.ch_names[:10]}{'...' if len(raw.ch_names) > 10 else ''}."
            )
        raw.info["bads"] = sorted(set(raw.info["bads"]) | set(bads))
    return raw


def make_windows(tmin, tmax, length, step=None):
    """Windows of ``length`` seconds every ``step`` seconds inside [tmin, tmax].

    Returns
    -------
    windows : list of (float, float)
        E.g. ``make_windows(-2, 2, 0.2, 0.025)`` gives the 153 windows whose
        edges lie inside [-2, 2] (Card 9 counts 161 centres).
    """
    step = length if step is None else step
    if length <= 0 or step <= 0 or tmax - tmin < length - 1e-12:
        raise ValueError(
            f"Invalid value for `length`/`step`: expected positive values with length <= "
            f"tmax - tmin = {tmax - tmin:g}, got length={length!r}, step={step!r}."
        )
    n = int(np.floor((tmax - tmin - length) / step + 1e-9)) + 1
    starts = tmin + step * np.arange(n)
    return [(round(float(s), 10), round(float(s + length), 10)) for s in starts]


def _check_windows(windows, tmin, tmax):
    if isinstance(windows, str):
        check_option("windows", windows, ("samples",))
        return windows
    if isinstance(windows, (int, float)):
        return make_windows(0.0, tmax, float(windows))
    out = []
    for w in windows:
        if len(w) != 2 or not (tmin - 1e-9 <= w[0] < w[1] <= tmax + 1e-9):
            raise ValueError(
                f"Invalid value for `windows`: expected (start, stop) pairs with start < stop "
                f"inside the epoch [{tmin:g}, {tmax:g}] s, got {w!r}."
            )
        out.append((float(w[0]), float(w[1])))
    if not out:
        raise ValueError("Invalid value for `windows`: expected at least one window, got none.")
    return out


def epochs_to_recording(epochs, windows=0.1, stimuli=None, subject="sub-01", modality=None,
                        id_column="stim_id", meta=None, runs=None, rois=None):
    """Windowed means (or every sample) of MNE epochs as a Recording.

    Parameters
    ----------
    epochs : mne.Epochs
        With ``metadata[id_column]`` holding each epoch's stimulus id (else
        the event names are used).
    windows : float | list of (float, float) | "samples"
        A float: consecutive windows of that length from 0 to ``tmax`` (the
        response after onset); a list: (start, stop) in seconds, each mean
        over ``start <= t < stop``; ``"samples"``: one unit per time sample
        (full time courses, for time-resolved models).
    stimuli : StimulusSet | None
        When given, every stimulus id must be in it.
    subject, modality : str
        Modality None infers it from the channel types ("seeg", "ecog",
        "meg", "eeg").
    id_column : str
    meta : dict | None
        Provenance to store (``load_ephys`` passes files and steps).
    runs : array (n_epochs,) | None
    rois : dict | None
        Channel -> ROI name; default the sEEG shaft stem for sEEG/ECoG
        contacts, else the channel type.

    Returns
    -------
    Recording
        ``responses`` (n_epochs, n_chans * n_windows), channel-major (all
        windows of the first channel, then the next); ``units`` columns
        ``channel, tmin, tmax, roi, ch_type`` and ``x, y, z`` (mm, head
        coordinates) when positions are known.
    """
    picks = _picks(epochs)
    if len(picks) == 0:
        raise ValueError(
            "No data channels left in the epochs (all channels bad or dropped); data channels "
            "are MEG, EEG, sEEG, ECoG and DBS."
        )
    data = epochs.get_data(picks=picks)
    ch_names = [epochs.ch_names[p] for p in picks]
    ch_types = epochs.get_channel_types(picks=picks)
    times = epochs.times
    if isinstance(windows, str) and windows == "samples":
        bounds = [(float(t), float(t)) for t in times]
        binned = data
    else:
        windows = _check_windows(windows, times[0], times[-1] + 1 / epochs.info["sfreq"])
        binned = np.empty(data.shape[:2] + (len(windows),), dtype=data.dtype)
        for k, (a, b) in enumerate(windows):
            sel = (times >= a - 1e-9) & (times < b - 1e-9)
            if not sel.any():
                raise ValueError(
                    f"Invalid value for `windows`: window ({a:g}, {b:g}) s holds no sample at "
                    f"{epochs.info['sfreq']:g} Hz."
                )
            binned[:, :, k] = data[:, :, sel].mean(axis=2)
        bounds = windows
    n_ep, n_ch, n_win = binned.shape
    responses = binned.reshape(n_ep, n_ch * n_win)
    ids = _epoch_ids(epochs, id_column)
    if stimuli is not None:
        missing = sorted(set(ids) - set(map(str, stimuli.ids)))
        if missing:
            raise ValueError(
                f"Stimulus ids missing from the StimulusSet {stimuli.name!r}: {len(missing)} "
                f"id(s) of the events, e.g. {missing[:8]}, are not among its {len(stimuli)} ids "
                f"(e.g. {list(stimuli.ids[:5])}). Map event names to stimulus ids first "
                "(events table column stim_id, or annotation extras)."
            )
    pos = _positions(epochs, picks)
    rois = rois or {}
    unit_rows = []
    for c, (name, kind) in enumerate(zip(ch_names, ch_types)):
        roi = rois.get(name, _default_roi(name, kind))
        for a, b in bounds:
            label = f"{name}@{1e3 * a:.0f}ms" if a == b else f"{name}@{1e3 * a:.0f}-{1e3 * b:.0f}ms"
            row = {"unit": label, "channel": name, "tmin": a, "tmax": b, "roi": roi,
                   "ch_type": kind}
            if pos is not None:
                row.update(x=pos[c, 0], y=pos[c, 1], z=pos[c, 2])
            unit_rows.append(row)
    units = pd.DataFrame(unit_rows).set_index("unit")
    if modality is None:
        kinds = [_MODALITY_OF_TYPE.get(k) for k in ch_types]
        found = sorted({k for k in kinds if k})
        modality = found[0] if len(found) == 1 else ("meg" if "meg" in found else "eeg")
    meta = dict(meta or {})
    meta.setdefault("sfreq", float(epochs.info["sfreq"]))
    meta.setdefault("epoch_window", [float(times[0]), float(times[-1])])
    meta["windows"] = "samples" if isinstance(windows, str) else [list(w) for w in bounds]
    meta["signal_unit"] = "SI (V for EEG/sEEG/ECoG, T or T/m for MEG) unless scaled"
    if epochs.metadata is not None:  # columns as lists: saved with Recording.save
        meta["events"] = {str(c): epochs.metadata[c].tolist() for c in epochs.metadata.columns}
    return Recording(responses, ids, units=units, subject=subject, modality=modality,
                     space="head" if pos is not None else None, runs=runs, meta=meta)


def _picks(epochs):
    mne = require("mne", "epochs_to_recording")
    return mne.pick_types(epochs.info, meg=True, eeg=True, seeg=True, ecog=True, dbs=True,
                          exclude="bads")


def _epoch_ids(epochs, id_column):
    if epochs.metadata is not None and id_column in epochs.metadata.columns:
        return epochs.metadata[id_column].astype(str).to_numpy(object)
    inv = {v: k for k, v in epochs.event_id.items()}
    return np.asarray([inv[c] for c in epochs.events[:, 2]], dtype=object)


def _positions(epochs, picks):
    locs = np.array([epochs.info["chs"][p]["loc"][:3] for p in picks], dtype=float)
    if not np.isfinite(locs).all() or np.allclose(locs, 0):
        return None
    return locs * 1e3  # m -> mm


def _default_roi(name, kind):
    if kind in ("seeg", "ecog", "dbs"):
        stem = name.split("-")[0].rstrip("0123456789").strip()
        return stem or kind
    return kind


@fill_doc
@verbose
def load_ephys(
    fname_or_raw,
    events="annotations",
    stimulus_ids=None,
    tmin=-0.2,
    tmax=0.8,
    windows=0.1,
    picks=None,
    preprocessing=None,
    baseline=None,
    stimuli=None,
    ch_types=None,
    bads=None,
    subject="sub-01",
    modality=None,
    on_outside="raise",
    return_epochs=False,
    verbose=None,
    **event_kwargs,
):
    """Read recordings, align them to stimuli and return windowed responses.

    Parameters
    ----------
    fname_or_raw : path-like | mne_bids.BIDSPath | mne.io.BaseRaw | list
        One recording, or a list of them (runs, concatenated as trials with
        ``runs`` = position in the list; their sampling rates must agree
        after preprocessing).
    events : "annotations" | "stim_channel" | pandas.DataFrame | path-like
        Where the stimulus onsets come from (see
        :func:`find_stimulus_events`); a table or ``.tsv`` file means
        ``source="table"``. With a list of recordings, a list of tables.
    stimulus_ids : str | list of str | dict | None
        Which events to keep: annotation description(s) (or trial types);
        a dict maps trial type -> stimulus id. None keeps all.
    tmin, tmax : float
        Epoch window around each onset, in seconds.
    windows : float | list of (float, float) | "samples"
        Response windows (see :func:`epochs_to_recording`); default
        consecutive 100 ms windows from 0 to ``tmax``.
    picks : str | list of str | None
        Channels (names or types, MNE ``picks``); bad channels are excluded.
    preprocessing : list | None
        Steps for :func:`preprocess_raw`, applied to each continuous
        recording before epoching.
    baseline : tuple | None
        Epoch baseline interval, e.g. ``(None, 0)``; None (default) applies
        none.
    stimuli : StimulusSet | None
        Check that every stimulus id is in it.
    ch_types, bads :
        See :func:`read_raw`.
    subject, modality : str
    on_outside : {"raise", "drop"}
        Events whose epoch window leaves the recording raise an error naming
        the file (default) or are dropped (logged, and counted in
        ``meta["dropped_events"]``).
    return_epochs : bool
        Also return the ``mne.Epochs`` (full time courses, with a metadata
        frame holding ``stim_id``, ``trial_type``, ``onset``, ``run``).
    %(verbose)s
    **event_kwargs
        More arguments for :func:`find_stimulus_events` (``delay``,
        ``photodiode``, ``stim_channel``, ``event_id``, ``id_column``...).

    Returns
    -------
    recording : Recording
        (n_events, n_chans * n_windows); ``meta`` records the source files,
        the preprocessing steps with their parameters, the events, the epoch
        window and baseline.
    epochs : mne.Epochs
        Only with ``return_epochs=True``.
    """
    mne = require("mne", "load_ephys")
    check_option("on_outside", on_outside, ("raise", "drop"))
    sources = fname_or_raw if isinstance(fname_or_raw, (list, tuple)) else [fname_or_raw]
    events_list = events if isinstance(events, (list, tuple)) else [events] * len(sources)
    if len(events_list) != len(sources):
        raise ValueError(
            f"Invalid value for `events`: expected one events table per recording "
            f"({len(sources)}), got {len(events_list)}."
        )
    all_epochs, files, steps_all, dropped = [], [], None, 0
    sfreqs = []
    for run, (src, ev) in enumerate(zip(sources, events_list)):
        if isinstance(src, mne.io.BaseRaw):
            raw = _apply_channel_info(src.copy(), ch_types, bads, _raw_name(src))
        else:
            raw = read_raw(src, ch_types=ch_types, bads=bads)
        name = _raw_name(raw) if isinstance(src, mne.io.BaseRaw) else str(
            getattr(src, "fpath", src))
        files.append(name)
        good = [c for c in raw.ch_names if c not in raw.info["bads"]]
        if not good:
            raise ValueError(
                f"All channels of {name} are marked bad ({len(raw.ch_names)} channels): nothing "
                "is left to analyse. Check raw.info['bads'], the `bads` argument or the channels "
                "sidecar."
            )
        steps = []
        if preprocessing:
            raw, steps = preprocess_raw(raw, preprocessing)
        steps_all = steps if steps_all is None else steps_all
        sfreqs.append(float(raw.info["sfreq"]))
        if sfreqs[-1] != sfreqs[0]:
            raise ValueError(
                f"Sampling-rate mismatch: {name} is at {sfreqs[-1]:g} Hz but {files[0]} is at "
                f"{sfreqs[0]:g} Hz. Add a ('resample', {{'sfreq': ...}}) preprocessing step so "
                "that all recordings share one rate."
            )
        table = _events_for(raw, ev, stimulus_ids, event_kwargs)
        inside = (table["onset"] + tmin >= 0) & (
            table["onset"] + tmax <= (raw.n_times - 1) / raw.info["sfreq"] + 1e-9)
        if not inside.all():
            if on_outside == "raise":
                check_events_inside(raw, table["onset"].to_numpy(), tmin, tmax, fname=name)
            logger.info("Dropping %d event(s) whose window leaves %s.", (~inside).sum(), name)
            dropped += int((~inside).sum())
            table = table.loc[inside].reset_index(drop=True)
        epochs = _make_epochs(mne, raw, table, tmin, tmax, picks, baseline, run, name)
        all_epochs.append(epochs)
    epochs = all_epochs[0] if len(all_epochs) == 1 else mne.concatenate_epochs(
        all_epochs, verbose="error")
    meta = {
        "source_files": files,
        "reader": "mne",
        "preprocessing": steps_all or [],
        "epochs": {"tmin": tmin, "tmax": tmax, "baseline": baseline, "on_outside": on_outside},
        "dropped_events": dropped,
        "event_options": {k: v for k, v in event_kwargs.items() if np.isscalar(v) or v is None},
    }
    runs = epochs.metadata["run"].to_numpy() if len(sources) > 1 else None
    rec = epochs_to_recording(epochs, windows=windows, stimuli=stimuli, subject=subject,
                              modality=modality, meta=meta, runs=runs)
    return (rec, epochs) if return_epochs else rec


def _events_for(raw, ev, stimulus_ids, event_kwargs):
    mapping = stimulus_ids if isinstance(stimulus_ids, dict) else None
    keep = None if mapping is not None or stimulus_ids is None else (
        [stimulus_ids] if isinstance(stimulus_ids, str) else list(stimulus_ids))
    kwargs = dict(event_kwargs)
    if isinstance(ev, str) and ev in ("annotations", "stim_channel"):
        if ev == "annotations":
            kwargs.setdefault("descriptions", keep if mapping is None else list(mapping))
        table = find_stimulus_events(raw, ev, **kwargs)
    else:
        if not isinstance(ev, (pd.DataFrame, str, Path)):
            raise TypeError(
                "Invalid value for `events`: expected 'annotations', 'stim_channel', a pandas "
                f"DataFrame or a .tsv path, got {describe(ev)}."
            )
        table = find_stimulus_events(raw, "table", events_table=ev, **kwargs)
    if mapping is not None:
        table = table.loc[table["trial_type"].isin(list(mapping))].reset_index(drop=True)
        table["stim_id"] = table["trial_type"].map(mapping).astype(str)
    elif keep is not None and not (isinstance(ev, str) and ev == "annotations"):
        table = table.loc[table["trial_type"].isin(keep)].reset_index(drop=True)
    if table.empty:
        raise ValueError(f"No events left in {_raw_name(raw)} after selecting {stimulus_ids!r}.")
    return table


def _make_epochs(mne, raw, table, tmin, tmax, picks, baseline, run, name):
    codes = {t: k + 1 for k, t in enumerate(pd.unique(table["trial_type"]))}
    ev = np.column_stack([table["sample"].to_numpy(), np.zeros(len(table), dtype=np.int64),
                          table["trial_type"].map(codes).to_numpy()]).astype(np.int64)
    metadata = table[["onset", "trial_type", "stim_id", "delay"]].copy()
    metadata["run"] = run
    metadata["file"] = name
    try:
        epochs = mne.Epochs(raw, ev, event_id={str(k): v for k, v in codes.items()}, tmin=tmin,
                            tmax=tmax, picks=picks, baseline=baseline, preload=True,
                            metadata=metadata, reject_by_annotation=False,
                            event_repeated="error", verbose="error")
    except ValueError as err:
        raise ValueError(f"Could not epoch {name}: {err}") from err
    if len(epochs) != len(table):
        raise ValueError(
            f"Could not epoch {name}: MNE kept {len(epochs)} of {len(table)} events "
            f"({epochs.drop_log})."
        )
    return epochs
