"""Safe save and load of :class:`VoxelwiseEncoder` (HDF5 + JSON, checksummed, no pickle)."""

__all__ = ["load_encoder"]

_FORMAT_VERSION = 2  # 2: safe_io container (no pickle); 1: joblib pickle


def _saveable_classes():
    """The only classes :func:`load_encoder` rebuilds (never a class named by the file)."""
    from sklearn import model_selection as ms

    from .._ridge._banded import BandedRidgeCVResults
    from .._ridge._solve_ridge import RidgeCVResults
    from ..data._splits import StimulusKFold
    from ..features import GaborPyramid
    from ..features._feature_space import FeatureSpace
    from ._banded import BandedRidgeCV
    from ._delayer import Delayer
    from ._ridge_cv import RidgeCV
    from ._voxelwise import VoxelwiseEncoder

    extra = ()
    try:  # time courses given as features (neurotoolkit.features, when available)
        from ..features import FeatureTimeCourse

        extra = (FeatureTimeCourse,)
    except ImportError:  # pragma: no cover
        pass
    return extra + (VoxelwiseEncoder, RidgeCV, BandedRidgeCV, RidgeCVResults,
                    BandedRidgeCVResults, Delayer, FeatureSpace, GaborPyramid, StimulusKFold,
                    ms.KFold, ms.GroupKFold, ms.LeaveOneGroupOut, ms.PredefinedSplit,
                    ms.ShuffleSplit, ms.GroupShuffleSplit, ms.TimeSeriesSplit)


def load_encoder(fname, trust_pickle=False):
    """Load a :class:`VoxelwiseEncoder` saved with :meth:`VoxelwiseEncoder.save`.

    The file's checksum is verified, and objects are rebuilt only from
    neurotoolkit's own classes: loading never runs code from the file.

    Parameters
    ----------
    fname : path-like
    trust_pickle : bool
        Files written by neurotoolkit before version 2 of the format are
        joblib pickles, which can run arbitrary code when loaded. They raise
        an error unless ``trust_pickle=True``: pass it only for a file from a
        source you trust, then ``save`` the encoder again to convert it.

    Returns
    -------
    VoxelwiseEncoder
    """
    from pathlib import Path

    from .._utils.safe_io import FileFormatError, load_object, sniff
    from ._voxelwise import VoxelwiseEncoder

    fname = Path(fname)
    hint = (f"If you trust its source, load it with load_encoder('{fname}', trust_pickle=True), "
            "then call .save(new_fname) on the result to convert it to the safe format.")
    if trust_pickle and fname.is_file() and sniff(fname) == "pickle":
        import joblib

        payload = joblib.load(fname)
        if not isinstance(payload, dict) or not isinstance(payload.get("encoder"),
                                                           VoxelwiseEncoder):
            raise FileFormatError(
                f"Invalid value for `fname`: '{fname}' is not a neurotoolkit encoder file."
            )
        return payload["encoder"]
    tree, _ = load_object(fname, "VoxelwiseEncoder", _FORMAT_VERSION, _saveable_classes(),
                          pickle_hint=hint)
    enc = VoxelwiseEncoder.__new__(VoxelwiseEncoder)
    enc.__dict__.update(tree["state"])
    return enc
