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
        "import sys, neurotoolkit, neurotoolkit.data, neurotoolkit.features, "
        "neurotoolkit.encoding, neurotoolkit.analysis, neurotoolkit.viz\n"
        f"heavy = {HEAVY!r}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported by `import neurotoolkit`: {out.stdout}"


# subpackage -> subpackages it must never import (DESIGN.md: imports point down only)
FORBIDDEN = {
    "_utils": {"_ridge", "data", "features", "encoding", "decoding", "probing", "analysis", "viz"},
    "_ridge": {"features", "encoding", "decoding", "probing", "analysis", "viz"},
    "data": {"features", "encoding", "decoding", "probing", "analysis", "viz"},
    "features": {"encoding", "decoding", "probing", "analysis"},
    "encoding": {"decoding", "probing", "analysis"},
    "decoding": {"encoding", "probing", "analysis"},
}


def _imported_subpackages(path):
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("neurotoolkit."):
                found.add(node.module.split(".")[1])
            elif node.level == 2 and node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("neurotoolkit."):
                    found.add(alias.name.split(".")[1])
    return found


@pytest.mark.parametrize("sub", sorted(FORBIDDEN))
def test_layers_point_down(sub):
    offenders = []
    for path in (PKG / sub).rglob("*.py"):
        bad = _imported_subpackages(path) & FORBIDDEN[sub]
        if bad:
            offenders.append(f"{path.relative_to(PKG)} imports {sorted(bad)}")
    assert not offenders, "layer violations: " + "; ".join(offenders)


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
