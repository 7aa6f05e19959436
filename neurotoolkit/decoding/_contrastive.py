"""Contrastive losses of the cross-subject decoders (MindEye, Scotti et al.,
NeurIPS 2023; MindEye2, ICML 2024).

All losses take torch tensors ``pred`` (brain embeddings, B x d) and
``target`` (stimulus embeddings, B x d), flatten anything after the batch
axis, L2-normalise the rows and return a scalar averaged over rows. torch is
imported inside the functions only.

- :func:`info_nce`: symmetric InfoNCE (CLIP loss).
- :func:`soft_clip`: SoftCLIP, soft targets from the target-target similarities.
- :func:`mixco`: BiMixCo voxel mixing; :func:`mixco_loss` its soft-target loss.
"""

import numpy as np

from .._utils.optional import require
from .._utils.validation import check_fraction, check_type

__all__ = ["check_temperature", "info_nce", "mixco", "mixco_loss", "soft_clip"]


def check_temperature(temperature):
    """Return ``temperature`` as a positive float or raise the usual error."""
    check_type("temperature", temperature, "numeric")
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(
            f"Invalid value for `temperature`: expected a positive float, got {temperature!r}."
        )
    return float(temperature)


def _normalise(pred, target):
    torch = require("torch", "contrastive losses")
    if pred.shape[0] != target.shape[0]:
        raise ValueError(
            "Invalid value for `pred`/`target`: expected the same batch size, got "
            f"{pred.shape[0]} and {target.shape[0]}."
        )
    p = torch.nn.functional.normalize(pred.reshape(pred.shape[0], -1), dim=-1)
    t = torch.nn.functional.normalize(target.reshape(target.shape[0], -1), dim=-1)
    if p.shape[1] != t.shape[1]:
        raise ValueError(
            "Invalid value for `pred`/`target`: expected the same number of features, got "
            f"{p.shape[1]} and {t.shape[1]}."
        )
    return torch, p, t


def info_nce(pred, target, temperature=0.05):
    """Symmetric InfoNCE: ``(CE(L, I) + CE(L.T, I)) / 2`` with ``L = p t^T / temperature``.

    Parameters
    ----------
    pred, target : torch.Tensor, shape (batch, ...)
        Brain and stimulus embeddings (flattened and L2-normalised here).
    temperature : float
        Softmax temperature (> 0).

    Returns
    -------
    loss : torch.Tensor, scalar
    """
    temperature = check_temperature(temperature)
    torch, p, t = _normalise(pred, target)
    logits = p @ t.T / temperature
    labels = torch.arange(len(p), device=p.device)
    ce = torch.nn.functional.cross_entropy
    return 0.5 * (ce(logits, labels) + ce(logits.T, labels))


