"""Contrastive losses against hand-written NumPy references."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurotoolkit.decoding._contrastive import info_nce, mixco, mixco_loss, soft_clip


def _norm(a):
    a = a.reshape(len(a), -1)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _log_softmax(a):
    a = a - a.max(axis=1, keepdims=True)
    return a - np.log(np.exp(a).sum(axis=1, keepdims=True))


def _softmax(a):
    return np.exp(_log_softmax(a))


def _pair(seed=0, n=5, d=7):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, d))


def _t(a):
    return torch.as_tensor(a, dtype=torch.float64)


@pytest.mark.parametrize("temperature", [0.05, 0.5, 2.0])
def test_info_nce_matches_numpy(temperature):
    p, t = _pair()
    P, T = _norm(p), _norm(t)
    L = P @ T.T / temperature
    ref = 0.5 * (-np.mean(np.diag(_log_softmax(L))) - np.mean(np.diag(_log_softmax(L.T))))
    assert float(info_nce(_t(p), _t(t), temperature)) == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("temperature", [0.05, 0.5, 2.0])
def test_soft_clip_matches_numpy(temperature):
    p, t = _pair(1, n=6, d=4)
    P, T = _norm(p), _norm(t)
    soft = _softmax(T @ T.T / temperature)
    L = P @ T.T / temperature
    ref = 0.5 * (-(soft * _log_softmax(L)).sum(1).mean() - (soft * _log_softmax(L.T)).sum(1).mean())
    assert float(soft_clip(_t(p), _t(t), temperature)) == pytest.approx(ref, rel=1e-10)


def test_losses_flatten_tokens_and_ignore_scale():
    rng = np.random.default_rng(2)
    p, t = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 5))
    a = float(info_nce(_t(p), _t(t), 0.1))
    b = float(info_nce(_t(3.0 * p.reshape(4, 15)), _t(t.reshape(4, 15)), 0.1))
    assert a == pytest.approx(b, rel=1e-10)


def test_temperature_behaviour():
    p, t = _pair(3, n=8, d=16)
    # large temperature: logits flat, InfoNCE -> log(batch)
    assert float(info_nce(_t(p), _t(t), 1e4)) == pytest.approx(np.log(8), rel=1e-3)
    # small temperature with distinct targets: soft targets -> identity, SoftCLIP -> InfoNCE
    a, b = float(soft_clip(_t(p), _t(t), 1e-3)), float(info_nce(_t(p), _t(t), 1e-3))
    assert a == pytest.approx(b, rel=1e-6)
    # perfect predictions: loss decreases with the temperature
    losses = [float(info_nce(_t(t), _t(t), tau)) for tau in (1.0, 0.3, 0.1, 0.03)]
    assert np.all(np.diff(losses) < 0)


def test_mixco_loss_matches_numpy_soft_targets():
    p, t = _pair(5, n=5, d=3)
    perm = np.array([2, 0, 1, 3, 4])  # sample 3 and 4 map to themselves
    lam = np.array([0.3, 1.0, 0.8, 0.6, 1.0])
    soft = np.diag(lam)
    for i, j in enumerate(perm):
        soft[i, j] += 1 - lam[i]
    np.testing.assert_allclose(soft.sum(1), 1.0)
    assert soft[3, 3] == 1.0 and soft[0, 2] == pytest.approx(0.7)
    L = _norm(p) @ _norm(t).T / 0.2
    one = -(soft * _log_softmax(L)).sum(1).mean()
    ref = 0.5 * (one - (soft.T * _log_softmax(L.T)).sum(1).mean())
    got = mixco_loss(_t(p), _t(t), torch.as_tensor(perm), _t(lam), 0.2)
    assert float(got) == pytest.approx(ref, rel=1e-10)
    got1 = mixco_loss(_t(p), _t(t), torch.as_tensor(perm), _t(lam), 0.2, bidirectional=False)
    assert float(got1) == pytest.approx(one, rel=1e-10)
    # with lam = 1 everywhere it is InfoNCE
    ones = mixco_loss(_t(p), _t(t), torch.as_tensor(perm), _t(np.ones(5)), 0.2)
    assert float(ones) == pytest.approx(float(info_nce(_t(p), _t(t), 0.2)), rel=1e-10)


def test_mixco_mixes_within_groups():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, 6, generator=gen)
    groups = torch.arange(400) % 3
    xm, perm, lam = mixco(x, generator=gen, beta=0.15, prob=0.5, groups=groups)
    assert xm.shape == x.shape and perm.shape == (400,) and lam.shape == (400,)
    assert torch.all(groups[perm] == groups)
    assert torch.all((lam >= 0) & (lam <= 1))
    expected = lam[:, None] * x + (1 - lam[:, None]) * x[perm]
    torch.testing.assert_close(xm, expected)
    unmixed = float((lam == 1).float().mean())
    assert 0.4 < unmixed < 0.6
    # Beta(0.15, 0.15) is U-shaped: most mixed lambdas near 0 or 1
    mixed = lam[lam < 1]
    assert float(((mixed < 0.1) | (mixed > 0.9)).float().mean()) > 0.6
    # prob=0: nothing is mixed
    xm0, _, lam0 = mixco(x, generator=gen, prob=0.0)
    assert torch.all(lam0 == 1) and torch.equal(xm0, x)
    # same generator seed, same draws
    a = mixco(x, generator=torch.Generator().manual_seed(7))
    b = mixco(x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_loss_errors():
    p, t = _pair()
    with pytest.raises(ValueError, match="Invalid value for `temperature`"):
        info_nce(_t(p), _t(t), 0.0)
    with pytest.raises(ValueError, match="same batch size"):
        soft_clip(_t(p), _t(t[:3]), 0.1)
    with pytest.raises(ValueError, match="same number of features"):
        info_nce(_t(p), _t(t[:, :4]), 0.1)


@pytest.mark.parametrize("name", ["info_nce", "soft_clip", "mixco", "mixco_loss"])
def test_losses_deprecated_at_package_level(name):
    import neurotoolkit.decoding as decoding
    from neurotoolkit.decoding import _contrastive

    assert name not in decoding.__all__
    with pytest.warns(FutureWarning, match=f"`neurotoolkit.decoding.{name}` is deprecated"):
        assert getattr(decoding, name) is getattr(_contrastive, name)
