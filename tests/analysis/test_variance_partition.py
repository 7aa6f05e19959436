import warnings
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from neurotoolkit.analysis import partition_from_r2, variance_partition


def _spaces(rng, n=240, shared_signal=False):
    A = rng.standard_normal((n, 6))
    B = rng.standard_normal((n, 5))
    C = rng.standard_normal((n, 4))
    if shared_signal:
        B[:, :3] = A[:, :3] + 0.1 * rng.standard_normal((n, 3))
    return A, B, C


def test_two_space_formulas():
    r2 = {("A",): np.array([0.3, 0.1]), ("B",): np.array([0.2, 0.0]), ("A", "B"): [0.4, 0.12]}
    table = partition_from_r2(r2, ["A", "B"])
    np.testing.assert_allclose(table["unique_A"], [0.2, 0.12])
    np.testing.assert_allclose(table["unique_B"], [0.1, 0.02])
    np.testing.assert_allclose(table["shared_A+B"], [0.1, -0.02])
    assert table["negative"].tolist() == [False, True]
    assert table.attrs["n_negative"] == {"unique_A": 0, "unique_B": 0, "shared_A+B": 1}
    np.testing.assert_allclose(table["r2_A+B"], [0.4, 0.12])


@pytest.mark.parametrize("m", [2, 3, 4])
def test_inclusion_exclusion_identities(rng, m):
    """Parts sum to the joint R^2, and the parts touching a space sum to its R^2."""
    spaces = list("ABCD")[:m]
    r2 = {
        s: rng.uniform(0, 1, size=9) for k in range(1, m + 1) for s in combinations(spaces, k)
    }
    table = partition_from_r2(r2, spaces)
    parts = table.attrs["components"]
    assert len(parts) == 2**m - 1
    np.testing.assert_allclose(table[parts].sum(axis=1), r2[tuple(spaces)])
    for name in spaces:
        touching = [c for c in parts if name in c.split("_", 1)[1].split("+")]
        np.testing.assert_allclose(table[touching].sum(axis=1), r2[(name,)])
    # every part for spaces in a Venn diagram of planted areas comes back exactly
    area = {frozenset(s): rng.uniform(0, 1) for s in r2}
    union = {s: sum(v for k, v in area.items() if k & set(s)) for s in r2}
    recovered = partition_from_r2(union, spaces)
    for s in r2:
        label = ("unique_" if len(s) == 1 else "shared_") + "+".join(s)
        np.testing.assert_allclose(recovered[label], area[frozenset(s)])


def test_missing_subset_error():
    with pytest.raises(ValueError, match="Invalid value for `r2`: expected the R\\^2 of every"):
        partition_from_r2({("A",): [0.1], ("B",): [0.2]}, ["A", "B"])


def test_y_depends_on_a_only(rng):
    """unique_B ~ 0, shared ~ 0, unique_A ~ R2_A (independent spaces, default RidgeCV)."""
    A, B, _ = _spaces(rng, n=600)
    Y = A @ rng.standard_normal((6, 7)) + 0.7 * rng.standard_normal((600, 7))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alpha-grid saturation on the pure-noise B fits
        table = variance_partition({"A": A, "B": B}, Y, cv=3)
    assert table.shape == (7, 7)
    assert table.attrs["n_folds"] == 3
    assert table["r2_A"].min() > 0.5
    # B fits only noise: its held-out R^2 is slightly negative (train vs test mean), not 0
    np.testing.assert_allclose(table["unique_B"], 0, atol=0.03)
    np.testing.assert_allclose(table["shared_A+B"], 0, atol=0.06)
    np.testing.assert_allclose(table["unique_A"], table["r2_A"], atol=0.06)
    # exact identities on the estimated table
    np.testing.assert_allclose(
        table["unique_A"] + table["unique_B"] + table["shared_A+B"], table["r2_A+B"]
    )
    np.testing.assert_allclose(table["unique_A"] + table["shared_A+B"], table["r2_A"])


def test_shared_signal_three_spaces(rng):
    A, B, C = _spaces(rng, shared_signal=True)
    Y = A[:, :3] @ rng.standard_normal((3, 5)) + 0.5 * rng.standard_normal((240, 5))
    train, test = np.arange(180), np.arange(180, 240)
    table = variance_partition({"A": A, "B": B, "C": C}, Y, train, test, estimator=Ridge(1.0))
    assert table["shared_A+B"].min() > 0.5
    assert np.abs(table[["unique_C", "shared_A+C", "shared_B+C"]].to_numpy()).max() < 0.05
    parts = table.attrs["components"]
    np.testing.assert_allclose(table[parts].sum(axis=1), table["r2_A+B+C"])


