"""fMRI adapters: NIfTI / GIFTI files and BIDS events to Recordings, GLM betas, maps back.

nibabel reads the files, nilearn's maskers and first-level GLM machinery do the
signal work; this module checks the inputs, keeps the geometry (voxel indices,
affine, volume shape, or hemisphere/vertex) and records provenance in
``Recording.meta`` so that any per-voxel result goes back to the brain with
:meth:`Recording.to_nifti` / :meth:`Recording.to_surface` or
:func:`save_brain_map`.
"""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..._utils.io import atomic_path
from ..._utils.docs import fill_doc
from ..._utils.logging import logger, verbose, warn
from ..._utils.optional import require
from ..._utils.validation import describe
from .._recording import Recording

__all__ = ["load_fmri", "load_bids_events", "save_brain_map"]

_HEMIS = {"left": "left", "lh": "left", "l": "left", "right": "right", "rh": "right", "r": "right"}


# ------------------------------------------------------------------ reading
def _name(obj):
    return str(obj) if isinstance(obj, (str, Path)) else f"<in-memory {type(obj).__name__}>"


def _load_nifti(obj, what):
    """A nibabel image with its data read (so truncation shows here), or a clear error."""
    nib = require("nibabel", "load_fmri")
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.exists():
            raise FileNotFoundError(f"Invalid value for `{what}`: file {path} does not exist.")
        try:
            img = nib.load(str(path))
            data = np.asanyarray(img.dataobj)
        except Exception as err:
            raise ValueError(
                f"Could not read the {what} file {path}: {type(err).__name__}: {err}. The file is "
                "truncated, corrupt or not a NIfTI image."
            ) from err
        return nib.Nifti1Image(data, img.affine, img.header), str(path)
    if hasattr(obj, "affine") and hasattr(obj, "dataobj"):
        return nib.Nifti1Image(np.asanyarray(obj.dataobj), obj.affine, obj.header), _name(obj)
    raise TypeError(
        f"Invalid value for `{what}`: expected a NIfTI path or a nibabel image, got "
        f"{describe(obj)}."
    )


def _load_gifti(obj, what):
    """(n_vertices, n_volumes) float array from a GIFTI path or image."""
    nib = require("nibabel", "load_fmri")
    if isinstance(obj, np.ndarray):
        arr = obj.reshape(len(obj), -1)
        return arr.astype(np.float64, copy=False), "<array>"
    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if not path.exists():
            raise FileNotFoundError(f"Invalid value for `{what}`: file {path} does not exist.")
        try:
            img = nib.load(str(path))
            arrays = [np.asarray(d.data) for d in img.darrays]
        except Exception as err:
            raise ValueError(
                f"Could not read the {what} file {path}: {type(err).__name__}: {err}. The file is "
                "truncated, corrupt or not a GIFTI image."
            ) from err
        name = str(path)
    elif hasattr(obj, "darrays"):
        arrays, name = [np.asarray(d.data) for d in obj.darrays], _name(obj)
    else:
        raise TypeError(
            f"Invalid value for `{what}`: expected a GIFTI path, image or array, got "
            f"{describe(obj)}."
        )
    if not arrays:
        raise ValueError(f"Invalid value for `{what}`: the GIFTI file {name} holds no data "
                         "arrays.")
    arr = arrays[0].reshape(len(arrays[0]), -1) if len(arrays) == 1 else np.column_stack(arrays)
    return arr.astype(np.float64, copy=False), name


def _is_surface(obj):
    if isinstance(obj, dict):
        return True
    return isinstance(obj, (str, Path)) and str(obj).endswith((".gii", ".gii.gz"))


def _read_table(obj, what):
    if isinstance(obj, pd.DataFrame):
        return obj.copy(), "<DataFrame>"
    if isinstance(obj, np.ndarray):
        return pd.DataFrame(obj.reshape(len(obj), -1)), "<array>"
    path = Path(obj)
    if not path.exists():
        raise FileNotFoundError(f"Invalid value for `{what}`: file {path} does not exist.")
    try:
        frame = pd.read_csv(path, sep="\t", na_values=["n/a"])
    except Exception as err:
        raise ValueError(f"Could not read the {what} file {path}: {err}.") from err
    return frame, str(path)


