"""Shared diffusers plumbing for the generation modules (BrainDiVE, unCLIP, img2img).

Lazy imports of diffusers/transformers (after the torchvision workaround),
``from_pretrained`` that fails with a message naming what to download,
schedulers by name, and one CPU ``torch.Generator`` per seed.
"""

import os
import re

import numpy as np

from ..._utils.optional import require
from ..._utils.random import check_random_state
from ..._utils.validation import check_option

_SCHEDULERS = {"dpm": "DPMSolverMultistepScheduler", "ddim": "DDIMScheduler"}
# Stable Diffusion's training noise schedule (used when a scheduler is named without a config)
_SD_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "clip_sample": False,
}
DEFAULT_MODEL = "stabilityai/stable-diffusion-2-1-base"


def _load_error(what, path_or_id, err, cls_name, default_id=DEFAULT_MODEL):
    name = str(path_or_id)
    hub_like = re.fullmatch(r"[\w.-]+/[\w.-]+", name) is not None and not os.path.exists(name)
    repo, target = (name, "<folder>") if hub_like else (default_id, name)
    return FileNotFoundError(
        f"{what} {name!r} could not be loaded ({type(err).__name__}: {str(err)[:160]}). "
        f"Download the weights on a machine with internet access: "
        f"`huggingface-cli download {repo} --local-dir {target}` (or `hf download ...`), copy the "
        f"folder to this machine and pass its path (a diffusers folder with model_index.json, "
        f"unet/, vae/, scheduler/, text_encoder/, tokenizer/), or pass local_files_only=False to "
        f"let diffusers download {repo} into the Hugging Face cache (~/.cache/huggingface). "
        f"Pipeline class: {cls_name}."
    )


def _diffusers(module="diffusers"):
    """Import diffusers/transformers after the torchvision workaround (features._backbones)."""
    from ...features._backbones import import_torchvision

    require("torch")
    require(module)
    import_torchvision()
    return require(module)


def load_pipeline(
    pipeline_cls,
    path_or_id,
    *,
    torch_dtype=None,
    local_files_only=True,
    default_id=DEFAULT_MODEL,
    **kwargs,
):
    """``pipeline_cls.from_pretrained`` that fails with a message naming what to download.

    ``default_id`` is the hub id suggested when ``path_or_id`` is a missing local folder.
    """
    diffusers = _diffusers()
    cls = getattr(diffusers, pipeline_cls)
    try:
        return cls.from_pretrained(
            str(path_or_id), torch_dtype=torch_dtype, local_files_only=local_files_only, **kwargs
        )
    except (OSError, ValueError) as err:
        raise _load_error("Diffusion pipeline", path_or_id, err, pipeline_cls, default_id) from err


def _make_scheduler(scheduler, config=None):
    """A fresh scheduler: from a name ('dpm', 'ddim') and a config, or a copy of an instance."""
    diffusers = _diffusers()
    if isinstance(scheduler, str):
        check_option("scheduler", scheduler, list(_SCHEDULERS))
        cls = getattr(diffusers, _SCHEDULERS[scheduler])
        if config is None:  # SD's schedule, restricted to what this class accepts
            import inspect

            accepted = inspect.signature(cls.__init__).parameters
            config = {k: v for k, v in _SD_SCHEDULE.items() if k in accepted}
        return cls.from_config(config)
    return type(scheduler).from_config(scheduler.config)


def _generators(seeds):
    """One CPU ``torch.Generator`` per seed (each image reproducible by its seed)."""
    torch = require("torch")
    return [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]


def image_seeds(n_images, random_state):
    """One int seed per image from ``n_images`` and ``random_state`` (see ``generate``)."""
    if isinstance(random_state, (list, tuple, range, np.ndarray)):
        seeds = np.asarray(random_state)
        if seeds.ndim != 1 or len(seeds) == 0 or not np.issubdtype(seeds.dtype, np.integer):
            raise ValueError(f"Invalid value for `random_state`: expected an int, a 1-D sequence of "
                             f"ints (one seed per image), a Generator or None, got {random_state!r}.")
        if n_images is not None and int(n_images) != len(seeds):
            raise ValueError(f"Invalid value for `n_images`: expected None or {len(seeds)} (one "
                             f"image per seed of `random_state`), got {n_images!r}.")
        return seeds.astype(np.int64)
    n = 8 if n_images is None else n_images
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"Invalid value for `n_images`: expected a positive int or None, got {n!r}.")
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state) + np.arange(int(n), dtype=np.int64)
    return check_random_state(random_state).integers(0, 2**31 - 1, size=int(n), dtype=np.int64)
