"""The run folder of a pipeline: saved config and environment, cached stages, outputs, report.

A :class:`Run` owns ``output_dir``::

    config.yaml        the validated config, every default filled in
    environment.json   python, platform and package versions
    cache/<stage>/<key>/   one folder per cached stage value (key = sha256 of its inputs)
    <outputs>          tables (.csv), figures (.png), json, each written atomically
    report.md, report.html, manifest.json   written by :meth:`Run.finish`

Stages are keyed by their inputs (config sections, file hashes, upstream
stage keys): a rerun after a crash, or after changing only a later config
section, loads what is cached and recomputes only what changed.
"""

import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import time
import uuid
from pathlib import Path

import yaml

from neurotoolkit._utils.io import atomic_path, atomic_write_text, remove_stale_temp_files

__all__ = ["Run", "STAGE_KINDS", "key_hash"]

logger = logging.getLogger("neurotoolkit.pipelines")

STAGE_KINDS = ("recording", "features", "arrays", "table", "json", "encoder", "object")
_DONE = "stage.json"
_FORMAT = 1
# testing hook: after the stage of this name is saved, the process dies as if killed
_CRASH_ENV = "NEUROTOOLKIT_PIPELINES_CRASH_AFTER"
_VERSIONED = ("neurotoolkit", "numpy", "scipy", "sklearn", "pandas", "pydantic", "h5py", "torch",
              "nibabel", "nilearn", "mne", "matplotlib")


def _jsonable(obj):
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON-able: {type(obj).__name__}")


