"""First-level GLM betas (least-squares-all, least-squares-separate, blocks,
conditions) for fMRI time-series Recordings, through nilearn's design matrices
and ``run_glm``."""

import numpy as np
import pandas as pd

from ..._utils.docs import fill_doc
from ..._utils.logging import logger, verbose
from ..._utils.optional import require
from ..._utils.validation import check_option, describe
from ._load import (
    _check_in_stimuli,
    _events_from_meta,
    _events_to_meta,
    _per_run,
    load_bids_events,
)
from .._recording import Recording

__all__ = ["estimate_betas"]


# ---------------------------------------------------------------------- GLM
_METHODS = ("lsa", "lss", "blocks", "conditions")


@fill_doc
@verbose
def estimate_betas(
    recording,
    events=None,
    method="lsa",
    hrf_model="glover",
    drift_model="cosine",
    high_pass=0.01,
    noise_model="ar1",
    confounds=None,
    stimuli=None,
    verbose=None,
):
    """Single-trial, block or condition betas from a time-series Recording.

    One first-level GLM per run, built with nilearn
    (``make_first_level_design_matrix`` + ``run_glm``, the engine of
    ``FirstLevelModel``) on the recording's units, so it works the same on
    voxels and on surface vertices.

    Parameters
    ----------
    recording : Recording
        Time series from :func:`load_fmri` (``meta["tr"]``, ``runs``).
    events : DataFrame | None
        Table from :func:`load_bids_events` (columns onset, duration,
        stim_id, run); None uses the events stored by :func:`load_fmri`.
    method : {"lsa", "lss", "blocks", "conditions"}
        "lsa" (least-squares-all): one regressor per event in one GLM.
        "blocks": the same, named for block designs (one beta per block).
        "lss" (least-squares-separate, Mumford et al. 2012): one GLM per
        event, with that event as one regressor and the other events
        grouped by stimulus id. "conditions": one regressor per stimulus id
        per run.
    hrf_model, drift_model, high_pass, noise_model
        Passed to nilearn (``noise_model`` "ar1" or "ols").
    confounds : list of (DataFrame | array | path) | None
        One table per run, added to each run's design.
    stimuli : StimulusSet | None
        If given, every stimulus id must be in it.
    %(verbose)s

    Returns
    -------
    Recording
        One row per event (per condition and run for "conditions"),
        ``stimulus_ids`` from the events, ``runs`` kept for
        leave-one-run-out CV, same units; ``meta["events"]`` lists the
        rows and ``meta["preprocessing"]`` records the GLM.

    Raises
    ------
    ValueError
        If an event does not lie inside its run: every event needs a
        finite onset >= 0, a finite duration >= 0, and must end by the end
        of the run (``onset + duration <= n_volumes * TR``); the message
        names the offending events (row, stimulus id, onset, duration).
    """
    glm = require("nilearn.glm.first_level", "estimate_betas")
    check_option("method", method, _METHODS)
    check_option("noise_model", noise_model, ("ar1", "ols"))
    if not isinstance(recording, Recording):
        raise TypeError(f"Invalid value for `recording`: expected a Recording, got "
                        f"{describe(recording)}.")
    tr = recording.meta.get("tr")
    if not tr:
        raise ValueError("Invalid value for `recording`: meta['tr'] is missing; load the runs "
                         "with load_fmri(..., tr=...).")
    if recording.runs is None:
        raise ValueError("Invalid value for `recording`: runs are missing.")
    if events is None:
        if "events" not in recording.meta:
            raise ValueError("Invalid value for `events`: none given and the recording has no "
                             "meta['events']; pass load_bids_events(...).")
        events = _events_from_meta(recording.meta["events"])
    elif not isinstance(events, pd.DataFrame) or not {"onset", "duration", "stim_id",
                                                        "run"} <= set(events.columns):
        events = load_bids_events(events, runs=pd.unique(recording.runs).tolist())
    events = events.reset_index(drop=True)
    if not len(events):
        raise ValueError("Invalid value for `events`: expected at least 1 event, got an empty "
                         "table.")
    if "source" not in events.columns:
        events["source"] = "<events>"
    if stimuli is not None:
        _check_in_stimuli(events, stimuli)
    run_order = pd.unique(recording.runs)
    conf = _per_run(confounds, len(run_order), "confounds")
    unknown = sorted(set(events["run"]) - set(run_order.tolist()), key=str)
    if unknown:
        raise ValueError(f"Invalid value for `events`: runs {unknown} are not in the recording "
                         f"(runs {run_order.tolist()}).")
    rows, betas = [], []
    for r, c in zip(run_order, conf):
        sel = recording.runs == r
        Y = recording.responses[sel]
        ev = events[events["run"] == r]
        if not len(ev):
            continue
        _check_event_timing(ev, len(Y), tr, r)
        ev = ev.reset_index(drop=True)
        frame_times = np.arange(len(Y)) * tr

        def fit(trial_type, keep):
            design = glm.make_first_level_design_matrix(
                frame_times, pd.DataFrame({"onset": ev["onset"], "duration": ev["duration"],
                                           "trial_type": trial_type}),
                hrf_model=hrf_model, drift_model=drift_model, high_pass=high_pass, add_regs=c)
            labels, results = glm.run_glm(Y, design.to_numpy(), noise_model=noise_model)
            theta = np.empty((design.shape[1], Y.shape[1]))
            for lab, res in results.items():
                theta[:, labels == lab] = res.theta
            cols = list(design.columns)
            return theta[[cols.index(k) for k in keep]]

        if method in ("lsa", "blocks"):
            names = [f"ev{n:04d}" for n in range(len(ev))]
            betas.append(fit(names, names))
            rows.append(ev)
        elif method == "conditions":
            conds = pd.unique(ev["stim_id"]).tolist()
            safe = {s: f"c{n:04d}" for n, s in enumerate(conds)}
            betas.append(fit(ev["stim_id"].map(safe), [safe[s] for s in conds]))
            first = ev.drop_duplicates("stim_id").set_index("stim_id").loc[conds].reset_index()
            rows.append(first)
        else:  # lss
            out = np.empty((len(ev), Y.shape[1]))
            safe = {s: f"c{n:04d}" for n, s in enumerate(pd.unique(ev["stim_id"]))}
            for n in range(len(ev)):
                names = ev["stim_id"].map(safe).to_numpy(dtype=object)
                names[n] = "target"
                out[n] = fit(names, ["target"])[0]
            betas.append(out)
            rows.append(ev)
    if not rows:
        raise ValueError("Invalid value for `events`: no event falls in any run.")
    table = pd.concat(rows, ignore_index=True)
    meta = {k: v for k, v in recording.meta.items() if k not in ("events", "n_volumes_per_run")}
    meta["events"] = _events_to_meta(table)
    meta["mode"] = "betas"
    previous = recording.meta.get("preprocessing", recording.meta.get("steps", []))
    meta.pop("steps", None)  # the key of files written before "preprocessing"
    meta["preprocessing"] = list(previous) + [{
        "step": "glm", "tool": "nilearn.glm.first_level", "method": method,
        "hrf_model": hrf_model, "drift_model": drift_model, "high_pass": high_pass,
        "noise_model": noise_model, "confounds": any(x is not None for x in conf)}]
    out = recording._replace(responses=np.concatenate(betas, axis=0),
                             stimulus_ids=table["stim_id"].to_numpy(dtype=object),
                             runs=table["run"].to_numpy(), meta=meta)
    logger.info("estimate_betas(%s): %r", method, out)
    return out