def soft_clip(pred, target, temperature=0.05):
    """SoftCLIP: cross-entropy against ``softmax_row(t t^T / temperature)``, both directions.

    ``loss = (-mean_i sum_j T_ij log softmax_j(p t^T / temperature)_ij
    - mean_i sum_j T_ij log softmax_j(t p^T / temperature)_ij) / 2``.
    With distinct targets and a small temperature ``T`` tends to the identity
    and the loss to :func:`info_nce`; duplicated targets (the same stimulus
    twice in a batch) share the target mass instead of being negatives.

    Parameters
    ----------
    pred, target : torch.Tensor, shape (batch, ...)
    temperature : float

    Returns
    -------
    loss : torch.Tensor, scalar
    """
    temperature = check_temperature(temperature)
    torch, p, t = _normalise(pred, target)
    soft = torch.softmax(t @ t.T / temperature, dim=-1)
    logits = p @ t.T / temperature
    a = -(soft * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
    b = -(soft * torch.log_softmax(logits.T, dim=-1)).sum(-1).mean()
    return 0.5 * (a + b)


def mixco(x, generator=None, beta=0.15, prob=0.5, groups=None):
    """BiMixCo voxel mixing: ``x_i' = lam_i x_i + (1 - lam_i) x_perm(i)``.

    Parameters
    ----------
    x : torch.Tensor, shape (batch, n_voxels)
    generator : torch.Generator | None
        Source of the random draws (the global torch RNG when None).
    beta : float
        ``lam_i ~ Beta(beta, beta)``.
    prob : float in [0, 1]
        Probability that a sample is mixed; unmixed samples get ``lam_i = 1``.
    groups : torch.Tensor of int, shape (batch,) | None
        Mix only within groups (e.g. subjects, whose voxels differ); the
        permutation maps each sample to one of its own group.

    Returns
    -------
    x_mixed : torch.Tensor, shape (batch, n_voxels)
    perm : torch.LongTensor, shape (batch,)
    lam : torch.Tensor, shape (batch,)
    """
    torch = require("torch", "mixco")
    check_fraction("prob", prob)
    n = x.shape[0]
    if generator is None:  # draw a seed from the global torch RNG
        generator = torch.Generator().manual_seed(int(torch.randint(2**62, (1,))))
    if groups is None:
        perm = torch.randperm(n, generator=generator).to(x.device)
    else:
        perm = torch.arange(n)
        g = groups.cpu()
        for value in torch.unique(g):
            idx = torch.nonzero(g == value).flatten()
            perm[idx] = idx[torch.randperm(len(idx), generator=generator)]
        perm = perm.to(x.device)
    u = torch.rand(n, generator=generator)
    # Beta(a, a) = Ga / (Ga + Gb); torch's Beta takes no generator, so draw the Gammas here
    ga = _gamma(torch, beta, n, generator)
    gb = _gamma(torch, beta, n, generator)
    lam = ga / (ga + gb).clamp_min(1e-12)
    lam = torch.where(u < prob, lam, torch.ones_like(lam)).to(x.device, x.dtype)
    shape = (n,) + (1,) * (x.ndim - 1)
    x_mixed = lam.reshape(shape) * x + (1 - lam.reshape(shape)) * x[perm]
    return x_mixed, perm, lam


def _gamma(torch, shape_param, n, generator):
    """Gamma(shape_param, 1) draws from a torch Generator (Marsaglia-Tsang with boost)."""
    a = float(shape_param)
    boost = a < 1
    d = (a + 1.0 if boost else a) - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    out = torch.empty(n, dtype=torch.float64)
    filled = 0
    while filled < n:
        m = 2 * (n - filled) + 8
        z = torch.randn(m, generator=generator, dtype=torch.float64)
        u = torch.rand(m, generator=generator, dtype=torch.float64)
        v = (1 + c * z) ** 3
        ok = (v > 0) & (torch.log(u.clamp_min(1e-300)) < 0.5 * z**2 + d - d * v
                        + d * torch.log(v.clamp_min(1e-300)))
        acc = (d * v)[ok][: n - filled]
        out[filled:filled + len(acc)] = acc
        filled += len(acc)
    if boost:
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        out = out * u ** (1.0 / a)
    return out.float()


def mixco_loss(pred, target, perm, lam, temperature=0.05, bidirectional=True):
    """Soft-target contrastive loss of BiMixCo.

    Target matrix ``T = diag(lam) + (1 - lam) e_perm`` (row i puts ``lam_i``
    on i and ``1 - lam_i`` on ``perm[i]``; mass adds up when ``perm[i] = i``);
    ``loss = -mean_i sum_j T_ij log softmax_j(p t^T / temperature)_ij``, and
    with ``bidirectional`` the average with the same on the transposed logits
    and ``T^T``.

    Parameters
    ----------
    pred : torch.Tensor, shape (batch, ...)
        Embeddings predicted from the mixed voxels.
    target : torch.Tensor, shape (batch, ...)
        Embeddings of the (unmixed) stimuli.
    perm, lam : torch.Tensor, shape (batch,)
        As returned by :func:`mixco`.
    temperature : float
    bidirectional : bool

    Returns
    -------
    loss : torch.Tensor, scalar
    """
    temperature = check_temperature(temperature)
    torch, p, t = _normalise(pred, target)
    n = len(p)
    soft = torch.diag(lam.to(p.dtype))
    soft = soft.index_put((torch.arange(n, device=p.device), perm.to(p.device)),
                          (1 - lam).to(p.dtype), accumulate=True)
    logits = p @ t.T / temperature
    loss = -(soft * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
    if bidirectional:
        loss2 = -(soft.T * torch.log_softmax(logits.T, dim=-1)).sum(-1).mean()
        loss = 0.5 * (loss + loss2)
    return loss
