"""Dataset loaders: fetch (mirror or download), then return ready objects.

``load_92objects`` gives a :class:`~neurotoolkit.data.StimulusSet` and the
human IT RDMs, ``load_haxby`` a :class:`~neurotoolkit.data.Recording` of the
fMRI time series, ``load_eeglab_sample`` an MNE Raw.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from ..._utils.docs import fill_doc
from ..._utils.logging import verbose
from .._stimuli import StimulusSet
from ._fetchers import Bunch, fetch_92objects, fetch_eeglab_sample, fetch_haxby

__all__ = ["load_92objects", "load_eeglab_sample", "load_haxby"]

#: The 8 category columns of the 92-object set, in the order of rsatoolbox's ``categoryVectors``.
OBJECTS92_CATEGORIES = ("animate", "inanimate", "human", "nonhuman", "body", "face",
                        "natural_object", "artificial_object")


def _read_rdms_mat(path):
    """RDMs of an rsatoolbox (MATLAB) file: struct array ``RDMs`` with ``RDM`` and ``name``.

    Returns the square RDMs, shape ``(*struct_shape, n_cond, n_cond)``, and the
    names, shape ``struct_shape``. (:func:`neurotoolkit.analysis.load_rdms_mat`
    is the general reader, with vector RDMs; ``data`` cannot import it.)
    """
    from scipy.io import loadmat

    mat = loadmat(path, squeeze_me=True, struct_as_record=False)
    if "RDMs" not in mat:
        keys = [k for k in mat if not k.startswith("__")]
        raise ValueError(f"Invalid RDM file '{path}': expected a MATLAB struct array `RDMs`, got "
                         f"variables {keys}. Fetch it again (delete the file first).")
    structs = np.atleast_1d(mat["RDMs"])
    mats = [np.asarray(structs[idx].RDM, dtype=np.float64) for idx in np.ndindex(structs.shape)]
    shapes = {m.shape for m in mats}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or len(set(next(iter(shapes)))) != 1:
        raise ValueError(f"Invalid RDM file '{path}': expected square RDMs of one size, got "
                         f"shapes {sorted(shapes)}.")
    names = [str(getattr(structs[idx], "name", "")) for idx in np.ndindex(structs.shape)]
    rdms = np.stack(mats).reshape(structs.shape + mats[0].shape)
    return rdms, np.asarray(names, dtype=object).reshape(structs.shape)


def _read_images_mat(path):
    """Images (92, 175, 175, 3) uint8 and the 8 category columns from rsatoolbox's image file."""
    from scipy.io import loadmat

    mat = loadmat(path, squeeze_me=True, struct_as_record=False)
    missing = [k for k in ("stimuli_92objs", "categoryVectors") if k not in mat]
    if missing:
        raise ValueError(f"Invalid image file '{path}': expected the variables `stimuli_92objs` and "
                         f"`categoryVectors`, `{missing}` missing. Fetch it again (delete it first).")
    images = np.stack([np.asarray(s.image) for s in np.atleast_1d(mat["stimuli_92objs"])])
    vectors = np.asarray(mat["categoryVectors"])[:, : len(OBJECTS92_CATEGORIES)]
    return images.astype(np.uint8), vectors.astype(int)


