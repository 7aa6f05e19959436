"""The multimodal-integration test (Subramaniam et al., ICML 2024).

Per electrode and time bin, under each event alignment: ridge encoding scores
of every feature space with paired bootstrap distributions (the same
resampled events for every model); bins kept where the multimodal model's
lower confidence bound is above 0; paired differences of the multimodal model
against every unimodal and linearly-integrated comparator, Benjamini-Hochberg
across (electrode, bin) units; an electrode *wins* under an alignment when at
least ``min_bins`` kept bins beat every comparator; a *multimodal site* wins
under every alignment.

Reference: Subramaniam V, Conwell C, Wang C, Kreiman G, Katz B, Cases I,
Barbu A (2024). Revealing vision-language integration in the brain with
multimodal networks. ICML.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.logging import logger
from .._utils.logging import verbose as verbose_decorator
from .._utils.random import check_random_state
from .._utils.validation import check_fraction, check_int
from ._inference import bootstrap_encoding_scores, bootstrap_indices
from ._multiple_comparisons import fdr_bh

__all__ = ["MultimodalResult", "multimodal_integration_test"]


@dataclass
class MultimodalResult:
    """Result of :func:`multimodal_integration_test`.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per (alignment, unit, model): unit columns, ``alignment``,
        ``model``, ``score``, ``ci_low``, ``ci_high``, ``se``, ``p_value``,
        ``p_adjusted``, ``significant``.
    comparisons : pandas.DataFrame
        One row per (alignment, unit, comparison): ``model_a`` (the multimodal
        model), ``model_b``, ``difference``, its CI, ``p_value``, ``p_adjusted``
        (BH across units), ``significant``, ``kept`` (lower CI of the
        multimodal score > 0).
    sites : pandas.DataFrame
        One row per electrode: ``n_bins_<alignment>`` (kept bins beating every
        comparator), ``wins_<alignment>``, ``multimodal`` (wins under every
        alignment), ``beats_controls_<alignment>`` (bins where the multimodal
        model beats the control models), and position columns when known.
    bootstraps : dict of str -> BootstrapScores
        Per alignment, the paired bootstrap (with its ``indices``).
    """

    scores: pd.DataFrame
    comparisons: pd.DataFrame
    sites: pd.DataFrame
    bootstraps: dict
    params: dict = field(default_factory=dict)

    @property
    def n_multimodal(self):
        """int: number of multimodal sites."""
        return int(self.sites["multimodal"].sum())

    @property
    def fraction_multimodal(self):
        """float: fraction of electrodes that are multimodal sites."""
        return self.n_multimodal / len(self.sites)

    def __repr__(self):
        return (f"MultimodalResult({self.n_multimodal} of {len(self.sites)} sites multimodal "
                f"({100 * self.fraction_multimodal:.1f} %), alignments "
                f"{list(self.bootstraps)}, q={self.params.get('q')})")

    def plot_sites(self, **kwargs):
        """Electrodes on a glass brain, multimodal sites highlighted (see
        :func:`neurotoolkit.viz.plot_sites`)."""
        from ..viz import plot_sites

        return plot_sites(self.sites, **kwargs)

    def plot_scores(self, channel, **kwargs):
        """Per-bin score curves with CIs for one electrode (see
        :func:`neurotoolkit.viz.plot_score_curves`)."""
        from ..viz import plot_score_curves

        return plot_score_curves(self.scores, channel=channel, **kwargs)


def _check_inputs(recordings, features, multimodal, comparators, controls, channel_col):
    if not isinstance(recordings, dict) or not recordings:
        raise ValueError("Invalid value for `recordings`: expected a dict alignment -> Recording "
                         f"(e.g. {{'language': rec_lang, 'vision': rec_vis}}), got "
                         f"{type(recordings).__name__}.")
    if not isinstance(features, dict) or set(features) != set(recordings):
        got = sorted(features) if isinstance(features, dict) else type(features).__name__
        raise ValueError(f"Invalid value for `features`: expected a dict with the alignments of "
                         f"`recordings` {sorted(recordings)} as keys, got {got}.")
    needed = [multimodal, *comparators, *controls]
    for align, feats in features.items():
        missing = [m for m in needed if m not in feats]
        if missing:
            raise ValueError(f"Invalid value for `features[{align!r}]`: expected feature spaces "
                             f"{needed}, got {sorted(feats)} (missing {missing}).")
        rec = recordings[align]
        if channel_col not in rec.units.columns:
            raise ValueError(f"Invalid value for `recordings[{align!r}]`: expected a units table "
                             f"with a {channel_col!r} column (electrode of each (electrode, bin) "
                             f"unit), got columns {list(rec.units.columns)}.")
    units = [tuple(r.units.index) for r in recordings.values()]
    if len(set(units)) != 1:
        raise ValueError("Invalid value for `recordings`: expected the same units (electrode, bin) "
                         "in every alignment, got different unit tables.")


@fill_doc
@verbose_decorator
def multimodal_integration_test(recordings, features, multimodal="multimodal",
                                comparators=("image", "text", "concat"), controls=("random",),
                                n_bootstraps=1000, q=0.05, min_bins=10, level=0.95, cv=5,
                                alphas=None, channel_col="channel", random_state=None,
                                verbose=None):
    """Call multimodal sites: electrodes where a multimodal model beats unimodal and linearly
    integrated models under every event alignment.

    Parameters
    ----------
    recordings : dict of str -> Recording
        One Recording per event alignment (e.g. ``"language"``: word onsets,
        ``"vision"``: scene cuts), units = (electrode, bin) pairs with the
        electrode in ``units[channel_col]``; the same units in each.
    features : dict of str -> dict of str -> array (n_events, n_features)
        Per alignment, the feature spaces by name (rows = events of that
        alignment's Recording).
    multimodal : str
        Name of the multimodal feature space.
    comparators : tuple of str
        Spaces the multimodal model must beat (unimodal image, unimodal text,
        their concatenation).
    controls : tuple of str
        Spaces reported against (e.g. random-initialisation controls), not
        required for the verdict.
    n_bootstraps : int
        Paired resamples of the events (drawn once per alignment, reused for
        every model).
    q : float
        Benjamini-Hochberg FDR level across (electrode, bin) units, per
        comparison and alignment.
    min_bins : int
        Kept bins that must beat every comparator for an electrode to win
        under an alignment (Subramaniam et al.: 10 of 161).
    level : float
        Confidence level of the intervals (bins kept when the multimodal
        lower bound is > 0).
    cv : int
        Contiguous outer folds of the ridge encoders.
    alphas : array | None
        Ridge penalty grid (Subramaniam et al.: ``np.logspace(-1, 5, 7)``).
    channel_col : str
        Units column naming the electrode.
    %(random_state)s
    %(verbose)s

    Returns
    -------
    result : MultimodalResult
    """
    comparators, controls = tuple(comparators), tuple(controls)
    _check_inputs(recordings, features, multimodal, comparators, controls, channel_col)
    q = check_fraction("q", q, inclusive=(False, False))
    min_bins = check_int("min_bins", min_bins, min_value=1)
    rng = check_random_state(random_state)
    scores, comps, boots = [], [], {}
    site_cols = {}
    for align, rec in recordings.items():
        logger.info("multimodal test: alignment %r", align)
        idx = bootstrap_indices(rec.responses.shape[0], n_bootstraps, random_state=rng)
        models = [multimodal, *comparators, *controls]
        bs = bootstrap_encoding_scores({m: features[align][m] for m in models}, rec, indices=idx,
                                       cv=cv, alphas=alphas, verbose=verbose)
        boots[align] = bs
        table = bs.to_frame(level=level, q=q)
        table.insert(0, "alignment", align)
        scores.append(table)
        lo, _ = bs.ci(level)
        kept = lo[bs.model_names.index(multimodal)] > 0
        comp = bs.compare([(multimodal, c) for c in (*comparators, *controls)], level=level,
                          correction=None)
        comp.insert(0, "alignment", align)
        comp["kept"] = np.tile(kept, len(comparators) + len(controls))
        # BH across units, per comparison; untested (not kept) bins count as tests too
        for c in (*comparators, *controls):
            sel = (comp["model_b"] == c).to_numpy()
            reject, adj = fdr_bh(comp.loc[sel, "p_value"].to_numpy(), q)
            comp.loc[sel, "p_adjusted"] = adj
            comp.loc[sel, "significant"] = reject
        comps.append(comp)
        wins = comp[comp["model_b"].isin(comparators)].pivot_table(
            index="unit", columns="model_b", values="significant", aggfunc="first",
            sort=False).all(axis=1)
        wins = wins.reindex(rec.units.index).to_numpy() & kept
        per_el = pd.Series(wins, index=rec.units.index).groupby(
            rec.units[channel_col].to_numpy(), sort=False).sum()
        site_cols[f"n_bins_{align}"] = per_el
        site_cols[f"wins_{align}"] = per_el >= min_bins
        if controls:
            beats = comp[comp["model_b"].isin(controls)].pivot_table(
                index="unit", columns="model_b", values="significant", aggfunc="first",
                sort=False).all(axis=1).reindex(rec.units.index).to_numpy() & kept
            site_cols[f"beats_controls_{align}"] = pd.Series(beats, index=rec.units.index).groupby(
                rec.units[channel_col].to_numpy(), sort=False).sum()
    sites = pd.DataFrame(site_cols)
    sites.index.name = channel_col
    sites["multimodal"] = sites[[f"wins_{a}" for a in recordings]].all(axis=1)
    first = next(iter(recordings.values())).units
    pos = [c for c in ("x", "y", "z", "roi", "hemisphere") if c in first.columns]
    if pos:
        sites = sites.join(first.groupby(channel_col, sort=False)[pos].first())
    params = dict(multimodal=multimodal, comparators=comparators, controls=controls, q=q,
                  min_bins=min_bins, level=level, n_bootstraps=n_bootstraps, cv=cv)
    return MultimodalResult(pd.concat(scores, ignore_index=True),
                            pd.concat(comps, ignore_index=True), sites, boots, params)
