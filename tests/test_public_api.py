"""The curated public API: what each subpackage exports, and who may use private modules.

- Every name in a subpackage's ``__all__`` can be imported, without a deprecation
  warning, and has a docstring; every subpackage says what it is for.
- Tutorials, examples and pipelines are written against the public API only:
  they never import a private module (``neurotoolkit.x._y``) or a private name.
"""

import ast
import importlib
import inspect
import json
import pkgutil
import re
import warnings
from pathlib import Path

import pytest

import neurotoolkit

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_FOLDERS = ("tutorials", "examples", "pipelines")


def _public_packages():
    names = ["neurotoolkit"]
    for info in pkgutil.walk_packages(neurotoolkit.__path__, prefix="neurotoolkit."):
        if info.ispkg and not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


PACKAGES = _public_packages()


def _is_private(module, names=()):
    """True when a dotted module path under neurotoolkit, or a name imported from it, is private."""
    parts = module.split(".")
    if parts[0] != "neurotoolkit":
        return False
    return any(p.startswith("_") for p in parts[1:]) or any(
        n.startswith("_") and not n.startswith("__") for n in names)


def private_imports(source):
    """(line, statement) of every import of a private neurotoolkit module or name in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _is_private(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [a.name for a in node.names]
            if _is_private(node.module, names):
                found.append((node.lineno, f"from {node.module} import {', '.join(names)}"))
    # importlib.import_module("neurotoolkit.x._y") and friends
    for match in re.finditer(r"""["'](neurotoolkit(?:\.\w+)+)["']""", source):
        if _is_private(match.group(1)):
            found.append((source[:match.start()].count("\n") + 1, match.group(1)))
    return found


def _notebook_code(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    # IPython magics and shell lines are not Python
    return "\n".join(line for cell in cells for line in cell.splitlines()
                     if not line.lstrip().startswith(("%", "!")))


def _public_files():
    files = []
    for folder in PUBLIC_FOLDERS:
        files += sorted((ROOT / folder).rglob("*.py")) + sorted((ROOT / folder).rglob("*.ipynb"))
    return [f for f in files if ".ipynb_checkpoints" not in f.parts]


def test_the_scan_finds_private_imports():
    bad = ("from neurotoolkit.features._backbones import import_torchvision\n"
           "import neurotoolkit._utils.io as io\n"
           "from neurotoolkit.probing import _DEPRECATED\n"
           "mod = importlib.import_module('neurotoolkit.decoding._contrastive')\n")
    assert [line for line, _ in private_imports(bad)] == [1, 2, 3, 4]
    good = ("import neurotoolkit as nt\nfrom neurotoolkit.decoding import CrossSubjectDecoder\n"
            "from neurotoolkit import __version__\nfrom ._local import helper\n")
    assert private_imports(good) == []


@pytest.mark.parametrize("path", _public_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_imports_in_tutorials_examples_pipelines(path):
    source = _notebook_code(path) if path.suffix == ".ipynb" else path.read_text(encoding="utf-8")
    found = private_imports(source)
    assert not found, (
        f"{path.relative_to(ROOT)} imports private modules or names {found}: use the public API "
        "(the names in each subpackage's __all__), or make what is needed public."
    )


def test_public_files_are_scanned():
    names = {p.name for p in _public_files()}
    assert {"05_decoding.ipynb", "encode.py"} <= names


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_is_importable_and_documented(package):
    module = importlib.import_module(package)
    doc = inspect.getdoc(module)
    assert doc and len(doc.split()) >= 5, f"{package} needs a docstring that says what it is for"
    assert not re.search(r"later issues?|issue \d|METHODS\.md|Card \d", doc), doc
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{package} has no __all__"
    assert len(exported) == len(set(exported)), f"{package}.__all__ has duplicates"
    undocumented = []
    for name in exported:
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)  # nothing deprecated is exported
            obj = getattr(module, name)
        if inspect.ismodule(obj) or inspect.isclass(obj) or callable(obj):
            if not inspect.getdoc(obj):
                undocumented.append(name)
    assert not undocumented, f"{package}: exported without a docstring: {undocumented}"


@pytest.mark.parametrize("package, name, instead", [
    ("neurotoolkit.decoding", "info_nce", "training internal"),
    ("neurotoolkit.decoding", "soft_clip", "training internal"),
    ("neurotoolkit.decoding", "mixco", "training internal"),
    ("neurotoolkit.decoding", "mixco_loss", "training internal"),
    ("neurotoolkit.probing.synthesis", "GuidedDiffusionResult", "SynthesisResult"),
    ("neurotoolkit.probing", "GuidedDiffusionResult", "SynthesisResult"),
])
def test_deprecated_names_warn_and_are_not_exported(package, name, instead):
    module = importlib.import_module(package)
    assert name not in module.__all__
    with pytest.warns(FutureWarning, match=instead):
        assert getattr(module, name) is not None