def _check_event_timing(ev, n_volumes, tr, run):
    """Every event of one run starts at or after 0 and ends by ``n_volumes * tr``.

    ``ev`` keeps the row labels of the events table, so the message names rows.
    """
    end = n_volumes * tr
    run = run.item() if isinstance(run, np.generic) else run
    onset = pd.to_numeric(ev["onset"], errors="coerce").to_numpy(dtype=float)
    duration = pd.to_numeric(ev["duration"], errors="coerce").to_numpy(dtype=float)
    problems = [
        (~np.isfinite(onset) | ~np.isfinite(duration), "onset or duration is not a finite number"),
        (np.isfinite(onset) & (onset < 0), "onset < 0"),
        (np.isfinite(duration) & (duration < 0), "duration < 0"),
        (np.isfinite(onset) & (onset >= end), f"onset >= end of run ({end:g} s)"),
        (np.isfinite(onset) & np.isfinite(duration) & (onset < end)
         & (onset + duration > end + 1e-9), f"offset (onset + duration) > end of run ({end:g} s)"),
    ]
    for bad, why in problems:
        if bad.any():
            rows = ev.loc[bad]
            listed = "; ".join(
                f"row {i}: stim_id {sid!r}, onset {o:g} s, duration {d:g} s"
                for i, sid, o, d in zip(rows.index[:5], rows["stim_id"][:5], onset[bad][:5],
                                        duration[bad][:5]))
            more = f" (and {int(bad.sum()) - 5} more)" if bad.sum() > 5 else ""
            source = rows["source"].iloc[0] if "source" in rows.columns else "<events>"
            raise ValueError(
                f"Invalid value for `events`: expected every event inside its run (onset >= 0, "
                f"duration >= 0, onset + duration <= {n_volumes} volumes x TR {tr:g} s = "
                f"{end:g} s), got {int(bad.sum())} event(s) of run {run!r} in {source} with "
                f"{why}: {listed}{more}. Check the TR, the run order and the units of the "
                "onsets (seconds)."
            )


# ------------------------------------------------------------- maps to files
