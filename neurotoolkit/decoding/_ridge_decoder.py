"""Per-subject ridge decoder: responses -> stimulus embeddings (Brain-Diffuser / MindEye baseline).

The encoding engine (:func:`neurotoolkit._ridge.solve_ridge_cv`) run in the
decoding direction: X holds the responses (voxels, electrodes, or
(channel, time-window) units), Y the embedding dimensions. With more units
than training samples (the usual fMRI case) the engine picks its dual
(kernel) form, whose cost grows with n_samples, not n_units.
"""

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._ridge import solve_ridge_cv
from .._ridge._scores import SCORINGS, score_predictions
from .._utils.docs import fill_doc
from .._utils.logging import logger, warn
from .._utils.logging import verbose as verbose_decorator
from .._utils.validation import _raise, check_array, check_option, check_type, describe

__all__ = ["RidgeDecoder", "paired_responses"]


def _scale(values):
    """Population standard deviation per column, 1 where it is 0 (constant columns)."""
    sd = values.std(axis=0, dtype=np.float64)
    return np.where(sd > 0, sd, 1.0)


def _numeric(Y):
    """Object arrays of numbers (e.g. from pandas) as float64; anything else unchanged."""
    Y = np.asarray(Y)
    if Y.dtype == object:
        try:
            return Y.astype(np.float64)
        except (TypeError, ValueError):
            _raise("Y", "numeric embeddings", describe(Y), exc=TypeError)
    return Y


