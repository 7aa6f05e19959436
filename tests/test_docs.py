"""Build the documentation (fast mode: no notebook or gallery execution) with warnings as errors.

The full build (``.venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html``) also
executes the tutorials and examples; it takes minutes and is not run here. This test proves the
API reference, the guide and the method pages build offline without a warning. Like any build, it
regenerates the ignored sources under ``docs/`` (``api/``, ``auto_examples/``, ``_gallery_src/``).
"""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

for _name in ("sphinx", "numpydoc", "sphinx_gallery", "myst_nb", "pydata_sphinx_theme"):
    pytest.importorskip(_name, reason=f"{_name} is not installed: pip install -e '.[docs]'")

sys.path.insert(0, str(DOCS))
try:
    from _generate import API_MODULES  # noqa: E402
finally:
    sys.path.remove(str(DOCS))


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    env = dict(os.environ, NEUROTOOLKIT_DOCS_FAST="1")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"sphinx failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    return out / "html"


@pytest.mark.timeout(600)
def test_api_reference_lists_every_export(html):
    for mod in API_MODULES:
        page = html / "api" / f"{mod}.html"
        assert page.exists(), page
        text = page.read_text(encoding="utf-8")
        module = importlib.import_module(mod)
        for name in module.__all__:
            if name.startswith("__") or mod == "neurotoolkit" and name != "set_log_level":
                continue
            assert re.search(rf"\b{re.escape(name)}\b", text), f"{name} missing from {page.name}"


@pytest.mark.timeout(600)
def test_key_objects_have_pages(html):
    ridge = html / "api" / "generated" / "neurotoolkit.encoding.RidgeCV.html"
    sim = html / "api" / "generated" / "neurotoolkit.simulation.simulate_recordings.html"
    assert "RidgeCV" in ridge.read_text(encoding="utf-8")
    sim_text = sim.read_text(encoding="utf-8")
    assert "simulate_recordings" in sim_text and "Parameters" in sim_text
    # A re-exported name is documented once, with its subpackage, and linked from the parent.
    data_page = (html / "api" / "neurotoolkit.data.html").read_text(encoding="utf-8")
    assert "generated/neurotoolkit.data.fmri.load_fmri.html" in data_page
    assert not (html / "api" / "generated" / "neurotoolkit.data.load_fmri.html").exists()


@pytest.mark.timeout(600)
def test_guide_methods_tutorials_and_gallery_pages(html):
    for page in ("index", "install", "quickstart", "tutorials", "guide/which_method",
                 "methods/index", "auto_examples/index"):
        assert (html / f"{page}.html").exists(), page
    notebooks = sorted(p.stem for p in (ROOT / "tutorials").glob("*.ipynb"))
    assert notebooks
    for stem in notebooks:
        assert (html / "tutorials" / f"{stem}.html").exists(), stem
    for script in (ROOT / "examples").glob("*.py"):
        assert (html / "auto_examples" / f"{script.stem}.html").exists(), script.name
    methods = sorted((DOCS / "methods").glob("*.md"))
    assert len(methods) >= 12
    for src in methods:
        if src.stem == "index":
            continue
        text = (html / "methods" / f"{src.stem}.html").read_text(encoding="utf-8")
        assert "References" in text, src.name
        # every method page links to the API reference of what implements it
        assert 'href="../api/generated/neurotoolkit.' in text, src.name


def test_user_facing_pages_cite_papers_not_internal_files():
    pages = [*DOCS.glob("*.rst"), *DOCS.glob("guide/*.md"), *DOCS.glob("methods/*.md")]
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "shared/" not in text and "METHODS.md" not in text and "DESIGN.md" not in text, page
