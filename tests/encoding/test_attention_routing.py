"""AttentionRoutingEncoder on the routing simulator: beats pooled ridge on location-routed
ROIs, attends to the planted location, probes like a linear encoder, saves without pickle."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit.encoding import AttentionRoutingEncoder, VoxelwiseEncoder, build_routing_network
from neurotoolkit.features import Backbone, TokenFeatures, extract_features
from neurotoolkit.simulation import simulate_routing

FAST = dict(n_heads=4, ffn_dim=64, n_ensemble=2, learning_rate=3e-3, max_epochs=60, patience=10,
            device="cpu", random_state=0)


def tiny_backbone(dim=32, seed=0):
    """A patch-embedding CNN (8 px patches) with seeded random weights."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, dim, 8, 8), torch.nn.GELU(), torch.nn.Conv2d(dim, dim, 1))
    return Backbone.from_module(net, preprocess={"size": (64, 64), "resize_mode": "squash"}, device="cpu")


def routing_setup(seed, n_stimuli=600):
    sim = simulate_routing(n_stimuli=n_stimuli, n_subjects=1, random_state=seed)
    bb = tiny_backbone()
    tokens = extract_features(sim.stimuli, bb, layers="2", pooling="tokens")
    rec = sim.recordings[0]
    train, test = rec.split(test_ids=rec.meta["test_ids"])
    return sim, bb, tokens, train, test


@pytest.fixture(scope="module")
def setup():
    return routing_setup(0)


@pytest.fixture(scope="module")
def fitted(setup):
    sim, bb, tokens, train, test = setup
    return AttentionRoutingEncoder(tokens, **FAST).fit(train)


def _compare(sim, tokens, train, test, enc):
    ridge = VoxelwiseEncoder(features=tokens.pooled()).fit(train).evaluate(test)
    routed = enc.evaluate(test)
    rois = [r for r in sim.truth.rois if r.startswith("routed")]
    return ({r: ridge.loc[ridge.roi == r, "normalized"].mean() for r in rois},
            {r: routed.loc[routed.roi == r, "normalized"].mean() for r in rois})


def test_beats_pooled_ridge_and_attends_to_planted_location(setup, fitted):
    sim, bb, tokens, train, test = setup
    ridge, routed = _compare(sim, tokens, train, test, fitted)
    for roi in ridge:
        assert routed[roi] > ridge[roi] + 25, (roi, ridge[roi], routed[roi])  # percent of the ceiling
    maps = fitted.attention_maps()
    assert maps.shape == (len(fitted.query_names_), 8, 8)
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    for q, name in enumerate(fitted.query_names_):
        roi = name.split("/")[0]
        if roi.startswith("routed"):
            mask = sim.truth.planted_mask(roi, tokens.grid)
            assert maps[q][mask].sum() > 3 * mask.mean(), (name, maps[q][mask].sum())


@pytest.mark.slow
def test_beats_pooled_ridge_mean_over_three_seeds():
    diffs = []
    for seed in (0, 1, 2):
        sim, bb, tokens, train, test = routing_setup(seed)
        enc = AttentionRoutingEncoder(tokens, **FAST).fit(train)
        ridge, routed = _compare(sim, tokens, train, test, enc)
        diffs.append([routed[r] - ridge[r] for r in ridge])
    assert np.mean(diffs, axis=0).min() > 25


def test_score_predict_and_query_layout(setup, fitted):
    from sklearn.metrics import r2_score

    sim, bb, tokens, train, test = setup
    avg = test.average_repeats()
    pred = fitted.predict(avg.stimulus_ids)
    assert pred.shape == (len(avg.stimulus_ids), test.n_units)
    assert fitted.score(test) == pytest.approx(r2_score(avg.responses, pred))
    # one query per (ROI, hemisphere), each unit reads from its own
    names = fitted.query_names_
    assert len(names) == 2 * len(sim.truth.rois)
    key = (train.units["roi"] + "/" + train.units["hemisphere"]).to_numpy()
    assert all(names[q] == k for q, k in zip(fitted.unit_query_, key))
    fig = fitted.plot_attention(sim.stimuli, "routed_r0c0", n_images=2)
    assert len(fig.axes) == 3


