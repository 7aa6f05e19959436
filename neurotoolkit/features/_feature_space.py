"""FeatureSpace: stimulus features keyed by stimulus id, with provenance."""

import numpy as np

from .._utils.validation import check_array

__all__ = ["FeatureSpace"]


class FeatureSpace:
    """An (n_stimuli, n_features) array of stimulus features plus provenance.

    Parameters
    ----------
    values : array (n_stimuli, n_features)
        One row per stimulus.
    stimulus_ids : sequence of str, shape (n_stimuli,)
        Unique ids, the keys ``Recording.stimulus_ids`` refer to.
    name : str
        Short name, e.g. "gabor" or "clip-vit-b32/visual.ln_post".
    provenance : dict | None
        How the values were made: backbone, layer, weights tag, preprocessing.
    feature_names : sequence of str | None
        One name per column; default ``"{name}_{k}"``.

    Examples
    --------
    >>> fs = FeatureSpace(np.eye(3), ["a", "b", "c"], name="onehot")
    >>> fs.for_ids(["c", "a", "c"]).shape
    (3, 3)
    """

    def __init__(self, values, stimulus_ids, name, provenance=None, feature_names=None):
        values = check_array("values", values, ndim=2, dtype=None, min_samples=1)
        if not np.issubdtype(values.dtype, np.number):
            raise ValueError(
                f"Invalid value for `values`: expected a numeric array, got dtype {values.dtype}."
            )
        ids = np.asarray([str(s) for s in np.atleast_1d(stimulus_ids)], dtype=object)
        if ids.ndim != 1 or len(ids) != values.shape[0]:
            raise ValueError(
                "Invalid value for `stimulus_ids`: expected one id per row of `values` "
                f"({values.shape[0]}), got {len(ids)} ids."
            )
        index = {sid: k for k, sid in enumerate(ids)}
        if len(index) != len(ids):
            dup = sorted({s for s in ids if list(ids).count(s) > 1})[:5]
            raise ValueError(
                f"Invalid value for `stimulus_ids`: expected unique ids, got duplicates {dup}."
            )
        if feature_names is None:
            feature_names = [f"{name}_{k}" for k in range(values.shape[1])]
        feature_names = np.asarray([str(f) for f in feature_names], dtype=object)
        if feature_names.shape != (values.shape[1],):
            raise ValueError(
                "Invalid value for `feature_names`: expected one name per column of `values` "
                f"({values.shape[1]}), got {feature_names.shape[0]} names."
            )
        self.values = values
        self.stimulus_ids = ids
        self.name = str(name)
        self.provenance = dict(provenance or {})
        self.feature_names = feature_names
        self._index = index

    @property
    def n_features(self):
        """Number of features (columns)."""
        return self.values.shape[1]

    @property
    def n_stimuli(self):
        """Number of stimuli (rows)."""
        return self.values.shape[0]

    def __len__(self):
        return self.n_stimuli

    def __contains__(self, stimulus_id):
        return str(stimulus_id) in self._index

    def __repr__(self):
        prov = ", ".join(f"{k}={v!r}" for k, v in list(self.provenance.items())[:4])
        return (
            f"<FeatureSpace {self.name!r}: {self.n_stimuli} stimuli x {self.n_features} features "
            f"({self.values.dtype})" + (f"; {prov}" if prov else "") + ">"
        )

    def for_ids(self, ids):
        """Rows for ``ids`` (repeats allowed), array (len(ids), n_features).

        Raises KeyError listing (up to 10) ids that are not in this space.
        """
        ids = [str(s) for s in np.atleast_1d(ids)]
        missing = [s for s in dict.fromkeys(ids) if s not in self._index]
        if missing:
            raise KeyError(
                f"Invalid value for `ids`: {len(missing)} id(s) not in FeatureSpace {self.name!r}: "
                f"{missing[:10]}."
            )
        return self.values[[self._index[s] for s in ids]]

    @classmethod
    def concat(cls, spaces, name=None):
        """Join feature spaces of the same stimuli column-wise (for joint/banded models).

        Rows are aligned by id to the first space's order. Feature names are
        prefixed by each space's name; provenance keeps each part and
        ``"bands"``: the column slice of each space.
        """
        spaces = list(spaces)
        if not spaces or not all(isinstance(s, cls) for s in spaces):
            raise TypeError(
                "Invalid value for `spaces`: expected a non-empty list of FeatureSpace, got "
                f"{[type(s).__name__ for s in spaces][:5]}."
            )
        ids = spaces[0].stimulus_ids
        for s in spaces[1:]:
            if set(s.stimulus_ids) != set(ids):
                raise ValueError(
                    f"Invalid value for `spaces`: FeatureSpace {s.name!r} has different stimulus "
                    f"ids from {spaces[0].name!r}; concatenate spaces of the same stimuli."
                )
        dtype = np.result_type(*[s.values.dtype for s in spaces])
        values = np.concatenate([s.for_ids(ids).astype(dtype, copy=False) for s in spaces], axis=1)
        names = np.concatenate([[f"{s.name}:{f}" for f in s.feature_names] for s in spaces])
        bounds = np.cumsum([0] + [s.n_features for s in spaces])
        provenance = {
            "parts": {s.name: s.provenance for s in spaces},
            "bands": {s.name: (int(a), int(b)) for s, a, b in zip(spaces, bounds[:-1], bounds[1:])},
        }
        return cls(values, ids, name or "+".join(s.name for s in spaces), provenance, names)

    def append_stimuli(self, other):
        """A new FeatureSpace with the rows of ``other`` (new stimuli) added.

        Ids already present are kept from ``self``; both spaces must have the
        same number of features.
        """
        if not isinstance(other, FeatureSpace) or other.n_features != self.n_features:
            raise ValueError(
                f"Invalid value for `other`: expected a FeatureSpace with {self.n_features} "
                f"features, got {other!r}."
            )
        new = [i for i in other.stimulus_ids if i not in self._index]
        values = np.concatenate([self.values, other.for_ids(new).astype(self.values.dtype)])
        ids = list(self.stimulus_ids) + new
        return FeatureSpace(values, ids, self.name, self.provenance, self.feature_names)
