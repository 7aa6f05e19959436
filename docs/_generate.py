"""Sources the documentation build writes before Sphinx reads anything.

- ``write_api_pages``: one reference page per public subpackage, listing every name in its
  ``__all__`` (so the reference follows the package's exports without editing the docs).
- ``link_tutorials``: ``docs/tutorials`` points at the repository's ``tutorials/`` folder, so the
  notebooks render (and execute, from their own folder) without a copy.
- ``prepare_examples``: copies ``examples/*.py`` into sphinx-gallery's input folder with a page
  header, and decides which examples execute at build time (``reset_argv`` passes them their data).
"""

import ast
import importlib
import inspect
import os
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Subpackages with a reference page, in the order of the API index.
API_MODULES = [
    "neurotoolkit",
    "neurotoolkit.data",
    "neurotoolkit.data.fmri",
    "neurotoolkit.data.ephys",
    "neurotoolkit.data.datasets",
    "neurotoolkit.simulation",
    "neurotoolkit.features",
    "neurotoolkit.encoding",
    "neurotoolkit.decoding",
    "neurotoolkit.analysis",
    "neurotoolkit.probing",
    "neurotoolkit.probing.synthesis",
    "neurotoolkit.probing.captioning",
    "neurotoolkit.viz",
    "neurotoolkit.testing",
    "neurotoolkit.pipelines",
]

#: A local mirror of the datasets for an offline build (the fetchers' ``mirror``): taken from
#: ``NEUROTOOLKIT_DATA_MIRROR``, else ``NEUROTOOLKIT_DOCS_DATA``, else a data folder beside the
#: repository when there is one. Without a mirror, notebooks and examples fetch their data.
DATA_DIR = Path(
    os.environ.get("NEUROTOOLKIT_DATA_MIRROR")
    or os.environ.get("NEUROTOOLKIT_DOCS_DATA")
    or ROOT.parent / "shared" / "data"
)

#: Examples run at build time, and the dataset (a mirror folder) each one needs (None: none).
EXAMPLE_DATA = {
    "ridge_on_arrays.py": None,
    "train_prefix_captioner.py": None,
    "encode_92objects.py": "stimuli_92objects",
    "decode_haxby_embeddings.py": "fmri_haxby2001_sub001",
}
#: Examples shown without running, and why (printed in a note on their page).
EXAMPLE_NOT_RUN = {}


def _public_names(modname):
    module = importlib.import_module(modname)
    names = getattr(module, "__all__", None)
    if names is None:
        raise RuntimeError(f"{modname} has no __all__: the API reference is generated from it.")
    out = []
    for name in names:
        obj = getattr(module, name)
        if inspect.ismodule(obj) or name.startswith("__"):
            continue  # subpackages have their own page; __version__ is in the title
        out.append((name, obj))
    return out


def _kind(obj):
    if inspect.isclass(obj):
        return "Classes"
    if callable(obj):
        return "Functions"
    return "Other objects"


def _title(modname):
    return f"``{modname}``"


def write_api_pages(api_dir):
    """Write ``api/<module>.rst`` for each module in :data:`API_MODULES` and ``api/index.rst``.

    Names that a listed child subpackage also exports (``neurotoolkit.data.load_fmri`` is
    ``neurotoolkit.data.fmri.load_fmri``) are documented once, on the child's page, and linked
    from the parent's. Returns the list of page names.
    """
    api_dir = Path(api_dir)
    generated = api_dir / "generated"
    generated.mkdir(parents=True, exist_ok=True)
    exported = {mod: _public_names(mod) for mod in API_MODULES}
    documented = set()
    pages = []
    for mod in API_MODULES:
        children = [m for m in API_MODULES if m.startswith(mod + ".")]
        owner = {}
        for child in children:
            for name, obj in exported[child]:
                owner.setdefault(name, child)
        own = [(n, o) for n, o in exported[mod] if n not in owner]
        linked = [(n, owner[n]) for n, _ in exported[mod] if n in owner]
        lines = [_title(mod), "=" * len(_title(mod)), ""]
        if mod == "neurotoolkit":  # the package docstring is a plain-text overview, not reST
            lines += [f".. py:module:: {mod}", "", "The package. Its subpackages have their own pages:",
                      ""] + [f"- :doc:`{m}`" for m in API_MODULES[1:]] + [""]
        else:
            lines += [f".. automodule:: {mod}", "   :no-members:", ""]
        lines += [f".. currentmodule:: {mod}", ""]
        for kind in ("Classes", "Functions", "Other objects"):
            names = [n for n, o in own if _kind(o) == kind]
            if not names:
                continue
            lines += [kind, "-" * len(kind), "", ".. autosummary::", "   :toctree: generated/",
                      "   :nosignatures:", ""]
            lines += [f"   {n}" for n in names] + [""]
            documented.update(f"{mod}.{n}" for n in names)
        if linked:
            lines += ["Also available here", "-------------------", "",
                      f"These names are importable from ``{mod}`` and documented with the "
                      "subpackage that defines them.", "",
                      ".. list-table::", "   :widths: 40 60", ""]
            for name, child in linked:
                lines += [f"   * - :obj:`{mod}.{name} <{child}.{name}>`",
                          f"     - from :doc:`{child}`"]
            lines.append("")
        _write_if_changed(api_dir / f"{mod}.rst", "\n".join(lines))
        pages.append(mod)
    # Stubs of names no longer exported would be orphan pages (a warning, hence an error).
    for stub in generated.glob("*.rst"):
        if stub.stem not in documented:
            stub.unlink()
    index = ["API reference", "=============", "",
             "One page per subpackage; each lists every name in the subpackage's ``__all__``.", "",
             ".. toctree::", "   :maxdepth: 1", ""] + [f"   {p}" for p in pages] + [""]
    _write_if_changed(api_dir / "index.rst", "\n".join(index))
    return pages