# -------------------------------------------------------------------- events
def load_bids_events(events, stim_column=None, runs=None, stimuli=None):
    """Read BIDS ``events.tsv`` files (one per run) into one table.

    Parameters
    ----------
    events : path | pandas.DataFrame | list of those
        One table per run, with BIDS columns ``onset`` and ``duration`` (s).
    stim_column : str | None
        Column holding the stimulus id of each event; None uses ``stim_id``
        when present, else ``trial_type``.
    runs : list | None
        Run label of each table (default 0, 1, ...).
    stimuli : StimulusSet | None
        If given, every stimulus id must be in it.

    Returns
    -------
    events : pandas.DataFrame
        The events with added columns ``stim_id`` (str), ``run`` and
        ``source`` (the file each row came from), in file order.
    """
    tables = list(events) if isinstance(events, (list, tuple)) else [events]
    runs = list(range(len(tables))) if runs is None else list(runs)
    if len(runs) != len(tables):
        raise ValueError(
            f"Invalid value for `runs`: expected one label per events table ({len(tables)}), "
            f"got {len(runs)}."
        )
    out = []
    for table, run in zip(tables, runs):
        frame, source = _read_table(table, "events")
        missing = [c for c in ("onset", "duration") if c not in frame.columns]
        col = stim_column or ("stim_id" if "stim_id" in frame.columns else "trial_type")
        if col not in frame.columns:
            missing.append(col)
        if missing:
            raise ValueError(
                f"Invalid events file {source}: missing column(s) {missing}; BIDS events need "
                f"onset, duration and a stimulus column (stim_id or trial_type), got "
                f"{list(frame.columns)}."
            )
        bad = frame[["onset", "duration"]].isna().any(axis=1) | frame[col].isna()
        if bad.any():
            raise ValueError(
                f"Invalid events file {source}: rows {np.flatnonzero(bad)[:8].tolist()} have "
                "empty onset, duration or stimulus id."
            )
        frame["stim_id"] = frame[col].astype(str)
        frame["run"] = run
        frame["source"] = source
        out.append(frame)
    table = pd.concat(out, ignore_index=True)
    if stimuli is not None:
        _check_in_stimuli(table, stimuli)
    return table


def _check_in_stimuli(table, stimuli):
    known = set(map(str, stimuli.ids))
    absent = ~table["stim_id"].isin(known)
    if absent.any():
        sources = sorted(set(table.loc[absent, "source"]))
        ids = sorted(set(table.loc[absent, "stim_id"]))
        raise ValueError(
            f"Stimulus ids {ids[:8]} (in {sources[:3]}) are missing from the StimulusSet "
            f"{getattr(stimuli, 'name', '')!r} ({len(known)} ids); add them or fix the events."
        )


def _check_events_in_run(table, n_scans, tr):
    end = n_scans * tr
    outside = (table["onset"] < 0) | (table["onset"] >= end)
    if outside.any():
        rows = table.loc[outside]
        raise ValueError(
            f"Events outside the recording in {rows['source'].iloc[0]} (run "
            f"{rows['run'].iloc[0]!r}): onsets {rows['onset'].tolist()[:6]} s are not in "
            f"[0, {end:g}) s = {n_scans} volumes x TR {tr:g} s."
        )


def _events_to_meta(table):
    return {c: table[c].tolist() for c in ("onset", "duration", "stim_id", "run", "source")}


def _events_from_meta(meta):
    frame = pd.DataFrame(meta)
    frame["stim_id"] = frame["stim_id"].astype(str)
    return frame


# --------------------------------------------------------------------- masks
def _check_same_grid(img, ref, img_name, ref_name):
    if img.shape[:3] != ref.shape[:3] or not np.allclose(img.affine, ref.affine, atol=1e-3):
        raise ValueError(
            f"The mask {img_name} does not match the image {ref_name}: mask shape "
            f"{img.shape[:3]} vs image {ref.shape[:3]}, affines "
            f"{'equal' if np.allclose(img.affine, ref.affine, atol=1e-3) else 'differ'}. "
            "Resample it first, e.g. nilearn.image.resample_to_img(mask, img, "
            "interpolation='nearest')."
        )


