"""Differentiable Gabor-energy pyramid in torch (the ``"gabor"`` backbone).

Same feature definition, order and names as the numpy
:class:`~neurotoolkit.features.GaborPyramid`, computed at full resolution
with FFTs in torch so that gradients flow back to the input images (for
encoders and activation maximization). Importing this module imports torch:
``neurotoolkit.features`` loads it lazily.
"""

import numpy as np

from .._utils.optional import require
from .._utils.validation import check_option, describe
from ._gabor_core import (
    _pool_edges,
    check_gabor_params,
    gabor_feature_table,
    gabor_filters,
)
from ._backbones import Backbone, register_backbone

torch = require("torch", purpose="TorchGaborPyramid")
nn = torch.nn
F = torch.nn.functional

__all__ = ["GaborBackbone", "GaborPreprocess", "TorchGaborPyramid", "gabor_backbone"]

_GRAY = (0.299, 0.587, 0.114)


class GaborPreprocess:
    """Grayscale and resize in torch: (n, 3 | 1, h, w) in [0, 1] -> (n, 1, size, size).

    Bicubic resampling with antialiasing (torch's PIL-like kernel), no
    clamping, as the numpy pyramid (which resizes grayscale float images).
    Differentiable.
    """

    def __init__(self, image_size):
        self.image_size = int(image_size)

    def describe(self):
        """A JSON-able description (feature-store key part)."""
        return {"gray": list(_GRAY), "size": self.image_size, "interpolation": "bicubic-antialias",
                "impl": "torch-gabor-v1"}

    def __repr__(self):
        return f"GaborPreprocess(image_size={self.image_size})"

    def __call__(self, x):
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(
                "Invalid value for `x`: expected a float tensor (n, 3, height, width) or "
                f"(n, 1, height, width) in [0, 1], got shape {tuple(x.shape)}."
            )
        if not x.is_floating_point():
            raise TypeError(
                f"Invalid value for `x`: expected a float tensor in [0, 1], got dtype {x.dtype}. "
                "Divide uint8 images by 255."
            )
        if x.shape[1] == 3:
            gray = torch.as_tensor(_GRAY, dtype=x.dtype, device=x.device)
            x = torch.einsum("nchw,c->nhw", x, gray)[:, None]
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic",
                              align_corners=False, antialias=True)
        return x


class _GaborEnergy(nn.Module):
    """Grayscale, resize, zero-mean, FFT filter bank, energy: (n, n_sf * n_ori, size, size)."""

    def __init__(self, sfs, oris, size, output, dtype):
        super().__init__()
        self.size = int(size)
        self.pad = self.size + self.size // 2
        self.output = output
        self.preprocess = GaborPreprocess(self.size)
        # the filters are real in the frequency domain (one-sided Gaussian bumps)
        filt = gabor_filters(self.size, sfs, oris, pad=self.pad).real.astype(np.float64)
        self.register_buffer("filters", torch.as_tensor(filt.reshape(-1, self.pad, self.pad), dtype=dtype))

    def forward(self, x):
        x = self.preprocess(x.to(self.filters.dtype))[:, 0]
        x = x - x.mean(dim=(-2, -1), keepdim=True)
        spec = torch.fft.fft2(x, s=(self.pad, self.pad))  # zero padded, (n, pad, pad)
        resp = torch.fft.ifft2(spec[:, None] * self.filters)[..., : self.size, : self.size]
        energy = resp.abs()
        if self.output == "log_energy":
            energy = torch.log1p(energy)
        return energy


class _GridPool(nn.Module):
    """Mean of energy maps over a g x g grid: (n, n_maps, size, size) -> (n, n_maps * g * g)."""

    def __init__(self, g, size, dtype):
        super().__init__()
        self.g = int(g)
        edges = _pool_edges(size, self.g)
        P = np.zeros((self.g, size))
        for k in range(self.g):
            P[k, edges[k]:edges[k + 1]] = 1.0 / (edges[k + 1] - edges[k])
        self.register_buffer("weights", torch.as_tensor(P, dtype=dtype))

    def forward(self, energy):
        cells = torch.einsum("rh,nmhw,cw->nmrc", self.weights, energy, self.weights)
        return cells.reshape(energy.shape[0], -1)


