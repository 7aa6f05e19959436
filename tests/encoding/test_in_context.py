"""InContextEncoder (BraInCoRL): set-transformer details against a direct computation, linear
encoders usable as ridge readouts, few-shot advantage on the routing simulator (slow)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit.encoding import InContextEncoder, VoxelwiseEncoder, build_in_context_network
from neurotoolkit.features import FeatureSpace
from neurotoolkit.simulation import simulate_routing

TINY = dict(width=16, n_layers=2, n_heads=2, ffn_hidden=24, context_size=(10, 40), n_queries=20,
            batch_size=16, max_epochs=2, synthetic_steps=(3, 3), device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data():
    sim = simulate_routing(n_stimuli=150, image_size=32, n_subjects=3, n_units_per_roi=7, random_state=1)
    rng = np.random.default_rng(0)
    # an embedding (11-d) that carries each scene's category presence, plus noise dimensions
    onehot = np.stack([sim.truth.layout == k for k in range(5)], -1).max(axis=(1, 2)).astype(float)
    values = np.concatenate([onehot, rng.standard_normal((150, 6))], 1) @ rng.standard_normal((11, 11))
    return sim, FeatureSpace(values, sim.stimuli.ids, "toy")


@pytest.fixture(scope="module")
def pretrained(data):
    sim, emb = data
    trains = [r.split(test_ids=r.meta["test_ids"])[0] for r in sim.recordings[:2]]
    return InContextEncoder(emb, **TINY).pretrain(trains)


def test_block_matches_direct_log_L_attention():
    torch.manual_seed(0)
    net = build_in_context_network(5, width=8, n_layers=1, n_heads=2, ffn_hidden=6, n_registers=3).eval()
    block = net.blocks[0]
    x = torch.randn(2, 7, 8)
    B, L, D = x.shape
    h = block.norm1(x)
    q, k, v = block.qkv(h).reshape(B, L, 3, 2, 4).permute(2, 0, 3, 1, 4)
    att = torch.softmax(math.log(L) * (q @ k.transpose(-1, -2)) / math.sqrt(4), dim=-1)
    y = x + block.out((att @ v).transpose(1, 2).reshape(B, L, D))
    g, u = block.ffn_in(block.norm2(y)).chunk(2, dim=-1)
    expected = y + block.ffn_out(torch.nn.functional.silu(g) * u)
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-6)


def test_context_is_a_set():
    torch.manual_seed(0)
    net = build_in_context_network(5, width=8, n_layers=2, n_heads=2, ffn_hidden=6).eval()
    cx, cy = torch.randn(3, 9, 5), torch.randn(3, 9)
    perm = torch.randperm(9)
    torch.testing.assert_close(net(cx, cy), net(cx[:, perm], cy[:, perm]), rtol=1e-4, atol=1e-5)
    assert net(cx, cy).shape == (3, 6)


@pytest.mark.parametrize("preset, embed_dim, low, high", [("clip", 512, 90e6, 105e6)])
def test_published_size_is_constructible(preset, embed_dim, low, high):
    from neurotoolkit.encoding._in_context import PRESETS

    sizes = dict(PRESETS[preset])
    assert sizes.pop("embed_dim") == embed_dim
    net = build_in_context_network(embed_dim, **sizes)
    n = sum(p.numel() for p in net.parameters())
    assert low < n < high  # about 97M for CLIP (Yu et al. 2025)


def test_fit_gives_linear_encoders_usable_as_readouts(data, pretrained):
    from neurotoolkit.probing import EncoderObjective

    sim, emb = data
    rec = sim.recordings[2]
    train, test = rec.split(test_ids=rec.meta["test_ids"])
    enc = pretrained.fit(train)
    assert enc.coef_.shape == (11, rec.n_units) and enc.n_context_ == len(set(train.stimulus_ids))
    ids = test.stimulus_ids[:4]
    X = emb.for_ids(ids)
    np.testing.assert_allclose(enc.predict(ids), X @ enc.coef_ + enc.intercept_)
    np.testing.assert_allclose(enc.estimator_.predict(X), enc.predict(ids))
    # the same weights in a probe: EncoderObjective over a feature extractor that returns X
    obj = EncoderObjective(enc, feature_extractor=lambda imgs: torch.as_tensor(X, dtype=torch.float32),
                           units="face_anywhere", device="cpu")
    cols = np.flatnonzero(rec.units["roi"].to_numpy() == "face_anywhere")
    np.testing.assert_allclose(obj(torch.zeros(4, 3, 8, 8)).numpy(), enc.predict(ids)[:, cols].mean(1),
                               rtol=1e-4, atol=1e-5)
    table = enc.evaluate(test)
    assert {"r", "r2", "noise_ceiling", "normalized"} <= set(table.columns)
    from sklearn.metrics import r2_score

    avg = test.average_repeats()
    assert enc.score(test) == pytest.approx(r2_score(avg.responses, enc.predict(avg.stimulus_ids)))


def test_fit_folds_standardisation_exactly(data, pretrained):
    """coef_/intercept_ reproduce the network's omega applied to standardised inputs."""
    sim, emb = data
    rec = sim.recordings[2].average_repeats()
    enc = pretrained.fit(rec)
    ids = list(rec.stimulus_ids)
    X = torch.as_tensor(enc._embed(ids))
    Y = rec.responses.astype(np.float64)
    mu, sd = Y.mean(0), Y.std(0, ddof=1)
    with torch.no_grad():
        omega = enc.network_(X.expand(Y.shape[1], -1, -1),
                             torch.as_tensor(((Y - mu) / sd).T, dtype=torch.float32)).numpy()
    direct = (X.numpy() @ omega[:, :-1].T + omega[:, -1]) * sd + mu
    np.testing.assert_allclose(enc.predict(ids), direct, rtol=1e-3, atol=1e-4)


