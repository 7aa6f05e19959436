"""Recording: responses of one subject to a stimulus set."""

import numpy as np
import pandas as pd

from .._utils.logging import logger, warn
from .._utils.optional import require
from .._utils.validation import check_array, check_option, describe

__all__ = ["Recording", "MODALITIES", "concatenate_recordings"]

MODALITIES = ("fmri", "seeg", "meg", "eeg", "ecog", "sim")


class Recording:
    """Responses of one subject to stimuli, with repeats kept as separate trials.

    Parameters
    ----------
    responses : array, shape (n_trials, n_units)
        One row per trial (or per TR in time-series mode), one column per
        unit (voxel, vertex, electrode, sensor, or (channel, window) pair).
        At least 1 trial and 1 unit: an empty array raises a ``ValueError``,
        and so does dropping every unit, or selecting none with
        :meth:`select` or :meth:`select_trials`.
    stimulus_ids : sequence of str, shape (n_trials,)
        Key of the stimulus shown on each trial, into a :class:`StimulusSet`.
        Repeated ids are repeats. In time-series mode, ``""`` marks rows
        without a stimulus onset.
    units : pandas.DataFrame | None
        One row per unit with at least a ``roi`` column; where known ``x, y,
        z`` (mm, in ``space``), ``hemisphere``, ``ch_type``. The index holds
        unique unit names. None makes a table with ``roi="unknown"``.
    subject : str
        Subject label, e.g. "sub-01".
    modality : {"fmri", "seeg", "meg", "eeg", "ecog", "sim"}
        Recording modality.
    space : str | None
        Coordinate space of the units ("native", "MNI152", "fsaverage", "head").
    runs : array-like of int or str, shape (n_trials,) | None
        Run (or session) of each trial; used for leave-one-run-out CV.
    meta : dict | None
        Provenance: source files, preprocessing steps and their parameters,
        and for fMRI the ``affine``/``mask`` needed by :meth:`to_nifti`.
    drop_nonfinite : bool
        If True, units with NaN/inf responses are dropped (and logged);
        if False (default) they raise an error listing them.
    drop_constant : bool
        If True, units whose responses are constant over trials (zero
        variance, which breaks z-scoring and correlation scores) are dropped
        (and logged); if False (default) they raise an error listing them.
        Not checked when there are fewer than 2 trials.

    Notes
    -----
    Dropped units are listed in ``meta["dropped_units"]``. Recordings derived
    with :meth:`select`, :meth:`select_trials`, :meth:`average_repeats` or
    :meth:`split` are not checked again.
    """

    def __init__(
        self,
        responses,
        stimulus_ids,
        units=None,
        subject="sub-01",
        modality="fmri",
        space=None,
        runs=None,
        meta=None,
        drop_nonfinite=False,
        drop_constant=False,
    ):
        responses = check_array("responses", responses, ndim=2, allow_nan=True)
        _check_not_empty("responses", responses.shape)
        stimulus_ids = np.asarray([str(s) for s in stimulus_ids], dtype=object)
        if stimulus_ids.ndim != 1 or len(stimulus_ids) != responses.shape[0]:
            raise ValueError(
                "Invalid value for `stimulus_ids`: expected one id per trial "
                f"(length {responses.shape[0]} = responses.shape[0]), got {len(stimulus_ids)} ids."
            )
        check_option("modality", modality, MODALITIES)
        if units is None:
            units = pd.DataFrame(
                {"roi": ["unknown"] * responses.shape[1]},
                index=[f"unit{k:05d}" for k in range(responses.shape[1])],
            )
        elif not isinstance(units, pd.DataFrame):
            raise TypeError(
                f"Invalid value for `units`: expected a pandas DataFrame, got {describe(units)}."
            )
        else:
            units = units.copy()
        if len(units) != responses.shape[1]:
            raise ValueError(
                "Invalid value for `units`: expected one row per unit "
                f"({responses.shape[1]} = responses.shape[1]), got {len(units)} rows."
            )
        if "roi" not in units.columns:
            raise ValueError(
                "Invalid value for `units`: expected a 'roi' column, got columns "
                f"{list(units.columns)}. Add units['roi'] = 'unknown' if ROIs are not known."
            )
        if isinstance(units.index, pd.RangeIndex):
            units.index = [f"unit{k:05d}" for k in range(len(units))]
        units.index = units.index.map(str)
        if units.index.has_duplicates:
            dup = units.index[units.index.duplicated()].unique()[:5].tolist()
            raise ValueError(f"Invalid value for `units`: duplicated unit names {dup}.")
        if runs is not None:
            runs = np.asarray(runs)
            if runs.shape != (responses.shape[0],):
                raise ValueError(
                    f"Invalid value for `runs`: expected shape ({responses.shape[0]},), "
                    f"got {runs.shape}."
                )
        meta = dict(meta or {})
        bad = ~np.isfinite(responses).all(axis=0)
        if bad.any():
            names = units.index[bad].tolist()
            if not drop_nonfinite:
                raise ValueError(
                    f"Invalid value for `responses`: {int(bad.sum())} unit(s) contain NaN or inf, "
                    f"e.g. {names[:8]}. Pass drop_nonfinite=True to drop them explicitly."
                )
            logger.info("Dropping %d unit(s) with non-finite responses: %s", bad.sum(), names[:8])
            responses = responses[:, ~bad]
            units = units.loc[~bad]
            meta["dropped_units"] = list(meta.get("dropped_units", [])) + names
        if responses.shape[0] >= 2:
            const = np.ptp(responses, axis=0) == 0
            if const.any():
                names = units.index[const].tolist()
                if not drop_constant:
                    raise ValueError(
                        f"Invalid value for `responses`: {int(const.sum())} unit(s) are constant "
                        f"over trials (zero variance), e.g. {names[:8]}. Pass drop_constant=True "
                        "to drop them explicitly."
                    )
                logger.info("Dropping %d constant unit(s): %s", const.sum(), names[:8])
                responses = responses[:, ~const]
                units = units.loc[~const]
                meta["dropped_units"] = list(meta.get("dropped_units", [])) + names
        if responses.shape[1] == 0:
            raise ValueError(
                "Invalid value for `responses`: expected at least 1 unit left after dropping "
                f"non-finite or constant units, got none ({len(meta['dropped_units'])} dropped, "
                f"e.g. {meta['dropped_units'][:5]}). Check the data before dropping units."
            )
        self.responses = responses
        self.stimulus_ids = stimulus_ids
        self.units = units
        self.subject = str(subject)
        self.modality = modality
        self.space = space
        self.runs = runs
        self.meta = meta

    # ------------------------------------------------------------------ basics
    @property
    def n_trials(self):
        """Number of trials (rows of ``responses``)."""
        return self.responses.shape[0]

    @property
    def n_units(self):
        """Number of units (columns of ``responses``)."""
        return self.responses.shape[1]

    @property
    def rois(self):
        """Sorted unique ROI names."""
        return sorted(self.units["roi"].astype(str).unique())

    @property
    def is_timeseries(self):
        """True when rows are samples of a continuous recording (``meta["mode"] == "timeseries"``)."""
        return self.meta.get("mode") == "timeseries"

    def sample_times(self):
        """Time of every row within its run, in seconds (time-series recordings).

        Row ``k`` of a run is at ``t0 + k * dt``: ``dt`` is ``meta["tr"]`` or
        ``1 / meta["sfreq"]``, ``t0`` is ``meta.get("first_sample_time", 0)``.

        Returns
        -------
        times : ndarray, shape (n_trials,)
            Seconds from the start of each row's run.
        """
        if not self.is_timeseries:
            raise ValueError(
                "Recording.sample_times() needs a time-series recording (meta['mode'] == "
                f"'timeseries'), got mode {self.meta.get('mode')!r}."
            )
        if self.meta.get("tr") is not None:
            dt = float(self.meta["tr"])
        elif self.meta.get("sfreq") is not None:
            dt = 1.0 / float(self.meta["sfreq"])
        else:
            raise ValueError(
                "Invalid value for `meta`: a time-series recording needs meta['tr'] (seconds) "
                "or meta['sfreq'] (Hz) to place its samples in time, got neither."
            )
        t0 = float(self.meta.get("first_sample_time", 0.0))
        runs = np.zeros(self.n_trials, dtype=int) if self.runs is None else self.runs
        index = np.empty(self.n_trials, dtype=float)
        for label in pd.unique(runs):
            rows = np.flatnonzero(runs == label)
            index[rows] = np.arange(len(rows))
        return t0 + index * dt

    def __repr__(self):
        n_stim = len(set(self.stimulus_ids) - {""})
        rows = "time points" if self.meta.get("mode") == "timeseries" else "trials"
        return (
            f"<Recording {self.subject} ({self.modality}): {self.n_trials} {rows} with "
            f"{n_stim} stimuli x {self.n_units} units in {len(self.rois)} ROI(s) {self.rois[:6]}>"
        )

    def _replace(self, responses=None, stimulus_ids=None, units=None, runs=None, meta=None):
        """A new Recording sharing this one's fields except those given."""
        out = object.__new__(type(self))
        out.responses = self.responses if responses is None else responses
        out.stimulus_ids = self.stimulus_ids if stimulus_ids is None else stimulus_ids
        out.units = self.units if units is None else units
        out.subject = self.subject
        out.modality = self.modality
        out.space = self.space
        out.runs = self.runs if runs is None else runs
        out.meta = dict(self.meta if meta is None else meta)
        return out

    # --------------------------------------------------------------- selection
    def select(self, roi=None, units=None):
        """Keep a subset of units.

        Parameters
        ----------
        roi : str | list of str | None
            ROI name(s) to keep; unknown names raise an error listing the
            available ones.
        units : list of str | boolean array (n_units,) | None
            Unit names or a mask.

        Returns
        -------
        Recording
        """
        mask = np.ones(self.n_units, dtype=bool)
        if roi is not None:
            wanted = [roi] if isinstance(roi, str) else list(roi)
            unknown = [r for r in wanted if r not in self.rois]
            if unknown:
                raise ValueError(
                    f"Invalid value for `roi`: unknown ROI name(s) {unknown}; this recording has "
                    f"{self.rois}."
                )
            mask &= self.units["roi"].astype(str).isin(wanted).to_numpy()
        if units is not None:
            units_arr = np.asarray(units)
            if units_arr.dtype == bool:
                if units_arr.shape != (self.n_units,):
                    raise ValueError(
                        f"Invalid value for `units`: expected a boolean mask of shape "
                        f"({self.n_units},), got shape {units_arr.shape}."
                    )
                mask &= units_arr
            else:
                names = [str(u) for u in units_arr]
                missing = [u for u in names if u not in self.units.index]
                if missing:
                    raise ValueError(
                        f"Invalid value for `units`: unknown unit name(s) {missing[:5]}."
                    )
                mask &= self.units.index.isin(names)
        if not mask.any():
            what = ("`units`" if roi is None
                    else "`roi` and `units`" if units is not None else "`roi`")
            raise ValueError(
                f"Invalid value for {what}: expected a selection of at least 1 unit, got none of "
                f"the {self.n_units} units (roi={roi!r}). An empty Recording cannot be fitted "
                "or scored."
            )
        return self._replace(responses=self.responses[:, mask], units=self.units.loc[mask])

    def select_trials(self, mask_or_index):
        """Keep a subset of trials (boolean mask or integer positions)."""
        idx = np.asarray(mask_or_index)
        if idx.dtype == bool and idx.shape != (self.n_trials,):
            raise ValueError(
                f"Invalid value for `mask_or_index`: expected a mask of shape ({self.n_trials},), "
                f"got {idx.shape}."
            )
        if (idx.sum() if idx.dtype == bool else idx.size) == 0:
            raise ValueError(
                "Invalid value for `mask_or_index`: expected a selection of at least 1 trial, got "
                f"none of the {self.n_trials} trials. An empty Recording cannot be fitted or "
                "scored."
            )
        return self._replace(
            responses=self.responses[idx],
            stimulus_ids=self.stimulus_ids[idx],
            runs=None if self.runs is None else self.runs[idx],
        )

    # ----------------------------------------------------------------- repeats
    def repeat_counts(self):
        """Number of trials per stimulus id, as a pandas Series (id -> count)."""
        ids = pd.Series(self.stimulus_ids)
        return ids[ids != ""].value_counts(sort=False)

    def average_repeats(self):
        """Average the trials of each stimulus.

        Returns
        -------
        Recording
            One trial per unique stimulus id, in order of first appearance;
            ``meta["n_repeats"]`` holds the number of trials averaged for
            each, shape (n_stimuli,). ``runs`` is dropped (trials of one
            stimulus may come from several runs).
        """
        ids = self.stimulus_ids
        keep = ids != ""
        codes, uniques = pd.factorize(ids[keep])
        counts = np.bincount(codes, minlength=len(uniques))
        sums = np.zeros((len(uniques), self.n_units), dtype=np.float64)
        np.add.at(sums, codes, self.responses[keep])
        means = (sums / counts[:, None]).astype(self.responses.dtype, copy=False)
        meta = dict(self.meta)
        meta["n_repeats"] = counts
        out = self._replace(
            responses=means, stimulus_ids=np.asarray(uniques, dtype=object), meta=meta
        )
        out.runs = None
        return out

    # ------------------------------------------------- ceilings, splits, files
    def noise_ceiling(self, n_average=1, method="ncsnr", **kwargs):
        """Noise ceiling per unit as a fraction of variance, shape (n_units,).

        Calls :func:`neurotoolkit.data.noise_ceiling` on this recording; see
        it for ``n_average`` (int, array of counts or ``"data"``), ``method``
        (``"ncsnr"`` or ``"split_half"``) and the keyword arguments
        (``zscore_by`` may be ``"runs"``).
        """
        from ._noise_ceiling import noise_ceiling

        return noise_ceiling(self, n_average=n_average, method=method, **kwargs)

    def split(self, test_size=0.2, test_ids=None, random_state=None, stratify=None):
        """Split trials into (train, test) Recordings by stimulus id.

        See :func:`neurotoolkit.data.train_test_split`.
        """
        from ._splits import train_test_split

        return train_test_split(
            self,
            test_size=test_size,
            test_ids=test_ids,
            random_state=random_state,
            stratify=stratify,
        )

    def save(self, fname, overwrite=False):
        """Save to an HDF5 file (``.h5``/``.hdf5``).

        See :func:`neurotoolkit.data.save_recording`; returns the path.
        """
        from ._io import save_recording

        return save_recording(self, fname, overwrite=overwrite)

    @classmethod
    def load(cls, fname):
        """Load a Recording saved with :meth:`save`."""
        from ._io import load_recording

        return load_recording(fname)

    @classmethod
    def _from_fields(cls, responses, stimulus_ids, units, subject, modality, space, runs, meta):
        """Build without validation (fields from a trusted source, e.g. our own files)."""
        out = object.__new__(cls)
        out.responses = responses
        out.stimulus_ids = stimulus_ids
        out.units = units
        out.subject = subject
        out.modality = modality
        out.space = space
        out.runs = runs
        out.meta = meta
        return out

    # ---------------------------------------------------------------- geometry
    def _check_values(self, values):
        values = np.asarray(values)
        if values.dtype.kind not in "biuf" or values.ndim not in (1, 2) or (
            values.shape[-1] != self.n_units
        ):
            raise ValueError(
                f"Invalid value for `values`: expected a numeric array (n_units,) or (n_maps, "
                f"n_units) with n_units={self.n_units}, got {describe(values)}."
            )
        if values.dtype.kind != "f":
            values = values.astype(np.float64)
        return values

    def to_nifti(self, values, fill_value=0.0):
        """Put one value per voxel back into the brain volume.

        Needs ``units`` columns ``i, j, k`` (voxel indices), ``meta["affine"]``
        (4, 4) and ``meta["volume_shape"]`` (3,), as the fMRI loaders store.

        Parameters
        ----------
        values : array, shape (n_units,) | (n_maps, n_units)
            E.g. scores or noise ceilings per voxel.
        fill_value : float
            Value of voxels that are not units (0, as nilearn's ``unmask``).

        Returns
        -------
        img : nibabel.Nifti1Image
            3-D (volume_shape) for 1-D values, 4-D (volume_shape + (n_maps,))
            for 2-D values.
        """
        if self.modality not in ("fmri", "sim"):
            raise ValueError(
                f"to_nifti needs an fMRI recording, got modality={self.modality!r}; use "
                "neurotoolkit.viz for sensor or electrode maps."
            )
        missing = [c for c in ("i", "j", "k") if c not in self.units.columns]
        missing += [f'meta["{k}"]' for k in ("affine", "volume_shape") if k not in self.meta]
        if missing:
            raise ValueError(
                f"to_nifti needs the voxel geometry, but this recording lacks {missing}: units "
                "columns i, j, k (voxel indices), meta['affine'] (4x4) and meta['volume_shape'] "
                "(3,). Recordings from load_fmri have them."
            )
        affine = np.asarray(self.meta["affine"], dtype=np.float64)
        shape = tuple(int(v) for v in np.asarray(self.meta["volume_shape"]).ravel())
        if affine.shape != (4, 4) or len(shape) != 3:
            raise ValueError(
                "Invalid value for `meta`: expected meta['affine'] of shape (4, 4) and "
                f"meta['volume_shape'] of length 3, got {affine.shape} and {shape}."
            )
        values = self._check_values(values)
        ijk = self.units[["i", "j", "k"]].to_numpy()
        if ijk.dtype.kind not in "iu" or (ijk < 0).any() or (ijk >= np.array(shape)).any():
            raise ValueError(
                f"Invalid value for `units`: columns i, j, k must be integer voxel indices "
                f"inside volume_shape {shape}."
            )
        nib = require("nibabel", "Recording.to_nifti")
        if values.ndim == 1:
            data = np.full(shape, fill_value, dtype=values.dtype)
            data[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = values
        else:
            data = np.full(shape + (values.shape[0],), fill_value, dtype=values.dtype)
            data[ijk[:, 0], ijk[:, 1], ijk[:, 2], :] = values.T
        img = nib.Nifti1Image(data, affine)
        img.header.set_xyzt_units("mm")
        return img

    def to_surface(self, values):
        """Put one value per vertex back onto the cortical surface, per hemisphere.

        Needs ``units`` columns ``hemisphere`` ("left"/"right", or "lh"/"rh",
        "L"/"R") and ``vertex`` (int).

        Parameters
        ----------
        values : array, shape (n_units,) | (n_maps, n_units)

        Returns
        -------
        maps : dict
            ``{"left": array (n_vertices_left,), "right": ...}`` (with a
            leading n_maps axis for 2-D values), NaN where no unit.
            ``n_vertices`` comes from ``meta["n_vertices"]`` (a dict per
            hemisphere, which also adds hemispheres without units) or is the
            largest vertex index + 1.
        """
        missing = [c for c in ("hemisphere", "vertex") if c not in self.units.columns]
        if missing:
            raise ValueError(
                f"to_surface needs units columns 'hemisphere' and 'vertex', but {missing} are "
                f"missing (columns: {list(self.units.columns)})."
            )
        values = self._check_values(values)
        hemi = self.units["hemisphere"].astype(str).str.lower().map(_HEMI)
        if hemi.isna().any():
            bad = sorted(set(self.units["hemisphere"].astype(str)[hemi.isna()]))[:5]
            raise ValueError(
                f"Invalid value for `units`: unknown hemisphere label(s) {bad}; expected "
                "'left'/'right' (or 'lh'/'rh', 'L'/'R')."
            )
        vertex = self.units["vertex"].to_numpy()
        if vertex.dtype.kind not in "iu" or (vertex < 0).any():
            raise ValueError("Invalid value for `units`: column 'vertex' must hold ints >= 0.")
        given = dict(self.meta.get("n_vertices", {}))
        n_vertices = {_HEMI.get(str(k).lower(), k): int(v) for k, v in given.items()}
        out = {}
        for h in ("left", "right"):
            sel = (hemi == h).to_numpy()
            if not sel.any() and h not in n_vertices:
                continue
            v = vertex[sel]
            if len(np.unique(v)) != len(v):
                raise ValueError(
                    f"Invalid value for `units`: duplicated vertices in the {h} hemisphere."
                )
            n = n_vertices.get(h, int(v.max()) + 1 if v.size else 0)
            if v.size and v.max() >= n:
                raise ValueError(
                    f"Invalid value for `meta`: n_vertices[{h!r}] = {n} but a unit has vertex "
                    f"{int(v.max())}."
                )
            arr = np.full(values.shape[:-1] + (n,), np.nan, dtype=values.dtype)
            arr[..., v] = values[..., sel]
            out[h] = arr
        return out


def _check_not_empty(name, shape):
    """Raise when a (n_trials, n_units) array has no trial or no unit."""
    if shape[0] == 0 or shape[1] == 0:
        axis = "trial (row)" if shape[0] == 0 else "unit (column)"
        raise ValueError(
            f"Invalid value for `{name}`: expected at least 1 trial and 1 unit (n_trials, "
            f"n_units), got shape {shape} with no {axis}. Check the loading or selection step "
            "that produced it."
        )


_HEMI = {"left": "left", "lh": "left", "l": "left", "right": "right", "rh": "right", "r": "right"}


def concatenate_recordings(recordings):
    """Append the trials of several recordings of the same units.

    Parameters
    ----------
    recordings : list of Recording
        Same subject, modality and unit names (in the same order).

    Returns
    -------
    Recording
        Trials in order; units, space and meta from the first recording
        (``meta["concatenated"]`` counts the parts). ``runs`` are
        concatenated when every part has them; when none has, each part
        becomes one run (0, 1, ...). Run labels shared by different parts
        are kept as the same run (a warning says so).
    """
    recordings = list(recordings)
    if not recordings or not all(isinstance(r, Recording) for r in recordings):
        raise TypeError(
            "Invalid value for `recordings`: expected a non-empty list of Recording, got "
            f"{describe(recordings)}."
        )
    first = recordings[0]
    for k, rec in enumerate(recordings[1:], start=1):
        if (rec.subject, rec.modality) != (first.subject, first.modality):
            raise ValueError(
                f"Invalid value for `recordings`: recording {k} is {rec.subject}/{rec.modality} "
                f"but recording 0 is {first.subject}/{first.modality}."
            )
        if not rec.units.index.equals(first.units.index):
            raise ValueError(
                f"Invalid value for `recordings`: recording {k} does not have the same units, in "
                "the same order, as recording 0; align them with .select(units=...) first."
            )
    has_runs = [r.runs is not None for r in recordings]
    if all(has_runs):
        runs = np.concatenate([r.runs for r in recordings])
        labels = [set(np.unique(r.runs).tolist()) for r in recordings]
        if sum(len(s) for s in labels) != len(set().union(*labels)):
            warn(
                "concatenate_recordings: some run labels appear in several recordings and are "
                "treated as the same run; relabel runs first if they are different runs."
            )
    elif not any(has_runs):
        runs = np.concatenate([np.full(r.n_trials, k) for k, r in enumerate(recordings)])
    else:
        raise ValueError(
            "Invalid value for `recordings`: some recordings have runs and others do not "
            f"(runs present: {has_runs})."
        )
    meta = dict(first.meta)
    meta["concatenated"] = len(recordings)
    return first._replace(
        responses=np.concatenate([r.responses for r in recordings], axis=0),
        stimulus_ids=np.concatenate([r.stimulus_ids for r in recordings]).astype(object),
        runs=runs,
        meta=meta,
    )
