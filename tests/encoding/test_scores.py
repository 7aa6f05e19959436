"""score_r2, score_correlation, score_neg_mse, noise_normalized."""

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import mean_squared_error, r2_score

from neurotoolkit.encoding import noise_normalized, score_correlation, score_neg_mse, score_r2
from neurotoolkit._ridge._scores import scores_from_moments


def test_against_sklearn_and_scipy(rng):
    y = rng.standard_normal((23, 7)) + 2
    p = y + rng.standard_normal((23, 7))
    np.testing.assert_allclose(score_r2(y, p), r2_score(y, p, multioutput="raw_values"))
    np.testing.assert_allclose(
        score_correlation(y, p), [pearsonr(y[:, j], p[:, j])[0] for j in range(7)])
    np.testing.assert_allclose(
        score_neg_mse(y, p), -mean_squared_error(y, p, multioutput="raw_values"))


def test_leading_prediction_axis_and_1d(rng):
    y = rng.standard_normal((19, 5))
    preds = rng.standard_normal((3, 19, 5))
    for fn in (score_r2, score_correlation, score_neg_mse):
        out = fn(y, preds)
        assert out.shape == (3, 5)
        for a in range(3):
            np.testing.assert_allclose(out[a], fn(y, preds[a]))
        assert isinstance(fn(y[:, 0], preds[0, :, 0]), float)
        np.testing.assert_allclose(fn(y[:, 0], preds[:, :, 0]), out[:, 0])


def test_zero_variance_gives_nan_with_warning(rng):
    y = rng.standard_normal((11, 3))
    y[:, 1] = 4.0
    p = rng.standard_normal((11, 3))
    p[:, 2] = 1.5
    with pytest.warns(UserWarning, match=r"R\^2 is undefined for 1 of 3 .*constant.*\[1\]"):
        r2 = score_r2(y, p)
    assert np.isnan(r2[1]) and np.isfinite(r2[[0, 2]]).all()
    np.testing.assert_allclose(r2[[0, 2]], r2_score(y[:, [0, 2]], p[:, [0, 2]],
                                                    multioutput="raw_values"))
    with pytest.warns(UserWarning, match=r"undefined for 2 of 3 .*`y_pred` is constant.*\[2\]"):
        r = score_correlation(y, p)
    assert np.isnan(r[1]) and np.isnan(r[2])
    np.testing.assert_allclose(r[0], pearsonr(y[:, 0], p[:, 0])[0])


def test_one_sample_gives_nan_with_warning(rng):
    y = rng.standard_normal((1, 4))
    for fn in (score_r2, score_correlation):
        with pytest.warns(UserWarning, match="fewer than 2 samples \\(got 1\\)"):
            assert np.isnan(fn(y, y + 1)).all()
    np.testing.assert_allclose(score_neg_mse(y, y + 1), -1.0)
    with pytest.raises(ValueError, match="`y_true`: expected at least 1 sample.*empty array"):
        score_r2(y[:0], y[:0])


def test_nan_raises(rng):
    y = rng.standard_normal((11, 3))
    p = y.copy()
    p[2, 1] = np.nan
    with pytest.raises(ValueError, match="Invalid value for `y_pred`"):
        score_r2(y, p)
    with pytest.raises(ValueError, match="Invalid value for `y_true`"):
        score_correlation(p, y)
    with pytest.raises(ValueError, match="Invalid value for `y_pred`: expected an array of shape"):
        score_r2(y, y[:, :2])


def test_noise_normalized():
    r = np.array([0.5, -0.2, 0.9, 0.3])
    nc = np.array([0.5, 0.5, 0.5, 0.0])
    out = noise_normalized(r, nc)
    np.testing.assert_allclose(out, [50.0, 0.0, 100.0, 100.0])  # capped; NC 0 -> 1e-14
    np.testing.assert_allclose(noise_normalized(np.array([0.2, -0.1]), 0.4, kind="r2"),
                               [50.0, -25.0])
    with pytest.raises(ValueError, match="Divide NSD's percentages by 100"):
        noise_normalized(r, nc * 100)
    with pytest.raises(ValueError, match="Invalid value for `kind`"):
        noise_normalized(r, nc, kind="ev")


def test_scores_from_moments_match_explicit(rng):
    y = rng.standard_normal((17, 4)) + 1
    m = rng.standard_normal(4)  # a "training mean"
    e = rng.standard_normal((3, 17, 4))  # predictions minus m
    yc = y - m
    args = (17, ((y - y.mean(0)) ** 2).sum(0), (yc**2).sum(0), yc.sum(0),
            (e * yc).sum(1), e.sum(1), (e**2).sum(1))
    pred = e + m
    for scoring, fn in (("r2", score_r2), ("correlation", score_correlation),
                        ("neg_mse", score_neg_mse)):
        np.testing.assert_allclose(scores_from_moments(scoring, *args), fn(y, pred), atol=1e-12)
