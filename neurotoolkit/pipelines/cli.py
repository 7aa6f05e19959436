"""The ``neurotoolkit`` command line.

    neurotoolkit encode|decode|probe|rsa CONFIG [--set key.path=value ...] [--output-dir D]
                                               [--dry-run] [--quiet]
    neurotoolkit fetch haxby|eeglab_sample|92objects [--data-home D]
    neurotoolkit cards [SLUG]

Exit status: 0 success, 2 an invalid config or command line (the message names
every bad key path), 1 an error while running.
"""

import argparse
import sys

import yaml

from . import PIPELINES, get_pipeline
from ._config import ConfigError

__all__ = ["main"]

_SUMMARIES = {
    "encode": "responses -> features -> voxelwise encoders -> scores, maps, report",
    "decode": "responses -> embeddings / labels -> decoding with chance and permutation baselines",
    "probe": "a saved encoder -> preferred images and captions per ROI",
    "rsa": "RDMs per ROI vs model RDMs, with noise ceiling and inference",
}
_FETCHERS = {"haxby": "fetch_haxby", "eeglab_sample": "fetch_eeglab_sample", "92objects": "fetch_92objects"}


def _build_parser(command=None):
    """The parser; only the pipeline named by ``command`` is imported (for its options)."""
    from ._help import format_options

    parser = argparse.ArgumentParser(
        prog="neurotoolkit", description="Config-driven pipelines of neurotoolkit.",
        epilog="`neurotoolkit <command> --help` lists every option of a command.")
    sub = parser.add_subparsers(dest="command", metavar="command")
    for name in PIPELINES:
        if name == command:
            module = get_pipeline(name)
            extra = dict(description=(module.__doc__ or "").strip(),
                         epilog="config keys (set in the YAML file or with --set key.path=value):\n"
                         + format_options(module.CONFIG_MODEL))
        else:
            extra = {}
        p = sub.add_parser(name, help=_SUMMARIES.get(name, name),
                           formatter_class=argparse.RawDescriptionHelpFormatter, **extra)
        p.add_argument("config", help="YAML config file (see pipelines/configs/)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a config key; VALUE is parsed as YAML (e.g. --set model.alphas=[1,10]);"
                       " repeatable")
        p.add_argument("--output-dir", default=None, help="override output_dir of the config")
        p.add_argument("--dry-run", action="store_true",
                       help="validate the config and the files it names, print the plan, run nothing")
        p.add_argument("--quiet", action="store_true", help="print warnings and errors only")
    f = sub.add_parser("fetch", help="download (or copy from NEUROTOOLKIT_DATA_MIRROR) a public dataset")
    f.add_argument("dataset", choices=sorted(_FETCHERS))
    f.add_argument("--data-home", default=None, help="data folder (default $NEUROTOOLKIT_DATA or "
                   "~/neurotoolkit_data)")
    c = sub.add_parser("cards", help="list the data cards, or show one")
    c.add_argument("slug", nargs="?", default=None, help="card to show (e.g. nsd)")
    return parser


def _plan(name, cfg, source):
    """Check the files a config names beyond what the schema checks; return the plan text."""
    from ._sources import data_files

    lines = [f"config {source} is valid; nothing was run.", f"pipeline: {name}",
             f"output_dir: {getattr(cfg, 'output_dir', '?')}"]
    data = getattr(cfg, "data", None)
    if data is not None:
        files = data_files(data)  # BIDS discovery errors name the key path
        lines.append(f"data: source {data.source}"
                     + (f" ({data.name})" if getattr(data, "name", None) else ""))
        for subject, paths in files.items():
            lines.append(f"  {subject}: {len(paths)} file(s)")
    features = getattr(cfg, "features", None)
    if isinstance(features, dict):
        lines.append("features: " + ", ".join(f"{k} ({v.kind})" for k, v in features.items()))
    lines += ["", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, default_flow_style=None)]
    return "\n".join(lines)


def _run_pipeline(name, args):
    from ._overrides import apply_overrides, read_yaml
    from ._config import validate_config

    module = get_pipeline(name)
    raw = apply_overrides(read_yaml(args.config), args.overrides)
    if args.output_dir is not None:
        raw["output_dir"] = args.output_dir
    cfg = validate_config(module.CONFIG_MODEL, raw, source=args.config)
    try:
        plan = _plan(name, cfg, args.config)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(str(err)) from None
    if args.dry_run:
        print(plan)
        return 0
    out = module.run(cfg, verbose="WARNING" if args.quiet else True)
    print(f"report: {out / 'report.md'}")
    return 0


def _fetch(args):
    from neurotoolkit import data

    ds = getattr(data, _FETCHERS[args.dataset])(data_home=args.data_home, verbose=True)
    print(f"{args.dataset}: {ds.path}")
    return 0


def _cards(args):
    from neurotoolkit.data import list_data_cards, load_data_card

    if args.slug is None:
        for slug in list_data_cards():
            card = load_data_card(slug, validate=False)
            print(f"{slug:16s} {card.get('identity', {}).get('name', '')}")
        return 0
    if args.slug not in list_data_cards():
        print(f"neurotoolkit cards: no card {args.slug!r}; cards: {', '.join(list_data_cards())}",
              file=sys.stderr)
        return 2
    print(yaml.safe_dump(load_data_card(args.slug), sort_keys=False, allow_unicode=True))
    return 0


def main(argv=None):
    """Entry point of the ``neurotoolkit`` command; returns the exit status.

    Parameters
    ----------
    argv : list of str | None
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 success, 2 invalid config or arguments, 1 runtime error.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        parser = _build_parser(command if command in PIPELINES else None)
    except ImportError as err:
        print(f"neurotoolkit {command}: this pipeline is not available: {err}", file=sys.stderr)
        return 1
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "fetch":
            return _fetch(args)
        if args.command == "cards":
            return _cards(args)
        return _run_pipeline(args.command, args)
    except ConfigError as err:
        print(f"neurotoolkit {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neurotoolkit {args.command}: interrupted; rerun the same command to resume "
              "(finished stages are cached).", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the command line reports, the API raises
        print(f"neurotoolkit {args.command}: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
