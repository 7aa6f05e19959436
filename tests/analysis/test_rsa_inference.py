"""RSA inference against rsatoolbox on the 92-object human IT RDMs (fetched from a local
mirror): bootstrap over conditions / subjects, pairwise comparisons, permutation,
time-resolved RSA with clusters."""

import shutil

import numpy as np
import pytest

from neurotoolkit.analysis import (
    bootstrap_rdm_comparison,
    compare_rdms,
    load_rdms_mat,
    rdm_permutation_test,
    time_resolved_rsa,
)
from neurotoolkit.analysis._rsa import _vector_to_square


@pytest.fixture(scope="module")
def hit(tmp_path_factory):
    """Human IT RDMs (4 subjects x 2 sessions) through fetch_92objects from a local mirror."""
    from _datahelpers import shared_path

    from neurotoolkit.data import fetch_92objects

    mirror = tmp_path_factory.mktemp("mirror")
    shutil.copy(shared_path("stimuli_92objects", "brain_rdms_hIT.mat"), mirror / "92_brainRDMs.mat")
    ds = fetch_92objects(data_home=tmp_path_factory.mktemp("home"), base_url=mirror.as_uri(),
                         images=False)
    vecs, _ = load_rdms_mat(ds.rdms, squareform=False)
    return vecs  # (4, 2, 4186)


def _models(hit, seed=0):
    """Session-1 group RDM (a good model of session 2), a noisier one, and a random one."""
    rng = np.random.default_rng(seed)
    group = hit[:, 0].mean(0)
    return {"session1": group, "session1_noisy": group + rng.normal(scale=group.std(), size=group.size),
            "random": rng.random(group.size)}


def _rsatoolbox_indices(seed, n_boot, n):
    state = np.random.get_state()
    np.random.seed(seed)
    idx = np.stack([np.random.randint(0, n, size=n) for _ in range(n_boot)])
    np.random.set_state(state)
    return idx


@pytest.mark.parametrize("method,theirs", [("spearman", "spearman"), ("pearson", "corr")])
def test_condition_bootstrap_equals_rsatoolbox_for_same_resamples(hit, method, theirs):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import eval_bootstrap_pattern
    from rsatoolbox.model import ModelFixed
    from rsatoolbox.rdm import RDMs

    models, data = _models(hit), hit[:, 1]
    n_boot = 40
    state = np.random.get_state()
    np.random.seed(11)
    ref = eval_bootstrap_pattern([ModelFixed(k, v) for k, v in models.items()], RDMs(data),
                                 method=theirs, N=n_boot, boot_noise_ceil=False)
    np.random.set_state(state)
    idx = _rsatoolbox_indices(11, n_boot, 92)
    ours = bootstrap_rdm_comparison(models, data, method=method, condition_indices=idx)
    np.testing.assert_allclose(ours.bootstrap, ref.evaluations, atol=1e-10)
    np.testing.assert_allclose(ours.observed, [compare_rdms(m, data, method).mean()
                                               for m in models.values()], atol=1e-12)
    # pairwise p-values: ours counts ties on both sides and adds 1 / (B + 1); rsatoolbox's
    # bootstrap_pair_tests adds 1 / B: with no ties the two agree within 2 / B
    from rsatoolbox.util.inference_util import bootstrap_pair_tests

    p_ref = bootstrap_pair_tests(ref.evaluations)
    table = ours.compare(correction=None)
    for _, row in table.iterrows():
        i, j = ours.model_names.index(row.model_a), ours.model_names.index(row.model_b)
        assert abs(row.p_value - p_ref[i, j]) <= 2.0 / n_boot
    del rsatoolbox


def test_subject_bootstrap_equals_rsatoolbox(hit):
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import eval_bootstrap_rdm
    from rsatoolbox.model import ModelFixed
    from rsatoolbox.rdm import RDMs

    models, data = _models(hit), hit.reshape(8, -1)  # 8 subject-session RDMs
    state = np.random.get_state()
    np.random.seed(5)
    ref = eval_bootstrap_rdm([ModelFixed(k, v) for k, v in models.items()], RDMs(data),
                             method="spearman", N=30, boot_noise_ceil=False)
    np.random.set_state(state)
    idx = _rsatoolbox_indices(5, 30, 8)
    ours = bootstrap_rdm_comparison(models, data, "spearman", resample="subjects",
                                    subject_indices=idx)
    np.testing.assert_allclose(ours.bootstrap, ref.evaluations, atol=1e-10)


