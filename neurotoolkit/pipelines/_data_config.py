"""Config schemas of the data sources (the ``data`` section of every pipeline).

``DataConfig`` is a union discriminated on ``source``: ``simulate``, ``bids``
(BIDS / fMRIPrep derivatives), ``nsd`` (NSD-layout betas), ``ephys``
(MNE-readable files or a BIDS electrophysiology dataset), ``recording``
(saved ``Recording`` files) and ``dataset`` (a named public dataset).
"""

from pathlib import Path
from typing import Annotated, Any, Dict, List, Literal, Optional, Tuple, Union

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from ._config import ExistingDir, ExistingFile, Strict

__all__ = [
    "BetasConfig",
    "BidsData",
    "DataConfig",
    "DatasetData",
    "EphysData",
    "NsdData",
    "RecordingData",
    "SimulateData",
]

_Stimuli = Optional[ExistingDir]
_STIMULI_HELP = "folder of stimulus images (ids = file names without extension); null: none"


class SimulateData(Strict):
    """``neurotoolkit.simulation.simulate_recordings`` on the built-in images or a folder."""

    source: Literal["simulate"]
    stimuli: str = Field("builtin", description='"builtin" or a folder of images')
    n_per_category: PositiveInt = Field(20, description="built-in set: images per category")
    n_subjects: PositiveInt = 2
    n_units_per_roi: Optional[Union[PositiveInt, Dict[str, PositiveInt]]] = None
    snr: Optional[Union[PositiveFloat, Dict[str, float]]] = None
    n_train: Optional[PositiveInt] = None
    n_test: Optional[PositiveInt] = None
    n_repeats_train: PositiveInt = 1
    n_repeats_test: PositiveInt = 3
    modality: Literal["fmri", "seeg", "meg", "eeg", "ecog"] = "fmri"
    mode: Literal["trials", "timeseries", "time_resolved"] = "trials"
    tr: PositiveFloat = 2.0
    n_runs: PositiveInt = 4
    windows: Tuple[float, float, float] = (-0.1, 0.6, 0.05)
    shared_tuning: float = Field(0.8, ge=0.0, le=1.0)
    ts_noise: float = Field(0.1, ge=0.0)

    @field_validator("stimuli")
    @classmethod
    def _folder_exists(cls, value):
        if value != "builtin" and not Path(value).expanduser().is_dir():
            raise ValueError(f'expected "builtin" or an existing folder of images, got {value!r} '
                             "(no such folder)")
        return value


class BetasConfig(Strict):
    """Keyword arguments of ``neurotoolkit.data.estimate_betas`` (nilearn first-level GLM)."""

    method: Literal["lsa", "lss", "blocks", "conditions"] = "lsa"
    hrf_model: str = "glover"
    drift_model: Optional[str] = "cosine"
    high_pass: Optional[float] = 0.01
    noise_model: str = "ar1"


class BidsData(Strict):
    """A BIDS dataset, optionally with fMRIPrep derivatives (BOLD + events + mask or atlas)."""

    source: Literal["bids"]
    root: ExistingDir = Field(..., description="BIDS dataset root (holds sub-*/func/*_events.tsv)")
    derivatives: Optional[ExistingDir] = Field(
        None, description="fMRIPrep output folder (preprocessed BOLD); null: BOLD from `root`")
    task: str = Field(..., description="BIDS task label (task-<label>)")
    subjects: Optional[List[str]] = Field(None, description="subject labels without 'sub-'; null: all")
    sessions: Optional[List[str]] = Field(None, description="session labels; null: all")
    runs: Optional[List[int]] = Field(None, description="run numbers; null: all")
    space: Optional[str] = Field(None, description="space-<label> of the BOLD files (e.g. "
                                 "MNI152NLin2009cAsym); null: any (must be unique)")
    desc: Optional[str] = Field("preproc", description="desc-<label> of derivative BOLD files")
    mask: Optional[str] = Field(
        "auto", description='brain mask file; "auto": the fMRIPrep desc-brain_mask of the first run; '
        "null: voxels whose signal varies")
    atlas: Optional[ExistingFile] = Field(None, description="integer label image on the BOLD grid")
    atlas_labels: Optional[Dict[int, str]] = Field(None, description="atlas label -> ROI name")
    rois: Optional[Dict[str, ExistingFile]] = Field(None, description="ROI name -> binary mask file")
    stim_column: Optional[str] = Field(None, description="events column of stimulus ids "
                                       "(default stim_id when present, else trial_type)")
    confounds: Optional[List[str]] = Field(
        None, description="fMRIPrep confound columns (desc-confounds_timeseries.tsv) to regress out")
    responses: Literal["betas", "timeseries"] = Field(
        "betas", description="one beta per trial (estimate_betas) or the time series")
    betas: BetasConfig = BetasConfig()
    standardize: bool = False
    detrend: bool = False
    high_pass: Optional[float] = None
    tr: Optional[PositiveFloat] = Field(None, description="repetition time; null: NIfTI header")
    stimuli: _Stimuli = Field(None, description=_STIMULI_HELP)

    @field_validator("mask")
    @classmethod
    def _mask_exists(cls, value):
        if value not in (None, "auto") and not Path(value).expanduser().is_file():
            raise ValueError(f'expected "auto", null or an existing mask file, got {value!r} '
                             "(no such file)")
        return value

    @model_validator(mode="after")
    def _one_roi_source(self):
        if self.atlas is not None and self.rois is not None:
            raise ValueError("give either `atlas` (+ `atlas_labels`) or `rois`, not both")
        return self


