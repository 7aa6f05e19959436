"""BandedRidgeCV: banded ridge as a scikit-learn estimator.

A thin layer over :func:`~neurotoolkit.encoding.solve_banded_ridge_cv`, which
holds the search (one penalty per feature space and target, himalaya's
``GroupRidgeCV`` random search; Dupre la Tour et al., 2022).
"""

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._ridge._banded import _is_space_collection, concat_spaces, sample_gammas, solve_banded_ridge_cv
from .._utils.docs import fill_doc
from .._utils.logging import verbose
from .._utils.validation import _raise, check_array, check_consistent_length, describe
from ._split_scores import r2_score_split

__all__ = ["BandedRidgeCV", "sample_gammas"]


@fill_doc
class BandedRidgeCV(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Banded ridge regression: one penalty per feature space and target.

    Each target gets band penalties ``band_alphas_[i] = alpha / gamma_i``,
    chosen by random search on the simplex: ``gamma`` starts uniform, then
    follows Dirichlet draws with concentrations cycling through
    ``concentrations``; for each ``gamma`` the cross-validated ridge of
    :func:`~neurotoolkit.encoding.solve_ridge_cv` scores every alpha on the
    scaled design ``[sqrt(gamma_1) X_1 | ... | sqrt(gamma_m) X_m]``, and each
    target keeps the pair with its best CV score. The final model is refit
    on all samples, one ridge solve per distinct chosen ``gamma``. The
    search is :func:`~neurotoolkit.encoding.solve_banded_ridge_cv`; this
    estimator validates the input, calls it and stores the results.

    Parameters
    ----------
    alphas : array-like, shape (n_alphas,) | None
        Grid for the overall penalty ``alpha``. None uses 25 log-spaced
        values over [1e-4, 1e4] x the mean squared singular value of the
        centred design at uniform ``gamma``, computed once so that every
        ``gamma`` shares one grid.
    cv : int | "runs" | iterable of (train, test) | CV splitter
        Cross-validation, resolved once so that every ``gamma`` sees the
        same folds: an int gives contiguous, unshuffled blocks (of whole
        runs when ``groups`` is given to :meth:`fit`; more folds than
        samples is an error, as in :class:`RidgeCV`); "runs" leaves one run
        of ``groups`` out at a time.
    n_features_per_space : sequence of int | None
        When ``X`` is one array: the width of each space, in column order.
        None with an array ``X`` means one space (plain ridge).
    n_iter : int | array-like, shape (n_gammas, n_spaces)
        Number of ``gamma`` draws (the first is uniform), or the ``gamma``
        values to try (rows are normalised to sum to 1).
    concentrations : float | sequence of float
        Dirichlet concentrations, cycled draw by draw (0.1 favours one
        dominant space, 1.0 is uniform on the simplex).
    stop_fraction : float
        Early stop: the search ends once fewer than this fraction of
        targets improved their CV score over the last ``stop_patience``
        draws.
    stop_patience : int | None
        Window of the early stop, in draws. None disables it.
    fit_intercept : bool
        Fit an intercept (features and targets centred with training means
        in every fold).
    scoring : "r2" | "correlation" | "neg_mse"
        CV score to maximise (R^2 about the test mean).
    solver : "auto" | "primal" | "dual"
        "auto" picks the dual (kernel) form when ``n_features >= n_train``.
    alpha_selection : "best" | "shared"
        "best": each target its own (gamma, alpha) pair. "shared": one pair
        for all targets, the best on the CV score averaged over targets.
    %(backend)s
    %(device)s
    dtype : "float32" | "float64"
    %(memory_budget)s
    saturation_threshold : float | None
        Warn when more than this fraction of predictive targets (best CV
        score > 0) chose ``alpha`` at an edge of the grid, judged once on
        the final choice. None disables.
    %(random_state)s
    %(verbose)s

    Attributes
    ----------
    coef_ : ndarray, shape (n_features, n_targets) or (n_features,)
        Weights on the unscaled, concatenated features (all spaces); 1-D
        when ``fit`` got a 1-D ``Y`` (as ``intercept_``, a float then). The
        other per-target attributes always keep the target axis.
    intercept_ : ndarray, shape (n_targets,) or float
    coef_by_space_ : dict of str -> ndarray, shape (n_features_i, n_targets)
        Views into ``coef_``, one per space.
    best_gammas_ : ndarray, shape (n_spaces, n_targets)
        Chosen simplex weights.
    best_alphas_ : ndarray, shape (n_targets,)
        Chosen overall penalty ``alpha``.
    band_alphas_ : ndarray, shape (n_spaces, n_targets)
        Penalty of each space, ``best_alphas_ / best_gammas_``.
    deltas_ : ndarray, shape (n_spaces, n_targets)
        ``log(best_gammas_ / best_alphas_) = -log(band_alphas_)``
        (himalaya's parametrisation).
    best_cv_scores_ : ndarray, shape (n_targets,)
        CV score of the chosen pair (optimistic: it also chose the pair).
    saturated_ : ndarray of bool, shape (n_targets,)
        Predictive targets whose ``best_alphas_`` is at an edge of the grid.
    cv_scores_ : ndarray, shape ``(n_iter_, n_targets)``
        For each tried ``gamma``, the CV score at that target's best alpha.
    gammas_ : ndarray, shape ``(n_iter_, n_spaces)``
        The ``gamma`` values tried, in order.
    n_iter_ : int
        Draws actually run (fewer than ``n_iter`` after an early stop).
    alphas_ : ndarray, shape (n_alphas,)
        The alpha grid used.
    space_names_ : list of str
    space_slices_ : list of slice
        Columns of each space in ``coef_``.
    solver_ : "primal" | "dual"
    results_ : BandedRidgeCVResults
        Everything :func:`solve_banded_ridge_cv` returned.
    n_features_in_ : int

    See Also
    --------
    RidgeCV, solve_banded_ridge_cv, r2_score_split, neurotoolkit.analysis.variance_partition

    Notes
    -----
    Cost is about ``n_iter_`` times one :func:`solve_ridge_cv` call. Scale
    the features of each space (e.g. z-score with training statistics)
    before the search: the grid is shared across spaces. :meth:`score` is
    scikit-learn's R^2 (uniform average over targets); per-target scores
    come from :meth:`score_targets`, per-space ones from :meth:`score_split`.

    References
    ----------
    Dupre la Tour, Eickenberg, Nunez-Elizalde & Gallant (2022). Feature-space
    selection with banded ridge regression. NeuroImage 264, 119728.
    """

    def __init__(
        self,
        alphas=None,
        cv=5,
        *,
        n_features_per_space=None,
        n_iter=100,
        concentrations=(0.1, 1.0),
        stop_fraction=1e-3,
        stop_patience=10,
        fit_intercept=True,
        scoring="r2",
        solver="auto",
        alpha_selection="best",
        backend="auto",
        device="auto",
        dtype="float32",
        memory_budget=None,
        saturation_threshold=0.05,
        random_state=None,
        verbose=None,
    ):
        self.alphas = alphas
        self.cv = cv
        self.n_features_per_space = n_features_per_space
        self.n_iter = n_iter
        self.concentrations = concentrations
        self.stop_fraction = stop_fraction
        self.stop_patience = stop_patience
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.solver = solver
        self.alpha_selection = alpha_selection
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.memory_budget = memory_budget
        self.saturation_threshold = saturation_threshold
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    @fill_doc
    @verbose
    def fit(self, X, Y, groups=None, verbose=None):
        """Search the band penalties by CV, then refit on all samples.

        Parameters
        ----------
        X : list of array-like | dict of str -> array-like | array-like
            Feature spaces, each (n_samples, n_features_i); or one array
            (n_samples, n_features) split by ``n_features_per_space``.
        Y : array-like, shape (n_samples, n_targets) or (n_samples,)
            Responses.
        groups : array-like, shape (n_samples,) | None
            Run (or session) label of each sample, for run-wise CV.
        %(verbose)s

        Returns
        -------
        self : BandedRidgeCV
        """
        X_all, Y, names, slices = self._check_X(X, reset=True, y=Y)
        check_consistent_length(X=X_all, Y=Y, groups=groups)
        res = solve_banded_ridge_cv(
            X_all, Y, self.alphas, self.cv, groups=groups,
            n_features_per_space=[s.stop - s.start for s in slices], n_iter=self.n_iter,
            concentrations=self.concentrations, stop_fraction=self.stop_fraction,
            stop_patience=self.stop_patience, fit_intercept=self.fit_intercept,
            scoring=self.scoring, solver=self.solver, alpha_selection=self.alpha_selection,
            backend=self.backend, device=self.device, dtype=self.dtype,
            memory_budget=self.memory_budget, saturation_threshold=self.saturation_threshold,
            random_state=self.random_state,
        )
        self.results_ = res
        self.gammas_ = res.gammas
        self.n_iter_ = res.n_iter
        self.alphas_ = res.alphas
        self.cv_scores_ = res.cv_scores
        self.best_cv_scores_ = res.best_cv_scores
        self.best_alphas_ = res.best_alphas
        self.best_gammas_ = res.best_gammas
        self.band_alphas_ = res.band_alphas
        self.deltas_ = res.deltas
        self.saturated_ = res.saturated
        self.solver_ = res.solver
        self.space_names_ = names
        self.space_slices_ = slices
        self.coef_, self.intercept_ = res.coef, res.intercept
        if Y.ndim == 1:  # coef_, intercept_ and predictions follow y; the rest keep the target axis
            self.coef_ = self.coef_[:, 0]
            self.intercept_ = float(self.intercept_[0])
        return self

    # -------------------------------------------------------------- predict
    def predict(self, X, split=False):
        """Predict responses, optionally split by feature space.

        Parameters
        ----------
        X : list | dict | array-like
            Feature spaces in the format given to :meth:`fit`.
        split : bool
            If True, return one prediction per space, ``X_i @ coef_i``
            without the intercept, so that
            ``predict(X, split=True).sum(0) + intercept_ == predict(X)``.

        Returns
        -------
        Y_pred : ndarray, shape (n_samples, n_targets), or
            (n_spaces, n_samples, n_targets) when ``split``; the target axis
            is dropped when ``fit`` got a 1-D ``Y``.
        """
        check_is_fitted(self)
        X_all, _, _, slices = self._check_X(X, reset=False)
        coef = self.coef_.astype(X_all.dtype, copy=False)
        if split:
            return np.stack([X_all[:, s] @ coef[s] for s in slices])
        return X_all @ coef + self.intercept_

    def score_split(self, X, Y, include_correlation=True):
        """Held-out R^2 split over feature spaces (product measure).

        ``Y`` is centred with its mean over the given samples, and so is
        each per-space prediction; the parts then add up to the R^2 of the
        joint prediction after the same centring (which differs from
        :meth:`score_targets` only by the squared offset between the mean
        prediction and the test mean).

        Parameters
        ----------
        X : list | dict | array-like
            Feature spaces, as in :meth:`fit`.
        Y : array-like, shape (n_samples, n_targets) or (n_samples,)
        include_correlation : bool
            See :func:`r2_score_split`.

        Returns
        -------
        r2 : ndarray, shape (n_spaces, n_targets) or (n_spaces,)
        """
        preds = np.asarray(self.predict(X, split=True), dtype=np.float64)
        Y = check_array("Y", Y, ndim=(1, 2), dtype=np.float64)
        if preds.shape[1:] != Y.shape:
            _raise("Y", f"an array of shape {preds.shape[1:]}", f"shape {Y.shape}")
        preds = preds - preds.mean(axis=1, keepdims=True)
        return r2_score_split(Y - Y.mean(axis=0), preds, include_correlation=include_correlation)

    def score_targets(self, X, Y, scoring="r2"):
        """Held-out score of each target (joint prediction).

        Parameters
        ----------
        X : list | dict | array-like
            Feature spaces, as in :meth:`fit`.
        Y : array-like, shape (n_samples, n_targets) or (n_samples,)
        scoring : "r2" | "correlation" | "neg_mse"

        Returns
        -------
        scores : ndarray, shape (n_targets,) (float for a 1-D ``Y``)
        """
        from .._ridge._scores import score_predictions

        return score_predictions(Y, self.predict(X), scoring)

    @property
    def coef_by_space_(self):
        check_is_fitted(self)
        return {name: self.coef_[s] for name, s in zip(self.space_names_, self.space_slices_)}

    # ------------------------------------------------------------ validation
    def _check_X(self, X, reset, y=None):
        """Concatenate the spaces into one array.

        Returns ``X_all`` (n, p), ``Y`` (n, t) or None, names and slices.
        """
        if reset and y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        if _is_space_collection(X):
            X_all, names, widths = concat_spaces(X, name="X")
            Y = None if y is None else check_array("y", y, ndim=(1, 2))
            if reset:
                self.n_features_in_ = X_all.shape[1]
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
            elif widths != [s.stop - s.start for s in self.space_slices_]:
                _raise(
                    "X",
                    f"{len(self.space_slices_)} spaces of widths "
                    f"{[s.stop - s.start for s in self.space_slices_]} as in `fit`",
                    f"widths {widths}",
                )
        else:
            kwargs = dict(reset=reset, dtype=[np.float64, np.float32], ensure_all_finite=False)
            if y is None:
                X_all, Y = validate_data(self, X, **kwargs), None
            else:
                X_all, Y = validate_data(self, X, y, multi_output=True, y_numeric=True, **kwargs)
                Y = check_array("y", Y, ndim=(1, 2))
            X_all = check_array("X", X_all, ndim=2)
            if reset:
                widths = self._check_widths(X_all.shape[1])
                names = [f"space{i}" for i in range(len(widths))]
        if not reset:
            return X_all, Y, self.space_names_, self.space_slices_
        if len(X_all) < 2:
            _raise("X", "at least 2 samples", f"{len(X_all)} sample (shape {X_all.shape})")
        edges = np.concatenate([[0], np.cumsum(widths)])
        slices = [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
        return X_all, Y, names, slices

    def _check_widths(self, n_features):
        if self.n_features_per_space is None:
            return [n_features]
        widths = np.atleast_1d(np.asarray(self.n_features_per_space))
        if (
            widths.ndim != 1
            or widths.dtype.kind not in "iu"
            or np.any(widths < 1)
            or widths.sum() != n_features
        ):
            _raise(
                "n_features_per_space",
                f"positive integers summing to the {n_features} columns of `X`",
                describe(self.n_features_per_space),
            )
        return [int(w) for w in widths]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