def _volume_rois(mask, rois, roi_names, ref, ref_name):
    """Boolean mask (volume) and roi label per voxel of the mask."""
    masks = {}
    if rois is not None and not isinstance(rois, dict):
        labels_img, name = _load_nifti(rois, "rois")
        _check_same_grid(labels_img, ref, name, ref_name)
        lab = np.asarray(labels_img.dataobj)
        if lab.dtype.kind == "f" and not np.allclose(lab, np.round(lab)):
            raise ValueError(f"Invalid value for `rois`: {name} is not an integer label image.")
        lab = np.round(lab).astype(int)
        names = dict(roi_names or {})
        for v in sorted(set(np.unique(lab).tolist()) - {0}):
            masks[str(names.get(v, f"label{v}"))] = lab == v
    elif rois is not None:
        for key, obj in rois.items():
            img, name = _load_nifti(obj, f"rois[{key!r}]")
            _check_same_grid(img, ref, name, ref_name)
            masks[str(key)] = np.asarray(img.dataobj) > 0
    if mask is not None:
        mimg, mname = _load_nifti(mask, "mask")
        _check_same_grid(mimg, ref, mname, ref_name)
        if mimg.ndim != 3:
            raise ValueError(f"Invalid value for `mask`: {mname} is not a 3-D image.")
        vol = np.asarray(mimg.dataobj) > 0
        default = Path(mname).name.split(".")[0] if isinstance(mask, (str, Path)) else "mask"
    elif masks:
        vol = np.any(list(masks.values()), axis=0)
        default, mname = "other", None
    else:
        vol, mname, default = None, None, "brain"
    return vol, masks, default, mname


def _roi_labels(ijk, masks, default):
    roi = np.full(len(ijk), default, dtype=object)
    for name, m in reversed(list(masks.items())):  # first ROI wins on overlap
        roi[m[ijk[:, 0], ijk[:, 1], ijk[:, 2]]] = name
    return roi


