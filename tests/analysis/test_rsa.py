"""RSA: rdm, crossnobis_rdm, compare_rdms, rdm_noise_ceiling, load_rdms_mat (Card 10)."""

import itertools

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import pdist, squareform

from neurotoolkit.analysis import (
    compare_rdms,
    crossnobis_rdm,
    load_rdms_mat,
    rdm,
    rdm_noise_ceiling,
)


@pytest.mark.parametrize("metric", ["correlation", "euclidean", "sqeuclidean", "cosine"])
def test_rdm_matches_pdist(rng, metric):
    B = rng.normal(size=(13, 37)) + rng.normal(size=(1, 37))
    vec = rdm(B, metric=metric)
    ref = pdist(B, metric=metric)
    assert vec.shape == (13 * 12 // 2,)
    np.testing.assert_allclose(vec, ref, rtol=1e-10, atol=1e-10)
    sq = rdm(B, metric=metric, squareform=True)
    np.testing.assert_allclose(sq, squareform(ref), rtol=1e-10, atol=1e-10)
    # a stack gives one RDM per set, same values
    stack = rdm(np.stack([B, 2 * B[::-1]]), metric=metric)
    assert stack.shape == (2, 78)
    np.testing.assert_allclose(stack[1], pdist(2 * B[::-1], metric=metric), atol=1e-9)


def test_rdm_errors(rng):
    with pytest.raises(ValueError, match="Invalid value for `metric`"):
        rdm(rng.normal(size=(4, 5)), metric="manhattan")
    const = rng.normal(size=(4, 5))
    const[2] = 1.0
    with pytest.raises(ValueError, match=r"zero variance for condition\(s\) \[2\]"):
        rdm(const)
    with pytest.raises(ValueError, match="expected a 2-D or 3-D array"):
        rdm(rng.normal(size=7))


def _kendall_tau_a_loop(x, y):
    n = len(x)
    s = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i, j in itertools.combinations(range(n), 2))
    return s / (n * (n - 1) / 2)


