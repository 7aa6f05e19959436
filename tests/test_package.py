"""Package-level guarantees: light import, layering, public names."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "neurotoolkit"
HEAVY = ("torch", "mne", "diffusers", "open_clip", "matplotlib", "nibabel", "nilearn", "transformers")


def test_import_is_light():
    code = (
        "import sys, neurotoolkit, neurotoolkit.data, neurotoolkit.features, neurotoolkit.simulation, "
        "neurotoolkit.encoding, neurotoolkit.decoding, neurotoolkit.analysis, neurotoolkit.viz, "
        "neurotoolkit.probing\n"
        f"heavy = {HEAVY!r}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported by `import neurotoolkit`: {out.stdout}"


# Layer -> the layers it may import (DESIGN.md: imports point down only). A layer is a
# subpackage, or a sub-subpackage where halves must stay independent (probing).
# `viz` is imported lazily, inside plotting methods, by the layers that plot.
_BASE = {"_utils"}
ALLOWED = {
    "_utils": set(),
    "data": _BASE,
    "features": _BASE | {"data"},
    "_ridge": _BASE | {"data"},
    "viz": _BASE | {"data"},
    "simulation": _BASE | {"data", "features"},
    "encoding": _BASE | {"data", "features", "_ridge", "viz"},
    "decoding": _BASE | {"data", "features", "_ridge", "viz"},
    "analysis": _BASE | {"data", "features", "_ridge", "simulation", "encoding", "decoding", "viz"},
    "probing": _BASE | {"data", "features", "_ridge", "simulation", "encoding", "decoding", "viz",
                        "probing.synthesis", "probing.captioning"},
    "probing.synthesis": _BASE | {"data", "features", "_ridge", "simulation", "encoding", "decoding",
                                  "viz"},
    "probing.captioning": _BASE | {"data", "features", "_ridge", "simulation", "encoding",
                                   "decoding", "viz"},
    "testing": _BASE | {"data", "features", "_ridge", "simulation", "encoding", "decoding",
                        "analysis", "probing", "probing.synthesis", "probing.captioning"},
    # the top layer (config-driven pipelines + command line) may import every layer below
    "pipelines": _BASE | {"data", "features", "_ridge", "simulation", "encoding", "decoding", "viz",
                          "analysis", "probing", "probing.synthesis", "probing.captioning", "testing"},
}
_NESTED = ("probing",)  # layers whose subpackages are layers of their own


def _layer_of(module):
    """'neurotoolkit.probing.synthesis._x' -> 'probing.synthesis'; 'neurotoolkit.data.fmri' -> 'data'."""
    parts = module.split(".")[1:]
    if not parts:
        return None
    if parts[0] in _NESTED and len(parts) > 1 and not parts[1].startswith("_"):
        return f"{parts[0]}.{parts[1]}"
    return parts[0]


def _module_name(path):
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    is_pkg = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_pkg else parts), is_pkg


def _imported_modules(path):
    """Absolute names of every neurotoolkit module a file imports (relative imports resolved)."""
    name, is_pkg = _module_name(path)
    package = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if not node.module:  # `from .. import x`: x may be a subpackage
                    found.update(f"{target}.{alias.name}" for alias in node.names)
            else:
                target = node.module or ""
            found.add(target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("neurotoolkit.")}


def test_every_subpackage_has_a_layer():
    subpackages = {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}
    nested = {f"probing.{p.name}" for p in (PKG / "probing").iterdir() if (p / "__init__.py").exists()}
    assert subpackages | nested <= set(ALLOWED), sorted((subpackages | nested) - set(ALLOWED))


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layers_point_down(layer):
    offenders = []
    for path in (PKG / layer.replace(".", "/")).rglob("*.py"):
        own = _layer_of(_module_name(path)[0])
        if own != layer:
            continue  # a nested layer's files are checked under its own name
        for module in _imported_modules(path):
            target = _layer_of(module)
            if target not in (None, layer) and target not in ALLOWED[layer]:
                offenders.append(f"{path.relative_to(PKG)} imports {module}")
    assert not offenders, "layer violations: " + "; ".join(sorted(offenders))


def test_no_module_over_600_lines():
    # Reasons for the exceptions are stated next to each entry.
    allowed_long = {}
    long = {
        str(p.relative_to(PKG)): n
        for p in PKG.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 600 and str(p.relative_to(PKG)) not in allowed_long
    }
    assert not long, f"modules over 600 lines: {long}"


def test_version_and_lazy_attributes():
    import neurotoolkit

    assert neurotoolkit.__version__
    assert neurotoolkit.data.Recording is not None
    with pytest.raises(AttributeError, match="no attribute"):
        neurotoolkit.does_not_exist  # noqa: B018


def test_missing_optional_dependency_names_the_extra():
    from neurotoolkit._utils.optional import require

    with pytest.raises(ImportError, match=r"pip install"):
        require("surely_not_a_module_xyz")


def test_readme_snippet_runs():
    import re

    import matplotlib

    matplotlib.use("Agg")
    readme = (PKG.parent / "README.md").read_text()
    block = re.search(r"## Ten lines\s+```python\n(.*?)```", readme, re.S).group(1)
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    scores = namespace["scores"]
    assert scores.groupby("roi")["r"].mean()["V1"] > 0.5
