"""Science core of the ``rsa`` pipeline: pure functions over loaded objects.

Brain RDMs per ROI (from recordings: one RDM per subject over the stimuli all
subjects saw; or given, e.g. the human IT RDMs of the 92 objects), model RDMs
from feature spaces, and their comparison with a bootstrap over conditions
and subjects, a condition-label permutation test and the noise ceiling
(Nili et al., 2014, PLoS Comput. Biol.).
"""

import numpy as np
import pandas as pd

__all__ = []


def common_stimuli(recordings):
    """Stimulus ids every recording has (order of the first recording)."""
    first = pd.unique(np.asarray(recordings[0].stimulus_ids).astype(str))
    shared = set(first)
    for rec in recordings[1:]:
        shared &= set(np.asarray(rec.stimulus_ids).astype(str))
    ids = [s for s in first if s and s in shared]
    if len(ids) < 3:
        raise ValueError(f"Invalid data for `data`: RSA needs at least 3 stimuli shared by all "
                         f"subjects, got {len(ids)}.")
    return ids


def brain_rdms(recordings, ids, rois=None, metric="correlation"):
    """One RDM per subject and ROI over ``ids`` (trials of a stimulus averaged).

    Parameters
    ----------
    recordings : list of Recording
    ids : list of str
    rois : list of str | None
        None: every ROI the first recording has.
    metric : str
        Of :func:`neurotoolkit.analysis.rdm`.

    Returns
    -------
    rdms : dict
        ROI -> array (n_subjects, n_pairs).
    """
    from ..analysis import rdm

    rois = list(recordings[0].rois) if rois is None else list(rois)
    out = {}
    for roi in rois:
        stack = []
        for rec in recordings:
            if roi not in rec.rois:
                raise ValueError(f"Invalid value for `rsa.rois`: {rec.subject} has no ROI "
                                 f"{roi!r} (it has {rec.rois}).")
            avg = rec.select(roi=roi).average_repeats()
            pos = pd.Series(np.arange(avg.n_trials), index=np.asarray(avg.stimulus_ids).astype(str))
            stack.append(rdm(avg.responses[pos.loc[ids].to_numpy()], metric=metric))
        out[roi] = np.stack(stack)
    return out


def model_rdms(spaces, ids, metric="correlation"):
    """Model RDM (n_pairs,) of each feature space over ``ids``.

    ``metric``: one name, or a dict space name -> name (e.g. "euclidean" for
    binary category codes, whose all-zero rows have no correlation distance).
    """
    from ..analysis import rdm

    out = {}
    for name, space in spaces.items():
        values = np.asarray(space.for_ids(list(ids)), dtype=np.float64)
        m = metric.get(name, "correlation") if isinstance(metric, dict) else metric
        out[name] = rdm(values.reshape(len(ids), -1), metric=m)
    return out


def compare_models(models, data, method="spearman", n_bootstraps=1000, n_permutations=1000,
                   random_state=0):
    """Score every model RDM against the subjects' RDMs of one ROI.

    Parameters
    ----------
    models : dict of str -> array (n_pairs,)
    data : array, shape (n_subjects, n_pairs)
    method : str
        Of :func:`neurotoolkit.analysis.compare_rdms`.
    n_bootstraps, n_permutations : int
        Bootstrap resamples (conditions, and subjects when there are 2 or
        more) and condition-label permutations per model.
    random_state : int

    Returns
    -------
    table : pandas.DataFrame
        One row per model: ``model, score`` (mean similarity over subjects),
        ``se, ci_low, ci_high`` (bootstrap), ``null_mean, null_q95,
        p_permutation`` (condition-label permutations), ``nc_lower,
        nc_upper`` (noise ceiling), ``fraction_of_ceiling`` (score /
        lower bound).
    pairs : pandas.DataFrame
        Pairwise model differences (paired bootstrap, FDR-corrected).
    """
    from ..analysis import bootstrap_rdm_comparison, rdm_permutation_test

    data = np.asarray(data, dtype=np.float64)
    resample = "both" if data.shape[0] >= 2 else "conditions"
    boot = bootstrap_rdm_comparison(models, data, method=method, n_bootstraps=n_bootstraps,
                                    resample=resample, random_state=random_state, verbose=False)
    table = boot.to_frame().rename(columns={"p_value": "p_bootstrap"})
    nulls = []
    for k, model in enumerate(models.values()):
        _, null, p = rdm_permutation_test(model, data, method=method, n_permutations=n_permutations,
                                          random_state=random_state + k, verbose=False)
        nulls.append(dict(null_mean=float(null.mean()), null_q95=float(np.quantile(null, 0.95)),
                          p_permutation=p))
    table = pd.concat([table, pd.DataFrame(nulls)], axis=1)
    nc = boot.noise_ceiling
    table["nc_lower"] = np.nan if nc is None else nc.lower
    table["nc_upper"] = np.nan if nc is None else nc.upper
    table["fraction_of_ceiling"] = table["score"] / table["nc_lower"]
    table["n_subjects"] = data.shape[0]
    table["method"] = method
    pairs = boot.compare() if len(models) > 1 else pd.DataFrame()
    return table, pairs


def plot_rsa(table, method="spearman"):
    """Bars of model scores per ROI (95 % bootstrap CI), noise ceiling as a grey band."""
    import matplotlib.pyplot as plt

    rois = list(dict.fromkeys(table["roi"]))
    fig, axes = plt.subplots(1, len(rois), figsize=(max(4, 0.7 * table["model"].nunique() + 2)
                                                    * len(rois), 3.6), squeeze=False)
    for ax, roi in zip(axes[0], rois):
        sub = table[table["roi"] == roi].reset_index(drop=True)
        x = np.arange(len(sub))
        if np.isfinite(sub["nc_lower"].iloc[0]):
            ax.axhspan(sub["nc_lower"].iloc[0], sub["nc_upper"].iloc[0], color="0.85",
                       label="noise ceiling")
        ax.bar(x, sub["score"], color="C0", yerr=[sub["score"] - sub["ci_low"],
                                                   sub["ci_high"] - sub["score"]], capsize=3)
        ax.plot(x, sub["null_q95"], "_", color="k", ms=14, label="permutation 95%")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, sub["model"], rotation=45, ha="right", fontsize=7)
        ax.set_title(roi)
        ax.set_ylabel(f"{method} similarity to brain RDMs")
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
