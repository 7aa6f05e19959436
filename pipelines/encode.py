"""Main job on the embedded default (kept for ``python -m pipelines.encode --config X``).

The pipeline lives in the package: ``neurotoolkit encode X`` (installed with
the package) or ``python -m neurotoolkit.pipelines encode X`` do the same.
"""

import sys

from neurotoolkit.pipelines.cli import main as _main


def main(argv=None):
    """``--config X [--output-dir D] [--dry-run] [--quiet] [--set k=v]`` -> ``neurotoolkit encode X ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" in argv:
        i = argv.index("--config")
        argv = [argv[i + 1]] + argv[:i] + argv[i + 2:]
    return _main(["encode"] + argv)


if __name__ == "__main__":
    sys.exit(main())