def _write_if_changed(path, text):
    """Write only when the content changed, so that incremental builds stay incremental."""
    path = Path(path)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def link_tutorials(source, target):
    """Make ``target`` point at the ``source`` notebooks folder (a symbolic link, else a copy)."""
    source, target = Path(source), Path(target)
    if target.is_symlink() and target.resolve() == source.resolve():
        return target
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    try:
        target.symlink_to(os.path.relpath(source, target.parent), target_is_directory=True)
    except OSError:  # no symbolic links (Windows without developer mode): copy the notebooks
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return target


GALLERY_HEADER = """\
Examples
========

Short scripts, one task each. Every script also runs from the command line
(``python examples/<name>.py --help``). The scripts that find their data offline were executed
when this page was built; their printed output is shown below the code.
"""


def _with_page_title(text, note=None):
    """Underline the docstring's first line (the page title) and append ``note``."""
    match = re.match(r'(\s*(?:[rRuU]?)("""|\'\'\'))(.*)\n', text)
    if match is None:
        raise RuntimeError("An example must start with a module docstring whose first line is its title.")
    head, quote, title = match.group(1), match.group(2), match.group(3).strip()
    rest = text[match.end():]
    if not re.match(r"[=\-~^\"'`#*+]{3,}\s*\n", rest):
        rest = "=" * len(title) + "\n" + rest
    if note:
        end = rest.index(quote)
        rest = rest[:end].rstrip() + "\n\n.. note::\n\n   " + note + "\n" + rest[end:]
    return head + title + "\n" + rest


def prepare_examples(source, target):
    """Copy the example scripts into sphinx-gallery's input folder.

    Returns ``(folder, executed, reset_argv)``: the folder, the file names that execute at build
    time, and the fully qualified name of the callable that gives them their arguments.
    """
    source, target = Path(source), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    executed = []
    wanted = set()
    for path in sorted(source.glob("*.py")):
        name = path.name
        wanted.add(name)
        dataset = EXAMPLE_DATA.get(name, "unknown")
        note = None
        if name in EXAMPLE_NOT_RUN:
            note = f"This example is shown without its output: {EXAMPLE_NOT_RUN[name]}."
        elif dataset == "unknown":
            note = ("This example is shown without its output: the documentation build does not "
                    "know yet which data it needs.")
        elif dataset is None or (DATA_DIR / dataset).exists():
            executed.append(name)
        else:
            note = (f"This example is shown without its output: its data ({dataset}) were not "
                    "available offline when this page was built.")
        text = _with_page_title(path.read_text(encoding="utf-8"), note)
        _write_if_changed(target / name, text)
    _write_if_changed(target / "GALLERY_HEADER.rst", GALLERY_HEADER)
    for stale in target.glob("*.py"):
        if stale.name not in wanted:
            stale.unlink()
    return target, executed, "_generate.reset_argv"


def reset_argv(gallery_conf, script_vars):
    """Command-line arguments of an example executed by sphinx-gallery.

    sphinx-gallery runs an example with ``__doc__`` set to ``""`` and without ``__file__``; the
    scripts use both as they would from the command line (``argparse`` descriptions, default
    paths), so both are restored here, before the script's first line runs: ``__doc__`` is the
    script's docstring and ``__file__`` the path of the script in ``examples/``.
    """
    src = Path(script_vars["src_file"])
    example_globals = script_vars.get("example_globals")
    if example_globals is not None:
        original = ROOT / "examples" / src.name
        example_globals["__file__"] = str(original)
        example_globals["__doc__"] = ast.get_docstring(ast.parse(original.read_text(encoding="utf-8")))
    return []  # the examples find their data through the fetchers (and the mirror)