def test_compare_rdms_against_scipy_and_direct_tau_a(rng):
    n_cond = 11
    a = rng.random(n_cond * (n_cond - 1) // 2)
    b = a + rng.normal(scale=0.3, size=a.shape)
    assert compare_rdms(a, b, "spearman") == pytest.approx(stats.spearmanr(a, b)[0], abs=1e-12)
    assert compare_rdms(a, b, "pearson") == pytest.approx(stats.pearsonr(a, b)[0], abs=1e-12)
    assert compare_rdms(a, b, "cosine") == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    # no ties: tau-a == tau-b == scipy
    assert compare_rdms(a, b, "kendall_tau_a") == pytest.approx(stats.kendalltau(a, b)[0], abs=1e-12)
    # ties (categorical model): tau-a differs from tau-b, matches the direct definition
    cat = (a > 0.5).astype(float)
    tau_a = compare_rdms(cat, b, "kendall_tau_a")
    assert tau_a == pytest.approx(_kendall_tau_a_loop(cat, b), abs=1e-12)
    assert abs(tau_a) < abs(stats.kendalltau(cat, b)[0])
    # square matrices read like their vectors
    assert compare_rdms(squareform(a), squareform(b), "spearman") == pytest.approx(
        compare_rdms(a, b, "spearman")
    )


def test_compare_rdms_stacks_shapes(rng):
    models = rng.random((3, 21))
    subjects = rng.random((5, 21))
    sim = compare_rdms(models, subjects, "spearman")
    assert sim.shape == (3, 5)
    assert sim[2, 4] == pytest.approx(stats.spearmanr(models[2], subjects[4])[0])
    assert compare_rdms(models[1], subjects).shape == (5,)
    assert compare_rdms(models, subjects[0]).shape == (3,)
    tau = compare_rdms(models, subjects, "kendall_tau_a")
    assert tau[1, 3] == pytest.approx(_kendall_tau_a_loop(models[1], subjects[3]))
    with pytest.raises(ValueError, match="same conditions"):
        compare_rdms(rng.random(21), rng.random(15))
    with pytest.raises(ValueError, match="not such a number"):
        compare_rdms(rng.random(20), rng.random(20))
    with pytest.raises(ValueError, match="Invalid value for `method`"):
        compare_rdms(models, subjects, "tau_b")


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a", "cosine"])
def test_noise_ceiling_brackets_planted_rdm(rng, method):
    n_cond, n_sub = 24, 12
    n_pairs = n_cond * (n_cond - 1) // 2
    truth = rng.gamma(2.0, size=n_pairs) + 3.0
    subjects = truth + rng.normal(scale=1.5, size=(n_sub, n_pairs))
    ceiling = rdm_noise_ceiling(subjects, method=method)
    assert ceiling.lower <= ceiling.upper
    true_score = compare_rdms(truth, subjects, method).mean()
    # the planted shared RDM scores at (or just above) the lower bound and below the upper one
    assert ceiling.lower - 0.02 <= true_score <= ceiling.upper
    # an unrelated model is far below (cosine is uncentred: the positive offset of
    # distances alone gives a high similarity, so only the rank/centred measures are checked)
    if method != "cosine":
        assert compare_rdms(rng.permutation(truth), subjects, method).mean() < ceiling.lower - 0.2
    # upper bound via the explicit definition (pearson: mean of z-scored RDMs)
    if method == "pearson":
        z = stats.zscore(subjects, axis=1)
        up = np.mean([stats.pearsonr(s, z.mean(0))[0] for s in subjects])
        lo = np.mean([stats.pearsonr(s, np.delete(z, k, 0).mean(0))[0] for k, s in enumerate(subjects)])
        assert ceiling.upper == pytest.approx(up) and ceiling.lower == pytest.approx(lo)
    with pytest.raises(ValueError, match="at least 2 subject RDMs"):
        rdm_noise_ceiling(subjects[0])


def test_crossnobis_unbiased_and_matches_mahalanobis(rng):
    n_part, n_cond, n_units = 6, 5, 9
    means = rng.normal(size=(n_cond, n_units))
    means[3] = means[1]  # identical conditions: distance 0 in expectation
    A = rng.normal(size=(n_units, n_units))
    cov = A @ A.T / n_units + np.eye(n_units)
    L = np.linalg.cholesky(cov)
    reps = 400
    d = np.mean(
        [
            crossnobis_rdm(means + rng.normal(size=(n_part, n_cond, n_units)) @ L.T, noise_cov=cov)
            for _ in range(reps)
        ],
        axis=0,
    )
    diff = means[:, None] - means[None]
    true = np.einsum("iju,uv,ijv->ij", diff, np.linalg.inv(cov), diff) / n_units
    iu = np.triu_indices(n_cond, 1)
    np.testing.assert_allclose(d, true[iu], atol=0.06)
    k13 = list(zip(*iu)).index((1, 3))
    assert abs(d[k13]) < 0.06
    # noise-free: equals the squared Mahalanobis distance exactly (every partition identical)
    exact = crossnobis_rdm(np.repeat(means[None], 3, 0), noise_cov=cov, squareform=True)
    np.testing.assert_allclose(exact, true, atol=1e-10)
    # no covariance: cross-validated squared Euclidean / n_units
    np.testing.assert_allclose(
        crossnobis_rdm(np.repeat(means[None], 2, 0)), pdist(means, "sqeuclidean") / n_units
    )
    res = rng.normal(size=(50, n_units))
    assert crossnobis_rdm(means[None].repeat(2, 0), residuals=res).shape == (10,)
    with pytest.raises(ValueError, match="at least 2 partitions"):
        crossnobis_rdm(means[None])


def test_load_rdms_mat_real_file(objects92_dir):
    rdms, names = load_rdms_mat(objects92_dir / "brain_rdms_hIT.mat")
    assert rdms.shape == (4, 2, 92, 92) and names.shape == (4, 2)
    assert names[0, 0] == "hIT | BE | Session: 1" and names[3, 1].endswith("Session: 2")
    np.testing.assert_allclose(rdms, np.swapaxes(rdms, -1, -2))
    assert np.all(np.diagonal(rdms, axis1=-2, axis2=-1) == 0)
    assert rdms.max() > 1 and rdms.min() == 0
    vecs, _ = load_rdms_mat(objects92_dir / "brain_rdms_hIT.mat", squareform=False)
    assert vecs.shape == (4, 2, 92 * 91 // 2)
    np.testing.assert_allclose(vecs[2, 1], squareform(rdms[2, 1]))
    # sessions of one subject agree better than chance; subjects share structure
    subj = vecs.mean(axis=1)
    assert compare_rdms(vecs[:, 0], vecs[:, 1], "spearman").diagonal().min() > 0.05
    ceiling = rdm_noise_ceiling(subj, "spearman")
    assert 0 < ceiling.lower < ceiling.upper < 1


def test_load_rdms_mat_errors(tmp_path):
    from scipy.io import savemat

    with pytest.raises(FileNotFoundError, match="Invalid value for `fname`"):
        load_rdms_mat(tmp_path / "missing.mat")
    savemat(tmp_path / "other.mat", {"x": np.eye(3)})
    with pytest.raises(ValueError, match=r"struct array `RDMs`.*\['x'\]"):
        load_rdms_mat(tmp_path / "other.mat")


def test_matches_rsatoolbox_on_real_rdms(objects92_dir, rng):
    """Optional cross-check against rsatoolbox (skipped when it is not installed)."""
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference.noise_ceiling import boot_noise_ceiling
    from rsatoolbox.rdm import RDMs, compare

    vecs, _ = load_rdms_mat(objects92_dir / "brain_rdms_hIT.mat", squareform=False)
    subj = vecs.mean(axis=1)
    model = rng.random(subj.shape[1])
    theirs = RDMs(subj)
    for ours, name in [("spearman", "spearman"), ("kendall_tau_a", "tau-a"), ("pearson", "corr"),
                       ("cosine", "cosine")]:
        ref = compare(RDMs(model[None]), theirs, method=name)[0]
        np.testing.assert_allclose(compare_rdms(model, subj, ours), ref, atol=1e-10)
        lo, up = boot_noise_ceiling(theirs, method=name, rdm_descriptor="index")
        np.testing.assert_allclose(rdm_noise_ceiling(subj, ours), (lo, up), atol=1e-10)
    B = rng.normal(size=(10, 30))
    ref = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(B), method="euclidean").get_vectors()[0]
    np.testing.assert_allclose(rdm(B, "sqeuclidean") / 30, ref, atol=1e-10)
