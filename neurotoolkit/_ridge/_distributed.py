"""solve_ridge_cv over target chunks on a dask.distributed cluster.

Targets are independent given X and the folds, so each worker runs the
single-process solver on its chunk (X is scattered once, with the same alphas
and folds) and the chunks are concatenated: the result is the same as one
fit. The X side (statistics, decompositions, per-fold arrays: the plan) is
built once by the client and scattered with X, so workers only do the
per-target work (numpy backend; other backends build it on each worker).
Saturation counts and warnings are computed once, centrally.
"""

import numpy as np

from .._utils.logging import logger, warn
from .._utils.validation import _raise
from ._selection import saturation

__all__ = ["solve_distributed"]


def _solve_chunk(X, Y, alphas, folds, kwargs, plan=None):
    """Worker-side fit of one chunk of targets (no warnings: they are summed centrally)."""
    import warnings

    from ._solve_ridge import solve_ridge_cv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return solve_ridge_cv(X, Y, alphas, folds, saturation_threshold=1.0,
                              return_fold_scores=True, _plan=plan, **kwargs)


def _shared_plan(X, t, alphas, folds, kwargs):
    """The X-side plan built here for every worker, or None (non-numpy backends)."""
    from .._utils.backend import get_backend, resolve_backend
    from ._route import make_plan
    from ._solve_ridge import DUAL_WEIGHTS_AUTO_BYTES

    name, _ = resolve_backend(kwargs.get("backend", "auto"), kwargs.get("device", "auto"))
    if name != "numpy":  # torch plans hold device tensors: built on each worker
        return None
    be = get_backend("numpy", dtype=kwargs.get("dtype", "float32"))
    rw = kwargs.get("return_weights", "auto")
    weights = rw is True or (rw == "auto"
                             and X.shape[1] * t * be.itemsize <= DUAL_WEIGHTS_AUTO_BYTES)
    return make_plan(X, (X.shape[0], t), folds, alphas, kwargs.get("fit_intercept", True),
                     kwargs.get("solver", "auto"), be, kwargs.get("refit", True),
                     weights=weights, scoring=kwargs.get("scoring", "r2"))


def solve_distributed(client, X, Y, alphas, folds, *, saturation_threshold,
                       return_fold_scores, alpha_selection, **kwargs):
    """Fit target chunks on the workers of ``client``; see :func:`solve_ridge_cv`."""
    from ._solve_ridge import RidgeCVResults

    if alpha_selection == "shared":
        _raise("alpha_selection", "'best' or '1se' with a dask `client`", "'shared'",
               "Run without `client` to share one alpha across targets.")
    t = Y.shape[1]
    workers = client.scheduler_info().get("workers", {})
    n_workers = max(1, len(workers))
    limits = [w.get("memory_limit") or 0 for w in workers.values()]
    if kwargs.get("memory_budget") is None and limits and min(limits) > 0:
        kwargs["memory_budget"] = int(0.7 * min(limits))  # each worker's share, not the host's
    n_chunks = min(t, n_workers)
    bounds = np.linspace(0, t, n_chunks + 1).astype(int)
    X_future = client.scatter(X, broadcast=True)
    kwargs["alpha_selection"] = alpha_selection
    plan = _shared_plan(X, t, alphas, folds, kwargs)
    plan_future = None if plan is None else client.scatter(plan, broadcast=True)
    # chunks go straight to the workers (not through the scheduler's task graph)
    chunks = client.scatter([np.ascontiguousarray(Y[:, a:b])
                             for a, b in zip(bounds[:-1], bounds[1:])])
    futures = [client.submit(_solve_chunk, X_future, chunk, alphas, folds, kwargs, plan_future,
                             pure=False) for chunk in chunks]
    parts = client.gather(futures)
    logger.info("solve_ridge_cv: %d target chunks on %d dask workers", n_chunks, n_workers)

    def cat(name, axis=-1):
        vals = [getattr(r, name) for r in parts]
        return None if vals[0] is None else np.concatenate(vals, axis=axis)

    first = parts[0]
    best_idx = cat("best_alpha_index")
    cv_scores = cat("cv_scores")
    const = cat("constant_targets")
    n_low, n_high, n_unpred, saturated = saturation(
        best_idx, cv_scores, alphas, const, saturation_threshold, first.scoring)
    if const.any():
        warn(f"{int(const.sum())} constant targets (zero variance): their scores are 0 and "
             "their weights 0.")
    return RidgeCVResults(
        alphas=alphas, best_alphas=alphas[best_idx], best_alpha_index=best_idx,
        cv_scores=cv_scores, fold_scores=cat("fold_scores") if return_fold_scores else None,
        coef=cat("coef"), dual_coef=cat("dual_coef"), intercept=cat("intercept"),
        x_mean=first.x_mean, y_mean=cat("y_mean"), solver=first.solver,
        scoring=first.scoring, n_saturated_low=n_low, n_saturated_high=n_high,
        n_unpredictive_saturated=n_unpred, saturated=saturated, constant_targets=const,
        n_folds=first.n_folds, batch_size=min(r.batch_size for r in parts),
        info=dict(first.info, n_chunks=n_chunks, shared_plan=plan is not None),
    )

