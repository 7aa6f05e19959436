"""Noise ceilings against closed forms on simulated y = s_stim + e.

For n_stim stimuli x n_rep repeats and many units with the same sigma_s,
sigma_e, each unit's estimate is an independent draw, so the mean over units
has a standard error ``std / sqrt(n_units)``. Ratio estimators have a known
second-order (delta-method) bias of order 1/n_stim; the expected value used
below includes it, and tolerances are 4 standard errors.
"""

import numpy as np
import pytest

from neurotoolkit.data import (
    Recording,
    explainable_variance,
    ncsnr,
    noise_ceiling,
    split_half_reliability,
)

N_UNITS = 2000


def _simulate(rng, n_stim, n_rep, sigma_s, sigma_e, n_units=N_UNITS, shuffle=True):
    s = rng.normal(0.0, 1.0, (n_stim, n_units)) * sigma_s
    ids = np.repeat(np.arange(n_stim), n_rep)
    if shuffle:
        ids = rng.permutation(ids)
    Y = s[ids] + rng.normal(0.0, 1.0, (len(ids), n_units)) * sigma_e
    return Y, np.array([f"stim{k}" for k in ids])


def _check_mean(values, expected, n_se=4.0):
    values = np.asarray(values)
    se = values.std() / np.sqrt(values.size)
    assert abs(values.mean() - expected) < n_se * se, (values.mean(), expected, se)


def _expected_snr2(snr2, counts):
    """E[ncsnr**2] = E[S/N] to second order. N is the unweighted mean over repeated
    stimuli of variances on r_k - 1 degrees of freedom, so var(N) / N**2 = mean_k(2 / (r_k - 1))
    / n_repeated; S subtracts N * mean_k(1 / r_k), so cov(S, N) = -mean_k(1 / r_k) var(N)."""
    counts = np.asarray(counts, dtype=float)
    rep = counts[counts >= 2]
    rel_var = np.mean(2 / (rep - 1)) / rep.size
    return snr2 * (1 + rel_var) + np.mean(1 / counts) * rel_var


def _expected_g(g, d1, d2, mu, bias, var):
    """Delta method: E g(x) = g(mu) + g'(mu) bias + g''(mu) var / 2."""
    return g(mu) + d1(mu) * bias + 0.5 * d2(mu) * var


def test_ncsnr_matches_closed_form(rng):
    n_stim, n_rep, sigma_s, sigma_e = 400, 3, 0.8, 1.3
    Y, ids = _simulate(rng, n_stim, n_rep, sigma_s, sigma_e)
    est = ncsnr(Y, ids)
    assert est.shape == (N_UNITS,)
    truth2 = (sigma_s / sigma_e) ** 2
    exp2 = _expected_snr2(truth2, [n_rep] * n_stim)
    _check_mean(est**2, exp2)
    # ncsnr itself (sqrt is concave): delta method with the spread across units
    var2 = (est**2).var()
    exp1 = _expected_g(
        np.sqrt, lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x**-1.5, truth2, exp2 - truth2, var2
    )
    _check_mean(est, exp1)
    assert abs(est.mean() - sigma_s / sigma_e) < 0.02  # and plainly close to the truth


@pytest.mark.parametrize("n_average", [1, 3, 10])
def test_noise_ceiling_matches_closed_form(rng, n_average):
    n_stim, n_rep, sigma_s, sigma_e = 400, 3, 0.6, 1.0
    Y, ids = _simulate(rng, n_stim, n_rep, sigma_s, sigma_e)
    nc = noise_ceiling(Y, ids, n_average=n_average)
    truth2 = (sigma_s / sigma_e) ** 2
    c = 1.0 / n_average
    exp2 = _expected_snr2(truth2, [n_rep] * n_stim)
    var2 = (ncsnr(Y, ids) ** 2).var()
    expected = _expected_g(
        lambda x: x / (x + c),
        lambda x: c / (x + c) ** 2,
        lambda x: -2 * c / (x + c) ** 3,
        truth2,
        exp2 - truth2,
        var2,
    )
    _check_mean(nc, expected)
    assert abs(nc.mean() - sigma_s**2 / (sigma_s**2 + sigma_e**2 / n_average)) < 0.01
    assert np.all((nc >= 0) & (nc <= 1))


