"""Alpha selection per target (ties to the larger alpha) and grid-saturation counts."""

import numpy as np

from .._utils.logging import warn

__all__ = ["select_alphas", "saturation"]


def select_alphas(fold_scores, alphas, alpha_selection):
    """Best alpha index per target (ties -> larger alpha, as himalaya)."""
    mean = fold_scores.mean(0)
    tie = 1e-10 * np.log(alphas)[:, None]
    if alpha_selection == "shared":
        return np.full(mean.shape[1], int(np.argmax(mean.mean(1) + tie[:, 0])))
    best = np.argmax(mean + tie, axis=0)
    if alpha_selection == "1se":
        cols = np.arange(mean.shape[1])
        std = fold_scores.std(0)
        to_beat = mean[best, cols] - std[best, cols]
        ok = mean >= to_beat[None, :]
        # largest alpha index that beats the threshold (alphas sorted ascending)
        order = np.argsort(alphas)
        ok_sorted = ok[order]
        last = ok_sorted.shape[0] - 1 - np.argmax(ok_sorted[::-1], axis=0)
        best = order[last]
    return best


def saturation(best_idx, cv_scores, alphas, constant, threshold, scoring, edges=None):
    """Count (and warn about) predictive targets whose best alpha is at a grid edge.

    ``edges`` (edge_lo, edge_hi), boolean (t,), overrides the edge flags (used
    after a grid extension); predictiveness is judged on ``cv_scores``.
    Returns ``(n_low, n_high, n_unpredictive_at_edge, saturated_mask)``.
    """
    A = len(alphas)
    t = best_idx.size
    lo_i, hi_i = int(np.argmin(alphas)), int(np.argmax(alphas))
    best_score = cv_scores[best_idx, np.arange(t)]
    if scoring == "neg_mse":  # predictive: best alpha beats the most regularized one
        predictive = best_score > cv_scores[hi_i] + 1e-12 * np.abs(cv_scores[hi_i])
    else:
        predictive = best_score > 0
    predictive &= ~constant
    if edges is not None:
        edge_lo, edge_hi = edges
    elif A < 2:
        edge_lo = edge_hi = np.zeros(t, dtype=bool)
    else:
        edge_lo, edge_hi = best_idx == lo_i, best_idx == hi_i
    n_low = int((edge_lo & predictive).sum())
    n_high = int((edge_hi & predictive & ~edge_lo).sum())
    n_unpred = int(((edge_lo | edge_hi) & ~predictive).sum())
    n_pred = int(predictive.sum())
    if n_pred and (n_low + n_high) / n_pred > threshold:
        warn(
            f"Alpha-grid saturation: of {n_pred} predictive targets, {n_low} chose the "
            f"smallest alpha ({alphas[lo_i]:.3g}) and {n_high} the largest "
            f"({alphas[hi_i]:.3g}); {n_unpred} unpredictive targets also sit at an edge. "
            "Extend `alphas` on the saturated side."
        )
    return n_low, n_high, n_unpred, (edge_lo | edge_hi) & predictive
