"""Save and load fitted decoders as checksummed HDF5 files (no pickle).

Parameters go to JSON, arrays and torch weights to HDF5 datasets, with a sha256
checksum (``neurotoolkit._utils.safe_io``); loading rebuilds only the classes
listed here, so a file can never make the loader run code.
"""

from pathlib import Path

from sklearn.utils.validation import check_is_fitted

from .._utils.safe_io import FileFormatError, load_object, save_object
from .._utils.validation import check_type

__all__ = ["load_decoder", "save_decoder"]

_FORMAT_VERSION = 1


def _classes():
    from sklearn import model_selection as ms

    from .._ridge._solve_ridge import RidgeCVResults
    from ..data._splits import StimulusKFold
    from ._adapters import SubjectAdapters
    from ._cross_subject import CrossSubjectDecoder
    from ._ridge_decoder import RidgeDecoder

    return (RidgeDecoder, CrossSubjectDecoder, SubjectAdapters, RidgeCVResults, StimulusKFold,
            ms.KFold, ms.GroupKFold, ms.LeaveOneGroupOut, ms.PredefinedSplit, ms.ShuffleSplit,
            ms.GroupShuffleSplit, ms.TimeSeriesSplit)


def save_decoder(decoder, fname, overwrite=False):
    """Save a fitted :class:`RidgeDecoder` or :class:`CrossSubjectDecoder`.

    Parameters
    ----------
    decoder : RidgeDecoder | CrossSubjectDecoder
        A fitted decoder (a CrossSubjectDecoder with its adapted subjects).
    fname : path-like
        Target file (e.g. ``decoder.h5``), written atomically.
    overwrite : bool
        If False (default), an existing file raises ``FileExistsError``.

    Returns
    -------
    fname : pathlib.Path
    """
    from ._cross_subject import CrossSubjectDecoder
    from ._ridge_decoder import RidgeDecoder

    check_type("decoder", decoder, (RidgeDecoder, CrossSubjectDecoder),
               "a RidgeDecoder or CrossSubjectDecoder")
    check_is_fitted(decoder)
    check_type("fname", fname, "path-like")
    fname = Path(fname)
    if fname.exists() and not overwrite:
        raise FileExistsError(
            f"Invalid value for `fname`: '{fname}' exists; pass overwrite=True to replace it."
        )
    # CrossSubjectDecoder.__getstate__ replaces its torch modules by their weights
    state = decoder.__getstate__() if isinstance(decoder, CrossSubjectDecoder) else vars(decoder)
    tree = {"class": type(decoder).__name__, "state": dict(state)}
    return save_object(fname, "Decoder", _FORMAT_VERSION, tree, _classes())


def load_decoder(fname):
    """Load a decoder saved with :func:`save_decoder` (checksum verified, nothing unpickled).

    Parameters
    ----------
    fname : path-like

    Returns
    -------
    decoder : RidgeDecoder | CrossSubjectDecoder
    """
    classes = {cls.__name__: cls for cls in _classes()[:2]}
    tree, _ = load_object(fname, "Decoder", _FORMAT_VERSION, _classes())
    if tree.get("class") not in classes:
        raise FileFormatError(
            f"Invalid value for `fname`: '{fname}' describes a {tree.get('class')!r}, expected "
            f"one of {sorted(classes)}."
        )
    cls = classes[tree["class"]]
    decoder = cls.__new__(cls)
    decoder.__setstate__(tree["state"])
    return decoder
