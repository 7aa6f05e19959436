import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurotoolkit.encoding import Delayer


def _reference_delay(X, delays, runs):
    """Loop reference: (S_d X)[tau] = X[tau - d] within each run, zero outside."""
    n, p = X.shape
    out = np.zeros((n, len(delays) * p))
    for run in np.unique(runs):
        idx = np.flatnonzero(runs == run)
        for k, d in enumerate(delays):
            for pos, row in enumerate(idx):
                src = pos - d
                if 0 <= src < len(idx):
                    out[row, k * p : (k + 1) * p] = X[idx[src]]
    return out


@pytest.mark.parametrize("delays", [(1, 2, 3, 4), (0,), (-2, 0, 3), (5,)])
def test_delays_match_loop_reference(rng, delays):
    X = rng.standard_normal((37, 11))
    runs = np.repeat([3, 1, 2], [15, 12, 10])  # labels not sorted by appearance
    Xd = Delayer(delays=delays).fit_transform(X, runs=runs)
    assert Xd.shape == (37, len(delays) * 11)
    np.testing.assert_array_equal(Xd, _reference_delay(X, delays, runs))


def test_rows_never_cross_runs(rng):
    X = rng.standard_normal((20, 3)) + 10  # nonzero everywhere
    runs = np.repeat([0, 1], [8, 12])
    Xd = Delayer(delays=[2]).fit(X).transform(X, runs=runs)
    # first 2 rows of each run are zero, the rest are the run's own rows
    np.testing.assert_array_equal(Xd[[0, 1, 8, 9]], 0)
    np.testing.assert_array_equal(Xd[10:], X[8:18])
    # without runs the second run starts with the end of the first one
    Xd_one = Delayer(delays=[2]).fit(X).transform(X)
    np.testing.assert_array_equal(Xd_one[8], X[6])


def test_interleaved_runs_follow_order_of_appearance(rng):
    X = rng.standard_normal((6, 2))
    runs = np.array([0, 1, 0, 1, 0, 1])
    Xd = Delayer(delays=[1]).fit_transform(X, runs=runs)
    np.testing.assert_array_equal(Xd[[0, 1]], 0)
    np.testing.assert_array_equal(Xd[2], X[0])
    np.testing.assert_array_equal(Xd[5], X[3])


def test_delay_longer_than_data_or_run_raises(rng):
    X = rng.standard_normal((5, 2))
    with pytest.raises(ValueError, match=r"`delays`: .*n_samples = 5\).*\[7, -9\] among"):
        Delayer(delays=[1, 7, -9]).fit(X)
    with pytest.raises(ValueError, match=r"n_samples = 5\).*\[5\]"):
        Delayer(delays=[5]).fit(X)
    # a run shorter than a delay is named, even when X as a whole is long enough
    X = rng.standard_normal((12, 2))
    delayer = Delayer(delays=[0, 3]).fit(X)
    with pytest.raises(ValueError, match=r"n_samples = 3 in run 'b'\).*\[3\]"):
        delayer.transform(X, runs=["a"] * 9 + ["b"] * 3)
    assert delayer.transform(X, runs=["a"] * 8 + ["b"] * 4).shape == (12, 4)


def test_reshape_by_delays_roundtrip(rng):
    X = rng.standard_normal((13, 7))
    delayer = Delayer(delays=(1, 2, 3)).fit(X)
    coef = rng.standard_normal((3, 7, 5))
    flat = coef.reshape(21, 5)
    # predictions with the flat coefs equal the sum of per-delay predictions
    Xd = delayer.transform(X)
    pred = Xd @ flat
    per_delay = sum(Xd[:, k * 7 : (k + 1) * 7] @ coef[k] for k in range(3))
    np.testing.assert_allclose(pred, per_delay)
    np.testing.assert_array_equal(delayer.reshape_by_delays(flat), coef)
    assert delayer.reshape_by_delays(flat[:, 0]).shape == (3, 7)
    with pytest.raises(ValueError, match="Invalid value for `coef`: expected an array with 21"):
        delayer.reshape_by_delays(flat[:20])


def test_feature_names_out():
    import pandas as pd

    X = pd.DataFrame(np.zeros((4, 2)), columns=["lum", "edge"])
    delayer = Delayer(delays=[1, 3]).fit(X)
    assert list(delayer.get_feature_names_out()) == [
        "lum_delay1",
        "edge_delay1",
        "lum_delay3",
        "edge_delay3",
    ]
    assert list(Delayer([0]).fit(np.zeros((3, 2))).get_feature_names_out()) == [
        "x0_delay0",
        "x1_delay0",
    ]


def test_dtype_kept():
    X = np.ones((5, 2), dtype=np.float32)
    assert Delayer().fit_transform(X).dtype == np.float32
    assert Delayer().fit_transform(X.astype(int)).dtype == np.float64


@pytest.mark.parametrize(
    "delays, match",
    [
        ([], "expected a non-empty 1-D sequence of distinct integers"),
        ([1, 1], "repeated values"),
        ([0.5], "expected a non-empty 1-D sequence"),
        ([[1, 2]], "shape \\(1, 2\\)"),
    ],
)
def test_bad_delays(delays, match):
    with pytest.raises(ValueError, match="Invalid value for `delays`: .*" + match):
        Delayer(delays=delays).fit(np.zeros((4, 2)))


def test_bad_runs():
    delayer = Delayer().fit(np.zeros((6, 2)))
    with pytest.raises(ValueError, match="Inconsistent lengths"):
        delayer.transform(np.zeros((6, 2)), runs=[0, 0, 1])
    with pytest.raises(ValueError, match="Invalid value for `runs`: expected a 1-D array"):
        delayer.transform(np.zeros((6, 2)), runs=np.zeros((6, 1)))
    with pytest.raises(ValueError, match="features"):
        delayer.transform(np.zeros((6, 3)))


def test_in_pipeline_with_metadata_routing(rng):
    import sklearn
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    X = rng.standard_normal((30, 3))
    y = rng.standard_normal(30)
    runs = np.repeat([0, 1, 2], 10)
    with sklearn.config_context(enable_metadata_routing=True):
        delayer = Delayer(delays=[1, 2]).set_transform_request(runs=True)
        pipe = make_pipeline(delayer, Ridge().set_fit_request(sample_weight=False))
        pipe.fit(X, y, runs=runs)
        pred = pipe.predict(X, runs=runs)
    ref = Ridge().fit(Delayer([1, 2]).fit_transform(X, runs=runs), y)
    np.testing.assert_allclose(pred, ref.predict(Delayer([1, 2]).fit_transform(X, runs=runs)))


def _time_series_checks(estimator):
    # A delay mixes neighbouring samples: the output of a row depends on the rows
    # before it, so a subset or a reordering of samples changes it by design.
    reason = "delays depend on sample order (time series)"
    return {
        "check_methods_subset_invariance": reason,
        "check_methods_sample_order_invariance": reason,
    }


@parametrize_with_checks(
    [Delayer(), Delayer(delays=(-1, 0, 2))], expected_failed_checks=_time_series_checks
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
