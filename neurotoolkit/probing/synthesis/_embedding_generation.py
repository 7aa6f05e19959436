"""Images from decoded embeddings, and img2img refinement.

- :func:`generate_from_embeddings`: a decoded CLIP image embedding -> image,
  through Stable unCLIP (``image_embeds=E, noise_level=0, prompt=""``) or an
  IP-Adapter (``ip_adapter_image_embeds``). The embedding dimension must be
  the generator's conditioning dimension; it is checked.
- :func:`refine_img2img`: Brain-Diffuser style refinement of a low-level
  reconstruction with an img2img pipeline (strength 0.75).
- :func:`load_generator`: real pipelines from a local folder or hub id, with a
  clear message when the weights are missing.
"""

import numpy as np

from ..._utils.docs import fill_doc
from ..._utils.logging import resolve_level, verbose, warn
from ..._utils.optional import require
from ..._utils.validation import check_array, check_option
from ._diffusers_io import DEFAULT_MODEL, _generators, image_seeds, load_pipeline

__all__ = [
    "conditioning_dim",
    "generate_from_embeddings",
    "load_generator",
    "refine_img2img",
]

_DEFAULT_IDS = {
    "unclip": ("StableUnCLIPImg2ImgPipeline", "stabilityai/stable-diffusion-2-1-unclip"),
    "img2img": ("StableDiffusionImg2ImgPipeline", DEFAULT_MODEL),
    "text2img": ("StableDiffusionPipeline", DEFAULT_MODEL),
}


def load_generator(
    kind="unclip", path_or_id=None, *, torch_dtype=None, local_files_only=True, **kwargs
):
    """Load a diffusers pipeline for embedding-conditioned generation or refinement.

    Parameters
    ----------
    kind : "unclip" | "img2img" | "text2img"
        ``StableUnCLIPImg2ImgPipeline`` (default id
        ``stabilityai/stable-diffusion-2-1-unclip``, OpenCLIP ViT-H/14 1024-d
        embeddings; ``-unclip-small`` takes CLIP ViT-L/14 768-d),
        ``StableDiffusionImg2ImgPipeline`` or ``StableDiffusionPipeline``
        (default ``stabilityai/stable-diffusion-2-1-base``). For IP-Adapter,
        load "text2img" and call ``pipe.load_ip_adapter(...)``.
    path_or_id : str | path-like | None
    torch_dtype : torch.dtype | None
    local_files_only : bool
        True never downloads; missing weights raise a FileNotFoundError
        naming the ``huggingface-cli download`` command and where to put it.
    """
    check_option("kind", kind, list(_DEFAULT_IDS))
    cls_name, default = _DEFAULT_IDS[kind]
    extra = {} if kind == "unclip" else {"safety_checker": None, "requires_safety_checker": False}
    extra.update(kwargs)
    return load_pipeline(
        cls_name,
        default if path_or_id is None else path_or_id,
        torch_dtype=torch_dtype,
        local_files_only=local_files_only,
        default_id=default,
        **extra,
    )


# --------------------------------------------------------------------------- conditioning
def _route(pipe, route):
    check_option("route", route, ["auto", "unclip", "ip_adapter"])
    is_unclip = getattr(pipe, "image_normalizer", None) is not None
    proj = getattr(getattr(pipe, "unet", None), "encoder_hid_proj", None)
    has_ip = proj is not None and hasattr(proj, "image_projection_layers")
    if route == "auto":
        route = "unclip" if is_unclip else "ip_adapter" if has_ip else None
    if (
        route is None
        or (route == "unclip" and not is_unclip)
        or (route == "ip_adapter" and not has_ip)
    ):
        missing = "an image normalizer" if route == "unclip" else "image-embedding conditioning"
        raise ValueError(
            f"Invalid value for `pipe`: expected a Stable unCLIP pipeline (route 'unclip') or a "
            f"pipeline with an IP-Adapter loaded (route 'ip_adapter', pipe.load_ip_adapter(...)), "
            f"got {type(pipe).__name__} without {missing}."
        )
    return route


def conditioning_dim(pipe, route="auto"):
    """The image-embedding dimension a pipeline is conditioned on (int).

    unCLIP: ``pipe.image_normalizer`` width; IP-Adapter: the input width of
    the (first) image projection layer of ``pipe.unet.encoder_hid_proj``.
    """
    torch = require("torch")
    route = _route(pipe, route)
    if route == "unclip":
        return int(pipe.image_normalizer.mean.shape[-1])
    layer = pipe.unet.encoder_hid_proj.image_projection_layers[0]
    lin = next(m for m in layer.modules() if isinstance(m, torch.nn.Linear))
    return int(lin.in_features)