def test_save_load_roundtrip(tmp_path, data, pretrained):
    sim, emb = data
    path = pretrained.save(tmp_path / "ice.h5")
    loaded = InContextEncoder.load(path, emb, device="cpu")
    rec = sim.recordings[2]
    np.testing.assert_allclose(loaded.fit(rec).coef_, pretrained.fit(rec).coef_, rtol=1e-5, atol=1e-6)


def test_bad_inputs(data):
    sim, emb = data
    with pytest.raises(Exception, match="call pretrain"):
        InContextEncoder(emb).fit(sim.recordings[0])
    with pytest.raises(ValueError, match="Invalid value for `features`: preset 'clip' expects 512-d"):
        InContextEncoder(emb, preset="clip").pretrain(sim.recordings[0])
    with pytest.raises(ValueError, match="Invalid value for `context_size`"):
        InContextEncoder(emb, context_size=(50, 10)).pretrain(sim.recordings[0])
    with pytest.raises(ValueError, match="Invalid value for `stages`"):
        InContextEncoder(emb, **TINY).pretrain(sim.recordings[0], stages=("warmup",))


@pytest.mark.slow
def test_few_shot_beats_ridge_on_the_same_images():
    """From 100 context images, the meta-trained encoder beats ridge on the same 100 images for a
    held-out subject and gets close to ridge on the full training set (about 1,000 images)."""
    from neurotoolkit.features import Backbone, extract_features

    sim = simulate_routing(n_stimuli=1200, n_subjects=5, n_test=150, anywhere=("face", "place", "food"),
                           random_state=0)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 8, 8), torch.nn.GELU(), torch.nn.Conv2d(64, 64, 1))
    emb = extract_features(sim.stimuli, Backbone.from_module(net, device="cpu"), layers="2",
                           pooling="tokens").pooled("max")
    trains = [r.split(test_ids=r.meta["test_ids"])[0] for r in sim.recordings[:-1]]
    train, test = sim.recordings[-1].split(test_ids=sim.recordings[-1].meta["test_ids"])
    ice = InContextEncoder(emb, width=64, n_layers=3, n_heads=4, ffn_hidden=128, context_size=(20, 200),
                           n_queries=50, learning_rate=2e-3, max_epochs=60, patience=10,
                           synthetic_steps=(50, 50), device="cpu").pretrain(trains)
    full = VoxelwiseEncoder(features=emb).fit(train).evaluate(test)["r2"].mean()
    ids = np.random.default_rng(0).choice(np.unique(train.stimulus_ids), size=100, replace=False)
    ctx = train.select_trials(np.isin(train.stimulus_ids, ids))
    ic = ice.fit(ctx).evaluate(test)["r2"].mean()
    ridge = VoxelwiseEncoder(features=emb, cv=5).fit(ctx).evaluate(test)["r2"].mean()
    assert ic > ridge + 0.02
    assert ic > 0.6 * full
