"""Saving and loading cached stage values by kind (no pickle: HDF5 / JSON through safe_io)."""

import json
from pathlib import Path

__all__ = ["load", "save"]

_KIND = "pipeline-stage"
_VERSION = 1


def _feature_classes():
    from neurotoolkit.features import FeatureSpace

    return (FeatureSpace,)


def _index(folder):
    return json.loads((Path(folder) / "index.json").read_text())


def _write_index(folder, index):
    (Path(folder) / "index.json").write_text(json.dumps(index, indent=1))


def save(folder, kind, value):
    """Save ``value`` into the (temporary) stage folder."""
    from neurotoolkit._utils.safe_io import save_object

    folder = Path(folder)
    if kind in ("recording", "encoder"):  # one object, or a {name: object} of them
        if kind == "recording":
            from neurotoolkit.data import Recording

            single = isinstance(value, Recording)
        else:
            single = hasattr(value, "save")
        items = {"": value} if single else dict(value)
        for i, obj in enumerate(items.values()):
            obj.save(folder / f"{kind}{i:03d}.h5")
        _write_index(folder, {"single": single, "names": list(items)})
    elif kind == "json":
        (folder / "value.json").write_text(json.dumps(value, indent=1, sort_keys=True))
    elif kind == "features":
        save_object(folder / "value.h5", _KIND, _VERSION, dict(value), classes=_feature_classes(),
                    what="features")
    else:  # arrays, table, object
        save_object(folder / "value.h5", _KIND, _VERSION, value, what=kind)


def load(folder, kind):
    """Load what :func:`save` wrote."""
    from neurotoolkit._utils.safe_io import load_object

    folder = Path(folder)
    if kind == "recording":
        from neurotoolkit.data import Recording

        index = _index(folder)
        recs = {name: Recording.load(folder / f"recording{i:03d}.h5")
                for i, name in enumerate(index["names"])}
        return recs[""] if index["single"] else recs
    if kind == "encoder":
        from neurotoolkit.encoding import load_encoder

        index = _index(folder)
        models = {name: load_encoder(folder / f"encoder{i:03d}.h5")
                  for i, name in enumerate(index["names"])}
        return models[""] if index["single"] else models
    if kind == "json":
        return json.loads((folder / "value.json").read_text())
    classes = _feature_classes() if kind == "features" else ()
    value, _ = load_object(folder / "value.h5", _KIND, _VERSION, classes=classes)
    return value
