"""Load the ``data`` section of a pipeline config into recordings and stimuli.

Every source returns a :class:`DataBundle`. Loading that costs time (beta
estimation, reading BIDS / NSD / ephys files) runs as a cached stage of the
:class:`~._runner.Run`, keyed by the data section and the sha256 of the files read.
"""

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from ._bids import bids_subject_runs

__all__ = ["DataBundle", "load_data", "data_files"]

logger = logging.getLogger("neurotoolkit.pipelines")


@dataclass
class DataBundle:
    """What a data source gives a pipeline.

    Attributes
    ----------
    recordings : dict of str -> Recording
        One per subject (may be empty, e.g. the 92 objects dataset has RDMs only).
    stimuli : StimulusSet | None
        The stimuli (images when known); None when the source has no stimulus files.
    extra : dict
        Source-specific things: ``truth`` (simulator ground truth), ``test_ids``
        (simulator held-out ids), ``rdms`` / ``rdm_names`` (92 objects),
        ``raw_file`` (EEGLAB sample), ``key`` (the cache key of the data).
    """

    recordings: Dict[str, Any]
    stimuli: Optional[Any] = None
    extra: Dict[str, Any] = field(default_factory=dict)


def _section(cfg):
    return cfg.model_dump(mode="json")


def _stimuli(folder):
    if folder is None:
        return None
    from neurotoolkit.data import StimulusSet

    return StimulusSet.from_folder(folder)


def data_files(cfg):
    """The files a data config reads (for --dry-run plans and input hashes), by subject."""
    source = cfg.source
    if source == "bids":
        return {sub: [r[k] for r in runs for k in ("bold", "events", "confounds", "mask")
                      if r[k] is not None] for sub, runs in bids_subject_runs(cfg).items()}
    if source == "nsd":
        return {sub: [Path(folder), Path(cfg.stim_order[sub])]
                + ([Path(cfg.masks[sub])] if cfg.masks else []) for sub, folder in cfg.subjects.items()}
    if source == "ephys" and cfg.files is not None:
        return {sub: [Path(p) for p in (f if isinstance(f, list) else [f])]
                for sub, f in cfg.files.items()}
    if source == "recording":
        return {sub: [Path(p)] for sub, p in cfg.files.items()}
    return {}


def load_data(data_cfg, run):
    """Load the data a config names.

    Parameters
    ----------
    data_cfg : DataConfig (one of the ``_data_config`` models)
    run : Run
        Cached stages go through ``run.stage``; file hashes into ``run.inputs``.

    Returns
    -------
    DataBundle
    """
    loader = {"simulate": _load_simulate, "bids": _load_bids, "nsd": _load_nsd,
              "ephys": _load_ephys, "recording": _load_recording, "dataset": _load_dataset}
    bundle = loader[data_cfg.source](data_cfg, run)
    for sub, rec in bundle.recordings.items():
        logger.info("data %s: %r", sub, rec)
    return bundle


# ----------------------------------------------------------------------------- simulate
def _load_simulate(cfg, run):
    from neurotoolkit.simulation import make_builtin_stimuli, simulate_recordings

    kwargs = cfg.model_dump(exclude={"source", "stimuli", "n_per_category"})
    random_state = run.config.get("random_state", 0)
    if cfg.stimuli == "builtin":
        stimuli = make_builtin_stimuli(n_per_category=cfg.n_per_category, random_state=random_state)
    else:
        stimuli = _stimuli(cfg.stimuli)
        run.file_hash(cfg.stimuli)
    sim = simulate_recordings(stimuli=stimuli, random_state=random_state, **kwargs)
    recordings = {rec.subject: rec for rec in sim.recordings}
    test_ids = {rec.subject: list(rec.meta["test_ids"]) for rec in sim.recordings}
    key = {"data": _section(cfg), "random_state": random_state}
    return DataBundle(recordings, sim.stimuli, {"truth": sim.truth, "test_ids": test_ids, "key": key})


# ----------------------------------------------------------------------------- BIDS / fMRIPrep
def _confounds(path, columns):
    import numpy as np
    import pandas as pd

    table = pd.read_csv(path, sep="\t")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"Invalid value for `data.confounds`: columns {missing} are not in {path} "
                         f"(it has {list(table.columns)[:12]}...).")
    return table[columns].replace([np.inf, -np.inf], np.nan).fillna(0.0)


