"""Encoder objectives: a fitted encoder as a differentiable function of images.

The shared contract of the probing module: an *objective* is any callable
``objective(images) -> torch.Tensor (B,)`` taking float images
(B, 3, H, W) in [0, 1], differentiable. :class:`EncoderObjective` builds one
from a fitted :class:`~neurotoolkit.encoding.VoxelwiseEncoder` (or a plain
linear readout) and a torch feature extractor that reproduces the encoder's
features (as in BrainDiVE, Luo et al. 2023, and feature visualization).
"""

import numpy as np

from ..._utils.device import resolve_device
from ..._utils.optional import require
from ..._utils.validation import check_array, describe

__all__ = ["EncoderObjective", "backbone_extractor", "encoder_objective"]


def backbone_extractor(backbone, layer="embedding", pooling="auto", normalize=False):
    """A differentiable feature extractor from a Backbone layer.

    Parameters
    ----------
    backbone : Backbone | str
        A :class:`~neurotoolkit.features.Backbone` or a name for
        :func:`~neurotoolkit.features.get_backbone`.
    layer : str
        One name from ``backbone.layers()``.
    pooling : str
        As in :func:`~neurotoolkit.features.extract_features` (use the same
        value as when the encoder's features were extracted).
    normalize : bool
        L2-normalise each feature vector (e.g. CLIP embeddings, as BrainDiVE).

    Returns
    -------
    extractor : callable
        ``extractor(images)`` with images (B, 3, H, W) in [0, 1] returns
        (B, n_features), through ``backbone.preprocess_tensor`` (differentiable
        resize and normalisation) and ``backbone.forward_features``.
    """
    from ...features import get_backbone

    backbone = get_backbone(backbone)

    def extractor(images):
        x = backbone.preprocess_tensor(images)
        return backbone.forward_features(x, layers=[layer], pooling=pooling, normalize=normalize)[layer]

    extractor.describe = lambda: {"backbone": backbone.name, "weights_tag": backbone.weights_tag,
                                  "layer": layer, "pooling": pooling, "normalize": bool(normalize)}
    extractor.backbone = backbone
    extractor.device = backbone.device
    return extractor


def _readout_from(encoder):
    """(readout dict, units DataFrame | None) from an encoder, a dict or a tuple."""
    if hasattr(encoder, "linear_readout"):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(encoder, "estimator_")
        return encoder.linear_readout(), getattr(encoder, "units_", None)
    if isinstance(encoder, dict):
        ro = dict(encoder)
        units = ro.pop("units", None)
    elif isinstance(encoder, (tuple, list)) and len(encoder) in (2, 4):
        keys = ("coef", "intercept", "feature_mean", "feature_scale")[: len(encoder)]
        ro, units = dict(zip(keys, encoder, strict=True)), None
    else:
        raise TypeError(
            "Invalid value for `encoder`: expected a fitted VoxelwiseEncoder, a dict with 'coef', "
            "'intercept' (and optionally 'feature_mean', 'feature_scale', 'units') or a tuple "
            f"(coef, intercept[, feature_mean, feature_scale]), got {describe(encoder)}."
        )
    if "coef" not in ro:
        raise ValueError("Invalid value for `encoder`: expected a readout with a 'coef' entry, got none.")
    coef = check_array("coef", ro["coef"], ndim=(1, 2), dtype=np.float64)
    coef = coef[:, None] if coef.ndim == 1 else coef
    n_feat, n_units = coef.shape
    intercept = np.broadcast_to(np.asarray(ro.get("intercept", 0.0), dtype=np.float64), (n_units,))
    mean = np.broadcast_to(np.asarray(ro.get("feature_mean", 0.0), dtype=np.float64), (n_feat,))
    scale = np.broadcast_to(np.asarray(ro.get("feature_scale", 1.0), dtype=np.float64), (n_feat,))
    if np.any(scale == 0):
        raise ValueError("Invalid value for `feature_scale`: expected non-zero values, got zeros.")
    return {"coef": coef, "intercept": intercept, "feature_mean": mean, "feature_scale": scale}, units