def _check_embeds(embeds, dim, route):
    torch = require("torch")
    E = embeds.detach().cpu().float().numpy() if isinstance(embeds, torch.Tensor) else embeds
    E = check_array("embeds", E, ndim=(1, 2))
    E = np.atleast_2d(E)
    if E.shape[1] != dim:
        raise ValueError(
            f"Invalid value for `embeds`: expected embeddings of dimension {dim} (the {route} "
            f"generator's conditioning space), got shape {E.shape}. The decoder's target space must "
            f"be the generator's conditioning space (e.g. 1024-d OpenCLIP ViT-H/14 for "
            f"stable-diffusion-2-1-unclip, 768-d CLIP ViT-L/14 for -unclip-small): retrain the "
            f"decoder head on features of that model."
        )
    return torch.as_tensor(E, dtype=torch.float32)


def _seeds(random_state, seeds, n, where):
    """Seeds of ``n`` images from ``random_state`` (or the deprecated ``seeds``)."""
    if seeds is not None:
        warn(f"`seeds` of {where} is deprecated and will be removed in the next release: use "
             f"`random_state=<the seeds>` instead.", FutureWarning)
        random_state = list(np.atleast_1d(np.asarray(seeds)))
    if isinstance(random_state, (list, tuple, range, np.ndarray)) and len(random_state) != n:
        raise ValueError(
            f"Invalid value for `random_state`: expected an int or {n} ints (one seed per "
            f"image), got {len(random_state)} seeds."
        )
    return image_seeds(n, random_state)


def _to_nchw(images):
    return np.ascontiguousarray(np.asarray(images, dtype=np.float32).transpose(0, 3, 1, 2))


# --------------------------------------------------------------------------- generation
@fill_doc
@verbose
def generate_from_embeddings(
    pipe,
    embeds,
    *,
    route="auto",
    prompt="",
    noise_level=0,
    num_inference_steps=50,
    guidance_scale=None,
    ip_adapter_scale=None,
    random_state=0,
    height=None,
    width=None,
    verbose=None,
    seeds=None,
    **kwargs,
):
    """Images from decoded CLIP image embeddings (Stable unCLIP or IP-Adapter).

    Parameters
    ----------
    pipe : diffusers pipeline
        ``StableUnCLIPImg2ImgPipeline`` (route "unclip") or a Stable Diffusion
        pipeline with an IP-Adapter loaded (route "ip_adapter").
    embeds : array-like | torch.Tensor, shape (n_images, dim) or (dim,)
        Decoded image embeddings, in the generator's conditioning space
        (checked: a mismatch raises a ValueError).
    route : "auto" | "unclip" | "ip_adapter"
    prompt : str
        Text prompt for every image ("" by default).
    noise_level : int
        unCLIP only: noise added to the embeddings (0 keeps them as given).
    num_inference_steps : int
    guidance_scale : float | None
        Classifier-free guidance; None keeps the pipeline's default (10 for
        unCLIP, 7.5 otherwise). With unCLIP and IP-Adapter the unconditional
        branch uses zero image embeddings, so it strengthens the image
        conditioning even with an empty prompt.
    ip_adapter_scale : float | None
        IP-Adapter only: ``pipe.set_ip_adapter_scale`` before sampling.
    random_state : int | sequence of int | numpy.random.Generator | None
        The seed of each image (one ``torch.Generator`` per image, so image
        i is reproducible by its seed): an int r gives ``r .. r + n - 1``
        (the default 0 gives ``0 .. n - 1``), a sequence one seed per image,
        a Generator or None draws them.
    height, width : int | None
    %(verbose)s
    seeds : sequence of int | None
        Deprecated spelling of ``random_state`` (FutureWarning).
    **kwargs
        Passed to the pipeline call.

    Returns
    -------
    images : ndarray, shape (n_images, 3, H, W)
        float32 in [0, 1].
    """
    torch = require("torch")
    route = _route(pipe, route)
    E = _check_embeds(embeds, conditioning_dim(pipe, route), route)
    n = len(E)
    gens = _generators(_seeds(random_state, seeds, n, "generate_from_embeddings"))
    pipe.set_progress_bar_config(disable=resolve_level(verbose) > 20)
    dtype = pipe.unet.dtype
    device = pipe._execution_device
    call = dict(
        prompt=[prompt] * n,
        num_inference_steps=num_inference_steps,
        generator=gens,
        height=height,
        width=width,
        output_type="np",
        **kwargs,
    )
    if guidance_scale is not None:
        call["guidance_scale"] = guidance_scale
    if route == "unclip":
        call.update(image_embeds=E.to(device, dtype), noise_level=noise_level)
        with torch.no_grad():
            return _to_nchw(pipe(**call).images)
    if ip_adapter_scale is not None:
        pipe.set_ip_adapter_scale(ip_adapter_scale)
    cfg = (guidance_scale if guidance_scale is not None else 7.5) > 1
    # diffusers repeats ip_adapter_image_embeds over the prompt batch: one call per embedding
    images = []
    for i in range(n):
        e = E[i : i + 1, None, :].to(device, dtype)  # (1, n_images=1, dim)
        call.update(
            prompt=[prompt],
            generator=gens[i : i + 1],
            ip_adapter_image_embeds=[torch.cat([torch.zeros_like(e), e]) if cfg else e],
        )
        with torch.no_grad():
            images.append(_to_nchw(pipe(**call).images))
    return np.concatenate(images)


