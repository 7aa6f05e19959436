"""All-way top-1 retrieval and the adaptation curve of a new subject
(:meth:`CrossSubjectDecoder.adapt` on growing shares of its data)."""

import copy

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

from .._utils.docs import fill_doc
from .._utils.logging import logger, verbose
from .._utils.random import check_random_state
from .._utils.validation import check_array, check_fraction, check_int
from ._metrics import _check_pair, _draw_hits, _similarity

__all__ = ["adaptation_curve", "top1_retrieval"]


def top1_retrieval(predicted, target):
    """All-way top-1 image retrieval: fraction of rows whose cosine-nearest target is their own.

    The image direction of ``retrieval_accuracy(..., n_way="all")`` as one
    float (ties count as misses), cheap enough for every training epoch.

    Parameters
    ----------
    predicted, target : array, shape (n_samples, n_features)

    Returns
    -------
    accuracy : float
        Chance is ``1 / n_samples``.
    """
    p, t = _check_pair(predicted, target)
    image_hits, _ = _draw_hits(_similarity(p, t, "cosine")[None])
    return float(image_hits.mean())


@fill_doc
@verbose
def adaptation_curve(decoder, X_new, Y_new, X_test, Y_test, subject="new",
                     fractions=(0.1, 0.25, 0.5, 1.0), baseline=None, n_repeats=1, random_state=0,
                     adapt_kwargs=None, scoring=None, verbose=None):
    """Accuracy of a new subject's decoder against the amount of its training data.

    For each fraction, draws that share of the new subject's training rows,
    adapts a copy of ``decoder`` (adapter only, :meth:`CrossSubjectDecoder.adapt`)
    and, if given, fits a copy of ``baseline`` on the same rows alone; both
    are scored on the same test set.

    Parameters
    ----------
    decoder : CrossSubjectDecoder
        Fitted on other subjects, with one head; it is not modified.
    X_new : array (n_samples, n_voxels)
    Y_new : array (n_samples, n_targets)
    X_test : array (n_test, n_voxels)
    Y_test : array (n_test, n_targets)
        Held-out stimuli (e.g. repeat-averaged).
    subject : str
    fractions : sequence of float in (0, 1]
    baseline : estimator | None
        Anything with ``fit(X, Y)`` and ``predict(X)``, e.g. ``RidgeDecoder()``.
    n_repeats : int
        Random draws per fraction.
    %(random_state)s
    adapt_kwargs : dict | None
        Passed to :meth:`CrossSubjectDecoder.adapt`.
    scoring : callable (predicted, target) -> float | None
        Default: :func:`top1_retrieval` (all-way top-1, chance ``1/n_test``).
    %(verbose)s

    Returns
    -------
    curve : pandas.DataFrame
        One row per (fraction, repeat, method): ``fraction``, ``n_train``,
        ``repeat``, ``method`` ("adapter" or the baseline's class name),
        ``accuracy``, ``chance``, ``n_test``.
    """
    check_is_fitted(decoder, "model_")
    if len(decoder.heads_) != 1:
        raise ValueError(f"Invalid value for `decoder`: expected a decoder with one head, got heads "
                         f"{sorted(decoder.heads_)}; score one target space at a time.")
    X_new = check_array("X_new", X_new, ndim=2)
    Y_new = check_array("Y_new", Y_new, ndim=2)
    X_test = check_array("X_test", X_test, ndim=2)
    Y_test = check_array("Y_test", Y_test, ndim=2)
    if len(X_new) != len(Y_new) or len(X_test) != len(Y_test):
        raise ValueError(f"Invalid value for `Y_new`/`Y_test`: expected as many rows as X_new / "
                         f"X_test, got {len(Y_new)} vs {len(X_new)} and {len(Y_test)} vs "
                         f"{len(X_test)}.")
    scoring = scoring or top1_retrieval
    rng = check_random_state(random_state)
    rows = []
    for frac in fractions:
        frac = check_fraction("fractions", frac, inclusive=(False, True))
        n = max(4, round(float(frac * len(X_new))))
        for rep in range(check_int("n_repeats", n_repeats, min_value=1)):
            idx = np.sort(rng.choice(len(X_new), size=min(n, len(X_new)), replace=False))
            dec = copy.deepcopy(decoder)
            dec.adapt(X_new[idx], Y_new[idx], subject=subject, overwrite=True,
                      **(adapt_kwargs or {}))
            models = [("adapter", lambda d=dec: d.predict(X_test, subject))]
            if baseline is not None:
                base = clone(baseline).fit(X_new[idx], Y_new[idx])
                models.append((type(baseline).__name__, lambda b=base: b.predict(X_test)))
            for method, predict in models:
                rows.append({"fraction": frac, "n_train": len(idx), "repeat": rep,
                             "method": method, "accuracy": scoring(predict(), Y_test),
                             "chance": 1.0 / len(X_test), "n_test": len(X_test)})
            logger.info("adaptation_curve: fraction %.2f (n=%d) repeat %d: %s", frac, len(idx),
                        rep, {r["method"]: round(r["accuracy"], 3) for r in rows[-len(models):]})
    return pd.DataFrame(rows)