def _gabor_extractor_for(encoder):
    """TorchGaborPyramid matching the encoder's GaborPyramid transformer, or None."""
    from ...features import GaborPyramid

    feats = getattr(encoder, "features", None)
    if isinstance(feats, dict) and len(feats) == 1:
        feats = next(iter(feats.values()))
    if isinstance(feats, GaborPyramid):
        from ...features import TorchGaborPyramid

        p = feats.get_params()
        return TorchGaborPyramid(n_orientations=p["n_orientations"],
                                 spatial_frequencies=p["spatial_frequencies"],
                                 grid_sizes=p["grid_sizes"], image_size=p["image_size"],
                                 output=p["output"], dtype="float32")
    return None


def _select_units(name, spec, n_units, units):
    """Indices (sorted int array) of the units picked by ``spec``."""
    if spec is None:
        return np.arange(n_units)
    if isinstance(spec, str) or (isinstance(spec, (list, tuple, np.ndarray)) and len(spec)
                                 and all(isinstance(s, str) for s in np.atleast_1d(spec))):
        labels = [spec] if isinstance(spec, str) else [str(s) for s in spec]
        if units is None:
            raise ValueError(
                f"Invalid value for `{name}`: ROI names need a units table (a fitted "
                f"VoxelwiseEncoder or a readout dict with 'units'), got names {labels}."
            )
        roi = units["roi"].astype(str).to_numpy() if "roi" in units.columns else np.array([])
        index = np.asarray([str(i) for i in units.index])
        picked = np.zeros(n_units, dtype=bool)
        for lab in labels:
            hit = (roi == lab) | (index == lab)
            if not hit.any():
                known = sorted(set(roi))
                raise ValueError(
                    f"Invalid value for `{name}`: expected ROI names from encoder.units_['roi'] "
                    f"({known}) or unit names, got {lab!r}."
                )
            picked |= hit
        return np.flatnonzero(picked)
    arr = np.asarray(spec)
    if arr.dtype == bool:
        if arr.shape != (n_units,):
            raise ValueError(
                f"Invalid value for `{name}`: expected a boolean mask of shape ({n_units},), got "
                f"shape {arr.shape}."
            )
        idx = np.flatnonzero(arr)
    elif np.issubdtype(arr.dtype, np.integer):
        idx = np.unique(np.atleast_1d(arr))
        if idx.size and (idx.min() < -n_units or idx.max() >= n_units):
            raise ValueError(
                f"Invalid value for `{name}`: expected unit indices in [0, {n_units}), got "
                f"values from {idx.min()} to {idx.max()}."
            )
        idx = np.unique(idx % n_units)
    else:
        raise TypeError(
            f"Invalid value for `{name}`: expected None, an int, an array of indices, a boolean "
            f"mask or ROI name(s), got {describe(spec)}."
        )
    if idx.size == 0:
        raise ValueError(f"Invalid value for `{name}`: expected at least one unit, got none.")
    return idx


