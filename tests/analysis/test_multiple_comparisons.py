"""FDR, Bonferroni and cluster permutation (references: scipy's BH, the step-up
definition, MNE's cluster tests on the EEGLAB sample's decoding curve)."""

import shutil

import numpy as np
import pytest
from scipy import stats

from neurotoolkit.analysis import bonferroni, cluster_permutation_test, fdr_bh


def _mask(cluster, shape):
    m = np.zeros(shape, bool)
    m[cluster] = True
    return m


def _bh_step_up(p, q):
    """Direct definition: reject the k smallest, k = max{i: p_(i) <= q i / m}."""
    order = np.argsort(p)
    m = p.size
    below = np.flatnonzero(p[order] <= q * np.arange(1, m + 1) / m)
    reject = np.zeros(m, bool)
    if below.size:
        reject[order[: below.max() + 1]] = True
    return reject


def test_fdr_bh_matches_scipy_and_definition(rng):
    p = np.concatenate([rng.uniform(size=150), rng.uniform(0, 0.002, size=37)])
    rng.shuffle(p)
    P = p.reshape(11, 17)
    reject, adj = fdr_bh(P, q=0.05)
    assert reject.shape == adj.shape == (11, 17)
    np.testing.assert_allclose(adj.ravel(), stats.false_discovery_control(p, method="bh"),
                               rtol=1e-12)
    np.testing.assert_array_equal(reject.ravel(), _bh_step_up(p, 0.05))
    assert 30 <= reject.sum() <= 60
    # NaN entries are untested: same result as dropping them
    Pn = P.copy()
    Pn[3, :5] = np.nan
    rej_n, adj_n = fdr_bh(Pn, 0.1)
    keep = ~np.isnan(Pn.ravel())
    np.testing.assert_allclose(adj_n.ravel()[keep],
                               stats.false_discovery_control(Pn.ravel()[keep], method="bh"))
    assert np.isnan(adj_n[3, :5]).all() and not rej_n[3, :5].any()


def test_bonferroni_closed_form(rng):
    p = rng.uniform(0, 0.01, size=(7, 13))
    p[0, 0] = np.nan
    reject, adj = bonferroni(p, alpha=0.05)
    m = 7 * 13 - 1
    np.testing.assert_allclose(adj[1:], np.minimum(p[1:] * m, 1))
    np.testing.assert_array_equal(reject[1:], p[1:] * m <= 0.05)
    assert not reject[0, 0]


def test_fdr_controls_false_discoveries_under_global_null(rng):
    # 300 experiments of 200 null tests: P(any rejection) <= q under the global null
    n_any = sum(fdr_bh(rng.uniform(size=200), 0.1)[0].any() for _ in range(300))
    assert n_any / 300 <= 0.1 + 3 * np.sqrt(0.1 * 0.9 / 300)


def test_multiple_comparisons_errors():
    with pytest.raises(ValueError, match=r"Invalid value for `pvalues`: expected p-values in \[0, 1\]"):
        fdr_bh([0.1, 1.5])
    with pytest.raises(ValueError, match="Invalid value for `q`"):
        fdr_bh([0.1, 0.2], q=0)
    with pytest.raises(ValueError, match="Invalid value for `alpha`"):
        bonferroni([0.1], alpha=1.0)
    with pytest.raises(ValueError, match="at least 2 observations"):
        cluster_permutation_test(np.zeros((1, 10)))
    with pytest.raises(ValueError, match="Invalid value for `Y`: expected the same shape"):
        cluster_permutation_test(np.zeros((4, 10)), np.zeros((4, 9)))


def test_cluster_test_matches_mne_two_sample(rng):
    mne_stats = pytest.importorskip("mne.stats")
    A = rng.normal(size=(12, 40))
    B = rng.normal(size=(10, 40))
    B[:, 15:25] += 2.0
    ours = cluster_permutation_test(A, B, n_permutations=200, random_state=7)
    F, clusters, pv, h0 = mne_stats.permutation_cluster_test([A, B], n_permutations=200, rng=7,
                                                            out_type="mask", verbose=False)
    np.testing.assert_allclose(ours.statistic, F)
    np.testing.assert_allclose(ours.cluster_pvalues, pv)
    np.testing.assert_allclose(ours.h0, h0)
    assert len(ours.clusters) == len(clusters) >= 1
    for a, b in zip(ours.clusters, clusters):
        np.testing.assert_array_equal(a, _mask(b, F.shape))
    assert ours.significant_mask[15:25].mean() > 0.5 and not ours.significant_mask[:10].any()


@pytest.fixture(scope="module")
def eeglab_curve(tmp_path_factory):
    """Per-fold time-resolved AUC (stimulus vs response epochs), read through the fetcher."""
    pytest.importorskip("mne")
    from _datahelpers import shared_path

    from neurotoolkit.data import fetch_eeglab_sample, load_ephys
    from neurotoolkit.decoding import time_resolved_decoding

    src = shared_path("eeg_eeglab_sample")
    mirror = tmp_path_factory.mktemp("mirror")
    for name in ("eeglab_data.set", "eeglab_data.fdt", "eeglab_chan32.locs"):
        shutil.copy(src / name, mirror / name)
    ds = fetch_eeglab_sample(data_home=tmp_path_factory.mktemp("home"), base_url=mirror.as_uri())
    rec, epochs = load_ephys(
        ds.set, ch_types={"EOG1": "eog", "EOG2": "eog"}, stimulus_ids=["square", "rt"],
        tmin=-0.2, tmax=0.8, windows=0.1, baseline=(None, 0),
        preprocessing=[("bandpass", {"l_freq": 1.0, "h_freq": 30.0}),
                       ("resample", {"sfreq": 64})],
        return_epochs=True,
    )
    y = (epochs.metadata["trial_type"] == "rt").to_numpy().astype(int)
    return time_resolved_decoding(epochs, y, scoring="roc_auc", cv=8, random_state=0)


@pytest.mark.parametrize("seed", [0, 3])
def test_cluster_test_matches_mne_on_eeglab_decoding_curve(eeglab_curve, seed):
    from mne.stats import permutation_cluster_1samp_test

    X = eeglab_curve.scores - eeglab_curve.chance  # (n_folds, n_times)
    ours = cluster_permutation_test(X, n_permutations=100, tail=1, random_state=seed)
    T, clusters, pv, h0 = permutation_cluster_1samp_test(X, n_permutations=100, tail=1, rng=seed,
                                                         out_type="mask", verbose=False)
    np.testing.assert_allclose(ours.statistic, T)
    assert len(ours.clusters) == len(clusters) >= 1
    for a, b in zip(ours.clusters, clusters):
        np.testing.assert_array_equal(a, _mask(b, T.shape))
    np.testing.assert_allclose(ours.cluster_pvalues, pv)
    # the decoding curve is far above chance after onset: a significant cluster there
    after = eeglab_curve.times > 0.1
    assert ours.significant_mask[after].mean() > 0.5
