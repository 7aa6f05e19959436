"""Main job on the embedded default: simulate recordings, extract features, fit
voxelwise encoders and write a short report.

    python -m pipelines.encode --config pipelines/configs/demo.yaml [--dry-run]

The config is validated against a typed schema (``pipelines/_config.py``)
before any work starts: unknown keys at any depth, wrong types and missing
folders are errors naming the key path.

Outputs (in ``output_dir``, each written atomically): ``scores.csv`` (one row
per unit and subject), ``roi_summary.csv``, ``roi_scores.png`` and
``report.md``.
"""

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from neurotoolkit import set_log_level

from ._config import validate_config

# a child of the package logger: set_log_level and the package handler apply to it
logger = logging.getLogger("neurotoolkit.pipelines")

def load_config(path):
    """Read a YAML config and validate it against the schema (before any work).

    Returns the validated config as a dict with every default filled in.
    Unknown or misspelt keys at any depth, wrong types and missing folders
    raise :class:`pipelines._config.ConfigError` naming each key path.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Invalid value for `--config`: no such file '{path}'.")
    with open(path) as f:
        raw = yaml.safe_load(f) or {}
    return validate_config(raw, source=str(path)).model_dump()


def _make_features(spec):
    from neurotoolkit.features import GaborPyramid

    spaces = {name: GaborPyramid(**item.params.model_dump(exclude_unset=True))
              for name, item in spec.items()}
    return spaces if len(spaces) > 1 else next(iter(spaces.values()))


def run(cfg, verbose=True):
    """Run the pipeline described by ``cfg`` (a dict); returns the output folder."""
    import numpy as np
    import pandas as pd

    from neurotoolkit.analysis import roi_summary
    from neurotoolkit.simulation import make_builtin_stimuli, simulate_recordings
    from neurotoolkit.encoding import VoxelwiseEncoder
    from neurotoolkit.viz import plot_roi_scores

    config = validate_config(cfg)  # dicts from Python callers are checked as YAML files are
    cfg = config.model_dump()
    set_log_level("INFO" if verbose else "WARNING")
    t0 = time.perf_counter()
    out_dir = Path(cfg["output_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    sim_cfg = dict(cfg["simulate"])
    stimuli = sim_cfg.pop("stimuli", "builtin")
    n_per_category = sim_cfg.pop("n_per_category", 20)
    if stimuli == "builtin":
        stimuli = make_builtin_stimuli(n_per_category=n_per_category, random_state=cfg["random_state"])
    sim = simulate_recordings(
        stimuli=stimuli,
        random_state=cfg["random_state"],
        **sim_cfg,
    )
    logger.info("Simulated %d subject(s) on %s", len(sim.recordings), sim.stimuli)
    tables = []
    for rec in sim.recordings:
        test_ids = rec.meta["test_ids"]
        is_test = np.isin(rec.stimulus_ids, test_ids)
        train, test = rec.select_trials(~is_test), rec.select_trials(is_test)
        enc = VoxelwiseEncoder(
            features=_make_features(config.features),
            alphas=cfg["model"]["alphas"],
            cv=cfg["model"]["cv"],
            alpha_selection=cfg["model"]["alpha_selection"],
        )
        enc.fit(train, sim.stimuli)
        scores = enc.evaluate(test, sim.stimuli)
        truth_nc = sim.truth.noise_ceiling(n_average=int(test.repeat_counts().min()), subject=rec.subject)
        scores["true_noise_ceiling"] = truth_nc
        tables.append(scores)
        logger.info("%s: mean r = %.3f over %d units", rec.subject, scores["r"].mean(), len(scores))
    scores = pd.concat(tables, ignore_index=False)
    summary = roi_summary(scores, by="roi", quantiles=(0.5,), columns=[c for c in (
        "r", "r2", "noise_ceiling", "true_noise_ceiling", "normalized") if c in scores])

    with atomic_path(out_dir / "scores.csv") as tmp:
        scores.to_csv(tmp, index_label="unit")
    with atomic_path(out_dir / "roi_summary.csv") as tmp:
        summary.to_csv(tmp, index=False)
    fig = plot_roi_scores(scores, score="r", ceiling="noise_ceiling_r",
                          title=f"{cfg['name']}: held-out r per ROI (dashed: noise ceiling)")
    with atomic_path(out_dir / "roi_scores.png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    elapsed = time.perf_counter() - t0
    report = [
        f"# {cfg['name']}: voxelwise encoding report",
        "",
        f"- subjects: {len(sim.recordings)}; stimuli: {len(sim.stimuli)}; "
        f"features: {list(cfg['features'])}",
        f"- wall time: {elapsed:.1f} s",
        "",
        "## Scores per ROI (held-out, test repeats averaged)",
        "",
        summary.round(3).to_markdown(index=False),
        "",
        "`r`: Pearson r on held-out images (test repeats averaged); `noise_ceiling`: variance "
        "fraction explainable at that averaging, estimated from the test repeats (NSD ncsnr); "
        "`true_noise_ceiling`: the simulator's ground truth; `normalized`: Algonauts 2023 "
        "noise-normalized score 100 r^2 / NC (capped at 100; meaningless where NC is near 0, "
        "as in the `noise` ROI). Columns `_mean` and `_q50` (median) over the ROI's units.",
        "",
        "![scores per ROI](roi_scores.png)",
        "",
        "## Config",
        "",
        "```json",
        json.dumps(cfg, indent=2, default=str),
        "```",
    ]
    atomic_write_text(out_dir / "report.md", "\n".join(report) + "\n")
    logger.info("Report written to %s (%.1f s)", out_dir / "report.md", elapsed)
    return out_dir


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; move it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes),
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="YAML config, e.g. pipelines/configs/demo.yaml")
    parser.add_argument("--output-dir", default=None, help="override output_dir of the config")
    parser.add_argument("--quiet", action="store_true", help="only warnings")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the config and the files it names, then stop")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    if args.output_dir:
        cfg["output_dir"] = args.output_dir
    if args.dry_run:
        print(f"config {args.config} is valid; nothing was run.\n"
              + yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None))
        return 0
    out = run(cfg, verbose=not args.quiet)
    print(f"report: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
