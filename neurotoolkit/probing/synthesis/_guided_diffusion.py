"""BrainDiVE: latent diffusion steered by the gradient of a brain-encoder objective.

Luo et al., NeurIPS 2023. At every sampling step the clean latent is estimated from
the noise prediction, decoded, scored by ``objective`` and the gradient of
``guidance_scale * objective`` with respect to the noisy latent is folded
into the noise prediction before ``scheduler.step`` (classifier guidance
with ``log p(y | z_t) = s * A(D(x0_hat))``).

The objective contract: any callable ``objective(images) -> Tensor (B,)``,
images float32 (B, 3, H, W) in [0, 1], differentiable; the objective does its
own resizing and normalisation (e.g. ``EncoderObjective``).

The per-step guidance terms live in ``_guidance`` (``guided_epsilon``, SAG),
the result (:class:`SynthesisResult`) and top-k selection in ``_result``, loading and schedulers
in ``_diffusers_io`` (shared with ``_embedding_generation``).
"""

import math

import numpy as np

from ..._utils.device import resolve_device
from ..._utils.docs import fill_doc
from ..._utils.logging import logger, progress, verbose, warn
from ..._utils.optional import require
from ..._utils.validation import check_int, check_option
from ._diffusers_io import (
    DEFAULT_MODEL,
    _diffusers,
    _generators,
    _make_scheduler,
    image_seeds,
    load_pipeline,
)
from ._guidance import _check_scores, _SAGStore, guided_epsilon
from ._result import SynthesisResult, _merge, _n_keep

__all__ = ["BrainGuidedDiffusion"]


