"""Typed config schemas (pydantic), validated before any work starts.

Unknown or misspelt keys at any depth, wrong types and missing files are
errors that name the key path (``model.alpha``), what was expected and what
was given. The shared sub-schemas (``DataConfig``, ``FeaturesConfig``) are used
by every pipeline; the data sources live in :mod:`._data_config`.
"""

import re
from pathlib import Path
from typing import Annotated, Any, Dict, List, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, ValidationError

__all__ = [
    "ConfigError",
    "ExistingDir",
    "ExistingFile",
    "FeaturesConfig",
    "ModelConfig",
    "Strict",
    "config_paths",
    "validate_config",
]


class ConfigError(ValueError):
    """A config that does not match its schema (the message lists every problem by key path)."""


class Strict(BaseModel):
    """Base of every config node: unknown keys are errors, defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True, protected_namespaces=())


def _existing_file(value):
    path = Path(value).expanduser()
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise ValueError(f"expected an existing file ({what})")
    return path


def _existing_dir(value):
    path = Path(value).expanduser()
    if not path.is_dir():
        what = "a file" if path.exists() else "no such folder"
        raise ValueError(f"expected an existing folder ({what})")
    return path


#: A path that must name an existing file (checked at validation, with the key path).
ExistingFile = Annotated[Path, AfterValidator(_existing_file)]
#: A path that must name an existing folder.
ExistingDir = Annotated[Path, AfterValidator(_existing_dir)]


# ----------------------------------------------------------------------------- features
class GaborParams(Strict):
    """Keyword arguments of ``neurotoolkit.features.GaborPyramid``."""

    n_orientations: PositiveInt = 8
    spatial_frequencies: Optional[List[float]] = None
    grid_sizes: List[PositiveInt] = [1, 2, 4]
    image_size: PositiveInt = 64
    output: Literal["energy", "log_energy"] = "energy"
    dtype: Literal["float32", "float64"] = "float32"
    batch_size: PositiveInt = 64


class GaborFeatures(Strict):
    """The weight-free Gabor pyramid (Kay et al., 2008, Nature)."""

    kind: Literal["gabor"] = "gabor"
    params: GaborParams = GaborParams()


class BackboneFeatures(Strict):
    """Layer activations of a registered backbone (``neurotoolkit.features.get_backbone``)."""

    kind: Literal["backbone"]
    name: str = Field(..., description='registered backbone, e.g. "open_clip:ViT-B-32" or "hf:<folder>"')
    layers: Union[str, List[str]] = Field("embedding", description="layer name(s); one space per layer")
    weights: Optional[str] = Field(
        None, description='local checkpoint file, a hub tag (e.g. "laion2b_s34b_b79k"), "random" '
        "(random-init control, seeded by random_state); null: the backbone's default weights")
    options: Dict[str, Any] = Field(
        {}, description="backend keyword arguments of get_backbone (model_cfg, cache_dir, "
        "local_files_only...)")
    pooling: str = Field("auto", description="token/spatial pooling (extract_features)")
    batch_size: PositiveInt = 32
    device: str = "auto"
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"


class PrecomputedFeatures(Strict):
    """Features from a file: HDF5 / NPZ with ``features`` and ``stimulus_ids`` arrays, or NPY + ids."""

    kind: Literal["precomputed"]
    file: ExistingFile = Field(..., description=".h5/.hdf5/.npz (features + stimulus_ids) or .npy")
    key: str = Field("features", description="dataset (HDF5) or array (NPZ) holding the features")
    ids_key: str = Field("stimulus_ids", description="dataset/array holding the stimulus ids")
    ids_file: Optional[ExistingFile] = Field(
        None, description=".npy file: a text file of stimulus ids, one per line (one per row)")


class CategoryFeatures(Strict):
    """One-hot (or boolean) columns of the stimulus categories."""

    kind: Literal["category"]
    columns: Optional[List[str]] = Field(
        None, description="category columns to use (default all); a single label column is one-hot coded")


FeatureSpec = Annotated[
    Union[GaborFeatures, BackboneFeatures, PrecomputedFeatures, CategoryFeatures],
    Field(discriminator="kind"),
]
#: name -> feature space spec; several spaces -> banded ridge in the encode pipeline.
FeaturesConfig = Dict[str, FeatureSpec]


# ----------------------------------------------------------------------------- model
class ModelConfig(Strict):
    """Keyword arguments of ``neurotoolkit.encoding.VoxelwiseEncoder``."""

    alphas: Optional[List[float]] = Field(None, description="ridge penalties; null: data-scaled grid")
    cv: PositiveInt = 5
    alpha_selection: Literal["best", "1se", "shared"] = "best"
    backend: str = "auto"
    device: str = "auto"


# ----------------------------------------------------------------------------- validation
def _describe(error):
    path = ".".join(str(p) for p in error["loc"]) or "<root>"
    given = error.get("input")
    if error["type"] == "extra_forbidden":
        return f"`{path}`: unknown key (misspelt?); given {given!r}"
    if error["type"] == "missing":
        return f"`{path}`: required key is missing"
    if error["type"] == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return (f"`{path}`: expected {ctx.get('discriminator', 'a tag')} to be one of "
                f"{ctx.get('expected_tags')}; given {ctx.get('tag')!r}")
    msg = error["msg"].removeprefix("Value error, ")
    return f"`{path}`: {msg}; given {given!r}"


_TYPE_LABEL = re.compile(r"^(constrained-\w+|literal\[.*\]|function-\w+\[.*\]|[a-z]+\[.*\]|int|float|str|"
                         r"bool|none|list|dict|tuple|path|union\[.*\])$")


def _clean_loc(error, raw):
    """Drop the union members pydantic puts into locations (``data.bids.root`` -> ``data.root``,
    ``model.cv.constrained-int`` -> ``model.cv``)."""
    loc, node = [], raw
    for item in error["loc"]:
        if isinstance(node, dict) and item not in node and item in node.values():
            continue  # a discriminator value (source: bids), not a key
        if isinstance(item, str) and not (isinstance(node, dict) and item in node) \
                and _TYPE_LABEL.match(item):
            continue  # a member of a plain union (int | "auto")
        loc.append(item)
        if isinstance(node, dict):
            node = node.get(item)
        elif isinstance(node, list) and isinstance(item, int) and item < len(node):
            node = node[item]
        else:
            node = None
    return {**error, "loc": tuple(loc)}


def _merge(problems):
    """One line per key path: the alternatives of a union joined by 'or'."""
    by_path = {}
    for path, text in problems:
        by_path.setdefault(path, []).append(text)
    lines = []
    for path, texts in by_path.items():
        if len(texts) == 1:
            lines.append(texts[0])
        else:
            given = texts[0].rsplit("; given ", 1)[-1]
            wants = [t.split(": ", 1)[1].rsplit("; given ", 1)[0] for t in texts]
            lines.append(f"`{path}`: expected one of: " + " | ".join(wants) + f"; given {given}")
    return lines


def validate_config(model_cls, raw, source=None):
    """Validate a config mapping against a schema; raise ConfigError listing every problem.

    Parameters
    ----------
    model_cls : type of pydantic.BaseModel
        A pipeline's ``CONFIG_MODEL``.
    raw : dict | model_cls instance
        The config as read from YAML (an instance is re-validated from its dump).
    source : str | None
        Where the config came from (a file name), for the message.

    Returns
    -------
    config : model_cls instance

    Raises
    ------
    ConfigError
        Naming every bad key path, what was expected and what was given.
    """
    source = source or "config"
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(mode="json", exclude_unset=True)
    if not isinstance(raw, dict):
        raise ConfigError(f"Invalid config {source}: expected a mapping of keys, "
                          f"got {type(raw).__name__}.")
    try:
        return model_cls.model_validate(raw)
    except ValidationError as err:
        cleaned = [_clean_loc(e, raw) for e in err.errors()]
        lines = _merge([(".".join(map(str, e["loc"])) or "<root>", _describe(e)) for e in cleaned])
        problems = "\n  ".join(lines)
        raise ConfigError(f"Invalid config {source} ({len(lines)} problem(s)):\n  {problems}") from None


def config_paths(model_cls, prefix=""):
    """Every key path of a schema with its type, default and description (for ``--help``).

    Returns
    -------
    rows : list of (path, type, default, description)
    """
    from ._help import schema_rows

    return schema_rows(model_cls, prefix)