# ------------------------------------------------------------------ loading
@fill_doc
@verbose
def load_fmri(
    imgs,
    mask=None,
    rois=None,
    roi_names=None,
    events=None,
    stimulus_ids=None,
    runs=None,
    tr=None,
    confounds=None,
    standardize=False,
    detrend=False,
    high_pass=None,
    stimuli=None,
    subject="sub-01",
    space=None,
    verbose=None,
):
    """Read fMRI runs (NIfTI volumes or GIFTI surfaces) into a Recording.

    Parameters
    ----------
    imgs : path | nibabel image | dict | list of those
        One item per run. NIfTI: a 4-D time series (give ``events`` or
        ``tr``) or 3-D/4-D beta maps (give ``stimulus_ids``, one per
        volume). GIFTI: ``{"left": path, "right": path}`` (fsaverage or
        native vertices), one darray per volume; a single ``.gii`` path
        works when its name tells the hemisphere (``lh.``, ``hemi-L``...).
    mask : path | image | dict | None
        NIfTI brain mask on the image grid (same shape and affine; a
        mismatch is an error, never a silent resampling). For surfaces, a
        dict ``{hemi: boolean array (n_vertices,)}``. None keeps the voxels
        (vertices) whose signal varies (or the union of ``rois``).
    rois : dict | path | image | None
        ``{name: mask}`` binary ROI masks, or an integer label (atlas)
        image with names in ``roi_names`` ({label: name}). Units outside
        every ROI get the mask's file stem (e.g. "brain") as ``roi``.
    events : path | DataFrame | list | None
        BIDS events per run (see :func:`load_bids_events`); checked to lie
        inside the run. The volume at each onset gets the event's id.
    stimulus_ids : sequence of str | None
        For beta maps: the stimulus of each volume, all runs concatenated.
    runs : list | None
        Run labels (default 0, 1, ...); kept as ``Recording.runs``.
    tr : float | None
        Repetition time (s); default from the NIfTI header.
    confounds : path | DataFrame | array | list | None
        Per-run confounds (e.g. fMRIPrep ``desc-confounds_timeseries.tsv``
        columns) regressed out by nilearn's signal cleaning.
    standardize, detrend, high_pass
        Passed to nilearn's cleaning (``NiftiMasker`` / ``signal.clean``).
    stimuli : StimulusSet | None
        If given, every stimulus id must be in it.
    subject : str
    space : str | None
        Default "native" for volumes, "fsaverage" for surfaces.
    %(verbose)s

    Returns
    -------
    Recording
        ``responses`` (n_volumes, n_units). Volumes: units ``i, j, k``,
        ``x, y, z`` (mm), ``roi``; ``meta`` has ``affine``,
        ``volume_shape``, ``tr``, ``source_files``, ``mask_file``,
        ``events``, ``preprocessing``. Surfaces: units ``hemisphere``, ``vertex``,
        ``roi`` and ``meta["n_vertices"]``.
    """
    items = list(imgs) if isinstance(imgs, (list, tuple)) else [imgs]
    if not items:
        raise ValueError("Invalid value for `imgs`: expected at least one image, got none.")
    runs = list(range(len(items))) if runs is None else list(runs)
    if len(runs) != len(items):
        raise ValueError(
            f"Invalid value for `runs`: expected one label per image ({len(items)}), "
            f"got {len(runs)}."
        )
    conf = _per_run(confounds, len(items), "confounds")
    if all(_is_surface(x) for x in items):
        blocks, units, meta = _load_surface_runs(items, mask, conf, standardize, detrend,
                                                 high_pass, tr)
        space = space or "fsaverage"
    else:
        blocks, units, meta = _load_volume_runs(items, mask, rois, roi_names, conf, standardize,
                                                detrend, high_pass, tr)
        space = space or "native"
    tr = meta.get("tr")
    n_per_run = [len(b) for b in blocks]
    run_labels = np.concatenate([np.full(n, r) for n, r in zip(n_per_run, runs)])
    ids = np.full(sum(n_per_run), "", dtype=object)
    if events is not None and stimulus_ids is not None:
        raise ValueError("Pass either `events` (time series) or `stimulus_ids` (beta maps).")
    if events is not None:
        ev_items = list(events) if isinstance(events, (list, tuple)) else [events]
        table = load_bids_events(ev_items, runs=runs, stimuli=stimuli)
        if tr is None:
            raise ValueError("Invalid value for `tr`: needed with `events`, got None.")
        starts = np.cumsum([0] + n_per_run[:-1])
        for start, n, r in zip(starts, n_per_run, runs):
            sub = table[table["run"] == r]
            _check_events_in_run(sub, n, tr)
            rows = start + np.floor(sub["onset"].to_numpy() / tr + 1e-6).astype(int)
            if len(np.unique(rows)) < len(rows):
                warn(f"Several events of run {r!r} start in the same volume (TR {tr:g} s); "
                     "stimulus_ids marks only the last. meta['events'] keeps them all; use "
                     "estimate_betas for per-event responses.")
            ids[rows] = sub["stim_id"].to_numpy()
        meta["events"] = _events_to_meta(table)
        meta["mode"] = "timeseries"
    elif stimulus_ids is not None:
        ids = np.asarray([str(s) for s in stimulus_ids], dtype=object)
        if len(ids) != len(run_labels):
            raise ValueError(
                f"Invalid value for `stimulus_ids`: expected one id per volume ({len(run_labels)} "
                f"in {len(items)} image(s)), got {len(ids)}."
            )
        if stimuli is not None:
            _check_in_stimuli(pd.DataFrame({"stim_id": ids, "source": "stimulus_ids"}), stimuli)
        meta["mode"] = "betas"
    else:
        meta["mode"] = "timeseries"
    meta["n_volumes_per_run"] = n_per_run
    rec = Recording(np.concatenate(blocks, axis=0), ids, units=units, subject=subject,
                    modality="fmri", space=space, runs=run_labels, meta=meta)
    logger.info("load_fmri: %r", rec)
    return rec


def _per_run(obj, n, what):
    if obj is None:
        return [None] * n
    items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    if len(items) != n:
        raise ValueError(
            f"Invalid value for `{what}`: expected one item per run ({n}), got {len(items)}."
        )
    return [None if c is None else _read_table(c, what)[0].fillna(0.0).to_numpy(float)
            for c in items]


def _nilearn_standardize(value):
    """nilearn >= 0.13 spelling: True -> "zscore_sample", False -> None."""
    if value is True:
        return "zscore_sample"
    return None if value is False else value


def _clean_steps(standardize, detrend, high_pass, tr, conf):
    if not (standardize or detrend or high_pass or any(c is not None for c in conf)):
        return []
    return [{"step": "clean", "tool": "nilearn", "standardize": standardize, "detrend": detrend,
             "high_pass": high_pass, "t_r": tr, "confounds": any(c is not None for c in conf)}]