def test_matches_manual_fits(rng):
    A, B, _ = _spaces(rng, n=60)
    Y = pd.DataFrame(A @ rng.standard_normal((6, 3)) + rng.standard_normal((60, 3)),
                     columns=["v1", "v2", "v3"])
    train, test = np.arange(40), np.arange(40, 60)
    table = variance_partition({"A": A, "B": B}, Y, train, test, estimator=Ridge(2.0))
    assert list(table.index) == ["v1", "v2", "v3"]
    y = Y.to_numpy()
    for name, X in (("A", A), ("B", B), ("A+B", np.hstack([A, B]))):
        pred = Ridge(2.0).fit(X[train], y[train]).predict(X[test])
        ref = 1 - ((y[test] - pred) ** 2).sum(0) / ((y[test] - y[test].mean(0)) ** 2).sum(0)
        np.testing.assert_allclose(table[f"r2_{name}"], ref)


def test_clip_flags_and_clips(rng):
    A, B, _ = _spaces(rng, n=50)
    Y = rng.standard_normal((50, 6))  # pure noise: many negative parts
    kwargs = dict(train=np.arange(30), test=np.arange(30, 50), estimator=Ridge(0.1))
    raw = variance_partition({"A": A, "B": B}, Y, **kwargs)
    clipped = variance_partition({"A": A, "B": B}, Y, clip=True, **kwargs)
    parts = raw.attrs["components"]
    assert raw["negative"].any() and not raw.attrs["clipped"]
    assert (raw[parts].to_numpy() < 0).any()
    assert clipped.attrs["clipped"] and (clipped[parts].to_numpy() >= 0).all()
    assert clipped.attrs["n_negative"] == raw.attrs["n_negative"]
    assert clipped["negative"].tolist() == raw["negative"].tolist()
    np.testing.assert_allclose(clipped[parts], np.maximum(raw[parts], 0))


def test_runs_give_groups_and_run_folds(rng):
    A, B, _ = _spaces(rng, n=60)
    Y = rng.standard_normal((60, 2))
    runs = np.repeat([0, 1, 2], 20)
    seen = []

    class Spy(Ridge):
        def fit(self, X, y, groups=None):
            seen.append(np.unique(groups).tolist())
            return super().fit(X, y)

    table = variance_partition({"A": A, "B": B}, Y, cv="runs", runs=runs, estimator=Spy())
    assert table.attrs["n_folds"] == 3
    assert sorted(map(tuple, seen)) == sorted([(1, 2)] * 3 + [(0, 2)] * 3 + [(0, 1)] * 3)


@pytest.mark.filterwarnings("ignore:Alpha-grid saturation")  # high SNR, p << n: OLS-like
def test_banded_joint_estimator(rng):
    from neurotoolkit.encoding import BandedRidgeCV

    A, B, _ = _spaces(rng, n=90)
    Y = A @ rng.standard_normal((6, 4)) + 0.5 * rng.standard_normal((90, 4))
    joint = BandedRidgeCV(n_iter=4, cv=3, random_state=0)
    table = variance_partition(
        {"A": A, "B": B}, Y, np.arange(60), np.arange(60, 90), joint_estimator=joint
    )
    assert table["r2_A+B"].min() > 0.5
    np.testing.assert_allclose(table["unique_B"], 0, atol=0.05)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(X_spaces={"A": np.zeros((9, 2))}), ValueError, "expected at least 2 feature spaces"),
        (dict(X_spaces={"A+": np.ones((9, 2)), "B": np.ones((9, 2))}), ValueError, "without"),
        (dict(train=np.arange(5)), ValueError, "Invalid value for `train`: expected both"),
        (dict(train=np.arange(5), test=[20]), ValueError, "Invalid value for `test`"),
        (dict(estimator="ridge"), TypeError, "Invalid value for `estimator`"),
        (dict(joint_estimator="lasso"), ValueError, "Invalid value for `joint_estimator`"),
        (dict(Y=np.zeros((8, 2))), ValueError, "Inconsistent lengths"),
    ],
)
def test_errors(kwargs, exc, match):
    args = dict(X_spaces={"A": np.ones((9, 2)), "B": np.ones((9, 3))}, Y=np.ones((9, 2)))
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        variance_partition(args.pop("X_spaces"), args.pop("Y"), **args)
