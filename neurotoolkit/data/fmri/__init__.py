"""fMRI file adapters: NIfTI/GIFTI through nilearn maskers, BIDS events,
single-trial and condition betas with nilearn's GLM, NSD-layout betas."""

from ._glm import estimate_betas
from ._load import load_bids_events, load_fmri, save_brain_map
from ._nsd import load_nsd_betas

__all__ = ["estimate_betas", "load_bids_events", "load_fmri", "load_nsd_betas", "save_brain_map"]
