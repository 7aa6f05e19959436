"""The multimodal-integration test on the simulator's planted ground truth:
sensitivity, false-discovery proportion over 20 datasets, both-alignment rule."""

import numpy as np
import pytest

from neurotoolkit.analysis import multimodal_integration_test
from neurotoolkit.simulation import simulate_multimodal_seeg

SMALL = dict(n_events=240, n_electrodes=24, n_bins=6, n_multimodal=6, n_image=4, n_text=4,
             n_one_alignment=3)
FAST = dict(n_bootstraps=500, min_bins=2, cv=3)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Tiny matrix products: BLAS threads only contend on a shared 2-core machine."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):
        yield


def test_simulator_truth_and_true_scores():
    sim = simulate_multimodal_seeg(n_events=3000, n_electrodes=12, n_bins=4, n_multimodal=3,
                                   n_image=3, n_text=3, n_one_alignment=1, random_state=0)
    rec = sim.recordings["language"]
    assert rec.responses.shape == (3000, 48) and rec.modality == "seeg"
    assert {"channel", "bin", "tmin", "tmax", "x", "y", "z", "roi", "hemisphere"} <= set(rec.units)
    assert set(sim.features["vision"]) == {"multimodal", "image", "text", "concat", "random"}
    assert sim.features["language"]["concat"].shape[1] == 2 * sim.features["language"]["image"].shape[1]
    truth = sim.truth
    assert truth["multimodal"].sum() == 3
    one = truth["type_language"].eq("multimodal") & truth["type_vision"].eq("image")
    assert one.sum() == 1 and not truth.loc[one, "multimodal"].any()
    # true scores are the population correlation of signal and response: check by Monte Carlo
    S, Y, r_true = sim.signals["language"], rec.responses, sim.true_scores["language"]
    ok = r_true > 0.2
    emp = [np.corrcoef(S[:, k], Y[:, k])[0, 1] for k in np.flatnonzero(ok)]
    np.testing.assert_allclose(emp, r_true[ok], atol=0.05)
    assert np.allclose(S[:, r_true == 0], 0)
    again = simulate_multimodal_seeg(n_events=3000, n_electrodes=12, n_bins=4, n_multimodal=3,
                                     n_image=3, n_text=3, n_one_alignment=1, random_state=0)
    np.testing.assert_array_equal(again.recordings["vision"].responses,
                                  sim.recordings["vision"].responses)
    with pytest.raises(ValueError, match="Invalid value for `n_electrodes`"):
        simulate_multimodal_seeg(n_electrodes=3, n_multimodal=4)
    with pytest.raises(ValueError, match="Invalid value for `peak_r`"):
        simulate_multimodal_seeg(peak_r=1.5)


def test_multimodal_test_recovers_planted_sites():
    sim = simulate_multimodal_seeg(random_state=0, **SMALL)
    res = multimodal_integration_test(sim.recordings, sim.features, random_state=0, **FAST)
    truth = sim.truth["multimodal"].reindex(res.sites.index)
    called = res.sites["multimodal"]
    assert (called & truth).sum() >= 4
    assert not (called & ~truth).any()
    # multimodal under one alignment only: never a multimodal site
    one = sim.truth.index[sim.truth["type_language"].eq("multimodal") & ~sim.truth["multimodal"]]
    assert not called[one].any()
    assert res.n_multimodal == called.sum() and res.fraction_multimodal == called.mean()
    # tidy tables: one row per (alignment, unit, model) and per (alignment, unit, comparison)
    n_units = sim.recordings["language"].responses.shape[1]
    assert len(res.scores) == 2 * n_units * 5
    assert len(res.comparisons) == 2 * n_units * 4
    assert {"alignment", "channel", "bin", "model", "score", "ci_low", "ci_high"} <= set(res.scores)
    # the same resamples for every model within an alignment (paired), drawn once
    bs = res.bootstraps["language"]
    assert bs.indices.shape == (FAST["n_bootstraps"], SMALL["n_events"])
    # trained multimodal beats the random-init control on planted sites
    assert (res.sites.loc[truth[truth].index, "beats_controls_language"] > 0).mean() > 0.5
    again = multimodal_integration_test(sim.recordings, sim.features, random_state=0, **FAST)
    np.testing.assert_array_equal(again.sites["multimodal"], called)