def test_bootstrap_agrees_with_rsatoolbox_within_monte_carlo_error(hit):
    """Independent seeds, same scheme: means and SDs of the bootstrap distributions agree."""
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import eval_bootstrap_pattern
    from rsatoolbox.model import ModelFixed
    from rsatoolbox.rdm import RDMs

    models, data = _models(hit), hit[:, 1]
    B = 300
    state = np.random.get_state()
    np.random.seed(123)
    ref = eval_bootstrap_pattern([ModelFixed(k, v) for k, v in models.items()], RDMs(data),
                                 method="corr", N=B, boot_noise_ceil=False).evaluations
    np.random.set_state(state)
    ours = bootstrap_rdm_comparison(models, data, "pearson", n_bootstraps=B, random_state=0)
    sd_ref, sd_ours = ref.std(0, ddof=1), ours.bootstrap.std(0, ddof=1)
    # means differ by sampling error of two independent B-sample means
    assert np.all(np.abs(ours.bootstrap.mean(0) - ref.mean(0)) <= 4 * sd_ref * np.sqrt(2 / B))
    # SDs: relative Monte Carlo error of an SD ~ 1 / sqrt(2 (B - 1)) per estimate
    assert np.all(np.abs(sd_ours / sd_ref - 1) <= 4 * np.sqrt(2 / (2 * (B - 1))) + 0.02)
    d_ours = ours.bootstrap[:, 0] - ours.bootstrap[:, 1]
    d_ref = ref[:, 0] - ref[:, 1]
    assert abs(d_ours.mean() - d_ref.mean()) <= 4 * d_ref.std() * np.sqrt(2 / B)
    table = ours.compare()
    row = table[(table.model_a == "session1") & (table.model_b == "random")].iloc[0]
    assert row.significant and row.difference > 0
    assert ours.noise_ceiling.lower < ours.noise_ceiling.upper


def test_bootstrap_both_and_errors(hit):
    models, data = _models(hit), hit[:, 0]
    res = bootstrap_rdm_comparison(models, data, "spearman", n_bootstraps=20, resample="both",
                                   random_state=0)
    assert res.condition_indices.shape == (20, 92) and res.subject_indices.shape == (20, 4)
    again = bootstrap_rdm_comparison(models, data, "spearman", n_bootstraps=20, resample="both",
                                     random_state=0)
    np.testing.assert_array_equal(res.bootstrap, again.bootstrap)
    frame = res.to_frame()
    assert list(frame.model) == list(models) and (frame.ci_low <= frame.ci_high).all()
    with pytest.raises(ValueError, match="Invalid value for `resample`"):
        bootstrap_rdm_comparison(models, data, resample="runs")
    with pytest.raises(ValueError, match="at least 2 subject RDMs"):
        bootstrap_rdm_comparison(models, data[0], resample="subjects")
    with pytest.raises(ValueError, match=r"Invalid value for `condition_indices`"):
        bootstrap_rdm_comparison(models, data, condition_indices=np.full((3, 92), 100))


def test_permutation_test_fast_path_equals_brute_force(hit, rng):
    model, data = hit[:, 0].mean(0), hit[:, 1]
    obs, null, p = rdm_permutation_test(model, data, "spearman", n_permutations=30, random_state=4)
    perm_rng = np.random.default_rng(4)
    sq = _vector_to_square(model)
    iu = np.triu_indices(92, 1)
    for k in range(30):
        perm = perm_rng.permutation(92)
        ref = compare_rdms(sq[perm][:, perm][iu], data, "spearman").mean()
        assert null[k] == pytest.approx(ref, abs=1e-10)
    assert obs == pytest.approx(compare_rdms(model, data, "spearman").mean())
    assert p == 1 / 31
    # a random model: p-value not small
    _, _, p_rand = rdm_permutation_test(rng.random(model.size), data, "pearson",
                                        n_permutations=200, random_state=0)
    assert p_rand > 0.01
    _, null_tau, _ = rdm_permutation_test(model[:45], hit[:, 1, :45], "kendall_tau_a",
                                          n_permutations=5, random_state=0)
    assert null_tau.shape == (5,)


def test_time_resolved_rsa_clusters(rng):
    pytest.importorskip("mne")
    from mne.stats import permutation_cluster_1samp_test

    n_sub, n_times, n_cond = 9, 30, 12
    n_pairs = n_cond * (n_cond - 1) // 2
    model = rng.random(n_pairs)
    signal = np.zeros(n_times)
    signal[10:20] = 1.0
    data = (signal[None, :, None] * model[None, None] * 1.5
            + rng.random((n_sub, n_times, n_pairs)))
    res = time_resolved_rsa(data, model, times=np.linspace(-0.1, 0.5, n_times),
                            method="pearson", n_permutations=256, random_state=2)
    assert res.scores.shape == (n_sub, n_times)
    np.testing.assert_allclose(res.scores[3, 7], compare_rdms(model, data[3, 7], "pearson"))
    T, clusters, pv, _ = permutation_cluster_1samp_test(res.scores, n_permutations=256, tail=1,
                                                        rng=2, out_type="mask", verbose=False)
    np.testing.assert_allclose(res.clusters.cluster_pvalues, pv)
    mask = res.clusters.significant_mask
    assert mask[10:20].all() and not mask[:8].any() and not mask[22:].any()
    with pytest.raises(ValueError, match="Invalid value for `times`"):
        time_resolved_rsa(data, model, times=np.arange(3))
