"""NSD-style single-trial betas (per-session HDF5 or NIfTI files) to a Recording.

Written from ``data_cards/nsd.yaml``: betas live in
``nsddata_betas/ppdata/subjXX/<space>/<beta version>/betas_sessionNN.{hdf5,nii.gz}``,
one file per session of (usually) 750 trials, stored as int16 x 300 (divide by
300 for percent signal change). A stimulus-order table maps each (session,
trial) to the image shown (e.g. the 73k index from ``nsd_expdesign.mat``).
Betas are z-scored per voxel within each session before use; test repeats
are often averaged.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..._utils.docs import fill_doc
from ..._utils.logging import logger, verbose
from ..._utils.optional import require
from .._recording import Recording

__all__ = ["load_nsd_betas"]

_SESSION = re.compile(r"betas_session(\d+)\.(hdf5|h5|nii\.gz|nii)$")


def _session_files(betas):
    if isinstance(betas, (str, Path)) and Path(betas).is_dir():
        files = sorted(p for p in Path(betas).iterdir() if _SESSION.search(p.name))
        if not files:
            raise FileNotFoundError(
                f"Invalid value for `betas`: no betas_sessionNN.hdf5/.nii.gz file in {betas}."
            )
    else:
        files = [Path(b) for b in (betas if isinstance(betas, (list, tuple)) else [betas])]
    out = {}
    for f in files:
        m = _SESSION.search(f.name)
        if m is None:
            raise ValueError(f"Invalid value for `betas`: {f.name} is not named "
                             "betas_sessionNN.hdf5 or betas_sessionNN.nii.gz.")
        if not f.exists():
            raise FileNotFoundError(f"Invalid value for `betas`: file {f} does not exist.")
        out[int(m.group(1))] = f
    return dict(sorted(out.items()))


def _read_order(stim_order):
    if isinstance(stim_order, pd.DataFrame):
        table, name = stim_order.copy(), "<DataFrame>"
    else:
        name = str(stim_order)
        sep = "," if name.endswith(".csv") else "\t"
        try:
            table = pd.read_csv(stim_order, sep=sep)
        except Exception as err:
            raise ValueError(f"Could not read the stimulus-order table {name}: {err}.") from err
    missing = [c for c in ("session", "trial", "stim_id") if c not in table.columns]
    if missing:
        raise ValueError(f"Invalid stimulus-order table {name}: missing column(s) {missing}; "
                         f"expected session, trial (1-based within session), stim_id; got "
                         f"{list(table.columns)}.")
    table["stim_id"] = table["stim_id"].astype(str)
    return table, name


def _read_session(path, mask, transpose_hdf5, chunk=50):
    """(n_trials, n_voxels) raw values of one session, and its volume shape/affine."""
    try:
        if path.name.endswith((".hdf5", ".h5")):
            h5py = require("h5py", "load_nsd_betas")
            with h5py.File(path, "r") as f:
                if "betas" not in f:
                    raise KeyError(f"no dataset 'betas' (keys {list(f)})")
                ds = f["betas"]
                vol = ds.shape[1:][::-1] if transpose_hdf5 else ds.shape[1:]
                sel = None if mask is None else (mask.T if transpose_hdf5 else mask)
                if sel is not None and sel.shape != ds.shape[1:]:
                    return None, vol, None
                blocks = []
                for start in range(0, ds.shape[0], chunk):
                    block = ds[start:start + chunk]
                    blocks.append(block.reshape(len(block), -1) if sel is None else block[:, sel])
                data = np.concatenate(blocks, axis=0)
                if sel is not None and transpose_hdf5:
                    # voxel order of mask.T[...] is (k, j, i)-major: reorder to mask's C order
                    order = np.argsort(np.ravel_multi_index(np.nonzero(sel)[::-1], vol))
                    data = data[:, order]
                return data, vol, None
        nib = require("nibabel", "load_nsd_betas")
        img = nib.load(str(path))
        arr = np.asanyarray(img.dataobj)
        vol = arr.shape[:3]
        if mask is not None and mask.shape != vol:
            return None, vol, img.affine
        data = arr[mask] if mask is not None else arr.reshape(-1, arr.shape[3])
        return np.ascontiguousarray(data.T), vol, img.affine
    except Exception as err:
        raise ValueError(f"Could not read the betas file {path}: {type(err).__name__}: {err}. "
                         "The file is truncated, corrupt or not in the NSD layout.") from err


@fill_doc
@verbose
def load_nsd_betas(
    betas,
    stim_order,
    sessions=None,
    mask=None,
    roi="nsdgeneral",
    scale=300.0,
    zscore=True,
    average_repeats=False,
    transpose_hdf5=True,
    stimuli=None,
    subject="subj01",
    space="func1pt8mm",
    verbose=None,
):
    """Read NSD-style single-trial betas into a Recording.

    Parameters
    ----------
    betas : path | list of path
        A folder of ``betas_sessionNN.hdf5`` (dataset ``betas``, shape
        (n_trials, Z, Y, X) as MATLAB-written files appear to h5py) or
        ``betas_sessionNN.nii.gz`` (X, Y, Z, n_trials) files, or the files.
    stim_order : path | DataFrame
        Columns ``session``, ``trial`` (1-based position in the session's
        file) and ``stim_id`` (e.g. the 73k image index); CSV or TSV.
    sessions : list of int | None
        Sessions to read (default all files found).
    mask : path | nibabel image | bool array (X, Y, Z) | None
        ROI mask (e.g. ``nsdgeneral.nii.gz``; voxels > 0 kept). Its affine
        (or the NIfTI betas') gives the geometry for ``to_nifti``.
    roi : str
        ROI name of the kept voxels.
    scale : float | None
        Integer betas are divided by it (NSD stores int16 x 300).
    zscore : bool
        z-score each voxel over the trials of each session (NSD convention).
    average_repeats : bool
        Average the trials of each stimulus after z-scoring (runs dropped).
    transpose_hdf5 : bool
        HDF5 spatial axes are reversed relative to the NIfTI grid.
    stimuli : StimulusSet | None
        If given, every stimulus id must be in it.
    subject, space : str
    %(verbose)s

    Returns
    -------
    Recording
        Trials of all sessions in order, ``runs`` = session numbers, units
        ``i, j, k`` (and ``x, y, z`` when an affine is known), ``roi``;
        ``meta`` has ``volume_shape``, ``affine``, ``source_files``,
        ``preprocessing``. Voxels constant within a session are dropped (logged).
    """
    files = _session_files(betas)
    if sessions is not None:
        absent = sorted(set(sessions) - set(files))
        if absent:
            raise ValueError(f"Invalid value for `sessions`: no betas file for session(s) {absent} "
                             f"(found {list(files)}).")
        files = {s: files[s] for s in sessions}
    order, order_name = _read_order(stim_order)
    affine, mask_name = None, None
    if mask is not None and not isinstance(mask, np.ndarray):
        nib = require("nibabel", "load_nsd_betas")
        try:
            mimg = nib.load(str(mask)) if isinstance(mask, (str, Path)) else mask
            mask_arr = np.asanyarray(mimg.dataobj) > 0
        except Exception as err:
            raise ValueError(f"Could not read the mask {mask}: {err}.") from err
        affine, mask_name = mimg.affine, str(mask) if isinstance(mask, (str, Path)) else "<image>"
    elif mask is not None:
        mask_arr, mask_name = np.asarray(mask).astype(bool), "<array>"
    else:
        mask_arr = None
    blocks, ids, runs, vol_shape = [], [], [], None
    for ses, path in files.items():
        data, vol, aff = _read_session(path, mask_arr, transpose_hdf5)
        if data is None:
            raise ValueError(f"The mask {mask_name} (shape {mask_arr.shape}) does not match the "
                             f"betas in {path} (volume {tuple(vol)}).")
        if vol_shape is not None and tuple(vol) != vol_shape:
            raise ValueError(f"The betas in {path} have volume {tuple(vol)}, other sessions "
                             f"{vol_shape}.")
        vol_shape = tuple(vol)
        if affine is None and aff is not None:
            affine = aff
        rows = order[order["session"] == ses].sort_values("trial")
        expected = np.arange(1, len(data) + 1)
        if len(rows) != len(data) or not np.array_equal(rows["trial"].to_numpy(), expected):
            raise ValueError(
                f"The stimulus-order table {order_name} lists {len(rows)} trial(s) for session "
                f"{ses}, but {path} holds {len(data)} betas; expected trials 1..{len(data)}."
            )
        data = data.astype(np.float32)
        if scale and _is_int_file(path):
            data /= np.float32(scale)
        if zscore:
            mu, sd = data.mean(axis=0), data.std(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                data = (data - mu) / sd
        blocks.append(data)
        ids.extend(rows["stim_id"])
        runs.extend([ses] * len(data))
    ids = np.asarray(ids, dtype=object)
    if stimuli is not None:
        known = set(map(str, stimuli.ids))
        missing = sorted(set(ids) - known)
        if missing:
            raise ValueError(f"Stimulus ids {missing[:8]} of {order_name} are missing from the "
                             f"StimulusSet {stimuli.name!r}.")
    ijk = np.argwhere(mask_arr) if mask_arr is not None else np.argwhere(np.ones(vol_shape, bool))
    units = pd.DataFrame({"i": ijk[:, 0], "j": ijk[:, 1], "k": ijk[:, 2]})
    meta = {"volume_shape": np.asarray(vol_shape), "source_files": [str(p) for p in files.values()],
            "stim_order": order_name, "mask_file": mask_name, "sessions": list(files),
            "preprocessing": [{"step": "scale", "divide_by": scale}]
            + ([{"step": "zscore", "per": "session", "axis": "trials"}] if zscore else [])}
    if affine is not None:
        nib = require("nibabel", "load_nsd_betas")
        xyz = nib.affines.apply_affine(affine, ijk)
        units["x"], units["y"], units["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        meta["affine"] = np.asarray(affine, dtype=np.float64)
    units["roi"] = roi
    units.index = [f"v{a}_{b}_{c}" for a, b, c in ijk]
    rec = Recording(np.concatenate(blocks, axis=0), ids, units=units, subject=subject,
                    modality="fmri", space=space, runs=np.asarray(runs), meta=meta,
                    drop_nonfinite=True, drop_constant=True)
    if average_repeats:
        rec = rec.average_repeats()
        rec.meta["preprocessing"] = list(rec.meta["preprocessing"]) + [{"step": "average_repeats"}]
    logger.info("load_nsd_betas: %r", rec)
    return rec


def _is_int_file(path):
    """Whether the stored betas are integers (NSD's int16 x 300)."""
    if path.name.endswith((".hdf5", ".h5")):
        import h5py

        with h5py.File(path, "r") as f:
            return f["betas"].dtype.kind in "iu"
    import nibabel as nib

    img = nib.load(str(path))
    return img.get_data_dtype().kind in "iu" and img.dataobj.slope in (1, None)
