"""Per-target scores: R^2, Pearson r, negative MSE, noise-normalized scores.

Conventions: ``R^2 = 1 - SS_res / SS_tot`` with the *test* mean in
``SS_tot`` (himalaya's convention, also scikit-learn's ``r2_score``). A score
that is undefined (fewer than 2 samples, a constant target, or for the
correlation a constant prediction) is NaN, with a warning that says why;
NaN or inf in either input raises, and so do empty inputs.
All functions accept a leading axis on ``y_pred`` (for example one
prediction per alpha) and compute in float64.
"""

import numpy as np

from .._utils.logging import warn
from .._utils.validation import _raise, _short_list, check_array, check_option

__all__ = ["score_r2", "score_correlation", "score_neg_mse", "noise_normalized", "SCORINGS"]

SCORINGS = ("r2", "correlation", "neg_mse")


def _check_pair(y_true, y_pred):
    y_true = check_array("y_true", y_true, ndim=(1, 2), min_samples=1)
    y_pred = check_array("y_pred", y_pred, ndim=(1, 2, 3))
    one_d = y_true.ndim == 1
    if one_d:
        y_true = y_true[:, None]
        if y_pred.ndim == 1 or (y_pred.ndim == 2 and y_pred.shape[1] != 1
                                and y_pred.shape[-1] == y_true.shape[0]):
            y_pred = y_pred[..., None]
    if y_pred.ndim == 1:
        _raise("y_pred", f"an array of shape {y_true.shape} or (n_predictions, *{y_true.shape})",
               f"shape {y_pred.shape}")
    if y_pred.shape[-2:] != y_true.shape:
        _raise(
            "y_pred",
            f"an array of shape {y_true.shape} or (n_predictions, *{y_true.shape}) to match "
            "`y_true`",
            f"shape {y_pred.shape}",
        )
    return y_true.astype(np.float64, copy=False), y_pred.astype(np.float64, copy=False), one_d


def _finish(scores, one_d):
    if one_d:
        scores = scores[..., 0]
        if scores.ndim == 0:
            return float(scores)
    return scores


def _constant(y, axis):
    """True where ``y`` takes a single value along ``axis`` (exact, no tolerance)."""
    return np.ptp(y, axis=axis) == 0


def _warn_undefined(func, score, n_samples, true_const, pred_const=None):
    """NaN mask of undefined scores, with one warning that says why."""
    undefined = np.broadcast_to(true_const, pred_const.shape) if pred_const is not None \
        else true_const
    if pred_const is not None:
        undefined = undefined | pred_const
    if not undefined.any():
        return undefined
    n_targets = undefined.shape[-1]
    if n_samples < 2:
        warn(f"{func}: {score} is undefined with fewer than 2 samples (got {n_samples}); "
             f"returning NaN for all {n_targets} target(s). Score on at least 2 samples.")
        return undefined
    parts = []
    if true_const.any():
        cols = np.flatnonzero(true_const)
        parts.append(f"`y_true` is constant (zero variance) for target(s) {_short_list(cols)}")
    if pred_const is not None and pred_const.any():
        cols = np.flatnonzero(pred_const.reshape(-1, n_targets).any(axis=0))
        parts.append(f"`y_pred` is constant for target(s) {_short_list(cols)}")
    fixes = []
    if true_const.any():
        fixes.append("drop constant targets (Recording(..., drop_constant=True))")
    if pred_const is not None and pred_const.any():
        fixes.append("check why the predictions are flat (e.g. a very large alpha)")
    n_bad = int(undefined.reshape(-1, n_targets).any(axis=0).sum())
    warn(f"{func}: {score} is undefined for {n_bad} of {n_targets} target(s), returned as NaN: "
         + " and ".join(parts) + ". To fix, " + " or ".join(fixes) + "; np.nanmean averages "
         "the other targets.")
    return undefined


