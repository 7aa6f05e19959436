"""The per-step guidance terms of :class:`BrainGuidedDiffusion` (BrainDiVE, Luo et al., NeurIPS 2023).

- :func:`guided_epsilon`: BrainDiVE's encoder-gradient guidance of the noise
  prediction (classifier guidance with ``log p(y | z_t) = s * A(D(x0_hat))``).
- :class:`_SAGStore`: self-attention guidance (Hong et al. 2023).
"""

from ..._utils.optional import require

__all__ = ["guided_epsilon"]


def guided_epsilon(latents, alpha_bar, eps_fn, decode_fn, objective, scale, sigma=None):
    """One BrainDiVE guidance step (Luo et al. 2023, steps 1-6).

    Parameters
    ----------
    latents : torch.Tensor, shape (B, C, h, w)
        The noisy latent ``z_t`` (as the scheduler holds it).
    alpha_bar : float | torch.Tensor
        ``scheduler.alphas_cumprod[t]`` (ignored when ``sigma`` is given).
    eps_fn : callable
        ``eps_fn(z) -> epsilon`` of the same shape as ``z``: the (CFG-combined)
        noise prediction, ``scale_model_input`` included; must be differentiable.
    decode_fn : callable
        ``decode_fn(latent) -> images`` (B, 3, H, W) in [0, 1], differentiable
        (VAE decode, ``/2 + 0.5``, clamp, cast to float32).
    objective : callable
        ``objective(images) -> (B,)`` to be maximised.
    scale : float
        Guidance scale ``s``.
    sigma : float | None
        For sigma-parameterised schedulers (LMS, Euler; ``z = x0 + sigma eps``):
        the current sigma. Then ``x0_hat = z - sigma eps`` and the latent is
        moved instead of the noise prediction (``z <- z + sigma^2 g``).

    Returns
    -------
    eps : torch.Tensor, shape (B, C, h, w)
        ``eps - sqrt(1 - alpha_bar) g`` (alpha form) or the unchanged ``eps``
        (sigma form), detached.
    latents : torch.Tensor, shape (B, C, h, w)
        ``z_t`` (alpha form) or ``z_t + sigma^2 g`` (sigma form), detached.
    scores : torch.Tensor, shape (B,)
        ``objective`` at the decoded clean-latent estimate (before scaling).
    """
    torch = require("torch")
    with torch.enable_grad():
        z = latents.detach().requires_grad_(True)
        eps = eps_fn(z)
        if sigma is None:
            a = torch.as_tensor(alpha_bar, dtype=z.dtype, device=z.device)
            f = torch.sqrt(1 - a)
            x0 = (z - f * eps) / torch.sqrt(a)
            z_mix = f * x0 + (1 - f) * z
        else:
            x0 = z - sigma * eps
            z_mix = x0
        images = decode_fn(z_mix)
        scores = _check_scores(objective(images), z.shape[0])
        if scale != 0:
            grad = torch.autograd.grad(scale * scores.sum(), z)[0]
        else:
            grad = torch.zeros_like(z)
    eps, grad = eps.detach(), grad.detach().to(eps.dtype)
    if sigma is None:
        return eps - f.to(eps.dtype) * grad, latents.detach(), scores.detach()
    return eps, latents.detach() + (sigma**2) * grad.to(latents.dtype), scores.detach()


def _check_scores(scores, batch):
    torch = require("torch")
    if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != (batch,):
        got = tuple(scores.shape) if hasattr(scores, "shape") else type(scores).__name__
        raise ValueError(
            f"Invalid value for `objective`: expected a callable returning a torch.Tensor of "
            f"shape ({batch},) (one score per image), got {got}."
        )
    return scores.float()


class _SAGStore:
    """Self-attention guidance (port of diffusers' deprecated ``StableDiffusionSAGPipeline``).

    Records the self-attention map of the first transformer block of the
    UNet's mid block; ``degraded_eps`` blurs x0_hat (Gaussian, 9 x 9,
    sigma 1) where that attention is spread (mean over heads, summed over
    queries > 1), re-noises it with eps and returns the UNet's prediction on it.
    """

    def __init__(self, unet):
        self.unet, self.probs, self.heads, self.map_size = unet, None, None, None
        self.original = unet.attn_processors
        block = unet.mid_block.attentions[0]
        block.transformer_blocks[0].attn1.processor = self
        self.hook = block.register_forward_hook(self._size)

    def _size(self, module, inputs, output):
        self.map_size = output[0].shape[-2:]

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kw):
        torch = require("torch")
        b, n, _ = hidden_states.shape
        mask = attn.prepare_attention_mask(attention_mask, n, b)
        q = attn.head_to_batch_dim(attn.to_q(hidden_states))
        k = attn.head_to_batch_dim(attn.to_k(hidden_states))
        v = attn.head_to_batch_dim(attn.to_v(hidden_states))
        self.probs, self.heads = attn.get_attention_scores(q, k, mask), attn.heads
        out = attn.batch_to_head_dim(torch.bmm(self.probs, v))
        return attn.to_out[1](attn.to_out[0](out))

    def degraded_eps(self, z, eps, a, t, emb):
        torch = require("torch")
        F = torch.nn.functional
        x0 = (z - torch.sqrt(1 - a) * eps) / torch.sqrt(a)
        b, c, h, w = x0.shape
        probs = self.probs.detach().float()
        spread = probs.reshape(b, self.heads, *probs.shape[1:]).mean(1).sum(1) > 1.0
        m = spread.reshape(b, 1, *self.map_size).float()
        m = F.interpolate(m, (h, w)).expand(b, c, h, w)
        k = torch.exp(-0.5 * torch.linspace(-4, 4, 9, device=z.device) ** 2)
        k = k / k.sum()
        kernel = (k[:, None] * k[None, :]).expand(c, 1, 9, 9)
        blurred = F.conv2d(F.pad(x0, [4, 4, 4, 4], mode="reflect"), kernel, groups=c)
        degraded = blurred * m + x0 * (1 - m)
        degraded = torch.sqrt(a) * degraded + torch.sqrt(1 - a) * eps
        return self.unet(degraded.to(self.unet.dtype), t, encoder_hidden_states=emb).sample.float()

    def remove(self):
        self.hook.remove()
        self.unet.set_attn_processor(self.original)
