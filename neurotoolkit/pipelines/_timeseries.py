"""The encode pipeline on continuous (time-series) responses: FIR delays over feature time courses.

A time-series recording (BIDS BOLD + events with ``data.responses: timeseries``) is fitted with
:class:`~neurotoolkit.encoding.VoxelwiseEncoder` ``(delays=...)``: the per-stimulus features are
placed on a :class:`~neurotoolkit.data.Timeline` built from the recording's events, resampled to
the acquisition times (``model.resample``), z-scored and delayed per run, cross-validated leave
one run out, and scored on held-out runs beside a circular-shift null (the predictions of each
held-out time series shifted in time, which keeps their autocorrelation).
"""

import numpy as np
import pandas as pd

__all__ = ["timeline_from_recording", "fit_timeseries", "evaluate_timeseries"]


def timeline_from_recording(rec):
    """The Timeline of a time-series recording's events (``meta["events"]`` of ``load_fmri``)."""
    from neurotoolkit.data import Timeline

    events = rec.meta.get("events")
    if not events:
        raise ValueError(
            f"Invalid value for `data`: the time series of {rec.subject} has no events "
            "(meta['events']); the encode pipeline needs the events TSVs to place the stimuli in time.")
    table = pd.DataFrame(events)
    return Timeline.from_images(table["stim_id"].astype(str).tolist(), table["onset"].to_numpy(float),
                                table["duration"].to_numpy(float), runs=table["run"].tolist())


def fit_timeseries(train, spaces, timeline, cfg):
    """A delayed VoxelwiseEncoder fitted on the training runs (leave one run out for alphas)."""
    from neurotoolkit.encoding import VoxelwiseEncoder

    model = cfg.model
    features = spaces if len(spaces) > 1 else next(iter(spaces.values()))
    enc = VoxelwiseEncoder(features=features, alphas=model.alphas, cv="auto" if model.cv == "auto"
                           else model.cv, delays=model.delays, delay_unit=model.delay_unit,
                           trim=model.trim, resample=model.resample,
                           alpha_selection=model.alpha_selection, backend=model.backend,
                           device=model.device, random_state=cfg.random_state, verbose=None)
    return enc.fit(train, timeline=timeline)


def evaluate_timeseries(enc, test, timeline, cfg):
    """Per-unit scores on the held-out runs, their circular-shift null and the scored sample count."""
    from neurotoolkit.analysis import permutation_scores
    from neurotoolkit.encoding._timeseries import trim_mask, zscore_runs

    scores = enc.evaluate(test, timeline=timeline)
    runs = np.asarray(test.runs)
    keep = trim_mask(runs, *enc.trim_)  # the samples evaluate() scores
    pred = np.asarray(enc.predict(test, timeline=timeline))[keep]
    Y = zscore_runs(test.responses[keep], runs[keep])
    perm = permutation_scores(Y, pred, n_permutations=cfg.inference.n_permutations, kind="circular",
                              metric="correlation", random_state=cfg.random_state, verbose=False)
    return scores, perm, int(keep.sum())
