"""Train/test splits and cross-validation folds that never put the same stimulus
on both sides.

Repeats of one stimulus are strongly correlated; a split that puts one repeat
in training and another in testing measures memorisation, not encoding.
Everything here groups trials by stimulus id (or by run).
"""

import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.logging import warn
from .._utils.random import check_random_state
from .._utils.validation import check_int, check_type, describe

__all__ = ["train_test_split", "StimulusKFold", "make_cv"]


def _unique_ids(recording):
    ids = recording.stimulus_ids
    if (ids == "").any():
        raise ValueError(
            f"Invalid value for `recording`: {int((ids == '').sum())} trial(s) have no stimulus id "
            "(''), as in time-series recordings; split those by run with "
            "recording.select_trials(...) or make_cv('runs', runs=recording.runs)."
        )
    return pd.unique(ids)


def _stratify_labels(stratify, recording, uniques):
    """Labels per unique stimulus (order of ``uniques``)."""
    if isinstance(stratify, (pd.Series, dict)):
        mapping = pd.Series(stratify)
        mapping.index = mapping.index.map(str)
        missing = [u for u in uniques if u not in mapping.index]
        if missing:
            raise ValueError(
                f"Invalid value for `stratify`: no label for stimulus id(s) {missing[:5]}."
            )
        return mapping.loc[list(uniques)].to_numpy()
    labels = np.asarray(stratify)
    if labels.ndim == 1 and len(labels) == len(uniques):
        return labels
    if labels.ndim == 1 and len(labels) == recording.n_trials:
        per_stim = pd.Series(labels).groupby(pd.Series(recording.stimulus_ids)).nunique()
        if (per_stim > 1).any():
            bad = per_stim.index[per_stim > 1][:5].tolist()
            raise ValueError(
                "Invalid value for `stratify`: labels must be constant over the trials of a "
                f"stimulus, but stimulus id(s) {bad} have several."
            )
        first = pd.Series(labels, index=recording.stimulus_ids)
        first = first[~first.index.duplicated()]
        return first.loc[list(uniques)].to_numpy()
    raise ValueError(
        "Invalid value for `stratify`: expected one label per unique stimulus "
        f"({len(uniques)}, in order of first appearance), one per trial ({recording.n_trials}) "
        f"or a Series/dict id -> label, got {describe(stratify)}."
    )


@fill_doc
def train_test_split(recording, test_size=0.2, test_ids=None, random_state=None, stratify=None):
    """Split a Recording into train and test parts by stimulus id.

    All trials (repeats) of a stimulus go to the same side.

    Parameters
    ----------
    recording : Recording
    test_size : float | int
        Fraction of unique stimuli (in (0, 1), rounded up) or their number
        to put in the test part. Ignored when ``test_ids`` is given.
    test_ids : sequence of str | None
        Explicit test stimuli (e.g. NSD's shared1000); wins over
        ``test_size`` and ``stratify``. Unknown ids raise an error.
    %(random_state)s
    stratify : array-like | pandas.Series | dict | None
        Category label per unique stimulus (in order of first appearance),
        per trial, or as an id -> label mapping: the test part keeps the
        category proportions.

    Returns
    -------
    train, test : Recording
        ``meta["split"]`` is "train" or "test".
    """
    from ._recording import Recording

    check_type("recording", recording, Recording)
    uniques = _unique_ids(recording)
    if test_ids is not None:
        test_ids = [str(t) for t in np.atleast_1d(np.asarray(test_ids, dtype=object))]
        unknown = sorted(set(test_ids) - set(uniques))
        if unknown:
            raise ValueError(
                f"Invalid value for `test_ids`: {len(unknown)} id(s) not in the recording, e.g. "
                f"{unknown[:5]}."
            )
        if len(set(test_ids)) >= len(uniques):
            raise ValueError(
                "Invalid value for `test_ids`: every stimulus would be in the test part; leave "
                "some for training."
            )
        test_set = set(test_ids)
    else:
        n = len(uniques)
        if isinstance(test_size, Integral) and not isinstance(test_size, bool):
            n_test = check_int("test_size", test_size, min_value=1, max_value=n - 1)
        elif isinstance(test_size, Real) and 0 < test_size < 1:
            n_test = int(np.ceil(test_size * n))
        else:
            raise ValueError(
                "Invalid value for `test_size`: expected a fraction in (0, 1) or a number of "
                f"stimuli in [1, {n - 1}], got {describe(test_size)}."
            )
        if not 1 <= n_test <= n - 1:
            raise ValueError(
                f"Invalid value for `test_size`: {test_size} of {n} stimuli gives {n_test} test "
                "stimuli; both parts need at least one."
            )
        rng = check_random_state(random_state)
        if stratify is None:
            chosen = rng.permutation(n)[:n_test]
        else:
            from sklearn.model_selection import StratifiedShuffleSplit

            labels = _stratify_labels(stratify, recording, uniques)
            sss = StratifiedShuffleSplit(
                n_splits=1, test_size=n_test, random_state=int(rng.integers(2**31 - 1))
            )
            chosen = next(sss.split(np.zeros((n, 1)), labels))[1]
        test_set = set(uniques[chosen])
    is_test = np.array([sid in test_set for sid in recording.stimulus_ids])
    train = recording.select_trials(~is_test)
    test = recording.select_trials(is_test)
    train.meta["split"] = "train"
    test.meta["split"] = "test"
    return train, test