class EncoderObjective:
    """Mean predicted response of chosen units, as a differentiable function of images.

    ``objective(images)`` maps float images (B, 3, H, W) in [0, 1] to
    ``mean_{u in units} r_u(x) - mean_{u in contrast} r_u(x)`` (B,), where
    ``r(x) = ((f(x) - feature_mean) / feature_scale) @ coef + intercept`` is
    the encoder's prediction from features ``f(x)`` computed in torch. Images
    of any size are fine: the feature extractor resizes them (differentiably).

    Parameters
    ----------
    encoder : VoxelwiseEncoder | dict | tuple
        A fitted :class:`~neurotoolkit.encoding.VoxelwiseEncoder` (its
        :meth:`~neurotoolkit.encoding.VoxelwiseEncoder.linear_readout`), or a
        readout: a dict with ``coef`` (n_features, n_units), ``intercept``
        (n_units,), optional ``feature_mean``, ``feature_scale`` (n_features,)
        and ``units`` (DataFrame with a ``roi`` column), or a tuple
        ``(coef, intercept[, feature_mean, feature_scale])``.
    feature_extractor : torch.nn.Module | callable | Backbone | None
        ``f(images) -> (B, n_features)``, the features the encoder was fitted
        on, in the same order: e.g. :class:`~neurotoolkit.features.TorchGaborPyramid`
        or :func:`backbone_extractor` (a Backbone is read at its
        ``"embedding"`` layer). None builds a TorchGaborPyramid when the
        encoder was fitted with a ``GaborPyramid`` transformer.
    units : None | int | array of int | boolean mask | str | list of str
        Units whose mean response is maximised: all (None), indices, a mask
        over units, or ROI names looked up in ``encoder.units_["roi"]`` (unit
        names from its index work too).
    contrast : same as ``units`` | None
        Units whose mean is subtracted (ROI A minus ROI B).
    device : "auto" | "cpu" | "cuda" | "cuda:N" | torch.device, default="auto"
        Where the readout lives. "auto" follows the feature extractor: the
        device of its parameters (or its ``device`` attribute, as for a
        Backbone), else CUDA when torch sees a GPU, else the CPU. An explicit
        device does not move the extractor: move it there yourself.
    dtype : "float32" | "float64"
        Precision of the readout (features are cast to it).

    Attributes
    ----------
    units_ : array of int
        Indices of the maximised units.
    contrast_ : array of int | None
    n_features_ : int
    n_units_ : int

    Examples
    --------
    >>> obj = EncoderObjective(encoder, TorchGaborPyramid(), units="FFA")  # doctest: +SKIP
    >>> obj(torch.rand(2, 3, 96, 96))  # (2,) mean predicted FFA response  # doctest: +SKIP
    """

    def __init__(self, encoder, feature_extractor=None, units=None, contrast=None, device="auto",
                 dtype="float32"):
        torch = require("torch", purpose="EncoderObjective")
        from ..._utils.validation import check_option

        check_option("dtype", dtype, ("float32", "float64"))
        readout, unit_table = _readout_from(encoder)
        if feature_extractor is None:
            feature_extractor = _gabor_extractor_for(encoder)
            if feature_extractor is None:
                raise ValueError(
                    "Invalid value for `feature_extractor`: expected a torch module or callable "
                    "images -> (B, n_features) reproducing the encoder's features (e.g. "
                    "TorchGaborPyramid(...) or backbone_extractor(backbone, layer)), got None; it "
                    "is inferred only for encoders fitted with a GaborPyramid transformer."
                )
        if hasattr(feature_extractor, "forward_features") and hasattr(feature_extractor, "preprocess_tensor"):
            feature_extractor = backbone_extractor(feature_extractor)
        if not callable(feature_extractor):
            raise TypeError(
                f"Invalid value for `feature_extractor`: expected a callable, got {describe(feature_extractor)}."
            )
        coef = readout["coef"]
        self.n_features_, self.n_units_ = coef.shape
        expected = getattr(feature_extractor, "n_features_out", None)
        if expected is not None and int(expected) != self.n_features_:
            raise ValueError(
                f"Invalid value for `feature_extractor`: it returns {expected} features but the "
                f"encoder was fitted on {self.n_features_}. Use the extractor (backbone, layer, "
                "parameters) that made the encoder's features."
            )
        self.feature_extractor = feature_extractor
        self.units_table = unit_table
        self.units_ = _select_units("units", units, self.n_units_, unit_table)
        self.contrast_ = None if contrast is None else _select_units(
            "contrast", contrast, self.n_units_, unit_table)
        self.units = units
        self.contrast = contrast
        if device is None or (isinstance(device, str) and device == "auto"):
            device = _extractor_device(feature_extractor)
        self.device = resolve_device(device, purpose="EncoderObjective")
        self.dtype = dtype
        tdtype = getattr(torch, dtype)
        # fold the standardization into the weights: r = f @ W + b
        scale, mean = readout["feature_scale"], readout["feature_mean"]
        W = coef / scale[:, None]
        b = readout["intercept"] - (mean / scale) @ coef
        self._W = torch.as_tensor(W, dtype=tdtype, device=self.device)
        self._b = torch.as_tensor(b, dtype=tdtype, device=self.device)
        # the objective only needs one direction: mean over units minus mean over contrast
        w = W[:, self.units_].mean(axis=1)
        c = b[self.units_].mean()
        if self.contrast_ is not None:
            w = w - W[:, self.contrast_].mean(axis=1)
            c = c - b[self.contrast_].mean()
        self._w = torch.as_tensor(w, dtype=tdtype, device=self.device)
        self._c = float(c)

    # ------------------------------------------------------------------ torch
    def features(self, images):
        """Features (B, n_features) of images (B, 3, H, W) in [0, 1] (differentiable)."""
        torch = require("torch")
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                "Invalid value for `images`: expected a float tensor (B, 3, H, W) in [0, 1], got "
                f"{describe(images) if not isinstance(images, torch.Tensor) else tuple(images.shape)}."
            )
        feats = self.feature_extractor(images)
        if isinstance(feats, dict):
            if len(feats) != 1:
                raise ValueError(
                    f"Invalid value for `feature_extractor`: expected one (B, n_features) tensor, "
                    f"got a dict of {len(feats)} layers."
                )
            feats = next(iter(feats.values()))
        feats = feats.reshape(feats.shape[0], -1)
        if feats.shape[1] != self.n_features_:
            raise ValueError(
                f"Invalid value for `feature_extractor`: it returned {feats.shape[1]} features, the "
                f"encoder expects {self.n_features_}."
            )
        return feats.to(device=self.device, dtype=self._W.dtype)

    def predict(self, images):
        """Predicted responses of all units (B, n_units) (differentiable)."""
        return self.features(images) @ self._W + self._b

    def __call__(self, images):
        """Objective (B,): mean predicted response of ``units`` (minus ``contrast``)."""
        return self.features(images) @ self._w + self._c

    def describe(self):
        """A JSON-able description (stored with synthesized images)."""
        extractor = getattr(self.feature_extractor, "describe", None)
        if callable(extractor):
            extractor = extractor()
        elif hasattr(self.feature_extractor, "config"):
            extractor = {"module": type(self.feature_extractor).__name__,
                         **dict(self.feature_extractor.config)}
        else:
            extractor = repr(self.feature_extractor)
        roi = None
        if self.units_table is not None and "roi" in self.units_table.columns:
            roi = sorted(set(self.units_table["roi"].astype(str).iloc[self.units_]))
        return {"objective": "EncoderObjective", "units": _jsonable(self.units), "n_units": len(self.units_),
                "units_roi": roi, "contrast": _jsonable(self.contrast),
                "n_contrast_units": 0 if self.contrast_ is None else len(self.contrast_),
                "feature_extractor": extractor, "n_features": int(self.n_features_)}

    def __repr__(self):
        con = "" if self.contrast_ is None else f" minus {len(self.contrast_)} units"
        return f"<EncoderObjective: mean of {len(self.units_)} of {self.n_units_} units{con}>"


def _jsonable(spec):
    if spec is None or isinstance(spec, (str, int, float)):
        return spec
    arr = np.asarray(spec)
    if arr.dtype == bool:
        return f"mask of {int(arr.sum())} units"
    return arr.tolist()


def _extractor_device(extractor):
    """The device of a feature extractor's parameters or ``device`` attribute, else "auto"."""
    device = getattr(extractor, "device", None)
    if device is not None:
        return device
    params = getattr(extractor, "parameters", None)
    if callable(params):
        first = next(iter(params()), None)
        if first is not None:
            return first.device
    return "auto"


def encoder_objective(encoder, feature_extractor=None, units=None, contrast=None, device="auto",
                      dtype="float32"):
    """Function form of :class:`EncoderObjective` (same parameters)."""
    return EncoderObjective(encoder, feature_extractor, units=units, contrast=contrast, device=device,
                            dtype=dtype)