@fill_doc
@verbose
def load_92objects(data_home=None, base_url=None, mirror=None, download_if_missing=True,
                   verbose=None):
    """The 92 object images of Kriegeskorte et al. (2008) and human IT RDMs, ready to use.

    Fetches with :func:`fetch_92objects` (from a local mirror or a download)
    and reads the files.

    Parameters
    ----------
    %(data_home)s
    %(data_source)s
    %(verbose)s

    Returns
    -------
    Bunch
        ``stimuli``: :class:`~neurotoolkit.data.StimulusSet` of the 92 images
        (ids ``"img00"`` ... ``"img91"``, in the order of the RDMs), with a
        ``categories`` table of 8 boolean columns (animate, inanimate, human,
        nonhuman, body, face, natural_object, artificial_object);
        ``rdms``: array, shape (4, 2, 92, 92), human IT RDMs (subjects x
        sessions; 1 - Pearson r as stored by the original analysis);
        ``rdm_names``: array of str, shape (4, 2); ``path``; ``description``.

    References
    ----------
    Kriegeskorte, N. et al. (2008). Matching categorical object representations
    in inferior temporal cortex of man and monkey. Neuron, 60(6), 1126-1141.
    """
    ds = fetch_92objects(data_home=data_home, base_url=base_url, mirror=mirror,
                         download_if_missing=download_if_missing)
    ids = [f"img{k:02d}" for k in range(92)]
    if ds.images_dir is not None:
        table = pd.read_csv(ds.categories)
        table[list(OBJECTS92_CATEGORIES)] = table[list(OBJECTS92_CATEGORIES)].astype(bool)
        stimuli = StimulusSet.from_folder(ds.images_dir, categories=table, name="92objects")
    else:
        images, vectors = _read_images_mat(ds.images_mat)
        categories = pd.DataFrame(vectors.astype(bool), index=ids, columns=list(OBJECTS92_CATEGORIES))
        stimuli = StimulusSet(ids, images=images, categories=categories, name="92objects",
                              meta={"source": str(ds.images_mat)})
    if list(stimuli.ids) != ids:
        raise ValueError(f"Invalid 92-object files in '{ds.path}': expected image ids {ids[:2]}..."
                         f"{ids[-1]}, got {list(stimuli.ids)[:3]}... Fetch them again.")
    rdms, names = _read_rdms_mat(ds.rdms)
    return Bunch(stimuli=stimuli, rdms=rdms, rdm_names=names, path=ds.path,
                 description=ds.description)


@fill_doc
@verbose
def load_haxby(data_home=None, base_url=None, mirror=None, download_if_missing=True,
               detrend=True, verbose=None):
    """Haxby et al. (2001) subject 1 (reduced copy) as a ready fMRI Recording.

    Fetches with :func:`fetch_haxby`, then reads the 12 runs with
    :func:`~neurotoolkit.data.load_fmri` inside the brain mask, voxels in the
    ventral temporal mask labelled ``roi="vt"`` (the others ``"brain"``),
    the BIDS events attached. For one beta pattern per block, pass the
    recording to :func:`~neurotoolkit.data.estimate_betas`.

    Parameters
    ----------
    %(data_home)s
    %(data_source)s
    detrend : bool
        Remove a linear trend per run and voxel (nilearn's ``detrend``).
    %(verbose)s

    Returns
    -------
    Bunch
        ``recording``: :class:`~neurotoolkit.data.Recording` of the time
        series, responses (1452, n_voxels) = 12 runs x 121 volumes; the paths
        of :func:`fetch_haxby` (``path``, ``bold``, ``events``, ``masks``),
        ``tr``, ``description``.
    """
    from ..fmri import load_fmri

    ds = fetch_haxby(data_home=data_home, base_url=base_url, mirror=mirror,
                     download_if_missing=download_if_missing)
    ds["recording"] = load_fmri(ds.bold, mask=ds.masks["brain"], rois={"vt": ds.masks["vt"]},
                                events=ds.events, runs=list(range(1, 13)), detrend=detrend)
    return ds


@fill_doc
@verbose
def load_eeglab_sample(data_home=None, base_url=None, mirror=None, download_if_missing=True,
                       verbose=None):
    """The EEGLAB sample recording as an MNE Raw, EOG channels typed as EOG.

    Fetches with :func:`fetch_eeglab_sample`, then reads the file with
    :func:`~neurotoolkit.data.read_raw` (``mne.io.read_raw_eeglab``), setting
    the types of ``EOG1`` and ``EOG2``, which the file stores as EEG, to
    ``"eog"``. Needs MNE.

    Parameters
    ----------
    %(data_home)s
    %(data_source)s
    %(verbose)s

    Returns
    -------
    mne.io.Raw
        32 channels (30 EEG, 2 EOG), 128 Hz, 238 s, preloaded; events as
        annotations ``square`` (stimulus) and ``rt`` (response). The file's
        path is ``raw.filenames[0]``.

    References
    ----------
    Delorme, A., & Makeig, S. (2004). EEGLAB: an open source toolbox for
    analysis of single-trial EEG dynamics. J. Neurosci. Methods, 134(1), 9-21.
    """
    from ..ephys import read_raw

    ds = fetch_eeglab_sample(data_home=data_home, base_url=base_url, mirror=mirror,
                             download_if_missing=download_if_missing)
    return read_raw(Path(ds.set), ch_types={"EOG1": "eog", "EOG2": "eog"})
