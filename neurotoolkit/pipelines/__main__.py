"""``python -m neurotoolkit.pipelines`` runs the ``neurotoolkit`` command line."""

import sys

from .cli import main

sys.exit(main())
