"""simulate_routing: planted location-routed and category-anywhere ROIs, exact SNR, shared tuning."""

import numpy as np
import pytest

from neurotoolkit.simulation import ROUTING_CATEGORIES, simulate_routing


@pytest.fixture(scope="module")
def sim():
    return simulate_routing(n_stimuli=240, image_size=48, grid=4, routed_cells=((0, 1), (3, 2)),
                            anywhere=("food",), n_subjects=2, n_units_per_roi=11, snr=1.5,
                            random_state=3)


def _codes(truth, roi):
    spec = truth.rois[roi]
    onehot = np.stack([truth.layout == k for k in range(len(ROUTING_CATEGORIES))], -1).astype(float)
    if spec["kind"] == "routed":
        return onehot[:, spec["cell"][0], spec["cell"][1]]
    return onehot.max(axis=(1, 2))


def test_shapes_and_planted_truth(sim):
    recs, stim, truth = sim
    assert len(recs) == 2 and stim.images.shape == (240, 48, 48, 3)
    assert set(recs[0].units["roi"]) == {"routed_r0c1", "routed_r3c2", "food_anywhere"}
    assert {"hemisphere", "roi"} <= set(recs[0].units.columns)
    assert set(truth.test_ids).isdisjoint(truth.train_ids)
    # the main category of every scene fills at least one cell
    main = stim.categories.to_numpy().argmax(1)
    assert all((truth.layout[k] == main[k]).any() or (truth.layout[k] < 0).sum() > 8
               for k in range(len(main)))
    # planted box -> token mask of any grid
    assert truth.planted_mask("routed_r0c1", (8, 8)).sum() == 4
    assert truth.planted_mask("routed_r0c1", (8, 8))[:2, 2:4].all()
    with pytest.raises(ValueError, match="anywhere ROI"):
        truth.planted_mask("food_anywhere", (8, 8))


def test_signal_is_the_planted_code_and_snr_exact(sim):
    recs, stim, truth = sim
    for s in range(2):
        units = truth.units[s]
        for roi in truth.rois:
            cols = np.flatnonzero(units["roi"].to_numpy() == roi)
            expected = truth.intercepts[s][cols] + _codes(truth, roi) @ truth.tuning[s][:, cols]
            np.testing.assert_allclose(truth.signal[s][:, cols], expected, atol=1e-10)
        ratio = truth.signal[s].var(axis=0) / units["noise_var"].to_numpy()
        np.testing.assert_allclose(ratio, units["snr"].to_numpy(), rtol=1e-8)
    nc = truth.noise_ceiling(3, subject="sub-02")
    snr = truth.units[1]["snr"].to_numpy()
    np.testing.assert_allclose(nc, snr / (snr + 1 / 3))


def test_pooled_code_cannot_explain_routed_units(sim):
    """Linear models on the scene's category counts (what spatial pooling keeps) fall far
    below the ceiling for routed units, while the planted cell's code reaches it."""
    from sklearn.linear_model import LinearRegression

    recs, stim, truth = sim
    onehot = np.stack([truth.layout == k for k in range(len(ROUTING_CATEGORIES))], -1).astype(float)
    counts = onehot.sum(axis=(1, 2))
    sig = truth.signal[0]
    roi = truth.units[0]["roi"].to_numpy()
    cols = np.flatnonzero(roi == "routed_r0c1")
    cell = _codes(truth, "routed_r0c1")
    r2_cell = LinearRegression().fit(cell, sig[:, cols]).score(cell, sig[:, cols])
    r2_pool = np.mean([LinearRegression().fit(counts, sig[:, c]).score(counts, sig[:, c]) for c in cols])
    assert r2_cell > 0.999
    assert r2_pool < 0.5


def test_shared_tuning_across_subjects():
    a = simulate_routing(n_stimuli=60, image_size=32, n_subjects=2, shared_tuning=1.0, random_state=0,
                         n_units_per_roi=6)
    b = simulate_routing(n_stimuli=60, image_size=32, n_subjects=2, shared_tuning=0.0, random_state=0,
                         n_units_per_roi=6)

    def mean_corr(sim):
        t0, t1 = sim.truth.tuning
        r0, r1 = sim.truth.units[0]["roi"].to_numpy(), sim.truth.units[1]["roi"].to_numpy()
        cs = [np.corrcoef(t0[:, r0 == roi].mean(1), t1[:, r1 == roi].mean(1))[0, 1] for roi in sim.truth.rois]
        return np.mean(cs)

    assert mean_corr(a) > 0.99
    assert mean_corr(b) < mean_corr(a) - 0.2


def test_bad_inputs():
    with pytest.raises(ValueError, match="`image_size`: expected a multiple of grid=4"):
        simulate_routing(n_stimuli=20, image_size=50)
    with pytest.raises(ValueError, match="`anywhere`: expected names from"):
        simulate_routing(n_stimuli=20, anywhere=("cars",))
    with pytest.raises(ValueError, match="`routed_cells`: expected"):
        simulate_routing(n_stimuli=20, routed_cells=((5, 0),))
