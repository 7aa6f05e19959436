"""Stimulus-grouped splits: train_test_split, StimulusKFold, make_cv."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupKFold, KFold, LeaveOneGroupOut, cross_val_score

from neurotoolkit.data import Recording, StimulusKFold, make_cv, train_test_split


def _rec(rng, n_stim=23, n_rep=3, n_units=7):
    ids = rng.permutation(np.repeat([f"im{k:02d}" for k in range(n_stim)], n_rep))
    runs = np.arange(len(ids)) // 13
    return Recording(rng.normal(size=(len(ids), n_units)), ids, runs=runs)


def test_train_test_split_by_stimulus(rng):
    rec = _rec(rng)
    train, test = train_test_split(rec, test_size=0.2, random_state=0)
    tr, te = set(train.stimulus_ids), set(test.stimulus_ids)
    assert not tr & te
    assert tr | te == set(rec.stimulus_ids)
    assert len(te) == int(np.ceil(0.2 * 23))
    assert train.n_trials + test.n_trials == rec.n_trials
    assert test.n_trials == 3 * len(te)  # all repeats on the test side
    assert train.meta["split"] == "train" and test.meta["split"] == "test"
    # rows are kept intact, with their runs
    idx = np.flatnonzero(np.isin(rec.stimulus_ids, list(te)))
    np.testing.assert_array_equal(test.responses, rec.responses[idx])
    np.testing.assert_array_equal(test.runs, rec.runs[idx])
    # seeded
    again = train_test_split(rec, test_size=0.2, random_state=0)[1]
    assert set(again.stimulus_ids) == te
    other = train_test_split(rec, test_size=0.2, random_state=1)[1]
    assert set(other.stimulus_ids) != te


def test_train_test_split_test_ids_win(rng):
    rec = _rec(rng)
    train, test = rec.split(test_size=0.9, test_ids=["im03", "im11"], stratify=np.zeros(23))
    assert set(test.stimulus_ids) == {"im03", "im11"}
    with pytest.raises(ValueError, match=r"`test_ids`: 1 id\(s\) not in the recording.*'nope'"):
        rec.split(test_ids=["im03", "nope"])
    with pytest.raises(ValueError, match="every stimulus would be in the test part"):
        rec.split(test_ids=pd_unique(rec))


def pd_unique(rec):
    return sorted(set(rec.stimulus_ids))


def test_train_test_split_stratify(rng):
    rec = _rec(rng, n_stim=40)
    uniques = list(dict.fromkeys(rec.stimulus_ids))
    labels = {sid: ("face" if int(sid[2:]) < 10 else "object") for sid in uniques}
    for strat in (labels, [labels[u] for u in uniques], [labels[s] for s in rec.stimulus_ids]):
        _, test = train_test_split(rec, test_size=0.5, stratify=strat, random_state=2)
        n_face = sum(labels[s] == "face" for s in set(test.stimulus_ids))
        assert n_face == 5  # 10 of 40 faces -> 5 of 20
    with pytest.raises(ValueError, match="constant over the trials of a stimulus"):
        train_test_split(rec, stratify=rng.integers(0, 2, rec.n_trials))
    with pytest.raises(ValueError, match="expected one label per unique stimulus"):
        train_test_split(rec, stratify=np.zeros(7))


def test_train_test_split_errors(rng):
    rec = _rec(rng)
    with pytest.raises(ValueError, match="`test_size`: expected a fraction in \\(0, 1\\)"):
        train_test_split(rec, test_size=1.5)
    with pytest.raises(ValueError, match="`test_size`"):
        train_test_split(rec, test_size=23)
    with pytest.raises(TypeError, match="`recording`"):
        train_test_split(rec.responses)
    ts = Recording(rng.normal(size=(10, 3)), ["a", "", "", "b", "", "", "a", "", "", "b"])
    with pytest.raises(ValueError, match="no stimulus id"):
        train_test_split(ts)


def test_stimulus_kfold_keeps_repeats_together(rng):
    rec = _rec(rng)
    cv = StimulusKFold(n_splits=5)
    folds = list(cv.split(rec.responses, groups=rec.stimulus_ids))
    assert len(folds) == cv.get_n_splits() == 5
    uniques = list(dict.fromkeys(rec.stimulus_ids))
    seen = []
    for train, test in folds:
        assert not set(rec.stimulus_ids[train]) & set(rec.stimulus_ids[test])
        assert len(train) + len(test) == rec.n_trials
        seen.append(sorted(set(rec.stimulus_ids[test]), key=uniques.index))
    # contiguous blocks of unique stimuli in order of first appearance, sizes 5,5,5,4,4
    assert sum(seen, []) == uniques
    assert [len(s) for s in seen] == [5, 5, 5, 4, 4]
    shuffled = [
        set(rec.stimulus_ids[te])
        for _, te in StimulusKFold(5, shuffle=True, random_state=0).split(
            rec.responses, groups=rec.stimulus_ids
        )
    ]
    assert shuffled != [set(s) for s in seen]
    # usable as a scikit-learn cv
    X = rng.normal(size=(rec.n_trials, 4))
    scores = cross_val_score(Ridge(), X, rec.responses[:, 0], cv=cv, groups=rec.stimulus_ids)
    assert scores.shape == (5,)
    with pytest.raises(ValueError, match="at most 23 folds"):
        list(StimulusKFold(30).split(rec.responses, groups=rec.stimulus_ids))
    with pytest.raises(ValueError, match="needs the stimulus id of each sample"):
        list(cv.split(rec.responses))


def test_make_cv_variants(rng):
    rec = _rec(rng)
    ids, runs = rec.stimulus_ids, rec.runs
    folds = make_cv(5, stimulus_ids=ids)
    ref = list(StimulusKFold(5).split(ids, groups=ids))
    for (a, b), (c, d) in zip(folds, ref):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    loro = make_cv("runs", runs=runs)
    ref = list(LeaveOneGroupOut().split(ids, groups=runs))
    assert len(loro) == len(np.unique(runs)) == 6
    for (a, b), (c, d) in zip(loro, ref):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    # int with runs only: contiguous blocks of runs; with n_samples only: of samples
    by_run = make_cv(3, runs=runs)
    assert all(len(np.intersect1d(runs[tr], runs[te])) == 0 for tr, te in by_run)
    blocks = make_cv(4, n_samples=10)
    assert [te.tolist() for _, te in blocks] == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    # a scikit-learn splitter gets the stimulus ids as groups
    gkf = make_cv(GroupKFold(4), stimulus_ids=ids)
    assert all(not set(ids[tr]) & set(ids[te]) for tr, te in gkf)
    # an iterable of (train, test), masks or indices
    mask = np.arange(len(ids)) < 30
    custom = make_cv([(mask, ~mask), (np.arange(30, 69), np.arange(30))], n_samples=69)
    np.testing.assert_array_equal(custom[0][1], np.arange(30, 69))
    np.testing.assert_array_equal(custom[1][0], np.arange(30, 69))


def test_make_cv_errors_and_leak_warning(rng):
    rec = _rec(rng)
    ids, runs = rec.stimulus_ids, rec.runs
    with pytest.raises(ValueError, match=r"`cv`: expected at most 23 folds \(the number of unique stimuli\), got 30"):
        make_cv(30, stimulus_ids=ids)
    with pytest.raises(ValueError, match="at most 6 folds"):
        make_cv(7, runs=runs)
    with pytest.raises(ValueError, match="cv='runs' needs the run of each sample"):
        make_cv("runs", stimulus_ids=ids)
    with pytest.raises(ValueError, match="'runs' needs at least 2 runs"):
        make_cv("runs", runs=np.zeros(10))
    with pytest.raises(ValueError, match="expected an int, 'runs'"):
        make_cv("loo", n_samples=10)
    with pytest.raises(ValueError, match="Inconsistent lengths"):
        make_cv(3, stimulus_ids=ids, runs=runs[:-1])
    with pytest.raises(ValueError, match="pass stimulus_ids, runs or n_samples"):
        make_cv(3)
    with pytest.raises(ValueError, match="fold 0 has an empty test part"):
        make_cv([(np.arange(10), [])], n_samples=10)
    with pytest.raises(ValueError, match="fold 0 has samples in both"):
        make_cv([(np.arange(6), np.arange(5, 10))], n_samples=10)
    with pytest.raises(ValueError, match=r"ints in \[0, 10\)"):
        make_cv([(np.arange(5), np.arange(5, 11))], n_samples=10)
    with pytest.raises(TypeError, match="expected an int, 'runs', a splitter"):
        make_cv(3.5, n_samples=10)
    with pytest.raises(ValueError, match=r"`cv`: expected an integer >= 2"):
        make_cv(1, n_samples=10)
    with pytest.warns(UserWarning, match="same stimulus in train and test"):
        make_cv(KFold(3), stimulus_ids=ids)
