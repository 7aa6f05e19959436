"""Tests of the pipelines import the tree fabricators of this folder (``_trees``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