@fill_doc
class StimulusKFold:
    """K-fold cross-validation that keeps all repeats of a stimulus in one fold.

    The unique stimuli (``groups``), in order of first appearance, are cut
    into ``n_splits`` contiguous blocks of near-equal size (after shuffling
    them if ``shuffle``); fold k tests the trials of block k. Works as a
    scikit-learn ``cv`` argument (pass ``groups=stimulus_ids``).

    Parameters
    ----------
    n_splits : int
        Number of folds, at least 2.
    shuffle : bool
        Shuffle the unique stimuli before cutting them into blocks.
    %(random_state)s
    """

    def __init__(self, n_splits=5, shuffle=False, random_state=None):
        self.n_splits = n_splits
        self.shuffle = shuffle
        self.random_state = random_state

    def __repr__(self):
        return (
            f"StimulusKFold(n_splits={self.n_splits}, shuffle={self.shuffle}, "
            f"random_state={self.random_state})"
        )

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of folds."""
        return self.n_splits

    def split(self, X, y=None, groups=None):
        """Yield (train_index, test_index) integer arrays.

        Parameters
        ----------
        X : array-like, shape (n_samples, ...)
            Only its length is used.
        y : ignored
        groups : array-like, shape (n_samples,)
            Stimulus id of each sample (required).
        """
        n_splits = check_int("n_splits", self.n_splits, min_value=2)
        if groups is None:
            raise ValueError(
                "Invalid value for `groups`: StimulusKFold needs the stimulus id of each sample, "
                "got None; call split(X, groups=stimulus_ids)."
            )
        groups = np.asarray(groups).ravel()
        n_samples = len(X) if X is not None else len(groups)
        if len(groups) != n_samples:
            raise ValueError(
                f"Invalid value for `groups`: expected {n_samples} labels (one per sample), "
                f"got {len(groups)}."
            )
        codes, uniques = pd.factorize(groups)
        n_groups = len(uniques)
        if n_splits > n_groups:
            raise ValueError(
                f"Invalid value for `n_splits`: expected at most {n_groups} folds (the number of "
                f"unique groups), got {n_splits}."
            )
        order = np.arange(n_groups)
        if self.shuffle:
            order = check_random_state(self.random_state).permutation(n_groups)
        fold_of_group = np.empty(n_groups, dtype=int)
        for k, block in enumerate(np.array_split(order, n_splits)):
            fold_of_group[block] = k
        fold = fold_of_group[codes]
        for k in range(n_splits):
            yield np.flatnonzero(fold != k), np.flatnonzero(fold == k)


def make_cv(cv, stimulus_ids=None, runs=None, n_samples=None):
    """Turn a ``cv`` argument into an explicit list of folds.

    Parameters
    ----------
    cv : int | "runs" | splitter | iterable of (train, test)
        - int k: :class:`StimulusKFold` (k contiguous blocks of stimuli)
          when ``stimulus_ids`` are given (and none is ``""``), else k
          contiguous blocks of runs when ``runs`` are given, else k
          contiguous blocks of samples (no shuffling: right for time series).
        - "runs": leave one run out (scikit-learn's ``LeaveOneGroupOut``).
        - an object with ``split`` (scikit-learn splitter): called with
          ``groups`` = stimulus ids if given, else runs.
        - an iterable of (train, test) index arrays or boolean masks.
    stimulus_ids : array-like, shape (n_samples,) | None
    runs : array-like, shape (n_samples,) | None
    n_samples : int | None
        Needed only when neither ``stimulus_ids`` nor ``runs`` is given.

    Returns
    -------
    folds : list of (train_idx, test_idx)
        Sorted integer arrays; every fold has non-empty, disjoint parts. A
        warning is given when a fold from a user splitter or iterable puts
        trials of one stimulus on both sides.
    """
    given = (("stimulus_ids", stimulus_ids), ("runs", runs))
    lengths = {k: len(v) for k, v in given if v is not None}
    if n_samples is not None:
        lengths["n_samples"] = check_int("n_samples", n_samples, min_value=2)
    if not lengths:
        raise ValueError(
            "Invalid value for `n_samples`: pass stimulus_ids, runs or n_samples so that make_cv "
            "knows how many samples there are."
        )
    if len(set(lengths.values())) > 1:
        raise ValueError(f"Inconsistent lengths for make_cv: {lengths}.")
    n = next(iter(lengths.values()))
    ids = None if stimulus_ids is None else np.asarray(stimulus_ids).astype(str)
    runs = None if runs is None else np.asarray(runs)
    own = True
    if isinstance(cv, Integral) and not isinstance(cv, bool):
        k = check_int("cv", cv, min_value=2)
        if ids is not None and not (ids == "").any():
            groups, what = ids, "unique stimuli"
        elif runs is not None:
            groups, what = runs, "runs"
        else:
            groups, what = np.arange(n), "samples"
        n_groups = len(pd.unique(groups))
        if k > n_groups:
            raise ValueError(
                f"Invalid value for `cv`: expected at most {n_groups} folds (the number of "
                f"{what}), got {k}."
            )
        folds = list(StimulusKFold(k).split(np.zeros(n), groups=groups))
    elif isinstance(cv, str):
        if cv != "runs":
            raise ValueError(
                "Invalid value for `cv`: expected an int, 'runs', a splitter or an iterable of "
                f"(train, test) pairs, got {cv!r}."
            )
        if runs is None:
            raise ValueError(
                "Invalid value for `runs`: cv='runs' needs the run of each sample, got None."
            )
        uniq = pd.unique(runs)
        if len(uniq) < 2:
            raise ValueError(
                f"Invalid value for `cv`: 'runs' needs at least 2 runs, got {len(uniq)} "
                f"({uniq.tolist()})."
            )
        folds = [(np.flatnonzero(runs != r), np.flatnonzero(runs == r)) for r in uniq]
    elif hasattr(cv, "split"):
        groups = ids if ids is not None else runs
        kwargs = {} if groups is None else {"groups": groups}
        try:
            with warnings.catch_warnings():  # sklearn warns when a splitter ignores groups
                warnings.filterwarnings("ignore", message="The groups parameter is ignored")
                folds = list(cv.split(np.zeros((n, 1)), None, **kwargs))
        except ValueError as err:
            raise ValueError(
                f"Invalid value for `cv`: {cv!r} could not split {n} samples: {err}"
            ) from err
        own = False
    else:
        try:
            folds = list(cv)
        except TypeError:
            raise TypeError(
                "Invalid value for `cv`: expected an int, 'runs', a splitter or an iterable of "
                f"(train, test) pairs, got {describe(cv)}."
            ) from None
        own = False
    return [_check_fold(f, k, n, ids if not own else None) for k, f in enumerate(folds)]


def _check_fold(fold, k, n, ids):
    try:
        train, test = fold
    except (TypeError, ValueError):
        raise ValueError(
            f"Invalid value for `cv`: fold {k} is not a (train, test) pair, got {describe(fold)}."
        ) from None
    parts = []
    for name, idx in (("train", train), ("test", test)):
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise ValueError(
                    f"Invalid value for `cv`: fold {k} {name} mask has shape {idx.shape}, "
                    f"expected ({n},)."
                )
            idx = np.flatnonzero(idx)
        elif idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n):
            raise ValueError(
                f"Invalid value for `cv`: fold {k} {name} indices must be ints in [0, {n}), got "
                f"{describe(idx)}."
            )
        if idx.size == 0:
            raise ValueError(f"Invalid value for `cv`: fold {k} has an empty {name} part.")
        parts.append(np.unique(idx.astype(np.intp)))
    train, test = parts
    if np.intersect1d(train, test).size:
        raise ValueError(f"Invalid value for `cv`: fold {k} has samples in both train and test.")
    if ids is not None:
        shared = np.intersect1d(ids[train], ids[test])
        shared = shared[shared != ""]
        if shared.size:
            warn(
                f"cv fold {k} puts trials of the same stimulus in train and test (e.g. "
                f"{shared[:3].tolist()}); scores will be optimistic. Use StimulusKFold or "
                "average repeats first."
            )
    return train, test
