"""Input handling of :class:`CrossSubjectDecoder`: per-subject responses and
targets (arrays, Recordings, FeatureSpaces, DataFrames), validation splits and
standardisation statistics."""

import numpy as np
import pandas as pd

from .._utils.validation import check_array, check_type


def _responses(name, x):
    if hasattr(x, "responses") and hasattr(x, "stimulus_ids"):  # Recording
        return check_array(name, x.responses, ndim=2).astype(np.float32), \
            np.asarray(x.stimulus_ids)
    return check_array(name, x, ndim=2).astype(np.float32), None


def _targets(name, y, ids, n):
    if hasattr(y, "values") and hasattr(y, "stimulus_ids") and not isinstance(y, pd.DataFrame):
        y = pd.DataFrame(np.asarray(y.values), index=np.asarray(y.stimulus_ids).astype(str))
    if isinstance(y, pd.DataFrame) and ids is not None:
        missing = sorted(set(map(str, ids)) - set(map(str, y.index)))
        if missing:
            raise ValueError(f"Invalid value for `{name}`: expected a row for every stimulus id "
                             f"of the recording, got none for {missing[:5]}.")
        y = y.loc[[str(i) for i in ids]].to_numpy()
    y = check_array(name, y, ndim=2).astype(np.float32)
    if len(y) != n:
        raise ValueError(f"Invalid value for `{name}`: expected {n} rows (one per sample of X), "
                         f"got {len(y)}.")
    return y


def _parse_xy(X, Y):
    """-> subjects, dict s -> X, dict s -> ids|None, dict head -> dict s -> Y."""
    check_type("X", X, dict, "a dict subject -> array (n_samples, n_voxels) or Recording")
    if not X:
        raise ValueError("Invalid value for `X`: expected at least one subject, got an empty dict.")
    subjects = [str(s) for s in X]
    xs, ids = {}, {}
    for s, x in X.items():
        xs[str(s)], ids[str(s)] = _responses(f"X[{s!r}]", x)
    if isinstance(Y, dict) and Y and all(isinstance(v, dict) for v in Y.values()):
        heads = {str(h): v for h, v in Y.items()}
    else:
        heads = {"embedding": Y}
    ys = {}
    for h, yh in heads.items():
        ys[h] = {}
        by_subject = {str(k): v for k, v in yh.items()} if isinstance(yh, dict) else None
        for s in subjects:
            if by_subject is not None and s not in by_subject:
                raise ValueError(f"Invalid value for `Y`: expected targets for every subject of "
                                 f"X {subjects}, got none for {s!r} (head {h!r}).")
            ysh = by_subject[s] if by_subject is not None else yh
            ys[h][s] = _targets(f"Y[{h!r}][{s!r}]", ysh, ids[s], len(xs[s]))
        dims = {ys[h][s].shape[1] for s in subjects}
        if len(dims) > 1:
            raise ValueError(f"Invalid value for `Y`: expected one target dimension per head, got "
                             f"{sorted(dims)} across subjects for head {h!r}.")
    return subjects, xs, ids, ys


def _split_rows(n, ids, fraction, rng):
    """Train/validation row indices; all rows of one stimulus go to the same side."""
    if fraction == 0 or n < 4:
        return np.arange(n), np.arange(0)
    groups = pd.factorize(ids)[0] if ids is not None else np.arange(n)
    uniq = rng.permutation(groups.max() + 1)
    n_val = min(max(2, round(float(fraction * len(uniq)))), len(uniq) - 1)
    val = np.isin(groups, uniq[:n_val])
    return np.flatnonzero(~val), np.flatnonzero(val)


def _scale(x):
    mean = x.mean(0)
    sd = x.std(0)
    return mean, np.where(sd > 0, sd, 1.0).astype(np.float32)
