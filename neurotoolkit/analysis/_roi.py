"""Summaries of per-unit results by ROI."""

import pandas as pd

from .._utils.validation import check_type

__all__ = ["roi_summary"]


def roi_summary(scores, by="roi", columns=None, quantiles=(0.5, 0.9)):
    """Summarize per-unit scores within each ROI (or any grouping column).

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per unit, with a ``by`` column and numeric score columns
        (as returned by ``VoxelwiseEncoder.score``).
    by : str | list of str
        Grouping column(s), e.g. "roi" or ["subject", "roi"].
    columns : list of str | None
        Score columns to summarize; None takes every numeric column.
    quantiles : tuple of float
        Quantiles reported besides the mean.

    Returns
    -------
    summary : pandas.DataFrame
        One row per group: ``n_units`` and, for each column, ``<col>_mean``
        and ``<col>_q<100*q>``.
    """
    check_type("scores", scores, pd.DataFrame)
    keys = [by] if isinstance(by, str) else list(by)
    missing = [k for k in keys if k not in scores.columns]
    if missing:
        raise ValueError(
            f"Invalid value for `by`: column(s) {missing} not in `scores`; it has "
            f"{list(scores.columns)}."
        )
    if columns is None:
        columns = [c for c in scores.columns
                   if c not in keys and pd.api.types.is_numeric_dtype(scores[c])
                   and not pd.api.types.is_bool_dtype(scores[c])]
    grouped = scores.groupby(keys, sort=True, observed=True)
    out = grouped.size().rename("n_units").to_frame()
    for col in columns:
        out[f"{col}_mean"] = grouped[col].mean()
        for q in quantiles:
            out[f"{col}_q{int(round(100 * q))}"] = grouped[col].quantile(q)
    return out.reset_index()
