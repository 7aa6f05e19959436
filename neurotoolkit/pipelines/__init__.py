"""Config-driven pipelines and the ``neurotoolkit`` command line.

``neurotoolkit encode|decode|probe|rsa CONFIG`` validates a YAML config against
the pipeline's typed schema (``CONFIG_MODEL``), then runs it into a run folder
with cached, resumable stages and a Markdown + HTML report. The same pipelines
are callable from Python: ``neurotoolkit.pipelines.run_pipeline("encode", cfg)``.
This subpackage is the top layer: ``import neurotoolkit`` does not import it.
"""

import importlib

__all__ = ["ConfigError", "get_pipeline", "load_config", "run_pipeline"]

#: pipeline names -> module (each defines CONFIG_MODEL and run(config, verbose=True))
PIPELINES = {"encode": "encode", "decode": "decode", "probe": "probe", "rsa": "rsa"}


def __getattr__(name):
    if name == "ConfigError":
        from ._config import ConfigError

        return ConfigError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_pipeline(name):
    """The module of a pipeline (``CONFIG_MODEL``, ``run``).

    Parameters
    ----------
    name : {"encode", "decode", "probe", "rsa"}

    Returns
    -------
    module
    """
    if name not in PIPELINES:
        raise ValueError(f"Invalid value for `name`: expected one of {sorted(PIPELINES)}, got {name!r}.")
    return importlib.import_module(f"{__name__}.{PIPELINES[name]}")


def load_config(name, path, overrides=()):
    """Read a YAML config, apply ``key.path=value`` overrides and validate it.

    Parameters
    ----------
    name : str
        Pipeline name.
    path : path-like
        YAML file.
    overrides : sequence of str
        ``"model.alphas=[1, 10]"`` items; values are parsed as YAML.

    Returns
    -------
    config : the pipeline's CONFIG_MODEL instance

    Raises
    ------
    ConfigError
        Naming every bad key path.
    """
    from ._overrides import read_config

    return read_config(get_pipeline(name).CONFIG_MODEL, path, overrides)


def run_pipeline(name, config, verbose=True):
    """Validate ``config`` (dict, CONFIG_MODEL instance or YAML path) and run pipeline ``name``.

    Returns
    -------
    output_dir : pathlib.Path
    """
    from pathlib import Path

    if isinstance(config, (str, Path)):
        config = load_config(name, config)
    return get_pipeline(name).run(config, verbose=verbose)
