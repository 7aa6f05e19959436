"""Cross-validated category decoding (MVPA) with a permutation test."""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._utils.docs import fill_doc
from .._utils.logging import logger, verbose
from .._utils.random import check_random_state
from .._utils.validation import check_array, check_int, describe

__all__ = ["decode_categories", "DecodingResult"]


@dataclass
class DecodingResult:
    """Result of :func:`decode_categories`.

    Attributes
    ----------
    scores : array, shape (n_folds,)
        Score of each cross-validation fold (accuracy by default).
    score : float
        Mean over folds (what ``permutation_test_score`` calls ``score``).
    chance : float
        Accuracy of always predicting the most frequent class (1/n_classes
        when the classes are balanced).
    p_value : float | None
        Permutation p-value, ``(1 + #{perm >= score}) / (1 + n_permutations)``;
        None when ``n_permutations=0``.
    permutation_scores : array, shape (n_permutations,)
    classes : array, shape (n_classes,)
    confusion : pandas.DataFrame, shape (n_classes, n_classes)
        Cross-validated confusion counts (rows true, columns predicted).
    scoring : str
    n_folds : int
    """

    scores: np.ndarray
    score: float
    chance: float
    p_value: float | None
    permutation_scores: np.ndarray
    classes: np.ndarray
    confusion: pd.DataFrame
    scoring: str = "accuracy"
    n_folds: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def accuracy(self):
        """Mean cross-validated score (alias of ``score``)."""
        return self.score

    def __repr__(self):
        p = "n/a" if self.p_value is None else f"{self.p_value:.4g}"
        return (
            f"<DecodingResult {self.scoring}={self.score:.3f} (folds {self.scores.min():.2f}-"
            f"{self.scores.max():.2f}, {self.n_folds} folds) vs chance {self.chance:.3f}, "
            f"p={p} ({len(self.permutation_scores)} permutations), {len(self.classes)} classes>"
        )


def _default_estimator():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return make_pipeline(StandardScaler(), LinearSVC(C=1.0, max_iter=10_000))


@fill_doc
@verbose
def decode_categories(
    X,
    labels=None,
    groups=None,
    cv="runs",
    estimator=None,
    n_permutations=100,
    scoring="accuracy",
    n_jobs=None,
    random_state=None,
    verbose=None,
):
    """Cross-validated category decoding with a label-permutation test.

    Parameters
    ----------
    X : array, shape (n_samples, n_features) | Recording
        Patterns (e.g. block betas). A Recording gives ``labels`` (its
        ``stimulus_ids``) and ``groups`` (its ``runs``) when they are None.
    labels : array-like, shape (n_samples,) | None
        Category of each sample.
    groups : array-like, shape (n_samples,) | None
        Run of each sample: folds never split a run, and labels are
        permuted within runs.
    cv : "runs" | int | splitter | iterable
        See :func:`neurotoolkit.data.make_cv`; "runs" is leave-one-run-out.
    estimator : scikit-learn classifier | None
        None: ``StandardScaler`` + ``LinearSVC(C=1)`` (a standardised
        linear SVM, one-vs-rest, as nilearn's ``Decoder`` default).
    n_permutations : int
        Label permutations for the p-value (0 skips the test).
    scoring : str
        scikit-learn scorer name.
    n_jobs : int | None
    %(random_state)s
    %(verbose)s

    Returns
    -------
    DecodingResult
    """
    from sklearn.base import clone
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import cross_val_predict, cross_val_score, permutation_test_score

    from ..data import Recording, make_cv

    if isinstance(X, Recording):
        labels = X.stimulus_ids if labels is None else labels
        groups = X.runs if groups is None else groups
        X = X.responses
    X = check_array("X", X, ndim=2)
    if labels is None:
        raise ValueError("Invalid value for `labels`: expected one label per sample, got None.")
    y = np.asarray(labels)
    if y.shape != (X.shape[0],):
        raise ValueError(f"Invalid value for `labels`: expected shape ({X.shape[0]},), got "
                         f"{describe(y)}.")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"Invalid value for `labels`: expected at least 2 classes, got {classes}.")
    n_permutations = check_int("n_permutations", n_permutations, min_value=0)
    if isinstance(cv, str) and cv == "runs" and groups is None:
        raise ValueError("Invalid value for `groups`: cv='runs' needs the run of each sample "
                         "(or pass a Recording with runs).")
    groups = None if groups is None else np.asarray(groups)
    folds = make_cv(cv, runs=groups, n_samples=None if groups is not None else X.shape[0])
    estimator = _default_estimator() if estimator is None else estimator
    scores = cross_val_score(clone(estimator), X, y, cv=folds, scoring=scoring, n_jobs=n_jobs)
    pred = cross_val_predict(clone(estimator), X, y, cv=folds, n_jobs=n_jobs)
    confusion = pd.DataFrame(confusion_matrix(y, pred, labels=classes), index=classes,
                             columns=classes)
    if n_permutations:
        seed = int(check_random_state(random_state).integers(2**31 - 1))
        _, perm, p_value = permutation_test_score(
            clone(estimator), X, y, groups=groups, cv=folds, n_permutations=n_permutations,
            scoring=scoring, n_jobs=n_jobs, random_state=seed)
        p_value = float(p_value)
    else:
        perm, p_value = np.empty(0), None
    result = DecodingResult(
        scores=np.asarray(scores), score=float(np.mean(scores)),
        chance=float(counts.max() / counts.sum()), p_value=p_value,
        permutation_scores=np.asarray(perm), classes=classes, confusion=confusion,
        scoring=scoring, n_folds=len(folds),
        meta={"estimator": repr(estimator), "cv": repr(cv) if not isinstance(cv, str) else cv},
    )
    logger.info("decode_categories: %r", result)
    return result
