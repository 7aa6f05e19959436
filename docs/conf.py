"""Sphinx configuration for the neurotoolkit documentation.

Build (offline, warnings are errors)::

    .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

Environment variables:

- ``NEUROTOOLKIT_DOCS_FAST=1``: do not execute the tutorial notebooks or the
  example gallery (API reference and pages only; a minute instead of many).
- ``NEUROTOOLKIT_DOCS_EXECUTE=force``: re-execute every notebook even when the
  jupyter-cache in ``docs/_build/.jupyter_cache`` holds its outputs
  (default ``cache``: re-execute only notebooks whose code changed).
"""

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS))

from _generate import link_tutorials, prepare_examples, write_api_pages  # noqa: E402

import neurotoolkit  # noqa: E402

FAST = os.environ.get("NEUROTOOLKIT_DOCS_FAST", "0").strip().lower() not in ("", "0", "false", "no")

# -- Project ---------------------------------------------------------------------------------------
project = "neurotoolkit"
author = "the neurotoolkit developers"
copyright = "the neurotoolkit developers, BSD-3-Clause"
release = neurotoolkit.__version__
version = re.sub(r"\.dev.*$", "", release)

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
html_static_path = []
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "_gallery_src",  # sphinx-gallery's input (copied examples); the gallery is auto_examples/
    "auto_examples/*.ipynb",  # sphinx-gallery's notebook downloads, not pages
    "auto_examples/*.py",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
default_role = "autolink"  # `name` links to the object when it exists, else renders as code
nitpicky = False
# No intersphinx: the build must not fetch inventories from the network.

# -- Generated sources (written on every build, ignored by git) ------------------------------------
write_api_pages(DOCS / "api")
link_tutorials(ROOT / "tutorials", DOCS / "tutorials")
GALLERY_SRC, EXECUTED_EXAMPLES, EXAMPLE_ARGV = prepare_examples(ROOT / "examples", DOCS / "_gallery_src")

# -- autodoc / autosummary / numpydoc --------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": False}
autodoc_typehints = "none"  # numpydoc docstrings carry the types
autodoc_member_order = "bysource"
autoclass_content = "class"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# Validation that the build enforces (warnings are errors): unknown sections (GL06), sections in
# the wrong order (GL07), a public object without a docstring (GL08) and documented parameters that
# the signature lacks (PR02, which also catches an unfilled ``%(verbose)s`` placeholder). Parameters
# left undocumented (PR01) and their order (PR03) are not enforced yet: dataclass fields documented
# under "Attributes" and keyword-only groups trip them by the dozen.
numpydoc_validation_checks = {"GL06", "GL07", "GL08", "PR02"}
numpydoc_validation_exclude = {
    r"\.__\w+__$",  # special methods are documented by their class
    # Overrides whose docstring is inherited from the base class (autodoc shows the inherited one).
    r"^neurotoolkit\.probing\.synthesis\.(FourierImage|PixelImage)\.(raw|describe)$",
}

# -- myst-nb: tutorials executed at build time -----------------------------------------------------
# The notebooks stay in tutorials/ (the test suite runs them there); docs/tutorials is a link to
# that folder, so a notebook runs with tutorials/ as working directory, as in the tests.
nb_execution_mode = "off" if FAST else os.environ.get("NEUROTOOLKIT_DOCS_EXECUTE", "cache")
nb_execution_timeout = 900
nb_execution_raise_on_error = True  # a failing cell fails the build
nb_execution_show_tb = True
nb_execution_in_temp = False
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_kernel_rgx_aliases = {".*": "python3"}
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# Figures must be drawn inline by the notebook kernels (a parent MPLBACKEND=Agg, as the test suite
# sets, would make them invisible). sphinx-gallery selects its own backend in-process.
os.environ.pop("MPLBACKEND", None)
# Data for the notebooks and examples: the fetchers take it from a local mirror when one is there
# (offline build) and cache it in the build folder, never in the user's data folder.
from _generate import DATA_DIR  # noqa: E402

if DATA_DIR.is_dir():
    os.environ.setdefault("NEUROTOOLKIT_DATA_MIRROR", str(DATA_DIR))
os.environ.setdefault("NEUROTOOLKIT_DATA", str(DOCS / "_build" / "data"))
# Kernels import the package from this source tree (the code the API reference documents), even
# when another copy of neurotoolkit is installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)

# -- sphinx-gallery: examples/ -------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(GALLERY_SRC.relative_to(DOCS)),
    "gallery_dirs": "auto_examples",
    "filename_pattern": "|".join(re.escape(os.sep + name) + "$" for name in EXECUTED_EXAMPLES) or "^$",
    "ignore_pattern": r"__init__\.py",
    "plot_gallery": "False" if FAST else "True",
    "reset_argv": EXAMPLE_ARGV,
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    # A failing example is reported with its traceback and fails the build at the end.
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}

# -- HTML ------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"neurotoolkit {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
html_context = {"default_mode": "light"}

# -- Hooks -----------------------------------------------------------------------------------------
def _skip_member(app, what, name, obj, skip, options):
    """Hide scikit-learn's generated metadata-routing setters (``set_fit_request`` ...).

    They are created for every estimator whose ``fit`` takes extra arguments, carry scikit-learn's
    own docstring (with references into scikit-learn's documentation) and are not part of this
    package's API.
    """
    if re.fullmatch(r"set_\w+_request", name):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
