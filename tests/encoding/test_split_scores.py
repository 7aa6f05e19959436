import numpy as np
import pytest

from neurotoolkit.encoding import correlation_score_split, r2_score_split


def _data(rng, m=3, n=37, t=13):
    y = rng.standard_normal((n, t))
    y -= y.mean(axis=0)
    preds = 0.4 * rng.standard_normal((m, n, t)) + 0.3 * y + 0.1 * rng.standard_normal((1, n, t))
    return y, preds


@pytest.mark.parametrize("include_correlation", [True, False])
def test_r2_split_matches_himalaya(rng, include_correlation):
    from himalaya.scoring import r2_score_split as himalaya_split

    y, preds = _data(rng)
    ours = r2_score_split(y, preds, include_correlation=include_correlation)
    assert ours.shape == (3, 13)
    np.testing.assert_allclose(ours, himalaya_split(y, preds, include_correlation), atol=1e-12)


def test_r2_split_sums_to_joint_r2(rng):
    y, preds = _data(rng)
    joint = 1 - ((y - preds.sum(0)) ** 2).sum(0) / (y**2).sum(0)
    np.testing.assert_allclose(r2_score_split(y, preds).sum(0), joint, atol=1e-12)
    # without cross terms, each part is the R^2 of that space alone
    alone = 1 - ((y[None] - preds) ** 2).sum(1) / (y**2).sum(0)
    np.testing.assert_allclose(r2_score_split(y, preds, include_correlation=False), alone)


def test_correlation_split_matches_himalaya_and_sums(rng):
    from himalaya.scoring import correlation_score_split as himalaya_split

    y, preds = _data(rng, m=2, n=29, t=7)
    y = y + 3.0  # centred internally
    ours = correlation_score_split(y, preds)
    np.testing.assert_allclose(ours, himalaya_split(y, preds), atol=1e-12)
    joint = np.array([np.corrcoef(y[:, j], preds.sum(0)[:, j])[0, 1] for j in range(7)])
    np.testing.assert_allclose(ours.sum(0), joint, atol=1e-12)


def test_no_space_axis_and_vector_targets(rng):
    y, preds = _data(rng, m=2)
    np.testing.assert_allclose(r2_score_split(y, preds[0]), r2_score_split(y, preds[:1])[0])
    assert r2_score_split(y[:, 0], preds[:, :, 0]).shape == (2,)
    assert np.ndim(r2_score_split(y[:, 0], preds[0, :, 0])) == 0
    np.testing.assert_allclose(
        correlation_score_split(y[:, 2], preds[:, :, 2]), correlation_score_split(y, preds)[:, 2]
    )


def test_zero_variance_targets_score_zero(rng):
    y, preds = _data(rng, m=2, t=4)
    y[:, 1] = 0.0
    preds[:, :, 3] = 0.0
    r2 = r2_score_split(y, preds)
    r = correlation_score_split(y, preds)
    assert np.all(np.isfinite(r2)) and np.all(np.isfinite(r))
    np.testing.assert_array_equal(r2[:, 1], 0)
    np.testing.assert_array_equal(r[:, [1, 3]], 0)


def test_warns_when_not_zero_mean(rng):
    y, preds = _data(rng, m=2)
    with pytest.warns(UserWarning, match="not zero-mean over samples for 13 of 13 targets"):
        r2_score_split(y + 1.0, preds)


def test_shape_mismatch_error(rng):
    y, preds = _data(rng, m=2)
    with pytest.raises(ValueError, match="Invalid value for `y_preds`: expected an array of shape"):
        r2_score_split(y, preds[:, :-1])
    with pytest.raises(ValueError, match="Invalid value for `y_true`: expected finite values"):
        r2_score_split(np.full_like(y, np.nan), preds)