def test_noise_ceiling_algonauts_counts_and_data(rng):
    # unequal repeats: 1, 2 and 3 trials per stimulus
    n_units, sigma_s = 300, 0.7
    counts = np.array([1, 2, 3] * 100)
    ids = np.repeat(np.arange(len(counts)), counts).astype(str)
    s = rng.normal(size=(len(counts), n_units)) * sigma_s
    Y = s[ids.astype(int)] + rng.normal(size=(len(ids), n_units))
    snr2 = ncsnr(Y, ids) ** 2
    test_counts = np.array([3] * 5 + [2] * 3 + [1] * 2)
    nc = noise_ceiling(Y, ids, n_average=test_counts)
    inv = (5 / 3 + 3 / 2 + 2 / 1) / 10  # (N3/3 + N2/2 + N1/1) / N
    np.testing.assert_allclose(nc, snr2 / (snr2 + inv))
    nc_data = noise_ceiling(Y, ids, n_average="data")
    np.testing.assert_allclose(nc_data, snr2 / (snr2 + np.mean(1.0 / counts)))
    # the signal estimate stays unbiased with unequal repeats
    _check_mean(snr2, _expected_snr2(sigma_s**2, counts))


def test_split_half_matches_reliability_of_full_average(rng):
    n_stim, n_rep, sigma_s, sigma_e = 300, 4, 0.5, 1.0
    Y, ids = _simulate(rng, n_stim, n_rep, sigma_s, sigma_e, n_units=1000)
    rel = split_half_reliability(Y, ids, n_splits=10, random_state=0)
    truth = sigma_s**2 / (sigma_s**2 + sigma_e**2 / n_rep)  # reliability of the 4-trial mean
    # Pearson r is biased by O((1 - rho^2) / n_stim) -> allow that on top of 4 SE
    se = rel.std() / np.sqrt(rel.size)
    assert abs(rel.mean() - truth) < 4 * se + (1 - truth**2) / n_stim
    # without Spearman-Brown: reliability of a 2-trial mean
    half = split_half_reliability(Y, ids, n_splits=10, random_state=0, spearman_brown=False)
    np.testing.assert_allclose(rel, 2 * half / (1 + half))
    # the split-half ceiling agrees with the ncsnr ceiling
    nc_sh = noise_ceiling(Y, ids, n_average=1, method="split_half", n_splits=10, random_state=1)
    nc_ncsnr = noise_ceiling(Y, ids, n_average=1)
    assert abs(nc_sh.mean() - nc_ncsnr.mean()) < 0.01
    assert abs(nc_sh.mean() - sigma_s**2 / (sigma_s**2 + sigma_e**2)) < 0.01


def test_split_half_is_seeded(rng):
    Y, ids = _simulate(rng, 37, 3, 1.0, 1.0, n_units=11)
    a = split_half_reliability(Y, ids, random_state=3)
    b = split_half_reliability(Y, ids, random_state=3)
    np.testing.assert_array_equal(a, b)
    c = split_half_reliability(Y, ids, random_state=4)
    assert not np.array_equal(a, c)


def test_explainable_variance_closed_form(rng):
    n_rep, n_stim, sigma_s, sigma_e = 3, 400, 0.8, 1.0
    s = rng.normal(size=(n_stim, N_UNITS)) * sigma_s
    Y_rep = s[None] + rng.normal(size=(n_rep, n_stim, N_UNITS)) * sigma_e
    ev = explainable_variance(Y_rep)
    truth = sigma_s**2 / (sigma_s**2 + sigma_e**2)
    se = ev.std() / np.sqrt(ev.size)
    assert abs(ev.mean() - truth) < 4 * se + 2.0 / n_stim  # ratio bias O(1/n_stim)
    raw = explainable_variance(Y_rep, bias_correction=False)
    np.testing.assert_allclose(ev, raw - (1 - raw) / (n_rep - 1))
    # same data as trials: EV_c estimates the single-trial ceiling NC_1
    Y = Y_rep.reshape(n_rep * n_stim, N_UNITS)
    ids = np.tile(np.arange(n_stim), n_rep).astype(str)
    assert abs(noise_ceiling(Y, ids).mean() - ev.mean()) < 0.01


def test_no_signal_gives_near_zero(rng):
    n_stim, n_rep = 400, 3
    Y, ids = _simulate(rng, n_stim, n_rep, 0.0, 1.0, n_units=500)
    nc = noise_ceiling(Y, ids)
    # signal estimate ~ N(0, sd) clipped at 0, sd = sqrt(2/(n_stim-1)) / n_rep
    sd = np.sqrt(2 / (n_stim - 1)) / n_rep
    assert nc.mean() < 2 * sd  # expectation sd / sqrt(2 pi) ~ 0.4 sd
    assert (nc == 0).mean() > 0.3  # about half are clipped to exactly 0
    ev = explainable_variance(Y.reshape(n_stim, n_rep, -1).transpose(1, 0, 2))
    assert abs(ev.mean()) < 0.01