@fill_doc
@verbose
def refine_img2img(
    pipe,
    images,
    *,
    prompt="",
    strength=0.75,
    num_inference_steps=50,
    guidance_scale=None,
    random_state=0,
    height=None,
    width=None,
    verbose=None,
    seeds=None,
    **kwargs,
):
    """Brain-Diffuser style refinement of low-level reconstructions (img2img).

    The initial images (e.g. 64 x 64 VDVAE decodes) are upsampled (bilinear)
    to the generator's size, encoded, noised to ``strength`` and denoised for
    ``int(strength * num_inference_steps)`` steps (0.75 x 50 = 37 as in
    Brain-Diffuser), guided by ``prompt`` (e.g. a decoded caption) and any
    extra conditioning passed in ``kwargs`` (e.g. ``ip_adapter_image_embeds``).

    Parameters
    ----------
    pipe : diffusers.StableDiffusionImg2ImgPipeline
    images : array-like | torch.Tensor, shape (n_images, 3, h, w)
        Float in [0, 1].
    prompt : str | sequence of str
        One prompt for all images, or one per image.
    strength : float
        In (0, 1]; 0.75 in Brain-Diffuser.
    num_inference_steps : int
    guidance_scale : float | None
        Text CFG; None means 7.5 with a non-empty prompt, else 0 (off).
    random_state : int | sequence of int | numpy.random.Generator | None
        The seed of each image, as in :func:`generate_from_embeddings`.
    height, width : int | None
        Output size; None: ``unet.config.sample_size`` x the VAE scale factor.
    %(verbose)s
    seeds : sequence of int | None
        Deprecated spelling of ``random_state`` (FutureWarning).

    Returns
    -------
    images : ndarray, shape (n_images, 3, H, W)
        float32 in [0, 1].
    """
    torch = require("torch")
    if not 0 < float(strength) <= 1:
        raise ValueError(
            f"Invalid value for `strength`: expected a float in (0, 1], got {strength!r}."
        )
    x = images.detach().cpu().float().numpy() if isinstance(images, torch.Tensor) else images
    x = check_array("images", x, ndim=4)
    if x.shape[1] != 3 or x.min() < 0 or x.max() > 1:
        raise ValueError(
            f"Invalid value for `images`: expected (n_images, 3, h, w) floats in [0, 1], "
            f"got shape {x.shape} with range [{x.min():.3g}, {x.max():.3g}]."
        )
    n = len(x)
    prompts = [prompt] * n if isinstance(prompt, str) else list(prompt)
    if len(prompts) != n:
        raise ValueError(
            f"Invalid value for `prompt`: expected a str or {n} prompts, got {len(prompts)}."
        )
    scale = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    H = height or pipe.unet.config.sample_size * scale
    W = width or pipe.unet.config.sample_size * scale
    t = torch.nn.functional.interpolate(
        torch.as_tensor(x, dtype=torch.float32), size=(H, W), mode="bilinear", align_corners=False
    ).clamp(0, 1)
    if guidance_scale is None:
        guidance_scale = 7.5 if any(prompts) else 0.0
    pipe.set_progress_bar_config(disable=resolve_level(verbose) > 20)
    with torch.no_grad():
        out = pipe(
            prompt=prompts,
            image=t,
            strength=float(strength),
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
            generator=_generators(_seeds(random_state, seeds, n, "refine_img2img")),
            output_type="np",
            **kwargs,
        )
    return _to_nchw(out.images)


# --------------------------------------------------------------------------- tiny models