@fill_doc
class BrainGuidedDiffusion:
    """Encoder-guided latent diffusion (BrainDiVE; Luo et al., NeurIPS 2023).

    Synthesises images that maximise ``objective`` (e.g. the predicted mean
    response of an ROI) by adding ``guidance_scale`` times its gradient,
    taken through the decoded clean-latent estimate, to the noise prediction
    of a Stable Diffusion UNet at every step.

    Parameters
    ----------
    unet : diffusers.UNet2DConditionModel
    vae : diffusers.AutoencoderKL
    scheduler : diffusers scheduler | "dpm" | "ddim"
        DDIM, DPM-Solver(++) multistep or any alpha-parameterised scheduler
        (epsilon or v prediction); sigma-parameterised ones (LMS, Euler) use
        ``z <- z + sigma^2 g``. A copy is made for every batch.
    text_encoder, tokenizer : transformers CLIPTextModel and CLIPTokenizer | None
        Needed unless ``prompt_embeds`` is passed to :meth:`generate`.
    objective : callable | None
        ``objective(images (B, 3, H, W) float32 in [0, 1]) -> Tensor (B,)``,
        differentiable, maximised. None gives plain text-to-image sampling.
    guidance_scale : float
        Brain guidance ``s`` (130 in BrainDiVE for category ROIs with
        OpenCLIP ViT-B/16; ~100-200 for other encoders). 0 turns it off.
    num_inference_steps : int
    prompt : str
        "" (BrainDiVE) or a text prompt.
    negative_prompt : str | None
    text_guidance_scale : float
        Classifier-free text guidance; off when <= 1 (BrainDiVE: off).
    height, width : int | None
        Output size in pixels; None uses ``unet.config.sample_size`` times the
        VAE scale factor (512 for SD-2.1-base).
    batch_size : int
        Images per sampling batch (each with its own generator).
    sag_scale : float
        Self-attention guidance (Hong et al. 2023; diffusers'
        ``StableDiffusionSAGPipeline``, ported): 0 (default) is off, BrainDiVE
        uses 0.75. Costs one more UNet forward per step; needs epsilon
        prediction, an alpha-parameterised scheduler and text CFG off.
    %(device)s
    %(verbose)s

    Notes
    -----
    With fp16 components the latents and the scheduler stay float32; the
    decoded image is cast to float32 before the objective.

    Examples
    --------
    >>> import torch
    >>> from neurotoolkit.probing import BrainGuidedDiffusion, EncoderObjective
    >>> objective = EncoderObjective(encoder, extractor, units=ffa_voxels)  # doctest: +SKIP
    >>> bgd = BrainGuidedDiffusion.from_pretrained(
    ...     "stabilityai/stable-diffusion-2-1-base", objective=objective,
    ...     torch_dtype=torch.float16, guidance_scale=130, sag_scale=0.75)  # doctest: +SKIP
    >>> res = bgd.generate(1000, random_state=0, keep=0.2, verbose=True)  # doctest: +SKIP
    >>> res.images.shape, res.scores[:3], res.seeds[:3]  # doctest: +SKIP
    """

    def __init__(
        self,
        unet=None,
        vae=None,
        scheduler="dpm",
        text_encoder=None,
        tokenizer=None,
        objective=None,
        *,
        guidance_scale=130.0,
        num_inference_steps=50,
        prompt="",
        negative_prompt=None,
        text_guidance_scale=0.0,
        sag_scale=0.0,
        height=None,
        width=None,
        batch_size=1,
        device="auto",
        verbose=None,
    ):
        self.unet = unet
        self.vae = vae
        self.scheduler = scheduler
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.objective = objective
        self.guidance_scale = guidance_scale
        self.num_inference_steps = num_inference_steps
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.text_guidance_scale = text_guidance_scale
        self.sag_scale = sag_scale
        self.height = height
        self.width = width
        self.batch_size = batch_size
        self.device = device
        self.verbose = verbose

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_pipe(cls, pipe, objective=None, scheduler="dpm", **kwargs):
        """Build from a loaded diffusers Stable Diffusion pipeline (shares its modules).

        ``scheduler`` "dpm" or "ddim" is made from ``pipe.scheduler.config``;
        "pipe" keeps the pipeline's own scheduler; an instance is used as is.
        """
        if isinstance(scheduler, str) and scheduler != "pipe":
            scheduler = _make_scheduler(scheduler, pipe.scheduler.config)
        elif scheduler == "pipe":
            scheduler = pipe.scheduler
        return cls(
            unet=pipe.unet,
            vae=pipe.vae,
            scheduler=scheduler,
            text_encoder=getattr(pipe, "text_encoder", None),
            tokenizer=getattr(pipe, "tokenizer", None),
            objective=objective,
            **kwargs,
        )

    @classmethod
    def from_pretrained(
        cls,
        path_or_id=DEFAULT_MODEL,
        objective=None,
        *,
        scheduler="dpm",
        torch_dtype=None,
        local_files_only=True,
        **kwargs,
    ):
        """Load a Stable Diffusion pipeline from a local folder or a hub id.

        Parameters
        ----------
        path_or_id : str | path-like
            Diffusers folder or Hugging Face id (default
            ``stabilityai/stable-diffusion-2-1-base``, BrainDiVE's generator).
        objective : callable | None
        scheduler : "dpm" | "ddim" | "pipe" | scheduler instance
        torch_dtype : torch.dtype | None
            e.g. ``torch.float16`` on GPU.
        local_files_only : bool
            True (default) never downloads; missing weights raise a
            FileNotFoundError that says what to download and where to put it.
        **kwargs
            Passed to the constructor (``guidance_scale``, ``device``, ...).
        """
        pipe = load_pipeline(
            "StableDiffusionPipeline",
            path_or_id,
            torch_dtype=torch_dtype,
            local_files_only=local_files_only,
            safety_checker=None,
            requires_safety_checker=False,
        )
        return cls.from_pipe(pipe, objective=objective, scheduler=scheduler, **kwargs)

    # ---------------------------------------------------------------- helpers
    def _device(self):
        return resolve_device(self.device, purpose="BrainGuidedDiffusion")

    def _check(self):
        if self.unet is None or self.vae is None:
            raise ValueError(
                "Invalid value for `unet`/`vae`: expected diffusers models, got None. "
                "Build with BrainGuidedDiffusion(unet=..., vae=..., ...), "
                "from_pipe(pipe) or from_pretrained(path)."
            )
        if self.objective is not None and not callable(self.objective):
            raise TypeError(
                f"Invalid value for `objective`: expected a callable or None, got "
                f"{type(self.objective).__name__}."
            )

    @property
    def vae_scale_factor(self):
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def encode_prompt(self, prompt, device):
        """Text-encoder hidden states of ``prompt`` (str or list): (n_prompts, n_tokens, dim)."""
        torch = require("torch")
        if self.text_encoder is None or self.tokenizer is None:
            raise ValueError(
                "Invalid value for `text_encoder`/`tokenizer`: expected both to encode "
                "the prompt, got None. Pass them, or pass `prompt_embeds` to generate()."
            )
        tok = self.tokenizer(
            prompt,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        )
        mask = None
        if getattr(self.text_encoder.config, "use_attention_mask", False):
            mask = tok.attention_mask.to(device)
        with torch.no_grad():
            emb = self.text_encoder(tok.input_ids.to(device), attention_mask=mask)[0]
        return emb

    def decode(self, latents):
        """VAE-decode latents to float32 images in [0, 1] (differentiable)."""
        torch = require("torch")
        sf = getattr(self.vae.config, "scaling_factor", 0.18215)
        dtype = self.vae.dtype
        img = self.vae.decode(latents.to(dtype) / sf).sample
        return torch.clamp(img.float() / 2 + 0.5, 0, 1)

    def score(self, images):
        """Objective of images (B, 3, H, W) in [0, 1] (numpy or tensor) -> ndarray (B,)."""
        torch = require("torch")
        x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
        with torch.no_grad():
            return _check_scores(self.objective(x.float()), x.shape[0]).cpu().numpy()

    # ---------------------------------------------------------------- sampling
    @fill_doc
    @verbose
    def generate(
        self,
        n_images=None,
        *,
        random_state=0,
        guidance_scale=None,
        keep=None,
        prompt=None,
        prompt_embeds=None,
        negative_prompt_embeds=None,
        eta=0.0,
        return_trace=True,
        verbose=None,
        seeds=None,
    ):
        """Sample ``n_images`` images, one seed each (guided when ``guidance_scale`` != 0).

        Parameters
        ----------
        n_images : int | None
            Images to sample; None is 8, or one per seed when
            ``random_state`` is a sequence.
        random_state : int | sequence of int | numpy.random.Generator | None
            The seed of each image: an int r gives seeds ``r, r + 1, ...,
            r + n_images - 1`` (the default 0 gives ``0 .. n_images - 1``);
            a sequence gives one seed per image; a Generator or None
            (fresh entropy) draws them. Image i starts from the noise of
            ``torch.Generator("cpu").manual_seed(seed_i)``, so each image is
            reproducible by its seed alone (``random_state=[seed_i]``),
            whatever the batch it is in.
        guidance_scale : float | None
            Overrides ``self.guidance_scale`` for this call.
        keep : float | None
            Keep only the best ``ceil(keep * n)`` images by objective (BrainDiVE
            keeps 20 % of 1000 seeds: ``keep=0.2``), sorted by decreasing score.
            Selection is streamed: memory holds the kept images only.
        prompt : str | sequence of str | None
            Overrides ``self.prompt``; a sequence gives one prompt per seed
            (e.g. decoded captions, with ``guidance_scale=0`` for plain
            text-to-image).
        prompt_embeds, negative_prompt_embeds : Tensor (1 or n, n_tokens, dim) | None
            Precomputed text conditioning (then no text encoder is needed).
        eta : float
            DDIM eta (0: deterministic).
        return_trace : bool
            Record the objective at every step (guided runs only).
        %(verbose)s
        seeds : int | sequence of int
            Deprecated (FutureWarning): an int n is ``n_images=n``, a
            sequence is ``random_state=seeds``.

        Returns
        -------
        result : SynthesisResult
            Images, scores and ``seeds`` (best first when ``keep`` is set),
            the per-step ``trace`` and the settings in ``params``.
        """
        require("torch")
        self._check()
        s = float(self.guidance_scale if guidance_scale is None else guidance_scale)
        if s != 0 and self.objective is None:
            raise ValueError(
                f"Invalid value for `guidance_scale`: expected 0 without an objective, "
                f"got {s}. Pass objective=... or guidance_scale=0."
            )
        if isinstance(n_images, (list, tuple, range, np.ndarray)):  # the old positional `seeds`
            seeds, n_images = n_images, None
        if seeds is not None:
            hint = (f"n_images={seeds!r}" if isinstance(seeds, (int, np.integer))
                    else "random_state=<the seeds>")
            warn(f"`seeds` of BrainGuidedDiffusion.generate is deprecated and will be removed in "
                 f"the next release: use `{hint}` instead.", FutureWarning)
            if isinstance(seeds, (int, np.integer)):
                n_images = seeds
            else:
                random_state = seeds
        seeds = image_seeds(n_images, random_state)
        k = None if keep is None else _n_keep(keep, len(seeds))
        check_int("num_inference_steps", self.num_inference_steps, min_value=1)
        check_int("batch_size", self.batch_size, min_value=1)
        device = self._device()
        cond = self._conditioning(prompt, prompt_embeds, negative_prompt_embeds, device, len(seeds))
        bs = int(self.batch_size)
        n_batches = math.ceil(len(seeds) / bs)
        bar = progress(
            total=n_batches * int(self.num_inference_steps), desc="BrainDiVE", verbose=verbose
        )
        kept = None
        try:
            for b in range(n_batches):
                batch = seeds[b * bs : (b + 1) * bs]
                sl = slice(b * bs, (b + 1) * bs)
                part = tuple(c[sl] if c is not None and c.shape[0] > 1 else c for c in cond[:2])
                out = self._sample_batch(batch, s, part + cond[2:], device, eta, return_trace, bar)
                kept = _merge(kept, out, k)
        finally:
            bar.close()
        images, scores, trace, sel = kept
        logger.info(
            "generated %d images (guidance %.3g), kept %d: mean objective %.4g",
            len(seeds),
            s,
            len(scores),
            float(np.mean(scores)),
        )
        describe_obj = getattr(self.objective, "describe", None)
        params = {
            "method": "guided_diffusion",
            "guidance_scale": s,
            "num_inference_steps": int(self.num_inference_steps),
            "scheduler": type(self._fresh_scheduler()).__name__,
            "text_guidance_scale": float(self.text_guidance_scale),
            "sag_scale": float(self.sag_scale),
            "eta": float(eta),
            "keep": keep,
            "random_state": [int(x) for x in seeds],
            "objective": describe_obj() if callable(describe_obj) else repr(self.objective),
        }
        return SynthesisResult(images, scores, np.asarray(sel), trace, None, params, len(seeds))

    def _fresh_scheduler(self):
        return _make_scheduler(self.scheduler)

    def _conditioning(self, prompt, prompt_embeds, negative_prompt_embeds, device, n):
        cfg = float(self.text_guidance_scale) > 1
        prompt = self.prompt if prompt is None else prompt
        if not isinstance(prompt, str) and len(prompt) != n:
            raise ValueError(
                f"Invalid value for `prompt`: expected a str or {n} prompts (one per "
                f"seed), got {len(prompt)}."
            )
        if prompt_embeds is not None and prompt_embeds.shape[0] not in (1, n):
            raise ValueError(
                f"Invalid value for `prompt_embeds`: expected a first dimension of 1 "
                f"or {n}, got shape {tuple(prompt_embeds.shape)}."
            )
        if prompt_embeds is None:
            prompt_embeds = self.encode_prompt(
                prompt if isinstance(prompt, str) else list(prompt), device
            )
        if cfg and negative_prompt_embeds is None:
            negative_prompt_embeds = self.encode_prompt(self.negative_prompt or "", device)
        dtype = self.unet.dtype
        pos = prompt_embeds.to(device, dtype)
        neg = negative_prompt_embeds.to(device, dtype) if cfg else None
        return pos, neg, cfg

    def _sample_batch(self, seeds, s, cond, device, eta, return_trace, bar):
        torch = require("torch")
        diffusers = _diffusers()
        pos, neg, cfg = cond
        n = len(seeds)
        unet, w_text = self.unet, float(self.text_guidance_scale)
        sched = self._fresh_scheduler()
        sched.set_timesteps(int(self.num_inference_steps), device=device)
        height = self.height or unet.config.sample_size * self.vae_scale_factor
        width = self.width or unet.config.sample_size * self.vae_scale_factor
        shape = (
            1,
            unet.config.in_channels,
            height // self.vae_scale_factor,
            width // self.vae_scale_factor,
        )
        gens = _generators(seeds)
        z = torch.cat([torch.randn(shape, generator=g) for g in gens]).to(device)
        z = z * sched.init_noise_sigma
        emb = pos.expand(n, -1, -1) if pos.shape[0] == 1 else pos
        if cfg:
            emb = torch.cat([neg.expand(n, -1, -1) if neg.shape[0] == 1 else neg, emb])
        sigma_form = float(sched.init_noise_sigma) > 1.0
        pred_type = sched.config.get("prediction_type", "epsilon")
        check_option(
            "prediction_type", pred_type, ["epsilon"] if sigma_form else ["epsilon", "v_prediction"]
        )
        sag = float(self.sag_scale)
        if sag and (cfg or sigma_form or pred_type != "epsilon"):
            raise ValueError(
                f"Invalid value for `sag_scale`: expected 0 with text CFG, sigma-parameterised "
                f"schedulers or v-prediction (SAG is implemented for BrainDiVE's setting: epsilon "
                f"prediction, DDIM/DPM-Solver, text CFG off), got {sag}."
            )
        step_kwargs = {}
        if isinstance(sched, diffusers.DDIMScheduler):
            step_kwargs = {"eta": eta, "generator": gens if eta > 0 else None}
        trace = []
        store = _SAGStore(unet) if sag else None
        try:
            for i, t in enumerate(sched.timesteps):
                a = sched.alphas_cumprod[int(t)].float().to(device)
                sigma = float(sched.sigmas[i]) if sigma_form else None
                plain = {}

                def eps_fn(zz, t=t, a=a, plain=plain):
                    inp = sched.scale_model_input(zz, t)
                    inp = torch.cat([inp, inp]) if cfg else inp
                    out = unet(inp.to(unet.dtype), t, encoder_hidden_states=emb).sample.float()
                    if cfg:
                        u, c = out.chunk(2)
                        out = u + w_text * (c - u)
                    if pred_type == "v_prediction":  # eps = sqrt(a) v + sqrt(1 - a) z
                        out = torch.sqrt(a) * out + torch.sqrt(1 - a) * zz
                    plain["eps"] = out.detach()
                    return out

                if s != 0:
                    eps, z, sc = guided_epsilon(z, a, eps_fn, self.decode, self.objective, s, sigma)
                    if return_trace:
                        trace.append(sc.cpu().numpy())
                else:
                    with torch.no_grad():
                        eps = eps_fn(z)
                with torch.no_grad():
                    if sag:  # eps_hat = eps_SAG - sqrt(1 - a) g  (BrainDiVE, step 6)
                        eps = eps + sag * (
                            plain["eps"] - store.degraded_eps(z, plain["eps"], a, t, emb)
                        )
                    if pred_type == "v_prediction":  # back to v for the scheduler
                        eps = (eps - torch.sqrt(1 - a) * z) / torch.sqrt(a)
                    z = sched.step(eps, t, z, **step_kwargs).prev_sample
                bar.update(1)
        finally:
            if store is not None:
                store.remove()
        with torch.no_grad():
            images = self.decode(z)
            scores = (
                _check_scores(self.objective(images), n).cpu().numpy()
                if self.objective is not None
                else np.full(n, np.nan, np.float32)
            )
        tr = np.stack(trace, axis=1) if trace else None
        return images.cpu().numpy().astype(np.float32), scores, tr, np.asarray(seeds)

