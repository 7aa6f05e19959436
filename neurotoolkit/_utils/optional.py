"""Optional heavy dependencies, imported only inside the functions that need them."""

import importlib

__all__ = ["require"]

# import name -> (pip name, extra)
_EXTRAS = {
    "torch": ("torch", "torch"),
    "torchvision": ("torchvision", "torch"),
    "open_clip": ("open_clip_torch", "torch"),
    "transformers": ("transformers", "torch"),
    "diffusers": ("diffusers", "diffusion"),
    "mne": ("mne", "ephys"),
    "mne_bids": ("mne-bids", "ephys"),
    "nibabel": ("nibabel", "fmri"),
    "nilearn": ("nilearn", "fmri"),
    "matplotlib": ("matplotlib", "viz"),
    "matplotlib.pyplot": ("matplotlib", "viz"),
    "dask": ("dask[distributed]", "dask"),
    "distributed": ("dask[distributed]", "dask"),
    "himalaya": ("himalaya", "dev"),
    "pycocoevalcap": ("pycocoevalcap", "captions"),
}


def require(module, purpose=None):
    """Import and return ``module`` or raise an ImportError naming the install command.

    Parameters
    ----------
    module : str
        Import name, e.g. ``"torch"`` or ``"matplotlib.pyplot"``.
    purpose : str | None
        What needs it, for the message (e.g. ``"plot_scores"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        pip_name, extra = _EXTRAS.get(module, (module.split(".")[0], None))
        what = f" for {purpose}" if purpose else ""
        hint = (
            f'pip install "neurotoolkit[{extra}]" (or pip install {pip_name})'
            if extra
            else f"pip install {pip_name}"
        )
        raise ImportError(
            f"The optional dependency `{module}` is needed{what} but is not installed. "
            f"Install it with: {hint}."
        ) from err
