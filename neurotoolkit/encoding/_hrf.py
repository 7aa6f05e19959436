"""Fitted FIR (haemodynamic / temporal) responses of a time-series encoder.

With FIR delays, a unit's weights form an (n_features, n_delays) matrix:
one impulse response per feature. :class:`TemporalWeightsMixin` gives a
fitted :class:`VoxelwiseEncoder` these weights, a one-curve summary per unit
(the response over delays along the unit's preferred feature direction, the
first singular triplet of its weight matrix) and its peak latency.
"""

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from .._utils.validation import _raise, check_option
from ._timeseries import coef_matrix

__all__ = ["TemporalWeightsMixin"]


class TemporalWeightsMixin:
    """FIR weights, HRF profiles and peak latencies of a fitted time-series encoder."""

    def _check_temporal(self):
        check_is_fitted(self, "estimator_")
        if getattr(self, "mode_", "trials") != "timeseries":
            _raise("self", "an encoder fitted with delays (a time-series model)",
                   "a trial encoder, which has no temporal weights",
                   "Fit VoxelwiseEncoder(..., delays=[1, 2, 3, 4]) on a time-series recording.")

    def _unit_positions(self, units):
        if units is None:
            return np.arange(len(self.units_))
        names = [units] if isinstance(units, str) else list(units)
        index = self.units_.index
        if all(isinstance(u, str) for u in names):
            if all(u in index for u in names):
                return index.get_indexer(names)
            rois = self.units_["roi"].astype(str)
            if all(u in set(rois) for u in names):
                return np.flatnonzero(rois.isin(names).to_numpy())
            bad = [u for u in names if u not in index and u not in set(rois)]
            _raise("units", "unit names or ROI names of the fitted recording",
                   f"unknown {bad[:5]}")
        pos = np.asarray(names)
        if pos.dtype == bool:
            if len(pos) != len(index):
                _raise("units", f"a boolean mask of length {len(index)}", f"length {len(pos)}")
            return np.flatnonzero(pos)
        if pos.dtype.kind not in "iu" or (pos < 0).any() or (pos >= len(index)).any():
            _raise("units", f"unit names, ROI names, a mask or positions < {len(index)}",
                   f"{names[:5]}")
        return pos

    def temporal_weights(self, space=None):
        """FIR weights of every unit, feature and delay.

        Weights act on features z-scored within each run (the design the
        model was fitted on), for responses in z units when ``zscore_runs``.

        Parameters
        ----------
        space : str | None
            One feature space (a name in ``space_names_``); None concatenates
            all spaces along the feature axis, in ``space_names_`` order.

        Returns
        -------
        weights : ndarray, shape (n_units, n_features, n_delays)
            ``weights[u, j, k]``: unit ``u``, feature ``j``, delay
            ``delay_times_[k]`` seconds.
        """
        self._check_temporal()
        return _temporal_weights(self, space)

    def hrf(self, space=None, units=None):
        """Fitted response over delays of each unit along its preferred features.

        Each unit's (n_features, n_delays) weight matrix is reduced to its
        first singular triplet ``s u h^T``; the profile is ``s h``: the
        response over delays to a unit-norm feature pattern ``u`` (the unit's
        preferred direction), signed so that its largest absolute value is
        positive. For one feature this is the FIR estimate itself.

        Parameters
        ----------
        space : str | None
            Feature space whose weights are used; None uses all spaces.
        units : str | sequence of str | mask | sequence of int | None
            Unit names, ROI names, a boolean mask or positions; None: all.

        Returns
        -------
        profiles : pandas.DataFrame, shape (n_units, n_delays)
            Index: unit names; columns: delays in seconds.
        """
        self._check_temporal()
        pos = self._unit_positions(units)
        profiles = hrf_profiles(_temporal_weights(self, space)[pos])
        return pd.DataFrame(profiles, index=self.units_.index[pos],
                            columns=pd.Index(np.round(self.delay_times_, 9), name="delay (s)"))

    def peak_latencies(self, space=None, units=None, interpolate=True):
        """Latency (s) of the peak of each unit's :meth:`hrf` profile.

        Parameters
        ----------
        space, units
            As in :meth:`hrf`.
        interpolate : bool
            Refine the peak between delays with a parabola through the
            maximum and its two neighbours (equally spaced delays); False
            returns the delay of the maximum.

        Returns
        -------
        latencies : pandas.Series, shape (n_units,)
        """
        profiles = self.hrf(space=space, units=units)
        lat = peak_latencies(profiles.to_numpy(), self.delay_times_, interpolate=interpolate)
        return pd.Series(lat, index=profiles.index, name="peak_latency")

    def plot_hrf(self, units=None, space=None, by="roi", ax=None, **kwargs):
        """Plot fitted HRF profiles (:meth:`hrf`) with :func:`neurotoolkit.viz.plot_hrf`.

        Parameters
        ----------
        units, space
            As in :meth:`hrf`.
        by : str | None
            Unit column to group by (mean and standard error per group);
            None draws one line per unit.
        ax : matplotlib Axes | None
        **kwargs
            Passed to :func:`~neurotoolkit.viz.plot_hrf`.

        Returns
        -------
        fig : matplotlib Figure
        """
        from ..viz import plot_hrf

        profiles = self.hrf(space=space, units=units)
        groups = None
        if by is not None:
            check_option("by", by, list(self.units_.columns))
            groups = self.units_.loc[profiles.index, by].to_numpy()
        return plot_hrf(profiles, groups=groups, ax=ax, **kwargs)


def hrf_profiles(weights):
    """Rank-1 delay profile per unit from (n_units, n_features, n_delays) weights.

    Each unit's (n_features, n_delays) weight matrix ``W`` is approximated
    by ``s u h^T`` (its first singular triplet): ``u`` is the unit's preferred
    feature direction, ``s h`` (n_delays,) the response over delays to a unit
    step along it, signed so that its largest absolute value is positive.
    """
    W = np.asarray(weights, dtype=np.float64)
    out = np.zeros((W.shape[0], W.shape[2]))
    for k in range(W.shape[0]):
        _, s, vt = np.linalg.svd(W[k], full_matrices=False)
        h = s[0] * vt[0]
        out[k] = h if h[np.argmax(np.abs(h))] >= 0 else -h
    return out


def peak_latencies(profiles, times, interpolate=True):
    """Latency of each profile's maximum (parabolic interpolation between delays)."""
    P = np.asarray(profiles, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    k = np.argmax(P, axis=1)
    lat = times[k].copy()
    if not interpolate or len(times) < 3:
        return lat
    step = np.diff(times)
    inner = (k > 0) & (k < len(times) - 1)
    for i in np.flatnonzero(inner):
        j = k[i]
        if not np.isclose(step[j - 1], step[j]):
            continue
        a, b, c = P[i, j - 1], P[i, j], P[i, j + 1]
        den = a - 2 * b + c
        if den < 0:
            lat[i] = times[j] + 0.5 * (a - c) / den * step[j]
    return lat


def _temporal_weights(enc, space=None):
    """(n_units, n_features, n_delays) weights of one space (None: all, concatenated)."""
    coef = coef_matrix(enc.estimator_)
    D = len(enc.delays_)
    parts, start = {}, 0
    for name in enc.space_names_:
        p = enc.n_features_per_space_[name]
        block = coef[start:start + D * p].reshape(D, p, -1)
        parts[name] = np.transpose(block, (2, 1, 0))
        start += D * p
    if space is None:
        return np.concatenate([parts[n] for n in enc.space_names_], axis=1)
    check_option("space", space, enc.space_names_)
    return parts[space]
