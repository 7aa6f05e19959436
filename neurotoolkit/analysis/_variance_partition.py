"""Variance partitioning between feature spaces (Card 2).

Fit one model per non-empty subset of feature spaces, score each on
held-out data, and split the joint held-out R^2 into the part each space
explains alone and the parts that several spaces share, by
inclusion-exclusion over the subsets (a Venn diagram of explained
variance).
"""

from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.base import clone

from neurotoolkit._utils.docs import fill_doc
from neurotoolkit._utils.logging import logger, progress, verbose
from neurotoolkit._utils.validation import (
    _raise,
    check_array,
    check_consistent_length,
    check_type,
    describe,
)

__all__ = ["variance_partition", "partition_from_r2"]


@fill_doc
@verbose
def variance_partition(
    X_spaces,
    Y,
    train=None,
    test=None,
    *,
    cv=None,
    runs=None,
    estimator=None,
    joint_estimator=None,
    clip=False,
    verbose=None,
):
    """Unique and shared held-out variance explained by feature spaces.

    For ``m`` spaces, fits ``2**m - 1`` models (one per non-empty subset of
    spaces, on the concatenated features), scores each on held-out samples
    (R^2 about the test mean) and combines them by inclusion-exclusion. For
    two spaces A and B::

        unique_A = R2(A+B) - R2(B)
        unique_B = R2(A+B) - R2(A)
        shared_A+B = R2(A) + R2(B) - R2(A+B)

    In general the part explained by exactly the spaces in ``S`` (and no
    other), with ``C`` the remaining spaces, is
    ``sum over non-empty T in S of (-1)**(|T|+1) R2(T + C)  -  R2(C)``.
    The parts add up to ``R2(all spaces)``, and the parts that contain a
    space add up to that space's own R^2.

    Parameters
    ----------
    X_spaces : dict of str -> array-like, shape (n_samples, n_features_i)
        The feature spaces (a list is named ``space0, space1, ...``).
    Y : array-like, shape (n_samples, n_targets) | pandas.DataFrame
        Responses. A DataFrame's columns name the rows of the result.
    train, test : array-like of int | None
        One held-out split (indices). Give both, or use ``cv``.
    cv : int | iterable of (train, test) | CV splitter | None
        Outer folds, resolved by :func:`neurotoolkit.data.make_cv` (with
        ``runs`` for leave-one-run-out); R^2 is averaged over folds. None
        with no ``train``/``test`` means 5 contiguous folds.
    runs : array-like, shape (n_samples,) | None
        Run label of each sample. The outer folds then hold out whole runs
        (``cv="runs"``: one run per fold; an int: blocks of runs), and each
        model's ``fit`` gets ``groups=runs[train]`` for its inner CV.
    estimator : estimator | None
        Model for every subset, cloned per fit (anything with ``fit`` and
        ``predict``). None uses :class:`neurotoolkit.encoding.RidgeCV` with
        its defaults.
    joint_estimator : "banded" | estimator | None
        Model for the subsets of two spaces or more. "banded" uses
        :class:`neurotoolkit.encoding.BandedRidgeCV` (one penalty per space,
        the preferred joint model; slower). A ``BandedRidgeCV`` is given the
        spaces as a dict. None uses ``estimator``.
    clip : bool
        Clip negative parts at 0. Noise and overfitting make some parts
        negative; they are always counted (``attrs["n_negative"]`` and the
        ``negative`` column) and clipped only on request, after which the
        sums above no longer hold exactly.
    %(verbose)s

    Returns
    -------
    partition : pandas.DataFrame, shape (n_targets, n_columns)
        One row per target. Columns ``r2_<subset>`` (held-out R^2 of each
        subset model, e.g. ``r2_A``, ``r2_A+B``), ``unique_<space>``,
        ``shared_<spaces>`` (e.g. ``shared_A+B``, ``shared_A+B+C``) and
        ``negative`` (True where any part is below 0 before clipping).
        ``attrs`` holds ``spaces``, ``components``, ``clipped``,
        ``n_negative`` (dict component -> count) and ``n_folds``.

    See Also
    --------
    partition_from_r2, neurotoolkit.encoding.BandedRidgeCV.score_split

    Notes
    -----
    Choose between the joint and the single-space models per target from
    CV, not from these held-out scores. With ``m`` spaces the cost is
    ``2**m - 1`` model fits per fold.
    """
    names, blocks = _check_spaces(X_spaces)
    index = Y.columns if isinstance(Y, pd.DataFrame) else None
    Y = check_array("Y", Y, ndim=(1, 2))
    Y = Y[:, None] if Y.ndim == 1 else Y
    check_consistent_length(Y=Y, **{f"X_spaces[{n!r}]": b for n, b in zip(names, blocks)})
    if runs is not None:
        runs = np.asarray(runs)
        check_consistent_length(Y=Y, runs=runs)
    folds = _folds(train, test, cv, runs, len(Y))
    from neurotoolkit._ridge._scores import score_r2

    single, joint = _estimators(estimator, joint_estimator)
    subsets = [s for k in range(1, len(names) + 1) for s in combinations(range(len(names)), k)]
    logger.info(
        "variance_partition: %d spaces, %d subset models x %d folds", len(names), len(subsets),
        len(folds),
    )
    r2 = {s: np.zeros(Y.shape[1]) for s in subsets}
    for tr, te in folds:
        for s in progress(subsets, desc="subsets"):
            est = clone(single if len(s) == 1 else joint)
            pred = _fit_predict(est, [names[i] for i in s], [blocks[i] for i in s], Y, tr, te, runs)
            r2[s] += np.asarray(score_r2(Y[te], pred), dtype=np.float64) / len(folds)
    r2_named = {tuple(names[i] for i in s): v for s, v in r2.items()}
    return partition_from_r2(r2_named, names, clip=clip, index=index, n_folds=len(folds))