def key_hash(key):
    """sha256 of the canonical JSON of ``key`` (sorted keys), as hex."""
    text = json.dumps(key, sort_keys=True, default=_jsonable, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _sha256_file(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def environment():
    """Versions of Python, the platform and the packages a run depends on (imported ones only
    for the heavy ones, so that recording them costs nothing)."""
    from importlib import metadata

    versions = {}
    for name in _VERSIONED:
        dist = {"sklearn": "scikit-learn"}.get(name, name)
        try:
            versions[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "platform": platform.platform(), "machine": platform.machine(), "packages": versions}


class Run:
    """A pipeline's run folder: saved config, cached stages, outputs and report.

    Parameters
    ----------
    output_dir : path-like
        The run folder (created); cached stages go to ``output_dir/cache``.
    config : dict | pydantic.BaseModel
        The validated config (written to ``config.yaml`` with every default).
    pipeline : str
        Pipeline name ("encode", "decode", ...), for the report and manifest.
    verbose : bool | int | str | None
        Logging level while the run is used as a context manager.

    Examples
    --------
    >>> with Run(tmp_path, cfg, "encode") as run:                   # doctest: +SKIP
    ...     feats = run.stage("features", {"features": cfg["features"]}, compute, kind="features")
    ...     run.write_table("scores", df, caption="Held-out R^2 per ROI")
    ...     run.finish("Encoding report")
    """

    def __init__(self, output_dir, config, pipeline, verbose=True):
        self.output_dir = Path(output_dir)
        self.pipeline = str(pipeline)
        self.verbose = verbose
        if hasattr(config, "model_dump"):
            config = config.model_dump(mode="json")
        self.config = json.loads(json.dumps(config, default=_jsonable))
        self.cache_dir = self.output_dir / "cache"
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.output_dir)
        self._hashes = {}
        self.inputs = {}
        self.stages = []
        self.outputs = {}
        self.sections = []
        self._level_ctx = None
        atomic_write_text(self.output_dir / "config.yaml",
                          yaml.safe_dump(self.config, sort_keys=False, default_flow_style=None))
        self.environment = environment()
        self.write_json("environment", self.environment, register=False)

    # ------------------------------------------------------------------ context (logging level)
    def __enter__(self):
        from neurotoolkit._utils.logging import use_log_level

        self._level_ctx = use_log_level(self.verbose)
        self._level_ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self._level_ctx is not None:
            self._level_ctx.__exit__(*exc)
            self._level_ctx = None
        return False

    # ------------------------------------------------------------------ inputs
    def file_hash(self, path):
        """sha256 of a file (memoised on path, size and modification time); recorded as an input.

        A folder hashes the names, sizes and hashes of the files under it.
        """
        path = Path(path)
        stat = path.stat()
        memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if memo not in self._hashes:
            if path.is_dir():
                h = hashlib.sha256()
                for sub in sorted(p for p in path.rglob("*") if p.is_file()):
                    h.update(f"{sub.relative_to(path).as_posix()}\0{self.file_hash(sub)}\0".encode())
                self._hashes[memo] = h.hexdigest()
            else:
                self._hashes[memo] = _sha256_file(path)
        self.inputs[str(path)] = self._hashes[memo]
        return self._hashes[memo]

    # ------------------------------------------------------------------ stages
    def stage_dir(self, name, key):
        """The cache folder of stage ``name`` for ``key``."""
        return self.cache_dir / name / key_hash(key)[:16]

    def stage(self, name, key, compute, kind):
        """Return the cached value of a stage, or compute, save and return it.

        Parameters
        ----------
        name : str
            Stage name (a folder name: letters, digits, ``-_.``); e.g. "features".
        key : dict
            JSON-able inputs of the stage (config sections, :meth:`file_hash` values,
            upstream keys). Any change gives another cache entry.
        compute : callable
            Called with no argument on a cache miss; returns the value.
        kind : {"recording", "features", "arrays", "table", "json", "encoder", "object"}
            How the value is saved: a Recording or dict of them; a dict of
            FeatureSpace; a dict of arrays; a DataFrame; JSON; a fitted
            VoxelwiseEncoder (or dict of them); any safe_io tree.

        Returns
        -------
        value
        """
        from . import _stages

        if kind not in STAGE_KINDS:
            raise ValueError(f"Invalid value for `kind`: expected one of {STAGE_KINDS}, got {kind!r}.")
        if not name or any(c in name for c in "/\\") or name.startswith("."):
            raise ValueError(f"Invalid value for `name`: expected a folder name, got {name!r}.")
        digest = key_hash(key)[:16]
        folder = self.cache_dir / name / digest
        record = {"name": name, "key": digest, "kind": kind}
        if (folder / _DONE).is_file():
            t0 = time.perf_counter()
            value = _stages.load(folder, kind)
            record.update(status="cached", seconds=round(time.perf_counter() - t0, 3))
            logger.info("stage %s: cached (%s)", name, digest)
            self.stages.append(record)
            return value
        if folder.exists():  # an incomplete folder cannot exist (atomic rename); be safe anyway
            shutil.rmtree(folder)
        logger.info("stage %s: computing ...", name)
        t0 = time.perf_counter()
        value = compute()
        seconds = time.perf_counter() - t0
        tmp = folder.parent / f".{digest}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        try:
            _stages.save(tmp, kind, value)
            meta = {"format": _FORMAT, "name": name, "kind": kind, "key": key}
            (tmp / _DONE).write_text(json.dumps(meta, default=_jsonable, indent=1, sort_keys=True))
            os.replace(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        record.update(status="computed", seconds=round(seconds, 3))
        logger.info("stage %s: computed in %.1f s (%s)", name, seconds, digest)
        self.stages.append(record)
        if os.environ.get(_CRASH_ENV) == name:
            logging.shutdown()
            os._exit(99)  # as if the process had been killed right after this stage
        return value

    # ------------------------------------------------------------------ outputs
    def add_output(self, name, path, kind, caption="", report=True, **extra):
        """Register a file written in the run folder (listed with its sha256 in manifest.json).

        ``kind`` "table" (with ``df=``) and "figure" are shown in the report when ``report``.
        """
        path = Path(path)
        self.outputs[path.name] = dict(name=name, path=path, kind=kind, caption=caption, **extra)
        if report and kind in ("table", "figure"):
            self.sections.append(("output", path.name))

    def write_table(self, name, df, caption="", index=False, floatfmt=".3g", report=True):
        """Write ``<name>.csv`` and add the table (Markdown) to the report.

        Parameters
        ----------
        name : str
        df : pandas.DataFrame
        caption : str
            Shown above the table (say what the columns and baselines mean).
        index : bool
            Write the DataFrame index too.
        floatfmt : str
            Number format in the report (the CSV keeps full precision).
        report : bool
            Show the table in the report (False: the CSV only, e.g. one row per unit).

        Returns
        -------
        path : pathlib.Path
        """
        path = self.output_dir / f"{name}.csv"
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=index)
        self.add_output(name, path, "table", caption, report=report, df=df, index=index,
                        floatfmt=floatfmt)
        return path

    def write_figure(self, name, fig, caption="", dpi=110):
        """Write ``<name>.png`` atomically (the figure is closed) and add it to the report."""
        import matplotlib.pyplot as plt

        path = self.output_dir / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        self.add_output(name, path, "figure", caption)
        return path

    def write_json(self, name, obj, register=True):
        """Write ``<name>.json`` (sorted keys, indented) atomically."""
        path = self.output_dir / f"{name}.json"
        atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True, default=_jsonable) + "\n")
        if register:
            self.add_output(name, path, "json")
        return path

    def write_text(self, name, text, suffix=".txt"):
        """Write ``<name><suffix>`` atomically (e.g. a log or a list)."""
        path = self.output_dir / f"{name}{suffix}"
        atomic_write_text(path, text)
        self.add_output(name, path, "text")
        return path

    def add_section(self, heading, text):
        """Add a Markdown section (free text: method notes, baselines, caveats) to the report."""
        self.sections.append(("text", heading, text))

    # ------------------------------------------------------------------ report
    def finish(self, title, summary_lines=()):
        """Write report.md, report.html and manifest.json; returns ``output_dir``.

        Parameters
        ----------
        title : str
        summary_lines : sequence of str
            Bullet points under the title (main numbers, baselines, noise ceilings).

        Returns
        -------
        output_dir : pathlib.Path
        """
        from ._report import write_reports

        report_paths = write_reports(self, title, list(summary_lines))
        outputs = {fname: {"name": item["name"], "kind": item["kind"],
                           "sha256": _sha256_file(item["path"])}
                   for fname, item in sorted(self.outputs.items())}
        for path in report_paths:
            outputs[path.name] = {"name": path.stem, "kind": "report", "sha256": _sha256_file(path)}
        manifest = {
            "pipeline": self.pipeline,
            "title": title,
            "outputs": outputs,
            "inputs": dict(sorted(self.inputs.items())),
            "stages": self.stages,
            "config_sha256": _sha256_file(self.output_dir / "config.yaml"),
            "environment": self.environment,
        }
        atomic_write_text(self.output_dir / "manifest.json",
                          json.dumps(manifest, indent=1, default=_jsonable) + "\n")
        logger.info("report: %s", self.output_dir / "report.md")
        return self.output_dir
