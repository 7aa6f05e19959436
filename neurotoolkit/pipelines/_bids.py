"""BIDS / fMRIPrep layout discovery (subject, session, task, run, space) from file names."""

import re
from pathlib import Path

__all__ = ["bids_subject_runs", "entities"]

_EXT = re.compile(r"(\.nii\.gz|\.nii|\.tsv|\.json|\.gii)$")


def entities(path):
    """``sub-01_task-x_run-2_bold.nii.gz`` -> ({"sub": "01", "task": "x", "run": "2"}, "bold")."""
    stem = _EXT.sub("", Path(path).name)
    parts = stem.split("_")
    ents = dict(p.split("-", 1) for p in parts[:-1] if "-" in p)
    return ents, parts[-1]


def _run_of(ents):
    return int(ents["run"]) if "run" in ents else None


def _same(a, b, keys=("sub", "ses", "task", "run")):
    return all(a.get(k) == b.get(k) for k in keys)


def _files(root, suffix, exts):
    out = []
    for path in sorted(Path(root).glob("sub-*/**/*")):
        if not path.is_file() or not any(path.name.endswith(e) for e in exts):
            continue
        ents, suf = entities(path)
        if suf == suffix:
            out.append((path, ents))
    return out


def bids_subject_runs(cfg):
    """Find the runs of each subject a ``bids`` data config selects.

    Returns
    -------
    runs : dict of str -> list of dict
        Subject label (without ``sub-``) -> one dict per run with ``bold``,
        ``events``, ``confounds`` (or None), ``mask`` (fMRIPrep brain mask or
        None) paths and ``label`` (a run label: "ses-1_run-2" or "2").

    Raises
    ------
    FileNotFoundError
        Naming the config key (``data.root``, ``data.derivatives``...) and what was
        looked for.
    """
    base = Path(cfg.derivatives or cfg.root)
    where = "data.derivatives" if cfg.derivatives else "data.root"
    bolds = []
    for path, ents in _files(base, "bold", (".nii.gz", ".nii")):
        if ents.get("task") != cfg.task:
            continue
        if cfg.subjects is not None and ents.get("sub") not in cfg.subjects:
            continue
        if cfg.sessions is not None and ents.get("ses") not in cfg.sessions:
            continue
        if cfg.runs is not None and _run_of(ents) not in cfg.runs:
            continue
        if cfg.space is not None and ents.get("space") != cfg.space:
            continue
        if cfg.derivatives and cfg.desc is not None and ents.get("desc") != cfg.desc:
            continue
        bolds.append((path, ents))
    if not bolds:
        raise FileNotFoundError(
            f"Invalid value for `{where}`: no BOLD file (*_bold.nii[.gz]) of task {cfg.task!r}"
            + (f", space {cfg.space!r}" if cfg.space else "")
            + (f", desc {cfg.desc!r}" if cfg.derivatives and cfg.desc else "")
            + (f", subjects {cfg.subjects}" if cfg.subjects else "") + f" under {base}.")
    events = _files(cfg.root, "events", (".tsv",))
    if cfg.derivatives:
        events += [e for e in _files(cfg.derivatives, "events", (".tsv",))]
    confounds = _files(base, "timeseries", (".tsv",)) + _files(base, "regressors", (".tsv",))
    masks = _files(base, "mask", (".nii.gz", ".nii"))
    subjects = {}
    seen = {}
    for path, ents in bolds:
        ident = (ents.get("sub"), ents.get("ses"), ents.get("run"))
        if ident in seen:
            raise ValueError(
                f"Invalid value for `data.space`: several BOLD files match subject {ident[0]} run "
                f"{ident[2]} ({seen[ident].name}, {path.name}); set `data.space` (and `data.desc`) "
                "to choose one.")
        seen[ident] = path
        ev = [p for p, e in events if _same(e, ents)]
        if not ev:
            raise FileNotFoundError(
                f"Invalid value for `data.root`: no events file (*_events.tsv) for {path.name} "
                f"under {cfg.root}.")
        conf = [p for p, e in confounds if _same(e, ents) and e.get("desc") == "confounds"]
        if cfg.confounds and not conf:
            raise FileNotFoundError(
                f"Invalid value for `data.confounds`: no *_desc-confounds_timeseries.tsv for {path.name}.")
        mask = [p for p, e in masks if _same(e, ents) and e.get("desc") == "brain"
                and e.get("space") == ents.get("space")]
        if cfg.mask == "auto" and cfg.derivatives and not mask:
            raise FileNotFoundError(
                f"Invalid value for `data.mask`: \"auto\" found no *_desc-brain_mask.nii.gz for "
                f"{path.name}; give a mask file or null.")
        label = "_".join(f"{k}-{ents[k]}" for k in ("ses", "run") if k in ents) or path.name
        if set(ents) & {"ses", "run"} == {"run"}:
            label = str(int(ents["run"]))
        subjects.setdefault(ents["sub"], []).append(
            {"bold": path, "events": ev[0], "confounds": conf[0] if conf else None,
             "mask": mask[0] if mask else None, "label": label})
    return dict(sorted(subjects.items()))