def _load_volume_runs(items, mask, rois, roi_names, conf, standardize, detrend, high_pass, tr):
    nib = require("nibabel", "load_fmri")
    maskers = require("nilearn.maskers", "load_fmri")
    loaded = [_load_nifti(x, "imgs") for x in items]
    ref, ref_name = loaded[0]
    for img, name in loaded[1:]:
        if img.shape[:3] != ref.shape[:3] or not np.allclose(img.affine, ref.affine, atol=1e-3):
            raise ValueError(
                f"The image {name} is not on the grid of {ref_name} (shapes {img.shape[:3]} vs "
                f"{ref.shape[:3]} or affines differ)."
            )
    if tr is None and ref.ndim == 4:
        zoom = float(ref.header.get_zooms()[3])
        unit = ref.header.get_xyzt_units()[1]
        zoom = zoom / 1000.0 if unit == "msec" else zoom / 1e6 if unit == "usec" else zoom
        tr = zoom if zoom > 0 else None
        logger.debug("load_fmri: TR %s s from the header of %s", tr, ref_name)
    vol, masks, default, mask_name = _volume_rois(mask, rois, roi_names, ref, ref_name)
    if vol is None:
        data = [np.asarray(img.dataobj).reshape(img.shape[:3] + (-1,)) for img, _ in loaded]
        stacked = np.concatenate(data, axis=3)
        vol = np.isfinite(stacked).all(axis=3) & (np.ptp(stacked, axis=3) > 0)
    if not vol.any():
        raise ValueError(f"Invalid value for `mask`: {mask_name or 'the mask'} selects no voxel.")
    mask_img = nib.Nifti1Image(vol.astype(np.uint8), ref.affine)
    std = _nilearn_standardize(standardize)
    masker = maskers.NiftiMasker(mask_img=mask_img, standardize=std, detrend=detrend,
                                 high_pass=high_pass, t_r=tr).fit()
    blocks = []
    for (img, _), c in zip(loaded, conf):
        if img.ndim == 3:
            img = nib.Nifti1Image(np.asarray(img.dataobj)[..., None], img.affine, img.header)
        blocks.append(np.asarray(masker.transform(img, confounds=c), dtype=np.float64))
    ijk = np.argwhere(vol)  # C order, as nilearn's apply_mask
    xyz = nib.affines.apply_affine(ref.affine, ijk)
    units = pd.DataFrame({"i": ijk[:, 0], "j": ijk[:, 1], "k": ijk[:, 2],
                          "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
                          "roi": _roi_labels(ijk, masks, default)},
                         index=[f"v{a}_{b}_{c}" for a, b, c in ijk])
    meta = {"affine": np.asarray(ref.affine, dtype=np.float64),
            "volume_shape": np.asarray(ref.shape[:3]), "tr": tr,
            "source_files": [n for _, n in loaded], "mask_file": mask_name,
            "rois": list(masks),
            "preprocessing": [{"step": "mask", "tool": "nilearn.maskers.NiftiMasker",
                       "n_voxels": int(vol.sum())}]
            + _clean_steps(standardize, detrend, high_pass, tr, conf)}
    return blocks, units, meta


