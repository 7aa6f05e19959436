"""Reading YAML configs and ``--set key.path=value`` overrides."""

from pathlib import Path

import yaml

from ._config import ConfigError, validate_config

__all__ = ["apply_overrides", "read_config", "read_yaml"]


def read_yaml(path):
    """The mapping in a YAML file (errors name the file and line)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Invalid value for `config`: no such file '{path}'.")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"Invalid config {path}: not valid YAML ({err}).") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"Invalid config {path}: expected a mapping of keys, got {type(raw).__name__}.")
    return raw


def apply_overrides(raw, overrides):
    """Apply ``"a.b.c=value"`` items (values parsed as YAML) to a nested dict, in place.

    Missing intermediate keys are created, so that a misspelt path reaches the
    schema and fails there with its key path.
    """
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"Invalid value for `--set`: expected key.path=value, got {item!r}.")
        path, _, text = item.partition("=")
        keys = [k for k in path.strip().split(".")]
        if not all(keys):
            raise ConfigError(f"Invalid value for `--set`: empty key in {path!r}.")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as err:
            raise ConfigError(f"Invalid value for `--set {path}`: {text!r} is not YAML ({err}).") from None
        node = raw
        for i, key in enumerate(keys[:-1]):
            child = node.get(key)
            if not isinstance(child, dict):
                if child is not None:
                    raise ConfigError(f"Invalid value for `--set {path}`: `{'.'.join(keys[:i + 1])}` "
                                      f"is a {type(child).__name__}, not a section.")
                child = node[key] = {}
            node = child
        node[keys[-1]] = value
    return raw


def read_config(model_cls, path, overrides=()):
    """Read, override and validate a config; returns the model instance."""
    raw = apply_overrides(read_yaml(path), overrides)
    return validate_config(model_cls, raw, source=str(path))