class NsdData(Strict):
    """Natural Scenes Dataset layout: betas_sessionNN.hdf5/.nii.gz + a stimulus-order table."""

    source: Literal["nsd"]
    subjects: Dict[str, ExistingDir] = Field(
        ..., description="subject -> folder of betas_sessionNN files (e.g. subj01: .../betas_fithrf_GLMdenoise_RR)")
    stim_order: Dict[str, ExistingFile] = Field(
        ..., description="subject -> CSV/TSV with session, trial, stim_id columns")
    masks: Optional[Dict[str, ExistingFile]] = Field(None, description="subject -> ROI mask (e.g. nsdgeneral)")
    roi: str = "nsdgeneral"
    sessions: Optional[List[PositiveInt]] = None
    scale: Optional[float] = 300.0
    zscore: bool = True
    average_repeats: bool = False
    space: str = "func1pt8mm"
    stimuli: _Stimuli = Field(None, description=_STIMULI_HELP)

    @model_validator(mode="after")
    def _same_subjects(self):
        for name in ("stim_order", "masks"):
            table = getattr(self, name)
            if table is not None and set(table) != set(self.subjects):
                raise ValueError(f"`{name}` must name the same subjects as `subjects` "
                                 f"({sorted(self.subjects)}), got {sorted(table)}")
        return self


class EphysData(Strict):
    """MNE-readable recordings (or a BIDS ephys dataset via mne-bids), epoched around events."""

    source: Literal["ephys"]
    files: Optional[Dict[str, Union[ExistingFile, List[ExistingFile]]]] = Field(
        None, description="subject -> file (or list of runs), any format mne.io.read_raw reads")
    bids_root: Optional[ExistingDir] = Field(None, description="BIDS root read with mne-bids")
    subjects: Optional[List[str]] = Field(None, description="BIDS: subject labels; null: all")
    task: Optional[str] = None
    datatype: Literal["eeg", "meg", "ieeg"] = "eeg"
    events: str = Field("annotations", description='"annotations", "stim_channel" or an events .tsv')
    stimulus_ids: Optional[Union[str, List[str], Dict[str, str]]] = Field(
        None, description="events to keep (descriptions) or a trial type -> stimulus id map")
    tmin: float = -0.2
    tmax: float = 0.8
    windows: Union[float, str] = Field(0.1, description='window length (s) or "samples"')
    picks: Optional[Union[str, List[str]]] = None
    preprocessing: Optional[List[Dict[str, Dict[str, Any]]]] = Field(
        None, description="steps of preprocess_raw, e.g. [{bandpass: {l_freq: 1, h_freq: 30}}]")
    baseline: Optional[Tuple[Optional[float], Optional[float]]] = None
    ch_types: Optional[Dict[str, str]] = Field(None, description="channel -> type, e.g. {EOG1: eog}")
    modality: Optional[str] = None
    on_outside: Literal["raise", "drop"] = "raise"
    stimuli: _Stimuli = Field(None, description=_STIMULI_HELP)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.files is None) == (self.bids_root is None):
            raise ValueError("give exactly one of `files` and `bids_root`")
        return self


class RecordingData(Strict):
    """Recordings saved with ``Recording.save`` (.h5), one per subject."""

    source: Literal["recording"]
    files: Dict[str, ExistingFile] = Field(..., description="subject -> saved Recording (.h5)")
    stimuli: _Stimuli = Field(None, description=_STIMULI_HELP)


class DatasetData(Strict):
    """A public dataset through its loader (fetched into ``data_home``; offline with a mirror)."""

    source: Literal["dataset"]
    name: Literal["haxby", "eeglab_sample", "92objects"]
    data_home: Optional[str] = Field(None, description="data folder; null: NEUROTOOLKIT_DATA or default")
    responses: Literal["betas", "timeseries"] = Field(
        "betas", description="haxby: one beta per block (estimate_betas) or the time series")
    betas: BetasConfig = BetasConfig(method="blocks")
    tmin: float = Field(-0.2, description="eeglab_sample: epoch start (s)")
    tmax: float = Field(0.8, description="eeglab_sample: epoch end (s)")
    windows: Union[float, str] = Field(0.1, description='eeglab_sample: window length (s) or "samples"')
    stimulus_ids: Optional[Union[str, List[str]]] = Field(
        ["square", "rt"], description="eeglab_sample: annotation descriptions kept as trials")
    preprocessing: Optional[List[Dict[str, Dict[str, Any]]]] = Field(
        [{"bandpass": {"l_freq": 1.0, "h_freq": 30.0}}, {"reference": {"method": "average"}},
         {"resample": {"sfreq": 64}}], description="eeglab_sample: steps of preprocess_raw")
    baseline: Optional[Tuple[Optional[float], Optional[float]]] = Field(
        (None, 0.0), description="eeglab_sample: epoch baseline interval")


DataConfig = Annotated[
    Union[SimulateData, BidsData, NsdData, EphysData, RecordingData, DatasetData],
    Field(discriminator="source"),
]