def test_fdp_at_most_q_over_20_datasets():
    """FDP among called sites <= q on average (and high sensitivity) over 20 simulated datasets."""
    q = 0.05
    fdp, sens = [], []
    for seed in range(20):
        sim = simulate_multimodal_seeg(random_state=seed, **SMALL)
        res = multimodal_integration_test(sim.recordings, sim.features, q=q, controls=(),
                                          random_state=seed, **FAST)
        called = res.sites["multimodal"].to_numpy()
        truth = sim.truth["multimodal"].reindex(res.sites.index).to_numpy()
        fdp.append((called & ~truth).sum() / max(called.sum(), 1))
        sens.append((called & truth).sum() / truth.sum())
    assert np.mean(fdp) <= q
    assert np.mean(sens) >= 0.8


def test_multimodal_test_errors():
    sim = simulate_multimodal_seeg(n_events=60, n_electrodes=6, n_bins=2, n_multimodal=1,
                                   n_image=1, n_text=1, n_one_alignment=0, random_state=0)
    with pytest.raises(ValueError, match=r"Invalid value for `features\['language'\]`.*missing \['bert'\]"):
        multimodal_integration_test(sim.recordings, sim.features, comparators=("bert",))
    with pytest.raises(ValueError, match="Invalid value for `features`: expected a dict with the alignments"):
        multimodal_integration_test(sim.recordings, {"language": sim.features["language"]})
    with pytest.raises(ValueError, match="Invalid value for `recordings`"):
        multimodal_integration_test({}, {})


def test_plots(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neurotoolkit.viz import plot_score_curves, plot_sites

    sim = simulate_multimodal_seeg(n_events=80, n_electrodes=6, n_bins=3, n_multimodal=2,
                                   n_image=1, n_text=1, n_one_alignment=0, random_state=0)
    res = multimodal_integration_test(sim.recordings, sim.features, n_bootstraps=50, min_bins=1,
                                      cv=2, random_state=0)
    fig = res.plot_scores(res.sites.index[0])
    assert len(fig.axes) == 2  # one panel per alignment
    fig2 = plot_sites(res.sites, backend="matplotlib")
    fig3 = res.plot_sites()
    for f in (fig, fig2, fig3):
        f.savefig(tmp_path / "x.png")
    plt.close("all")
    with pytest.raises(ValueError, match="Invalid value for `channel`"):
        plot_score_curves(res.scores, channel="nope")
    with pytest.raises(ValueError, match=r"Invalid value for `sites`.*missing \['x'\]"):
        plot_sites(res.sites.drop(columns="x"))


@pytest.mark.slow
def test_fdp_and_sensitivity_large():
    """Closer to the study's size: 60 electrodes x 16 bins, 400 events, 1000 resamples."""
    q = 0.05
    fdp, sens = [], []
    for seed in range(20):
        sim = simulate_multimodal_seeg(n_events=400, n_electrodes=60, n_bins=16, n_multimodal=10,
                                       n_image=10, n_text=10, n_one_alignment=5, random_state=seed)
        res = multimodal_integration_test(sim.recordings, sim.features, q=q, min_bins=3,
                                          n_bootstraps=1000, random_state=seed)
        called = res.sites["multimodal"].to_numpy()
        truth = sim.truth["multimodal"].reindex(res.sites.index).to_numpy()
        fdp.append((called & ~truth).sum() / max(called.sum(), 1))
        sens.append((called & truth).sum() / truth.sum())
    print(f"mean FDP {np.mean(fdp):.3f}, sensitivity {np.mean(sens):.3f}")
    assert np.mean(fdp) <= q and np.mean(sens) >= 0.8
