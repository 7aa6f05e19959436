"""Cross-validated category decoding with a permutation test."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neurotoolkit.data import Recording
from neurotoolkit.decoding import DecodingResult, decode_categories


def _data(rng, signal, n_runs=6, n_classes=3, per=2, n_features=13):
    n = n_runs * n_classes * per
    y = np.tile(np.repeat(np.arange(n_classes), per), n_runs)
    groups = np.repeat(np.arange(n_runs), n_classes * per)
    centers = rng.normal(size=(n_classes, n_features))
    X = signal * centers[y] + rng.normal(size=(n, n_features))
    return X, np.array(["cat", "dog", "car"])[y], groups


def test_separable_matches_sklearn_and_p_small(rng):
    X, y, groups = _data(rng, signal=3.0)
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    res = decode_categories(X, y, groups, estimator=est, n_permutations=19, random_state=0)
    assert isinstance(res, DecodingResult)
    ref = cross_val_score(est, X, y, groups=groups, cv=LeaveOneGroupOut())
    np.testing.assert_allclose(res.scores, ref)
    assert res.score == pytest.approx(ref.mean()) and res.score > 0.9
    assert res.p_value == pytest.approx(1 / 20) and res.chance == pytest.approx(1 / 3)
    assert res.confusion.to_numpy().sum() == len(y) and res.n_folds == 6
    assert list(res.classes) == ["car", "cat", "dog"]


def test_no_signal_is_near_chance():
    # fixed seed: under the null, p < 0.05 happens for 5 % of seeds by design
    X, y, groups = _data(np.random.default_rng(7), signal=0.0)
    res = decode_categories(X, y, groups, n_permutations=30, random_state=1)
    assert res.score < 0.6 and res.p_value > 0.05
    assert "chance 0.333" in repr(res)


def test_recording_input_and_errors(rng):
    X, y, groups = _data(rng, signal=2.0)
    rec = Recording(X, y, runs=groups)
    a = decode_categories(rec, n_permutations=0)
    b = decode_categories(X, y, groups, n_permutations=0)
    np.testing.assert_allclose(a.scores, b.scores)
    assert a.p_value is None and a.permutation_scores.shape == (0,)
    # unbalanced classes: chance is the majority fraction
    c = decode_categories(X[:-2], y[:-2], groups[:-2], n_permutations=0)
    assert c.chance == pytest.approx(12 / 34)
    with pytest.raises(ValueError, match="`groups`"):
        decode_categories(X, y, None)
    with pytest.raises(ValueError, match="`labels`"):
        decode_categories(X, y[:-1], groups)
    with pytest.raises(ValueError, match="at least 2 classes"):
        decode_categories(X, np.zeros(len(y)), groups)
    d = decode_categories(X, y, cv=3, n_permutations=0)
    assert d.n_folds == 3