def partition_from_r2(r2, spaces, clip=False, index=None, n_folds=None):
    """Inclusion-exclusion of subset R^2 into unique and shared parts.

    Parameters
    ----------
    r2 : dict of tuple of str -> array-like, shape (n_targets,)
        Held-out R^2 of the model on each non-empty subset of ``spaces``
        (keys in any order within the tuple).
    spaces : list of str
    clip : bool
        Clip negative parts at 0 (flagged in the result).
    index : array-like | None
        Row labels (targets).
    n_folds : int | None
        Stored in ``attrs``.

    Returns
    -------
    partition : pandas.DataFrame
        As returned by :func:`variance_partition`.
    """
    spaces = list(spaces)
    r2 = {frozenset(k): np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in r2.items()}
    subsets = [frozenset(s) for k in range(1, len(spaces) + 1) for s in combinations(spaces, k)]
    missing = [sorted(s) for s in subsets if s not in r2]
    if missing:
        _raise("r2", "the R^2 of every non-empty subset of spaces", f"missing {missing}")

    def R(subset):
        return r2[frozenset(subset)] if subset else 0.0

    columns = {"r2_" + "+".join(s for s in spaces if s in sub): r2[sub] for sub in subsets}
    parts = {}
    for sub in subsets:
        rest = [s for s in spaces if s not in sub]
        value = -np.asarray(R(rest))
        for k in range(1, len(sub) + 1):
            for T in combinations(sorted(sub, key=spaces.index), k):
                value = value + (-1) ** (k + 1) * R(set(T) | set(rest))
        label = "+".join(s for s in spaces if s in sub)
        parts[("unique_" if len(sub) == 1 else "shared_") + label] = value
    negative = np.zeros_like(next(iter(parts.values())), dtype=bool)
    n_negative = {}
    for key, value in parts.items():
        n_negative[key] = int((value < 0).sum())
        negative |= value < 0
        if clip:
            parts[key] = np.maximum(value, 0.0)
    if any(n_negative.values()):
        logger.info(
            "variance_partition: negative parts (%s)%s.",
            ", ".join(f"{k}: {v}" for k, v in n_negative.items() if v),
            ", clipped at 0" if clip else "",
        )
    table = pd.DataFrame({**columns, **parts, "negative": negative}, index=index)
    table.attrs.update(
        spaces=spaces, components=list(parts), clipped=bool(clip), n_negative=n_negative,
        n_folds=n_folds,
    )
    return table


