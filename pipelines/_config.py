"""Typed schema of the pipeline configs (pydantic), validated before any work starts.

Unknown or misspelt keys at any depth, wrong types and missing files are
errors that name the key path (``model.alpha``), what was expected and what
was given.
"""

from pathlib import Path
from typing import Dict, List, Literal, Optional, Tuple, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError
from pydantic import field_validator

__all__ = ["ConfigError", "EncodeConfig", "validate_config"]


class ConfigError(ValueError):
    """A config that does not match its schema (the message lists every problem by key path)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class SimulateConfig(_Strict):
    """Keyword arguments of ``neurotoolkit.simulation.simulate_recordings`` (plus the built-in set)."""

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
        if value != "builtin" and not Path(value).is_dir():
            raise ValueError(f'expected "builtin" or an existing folder of images, got {value!r} '
                             "(no such folder)")
        return value


class GaborParams(_Strict):
    """Keyword arguments of ``neurotoolkit.features.GaborPyramid``."""

    n_orientations: PositiveInt = 8
    spatial_frequencies: Optional[List[PositiveFloat]] = None
    grid_sizes: List[PositiveInt] = [1, 2, 4]
    image_size: PositiveInt = 64
    output: Literal["energy", "log_energy"] = "energy"
    dtype: Literal["float32", "float64"] = "float32"
    batch_size: PositiveInt = 64


class FeatureSpaceConfig(_Strict):
    kind: Literal["gabor"] = "gabor"
    params: GaborParams = GaborParams()


class ModelConfig(_Strict):
    """Keyword arguments of ``neurotoolkit.encoding.VoxelwiseEncoder``."""

    alphas: Optional[List[PositiveFloat]] = None
    cv: PositiveInt = 5
    alpha_selection: Literal["best", "1se", "shared"] = "best"


class EncodeConfig(_Strict):
    """The ``encode`` pipeline (``python -m pipelines.encode --config ...``)."""

    name: str = "encode"
    output_dir: str = "outputs/encode"
    random_state: int = 0
    simulate: SimulateConfig = SimulateConfig()
    features: Dict[str, FeatureSpaceConfig] = {"gabor": FeatureSpaceConfig()}
    model: ModelConfig = ModelConfig()

    @field_validator("features")
    @classmethod
    def _at_least_one(cls, value):
        if not value:
            raise ValueError("expected at least one feature space")
        return value


def _describe(error):
    path = ".".join(str(p) for p in error["loc"]) or "<root>"
    given = error.get("input")
    if error["type"] == "extra_forbidden":
        return f"`{path}`: unknown key (misspelt?); given {given!r}"
    msg = error["msg"].removeprefix("Value error, ")
    return f"`{path}`: {msg}; given {given!r}"


def validate_config(raw, schema=EncodeConfig, source="config"):
    """Validate a config dict; return the validated model or raise ConfigError listing every problem.

    Parameters
    ----------
    raw : dict
        The config as read from YAML.
    schema : type of pydantic.BaseModel
    source : str
        Where the config came from (a file name), for the message.

    Returns
    -------
    config : schema instance
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"Invalid value for `config` in {source}: expected a mapping of keys, "
                          f"got {type(raw).__name__}.")
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        problems = "\n  ".join(_describe(e) for e in err.errors())
        raise ConfigError(f"Invalid config {source} ({err.error_count()} problem(s)):\n  {problems}"
                          ) from None