def _events(path, stim_column):
    if stim_column is None:
        return str(path)
    import pandas as pd

    table = pd.read_csv(path, sep="\t")
    if stim_column not in table.columns:
        raise ValueError(f"Invalid value for `data.stim_column`: no column {stim_column!r} in {path} "
                         f"(columns: {list(table.columns)}).")
    table["stim_id"] = table[stim_column].astype(str)
    return table


def _load_bids(cfg, run):
    from neurotoolkit.data import estimate_betas, load_fmri

    stimuli = _stimuli(cfg.stimuli)
    subjects = bids_subject_runs(cfg)
    section = _section(cfg)
    recordings, keys = {}, {}
    for sub, runs in subjects.items():
        files = sorted({str(r[k]) for r in runs for k in ("bold", "events", "confounds")
                        if r[k] is not None})
        mask = runs[0].get("mask") if cfg.mask == "auto" else cfg.mask
        extra_files = [p for p in (mask, cfg.atlas) if p is not None]
        extra_files += list((cfg.rois or {}).values())
        key = {"data": section, "subject": sub,
               "files": {f: run.file_hash(f) for f in files + [str(p) for p in extra_files]}}

        def compute(sub=sub, runs=runs, mask=mask):
            rois = cfg.rois and {k: str(v) for k, v in cfg.rois.items()}
            if cfg.atlas is not None:
                rois = str(cfg.atlas)
            rec = load_fmri(
                [str(r["bold"]) for r in runs], mask=None if mask is None else str(mask), rois=rois,
                roi_names=cfg.atlas_labels, events=[_events(r["events"], cfg.stim_column) for r in runs],
                runs=[r["label"] for r in runs], tr=cfg.tr,
                confounds=None if not cfg.confounds else [_confounds(r["confounds"], cfg.confounds)
                                                          for r in runs],
                standardize=cfg.standardize, detrend=cfg.detrend, high_pass=cfg.high_pass,
                subject=f"sub-{sub}", space=cfg.space)
            if cfg.responses == "betas":
                rec = estimate_betas(rec, stimuli=stimuli, **cfg.betas.model_dump())
            return rec

        recordings[f"sub-{sub}"] = run.stage(f"data-sub-{sub}", key, compute, kind="recording")
        keys[f"sub-{sub}"] = key
    return DataBundle(recordings, stimuli, {"key": keys})


# ----------------------------------------------------------------------------- NSD
def _load_nsd(cfg, run):
    from neurotoolkit.data import load_nsd_betas

    stimuli = _stimuli(cfg.stimuli)
    section = _section(cfg)
    recordings, keys = {}, {}
    for sub, folder in cfg.subjects.items():
        files = [Path(folder), Path(cfg.stim_order[sub])] + ([Path(cfg.masks[sub])] if cfg.masks else [])
        key = {"data": section, "subject": sub, "files": {str(f): run.file_hash(f) for f in files}}

        def compute(sub=sub, folder=folder):
            return load_nsd_betas(
                str(folder), str(cfg.stim_order[sub]), sessions=cfg.sessions,
                mask=str(cfg.masks[sub]) if cfg.masks else None, roi=cfg.roi, scale=cfg.scale,
                zscore=cfg.zscore, average_repeats=cfg.average_repeats, stimuli=stimuli,
                subject=sub, space=cfg.space)

        recordings[sub] = run.stage(f"data-{sub}", key, compute, kind="recording")
        keys[sub] = key
    return DataBundle(recordings, stimuli, {"key": keys})


# ----------------------------------------------------------------------------- ephys
def _ephys_kwargs(cfg):
    steps = None
    if cfg.preprocessing:
        steps = [next(iter(step.items())) for step in cfg.preprocessing]
    events = cfg.events
    if events not in ("annotations", "stim_channel"):
        events = str(events)
    return dict(events=events, stimulus_ids=cfg.stimulus_ids, tmin=cfg.tmin, tmax=cfg.tmax,
                windows=cfg.windows, picks=cfg.picks, preprocessing=steps,
                baseline=None if cfg.baseline is None else tuple(cfg.baseline),
                ch_types=cfg.ch_types, modality=cfg.modality, on_outside=cfg.on_outside)


def _bids_ephys_paths(cfg):
    from neurotoolkit._utils.optional import require

    mne_bids = require("mne_bids", "BIDS electrophysiology (data.bids_root)")
    subjects = cfg.subjects or mne_bids.get_entity_vals(cfg.bids_root, "subject")
    out = {}
    for sub in subjects:
        paths = mne_bids.find_matching_paths(
            cfg.bids_root, subjects=sub, tasks=cfg.task, datatypes=cfg.datatype,
            suffixes=cfg.datatype, extensions=[".vhdr", ".edf", ".bdf", ".set", ".fif", ".con", ".ds"])
        if not paths:
            raise FileNotFoundError(f"Invalid value for `data.bids_root`: no {cfg.datatype} recording of "
                                    f"subject {sub!r} (task {cfg.task!r}) under {cfg.bids_root}.")
        out[f"sub-{sub}"] = sorted(paths, key=str)
    return out


