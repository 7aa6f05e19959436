"""Timeline readers: words, images, BIDS events TSV, video (PyAV), Praat TextGrid, WAV.

Heavy/optional libraries (``av``, ``praatio``) are imported inside the readers.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from .._utils.logging import logger
from .._utils.optional import require
from .._utils.validation import _raise, check_array, check_int, describe

__all__ = ["read_wav", "validate_events", "KINDS", "VIDEO_SUFFIXES", "AUDIO_SUFFIXES"]

KINDS = ("frame", "image", "word", "audio")
_REQUIRED = ("run", "onset", "duration", "kind")
_OPTIONAL = {"stim_id": "", "text": "", "stim_file": ""}
_OVERLAP_TOL = 1e-3  # seconds: frames/images of a run may touch, not overlap by more

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv")
AUDIO_SUFFIXES = (".wav",)
# Huth-lab transcripts mark non-words with these labels (ridge_utils.dsutils.DEFAULT_BAD_WORDS)
SKIP_WORDS = ("", "sentence_start", "sentence_end", "br", "lg", "ls", "ns", "sp", "sil", "<sil>",
              "{sp}", "{lg}", "{br}", "{ns}", "{ls}")


def _run_labels(runs, n, param_files):
    """``runs`` as a list of n labels (default 0..n-1), unique."""
    if runs is None:
        return list(range(n))
    runs = [runs] if (np.isscalar(runs) or isinstance(runs, str)) else list(runs)
    if len(runs) != n:
        _raise("runs", f"one run label per item of `{param_files}` ({n})", f"{len(runs)} labels")
    if len({str(r) for r in runs}) != len(runs):
        _raise("runs", "distinct run labels (runs must not overlap)", describe(runs),
               "Give each file its own run label.")
    return runs


def _as_files(files, param):
    if isinstance(files, (str, Path)):
        files = [files]
    files = [Path(f) for f in files]
    if not files:
        _raise(param, "at least one file", "an empty sequence")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"Invalid value for `{param}`: expected an existing file, "
                                    f"got '{f}' (not found).")
    return files


def _per_item_runs(runs, n, param="runs"):
    """Run label per item: None -> 0, scalar -> same for all, sequence -> one per item."""
    if runs is None:
        return np.zeros(n, dtype=int)
    if np.isscalar(runs) or isinstance(runs, str):
        return np.full(n, runs, dtype=object)
    runs = np.asarray(list(runs), dtype=object)
    if runs.shape != (n,):
        _raise(param, f"a single run label or one label per item ({n})", f"{len(runs)} labels")
    return runs


# ---------------------------------------------------------------- in memory
def _from_words(cls, words, onsets, offsets, runs=None, name="words"):
    if isinstance(words, str):
        _raise("words", "a sequence of words", describe(words), "Split the text first.",
               exc=TypeError)
    words = [str(w) for w in words]
    on = check_array("onsets", onsets, ndim=1)
    off = check_array("offsets", offsets, ndim=1)
    if not (len(words) == len(on) == len(off)):
        _raise("onsets", f"one onset and one offset per word ({len(words)})",
               f"{len(on)} onsets and {len(off)} offsets")
    if (off < on).any():
        k = int(np.flatnonzero(off < on)[0])
        _raise("offsets", "offsets >= onsets", f"offset {off[k]:g} < onset {on[k]:g} at word {k}")
    run = _per_item_runs(runs, len(words))
    ev = pd.DataFrame({"run": run, "onset": on, "duration": off - on, "kind": "word",
                       "text": words})
    ev["stim_id"] = _word_ids(ev)
    return cls(ev, name=name)


def _word_ids(ev):
    k = ev.groupby("run", sort=False).cumcount().to_numpy()
    return [f"{r}/w{i:05d}" for r, i in zip(ev["run"], k)]


def _from_images(cls, stim_ids, onsets, durations, runs=None, stimuli=None, name="images"):
    ids = [str(s) for s in stim_ids]
    on = check_array("onsets", onsets, ndim=1)
    dur = np.broadcast_to(check_array("durations", durations, ndim=(0, 1)), on.shape)
    if len(ids) != len(on):
        _raise("onsets", f"one onset per stimulus id ({len(ids)})", f"{len(on)} onsets")
    ev = pd.DataFrame({"run": _per_item_runs(runs, len(ids)), "onset": on,
                       "duration": np.array(dur), "kind": "image", "stim_id": ids})
    return cls(ev, stimuli=stimuli, name=name)


# ---------------------------------------------------------------------- audio
def read_wav(path):
    """Read a WAV file as ``(waveform float64 in [-1, 1], sfreq)``."""
    from scipy.io import wavfile

    try:
        sfreq, data = wavfile.read(str(path))
    except (ValueError, OSError) as err:
        raise ValueError(f"Invalid value for `wav_files`: '{path}' is not a readable WAV file "
                         f"({err}).") from None
    if data.dtype.kind in "iu":
        info = np.iinfo(data.dtype)
        scale = max(abs(info.min), info.max)
        data = (data.astype(np.float64) - (0 if info.min < 0 else (info.max + 1) / 2)) / scale
    return data.astype(np.float64), float(sfreq)


def _from_audio(cls, wav_files, runs=None, name="audio"):
    files = _as_files(wav_files, "wav_files")
    labels = _run_labels(runs, len(files), "wav_files")
    audio, rows = {}, []
    for f, r in zip(files, labels):
        wave, sfreq = read_wav(f)
        audio[r] = (wave, sfreq)
        rows.append({"run": r, "onset": 0.0, "duration": len(wave) / sfreq, "kind": "audio",
                     "stim_file": str(f)})
    return cls(pd.DataFrame(rows), audio=audio, name=name)


# ---------------------------------------------------------------------- video
def decode_video(path, every_n_frames=1, size=None):
    """Decode a video with PyAV: (frames uint8 (n, H, W, 3), times (n,), frame_duration).

    ``times`` are the presentation timestamps (pts x time_base) minus the
    stream's start time, so the first frame is near 0.
    """
    av = require("av", "Timeline.from_video")
    every = check_int("every_n_frames", every_n_frames, min_value=1)
    frames, times = [], []
    try:
        container = av.open(str(path))
    except Exception as err:  # av.error.InvalidDataError and friends
        raise ValueError(f"Invalid value for `video_files`: '{path}' cannot be decoded as a "
                         f"video ({err}).") from None
    with container:
        if not container.streams.video:
            raise ValueError(f"Invalid value for `video_files`: '{path}' has no video stream.")
        stream = container.streams.video[0]
        tb = float(stream.time_base) if stream.time_base is not None else None
        start = (stream.start_time or 0) * tb if tb else 0.0
        rate = float(stream.average_rate or stream.guessed_rate or 0) or None
        for k, frame in enumerate(container.decode(stream)):
            if k % every:
                continue
            if frame.pts is not None and tb:
                t = frame.pts * tb - start
            elif rate:
                t = k / rate
            else:
                raise ValueError(f"Video '{path}' has frames without timestamps and no frame rate.")
            img = frame.to_image() if size is not None else None
            if img is not None:
                hw = (size, size) if np.isscalar(size) else tuple(size)
                from PIL import Image

                img = img.resize((int(hw[1]), int(hw[0])), Image.BICUBIC)
                frames.append(np.asarray(img.convert("RGB"), dtype=np.uint8))
            else:
                frames.append(frame.to_ndarray(format="rgb24"))
            times.append(t)
    if not frames:
        raise ValueError(f"Invalid value for `video_files`: '{path}' has no decodable frames.")
    times = np.asarray(times, dtype=float)
    frame_dt = every / rate if rate else (float(np.median(np.diff(times))) if len(times) > 1
                                          else 0.0)
    return np.stack(frames), times, frame_dt


def _video_events(path, run, onset=0.0, every_n_frames=1, size=None):
    frames, times, frame_dt = decode_video(path, every_n_frames, size)
    order = np.argsort(times, kind="stable")
    frames, times = frames[order], times[order]
    ends = np.append(times[1:], times[-1] + frame_dt)
    ids = [f"run-{run}_{Path(path).stem}_frame-{k:06d}" for k in range(len(times))]
    ev = pd.DataFrame({"run": run, "onset": onset + times, "duration": ends - times,
                       "kind": "frame", "stim_id": ids, "stim_file": str(path)})
    ev["frame_index"] = np.arange(len(times)) * check_int("every_n_frames", every_n_frames, 1)
    return ev, ids, frames


def _from_video(cls, video_files, runs=None, every_n_frames=1, size=None, name="video"):
    from ._stimuli import StimulusSet

    files = _as_files(video_files, "video_files")
    labels = _run_labels(runs, len(files), "video_files")
    events, ids, frames = [], [], []
    for f, r in zip(files, labels):
        ev, i, fr = _video_events(f, r, 0.0, every_n_frames, size)
        events.append(ev)
        ids += i
        frames.append(fr)
        logger.info("Decoded %d frames from '%s' (run %s).", len(i), f, r)
    shapes = {fr.shape[1:] for fr in frames}
    if len(shapes) > 1:
        _raise("size", "one frame size for all videos (pass size=(height, width))",
               f"sizes {sorted(shapes)}")
    stim = StimulusSet(ids, images=np.concatenate(frames), name=name,
                       meta={"source": [str(f) for f in files]}, verify_images=False)
    return cls(pd.concat(events, ignore_index=True), stimuli=stim, name=name)


# ------------------------------------------------------------------- TextGrid
def _from_textgrid(cls, textgrid_files, tier="words", runs=None, skip_labels=SKIP_WORDS,
                   name="words"):
    textgrid = require("praatio.textgrid", "Timeline.from_textgrid")
    files = _as_files(textgrid_files, "textgrid_files")
    labels = _run_labels(runs, len(files), "textgrid_files")
    skip = {s.lower() for s in skip_labels}
    rows = []
    for f, r in zip(files, labels):
        try:
            tg = textgrid.openTextgrid(str(f), includeEmptyIntervals=False)
        except Exception as err:
            raise ValueError(f"Invalid value for `textgrid_files`: '{f}' is not a readable Praat "
                             f"TextGrid ({err}).") from None
        if tier not in tg.tierNames:
            _raise("tier", f"a tier of '{f.name}' ({', '.join(tg.tierNames)})", describe(tier))
        entries = tg.getTier(tier).entries
        kept = [(float(e[0]), float(e[1]), str(e[2]).strip()) for e in entries
                if str(e[2]).strip().lower() not in skip]
        if len(kept) < len(entries):
            logger.info("TextGrid '%s': skipped %d non-word interval(s) (labels in skip_labels).",
                        f.name, len(entries) - len(kept))
        rows += [{"run": r, "onset": a, "duration": b - a, "kind": "word", "text": w,
                  "stim_file": str(f)} for a, b, w in kept]
    if not rows:
        _raise("textgrid_files", f"at least one word in tier {tier!r}", "no words")
    ev = pd.DataFrame(rows)
    ev["stim_id"] = _word_ids(ev)
    return cls(ev, name=name)


# ---------------------------------------------------------------- BIDS events
def _bids_run(path, k):
    m = re.search(r"run-([A-Za-z0-9]+)", Path(path).name)
    if not m:
        return k + 1
    return int(m.group(1)) if m.group(1).isdigit() else m.group(1)


def _find_stim_dir(tsv):
    for parent in Path(tsv).resolve().parents:
        if (parent / "stimuli").is_dir():
            return parent / "stimuli"
        if (parent / "dataset_description.json").is_file():
            break
    return Path(tsv).resolve().parent


def _from_bids_events(cls, events_tsvs, runs=None, stimuli=None, stim_dir=None,
                      every_n_frames=1, size=None, name="bids"):
    from ._stimuli import StimulusSet

    files = _as_files(events_tsvs, "events_tsvs")
    labels = ([_bids_run(f, k) for k, f in enumerate(files)] if runs is None
              else _run_labels(runs, len(files), "events_tsvs"))
    if len({str(r) for r in labels}) != len(labels):
        _raise("runs", "one run per events file (runs must not overlap)", describe(labels),
               "Pass runs=[...] explicitly.")
    all_events, frames, frame_ids = [], [], []
    root = None if stim_dir is None else Path(stim_dir)
    for f, r in zip(files, labels):
        tab = pd.read_csv(f, sep="\t", na_values=["n/a", "N/A", ""], keep_default_na=False)
        miss = [c for c in ("onset", "duration") if c not in tab.columns]
        if miss:
            _raise("events_tsvs", "BIDS events files with 'onset' and 'duration' columns",
                   f"'{f.name}' with columns {list(tab.columns)} (missing {miss})")
        base = root or _find_stim_dir(f)
        word_col = next((c for c in ("word", "text") if c in tab.columns), None)
        for row in tab.to_dict("records"):
            onset = float(row["onset"])
            dur = 0.0 if pd.isna(row["duration"]) else float(row["duration"])
            word = row.get(word_col) if word_col else None
            sfile = row.get("stim_file")
            sfile = None if sfile is None or pd.isna(sfile) else str(sfile)
            extra = {"trial_type": row.get("trial_type", "")}
            if word is not None and not pd.isna(word) and str(word).strip():
                all_events.append({"run": r, "onset": onset, "duration": dur, "kind": "word",
                                   "text": str(word).strip(), "stim_file": sfile or "", **extra})
            elif sfile and Path(sfile).suffix.lower() in VIDEO_SUFFIXES:
                path = Path(sfile) if Path(sfile).is_absolute() else base / sfile
                if not path.is_file():
                    raise FileNotFoundError(
                        f"Invalid value for `events_tsvs`: '{f.name}' refers to the video "
                        f"'{sfile}', not found at '{path}'. Pass stim_dir= (the folder that "
                        "stim_file paths are relative to).")
                ev, ids, fr = _video_events(path, r, onset, every_n_frames, size)
                all_events += ev.assign(**extra).to_dict("records")
                frames.append(fr)
                frame_ids += ids
            elif sfile and Path(sfile).suffix.lower() in AUDIO_SUFFIXES:
                all_events.append({"run": r, "onset": onset, "duration": dur, "kind": "audio",
                                   "stim_file": str(base / sfile), **extra})
            elif sfile:
                sid = str(row["stim_id"]) if "stim_id" in row and not pd.isna(row["stim_id"]) \
                    else Path(sfile).stem
                all_events.append({"run": r, "onset": onset, "duration": dur, "kind": "image",
                                   "stim_id": sid, "stim_file": str(base / sfile), **extra})
            else:
                logger.debug("BIDS events '%s': row at %.3f s has no stimulus; not used.",
                             f.name, onset)
    if not all_events:
        _raise("events_tsvs", "rows with a stim_file or a word/text column", "no stimulus rows")
    ev = pd.DataFrame(all_events)
    if (ev["kind"] == "word").any():
        words = ev["kind"] == "word"
        ev.loc[words, "stim_id"] = _word_ids(ev[words])
    if frames:
        vid = StimulusSet(frame_ids, images=np.concatenate(frames), name=name, verify_images=False)
        if stimuli is not None:
            from ._timeline import _merge_stimuli

            vid = _merge_stimuli(stimuli, vid)
        stimuli = vid
    return cls(ev, stimuli=stimuli, stim_dir=root, name=name)


# ------------------------------------------------------------------ validation
def _native(value):
    """numpy scalar -> Python scalar (clean labels in lists and messages)."""
    return value.item() if isinstance(value, np.generic) else value


def validate_events(events, run_order=None):
    """Checked, typed copy of an events table, sorted by run (first appearance) then onset."""
    missing = [c for c in _REQUIRED if c not in events.columns]
    if missing:
        _raise("events", "a DataFrame with columns " + ", ".join(_REQUIRED),
               f"columns {list(events.columns)} (missing {missing})")
    ev = events.copy().reset_index(drop=True)
    for col, default in _OPTIONAL.items():
        if col not in ev.columns:
            ev[col] = default
        ev[col] = ev[col].where(ev[col].notna(), "").astype(str)
    if ev["run"].isna().any():
        _raise("events['run']", "a run label on every row",
               f"missing labels at rows {np.flatnonzero(ev['run'].isna())[:5].tolist()}")
    for col in ("onset", "duration"):
        try:
            ev[col] = ev[col].astype(float)
        except (TypeError, ValueError):
            _raise(f"events[{col!r}]", "numbers (seconds)", describe(ev[col].tolist()))
        bad = ~np.isfinite(ev[col].to_numpy())
        if bad.any():
            _raise(f"events[{col!r}]", "finite numbers (seconds)",
                   f"NaN or inf at rows {np.flatnonzero(bad)[:5].tolist()}")
    neg = np.flatnonzero(ev["duration"].to_numpy() < 0)
    if len(neg):
        _raise("events['duration']", "durations >= 0 seconds",
               f"{ev['duration'].iloc[neg[:5]].tolist()} at rows {neg[:5].tolist()}")
    kinds = ev["kind"].astype(str)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        _raise("events['kind']", "one of " + ", ".join(map(repr, KINDS)), f"{unknown[:5]}")
    ev["kind"] = kinds
    vis = ev["kind"].isin(("frame", "image")).to_numpy()
    no_id = np.flatnonzero(vis & (ev["stim_id"] == "").to_numpy())
    if len(no_id):
        _raise("events['stim_id']", "a stimulus id for every frame and image event",
               f"empty ids at rows {no_id[:5].tolist()}")
    words = (ev["kind"] == "word").to_numpy()
    no_text = np.flatnonzero(words & (ev["text"].str.strip() == "").to_numpy())
    if len(no_text):
        _raise("events['text']", "the word of every word event",
               f"empty text at rows {no_text[:5].tolist()}")
    order = run_order if run_order is not None else list(pd.unique(ev["run"]))
    pos = {r: k for k, r in enumerate(order)}
    ev = ev.iloc[np.lexsort((ev["onset"].to_numpy(), ev["run"].map(pos).to_numpy()))]
    cols = list(_REQUIRED) + list(_OPTIONAL)
    ev = ev[cols + [c for c in ev.columns if c not in cols]].reset_index(drop=True)
    _check_overlaps(ev)
    return ev


def _check_overlaps(ev):
    """Frames and images of one run are shown one at a time."""
    for run, grp in ev[ev["kind"].isin(("frame", "image"))].groupby("run", sort=False):
        on = grp["onset"].to_numpy()
        end = on + grp["duration"].to_numpy()
        over = np.flatnonzero(on[1:] < end[:-1] - _OVERLAP_TOL)
        if len(over):
            k = over[0]
            _raise("events", "frames/images of a run that do not overlap in time",
                   f"run {_native(run)!r}: the event at {on[k]:g} s lasts until {end[k]:g} s, after "
                   f"the next onset {on[k + 1]:g} s ({len(over)} overlap(s))",
                   "Fix the durations, or give the events different run labels.")
