"""Cross-validated ridge with one alpha per target, from sufficient statistics.

``solve_ridge_cv`` is the engine behind :class:`~neurotoolkit.encoding.RidgeCV`.
Per fold it decomposes the training design once
(primal: eigh of the (p, p) Gram; dual: eigh of the (n_tr, n_tr) kernel;
low-rank: a primal fit on an exact rank-r factor; the route comes from a cost
model, ``_route.py``) and scores every alpha from rotated statistics, so no
per-alpha solution or prediction matrix is ever formed. Targets are streamed in
batches sized from a memory budget; the refit uses every target's own alpha
in one pass.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from .._utils.backend import get_backend
from .._utils.docs import fill_doc
from .._utils.logging import logger, progress, warn
from .._utils.logging import verbose as verbose_decorator
from .._utils.memory import batch_size_from_budget, format_bytes, resolve_memory_budget
from .._utils.validation import (
    _raise,
    check_array,
    check_consistent_length,
    check_fraction,
    check_option,
    check_positive_array,
    check_type,
    describe,
)
from ._alpha_path import score_alpha_path
from ._distributed import solve_distributed
from ._dual import DualPlan
from ._primal import PrimalPlan
from ._profile import PHASES, phase, timing
from ._route import GroupScaledStats, make_plan
from ._scores import SCORINGS
from ._selection import saturation, select_alphas

__all__ = ["GroupScaledStats", "RidgeCVResults", "default_alphas", "solve_ridge", "solve_ridge_cv"]

_SELECTIONS = ("best", "1se", "shared")
# On the CPU, batches larger than this are not faster (the products are
# already large), only heavier: the budget is an upper bound, not a target.
_CPU_MAX_BATCH = 8192
# ... and the per-batch arrays ((n, t_b) targets, (rank, t_b) float64 rotations) are kept
# under this size: larger blocks are mmap-allocated afresh by the C library on every
# batch and fold, and their page faults cost as much as the elementwise passes
# (measured: 7.2 s with 8192 targets per batch, 5.9 s with 2048, n 4000, p 1024).
_CPU_BATCH_BYTES = 32 << 20


def _cpu_batch_cap(plan, itemsize):
    """Targets per batch that keep the largest per-batch arrays within _CPU_BATCH_BYTES."""
    widest = max(itemsize * plan.n_samples, 8 * max(plan.max_rank, 1))
    return max(256, min(_CPU_MAX_BATCH, (_CPU_BATCH_BYTES // widest) // 256 * 256))


@dataclass
class RidgeCVResults:
    """Output of :func:`solve_ridge_cv` (all numpy arrays).

    Attributes
    ----------
    alphas : (A,) the grid that was searched.
    best_alphas : (t,) the alpha chosen for each target.
    best_alpha_index : (t,) its index in ``alphas``.
    cv_scores : (A, t) CV score of every alpha, mean over folds (float64).
    fold_scores : (k, A, t) | None per-fold scores (``return_fold_scores=True``).
    coef : (p, t) | None refit weights.
    dual_coef : (n, t) | None dual coefficients (dual form only).
    intercept : (t,) | None
    x_mean, y_mean : (p,), (t,) means removed before fitting (zeros without intercept).
    solver : "primal" | "dual" | "lowrank"
    scoring : the CV score.
    n_saturated_low, n_saturated_high : predictive targets whose best alpha is
        the smallest / largest of the grid.
    n_unpredictive_saturated : unpredictive targets (best CV score <= 0) at an edge.
    saturated : (t,) bool, predictive targets at an edge.
    constant_targets : (t,) bool, targets with zero variance (score 0, weights 0).
    n_folds, batch_size : int.
    info : dict with "backend", "device", "dtype", "memory_budget", "max_rank",
        "route" (the form used), "why" (the cost-model figures or the reason),
        "seconds" and "timings" ({phase: seconds}, phases of
        ``neurotoolkit._ridge._profile.PHASES``).
    extended_alphas : (A_ext,) | None the grid extended by ``extend_grid=True``
        (original values plus the added decades), sorted.
    extended_targets : (t_ext,) | None indices of the targets re-scored on it
        (predictive targets that saturated at an edge of ``alphas``).
    extended_cv_scores : (A_ext, t_ext) | None their CV scores on the extended
        grid; ``cv_scores`` keeps the original grid for every target, and
        ``best_alpha_index`` indexes ``alphas`` (the edge, for these targets)
        while ``best_alphas`` holds the alpha chosen on the extended grid.
    """

    alphas: np.ndarray
    best_alphas: np.ndarray
    best_alpha_index: np.ndarray
    cv_scores: np.ndarray
    fold_scores: np.ndarray = None
    coef: np.ndarray = None
    dual_coef: np.ndarray = None
    intercept: np.ndarray = None
    x_mean: np.ndarray = None
    y_mean: np.ndarray = None
    solver: str = "primal"
    scoring: str = "r2"
    n_saturated_low: int = 0
    n_saturated_high: int = 0
    n_unpredictive_saturated: int = 0
    saturated: np.ndarray = None
    constant_targets: np.ndarray = None
    n_folds: int = 0
    batch_size: int = 0
    info: dict = field(default_factory=dict)
    extended_alphas: np.ndarray = None
    extended_targets: np.ndarray = None
    extended_cv_scores: np.ndarray = None


# return_weights="auto" in the dual form: the (p, t) weights are formed up to this size
DUAL_WEIGHTS_AUTO_BYTES = 1 << 30

def default_alphas(X, fit_intercept=True, n_alphas=25, low=1e-4, high=1e4):
    """Data-scaled grid: ``n_alphas`` log-spaced values over [low, high] x mean(s^2).

    ``mean(s^2) = ||X_c||_F^2 / min(n, p)`` is the mean squared singular
    value of the (centred) design, so the grid follows the scale of X.
    """
    X = np.asarray(X)
    Xc = X - X.mean(0) if fit_intercept else X
    scale = float(np.square(Xc, dtype=np.float64).sum()) / max(min(X.shape), 1)
    if not scale > 0:
        scale = 1.0
    return np.logspace(np.log10(low), np.log10(high), n_alphas) * scale


def _resolve_folds(cv, groups, n_samples):
    from ..data._splits import make_cv

    if groups is not None:
        groups = check_array("groups", groups, ndim=1, dtype=None)
        check_consistent_length(X=np.empty(n_samples), groups=groups)
    folds = make_cv(cv, runs=groups, n_samples=n_samples)
    folds = [(np.asarray(tr), np.asarray(te)) for tr, te in folds]
    if not folds:
        _raise("cv", "at least one (train, test) split", "none")
    for i, (tr, te) in enumerate(folds):
        for name, idx in (("train", tr), ("test", te)):
            if idx.dtype == bool:
                _raise("cv", "integer index arrays", f"a boolean {name} mask in split {i}")
            if idx.size == 0:
                _raise("cv", "non-empty train and test sets", f"an empty {name} set in split {i}")
            if idx.min() < 0 or idx.max() >= n_samples:
                _raise("cv", f"indices in [0, {n_samples})",
                       f"{name} indices from {idx.min()} to {idx.max()} in split {i}")
        if tr.size < 2:
            _raise("cv", "at least 2 training samples per split",
                   f"{tr.size} in split {i}", "Use fewer folds or more samples.")
    return folds


def _check_inputs(X, Y, alphas, fit_intercept, scoring, solver, alpha_selection,
                  saturation_threshold, return_weights):
    X = check_array("X", X, ndim=2)
    Y = check_array("Y", Y, ndim=(1, 2))
    if Y.ndim == 1:
        Y = Y[:, None]
    check_consistent_length(X=X, Y=Y)
    if X.shape[0] < 2:
        _raise("X", "at least 2 samples", f"shape {X.shape}")
    if X.shape[1] < 1 or Y.shape[1] < 1:
        _raise("X" if X.shape[1] < 1 else "Y", "at least one column", f"shape {X.shape}")
    check_type("fit_intercept", fit_intercept, bool)
    check_option("scoring", scoring, SCORINGS)
    check_option("solver", solver, ("auto", "primal", "dual", "lowrank"))
    check_option("alpha_selection", alpha_selection, _SELECTIONS)
    check_fraction("saturation_threshold", saturation_threshold)
    if not (return_weights == "auto" or isinstance(return_weights, bool)):
        _raise("return_weights", "'auto', True or False", describe(return_weights))
    if alphas is None:
        alphas = default_alphas(X, fit_intercept)
    else:
        alphas = check_positive_array("alphas", alphas).astype(np.float64)
    return X, Y, alphas


@fill_doc
@verbose_decorator
def solve_ridge_cv(X, Y, alphas=None, cv=5, *, groups=None, fit_intercept=True, scoring="r2",
                   solver="auto", alpha_selection="best", refit=True, backend="auto",
                   device="auto", dtype="float32", memory_budget=None,
                   saturation_threshold=0.05, return_fold_scores=False,
                   return_weights="auto", client=None, extend_grid=False, verbose=None,
                   _x_stats=None, _plan=None):
    """Ridge regression with one cross-validated alpha per target.

    Parameters
    ----------
    X : array, shape (n_samples, n_features)
    Y : array, shape (n_samples, n_targets) or (n_samples,)
        A 1-D ``Y`` is treated as one target (results keep a target axis).
    alphas : array, shape (n_alphas,) | None
        Positive penalties. None: 25 log-spaced values over [1e-4, 1e4] times
        the mean squared singular value of the centred design.
    cv : int | "runs" | splitter | iterable of (train, test)
        Folds, resolved by :func:`neurotoolkit.data._splits.make_cv`. An int
        gives contiguous, unshuffled blocks; "runs" leaves one group of
        ``groups`` out at a time.
    groups : array, shape (n_samples,) | None
        Run (or session) label of each sample, for group-wise CV.
    fit_intercept : bool
        Centre X and Y with the training means of every fold (and of the
        full data for the refit).
    scoring : "r2" | "correlation" | "neg_mse"
        CV score to maximize. R^2 uses the test mean (himalaya's convention).
    solver : "auto" | "primal" | "dual" | "lowrank"
        "auto" picks the primal or the dual form from a cost model of the
        actual shapes (``neurotoolkit._ridge._route``), and the low-rank
        route (a primal fit on ``F`` with ``X_c = F V^T``, exact) when the
        full-data decomposition shows a numerical rank of at most half of
        ``min(n_train, n_features)``; ``info["route"]`` and ``info["why"]``
        in the results say which and why. In the dual form with R^2 or MSE
        scoring and folds whose training sets are the complements of their
        test sets, every fold is scored by block deletion on ONE
        decomposition of the full kernel when the cost model finds it
        cheaper than one decomposition per fold (``_ridge/_dual_block.py``).
        "lowrank" finds ``F`` by a randomized range finder and raises when X
        is not of low rank.
    alpha_selection : "best" | "1se" | "shared"
        Per-target argmax (ties go to the larger alpha); the largest alpha
        within one fold-standard-deviation of the best; or one alpha for all
        targets (argmax of the mean over targets).
    refit : bool
        Refit on all samples with each target's alpha.
    %(backend)s
    %(device)s
    dtype : "float32" | "float64"
        Working precision of the large products (scores are accumulated in
        float64). With "float32", each decomposition runs in float32 when the
        regularized matrix ``M + min(alphas) I`` has a condition number of at
        most 50 (the constant null vector of a centred kernel is deflated
        first), else in float64.
    %(memory_budget)s
        On the CPU a batch holds at most 8192 targets, which is as fast as
        larger batches and lighter.
    saturation_threshold : float
        Warn when more than this fraction of predictive targets chose an
        alpha at the edge of the grid.
    return_fold_scores : bool
        Also return the (n_folds, n_alphas, n_targets) scores.
    return_weights : "auto" | bool
        Form the primal weights (p, t). "auto": always in the primal form;
        in the dual form only when ``p * t`` values fit in half the memory budget
        and in ``DUAL_WEIGHTS_AUTO_BYTES`` (1 GiB): forming them costs
        ``2 n p t`` flops, as much as a large part of the fit, and predictions
        from the dual coefficients and the kept design are the same.
    client : dask.distributed.Client | None
        Run the same fit over target chunks on the cluster: X and, with the
        numpy backend, the X-side plan (statistics and decompositions, built
        here once) are scattered to every worker, each chunk of targets to
        one worker. Results are the same as the single-process fit.
    extend_grid : bool
        When predictive targets choose an alpha at an edge of the grid, add
        3 decades on that side (same log spacing) and re-score only those
        targets; they take their alpha from the extended grid (see
        ``extended_*`` in the results; ``cv_scores`` stays on ``alphas``).
        The extension costs one more set of per-fold decompositions and the
        re-scored targets' work. Ignored with ``alpha_selection="shared"``,
        a single alpha or ``client``. The saturation warning then judges
        the extended grid.
    %(verbose)s
    _x_stats : GroupScaledStats | None
        Private (banded ridge): precomputed statistics of ``X`` and the folds,
        with a group scaling; ``X`` is then the unscaled design.
    _plan : plan | None
        Private (dask workers): the X-side plan of ``X``, ``cv`` and ``alphas``, built
        once by the client (``_route.make_plan``) instead of on every worker.

    Returns
    -------
    results : RidgeCVResults
        numpy arrays: ``best_alphas`` (t,), ``cv_scores`` (A, t), ``coef``
        (p, t), ``intercept`` (t,), ``dual_coef`` (n, t) in the dual form, ...
    """
    X, Y, alphas = _check_inputs(X, Y, alphas, fit_intercept, scoring, solver,
                                 alpha_selection, saturation_threshold, return_weights)
    check_type("extend_grid", extend_grid, bool)
    n, p = X.shape
    folds = _resolve_folds(cv, groups, n)
    if client is not None:
        return solve_distributed(
            client, X, Y, alphas, folds, fit_intercept=fit_intercept, scoring=scoring,
            solver=solver, alpha_selection=alpha_selection, refit=refit, backend=backend,
            device=device, dtype=dtype, memory_budget=memory_budget,
            saturation_threshold=saturation_threshold,
            return_fold_scores=return_fold_scores, return_weights=return_weights)
    be = get_backend(backend, device=device, dtype=dtype)
    t0 = time.perf_counter()
    with timing(be.synchronize if be.is_cuda else None) as times:
        res = _fit(X, Y, alphas, folds, be, fit_intercept=fit_intercept, scoring=scoring,
                   solver=solver, alpha_selection=alpha_selection, refit=refit, dtype=dtype,
                   memory_budget=memory_budget, saturation_threshold=saturation_threshold,
                   return_fold_scores=return_fold_scores, return_weights=return_weights,
                   extend_grid=extend_grid, _x_stats=_x_stats, _plan=_plan)
    res.info["seconds"] = time.perf_counter() - t0
    res.info["timings"] = {k: times[k] for k in PHASES if k in times}
    return res


def _fit(X, Y, alphas, folds, be, *, fit_intercept, scoring, solver, alpha_selection, refit,
         dtype, memory_budget, saturation_threshold, return_fold_scores, return_weights,
         extend_grid, _x_stats, _plan=None):
    """:func:`solve_ridge_cv` on one process, after validation (see there)."""
    n, p = X.shape
    t = Y.shape[1]
    budget = resolve_memory_budget(memory_budget, be)
    A, k = len(alphas), len(folds)
    weights_fit = p * t * be.itemsize <= min(budget // 2, DUAL_WEIGHTS_AUTO_BYTES)
    plan = _plan if _plan is not None else make_plan(
        X, Y.shape, folds, alphas, fit_intercept, solver, be, refit, _x_stats,
        weights=return_weights is True or (return_weights == "auto" and weights_fit),
        scoring=scoring)
    has_dual = getattr(plan, "has_dual", plan.solver == "dual")
    if return_weights == "auto":
        return_weights = not has_dual or weights_fit
    need_coef = refit and (return_weights or not has_dual)
    fixed = plan.fixed_bytes()
    per_target = plan.bytes_per_target(A, k, need_coef)
    t_b = batch_size_from_budget(budget, fixed, per_target, t)
    if not be.is_cuda:  # CPU products are at full speed well before this; keep memory low
        t_b = min(t_b, _cpu_batch_cap(plan, be.itemsize))
    logger.info(
        "solve_ridge_cv: %s form (n=%d, p=%d, t=%d, %d alphas, %d folds, max rank %d); "
        "%s backend on %s, %s; budget %s -> %d targets per batch; why: %s",
        plan.solver, n, p, t, A, k, plan.max_rank, be.name, be.device, be.dtype_name,
        format_bytes(budget), t_b, plan.why,
    )
    const = np.zeros(t, dtype=bool)
    y_mean = np.zeros(t)
    cv_scores = np.empty((A, t))
    fold_scores = np.empty((k, A, t)) if return_fold_scores else None
    best_idx = np.zeros(t, dtype=np.int64)
    coef = np.empty((p, t), dtype=be.dtype_name) if refit and return_weights else None
    dual_coef = np.empty((n, t), dtype=be.dtype_name) if refit and has_dual else None
    intercept = np.zeros(t) if refit else None
    two_pass = alpha_selection == "shared"
    extend_grid = extend_grid and not two_pass and A >= 2
    if extend_grid and fold_scores is None:  # kept for the selection on the extended grid
        fold_scores = np.empty((k, A, t))
    best_alpha = np.empty(t)

    eps_w = np.finfo(be.dtype_name).eps

    def load(sl):
        """Batch of targets on the backend, centred with the full mean; flags constants."""
        Yh = Y[:, sl]
        if fit_intercept:
            mu = Yh.mean(0, dtype=np.float64)
            Yb = be.asarray(Yh) - be.asarray(mu)  # one pass: copy and centre
            ss = be.to_numpy(be.sumsq(Yb, accurate=False)).astype(np.float64)
            c = ss <= Yh.shape[0] * (4 * eps_w * np.abs(mu)) ** 2
            y_mean[sl] = mu
            if c.any():
                Yb[:, be.index(np.flatnonzero(c))] = 0
        else:
            Yb = be.asarray(Yh)
            if be.name == "numpy":
                Yb = np.ascontiguousarray(Yb)
            c = np.ptp(Yh, axis=0) == 0
        const[sl] = c
        return Yb

    def do_refit(Yb, sl, state):
        with phase("refit"):
            W, C = plan.refit_batch(Yb, best_alpha[sl], state, return_weights=need_coef)
            intercept[sl] = y_mean[sl] - plan.mean_prediction(W, C) if fit_intercept else 0.0
            if W is not None and coef is not None:
                coef[:, sl] = be.to_numpy(W)
            if C is not None and dual_coef is not None:
                dual_coef[:, sl] = be.to_numpy(C)

    pos = 0
    bar = progress(total=t, desc=f"ridge CV ({plan.solver})")
    while pos < t:
        sl = slice(pos, min(pos + t_b, t))
        try:
            with phase("load"):
                Yb = load(sl)
            with phase("y_statistics"):
                state = plan.begin_batch(Yb)
            if hasattr(plan, "score_batch"):  # every fold at once (block deletion)
                with phase("scoring"):
                    fs = plan.score_batch(Yb, state, alphas, scoring)
            else:
                fs = np.empty((k, A, sl.stop - sl.start))
                for i, f in enumerate(plan.folds):
                    with phase("rotations"):
                        Z, B, Yte, m_y = plan.fold_stats(f, Yb, state)
                    with phase("scoring"):
                        fs[i] = score_alpha_path(f, Z, B, Yte, m_y, alphas, scoring, be)
                    del Z, B, Yte
            fs[:, :, const[sl]] = 0.0
            cv_scores[:, sl] = fs.mean(0)
            if fold_scores is not None:
                fold_scores[:, :, sl] = fs
            if not two_pass:
                with phase("selection"):
                    best_idx[sl] = select_alphas(fs, alphas, alpha_selection)
                best_alpha[sl] = alphas[best_idx[sl]]
                if refit and not extend_grid:
                    do_refit(Yb, sl, state)
            del Yb, state
        except be.oom_errors:
            be.empty_cache()
            if t_b == 1:
                raise
            t_b = max(1, t_b // 2)
            logger.info("out of memory: retrying with %d targets per batch", t_b)
            continue
        bar.update(sl.stop - sl.start)
        pos = sl.stop
    bar.close()
    if two_pass:
        best_idx[:] = select_alphas(cv_scores[None], alphas, "shared")
        best_alpha[:] = alphas[best_idx]
    ext = None
    edges = None
    if extend_grid:
        *_, flagged = saturation(best_idx, cv_scores, alphas, const, 1.0, scoring)
        if flagged.any():
            ext = _extend_grid(
                X, Y, alphas, folds, flagged, best_idx, fold_scores, alpha_selection,
                {"fit_intercept": fit_intercept, "scoring": scoring, "solver": {"lowrank": "auto"}.get(plan.solver, plan.solver),
                 "backend": be, "dtype": dtype,
                 "memory_budget": memory_budget, "_x_stats": _x_stats})
            best_alpha[ext["targets"]] = ext["best"]
            edge_lo = best_idx == int(np.argmin(alphas))
            edge_hi = best_idx == int(np.argmax(alphas))
            edge_lo[ext["targets"]] = ext["edge_lo"]
            edge_hi[ext["targets"]] = ext["edge_hi"]
            edges = (edge_lo, edge_hi)
    if refit and (two_pass or extend_grid):
        for start in range(0, t, t_b):
            sl = slice(start, min(start + t_b, t))
            do_refit(load(sl), sl, None)
    n_low, n_high, n_unpred, saturated = saturation(
        best_idx, cv_scores, alphas, const, saturation_threshold, scoring, edges=edges)
    if not return_fold_scores:
        fold_scores = None
    if const.any():
        warn(f"{int(const.sum())} constant targets (zero variance): their scores are 0 and "
             "their weights 0.")
    return RidgeCVResults(
        alphas=alphas, best_alphas=best_alpha, best_alpha_index=best_idx,
        cv_scores=cv_scores, fold_scores=fold_scores, coef=coef, dual_coef=dual_coef,
        intercept=intercept, x_mean=plan.x_mean, y_mean=y_mean, solver=plan.solver,
        scoring=scoring, n_saturated_low=n_low, n_saturated_high=n_high,
        n_unpredictive_saturated=n_unpred, saturated=saturated, constant_targets=const,
        n_folds=k, batch_size=t_b,
        info={"backend": be.name, "device": str(be.device), "dtype": be.dtype_name,
              "memory_budget": budget, "max_rank": plan.max_rank, "route": plan.route,
              "why": plan.why},
        extended_alphas=None if ext is None else ext["alphas"],
        extended_targets=None if ext is None else ext["targets"],
        extended_cv_scores=None if ext is None else ext["cv_scores"],
    )


_EXTEND_DECADES = 3.0


def _extend_grid(X, Y, alphas, folds, flagged, best_idx, fold_scores, alpha_selection, kw):
    """Re-score the ``flagged`` targets on alphas added beyond the saturated edges.

    Only the new alphas are scored (the original ones are in ``fold_scores``);
    selection then runs on the union. Returns a dict with the extended grid,
    the targets, their (A_ext, t_ext) CV scores, chosen alphas and edge flags.
    """
    lo_i, hi_i = int(np.argmin(alphas)), int(np.argmax(alphas))
    logs = np.log10(np.sort(alphas))
    step = float(np.median(np.diff(logs)))
    if not step > 0:
        step = 1.0
    n_new = max(1, int(np.ceil(_EXTEND_DECADES / step - 1e-9)))
    targets = np.flatnonzero(flagged)
    new = []
    if (best_idx[targets] == lo_i).any():
        new.append(alphas[lo_i] * 10.0 ** (-step * np.arange(n_new, 0, -1)))
    if (best_idx[targets] == hi_i).any():
        new.append(alphas[hi_i] * 10.0 ** (step * np.arange(1, n_new + 1)))
    new = np.concatenate(new)
    logger.info("extend_grid: re-scoring %d saturated targets on %d added alphas",
                targets.size, new.size)
    res = solve_ridge_cv(X, Y[:, targets], new, folds, refit=False, return_fold_scores=True,
                         saturation_threshold=1.0, **kw)
    grid = np.concatenate([alphas, new])
    order = np.argsort(grid, kind="stable")
    fs = np.concatenate([fold_scores[:, :, targets], res.fold_scores], axis=1)[:, order]
    grid = grid[order]
    idx = select_alphas(fs, grid, alpha_selection)
    return {"alphas": grid, "targets": targets, "cv_scores": fs.mean(0), "best": grid[idx],
            "edge_lo": idx == 0, "edge_hi": idx == grid.size - 1}


def solve_ridge(X, Y, alpha, *, fit_intercept=True, solver="auto", backend="auto",
                device="auto", dtype="float32", memory_budget=None, return_weights=True,
                _x_stats=None):
    """Ridge solution for a fixed alpha, scalar or one per target, in one pass.

    ``W = V (D * Z)`` with ``D[k, j] = 1 / (lam_k + alpha_j)``: no loop over
    distinct alphas (primal form); the dual form computes
    ``C = U (D * U^T Y)`` and ``W = X_c^T C``.

    Parameters
    ----------
    X : array, shape (n_samples, n_features)
    Y : array, shape (n_samples, n_targets) or (n_samples,)
    alpha : float | array, shape (n_targets,)
        Positive penalty (one per target allowed).
    fit_intercept : bool
    solver : "auto" | "primal" | "dual"
    backend, device, dtype, memory_budget :
        As in :func:`solve_ridge_cv`.
    return_weights : bool
        In the dual form, return the dual coefficients (n, t) instead of
        weights when False.
    _x_stats : GroupScaledStats | None
        Private (banded ridge refit): precomputed statistics of the unscaled
        ``X`` with a group scaling, as in :func:`solve_ridge_cv`.

    Returns
    -------
    coef : ndarray, shape (n_features, n_targets) (or (n_samples, n_targets)
        dual coefficients when ``return_weights=False`` in the dual form);
        1-D for a 1-D ``Y``.
    intercept : ndarray, shape (n_targets,) (float for a 1-D ``Y``).
    """
    one_d = np.ndim(Y) == 1
    X, Y, _ = _check_inputs(X, Y, np.ones(1), fit_intercept, "r2", solver, "best", 0.05,
                            return_weights)
    n, p = X.shape
    t = Y.shape[1]
    alpha = check_positive_array("alpha", alpha).astype(np.float64)
    if alpha.size == 1:
        alpha = np.full(t, alpha[0])
    elif alpha.size != t:
        _raise("alpha", f"a positive float or an array of shape ({t},) (one per target)",
               f"shape {alpha.shape}")
    be = get_backend(backend, device=device, dtype=dtype)
    if _x_stats is not None:
        plan = _x_stats.make_plan(X, [], alpha, fit_intercept, be, True)
        solver = plan.solver
    else:
        if solver == "auto":
            solver = "dual" if p > n else "primal"
        cls = DualPlan if solver == "dual" else PrimalPlan
        plan = cls(X, [], alpha, fit_intercept, be, refit=True)
    budget = resolve_memory_budget(memory_budget, be)
    per = plan.bytes_per_target(1, 0, True)
    t_b = batch_size_from_budget(budget, plan.fixed_bytes(), per, t)
    dual = solver == "dual" and not return_weights
    out = np.empty((n if dual else p, t), dtype=be.dtype_name)
    intercept = np.zeros(t)
    for start in range(0, t, t_b):
        sl = slice(start, min(start + t_b, t))
        Yh = Y[:, sl]
        Yb = be.copy(Yh)
        mu = Yh.mean(0, dtype=np.float64) if fit_intercept else np.zeros(sl.stop - sl.start)
        if fit_intercept:
            Yb -= be.asarray(mu)
        W, C = plan.refit_batch(Yb, alpha[sl], None, return_weights=not dual)
        out[:, sl] = be.to_numpy(C if dual else W)
        if fit_intercept:
            intercept[sl] = mu - plan.mean_prediction(W, C)
    if one_d:
        return out[:, 0], float(intercept[0])
    return out, intercept