def test_recording_method_and_zscore_by(rng):
    n_stim, n_rep, n_units = 60, 4, 13
    # every run shows each stimulus once (run k = repeat k)
    s = rng.normal(size=(n_stim, n_units))
    ids = np.tile(np.arange(n_stim), n_rep)
    runs = np.repeat(np.arange(n_rep), n_stim)
    Y = s[ids] + rng.normal(size=(len(ids), n_units))
    ids = ids.astype(str)
    rec = Recording(Y, ids, runs=runs)
    np.testing.assert_allclose(rec.noise_ceiling(), noise_ceiling(Y, ids))
    # z-scoring is per unit: a global gain and offset change nothing
    np.testing.assert_allclose(noise_ceiling(3 * Y + 5, ids), noise_ceiling(Y, ids))
    # run offsets and gains inflate the noise unless z-scored per run
    Y_off = (Y + 3.0 * runs[:, None]) * (1 + runs[:, None])
    rec_off = Recording(Y_off, ids, runs=runs)
    nc_runs = rec_off.noise_ceiling(zscore_by="runs")
    np.testing.assert_allclose(nc_runs, noise_ceiling(Y_off, ids, zscore_by=runs))
    truth = 0.5  # sigma_s = sigma_e = 1
    assert abs(nc_runs.mean() - truth) < 0.1
    assert rec_off.noise_ceiling().mean() < truth - 0.2
    nc_data = rec.noise_ceiling(n_average="data")
    np.testing.assert_allclose(nc_data, noise_ceiling(Y, ids, n_average=n_rep))
    assert rec.noise_ceiling(method="split_half", random_state=0).shape == (n_units,)


def test_errors(rng):
    Y = rng.normal(size=(37, 11))
    ids = np.arange(37).astype(str)
    with pytest.raises(ValueError, match="every one of the 37 stimuli was shown once"):
        ncsnr(Y, ids)
    with pytest.raises(ValueError, match="shown once"):
        noise_ceiling(Recording(Y, ids))
    with pytest.raises(ValueError, match="at least 3 stimuli with 2 or more trials"):
        split_half_reliability(Y, ids)
    with pytest.raises(ValueError, match="length 37"):
        ncsnr(Y, ids[:-1])
    with pytest.raises(ValueError, match="Invalid value for `stimulus_ids`.*got None"):
        noise_ceiling(Y)
    ids_rep = (np.arange(37) % 12).astype(str)
    with pytest.raises(ValueError, match="Invalid value for `n_average`"):
        noise_ceiling(Y, ids_rep, n_average=0)
    with pytest.raises(ValueError, match="Invalid value for `n_average`"):
        noise_ceiling(Y, ids_rep, n_average=np.array([1.5, 2.0]))
    with pytest.raises(ValueError, match="Invalid value for `method`"):
        noise_ceiling(Y, ids_rep, method="bogus")
    with pytest.raises(ValueError, match="'runs' needs a Recording with runs"):
        Recording(Y, ids_rep).noise_ceiling(zscore_by="runs")
    with pytest.raises(ValueError, match="at least 2 repeats"):
        explainable_variance(Y[None])
    with pytest.raises(ValueError, match="3-D"):
        explainable_variance(Y)


def test_noiseless_and_constant_units(rng):
    s = rng.normal(size=(20, 3))
    ids = np.repeat(np.arange(20), 2).astype(str)
    Y = s[ids.astype(int)]
    Y[:, 2] += rng.normal(size=40) * 0.5
    Y = np.column_stack([Y, np.full(40, 7.0)])  # constant unit
    snr = ncsnr(Y, ids)
    assert np.isinf(snr[:2]).all() and np.isfinite(snr[2]) and snr[3] == 0
    nc = noise_ceiling(Y, ids)
    np.testing.assert_array_equal(nc[[0, 1, 3]], [1.0, 1.0, 0.0])


def test_chunking_over_units_gives_same_result(rng, monkeypatch):
    from neurotoolkit.data import _noise_ceiling as nc_mod

    Y = rng.normal(size=(90, 50)) + rng.normal(size=(30, 50))[np.arange(90) % 30]
    ids = (np.arange(90) % 30).astype(str)
    runs = np.arange(90) // 30
    full = (ncsnr(Y, ids, zscore_by=runs), split_half_reliability(Y, ids, random_state=1))
    small = nc_mod._unit_chunks
    monkeypatch.setattr(nc_mod, "_unit_chunks", lambda n, u: small(n, u, budget=8 * n * 7))
    assert len(nc_mod._unit_chunks(90, 50)) == 8
    np.testing.assert_allclose(ncsnr(Y, ids, zscore_by=runs), full[0])
    np.testing.assert_allclose(split_half_reliability(Y, ids, random_state=1), full[1])
