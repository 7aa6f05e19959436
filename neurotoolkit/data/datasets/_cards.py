"""Data cards: machine-readable descriptions of the public datasets users bring.

The cards live in the ``data_cards/`` folder at the root of the source
checkout (one ``<slug>.yaml`` per dataset, plus ``schema.yaml``). They are
documentation, not package data: a wheel installed from PyPI does not carry
them. Point ``NEUROTOOLKIT_DATA_CARDS`` at a folder of cards to use another
copy (for example a clone of the repository).
"""

import importlib
import os
import re
from pathlib import Path

__all__ = ["list_data_cards", "load_data_card", "validate_data_card"]

_ENV = "NEUROTOOLKIT_DATA_CARDS"
_SCHEMA_FILE = "schema.yaml"
_MAX_REPORTED = 10


def _cards_dir():
    """Folder holding the cards: ``$NEUROTOOLKIT_DATA_CARDS`` or ``<checkout>/data_cards``."""
    env = os.environ.get(_ENV)
    if env:
        folder = Path(env).expanduser()
        origin = f"the {_ENV} environment variable"
    else:
        import neurotoolkit

        folder = Path(neurotoolkit.__file__).resolve().parents[1] / "data_cards"
        origin = "the source checkout"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Data card folder '{folder}' (from {origin}) does not exist. The cards ship with "
            "the neurotoolkit source checkout (data_cards/ at the repository root), not with an "
            f"installed wheel: clone the repository, or set {_ENV} to a folder of <slug>.yaml cards."
        )
    return folder


def _read_yaml(path):
    import yaml

    with open(path, encoding="utf-8") as fid:
        return yaml.safe_load(fid)


def list_data_cards():
    """List the datasets that have a data card.

    Returns
    -------
    slugs : list of str
        Sorted card names (file stems of ``data_cards/*.yaml``, schema excluded);
        pass one to :func:`load_data_card`.
    """
    folder = _cards_dir()
    return sorted(p.stem for p in folder.glob("*.yaml") if p.name != _SCHEMA_FILE)


def load_data_card(slug, validate=True):
    """Load one data card.

    Parameters
    ----------
    slug : str
        Card name, e.g. ``"nsd"`` or ``"things_meg"``; see :func:`list_data_cards`.
    validate : bool
        Check the card against ``data_cards/schema.yaml`` (and its ``slug``
        field against the file name) before returning it.

    Returns
    -------
    card : dict
        The card's fields (identity, population, acquisition, geometry,
        stimuli, splits, formats, provenance, practical, adapter, description).
    """
    if not isinstance(slug, str):
        raise TypeError(f"Invalid value for `slug`: expected a str, got {type(slug).__name__}.")
    available = list_data_cards()
    if slug not in available:
        raise ValueError(
            f"Invalid value for `slug`: expected one of {available}, got {slug!r}."
        )
    path = _cards_dir() / f"{slug}.yaml"
    card = _read_yaml(path)
    if validate:
        validate_data_card(card)
        if card["slug"] != slug:
            raise ValueError(
                f"Invalid data card '{path.name}': field `slug` must equal the file name "
                f"{slug!r}, got {card['slug']!r}."
            )
    return card


def validate_data_card(card, schema=None):
    """Check a data card against the schema.

    Uses ``jsonschema`` when it is installed, else a built-in validator for
    the keywords the schema uses. On top of the schema: sEEG/ECoG cards need
    ``population.implant_rationale``, and ``adapter_status: available`` needs
    an ``adapter`` that can be imported.

    Parameters
    ----------
    card : dict
        A card as returned by :func:`load_data_card` (or read from YAML).
    schema : dict | None
        Schema to use; default ``data_cards/schema.yaml``.

    Raises
    ------
    ValueError
        Naming every missing or invalid field (dotted path) and what was expected.
    """
    if not isinstance(card, dict):
        raise TypeError(
            f"Invalid value for `card`: expected a dict (a parsed YAML card), got {type(card).__name__}."
        )
    if schema is None:
        schema = _read_yaml(_cards_dir() / _SCHEMA_FILE)
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        problems = _compact_errors(card, schema)
    else:
        problems = _jsonschema_errors(card, schema)
    if not problems:
        problems = _semantic_errors(card)
    if problems:
        name = card.get("slug", "<no slug>")
        shown = problems[:_MAX_REPORTED]
        more = len(problems) - len(shown)
        lines = "\n".join(f"  - {p}" for p in shown)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise ValueError(f"Invalid data card {name!r}: {len(problems)} problem(s):\n{lines}{tail}")


def _field(path):
    return ".".join(str(p) for p in path) if path else "<card>"


def _jsonschema_errors(card, schema):
    import jsonschema

    validator_cls = jsonschema.validators.validator_for(schema)
    problems = []
    errors = sorted(validator_cls(schema).iter_errors(card), key=lambda e: list(map(str, e.absolute_path)))
    for err in errors:
        path = list(err.absolute_path)
        if err.validator == "required":
            for key in err.validator_value:
                if isinstance(err.instance, dict) and key not in err.instance:
                    problems.append(f"`{_field(path + [key])}` is required but missing")
        elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            for key in err.instance:
                if key not in allowed:
                    problems.append(f"`{_field(path + [key])}` is not a known field (typo?)")
        else:
            problems.append(f"`{_field(path)}`: {err.message}")
    return problems


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _compact_errors(value, schema, path=()):
    """Validate ``value`` against the keyword subset used in schema.yaml."""
    problems = []
    where = _field(path)
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_TYPES[t](value) for t in types):
            got = "null" if value is None else type(value).__name__
            return [f"`{where}`: expected {' or '.join(types)}, got {got} {value!r}"]
    if "const" in schema and value != schema["const"]:
        problems.append(f"`{where}`: expected {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"`{where}`: expected one of {schema['enum']}, got {value!r}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append(f"`{where}`: expected at least {schema['minLength']} characters, got {len(value)}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"`{where}`: {value!r} does not match {schema['pattern']!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "minimum" in schema:
        if value < schema["minimum"]:
            problems.append(f"`{where}`: expected >= {schema['minimum']}, got {value}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"`{where}`: expected at least {schema['minItems']} item(s), got {len(value)}")
        if "items" in schema:
            for i, item in enumerate(value):
                problems += _compact_errors(item, schema["items"], path + (i,))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"`{_field(path + (key,))}` is required but missing")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                problems += _compact_errors(item, props[key], path + (key,))
            elif extra is False:
                problems.append(f"`{_field(path + (key,))}` is not a known field (typo?)")
            elif isinstance(extra, dict):
                problems += _compact_errors(item, extra, path + (key,))
    return problems


def _semantic_errors(card):
    """Rules that span fields (run once the card matches the schema)."""
    problems = []
    modality = card["acquisition"]["modality"]
    if {"seeg", "ecog"} & set(modality) and not card["population"].get("implant_rationale"):
        problems.append("`population.implant_rationale` is required for sEEG/ECoG cards")
    if card["adapter_status"] == "available" and not _resolves(card["adapter"]):
        problems.append(
            f"`adapter`: adapter_status is 'available' but {card['adapter']!r} cannot be imported"
        )
    return problems


def _resolves(dotted):
    """Whether ``neurotoolkit.a.b.Name.attr`` names an importable object."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False
