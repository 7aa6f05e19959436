"""RidgeCV: scikit-learn estimator with one cross-validated alpha per target.

A thin layer over :func:`~neurotoolkit.encoding.solve_ridge_cv`.
"""

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._utils.docs import fill_doc
from .._utils.logging import verbose as verbose_decorator
from .._ridge._scores import score_predictions
from .._ridge._solve_ridge import solve_ridge_cv

__all__ = ["RidgeCV"]


@fill_doc
class RidgeCV(MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Ridge regression with one alpha per target, chosen by cross-validation.

    The fit works from sufficient statistics: one eigendecomposition per
    fold and every alpha scored from rotated statistics, in the primal
    (features) or dual (kernel) form picked from the shapes, over target
    batches sized from a memory budget. See :func:`solve_ridge_cv`.

    Parameters
    ----------
    alphas : array, shape (n_alphas,) | None
        Positive penalties; None gives 25 log-spaced values over
        [1e-4, 1e4] times the mean squared singular value of the design.
    cv : int | "runs" | splitter | iterable of (train, test)
        Folds. An int gives contiguous, unshuffled blocks (at most one per
        sample: more folds than samples is an error); "runs" needs ``groups``
        in ``fit``.
    fit_intercept : bool
    scoring : "r2" | "correlation" | "neg_mse"
        CV score used to choose the alphas.
    solver : "auto" | "primal" | "dual"
    alpha_selection : "best" | "1se" | "shared"
        "best": each target its own alpha (argmax of its CV score); "1se":
        each target the largest alpha within one fold standard deviation of
        its best; "shared": one alpha for all targets (argmax of the CV
        score averaged over targets).
    %(backend)s
    %(device)s
    dtype : "float32" | "float64"
    %(memory_budget)s
    client : dask.distributed.Client | None
        Fit target chunks on this Dask cluster (same results as one process).
    extend_grid : bool
        When predictive targets choose an alpha at an edge of the grid, add
        three decades on that side and re-score only those targets
        (``cv_scores_`` stays on the original grid; see
        ``results_.extended_alphas``).
    %(verbose)s

    Attributes
    ----------
    coef_ : ndarray, shape (n_features, n_targets) or (n_features,)
        Note the orientation (himalaya's, not scikit-learn's ``(t, p)``).
    intercept_ : ndarray, shape (n_targets,) or float
        A float when ``fit`` got a 1-D ``Y`` (as ``coef_``, 1-D then).
    best_alphas_ : ndarray, shape (n_targets,)
        The chosen penalties, always an array (one value, repeated, with
        ``alpha_selection="shared"``; shape (1,) for a 1-D ``Y``).
    cv_scores_ : ndarray, shape (n_alphas, n_targets)
        Mean CV score of every alpha.
    alphas_ : ndarray, shape (n_alphas,)
        The grid that was searched.
    dual_coef_ : ndarray, shape (n_samples, n_targets) | None
        Dual coefficients when the dual form was used.
    solver_ : "primal" | "dual"
    results_ : RidgeCVResults
        Everything :func:`solve_ridge_cv` returned (fold scores excluded).
    n_features_in_ : int

    Notes
    -----
    :meth:`score` is scikit-learn's R^2 (uniform average over targets);
    :meth:`score_targets` gives one score per target (R^2, Pearson r or
    negative MSE).

    Examples
    --------
    >>> import numpy as np
    >>> from neurotoolkit.encoding import RidgeCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 5))
    >>> Y = X @ rng.standard_normal((5, 3)) + rng.standard_normal((100, 3))
    >>> model = RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(X, Y)
    >>> model.coef_.shape, model.best_alphas_.shape
    ((5, 3), (3,))
    """

    def __init__(self, alphas=None, cv=5, fit_intercept=True, scoring="r2", solver="auto",
                 alpha_selection="best", backend="auto", device="auto", dtype="float32",
                 memory_budget=None, client=None, extend_grid=False, verbose=None):
        self.alphas = alphas
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.solver = solver
        self.alpha_selection = alpha_selection
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.memory_budget = memory_budget
        self.client = client
        self.extend_grid = extend_grid
        self.verbose = verbose

    @fill_doc
    @verbose_decorator
    def fit(self, X, Y, groups=None, verbose=None):
        """Fit the model and choose one alpha per target.

        Parameters
        ----------
        X : array, shape (n_samples, n_features)
        Y : array, shape (n_samples, n_targets) or (n_samples,)
        groups : array, shape (n_samples,) | None
            Run labels, for ``cv="runs"`` or group-wise folds.
        %(verbose)s

        Returns
        -------
        self : RidgeCV
        """
        X, Y = validate_data(self, X, Y, multi_output=True, y_numeric=True,
                             dtype=[np.float64, np.float32], ensure_min_samples=2)
        one_d = Y.ndim == 1
        res = solve_ridge_cv(
            X, Y, self.alphas, self.cv, groups=groups, fit_intercept=self.fit_intercept,
            scoring=self.scoring, solver=self.solver, alpha_selection=self.alpha_selection,
            backend=self.backend, device=self.device, dtype=self.dtype,
            memory_budget=self.memory_budget, return_weights="auto", client=self.client,
            extend_grid=self.extend_grid,
        )
        self.results_ = res
        self.alphas_ = res.alphas
        self.solver_ = res.solver
        self.cv_scores_ = res.cv_scores
        self.dual_coef_ = res.dual_coef
        self.coef_ = res.coef
        self.intercept_ = res.intercept
        self.best_alphas_ = res.best_alphas
        self._x_mean = res.x_mean
        if res.coef is None:  # dual form with weights too large: keep the design
            self.X_fit_ = X - res.x_mean if self.fit_intercept else X
        if one_d:
            self.coef_ = None if self.coef_ is None else self.coef_[:, 0]
            self.dual_coef_ = None if self.dual_coef_ is None else self.dual_coef_[:, 0]
            self.intercept_ = float(self.intercept_[0])
        return self

    def predict(self, X):
        """Predict with the refit weights.

        Parameters
        ----------
        X : array, shape (n_samples, n_features)

        Returns
        -------
        Y_pred : ndarray, shape (n_samples, n_targets) or (n_samples,)
        """
        check_is_fitted(self, "intercept_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        if self.coef_ is not None:
            W = self.coef_
            out = X @ W.astype(X.dtype, copy=False)
        else:
            # intercept_ = y_mean - x_mean X_c^T C, so the uncentred kernel is right
            K = X @ self.X_fit_.T.astype(X.dtype, copy=False)
            out = K @ self.dual_coef_.astype(X.dtype, copy=False)
        return out + self.intercept_

    def score_targets(self, X, Y, scoring="r2"):
        """Held-out score of each target.

        Parameters
        ----------
        X : array, shape (n_samples, n_features)
        Y : array, shape (n_samples, n_targets) or (n_samples,)
        scoring : "r2" | "correlation" | "neg_mse"

        Returns
        -------
        scores : ndarray, shape (n_targets,) (float for a 1-D ``Y``)
        """
        return score_predictions(Y, self.predict(X), scoring)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
