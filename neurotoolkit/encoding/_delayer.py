"""FIR delays for time-series encoding models (Card 2, "FIR delays").

A stimulus feature at time ``tau - d`` predicts the response at ``tau``:
``Delayer`` stacks copies of the features shifted by each delay, so a linear
model on the delayed design estimates one finite-impulse-response filter per
feature and target. Each run is delayed on its own: shifted rows never cross
run boundaries.
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from neurotoolkit._utils.validation import _raise, check_array, check_consistent_length

__all__ = ["Delayer"]


class Delayer(TransformerMixin, BaseEstimator):
    """Stack time-shifted copies of the features (FIR delays).

    ``transform(X)`` returns ``[S_{d_1} X | ... | S_{d_D} X]`` of shape
    (n_samples, n_delays * n_features), where ``(S_d X)[tau] = X[tau - d]``.
    For ``d > 0`` the first ``d`` rows of each run are zero; a negative delay
    shifts the features forward in time (the last ``|d|`` rows are zero); a
    delay of 0 keeps ``X`` as is. A delay with ``|d| >= n_samples`` of a run
    (or of ``X`` in :meth:`fit`) raises a ``ValueError``: it would shift every
    sample out of the run. Column ``k * n_features + j`` holds feature
    ``j`` at delay ``delays[k]``.

    Parameters
    ----------
    delays : sequence of int
        Delays in samples (TRs for fMRI). The default (1, 2, 3, 4) spans
        2-8 s at a TR of 2 s, which covers the peak of the haemodynamic
        response.

    Attributes
    ----------
    delays_ : ndarray of int, shape (n_delays,)
        The validated delays.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str, shape ``(n_features_in_,)``
        Column names, when ``fit`` was given a DataFrame with string columns.

    See Also
    --------
    neurotoolkit.encoding.RidgeCV, neurotoolkit.encoding.BandedRidgeCV

    Notes
    -----
    Pass the run label of every sample (``runs``) to :meth:`transform`, so
    that the end of one run never predicts the start of the next. In a
    scikit-learn pipeline, request it with
    ``Delayer().set_transform_request(runs=True)`` and enable metadata
    routing (``sklearn.set_config(enable_metadata_routing=True)``).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(6.0).reshape(6, 1)
    >>> Delayer(delays=[0, 1]).fit_transform(X, runs=[0, 0, 0, 1, 1, 1])[:, 1]
    array([0., 0., 1., 0., 3., 4.])
    """

    def __init__(self, delays=(1, 2, 3, 4)):
        self.delays = delays

    def fit(self, X, y=None):
        """Validate the delays and record the number of features.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Features.
        y : None
            Ignored.

        Returns
        -------
        self : Delayer
        """
        X = validate_data(self, X, reset=True, dtype="numeric", ensure_all_finite=False)
        delays = _check_delays(self.delays)
        _check_delays_fit_run(delays, X.shape[0], None)
        self.delays_ = delays
        return self

    def transform(self, X, runs=None):
        """Delay the features, each run separately.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
            Features, samples in time order within each run.
        runs : array-like, shape (n_samples,) | None
            Run label of each sample. The samples of one run, taken in the
            order they appear, form that run's time series. None treats all
            samples as one run.

        Returns
        -------
        X_delayed : ndarray, shape (n_samples, n_delays * n_features)
            Delayed features, same dtype as ``X`` (floats kept, others
            converted to float64).
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype="numeric", ensure_all_finite=False)
        X = check_array("X", X, ndim=2, allow_nan=True)
        n_samples, n_features = X.shape
        out = np.zeros((n_samples, len(self.delays_) * n_features), dtype=X.dtype)
        indices = _run_indices(runs, n_samples)
        for label, idx in indices:
            _check_delays_fit_run(self.delays_, len(idx), None if runs is None else label)
        for _, idx in indices:
            _delay_block(X[idx], self.delays_, out, idx, n_features)
        return out

    def fit_transform(self, X, y=None, runs=None):
        """Fit, then delay the features (see :meth:`transform`).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features)
        y : None
            Ignored.
        runs : array-like, shape (n_samples,) | None
            Run label of each sample.

        Returns
        -------
        X_delayed : ndarray, shape (n_samples, n_delays * n_features)
        """
        return self.fit(X).transform(X, runs=runs)

    def reshape_by_delays(self, coef):
        """Split the delayed axis of coefficients into (delay, feature).

        Parameters
        ----------
        coef : array-like, shape (n_delays * n_features,) or \
(n_delays * n_features, n_targets)
            Coefficients of a linear model fitted on the delayed design
            (``coef_`` of :class:`~neurotoolkit.encoding.RidgeCV`).

        Returns
        -------
        coef_by_delay : ndarray, shape (n_delays, n_features) or \
(n_delays, n_features, n_targets)
            ``coef_by_delay[k]`` holds the weights of delay ``delays_[k]``.
            Average (or sum) over axis 0 for maps.
        """
        check_is_fitted(self)
        coef = np.asarray(coef)
        n_rows = len(self.delays_) * self.n_features_in_
        if coef.ndim not in (1, 2) or coef.shape[0] != n_rows:
            _raise(
                "coef",
                f"an array with {n_rows} rows (n_delays {len(self.delays_)} x n_features "
                f"{self.n_features_in_})",
                f"shape {coef.shape}",
            )
        return coef.reshape((len(self.delays_), self.n_features_in_) + coef.shape[1:])

    def get_feature_names_out(self, input_features=None):
        """Names of the delayed features: ``"{feature}_delay{d}"``.

        Parameters
        ----------
        input_features : array-like of str | None
            Input names; None uses ``feature_names_in_`` or ``x0, x1, ...``.

        Returns
        -------
        names : ndarray of str, shape (n_delays * n_features,)
        """
        from sklearn.utils.validation import _check_feature_names_in

        check_is_fitted(self)
        names = _check_feature_names_in(self, input_features)
        names_out = [f"{name}_delay{d}" for d in self.delays_ for name in names]
        return np.asarray(names_out, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _check_delays(delays):
    """Validate ``delays`` as a non-empty 1-D sequence of distinct integers."""
    arr = np.atleast_1d(np.asarray(delays))
    expected = "a non-empty 1-D sequence of distinct integers (samples)"
    if arr.ndim != 1 or arr.size == 0:
        _raise("delays", expected, f"shape {arr.shape}")
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        _raise("delays", expected, f"{arr.tolist()!r}")
    if len(np.unique(arr)) != arr.size:
        _raise("delays", expected, f"repeated values in {arr.tolist()}")
    return arr.astype(np.int64)


def _check_delays_fit_run(delays, n_samples, run):
    """Raise when a delay shifts every sample of a run out of it (all-zero columns)."""
    too_long = delays[np.abs(delays) >= n_samples]
    if too_long.size:
        where = "" if run is None else f" in run {run!r}"
        _raise(
            "delays",
            f"delays shorter than the time series (|delay| < n_samples = {n_samples}{where})",
            f"{too_long.tolist()} among {delays.tolist()}, which would shift every sample out "
            "and give all-zero features",
            "Use shorter delays (in samples), or longer runs.",
        )


def _run_indices(runs, n_samples):
    """(label, row indices) of each run, in order of first appearance."""
    if runs is None:
        return [(None, np.arange(n_samples))]
    runs = np.asarray(runs)
    if runs.ndim != 1:
        _raise("runs", "a 1-D array of run labels, one per sample", f"shape {runs.shape}")
    check_consistent_length(X=np.empty(n_samples), runs=runs)
    labels, first, inverse = np.unique(runs, return_index=True, return_inverse=True)
    order = np.argsort(first)  # runs in order of appearance
    return [(labels[k].item() if hasattr(labels[k], "item") else labels[k],
             np.flatnonzero(inverse == k)) for k in order]


def _delay_block(X_run, delays, out, idx, n_features):
    """Write the delayed copies of one run into ``out[idx]``."""
    n = X_run.shape[0]
    block = np.zeros((n, len(delays) * n_features), dtype=out.dtype)
    for k, d in enumerate(delays):
        cols = slice(k * n_features, (k + 1) * n_features)
        if d >= 0:
            if d < n:
                block[d:, cols] = X_run[: n - d]
        elif -d < n:
            block[: n + d, cols] = X_run[-d:]
    out[idx] = block
