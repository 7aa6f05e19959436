"""Shared docstring pieces (MNE's ``fill_doc`` habit).

Use ``%(verbose)s`` etc. in a docstring and decorate with :func:`fill_doc`.
"""

__all__ = ["docdict", "fill_doc"]

docdict = {
    "verbose": """verbose : bool | int | str | None
    Logging level for this call: None uses the package level (see
    :func:`neurotoolkit.set_log_level`), True is INFO (progress bars shown),
    False is WARNING, or a level name such as "DEBUG".""",
    "random_state": """random_state : None | int | numpy.random.Generator
    Seed or generator for every random draw of this call. None gives
    different results each call; an int makes them reproducible.""",
    "data_home": """data_home : str | path-like | None
    Folder for downloaded datasets. None resolves to the environment
    variable ``NEUROTOOLKIT_DATA``, then ``~/neurotoolkit_data``.""",
    "device": """device : "auto" | "cpu" | "cuda" | "cuda:N" | torch.device
    Where torch computations run. "auto" (the default; None is accepted as
    "auto") picks CUDA when torch sees a GPU, else the CPU; asking for an
    unavailable device raises an error.""",
    "backend": """backend : "auto" | "numpy" | "torch"
    Array library of the linear algebra. "auto" (the default) uses torch
    when ``device`` asks for a GPU ("cuda", "cuda:N", or "auto" while torch
    sees one) and numpy otherwise; ``device="cuda"`` alone is enough.
    ``backend="numpy"`` with a GPU device is an error.""",
    "memory_budget": """memory_budget : int | str | None
    Upper bound on working memory for this call, in bytes or as a string
    such as "4GB". None uses 70 % of the available memory (free GPU memory
    minus 15 % on CUDA). Target batches are sized from it.""",
}


def fill_doc(obj):
    """Fill ``%(key)s`` placeholders in ``obj.__doc__`` from :data:`docdict`.

    Indentation of each inserted block follows the placeholder's line.
    """
    doc = obj.__doc__
    if not doc:
        return obj
    lines = doc.splitlines()
    out = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("%(") and stripped.endswith(")s"):
            key = stripped[2:-2]
            if key not in docdict:
                raise KeyError(f"unknown docstring key {key!r} in {obj.__qualname__}")
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + piece for piece in docdict[key].splitlines())
        else:
            out.append(line)
    obj.__doc__ = "\n".join(out)
    return obj
