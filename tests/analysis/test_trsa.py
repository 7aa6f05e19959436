"""tRSA: the geo-topological transform (Lin and Kriegeskorte, 2024) against its definition,
rsatoolbox's implementation, and the ordinary comparison it must reduce to."""

import shutil

import numpy as np
import pytest

from neurotoolkit.analysis import compare_rdms, compare_trsa, geotopological_transform, load_rdms_mat


@pytest.fixture(scope="module")
def hit(tmp_path_factory):
    from _datahelpers import shared_path

    from neurotoolkit.data import fetch_92objects

    mirror = tmp_path_factory.mktemp("mirror")
    shutil.copy(shared_path("stimuli_92objects", "brain_rdms_hIT.mat"), mirror / "92_brainRDMs.mat")
    ds = fetch_92objects(data_home=tmp_path_factory.mktemp("home"), base_url=mirror.as_uri(),
                         images=False)
    return load_rdms_mat(ds.rdms, squareform=False)[0].mean(axis=1)  # (4 subjects, 4186)


def _definition(d, lo, hi):
    out = np.empty_like(d)
    for k, x in enumerate(d):
        out[k] = 0.0 if x <= lo else (1.0 if x >= hi else (x - lo) / (hi - lo))
    return out


def test_transform_matches_definition(rng):
    d = rng.gamma(2.0, size=(3, 45))
    g = geotopological_transform(d, 0.2, 0.7)
    for k in range(3):
        lo, hi = np.quantile(d[k], [0.2, 0.7])
        np.testing.assert_allclose(g[k], _definition(d[k], lo, hi))
    gd = geotopological_transform(d[0], 0.5, 2.0, thresholds="distance")
    np.testing.assert_allclose(gd, _definition(d[0], 0.5, 2.0))
    assert geotopological_transform(d, 0.2, 0.7, squareform=True).shape == (3, 10, 10)
    # l == u: binary adjacency graph
    b = geotopological_transform(d[1], 0.4, 0.4)
    assert set(np.unique(b)) <= {0.0, 1.0}
    np.testing.assert_array_equal(b, (d[1] > np.quantile(d[1], 0.4)).astype(float))


def test_transform_matches_rsatoolbox_per_rdm(hit):
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.rdm import RDMs
    from rsatoolbox.rdm.transform import geotopological_transform as ref

    # rsatoolbox 0.3.2 assigns in place in sequence: after mapping [l, u] to [0, 1] it sets
    # every value > u to 1, which also hits transformed values when u < 1. Distances shifted
    # above 1 avoid that (a shift moves the quantile thresholds with it: the same g).
    for lo, hi in [(0.0, 1.0), (0.1, 0.9), (0.3, 0.5)]:
        for s in range(hit.shape[0]):
            d = hit[s] + 1.0
            # it also transforms the vectors it is given in place: give it a copy
            theirs = ref(RDMs(d[None].copy()), lo, hi).get_vectors()[0]
            ours = geotopological_transform(d, lo, hi)
            np.testing.assert_allclose(ours, theirs, atol=1e-12)
            np.testing.assert_allclose(ours, geotopological_transform(hit[s], lo, hi), atol=1e-12)
    # the clobbering on unshifted distances, where the definition gives values in (u, 1)
    theirs = ref(RDMs(hit[0][None].copy()), 0.0, 0.5).get_vectors()[0]
    ours = geotopological_transform(hit[0], 0.0, 0.5)
    hit_by_bug = (ours > np.quantile(hit[0], 0.5)) & (ours < 1)
    assert hit_by_bug.any() and np.all(theirs[hit_by_bug] == 1.0)
    np.testing.assert_allclose(theirs[~hit_by_bug], ours[~hit_by_bug], atol=1e-12)


@pytest.mark.parametrize("method", ["spearman", "pearson", "cosine", "kendall_tau_a"])
def test_l0_umax_gives_the_ordinary_comparison_exactly(hit, rng, method):
    model = hit[0] + rng.normal(scale=hit[0].std(), size=hit.shape[1])
    model = model - model.min()
    data = hit[1:] if method != "kendall_tau_a" else hit[1:, :300]
    model = model if method != "kendall_tau_a" else model[:300]
    # l = 0 and u = max in distance units: a pure rescaling d / max
    for rdm_ in (model, *data):
        np.testing.assert_allclose(
            geotopological_transform(rdm_, 0.0, rdm_.max(), thresholds="distance"),
            rdm_ / rdm_.max(), rtol=1e-12)
    ref = compare_rdms(model, data, method)
    g_model = geotopological_transform(model, 0.0, model.max(), thresholds="distance")
    g_data = np.stack([geotopological_transform(d, 0.0, d.max(), thresholds="distance")
                       for d in data])
    np.testing.assert_allclose(compare_rdms(g_model, g_data, method), ref, atol=1e-12)
    if method != "cosine":  # quantiles 0 and 1: an affine map (min to 0): same for centred measures
        np.testing.assert_allclose(compare_trsa(model, data, 0.0, 1.0, method), ref, atol=1e-12)


def test_topology_is_robust_to_a_monotone_distortion(hit):
    # a monotone distortion keeps quantile thresholds: the topology (l = u) is unchanged
    d = hit[0]
    warped = np.exp(8 * d)
    assert compare_trsa(d, warped, 0.5, 0.5, "pearson") == pytest.approx(1.0)
    assert compare_rdms(d, warped, "pearson") < 0.99


def test_trsa_errors(rng):
    d = rng.random(10)
    with pytest.raises(ValueError, match="Invalid value for `upper`: expected a threshold >= `lower`"):
        geotopological_transform(d, 0.6, 0.2)
    with pytest.raises(ValueError, match=r"Invalid value for `lower`: expected a quantile in \[0, 1\]"):
        geotopological_transform(d, -0.1, 0.5)
    with pytest.raises(ValueError, match="Invalid value for `thresholds`"):
        geotopological_transform(d, 0.1, 0.5, thresholds="rank")