def _load_surface_runs(items, mask, conf, standardize, detrend, high_pass, tr):
    signal = require("nilearn.signal", "load_fmri")
    per_hemi, names = {}, []
    for item in items:
        if not isinstance(item, dict):
            stem = Path(str(item)).name.lower()
            found = re.findall(r"(?:^|[._-])(?:hemi-)?(lh|rh|l|r|left|right)(?=[._-]|$)", stem)
            hemi = _HEMIS.get(found[0]) if len(set(found)) == 1 else None
            if hemi is None:
                raise ValueError(
                    f"Invalid value for `imgs`: cannot tell the hemisphere of {item}; pass "
                    "{'left': path, 'right': path}."
                )
            item = {hemi: item}
        for key, obj in item.items():
            h = _HEMIS.get(str(key).lower())
            if h is None:
                raise ValueError(f"Invalid value for `imgs`: unknown hemisphere {key!r}.")
            arr, name = _load_gifti(obj, f"imgs[{key!r}]")
            per_hemi.setdefault(h, []).append(arr)
            names.append(name)
    hemis = sorted(per_hemi)
    n_runs = {h: len(v) for h, v in per_hemi.items()}
    if len(set(n_runs.values())) != 1 or n_runs[hemis[0]] != len(items):
        raise ValueError(f"Invalid value for `imgs`: expected both hemispheres in every run, "
                         f"got {n_runs} for {len(items)} run(s).")
    mask = dict(mask or {})
    keep, n_vertices = {}, {}
    for h in hemis:
        arrs = per_hemi[h]
        n_vertices[h] = arrs[0].shape[0]
        bad = [n for a, n in zip(arrs, names) if a.shape[0] != n_vertices[h]]
        if bad:
            raise ValueError(f"The {h} hemisphere files have different vertex counts: {bad}.")
        m = {_HEMIS.get(str(k).lower()): v for k, v in mask.items()}.get(h)
        if m is None:
            stacked = np.concatenate(arrs, axis=1)
            keep[h] = np.isfinite(stacked).all(axis=1) & (np.ptp(stacked, axis=1) > 0)
        else:
            m = np.asarray(m).astype(bool).ravel()
            if m.shape != (n_vertices[h],):
                raise ValueError(
                    f"The {h} surface mask has {m.size} vertices but the data has "
                    f"{n_vertices[h]} ({names[0]})."
                )
            keep[h] = m
    blocks = []
    for r in range(len(items)):
        block = np.concatenate([per_hemi[h][r][keep[h]].T for h in hemis], axis=1)
        c = conf[r]
        if standardize or detrend or high_pass or c is not None:
            block = signal.clean(block, detrend=detrend,
                                 standardize=_nilearn_standardize(standardize),
                                 confounds=c, high_pass=high_pass, t_r=tr,
                                 filter="cosine" if high_pass else False)
        blocks.append(block)
    units = pd.DataFrame({
        "hemisphere": np.concatenate([[h] * int(keep[h].sum()) for h in hemis]),
        "vertex": np.concatenate([np.flatnonzero(keep[h]) for h in hemis]).astype(int),
    })
    units["roi"] = "cortex"
    units.index = [f"{h[0]}{v}" for h, v in zip(units["hemisphere"], units["vertex"])]
    meta = {"n_vertices": n_vertices, "tr": tr, "source_files": names,
            "preprocessing": [{"step": "surface_mask", "n_vertices": int(len(units))}]
            + _clean_steps(standardize, detrend, high_pass, tr, conf)}
    return blocks, units, meta


def save_brain_map(recording, values, fname, overwrite=False):
    """Write per-unit values (scores, weights, labels) as a brain map, atomically.

    Parameters
    ----------
    recording : Recording
        From :func:`load_fmri` (voxels: NIfTI; vertices: GIFTI).
    values : array, shape (n_units,) | (n_maps, n_units)
    fname : path
        ``.nii``/``.nii.gz`` for volumes. For surfaces a ``.gii`` name; a
        ``{hemi}`` placeholder is filled with "left"/"right", otherwise
        ``_hemi-L``/``_hemi-R`` is inserted before ``.func.gii``/``.gii``.
    overwrite : bool

    Returns
    -------
    path or dict
        The NIfTI path, or ``{hemi: path}`` for surfaces.
    """
    nib = require("nibabel", "save_brain_map")
    fname = str(fname)
    if fname.endswith((".nii", ".nii.gz")):
        img = recording.to_nifti(values)
        targets = {None: Path(fname)}
        imgs = {None: img}
    elif fname.endswith(".gii"):
        maps = recording.to_surface(values)
        imgs, targets = {}, {}
        for h, arr in maps.items():
            if "{hemi}" in fname:
                target = fname.format(hemi=h)
            else:
                stem = fname[:-9] if fname.endswith(".func.gii") else fname[:-4]
                ext = ".func.gii" if fname.endswith(".func.gii") else ".gii"
                target = f"{stem}_hemi-{h[0].upper()}{ext}"
            arr2 = np.atleast_2d(arr).astype(np.float32)
            imgs[h] = nib.gifti.GiftiImage(darrays=[nib.gifti.GiftiDataArray(a) for a in arr2])
            targets[h] = Path(target)
    else:
        raise ValueError(f"Invalid value for `fname`: expected a .nii, .nii.gz or .gii name, "
                         f"got {fname!r}.")
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing} already exist(s); pass overwrite=True to replace.")
    for key, img in imgs.items():
        with atomic_path(targets[key]) as tmp:
            nib.save(img, str(tmp))
    return targets[None] if None in targets else targets
