"""Every key path of a config schema with its type, default and description (``--help``)."""

import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

__all__ = ["format_options", "schema_rows"]


def _type_name(tp):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Union:
        names = [_type_name(a) for a in args if a is not type(None)]
        joined = " | ".join(names)
        return f"{joined} | null" if type(None) in args else joined
    if origin is typing.Literal:
        return "{" + ", ".join(repr(a) if isinstance(a, str) else str(a) for a in args) + "}"
    if origin in (list, tuple, dict):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"{origin.__name__}[{inner}]"
    name = getattr(tp, "__name__", str(tp))
    return {"Path": "path", "NoneType": "null", "PositiveInt": "int > 0"}.get(name, name)


def _models_in(tp):
    """The BaseModel classes in a (union / annotated / container) type, with their tag."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (typing.Union, list, dict, tuple):
        out = []
        for a in args[1:] if origin is dict else args:
            out += _models_in(a)
        return out
    return []


def _default(field):
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default if field.default_factory is None else field.default_factory()
    if isinstance(value, BaseModel):
        return "(section)"
    return "null" if value is None else repr(value)


def _tag(model):
    for name in ("source", "kind"):
        field = model.model_fields.get(name)
        if field is not None and typing.get_origin(field.annotation) is typing.Literal:
            return name, typing.get_args(field.annotation)[0]
    return None


def schema_rows(model, prefix="", _seen=None):
    """(key path, type, default, description) of every field, recursing into sections.

    A dict of sections shows as ``features.<name>.kind``; a union of sections
    (``data``) lists each member's keys under ``data[source=bids].root``.
    """
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        tp = field.annotation
        desc = field.description or ""
        models = _models_in(tp)
        origin = typing.get_origin(tp)
        if not models:
            rows.append((path, _type_name(tp), _default(field), desc))
            continue
        if len(models) == 1 and origin is not dict:
            sub = models[0]
            rows.append((path, "section", _default(field), desc or (sub.__doc__ or "").split("\n")[0]))
            rows += schema_rows(sub, path + ".")
            continue
        base = f"{path}.<name>" if origin is dict else path
        rows.append((path, "section" if origin is not dict else "dict of sections", _default(field),
                     desc))
        for sub in models:
            tag = _tag(sub)
            label = f"{base}[{tag[0]}={tag[1]}]" if tag else base
            rows.append((label, "section", "", (sub.__doc__ or "").strip().split("\n")[0]))
            rows += schema_rows(sub, label + ".")
    return rows


def format_options(model):
    """Text listing every key path (for ``--help``)."""
    rows = schema_rows(model)
    width = min(max(len(r[0]) for r in rows), 48)
    lines = []
    for path, tp, default, desc in rows:
        head = f"  {path:<{width}}  {tp}"
        if default and default not in ("(section)",):
            head += f" = {default}"
        lines.append(head)
        if desc:
            lines.append(f"  {'':<{width}}    {desc}")
    return "\n".join(lines)