def _load_ephys(cfg, run):
    from neurotoolkit.data import load_ephys

    stimuli = _stimuli(cfg.stimuli)
    section = _section(cfg)
    if cfg.files is not None:
        subjects = {sub: [Path(p) for p in (f if isinstance(f, list) else [f])]
                    for sub, f in cfg.files.items()}
    else:
        subjects = _bids_ephys_paths(cfg)
    recordings, keys = {}, {}
    for sub, paths in subjects.items():
        hashed = [Path(str(getattr(p, "fpath", p))) for p in paths]
        key = {"data": section, "subject": sub,
               "files": {str(p): run.file_hash(p) for p in hashed if p.exists()}}

        def compute(sub=sub, paths=paths):
            target = paths if len(paths) > 1 else paths[0]
            return load_ephys(target, stimuli=stimuli, subject=sub, **_ephys_kwargs(cfg))

        recordings[sub] = run.stage(f"data-{sub}", key, compute, kind="recording")
        keys[sub] = key
    return DataBundle(recordings, stimuli, {"key": keys})


# ----------------------------------------------------------------------------- saved recordings
def _load_recording(cfg, run):
    from neurotoolkit.data import Recording

    stimuli = _stimuli(cfg.stimuli)
    recordings = {}
    for sub, path in cfg.files.items():
        run.file_hash(path)
        rec = Recording.load(path)
        recordings[rec.subject if len(cfg.files) == 1 else sub] = rec
    key = {"data": _section(cfg), "files": {str(p): run.file_hash(p) for p in cfg.files.values()}}
    return DataBundle(recordings, stimuli, {"key": key})


# ----------------------------------------------------------------------------- named datasets
def _load_dataset(cfg, run):
    from neurotoolkit import data

    section = _section(cfg)
    if cfg.name == "haxby":
        ds = data.fetch_haxby(data_home=cfg.data_home)
        files = [*ds.bold, *ds.events, *ds.masks.values()]
        key = {"data": section, "files": {f"{i:02d}-{Path(f).name}": run.file_hash(f)
                                          for i, f in enumerate(files)}}
        if cfg.responses == "betas":
            rec = run.stage("data-betas", key, lambda: data.estimate_betas(
                data.load_haxby(data_home=cfg.data_home, detrend=False).recording,
                **cfg.betas.model_dump()), kind="recording")
        else:
            rec = data.load_haxby(data_home=cfg.data_home, detrend=True).recording
        stimuli = _category_stimuli(rec, name="haxby")
        return DataBundle({rec.subject: rec}, stimuli, {"key": key, "path": ds.path})
    if cfg.name == "eeglab_sample":
        raw = data.load_eeglab_sample(data_home=cfg.data_home)
        fname = raw.filenames[0]
        key = {"data": section, "file": run.file_hash(fname)}

        def compute():
            steps = [next(iter(s.items())) for s in cfg.preprocessing] if cfg.preprocessing else None
            return data.load_ephys(raw, stimulus_ids=cfg.stimulus_ids, tmin=cfg.tmin, tmax=cfg.tmax,
                                   windows=cfg.windows, preprocessing=steps,
                                   baseline=None if cfg.baseline is None else tuple(cfg.baseline))

        rec = run.stage("data-eeglab", key, compute, kind="recording")
        return DataBundle({rec.subject: rec}, None, {"key": key, "raw_file": str(fname)})
    # 92 objects: images + human IT RDMs, no recordings
    ds = data.load_92objects(data_home=cfg.data_home)
    key = {"data": section, "path": str(ds.path)}
    return DataBundle({}, ds.stimuli, {"key": key, "rdms": ds.rdms, "rdm_names": ds.rdm_names,
                                       "path": ds.path})


def _category_stimuli(rec, name):
    """A StimulusSet of ids only whose single ``category`` column is the stimulus id itself."""
    import numpy as np
    import pandas as pd

    from neurotoolkit.data import StimulusSet

    ids = [str(s) for s in np.unique(rec.stimulus_ids)]
    return StimulusSet(ids, categories=pd.DataFrame({"category": ids}, index=ids), name=name)