@fill_doc
class RidgeDecoder(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Ridge decoder from responses to stimulus embeddings, one subject.

    The Brain-Diffuser / MindEye ridge baseline: z-score the responses with
    the training statistics, then one multi-target ridge regression to all
    embedding dimensions, with a single penalty chosen by cross-validation
    (the mean CV score over dimensions), or one penalty per dimension.

    Parameters
    ----------
    alphas : array, shape (n_alphas,) | None
        Positive penalties; None gives 25 log-spaced values over
        [1e-4, 1e4] times the mean squared singular value of the
        (standardized) responses.
    cv : int | "runs" | splitter | iterable of (train, test)
        Folds of the alpha search. An int gives contiguous, unshuffled
        blocks; "runs" needs ``groups`` in :meth:`fit`.
    standardize : bool
        Z-score each unit with the mean and standard deviation of the
        training responses (constant units are centred only). The
        statistics are those of all of ``fit``'s samples, also inside the
        alpha search.
    restandardize : bool
        Brain-Diffuser's test-time re-standardization in :meth:`predict`:
        z-score each predicted dimension across the rows being predicted,
        then rescale it to the training target mean and standard deviation.
        This is *transductive* (a prediction depends on the other test
        rows) and inflates scores that are sensitive to scale; off by
        default, and any result that uses it should say so.
    alpha_selection : "shared" | "best" | "1se"
        "shared" (default): one alpha for all dimensions, the argmax of the
        CV score averaged over dimensions (as Brain-Diffuser's multi-target
        ridge). "best": each dimension its own alpha; "1se": each dimension
        the largest alpha within one fold standard deviation of its best.
    alpha_per_target : bool | None
        Deprecated, use ``alpha_selection`` ("best" for True, "shared" for
        False); it will be removed in the next release.
    scoring : "r2" | "correlation" | "neg_mse"
        CV score used to choose the alpha(s).
    %(backend)s
    %(device)s
    dtype : "float32" | "float64"
        Working precision of the large products (decompositions in float64).
    %(memory_budget)s
    %(verbose)s

    Attributes
    ----------
    coef_ : ndarray, shape (n_units, n_dims) | None
        Weights on the *standardized* responses (None when the dual form was
        used and the weights exceed half the memory budget or 1 GiB; the
        predictions then go through the kernel).
    dual_coef_ : ndarray, shape (n_samples, n_dims) | None
        Dual coefficients (dual form).
    intercept_ : ndarray, shape (n_dims,)
    best_alphas_ : ndarray, shape (n_dims,)
        The chosen penalty of each (flattened) dimension, always an array
        (one value, repeated, with ``alpha_selection="shared"``).
    alpha_selection_ : "shared" | "best" | "1se"
        The selection used (``alpha_selection``, or its value from the
        deprecated ``alpha_per_target``).
    alpha_ : float | ndarray, shape (n_dims,)
        Deprecated, use ``best_alphas_``.
    cv_scores_ : ndarray, shape (n_alphas, n_dims)
        Mean CV score of every alpha and dimension.
    alphas_ : ndarray, shape (n_alphas,)
    x_mean_, x_scale_ : ndarray, shape (n_units,)
        Training statistics of the responses (zeros and ones without
        ``standardize``).
    y_mean_, y_scale_ : ndarray, shape (n_dims,)
        Training mean and standard deviation of each embedding dimension.
    target_shape_ : tuple
        Shape of one target, e.g. ``(n_dims,)`` or ``(n_tokens, dim)``;
        predictions are reshaped to ``(n_samples, *target_shape_)``.
    solver_ : "primal" | "dual"
    results_ : RidgeCVResults
    n_features_in_ : int

    Notes
    -----
    ``predict(X) = ((X - x_mean_) / x_scale_) @ coef_ + intercept_``.
    :meth:`score` is scikit-learn's R^2 (uniform average over the flattened
    dimensions); :meth:`score_targets` gives one score per dimension
    (``scoring="correlation"`` for Pearson r); use :func:`retrieval_accuracy`
    and :func:`two_way_identification` for the field's evaluation.

    References
    ----------
    Ozcelik & VanRullen (2023). Natural scene reconstruction from fMRI signals
    using generative latent diffusion. Scientific Reports 13, 15666.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 200))          # 60 stimuli x 200 voxels
    >>> Y = X[:, :10] @ rng.standard_normal((10, 16))  # 16-D embeddings
    >>> decoder = RidgeDecoder(cv=3).fit(X, Y)
    >>> decoder.predict(X[:4]).shape, decoder.solver_
    ((4, 16), 'dual')
    """

    def __init__(self, alphas=None, cv=5, standardize=True, restandardize=False,
                 alpha_selection="shared", alpha_per_target=None, scoring="r2", backend="auto",
                 device="auto", dtype="float32", memory_budget=None, verbose=None):
        self.alphas = alphas
        self.cv = cv
        self.standardize = standardize
        self.restandardize = restandardize
        self.alpha_selection = alpha_selection
        self.alpha_per_target = alpha_per_target
        self.scoring = scoring
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.memory_budget = memory_budget
        self.verbose = verbose

    @fill_doc
    @verbose_decorator
    def fit(self, X, Y, groups=None, verbose=None):
        """Standardize the responses and fit the ridge decoder.

        Parameters
        ----------
        X : array, shape (n_samples, n_units)
            Responses (e.g. repeat-averaged betas), one row per stimulus.
        Y : array, shape (n_samples, n_dims) | (n_samples, n_tokens, dim) | (n_samples,)
            Embeddings of the same stimuli; token axes are flattened for the
            fit and restored by :meth:`predict`.
        groups : array, shape (n_samples,) | None
            Run labels, for ``cv="runs"``.
        %(verbose)s

        Returns
        -------
        self : RidgeDecoder
        """
        check_type("standardize", self.standardize, bool)
        check_type("restandardize", self.restandardize, bool)
        alpha_selection = self._alpha_selection()
        if Y is None:
            _raise("Y", "an array of embeddings (n_samples, n_dims)", "None",
                   "RidgeDecoder requires y to be passed, but the target y is None.")
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        Y = check_array("Y", _numeric(Y), ndim=(1, 2, 3))
        if Y.shape[0] != X.shape[0]:
            _raise("Y", f"one row per row of `X` ({X.shape[0]} samples)",
                   f"{Y.shape[0]} rows (shape {Y.shape})")
        self.target_shape_ = Y.shape[1:]
        Y2 = Y.reshape(Y.shape[0], -1)
        if self.standardize:
            self.x_mean_ = X.mean(axis=0, dtype=np.float64)
            self.x_scale_ = _scale(X)
            Xs = self._transform(X)
        else:
            self.x_mean_ = np.zeros(X.shape[1])
            self.x_scale_ = np.ones(X.shape[1])
            Xs = X
        self.y_mean_ = Y2.mean(axis=0, dtype=np.float64)
        self.y_scale_ = _scale(Y2)
        res = solve_ridge_cv(
            Xs, Y2, self.alphas, self.cv, groups=groups, fit_intercept=True, scoring=self.scoring,
            solver="auto", alpha_selection=alpha_selection,
            backend=self.backend, device=self.device, dtype=self.dtype,
            memory_budget=self.memory_budget, return_weights="auto",
        )
        self.results_ = res
        self.alphas_ = res.alphas
        self.cv_scores_ = res.cv_scores
        self.solver_ = res.solver
        self.coef_ = res.coef
        self.dual_coef_ = res.dual_coef
        self.intercept_ = res.intercept
        self.best_alphas_ = res.best_alphas
        self.alpha_selection_ = alpha_selection
        if res.coef is None:  # dual form, weights too large: keep the centred design
            self.X_fit_ = Xs - res.x_mean
        logger.info("RidgeDecoder: %d samples x %d units -> %d dims, %s form, alpha %s",
                    X.shape[0], X.shape[1], Y2.shape[1], res.solver,
                    f"{res.best_alphas[0]:.4g}" if alpha_selection == "shared" else "per target")
        return self

    def _alpha_selection(self):
        """``alpha_selection``, or its value from the deprecated ``alpha_per_target``."""
        check_option("alpha_selection", self.alpha_selection, ("shared", "best", "1se"))
        if self.alpha_per_target is None:
            return self.alpha_selection
        check_type("alpha_per_target", self.alpha_per_target, bool)
        mapped = "best" if self.alpha_per_target else "shared"
        warn(f"`alpha_per_target` is deprecated and will be removed in the next release: "
             f"use alpha_selection={mapped!r} instead of alpha_per_target="
             f"{self.alpha_per_target}.", FutureWarning)
        if self.alpha_selection not in ("shared", mapped):
            _raise("alpha_per_target", f"None when `alpha_selection` is given (it replaces it)",
                   f"alpha_per_target={self.alpha_per_target} with "
                   f"alpha_selection={self.alpha_selection!r}",
                   "Pass only alpha_selection.")
        return mapped

    @property
    def alpha_(self):
        """Deprecated: the chosen penalty, a float (shared) or an array (n_dims,).

        Use ``best_alphas_``, always an array of shape (n_dims,).
        """
        check_is_fitted(self, "best_alphas_")
        warn("`alpha_` is deprecated and will be removed in the next release: use "
             "`best_alphas_` (an array of shape (n_dims,), one value repeated when the alpha "
             "is shared).", FutureWarning)
        if self.alpha_selection_ == "shared":
            return float(self.best_alphas_[0])
        return self.best_alphas_

    def _transform(self, X):
        return (X - self.x_mean_.astype(X.dtype)) / self.x_scale_.astype(X.dtype)

    def predict(self, X, restandardize=None):
        """Decode embeddings from responses.

        Parameters
        ----------
        X : array, shape (n_samples, n_units)
        restandardize : bool | None
            Override of the ``restandardize`` parameter for this call.
            True needs at least 2 rows (statistics are taken across them).

        Returns
        -------
        Y_pred : ndarray, shape ``(n_samples, *target_shape_)``
        """
        check_is_fitted(self, "intercept_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        restandardize = self.restandardize if restandardize is None else restandardize
        check_type("restandardize", restandardize, bool)
        Xs = self._transform(X) if self.standardize else X
        if self.coef_ is not None:
            out = Xs @ self.coef_.astype(Xs.dtype, copy=False)
        else:  # intercept_ = y_mean - x_mean Xc^T C, so the uncentred kernel is right
            K = Xs @ self.X_fit_.T.astype(Xs.dtype, copy=False)
            out = K @ self.dual_coef_.astype(Xs.dtype, copy=False)
        out = out + self.intercept_.astype(out.dtype)
        if restandardize:
            if out.shape[0] < 2:
                _raise("X", "at least 2 rows with restandardize=True (each dimension is "
                       "z-scored across the predicted rows)", f"{out.shape[0]} row")
            mu = out.mean(axis=0, dtype=np.float64)
            out = (out - mu) / _scale(out) * self.y_scale_ + self.y_mean_
        return out.reshape((out.shape[0],) + tuple(self.target_shape_))

    def _pair(self, X, y):
        """Flattened (n_samples, n_dims) true and decoded embeddings, shapes checked."""
        pred = self.predict(X)
        y = check_array("y", _numeric(y), ndim=(1, 2, 3))
        if y.shape != pred.shape:
            _raise("y", f"shape {pred.shape} (the decoded embeddings)", f"shape {y.shape}")
        n = y.shape[0]
        return y.reshape(n, -1), pred.reshape(n, -1)

    def score_targets(self, X, y, scoring=None):
        """Held-out score of each (flattened) embedding dimension.

        Parameters
        ----------
        X : array, shape (n_samples, n_units)
        y : array, shape ``(n_samples, *target_shape_)``
            True embeddings.
        scoring : "r2" | "correlation" | "neg_mse" | None
            None gives Pearson r (as before) with a FutureWarning: the default
            becomes "r2" in the next release, as in
            :meth:`neurotoolkit.encoding.RidgeCV.score_targets`.

        Returns
        -------
        scores : ndarray, shape (n_dims,)
        """
        if scoring is None:
            warn("The default `scoring` of RidgeDecoder.score_targets changes from "
                 "'correlation' to 'r2' in the next release: pass scoring='correlation' to "
                 "keep Pearson r.", FutureWarning)
            scoring = "correlation"
        check_option("scoring", scoring, SCORINGS)
        y, pred = self._pair(X, y)
        return np.asarray(score_predictions(y, pred, scoring))

    def score(self, X, y, sample_weight=None):
        """R^2 of the decoded embeddings, averaged over dimensions (scikit-learn's meaning).

        Parameters
        ----------
        X : array, shape (n_samples, n_units)
        y : array, shape ``(n_samples, *target_shape_)``
            True embeddings (token axes are flattened into dimensions).
        sample_weight : array, shape (n_samples,) | None

        Returns
        -------
        r2 : float
            ``sklearn.metrics.r2_score`` with ``multioutput="uniform_average"``.
        """
        from sklearn.metrics import r2_score

        y, pred = self._pair(X, y)
        return float(r2_score(y, pred, sample_weight=sample_weight))

    def save(self, fname, overwrite=False):
        """Save the fitted decoder to a checksummed HDF5 file (no pickle); see :func:`save_decoder`.

        Load it back with :func:`load_decoder`.
        """
        from ._persistence import save_decoder

        return save_decoder(self, fname, overwrite=overwrite)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


# ---------------------------------------------------------------- pairing
def _lookup(features, ids):
    """Rows of ``features`` for ``ids``: (array (len(ids), ...), missing ids)."""
    uniq = list(dict.fromkeys(ids))
    if hasattr(features, "for_ids") and hasattr(features, "stimulus_ids"):  # FeatureSpace
        have = {str(s) for s in features.stimulus_ids}
        missing = [s for s in uniq if s not in have]
        return (None if missing else np.asarray(features.for_ids(ids))), missing
    if isinstance(features, pd.DataFrame):
        index = features.index.map(str)
        if index.has_duplicates:
            _raise("features", "a DataFrame with unique stimulus ids as index",
                   f"duplicated ids {index[index.duplicated()].unique()[:5].tolist()}")
        pos = pd.Series(np.arange(len(index)), index=index)
        missing = [s for s in uniq if s not in pos.index]
        return (None if missing else features.to_numpy()[pos.loc[ids].to_numpy()]), missing
    if isinstance(features, Mapping):
        table = {str(k): v for k, v in features.items()}
        missing = [s for s in uniq if s not in table]
        if missing:
            return None, missing
        return np.stack([np.asarray(table[s]) for s in ids]), missing
    _raise("features", "a FeatureSpace, a pandas DataFrame indexed by stimulus id or a dict "
           "stimulus id -> embedding", describe(features), exc=TypeError)


def paired_responses(recording, features, average_repeats=True, ids=None):
    """Responses and embeddings of the same stimuli, row by row.

    Parameters
    ----------
    recording : Recording
        Trials x units (voxels, electrodes, or the (channel, time-window)
        units of an electrophysiology Recording). Time-series recordings
        must be turned into betas first (``estimate_betas``).
    features : FeatureSpace | pandas.DataFrame | dict
        Embeddings by stimulus id: a FeatureSpace, a DataFrame indexed by
        id (one column per dimension), or a dict ``id -> array`` (any
        shape, e.g. (n_tokens, dim) token embeddings; all the same shape).
    average_repeats : bool
        Average the trials of each stimulus (as MindEye1 and Brain-Diffuser
        average voxels over the test repeats). False
        keeps one row per trial (the embedding repeated).
    ids : sequence of str | None
        Keep only these stimulus ids (e.g. the test set), in the
        recording's order; ids the recording lacks raise an error.

    Returns
    -------
    X : ndarray, shape (n_samples, n_units)
    Y : ndarray, shape (n_samples, n_dims) (or ``(n_samples, *embedding_shape)``)
    stimulus_ids : ndarray of str, shape (n_samples,)
        One per row (unique ids in order of first appearance when
        averaging).

    Raises
    ------
    ValueError
        When stimulus ids of the recording are missing from ``features``
        (mismatched stimulus sets): the message lists a few of them.
    """
    for attr in ("responses", "stimulus_ids"):
        if not hasattr(recording, attr):
            _raise("recording", "a Recording (responses and stimulus_ids)", describe(recording),
                   exc=TypeError)
    if recording.meta.get("mode") == "timeseries":
        _raise("recording", "trial responses (one row per trial)", "a time-series recording",
               "Estimate betas first: neurotoolkit.data.estimate_betas(recording).")
    check_type("average_repeats", average_repeats, bool)
    rec_ids = np.asarray(recording.stimulus_ids).astype(str)
    keep = rec_ids != ""
    if ids is not None:
        wanted = [str(s) for s in np.atleast_1d(ids)]
        absent = sorted(set(wanted) - set(rec_ids[keep]))
        if absent:
            _raise("ids", "stimulus ids of the recording",
                   f"{len(absent)} id(s) it does not have, e.g. {absent[:5]}")
        keep &= np.isin(rec_ids, wanted)
    if not keep.any():
        _raise("recording", "at least one trial with a stimulus id", "none")
    rec = recording.select_trials(keep) if not keep.all() else recording
    if average_repeats:
        rec = rec.average_repeats()
    sids = np.asarray(rec.stimulus_ids).astype(str)
    Y, missing = _lookup(features, [str(s) for s in sids])
    if missing:
        name = getattr(features, "name", type(features).__name__)
        raise ValueError(
            f"Invalid value for `features`: {len(missing)} of the recording's "
            f"{len(set(sids))} stimulus ids are not in {name!r} (mismatched stimulus sets), "
            f"e.g. {missing[:5]}. Extract features for the recording's stimuli, or pass "
            "ids=... to keep the stimuli both have."
        )
    X = np.asarray(rec.responses)
    Y = check_array("features", Y, ndim=None)
    return X, Y, sids.astype(object)