def score_r2(y_true, y_pred):
    """Coefficient of determination per target.

    Parameters
    ----------
    y_true : array, shape (n_samples, n_targets) or (n_samples,)
        At least 1 sample; NaN or inf raise.
    y_pred : array, shape (n_samples, n_targets) or (n_predictions, n_samples, n_targets)

    Returns
    -------
    r2 : array, shape (n_targets,) or (n_predictions, n_targets)
        ``1 - sum((y - y_pred)^2) / sum((y - mean(y))^2)`` with the mean of
        ``y_true``. A float for 1-D inputs. NaN where it is undefined: with
        fewer than 2 samples, and for targets where ``y_true`` is constant
        (zero variance, so the denominator is 0); a ``UserWarning`` then
        says which targets and why.

    Warns
    -----
    UserWarning
        When some scores are undefined (returned as NaN).
    """
    y_true, y_pred, one_d = _check_pair(y_true, y_pred)
    sst = ((y_true - y_true.mean(0)) ** 2).sum(0)
    sse = ((y_true - y_pred) ** 2).sum(-2)
    undefined = _warn_undefined("score_r2", "R^2", y_true.shape[0], _constant(y_true, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - sse / np.where(undefined, 1.0, sst)
    r2 = np.where(undefined, np.nan, r2)
    return _finish(r2, one_d)


def score_correlation(y_true, y_pred):
    """Pearson correlation per target.

    Parameters
    ----------
    y_true : array, shape (n_samples, n_targets) or (n_samples,)
        At least 1 sample; NaN or inf raise.
    y_pred : array, shape (n_samples, n_targets) or (n_predictions, n_samples, n_targets)

    Returns
    -------
    r : array, shape (n_targets,) or (n_predictions, n_targets)
        A float for 1-D inputs. NaN where it is undefined (as
        :func:`scipy.stats.pearsonr`): with fewer than 2 samples, and for
        targets where ``y_true`` or ``y_pred`` is constant (zero variance);
        a ``UserWarning`` then says which targets and why.

    Warns
    -----
    UserWarning
        When some scores are undefined (returned as NaN).
    """
    y_true, y_pred, one_d = _check_pair(y_true, y_pred)
    yt = y_true - y_true.mean(0)
    yp = y_pred - y_pred.mean(-2, keepdims=True)
    num = (yt * yp).sum(-2)
    vt = (yt**2).sum(0)
    vp = (yp**2).sum(-2)
    undefined = _warn_undefined("score_correlation", "the correlation", y_true.shape[0],
                                _constant(y_true, 0), _constant(y_pred, -2))
    den = np.sqrt(np.where(undefined, 1.0, vt * vp))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.clip(num / den, -1.0, 1.0)
    r = np.where(undefined | (den == 0), np.nan, r)
    return _finish(r, one_d)


def score_neg_mse(y_true, y_pred):
    """Negative mean squared error per target (higher is better).

    Parameters
    ----------
    y_true : array, shape (n_samples, n_targets) or (n_samples,)
    y_pred : array, shape (n_samples, n_targets) or (n_predictions, n_samples, n_targets)

    Returns
    -------
    neg_mse : array, shape (n_targets,) or (n_predictions, n_targets)
    """
    y_true, y_pred, one_d = _check_pair(y_true, y_pred)
    return _finish(-((y_true - y_pred) ** 2).mean(-2), one_d)


def noise_normalized(scores, noise_ceiling, kind="r"):
    """Scores as a percentage of the noise ceiling (Algonauts 2023 convention).

    Parameters
    ----------
    scores : array, shape (n_targets,)
        Pearson r (``kind="r"``) or R^2 (``kind="r2"``) on held-out data.
    noise_ceiling : float | array, shape (n_targets,)
        Explainable variance fraction in [0, 1] (NSD's NC / 100, or EV).
    kind : "r" | "r2"
        ``"r"``: ``100 * max(r, 0)^2 / NC``; ``"r2"``: ``100 * R^2 / NC``
        (negative R^2 kept, so that bad models show). Both are capped at 100.
        A ceiling of 0 is replaced by 1e-14 in the denominator, as in the
        challenge code.

    Returns
    -------
    normalized : array, shape (n_targets,)
    """
    check_option("kind", kind, ("r", "r2"))
    scores = check_array("scores", scores, ndim=(0, 1)).astype(np.float64)
    nc = check_array("noise_ceiling", noise_ceiling, ndim=(0, 1)).astype(np.float64)
    if nc.ndim == 1 and scores.ndim == 1 and nc.shape != scores.shape:
        _raise("noise_ceiling", f"a float or an array of shape {scores.shape}",
               f"shape {nc.shape}")
    if (nc < 0).any():
        _raise("noise_ceiling", "values >= 0 (a variance fraction, e.g. NSD's NC / 100)",
               f"a minimum of {nc.min():.3g}")
    if (nc > 1.0 + 1e-9).any():
        _raise("noise_ceiling", "values in [0, 1] (a variance fraction)",
               f"a maximum of {nc.max():.3g}", "Divide NSD's percentages by 100.")
    denom = np.where(nc > 0, nc, 1e-14)
    if kind == "r":
        out = 100.0 * np.maximum(scores, 0.0) ** 2 / denom
    else:
        out = 100.0 * scores / denom
    return np.minimum(out, 100.0)


def scores_from_moments(scoring, n_test, sst, ycc, syc, cross, psum, quad, eps=1e-6):
    """Held-out scores from sufficient statistics (used by the ridge solvers).

    With ``yc = y_test - m`` (``m`` the training mean of the target) and
    ``e = y_hat - m`` (the prediction without the intercept), every score
    is a function of a few sums, so predictions need not be materialized.

    Parameters
    ----------
    scoring : "r2" | "correlation" | "neg_mse"
    n_test : int
    sst : array, shape (t,)
        ``sum((y_test - mean(y_test))^2)``.
    ycc, syc : arrays, shape (t,)
        ``sum(yc^2)`` and ``sum(yc)``.
    cross, psum, quad : arrays, shape (A, t)
        ``sum(e * yc)``, ``sum(e)`` and ``sum(e^2)``.
    eps : float
        Relative size under which a prediction's variance counts as 0
        (rounding error of the working dtype).

    Returns
    -------
    scores : array, shape (A, t), float64
    """
    if scoring == "correlation":
        cov = cross - psum * (syc / n_test)[None]
        var_pred = quad - psum**2 / n_test
        ok = (var_pred > eps * quad) & (sst[None] > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = cov / np.sqrt(np.where(ok, var_pred, 1.0) * sst[None])
        return np.clip(np.where(ok, r, 0.0), -1.0, 1.0)
    sse = ycc[None] - 2.0 * cross + quad
    if scoring == "neg_mse":
        return -sse / n_test
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - sse / sst[None]
    return np.where(sst[None] > 0, r2, 0.0)


def score_predictions(Y, Y_pred, scoring="r2"):
    """Score predictions per target with one of :data:`SCORINGS`.

    Parameters
    ----------
    Y, Y_pred : array, shape (n_samples, n_targets) or (n_samples,)
    scoring : "r2" | "correlation" | "neg_mse"

    Returns
    -------
    scores : ndarray, shape (n_targets,) (float for a 1-D ``Y``)
    """
    from .._utils.validation import _raise, check_option

    check_option("scoring", scoring, SCORINGS)
    Y = np.asarray(Y)
    if Y.shape != np.shape(Y_pred):
        _raise("Y", f"an array of shape {np.shape(Y_pred)}", f"shape {Y.shape}")
    fn = {"r2": score_r2, "correlation": score_correlation, "neg_mse": score_neg_mse}
    return fn[scoring](Y, Y_pred)
