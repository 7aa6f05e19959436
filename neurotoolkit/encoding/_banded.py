"""Banded ridge: one penalty per feature space and target (Card 2).

For feature spaces ``X_1..X_m`` each target solves::

    min_w ||y - sum_i X_i w_i||^2 + sum_i alpha_i ||w_i||^2

Writing ``alpha_i = alpha / gamma_i`` with ``gamma`` on the simplex, this is
plain ridge with penalty ``alpha`` on ``X_gamma = [sqrt(gamma_1) X_1 | ... ]``.
The search draws ``gamma`` (uniform first, then Dirichlet samples), runs the
cross-validated ridge of Card 1 over the alpha grid on ``X_gamma`` and keeps,
per target, the (gamma, alpha) pair with the best CV score (himalaya's
``GroupRidgeCV`` random search).
"""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from neurotoolkit._utils.docs import fill_doc
from neurotoolkit._utils.logging import logger, progress, verbose
from neurotoolkit._utils.random import check_random_state
from neurotoolkit._utils.validation import (
    _raise,
    check_array,
    check_consistent_length,
    check_fraction,
    check_int,
    check_positive_array,
    describe,
)

from ._split_scores import r2_score_split

__all__ = ["BandedRidgeCV", "sample_gammas"]

_MIN_GAMMA = 1e-20  # Dirichlet draws with small concentration underflow to 0


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
    on all samples, one ridge solve per distinct chosen ``gamma``.

    Parameters
    ----------
    alphas : array-like, shape (n_alphas,) | None
        Grid for the overall penalty ``alpha``. None uses 25 log-spaced
        values over [1e-4, 1e4] x the mean squared singular value of the
        centred design at uniform ``gamma``, computed once so that every
        ``gamma`` shares one grid.
    cv : int | "runs" | iterable of (train, test) | CV splitter
        Cross-validation, resolved once by ``make_cv`` so that every
        ``gamma`` sees the same folds: an int gives contiguous, unshuffled
        blocks (of whole runs when ``groups`` is given to :meth:`fit`);
        "runs" leaves one run of ``groups`` out at a time.
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
    backend : "numpy" | "torch"
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
    coef_ : ndarray, shape (n_features, n_targets)
        Weights on the unscaled, concatenated features (all spaces).
    intercept_ : ndarray, shape (n_targets,)
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
    cv_scores_ : ndarray, shape (n_iter_, n_targets)
        For each tried ``gamma``, the CV score at that target's best alpha.
    gammas_ : ndarray, shape (n_iter_, n_spaces)
        The ``gamma`` values tried, in order.
    n_iter_ : int
        Draws actually run (fewer than ``n_iter`` after an early stop).
    alphas_ : ndarray, shape (n_alphas,)
        The alpha grid used.
    space_names_ : list of str
    space_slices_ : list of slice
        Columns of each space in ``coef_``.
    n_features_in_ : int

    See Also
    --------
    RidgeCV, r2_score_split, neurotoolkit.analysis.variance_partition

    Notes
    -----
    Cost is about ``n_iter_`` times one :func:`solve_ridge_cv` call. Scale
    the features of each space (e.g. z-score with training statistics)
    before the search: the grid is shared across spaces.

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
        backend="numpy",
        device=None,
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
        from neurotoolkit._utils.backend import get_backend

        from .._ridge._solve_ridge import GroupScaledStats, _resolve_folds, solve_ridge_cv

        X_all, Y, names, slices = self._check_X(X, reset=True, y=Y)
        ravel = Y.ndim == 1
        Y = Y[:, None] if ravel else Y
        check_consistent_length(X=X_all, Y=Y, groups=groups)
        n_targets = Y.shape[1]
        gammas = self._check_gammas(len(slices))
        stop_patience = (
            None
            if self.stop_patience is None
            else check_int("stop_patience", self.stop_patience, 1)
        )
        stop_fraction = float(self.stop_fraction)
        if not 0 <= stop_fraction <= 1:
            _raise("stop_fraction", "a number in [0, 1]", describe(self.stop_fraction))
        alphas = self._grid(X_all, slices)
        cv = self.cv
        if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool) and cv > len(Y):
            cv = len(Y)  # tiny data: leave-one-out rather than an error (as RidgeCV)
        splits = _resolve_cv(cv, groups, len(Y))
        # X^T X (per fold) or the per-space kernels, computed once for every gamma
        splits = _resolve_folds(splits, None, len(Y))
        be = get_backend(self.backend, device=self.device, dtype=self.dtype)
        x_stats = GroupScaledStats(X_all, splits, slices, self.fit_intercept, self.solver, be)

        cv_kwargs = dict(
            fit_intercept=self.fit_intercept,
            scoring=self.scoring,
            solver=self.solver,
            refit=False,
            backend=self.backend,
            device=self.device,
            dtype=self.dtype,
            memory_budget=self.memory_budget,
            saturation_threshold=1.0,  # checked once, on the final choice
        )
        best_scores = np.full(n_targets, -np.inf)
        best_table = np.zeros((len(alphas), n_targets))  # CV scores at the chosen gamma
        best_index = np.zeros(n_targets, dtype=np.int64)
        best_iter = np.zeros(n_targets, dtype=np.int64)
        best_alphas = np.ones(n_targets)
        last_improved = np.zeros(n_targets, dtype=np.int64)
        cv_scores = []
        n_done = 0
        logger.info(
            "BandedRidgeCV: %d spaces (%s), %d targets, up to %d gammas, %d alphas, %d folds",
            len(slices), ", ".join(names), n_targets, len(gammas), len(alphas), len(splits),
        )
        for it in progress(range(len(gammas)), desc="gammas"):
            with warnings.catch_warnings():
                if it > 0:  # input warnings (constant targets...) were given on the first call
                    warnings.simplefilter("ignore")
                res = solve_ridge_cv(X_all, Y, alphas, splits, **cv_kwargs,
                                     _x_stats=x_stats.with_gamma(gammas[it]))
            score = _score_at_best(res)
            cv_scores.append(score)
            n_done = it + 1
            improved = score > best_scores + _EPS[self.dtype if self.dtype in _EPS else "float32"]
            best_scores[improved] = score[improved]
            best_iter[improved] = it
            best_alphas[improved] = np.asarray(res.best_alphas, dtype=np.float64)[improved]
            best_index[improved] = np.asarray(res.best_alpha_index)[improved]
            best_table[:, improved] = np.asarray(res.cv_scores, dtype=np.float64)[:, improved]
            if it == 0:
                constant = np.asarray(res.constant_targets, dtype=bool)
            last_improved[improved] = it
            logger.debug("gamma %d: %d targets improved", it, int(improved.sum()))
            if stop_patience is not None and it >= stop_patience:
                recent = int((last_improved > it - stop_patience).sum())
                if recent < stop_fraction * n_targets:
                    logger.info(
                        "Early stop after %d gammas: %d of %d targets improved in the last %d.",
                        n_done, recent, n_targets, stop_patience,
                    )
                    break

        self.gammas_ = gammas[:n_done]
        self.n_iter_ = n_done
        self.alphas_ = alphas
        self.cv_scores_ = np.stack(cv_scores)
        self.best_cv_scores_ = best_scores
        self.best_alphas_ = best_alphas
        self.best_gammas_ = self.gammas_[best_iter].T.copy()
        self.band_alphas_ = best_alphas[None] / self.best_gammas_
        self.deltas_ = np.log(self.best_gammas_) - np.log(best_alphas)[None]
        self.space_names_ = names
        self.space_slices_ = slices
        self.coef_, self.intercept_ = self._refit(X_all, Y, best_iter, x_stats)
        self.saturated_ = self._check_saturation(best_index, best_table, alphas, constant)
        if ravel:
            self.coef_ = self.coef_[:, 0]
            self.intercept_ = float(self.intercept_[0])
            for attr in ("best_gammas_", "band_alphas_", "deltas_"):
                setattr(self, attr, getattr(self, attr)[:, 0])
            for attr in ("best_alphas_", "best_cv_scores_", "saturated_"):
                setattr(self, attr, getattr(self, attr)[0])
            self.cv_scores_ = self.cv_scores_[:, 0]
        return self

    def _refit(self, X_all, Y, best_iter, x_stats):
        """One ridge solve per distinct chosen gamma, with per-target alphas (the
        statistics of ``X_all`` in ``x_stats`` are reused: no kernel or Gram is recomputed)."""
        from .._ridge._solve_ridge import solve_ridge

        coef = np.zeros((X_all.shape[1], Y.shape[1]), dtype=np.dtype(self.dtype))
        intercept = np.zeros(Y.shape[1])
        for it in np.unique(best_iter):
            cols = np.flatnonzero(best_iter == it)
            scale = _column_scale(self.space_slices_, self.gammas_[it], X_all.shape[1])
            w, b = solve_ridge(
                X_all,
                Y[:, cols],
                self.best_alphas_[cols],
                fit_intercept=self.fit_intercept,
                backend=self.backend,
                device=self.device,
                dtype=self.dtype,
                memory_budget=self.memory_budget,
                _x_stats=x_stats.with_gamma(self.gammas_[it]),
            )
            coef[:, cols] = np.asarray(w) * scale[:, None]
            intercept[cols] = np.asarray(b)
        return coef, intercept

    def _check_saturation(self, best_index, table, alphas, constant):
        """Warn when predictive targets chose alpha at an edge of the grid."""
        from .._ridge._selection import saturation

        threshold = 1.0 if self.saturation_threshold is None else self.saturation_threshold
        check_fraction("saturation_threshold", threshold)
        *_, saturated = saturation(best_index, table, alphas, constant, threshold, self.scoring)
        return saturated

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
            if isinstance(X, dict):
                names = [str(k) for k in X]
                blocks = [check_array(f"X[{k!r}]", v, ndim=2) for k, v in X.items()]
            else:
                names = [f"space{i}" for i in range(len(X))]
                blocks = [check_array(f"X[{i}]", v, ndim=2) for i, v in enumerate(X)]
            check_consistent_length(**{f"X[{i}]": b for i, b in enumerate(blocks)})
            widths = [b.shape[1] for b in blocks]
            dtype = np.result_type(*blocks)
            X_all = np.concatenate([b.astype(dtype, copy=False) for b in blocks], axis=1)
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

    def _check_gammas(self, n_spaces):
        if np.ndim(self.n_iter) == 0:
            n_iter = check_int("n_iter", self.n_iter, 1)
            if n_spaces == 1:  # every gamma is the same point: plain ridge
                return np.ones((1, 1))
            return sample_gammas(n_iter, n_spaces, self.concentrations, self.random_state)
        gammas = check_positive_array("n_iter", self.n_iter, ndim=2, strict=False)
        if gammas.shape[1] != n_spaces or np.any(gammas.sum(1) <= 0):
            _raise(
                "n_iter",
                f"an int or an array of non-negative gammas of shape (n_gammas, {n_spaces})",
                f"shape {gammas.shape}",
            )
        gammas = np.maximum(gammas / gammas.sum(1, keepdims=True), _MIN_GAMMA)
        return gammas / gammas.sum(1, keepdims=True)

    def _grid(self, X_all, slices):
        from .._ridge._solve_ridge import default_alphas

        if self.alphas is not None:
            return np.sort(check_positive_array("alphas", self.alphas)).astype(np.float64)
        return default_alphas(X_all * np.sqrt(1.0 / len(slices)), self.fit_intercept)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _is_space_collection(X):
    """A dict or list/tuple of 2-D arrays (one per space), not one 2-D array."""
    from scipy import sparse

    if sparse.issparse(X):
        return False
    if isinstance(X, dict):
        return True
    return (
        isinstance(X, (list, tuple))
        and len(X) > 0
        and all(hasattr(b, "shape") and len(b.shape) == 2 for b in X)
    )


_EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}


@fill_doc
def sample_gammas(n_iter, n_spaces, concentrations=(0.1, 1.0), random_state=None):
    """Draw feature-space weights on the simplex for the banded search.

    Parameters
    ----------
    n_iter : int
        Number of draws.
    n_spaces : int
        Number of feature spaces.
    concentrations : float | sequence of float
        Dirichlet concentrations, cycled draw by draw (np.inf gives the
        uniform point).
    %(random_state)s

    Returns
    -------
    gammas : ndarray, shape (n_iter, n_spaces)
        Rows sum to 1; the first row is uniform (1 / n_spaces).
    """
    n_iter = check_int("n_iter", n_iter, 1)
    n_spaces = check_int("n_spaces", n_spaces, 1)
    conc = np.atleast_1d(np.asarray(concentrations, dtype=np.float64))
    if conc.ndim != 1 or conc.size == 0 or np.isnan(conc).any() or (conc <= 0).any():
        _raise("concentrations", "a positive float or a 1-D sequence of them (np.inf allowed)",
               describe(concentrations))
    rng = check_random_state(random_state)
    gammas = np.full((n_iter, n_spaces), 1.0 / n_spaces)
    for it in range(1, n_iter):
        c = conc[(it - 1) % len(conc)]
        if np.isfinite(c) and n_spaces > 1:
            gammas[it] = rng.dirichlet(np.full(n_spaces, c))
    gammas = np.maximum(gammas, _MIN_GAMMA)
    return gammas / gammas.sum(1, keepdims=True)



def _column_scale(slices, gamma, n_features):
    scale = np.empty(n_features)
    for s, g in zip(slices, gamma):
        scale[s] = np.sqrt(g)
    return scale


def _score_at_best(res):
    """CV score (fold mean) at each target's chosen alpha, float64 (n_targets,)."""
    scores = np.asarray(res.cv_scores, dtype=np.float64)
    return scores[np.asarray(res.best_alpha_index), np.arange(scores.shape[1])]


def _resolve_cv(cv, groups, n_samples):
    """Turn ``cv`` into a list of (train, test) folds, fixed for the whole search."""
    from neurotoolkit.data._splits import make_cv

    runs = None if groups is None else np.asarray(groups)
    return make_cv(cv, runs=runs, n_samples=n_samples)