def test_block_sparse_readout_uses_only_own_query():
    torch.manual_seed(0)
    net = build_routing_network(8, (3, 3), [2, 3], n_heads=2, ffn_dim=16, dropout=0.0).eval()
    x = torch.randn(5, 9, 8)
    pred, att = net(x, return_attention=True)
    assert pred.shape == (5, 5) and att.shape == (5, 2, 2, 9)
    # changing query 1 leaves the units of query 0 unchanged
    with torch.no_grad():
        net.query[1] += 1.0
    pred2 = net(x)
    torch.testing.assert_close(pred[:, :2], pred2[:, :2])
    assert not torch.allclose(pred[:, 2:], pred2[:, 2:])


def test_unit_queries_variant(setup):
    sim, bb, tokens, train, test = setup
    small = train.select(roi="routed_r0c0")
    enc = AttentionRoutingEncoder(tokens, queries="unit", **dict(FAST, n_ensemble=1, max_epochs=2)).fit(small)
    assert enc.query_names_ == list(small.units.index)
    assert enc.attention_maps().shape == (small.n_units, 8, 8)


def test_objective_is_differentiable_and_matches_predict(setup, fitted):
    from neurotoolkit.probing import ActivationMaximizer

    sim, bb, tokens, train, test = setup
    obj = fitted.objective(bb, "2", units="routed_r0c0")
    images = torch.as_tensor(sim.stimuli.images[:3] / 255.0, dtype=torch.float32).permute(0, 3, 1, 2)
    images.requires_grad_(True)
    val = obj(images)
    val.sum().backward()
    assert images.grad.abs().sum() > 0
    ids = sim.stimuli.ids[:3]
    cols = np.flatnonzero(train.units["roi"].to_numpy() == "routed_r0c0")
    np.testing.assert_allclose(val.detach().numpy(), fitted.predict(ids)[:, cols].mean(1), rtol=1e-4,
                               atol=1e-4)
    res = ActivationMaximizer(obj, image_size=64, n_steps=3, n_images=1, random_state=0).generate()
    assert res.images.shape == (1, 3, 64, 64)


def test_save_load_roundtrip(tmp_path, setup, fitted):
    sim, bb, tokens, train, test = setup
    path = fitted.save(tmp_path / "routing.h5")
    loaded = AttentionRoutingEncoder.load(path, tokens, device="cpu")
    ids = test.stimulus_ids[:5]
    np.testing.assert_allclose(loaded.predict(ids), fitted.predict(ids), rtol=1e-5, atol=1e-6)
    assert loaded.query_names_ == fitted.query_names_
    with pytest.raises(FileExistsError):
        fitted.save(path)


def test_published_size_is_constructible():
    """Adeli et al.: ViT-B/14 (768-d) at 434 px -> 31 x 31 tokens, 16 heads, FFN 1024; readout for
    the ~39.5k vertices of an NSD subject split into 2 hemispheres x 8 ROIs."""
    sizes = [19004 // 8] * 8 + [20544 // 8] * 8
    net = build_routing_network(768, (31, 31), sizes, n_heads=16, ffn_dim=1024)
    n = sum(p.numel() for p in net.parameters())
    attention = 3 * (768 * 768 + 768) + 16 * 768          # q, k, out projections + queries
    ffn = 2 * 768 + 768 * 1024 + 1024 + 1024 * 768 + 768  # LayerNorm + two Linear
    readout = sum(sizes) * (768 + 1)
    assert n == attention + ffn + readout
    assert net.pos.shape == (961, 768)


def test_bad_inputs(setup):
    sim, bb, tokens, train, test = setup
    with pytest.raises(TypeError, match="Invalid type for `features`|Invalid value for `features`"):
        AttentionRoutingEncoder(tokens.pooled()).fit(train)
    with pytest.raises(ValueError, match="Invalid value for `n_heads`: expected a divisor"):
        AttentionRoutingEncoder(tokens, n_heads=5).fit(train)
    with pytest.raises(ValueError, match="Invalid value for `queries`"):
        AttentionRoutingEncoder(tokens, queries="voxel").fit(train)
    bad = TokenFeatures(np.zeros((2, 4, 32), np.float32), ["a", "b"], (2, 2), "other")
    enc = AttentionRoutingEncoder(tokens, **dict(FAST, n_ensemble=1, max_epochs=1)).fit(train)
    with pytest.raises(ValueError, match="Invalid value for `features`: expected 8x8 tokens"):
        enc.predict(["a"], features=bad)