def _check_spaces(X_spaces):
    if isinstance(X_spaces, dict):
        names = [str(k) for k in X_spaces]
        values = list(X_spaces.values())
    elif isinstance(X_spaces, (list, tuple)):
        names = [f"space{i}" for i in range(len(X_spaces))]
        values = list(X_spaces)
    else:
        check_type("X_spaces", X_spaces, (dict, list, tuple), "a dict of name -> array")
    if len(values) < 2:
        _raise("X_spaces", "at least 2 feature spaces", f"{len(values)}")
    if len(set(names)) != len(names) or any("+" in n for n in names):
        _raise("X_spaces", "distinct space names without '+'", f"names {names}")
    blocks = [check_array(f"X_spaces[{n!r}]", v, ndim=2) for n, v in zip(names, values)]
    return names, blocks


def _folds(train, test, cv, runs, n_samples):
    if (train is None) != (test is None):
        _raise("train", "both `train` and `test`, or neither (then `cv` is used)",
               f"train={describe(train)}, test={describe(test)}")
    if train is not None:
        if cv is not None:
            _raise("cv", "None when `train` and `test` are given", describe(cv))
        return [(_indices("train", train, n_samples), _indices("test", test, n_samples))]
    from neurotoolkit.data._splits import make_cv

    return make_cv(5 if cv is None else cv, runs=runs, n_samples=n_samples)


def _indices(name, idx, n_samples):
    idx = np.asarray(idx)
    if idx.dtype == bool:
        idx = np.flatnonzero(idx)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu" or idx.max() >= n_samples:
        _raise(name, f"a non-empty 1-D array of indices below {n_samples}", describe(idx))
    return idx


def _estimators(estimator, joint_estimator):
    if isinstance(joint_estimator, str) and joint_estimator != "banded":
        _raise("joint_estimator", "'banded', an estimator or None", describe(joint_estimator))
    if estimator is None:
        from neurotoolkit.encoding._ridge_cv import RidgeCV

        estimator = RidgeCV()
    if joint_estimator is None:
        joint_estimator = estimator
    elif isinstance(joint_estimator, str):
        from neurotoolkit.encoding._banded import BandedRidgeCV

        joint_estimator = BandedRidgeCV()
    for name, est in (("estimator", estimator), ("joint_estimator", joint_estimator)):
        if not (hasattr(est, "fit") and hasattr(est, "predict")):
            _raise(name, "an estimator with fit and predict", describe(est), exc=TypeError)
    return estimator, joint_estimator


def _fit_predict(est, names, blocks, Y, tr, te, runs):
    from neurotoolkit.encoding._banded import BandedRidgeCV

    if isinstance(est, BandedRidgeCV) and len(blocks) > 1:
        X_tr = {n: b[tr] for n, b in zip(names, blocks)}
        X_te = {n: b[te] for n, b in zip(names, blocks)}
    else:
        X_tr = np.concatenate([b[tr] for b in blocks], axis=1)
        X_te = np.concatenate([b[te] for b in blocks], axis=1)
    if runs is not None:
        est.fit(X_tr, Y[tr], groups=runs[tr])
    else:
        est.fit(X_tr, Y[tr])
    pred = np.asarray(est.predict(X_te), dtype=np.float64)
    return pred.reshape(len(te), -1)