class TorchGaborPyramid(nn.Module):
    """Gabor-energy features pooled on retinotopic grids, differentiable (torch).

    The torch twin of :class:`~neurotoolkit.features.GaborPyramid`: images
    are converted to grayscale, resized to ``image_size`` (bicubic with
    antialiasing, in torch), zero-meaned, filtered with quadrature pairs of
    Gabor filters at ``n_orientations`` x ``spatial_frequencies`` (FFT with
    zero padding to 1.5 x ``image_size``), turned into local energy
    ``sqrt(even**2 + odd**2)`` and averaged over ``g x g`` grids.

    Parameters
    ----------
    n_orientations : int
        Orientations evenly spaced over [0, 180) degrees; 0 deg responds to
        vertical stripes, 90 deg to horizontal stripes.
    spatial_frequencies : array-like of float | None
        Centre frequencies in cycles per image; default (2, 4, 8, 16).
    grid_sizes : tuple of int
        Pooling grids; ``g`` gives ``g * g`` cells.
    image_size : int
        Images are resized to (image_size, image_size) inside ``forward``.
    output : {"energy", "log_energy"}
        Energy, or ``log1p(energy)`` (applied before pooling).
    dtype : {"float32", "float64"}
        Precision of the filters and the computation.

    Attributes
    ----------
    energy : torch.nn.Module
        Layer returning energy maps (n, n_sf * n_ori, image_size, image_size).
    grid1, grid2, ... : torch.nn.Module
        One layer per grid size ``g``, returning (n, n_sf * n_ori * g * g).
    n_features_out : int
        Number of output features.

    Notes
    -----
    ``forward(x)`` takes a float tensor (n, 3, height, width) (or
    (n, 1, height, width)) with values in [0, 1] and returns
    (n, n_features) in the order and with the names of
    :class:`GaborPyramid` (spatial frequency, orientation, grid, row,
    column; see :meth:`feature_table`). It is computed at full resolution,
    so it equals a full-resolution FFT convolution to float precision; the
    numpy ``GaborPyramid`` evaluates low-frequency bands on a coarser grid
    and differs from it by a few percent at most. Resizing uses torch's
    antialiased bicubic filter, close to (not identical with) PIL's.

    Examples
    --------
    >>> import torch
    >>> gp = TorchGaborPyramid(n_orientations=4)
    >>> x = torch.rand(2, 3, 80, 80, requires_grad=True)
    >>> gp(x).shape
    torch.Size([2, 336])
    """

    def __init__(self, n_orientations=8, spatial_frequencies=None, grid_sizes=(1, 2, 4), image_size=64,
                 output="energy", dtype="float32"):
        super().__init__()
        sfs, oris, grids, size = check_gabor_params(n_orientations, spatial_frequencies, grid_sizes,
                                                    image_size, output, dtype)
        tdtype = {"float32": torch.float32, "float64": torch.float64}[str(np.dtype(dtype))]
        self.config = {
            "n_orientations": int(n_orientations),
            "spatial_frequencies": [float(s) for s in sfs],
            "grid_sizes": list(grids),
            "image_size": int(size),
            "output": output,
            "dtype": str(np.dtype(dtype)),
        }
        self._params = (sfs, oris, grids, size)
        self.n_maps = len(sfs) * len(oris)
        self.energy = _GaborEnergy(sfs, oris, size, output, tdtype)
        self.grid_names = []
        for g in grids:
            name = f"grid{g}"
            if name not in self.grid_names:
                self.add_module(name, _GridPool(g, size, tdtype))
                self.grid_names.append(name)
        self._grids = grids
        self.n_features_out = self.n_maps * sum(g * g for g in grids)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"TorchGaborPyramid({args})"

    def feature_table(self):
        """One row per output feature (see :meth:`GaborPyramid.feature_table`)."""
        return gabor_feature_table(*self._params)

    def get_feature_names_out(self, input_features=None):
        """Feature names such as ``"sf8_ori45_g4_r1c2"``, array (n_features,) of str."""
        return np.asarray(self.feature_table().index, dtype=object)

    def forward(self, x):
        """Pooled energies (n, n_features) of images ``x`` (n, 3, h, w) in [0, 1]."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"Invalid value for `x`: expected a torch.Tensor, got {describe(x)}.")
        energy = self.energy(x)
        n = energy.shape[0]
        sf_ori = len(self._params[0]), len(self._params[1])
        parts = {name: getattr(self, name)(energy) for name in self.grid_names}
        pooled = [parts[f"grid{g}"].reshape(n, *sf_ori, g * g) for g in self._grids]
        return torch.cat(pooled, dim=-1).reshape(n, -1)


class GaborBackbone(Backbone):
    """Backbone of a :class:`TorchGaborPyramid` (its layers have buffers, no weights)."""

    def layers(self, modality=None, all_modules=False):
        """``["energy", "grid1", ..., "embedding"]`` (every submodule with ``all_modules``)."""
        self._modality(modality)
        if all_modules:
            return super().layers(modality, all_modules=True)
        return ["energy", *self.model.grid_names, "embedding"]


def gabor_backbone(identifier="", pretrained="default", checkpoint=None, device="auto", dtype="float32",
                   random_state=0, n_orientations=8, spatial_frequencies=None, grid_sizes=(1, 2, 4),
                   image_size=64, output="energy", precision="float32"):
    """Factory registered as ``"gabor"``: a weight-free TorchGaborPyramid Backbone.

    ``get_backbone("gabor", n_orientations=..., spatial_frequencies=...,
    grid_sizes=..., image_size=..., output=..., precision=...)``. Layers:
    ``"energy"`` (energy maps (n, n_sf * n_ori, size, size); pooled by
    averaging over space), ``"grid1"``, ``"grid2"``, ... (pooled on each grid,
    (n, n_sf * n_ori * g * g)) and ``"embedding"`` (all grids: the
    :class:`GaborPyramid` features, same order). The backbone's preprocessing
    (grayscale + resize, in torch) is :class:`GaborPreprocess`. ``pretrained``
    and ``checkpoint`` must be left unset (there are no weights);
    ``precision="float64"`` computes in double precision. The weights tag
    ``"weight-free:<hash>"`` hashes the parameters.
    """
    import hashlib
    import json

    if pretrained not in ("default", None, False):
        raise ValueError(
            f"Invalid value for `pretrained`: the 'gabor' backbone has no weights; expected None, "
            f"got {pretrained!r}."
        )
    if checkpoint is not None:
        raise ValueError(
            f"Invalid value for `checkpoint`: the 'gabor' backbone has no weights; expected None, "
            f"got {describe(checkpoint)}."
        )
    if identifier:
        raise ValueError(
            f"Invalid value for `name`: expected 'gabor' (parameters as keyword arguments, e.g. "
            f"get_backbone('gabor', n_orientations=4)), got 'gabor:{identifier}'."
        )
    check_option("dtype", dtype, ("float32",), fix="Use precision='float64' for double precision.")
    module = TorchGaborPyramid(n_orientations=n_orientations, spatial_frequencies=spatial_frequencies,
                               grid_sizes=grid_sizes, image_size=image_size, output=output,
                               dtype=precision)
    digest = hashlib.sha256(json.dumps(module.config, sort_keys=True).encode()).hexdigest()[:16]

    return GaborBackbone(
        module, "gabor", "image", f"weight-free:{digest}",
        image_transform=GaborPreprocess(module.config["image_size"]),
        embed_image=lambda model, x: model(x), device=device, config=module.config,
    )


register_backbone("gabor", gabor_backbone)
