"""Banded ridge as a function: random search of one penalty per feature space and target.

For feature spaces ``X_1..X_m`` each target solves::

    min_w ||y - sum_i X_i w_i||^2 + sum_i alpha_i ||w_i||^2

Writing ``alpha_i = alpha / gamma_i`` with ``gamma`` on the simplex, this is
plain ridge with penalty ``alpha`` on ``X_gamma = [sqrt(gamma_1) X_1 | ... ]``.
:func:`solve_banded_ridge_cv` draws ``gamma`` (uniform first, then Dirichlet
samples), runs :func:`~neurotoolkit._ridge.solve_ridge_cv` over the alpha
grid for each, reusing the statistics of ``X`` (:class:`GroupScaledStats`),
keeps per target the (gamma, alpha) pair with the best CV score (himalaya's
``GroupRidgeCV`` random search; Dupre la Tour et al., 2022) and refits.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._utils.backend import get_backend
from .._utils.docs import fill_doc
from .._utils.logging import logger, progress
from .._utils.logging import verbose as verbose_decorator
from .._utils.random import check_random_state
from .._utils.validation import (
    _raise,
    check_array,
    check_consistent_length,
    check_fraction,
    check_int,
    check_option,
    check_positive_array,
    describe,
)
from ._selection import saturation
from ._solve_ridge import (
    GroupScaledStats,
    _resolve_folds,
    default_alphas,
    solve_ridge,
    solve_ridge_cv,
)

__all__ = ["BandedRidgeCVResults", "sample_gammas", "solve_banded_ridge_cv"]

_MIN_GAMMA = 1e-20  # Dirichlet draws with small concentration underflow to 0
_EPS = {"float32": float(np.finfo(np.float32).eps), "float64": float(np.finfo(np.float64).eps)}
_SELECTIONS = ("best", "shared")


@dataclass
class BandedRidgeCVResults:
    """Output of :func:`solve_banded_ridge_cv` (numpy arrays, one column per target).

    Attributes
    ----------
    alphas : (A,) the alpha grid that was searched (sorted).
    gammas : (n_iter, m) the simplex weights tried, in order.
    best_alphas : (t,) chosen overall penalty ``alpha``.
    best_gammas : (m, t) chosen simplex weights.
    band_alphas : (m, t) penalty of each space, ``best_alphas / best_gammas``.
    deltas : (m, t) ``log(best_gammas / best_alphas)`` (himalaya's parametrisation).
    best_alpha_index : (t,) index of ``best_alphas`` in ``alphas``.
    best_iter : (t,) index of ``best_gammas`` in ``gammas``.
    cv_scores : (n_iter, t) for each tried gamma, the CV score at that target's best alpha.
    best_cv_scores : (t,) CV score of the chosen pair (optimistic: it also chose the pair).
    best_gamma_cv_scores : (A, t) CV score of every alpha at each target's chosen gamma.
    coef : (p, t) | None weights on the unscaled, concatenated features (``refit=True``).
    intercept : (t,) | None
    saturated : (t,) bool, predictive targets whose alpha is at an edge of the grid.
    constant_targets : (t,) bool, targets with zero variance.
    slices : list of slice, the columns of each space.
    space_names : list of str
    n_iter : int, draws actually run (fewer than asked after an early stop).
    solver : "primal" | "dual"
    scoring : the CV score.
    n_folds : int
    info : dict, backend, device, dtype; "timings" (engine phases in seconds, summed over
        the gammas, plus the shared statistics and the refit) and "why" (the route of the
        first gamma).
    """

    alphas: np.ndarray
    gammas: np.ndarray
    best_alphas: np.ndarray
    best_gammas: np.ndarray
    band_alphas: np.ndarray
    deltas: np.ndarray
    best_alpha_index: np.ndarray
    best_iter: np.ndarray
    cv_scores: np.ndarray
    best_cv_scores: np.ndarray
    best_gamma_cv_scores: np.ndarray
    coef: np.ndarray = None
    intercept: np.ndarray = None
    saturated: np.ndarray = None
    constant_targets: np.ndarray = None
    slices: list = field(default_factory=list)
    space_names: list = field(default_factory=list)
    n_iter: int = 0
    solver: str = "primal"
    scoring: str = "r2"
    n_folds: int = 0
    info: dict = field(default_factory=dict)


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


def concat_spaces(Xs, name="Xs"):
    """One (n, p) design from a dict or list of (n, p_i) arrays.

    Returns the concatenated array (common dtype), the space names (dict keys,
    or ``space0, space1, ...``) and the widths ``p_i``.
    """
    if isinstance(Xs, dict):
        names = [str(k) for k in Xs]
        blocks = [check_array(f"{name}[{k!r}]", v, ndim=2) for k, v in Xs.items()]
    else:
        names = [f"space{i}" for i in range(len(Xs))]
        blocks = [check_array(f"{name}[{i}]", v, ndim=2) for i, v in enumerate(Xs)]
    if not blocks:
        _raise(name, "at least one feature space", f"an empty {type(Xs).__name__}")
    check_consistent_length(**{f"{name}[{i}]": b for i, b in enumerate(blocks)})
    dtype = np.result_type(*blocks)
    X = np.concatenate([b.astype(dtype, copy=False) for b in blocks], axis=1)
    return X, names, [b.shape[1] for b in blocks]


def _check_spaces(Xs, n_features_per_space):
    """(n, p) design, space names and column slices from a collection or one array."""
    if _is_space_collection(Xs):
        if n_features_per_space is not None:
            _raise("n_features_per_space", "None when `Xs` is a list or dict of spaces",
                   describe(n_features_per_space))
        X, names, widths = concat_spaces(Xs)
    else:
        X = check_array("Xs", Xs, ndim=2)
        if n_features_per_space is None:
            widths = [X.shape[1]]
        else:
            widths = np.atleast_1d(np.asarray(n_features_per_space))
            if (widths.ndim != 1 or widths.dtype.kind not in "iu" or np.any(widths < 1)
                    or widths.sum() != X.shape[1]):
                _raise("n_features_per_space",
                       f"positive integers summing to the {X.shape[1]} columns of `Xs`",
                       describe(n_features_per_space))
            widths = [int(w) for w in widths]
        names = [f"space{i}" for i in range(len(widths))]
    if min(widths) < 1:
        _raise("Xs", "at least one column in every space", f"widths {widths}")
    edges = np.concatenate([[0], np.cumsum(widths)])
    slices = [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
    return X, names, slices


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


def _check_gammas(n_iter, n_spaces, concentrations, random_state):
    if np.ndim(n_iter) == 0:
        n_iter = check_int("n_iter", n_iter, 1)
        if n_spaces == 1:  # every gamma is the same point: plain ridge
            return np.ones((1, 1))
        return sample_gammas(n_iter, n_spaces, concentrations, random_state)
    gammas = check_positive_array("n_iter", n_iter, ndim=2, strict=False)
    if gammas.shape[1] != n_spaces or np.any(gammas.sum(1) <= 0):
        _raise(
            "n_iter",
            f"an int or an array of non-negative gammas of shape (n_gammas, {n_spaces})",
            f"shape {gammas.shape}",
        )
    gammas = np.maximum(gammas / gammas.sum(1, keepdims=True), _MIN_GAMMA)
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


@fill_doc
@verbose_decorator
def solve_banded_ridge_cv(Xs, Y, alphas=None, cv=5, *, groups=None, n_features_per_space=None,
                          n_iter=100, concentrations=(0.1, 1.0), stop_fraction=1e-3,
                          stop_patience=10, fit_intercept=True, scoring="r2", solver="auto",
                          alpha_selection="best", refit=True, backend="auto", device="auto",
                          dtype="float32", memory_budget=None, saturation_threshold=0.05,
                          random_state=None, verbose=None):
    """Banded ridge regression: one penalty per feature space and target, by random search.

    Each target gets band penalties ``alpha / gamma_i``: ``gamma`` starts
    uniform on the simplex, then follows Dirichlet draws with
    concentrations cycling through ``concentrations``; for each ``gamma``,
    :func:`solve_ridge_cv` scores every alpha on the scaled design
    ``[sqrt(gamma_1) X_1 | ... | sqrt(gamma_m) X_m]`` (the statistics of
    ``X`` are computed once and rescaled), and each target keeps the pair
    with its best CV score. The refit is one ridge solve per distinct
    chosen ``gamma``.

    Parameters
    ----------
    Xs : list of array | dict of str -> array | array
        Feature spaces, each (n_samples, n_features_i); or one array
        (n_samples, n_features) split by ``n_features_per_space``.
    Y : array, shape (n_samples, n_targets) or (n_samples,)
        A 1-D ``Y`` is one target (results keep a target axis).
    alphas : array, shape (n_alphas,) | None
        Grid of the overall penalty ``alpha`` (sorted). None: 25 log-spaced
        values over [1e-4, 1e4] times the mean squared singular value of the
        centred design at uniform ``gamma``, shared by every ``gamma``.
    cv : int | "runs" | splitter | iterable of (train, test)
        Folds, resolved once (every ``gamma`` sees the same folds), exactly
        as in :func:`solve_ridge_cv`: more folds than samples is an error.
    groups : array, shape (n_samples,) | None
        Run (or session) label of each sample, for group-wise CV.
    n_features_per_space : sequence of int | None
        Widths of the spaces when ``Xs`` is one array (None: one space).
    n_iter : int | array, shape (n_gammas, n_spaces)
        Number of ``gamma`` draws (the first is uniform), or the ``gamma``
        values to try (rows are normalised to sum to 1).
    concentrations : float | sequence of float
        Dirichlet concentrations, cycled draw by draw (0.1 favours one
        dominant space, 1.0 is uniform on the simplex).
    stop_fraction : float
        Early stop: the search ends once fewer than this fraction of targets
        improved their CV score over the last ``stop_patience`` draws.
    stop_patience : int | None
        Window of the early stop, in draws. None disables it.
    fit_intercept : bool
    scoring : "r2" | "correlation" | "neg_mse"
        CV score to maximise (R^2 about the test mean).
    solver : "auto" | "primal" | "dual"
    alpha_selection : "best" | "shared"
        "best": each target its own (gamma, alpha) pair. "shared": one pair
        for all targets, the one with the best CV score averaged over targets.
    refit : bool
        Refit on all samples with each target's pair.
    %(backend)s
    %(device)s
    dtype : "float32" | "float64"
    %(memory_budget)s
    saturation_threshold : float | None
        Warn when more than this fraction of predictive targets chose
        ``alpha`` at an edge of the grid, judged once on the final choice.
        None disables.
    %(random_state)s
    %(verbose)s

    Returns
    -------
    results : BandedRidgeCVResults
        ``best_alphas`` (t,), ``best_gammas`` (m, t), ``band_alphas`` (m, t),
        ``cv_scores`` (n_iter, t), ``coef`` (p, t), ``intercept`` (t,), ...

    References
    ----------
    Dupre la Tour, Eickenberg, Nunez-Elizalde & Gallant (2022). Feature-space
    selection with banded ridge regression. NeuroImage 264, 119728.
    """
    X_all, names, slices = _check_spaces(Xs, n_features_per_space)
    Y = check_array("Y", Y, ndim=(1, 2))
    if Y.ndim == 1:
        Y = Y[:, None]
    check_consistent_length(Xs=X_all, Y=Y)
    if len(X_all) < 2:
        _raise("Xs", "at least 2 samples", f"{len(X_all)} sample (shape {X_all.shape})")
    check_option("alpha_selection", alpha_selection, _SELECTIONS)
    if saturation_threshold is not None:
        check_fraction("saturation_threshold", saturation_threshold)
    n_targets = Y.shape[1]
    gammas = _check_gammas(n_iter, len(slices), concentrations, random_state)
    if stop_patience is not None:
        stop_patience = check_int("stop_patience", stop_patience, 1)
    stop_fraction_ = float(stop_fraction)
    if not 0 <= stop_fraction_ <= 1:
        _raise("stop_fraction", "a number in [0, 1]", describe(stop_fraction))
    if alphas is not None:
        alphas = np.sort(check_positive_array("alphas", alphas)).astype(np.float64)
    else:
        alphas = default_alphas(X_all * np.sqrt(1.0 / len(slices)), fit_intercept)
    folds = _resolve_folds(cv, groups, len(Y))
    # X^T X (per fold) or the per-space kernels, computed once for every gamma
    be = get_backend(backend, device=device, dtype=dtype)
    t0 = time.perf_counter()
    x_stats = GroupScaledStats(X_all, folds, slices, fit_intercept, solver, be)
    timings = {"x_statistics": time.perf_counter() - t0}  # engine phases, summed over gammas
    why = None
    cv_kwargs = dict(fit_intercept=fit_intercept, scoring=scoring, solver=solver, refit=False,
                     alpha_selection=alpha_selection, backend=be, dtype=dtype,
                     memory_budget=memory_budget,
                     saturation_threshold=1.0)  # checked once, on the final choice
    shared = alpha_selection == "shared"
    eps = _EPS[dtype if dtype in _EPS else "float32"]
    best_scores = np.full(n_targets, -np.inf)
    best_table = np.zeros((len(alphas), n_targets))  # CV scores at the chosen gamma
    best_index = np.zeros(n_targets, dtype=np.int64)
    best_iter = np.zeros(n_targets, dtype=np.int64)
    best_alphas = np.ones(n_targets)
    last_improved = np.zeros(n_targets, dtype=np.int64)
    cv_scores = []
    n_done = 0
    logger.info(
        "solve_banded_ridge_cv: %d spaces (%s), %d targets, up to %d gammas, %d alphas, "
        "%d folds; %s backend on %s",
        len(slices), ", ".join(names), n_targets, len(gammas), len(alphas), len(folds),
        be.name, be.device,
    )
    for it in progress(range(len(gammas)), desc="gammas"):
        with warnings.catch_warnings():
            if it > 0:  # input warnings (constant targets...) were given on the first call
                warnings.simplefilter("ignore")
            res = solve_ridge_cv(X_all, Y, alphas, folds, **cv_kwargs,
                                 _x_stats=x_stats.with_gamma(gammas[it]))
        for phase_name, sec in res.info["timings"].items():
            timings[phase_name] = timings.get(phase_name, 0.0) + sec
        why = why or res.info["why"]
        score = _score_at_best(res)
        cv_scores.append(score)
        n_done = it + 1
        if shared:  # all targets move together, judged on the mean score
            gain = score.mean() > best_scores.mean() + eps
            improved = np.full(n_targets, gain)
        else:
            improved = score > best_scores + eps
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
            if recent < stop_fraction_ * n_targets:
                logger.info(
                    "Early stop after %d gammas: %d of %d targets improved in the last %d.",
                    n_done, recent, n_targets, stop_patience,
                )
                break

    gammas = gammas[:n_done]
    best_gammas = gammas[best_iter].T.copy()
    coef = intercept = None
    if refit:
        t0 = time.perf_counter()
        coef, intercept = _refit(X_all, Y, slices, gammas, best_iter, best_alphas, x_stats, be,
                                 fit_intercept, dtype, memory_budget)
        timings["refit"] = timings.get("refit", 0.0) + time.perf_counter() - t0
    threshold = 1.0 if saturation_threshold is None else saturation_threshold
    *_, saturated = saturation(best_index, best_table, alphas, constant, threshold, scoring)
    return BandedRidgeCVResults(
        alphas=alphas, gammas=gammas, best_alphas=best_alphas, best_gammas=best_gammas,
        band_alphas=best_alphas[None] / best_gammas,
        deltas=np.log(best_gammas) - np.log(best_alphas)[None],
        best_alpha_index=best_index, best_iter=best_iter, cv_scores=np.stack(cv_scores),
        best_cv_scores=best_scores, best_gamma_cv_scores=best_table, coef=coef,
        intercept=intercept, saturated=saturated, constant_targets=constant, slices=slices,
        space_names=names, n_iter=n_done, solver=x_stats.solver, scoring=scoring,
        n_folds=len(folds),
        info={"backend": be.name, "device": str(be.device), "dtype": be.dtype_name,
              "timings": timings, "why": why},
    )


def _refit(X_all, Y, slices, gammas, best_iter, best_alphas, x_stats, be, fit_intercept, dtype,
           memory_budget):
    """One ridge solve per distinct chosen gamma, with per-target alphas (the statistics
    of ``X_all`` in ``x_stats`` are reused: no kernel or Gram is recomputed)."""
    coef = np.zeros((X_all.shape[1], Y.shape[1]), dtype=np.dtype(dtype))
    intercept = np.zeros(Y.shape[1])
    for it in np.unique(best_iter):
        cols = np.flatnonzero(best_iter == it)
        scale = _column_scale(slices, gammas[it], X_all.shape[1])
        w, b = solve_ridge(X_all, Y[:, cols], best_alphas[cols], fit_intercept=fit_intercept,
                           backend=be, dtype=dtype, memory_budget=memory_budget,
                           _x_stats=x_stats.with_gamma(gammas[it]))
        coef[:, cols] = np.asarray(w) * scale[:, None]
        intercept[cols] = np.asarray(b)
    return coef, intercept
