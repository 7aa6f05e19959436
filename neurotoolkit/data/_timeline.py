"""Timeline: what was presented when, per run (frames, images, words, audio).

File readers (BIDS events, video, Praat TextGrid, WAV) are in ``_timeline_io``.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from .._utils.validation import _raise, check_array, check_type, describe
from ._stimuli import StimulusSet
from ._timeline_io import KINDS, _native, validate_events as _validate_events

__all__ = ["Timeline", "KINDS"]



class Timeline:
    """Stimulus events over time, run by run.

    One row per presented item: a video frame, an image, a word or an audio
    track. Feature time courses are built from it with
    :func:`neurotoolkit.features.feature_timecourses`.

    Parameters
    ----------
    events : pandas.DataFrame, shape (n_events, n_columns)
        Required columns ``run`` (run label, int or str), ``onset`` and
        ``duration`` (seconds from the start of the run; duration >= 0) and
        ``kind`` (one of ``"frame"``, ``"image"``, ``"word"``, ``"audio"``).
        Optional: ``stim_id`` (key into a :class:`StimulusSet`; required for
        frames and images), ``text`` (required for words), ``stim_file``.
        Other columns (``trial_type``...) are kept.
    stimuli : StimulusSet | None
        Pixels of the frames/images (ids = ``stim_id``), e.g. decoded video
        frames. Used by :meth:`to_stimulus_set`.
    audio : dict | None
        ``{run: (waveform, sfreq)}``; see :meth:`add_audio`.
    stim_dir : path-like | None
        Folder that relative ``stim_file`` paths are relative to.
    name : str
        Name of the timeline (used in provenance).

    Attributes
    ----------
    runs : list
        Run labels in order (order of first appearance in ``events``).
    events : pandas.DataFrame
        The validated table (a copy), sorted by run then onset.

    Raises
    ------
    ValueError
        Missing columns, non-finite or negative onsets/durations, an unknown
        ``kind``, frames/images without ``stim_id``, words without ``text``,
        frames or images of one run that overlap in time.

    Examples
    --------
    >>> tl = Timeline.from_words(["the", "cat"], [0.0, 0.4], [0.3, 0.8])
    >>> tl.runs, len(tl)
    ([0], 2)
    """

    def __init__(self, events, stimuli=None, audio=None, stim_dir=None, name="timeline"):
        check_type("events", events, pd.DataFrame)
        self._events = _validate_events(events)
        self._runs = [_native(r) for r in pd.unique(self._events["run"])]
        if stimuli is not None:
            check_type("stimuli", stimuli, StimulusSet)
        self.stimuli = stimuli
        self.stim_dir = None if stim_dir is None else Path(stim_dir)
        self.name = str(name)
        self._audio = {}
        for run, (wave, sfreq) in dict(audio or {}).items():
            self.add_audio(run, wave, sfreq, _add_event=False)

    # ------------------------------------------------------------------ basics
    @property
    def runs(self):
        """Run labels in order, list."""
        return list(self._runs)

    @property
    def events(self):
        """The validated events table (a copy), pandas.DataFrame (n_events, n_columns)."""
        return self._events.copy()

    def __len__(self):
        return len(self._events)

    def __repr__(self):
        kinds = self._events["kind"].value_counts()
        parts = ", ".join(f"{int(n)} {k}s" for k, n in kinds.items())
        return f"<Timeline {self.name!r}: {len(self._runs)} run(s), {parts or 'no events'}>"

    def duration(self, run):
        """End of the last event (or audio) of ``run``, in seconds."""
        ev = self._events[self._events["run"] == self._run_key(run)]
        end = float((ev["onset"] + ev["duration"]).max()) if len(ev) else 0.0
        if self._run_key(run) in self._audio:
            wave, sfreq = self._audio[self._run_key(run)]
            end = max(end, len(wave) / sfreq)
        return end

    def _run_key(self, run):
        """The stored label for ``run`` (matched exactly, then as a string)."""
        if run in self._runs:
            return self._runs[self._runs.index(run)]
        by_str = {str(r): r for r in self._runs}
        if str(run) in by_str:
            return by_str[str(run)]
        raise KeyError(f"Invalid value for `run`: expected one of {self._runs[:10]}, got "
                       f"{describe(run)}.")

    def select(self, kind=None, run=None):
        """A new Timeline with only some kinds of events and/or runs.

        Parameters
        ----------
        kind : str | sequence of str | None
            Kinds to keep (default all).
        run : label | sequence of labels | None
            Runs to keep, in the order given (default all).

        Returns
        -------
        Timeline
        """
        ev = self._events
        if kind is not None:
            kinds = [kind] if isinstance(kind, str) else list(kind)
            for k in kinds:
                if k not in KINDS:
                    _raise("kind", "one of " + ", ".join(map(repr, KINDS)), describe(k))
            ev = ev[ev["kind"].isin(kinds)]
        runs = self._runs
        if run is not None:
            wanted = [run] if (np.isscalar(run) or isinstance(run, str)) else list(run)
            runs = [self._run_key(r) for r in wanted]
            order = {r: k for k, r in enumerate(runs)}
            ev = ev[ev["run"].isin(runs)]
            ev = ev.iloc[np.argsort(ev["run"].map(order).to_numpy(), kind="stable")]
        out = object.__new__(Timeline)
        out._events = ev.reset_index(drop=True)
        out._runs = [r for r in runs if r in set(ev["run"]) or r in self._audio]
        out.stimuli, out.stim_dir, out.name = self.stimuli, self.stim_dir, self.name
        out._audio = {r: a for r, a in self._audio.items() if r in out._runs}
        return out

    # ------------------------------------------------------------------ readers
    @classmethod
    def from_words(cls, words, onsets, offsets, runs=None, name="words"):
        """Words with onsets and offsets (seconds).

        Parameters
        ----------
        words : sequence of str, shape (n_words,)
        onsets, offsets : array, shape (n_words,)
            Start and end of each word, seconds from the start of its run.
        runs : label | sequence of labels, shape (n_words,) | None
            Run of each word (default: all in run 0).
        name : str

        Returns
        -------
        Timeline
            Word events with ``stim_id`` ``"{run}/w{k:05d}"`` (k-th word of the run).
        """
        return _io()._from_words(cls, words, onsets, offsets, runs=runs, name=name)

    @classmethod
    def from_images(cls, stim_ids, onsets, durations, runs=None, stimuli=None, name="images"):
        """Images (keys into a StimulusSet) shown at ``onsets`` for ``durations`` seconds.

        Parameters
        ----------
        stim_ids : sequence of str, shape (n_events,)
        onsets : array, shape (n_events,)
        durations : float | array, shape (n_events,)
        runs : label | sequence of labels, shape (n_events,) | None
        stimuli : StimulusSet | None
            The images (used by :meth:`to_stimulus_set`).
        name : str

        Returns
        -------
        Timeline
        """
        return _io()._from_images(cls, stim_ids, onsets, durations, runs=runs, stimuli=stimuli,
                                  name=name)

    @classmethod
    def from_video(cls, video_files, runs=None, every_n_frames=1, size=None, name="video"):
        """Decode video files (one per run) with PyAV into frame events.

        Each kept frame becomes a ``"frame"`` event at its presentation
        timestamp (pts x time_base, from the start of the stream) lasting
        until the next kept frame; the pixels are kept in ``stimuli`` (ids
        ``"run-{run}_{stem}_frame-{k:06d}"``). Memory: n_frames x H x W x 3
        bytes (10 min at 15 fps and 96 x 96 px: about 250 MB; use ``size``
        and ``every_n_frames``).

        Parameters
        ----------
        video_files : path-like | sequence of path-like
        runs : sequence of labels | None
            One label per file (default 0, 1, ...); labels must differ.
        every_n_frames : int
            Keep every n-th decoded frame.
        size : int | (int, int) | None
            Resize frames to (size, size) or (height, width), bicubic.
        name : str

        Returns
        -------
        Timeline

        Raises
        ------
        FileNotFoundError
            A video file that does not exist.
        ImportError
            PyAV (``av``) is not installed.
        """
        return _io()._from_video(cls, video_files, runs=runs, every_n_frames=every_n_frames,
                                 size=size, name=name)

    @classmethod
    def from_textgrid(cls, textgrid_files, tier="words", runs=None, skip_labels=None,
                      name="words"):
        """Words from Praat TextGrid files (one per run), read with praatio.

        Parameters
        ----------
        textgrid_files : path-like | sequence of path-like
        tier : str
            Interval tier holding the words.
        runs : sequence of labels | None
            One label per file (default 0, 1, ...).
        skip_labels : sequence of str | None
            Interval labels that are not words (case-insensitive); default
            empty labels, silences and the Huth-lab markers ``sp``, ``br``,
            ``lg``, ``ls``, ``ns``, ``sentence_start``, ``sentence_end``.
        name : str

        Returns
        -------
        Timeline
        """
        io = _io()
        skip = io.SKIP_WORDS if skip_labels is None else tuple(skip_labels)
        return io._from_textgrid(cls, textgrid_files, tier=tier, runs=runs, skip_labels=skip,
                                 name=name)

    @classmethod
    def from_audio(cls, wav_files, runs=None, name="audio"):
        """Audio tracks from WAV files, one per run (sample 0 at time 0).

        Parameters
        ----------
        wav_files : path-like | sequence of path-like
        runs : sequence of labels | None
            One label per file (default 0, 1, ...).
        name : str

        Returns
        -------
        Timeline
            One ``"audio"`` event per run; waveforms via :meth:`audio`.
        """
        return _io()._from_audio(cls, wav_files, runs=runs, name=name)

    @classmethod
    def from_bids_events(cls, events_tsvs, runs=None, stimuli=None, stim_dir=None,
                         every_n_frames=1, size=None, name="bids"):
        """A Timeline from BIDS ``*_events.tsv`` files (one per run).

        Rows are read by what they present: a ``word`` or ``text`` column
        gives word events; a video ``stim_file`` (.mp4, .mkv, .avi, .mov,
        .webm...) is decoded with PyAV into frame events starting at the row's
        onset; a ``.wav`` gives an audio event; any other ``stim_file`` is an
        image (``stim_id``: a ``stim_id`` column, else the file stem). Rows
        without a stimulus (fixation, responses) are not used (logged at
        DEBUG level). ``trial_type`` is kept.

        Parameters
        ----------
        events_tsvs : path-like | sequence of path-like
        runs : sequence of labels | None
            One per file; default the ``run-<label>`` entity of each file
            name, else 1, 2, ...
        stimuli : StimulusSet | None
            Pixels of the images (ids = stim_id), instead of reading files.
        stim_dir : path-like | None
            Folder that ``stim_file`` paths are relative to; default the
            ``stimuli/`` folder of the BIDS dataset (as in the BIDS
            specification), else the folder of the TSV.
        every_n_frames, size
            Passed to the video decoder, see :meth:`from_video`.
        name : str

        Returns
        -------
        Timeline

        Raises
        ------
        ValueError
            A file without ``onset``/``duration`` columns, or no stimulus rows.
        FileNotFoundError
            A TSV or a referenced video that does not exist.
        """
        return _io()._from_bids_events(cls, events_tsvs, runs=runs, stimuli=stimuli,
                                       stim_dir=stim_dir, every_n_frames=every_n_frames,
                                       size=size, name=name)

    # ------------------------------------------------------------------ stimuli
    def to_stimulus_set(self, stimuli=None):
        """The frames/images of this timeline as a :class:`StimulusSet`.

        Ids are the unique ``stim_id`` of frame and image events, in order of
        first appearance, so that
        ``extract_features(tl.to_stimulus_set(), ...)`` gives a FeatureSpace
        that :func:`~neurotoolkit.features.feature_timecourses` reads.

        Parameters
        ----------
        stimuli : StimulusSet | None
            Where the pixels are; default the timeline's own ``stimuli``,
            else the ``stim_file`` of each event (relative to ``stim_dir``).

        Returns
        -------
        StimulusSet
        """
        ev = self._events[self._events["kind"].isin(("frame", "image"))]
        if not len(ev):
            raise ValueError(f"Timeline {self.name!r} has no frame or image events to make a "
                             "StimulusSet from.")
        ids = list(pd.unique(ev["stim_id"]))
        stimuli = self.stimuli if stimuli is None else stimuli
        if stimuli is not None:
            check_type("stimuli", stimuli, StimulusSet)
            if all(i in stimuli for i in ids):
                return stimuli.subset(ids)
        files = ev.drop_duplicates("stim_id").set_index("stim_id")["stim_file"]
        missing = [i for i in ids if not files.get(i) and (stimuli is None or i not in stimuli)]
        if missing:
            raise ValueError(
                f"Timeline {self.name!r} has no pixels for stim_id {missing[:5]}: pass "
                "`stimuli=` (a StimulusSet with those ids) or give events a `stim_file`.")
        root = self.stim_dir or Path(".")
        images = []
        for i in ids:
            if stimuli is not None and i in stimuli:
                images.append(stimuli.load_image(i))
            else:
                p = Path(files[i])
                images.append(str(p if p.is_absolute() else root / p))
        return StimulusSet(ids, images=images, name=self.name, meta={"source": "timeline"})

    # -------------------------------------------------------------------- audio
    def add_audio(self, run, waveform, sfreq, _add_event=True):
        """Attach the audio track of ``run`` (in place; returns self).

        Parameters
        ----------
        run : label
            Run label (a new run is added if unknown).
        waveform : array, shape (n_samples,) or (n_samples, n_channels)
            Sound pressure, sample 0 at time 0 of the run.
        sfreq : float
            Sampling rate in Hz.
        """
        wave = check_array("waveform", waveform, ndim=(1, 2), min_samples=2)
        check_type("sfreq", sfreq, "numeric")
        if not sfreq > 0:
            _raise("sfreq", "a positive sampling rate in Hz", describe(sfreq))
        try:
            key = self._run_key(run)
        except KeyError:
            key = run
            self._runs.append(run)
        self._audio[key] = (wave, float(sfreq))
        if _add_event and not ((self._events["run"] == key) & (self._events["kind"] == "audio")).any():
            row = pd.DataFrame({"run": [key], "onset": [0.0], "duration": [len(wave) / sfreq],
                                "kind": ["audio"], "stim_id": [""], "text": [""], "stim_file": [""]})
            self._events = _validate_events(pd.concat([self._events, row], ignore_index=True),
                                            run_order=self._runs)
        return self

    def audio(self, run):
        """The audio of ``run`` as ``(waveform, sfreq)``; loads ``stim_file`` if needed."""
        key = self._run_key(run)
        if key not in self._audio:
            ev = self._events[(self._events["run"] == key) & (self._events["kind"] == "audio")]
            if not len(ev) or not ev["stim_file"].iloc[0]:
                raise ValueError(f"Timeline {self.name!r} has no audio for run {run!r}: use "
                                 "add_audio(run, waveform, sfreq) or Timeline.from_audio.")
            from ._timeline_io import read_wav

            path = Path(ev["stim_file"].iloc[0])
            path = path if path.is_absolute() or self.stim_dir is None else self.stim_dir / path
            self._audio[key] = read_wav(path)
        return self._audio[key]

    @property
    def has_audio(self):
        """Runs with an audio track, list."""
        return [r for r in self._runs if r in self._audio or (
            (self._events["run"] == r) & (self._events["kind"] == "audio")).any()]

    # -------------------------------------------------------------- combining
    @classmethod
    def concatenate(cls, timelines, name=None):
        """One Timeline with the runs of several (run labels must differ).

        Parameters
        ----------
        timelines : sequence of Timeline

        Returns
        -------
        Timeline
        """
        timelines = list(timelines)
        if not timelines or not all(isinstance(t, Timeline) for t in timelines):
            _raise("timelines", "a non-empty list of Timeline",
                   describe([type(t).__name__ for t in timelines]), exc=TypeError)
        seen = {}
        for k, t in enumerate(timelines):
            for r in t.runs:
                if str(r) in seen:
                    _raise("timelines", "timelines with different run labels",
                           f"run {r!r} in timelines {seen[str(r)]} and {k}",
                           "Relabel the runs (events['run']) before concatenating.")
                seen[str(r)] = k
        events = pd.concat([t._events for t in timelines], ignore_index=True)
        stimuli = [t.stimuli for t in timelines if t.stimuli is not None]
        merged = None
        for s in stimuli:
            merged = s if merged is None else _merge_stimuli(merged, s)
        out = cls(events, stimuli=merged, stim_dir=timelines[0].stim_dir,
                  name=name or timelines[0].name)
        for t in timelines:
            out._audio.update(t._audio)
        return out

    # --------------------------------------------------------------- save/load
    def save(self, fname, overwrite=False):
        """Save events (and audio and array stimuli) to a checksummed HDF5 file; no pickle.

        Returns the path.
        """
        from .._utils.safe_io import save_object

        fname = Path(fname)
        if fname.exists() and not overwrite:
            raise FileExistsError(f"Invalid value for `fname`: '{fname}' exists; pass "
                                  "overwrite=True to replace it.")
        ev = self._events.copy()
        ev["run"] = ev["run"].astype(str)
        tree = {"events": ev, "runs": [str(r) for r in self._runs],
                "run_dtype": str(self._events["run"].dtype),
                "run_types": [type(r).__name__ for r in self._runs], "name": self.name,
                "stim_dir": None if self.stim_dir is None else str(self.stim_dir),
                "audio": {str(r): {"waveform": w, "sfreq": s} for r, (w, s) in self._audio.items()},
                "stimuli": None}
        s = self.stimuli
        if s is not None:
            images = s.images if isinstance(s.images, np.ndarray) else (
                None if s.images is None else [str(p) for p in s.images])
            tree["stimuli"] = {"ids": [str(i) for i in s.ids], "images": images, "name": s.name}
        return save_object(fname, "timeline", 1, tree)

    @classmethod
    def load(cls, fname):
        """Load a Timeline written by :meth:`save`."""
        from .._utils.safe_io import load_object

        tree, _ = load_object(fname, "timeline", 1)
        conv = {str(r): (int(r) if t == "int" else r)
                for r, t in zip(tree["runs"], tree["run_types"])}
        ev = tree["events"]
        ev["run"] = ev["run"].astype(str).map(conv).astype(tree["run_dtype"])
        st = tree["stimuli"]
        stimuli = None if st is None else StimulusSet(st["ids"], images=st["images"],
                                                       name=st["name"], verify_images=False)
        audio = {conv[r]: (a["waveform"], a["sfreq"]) for r, a in tree["audio"].items()}
        return cls(ev, stimuli=stimuli, audio=audio, stim_dir=tree["stim_dir"], name=tree["name"])


def _io():
    from . import _timeline_io

    return _timeline_io


def _merge_stimuli(a, b):
    new = [i for i in b.ids if i not in a]
    if not new:
        return a
    if isinstance(a.images, np.ndarray) and isinstance(b.images, np.ndarray):
        images = np.concatenate([a.images, b.subset(new).images])
    else:
        images = list(a.images) + list(b.subset(new).images)
    return StimulusSet(list(a.ids) + new, images=images, name=a.name, verify_images=False)
