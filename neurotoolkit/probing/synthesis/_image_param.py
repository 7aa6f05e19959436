"""Image parameterizations and robustness transforms for feature visualization.

The standard recipe of Olah et al. (2017), as in lucid / lucent: a Fourier-basis image whose spectrum is scaled by
``1 / max(|f|, 1 / size) ** decay``, colours decorrelated with the square
root of the ImageNet colour covariance, a sigmoid to [0, 1], and a fresh
random pad / jitter / scale / rotate draw at every optimisation step.
Importing this module imports torch: the package loads it lazily.
"""

import numpy as np

from ..._utils.optional import require
from ..._utils.validation import check_int, check_option, describe

torch = require("torch", purpose="activation maximization")
F = torch.nn.functional

__all__ = [
    "COLOR_CORRELATION_SVD_SQRT",
    "Compose",
    "FourierImage",
    "ImageParam",
    "Jitter",
    "Pad",
    "PixelImage",
    "RandomRotate",
    "RandomScale",
    "decorrelate_colors",
    "make_image_param",
    "make_transforms",
]

# square root of the ImageNet colour covariance (lucid's ``color_correlation_svd_sqrt``)
COLOR_CORRELATION_SVD_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float64
)
_COLOR_NORMALIZED = COLOR_CORRELATION_SVD_SQRT / np.max(
    np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0)
)
_FOURIER_MAGIC = 4.0  # lucid divides the inverse FFT by 4 so that sigmoid inputs start near 0


def decorrelate_colors(x):
    """Map decorrelated colour channels to RGB: (n, 3, h, w) -> (n, 3, h, w) (lucid)."""
    mat = torch.as_tensor(_COLOR_NORMALIZED.T, dtype=x.dtype, device=x.device)
    return torch.einsum("nchw,cd->ndhw", x, mat)


def _rfft2d_freqs(h, w):
    """|f| in cycles per pixel on the rfft2 grid, (h, w // 2 + 1)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


class ImageParam(torch.nn.Module):
    """Base class: a batch of learnable images; ``forward()`` -> (n, 3, h, w) in [0, 1]."""

    def __init__(self, n_images, size, decorrelate=True):
        super().__init__()
        self.n_images = check_int("n_images", n_images, min_value=1)
        h, w = (size, size) if np.ndim(size) == 0 else tuple(size)
        self.size = (check_int("image_size", h, min_value=8), check_int("image_size", w, min_value=8))
        self.decorrelate = bool(decorrelate)

    def raw(self):
        """Unbounded image (before colour decorrelation and sigmoid)."""
        raise NotImplementedError

    def forward(self):
        x = self.raw()
        if self.decorrelate:
            x = decorrelate_colors(x)
        return torch.sigmoid(x)

    def describe(self):
        """A JSON-able description, stored with synthesized images."""
        return {"kind": type(self).__name__, "size": list(self.size), "decorrelate": self.decorrelate}

    def blur_(self, sigma):
        """Blur the parameterized images in place with a Gaussian of ``sigma`` pixels."""
        raise NotImplementedError


class FourierImage(ImageParam):
    """Images parameterized by their (scaled) Fourier spectrum (lucid's ``fft_image``).

    Parameters
    ----------
    n_images : int
    size : int | (int, int)
        Height and width in pixels.
    decay_power : float
        Spectrum scale ``1 / max(|f|, 1 / max(h, w)) ** decay_power``; 1 whitens
        natural-image statistics (1/f amplitude), so each frequency learns at a
        similar rate.
    sd : float
        Standard deviation of the initial real and imaginary coefficients.
    decorrelate : bool
        Multiply by the square root of the ImageNet colour covariance.
    generator : torch.Generator | None
        Source of the initial coefficients.
    """

    def __init__(self, n_images, size, decay_power=1.0, sd=0.01, decorrelate=True, generator=None):
        super().__init__(n_images, size, decorrelate)
        h, w = self.size
        freqs = _rfft2d_freqs(h, w)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w)) ** float(decay_power)
        self.decay_power = float(decay_power)
        self.sd = float(sd)
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32)[None, None, ..., None])
        init = torch.randn((self.n_images, 3, *freqs.shape, 2), generator=generator) * self.sd
        self.spectrum = torch.nn.Parameter(init)

    def raw(self):
        spec = torch.view_as_complex((self.scale * self.spectrum).contiguous())
        img = torch.fft.irfftn(spec, s=self.size, dim=(-2, -1), norm="ortho")
        return img / _FOURIER_MAGIC

    def describe(self):
        return dict(super().describe(), decay_power=self.decay_power, sd=self.sd)

    def blur_(self, sigma):
        """Gaussian blur in place: the spectrum times ``exp(-2 pi^2 sigma^2 |f|^2)``."""
        h, w = self.size
        f2 = torch.as_tensor(_rfft2d_freqs(h, w) ** 2, dtype=self.spectrum.dtype,
                             device=self.spectrum.device)
        with torch.no_grad():
            self.spectrum.mul_(torch.exp(-2 * np.pi**2 * float(sigma) ** 2 * f2)[None, None, ..., None])


class PixelImage(ImageParam):
    """Images parameterized by their pixels (before a sigmoid); noisy without blur or TV."""

    def __init__(self, n_images, size, sd=0.01, decorrelate=True, generator=None):
        super().__init__(n_images, size, decorrelate)
        self.sd = float(sd)
        self.pixels = torch.nn.Parameter(torch.randn((self.n_images, 3, *self.size), generator=generator) * self.sd)

    def raw(self):
        return self.pixels

    def describe(self):
        return dict(super().describe(), sd=self.sd)

    def blur_(self, sigma):
        """Gaussian blur of the (pre-sigmoid) pixels in place (reflect padding)."""
        r = max(1, int(np.ceil(3 * float(sigma))))
        k = torch.exp(-torch.arange(-r, r + 1, dtype=self.pixels.dtype) ** 2 / (2 * float(sigma) ** 2))
        k = (k / k.sum()).to(self.pixels.device)
        with torch.no_grad():
            x = F.pad(self.pixels, (r, r, r, r), mode="reflect")
            x = F.conv2d(x.reshape(-1, 1, *x.shape[-2:]), k.view(1, 1, 1, -1))
            x = F.conv2d(x, k.view(1, 1, -1, 1))
            self.pixels.copy_(x.reshape(self.pixels.shape))


def make_image_param(parameterization, n_images, size, decorrelate=True, generator=None, **kwargs):
    """``"fourier"`` -> :class:`FourierImage`, ``"pixel"`` -> :class:`PixelImage`."""
    check_option("parameterization", parameterization, ("fourier", "pixel"))
    cls = FourierImage if parameterization == "fourier" else PixelImage
    return cls(n_images, size, decorrelate=decorrelate, generator=generator, **kwargs)


# ------------------------------------------------------------------ transforms
class _Transform:
    """A random image transform; ``t(x, rng)`` with a numpy Generator (one draw per batch)."""

    name = "transform"

    def describe(self):
        return {"name": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "name")
        return f"{type(self).__name__}({args})"


class Pad(_Transform):
    """Pad every side by ``width`` pixels with a constant (lucid: 12 px of 0.5)."""

    name = "pad"

    def __init__(self, width=12, fill=0.5):
        self.width = check_int("width", width, min_value=0)
        self.fill = float(fill)

    def __call__(self, x, rng):
        w = self.width
        return F.pad(x, (w, w, w, w), mode="constant", value=self.fill) if w else x

    def describe(self):
        return {"name": self.name, "width": self.width, "fill": self.fill}


class Jitter(_Transform):
    """Random crop that removes ``max_shift - 1`` pixels per axis at a random offset (lucid)."""

    name = "jitter"

    def __init__(self, max_shift=8):
        self.max_shift = check_int("max_shift", max_shift, min_value=1)

    def __call__(self, x, rng):
        d = self.max_shift
        if d <= 1:
            return x
        h, w = x.shape[-2:]
        dy, dx = (int(v) for v in rng.integers(0, d, size=2))
        return x[..., dy:dy + h - d + 1, dx:dx + w - d + 1]

    def describe(self):
        return {"name": self.name, "max_shift": self.max_shift}


class RandomScale(_Transform):
    """Resize by a factor drawn from ``factors`` (bilinear)."""

    name = "scale"

    def __init__(self, factors=tuple(1 + (i - 5) / 50 for i in range(11))):
        self.factors = [float(f) for f in factors]
        if not self.factors or min(self.factors) <= 0:
            raise ValueError(f"Invalid value for `factors`: expected positive floats, got {describe(factors)}.")

    def __call__(self, x, rng):
        s = self.factors[int(rng.integers(len(self.factors)))]
        if s == 1.0:
            return x
        h, w = x.shape[-2:]
        size = (max(1, round(h * s)), max(1, round(w * s)))
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)

    def describe(self):
        return {"name": self.name, "factors": self.factors}


class RandomRotate(_Transform):
    """Rotate by an angle (degrees) drawn from ``angles``; bilinear, border padding."""

    name = "rotate"

    def __init__(self, angles=tuple(range(-10, 11)) + (0,) * 5):
        self.angles = [float(a) for a in angles]
        if not self.angles:
            raise ValueError("Invalid value for `angles`: expected at least one angle, got none.")

    def __call__(self, x, rng):
        a = self.angles[int(rng.integers(len(self.angles)))]
        if a == 0.0:
            return x
        t = np.deg2rad(a)
        theta = torch.tensor([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0]],
                             dtype=x.dtype, device=x.device)
        grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def describe(self):
        return {"name": self.name, "angles": self.angles}


class Compose(_Transform):
    """Apply transforms in order; ``describe()`` lists them."""

    name = "compose"

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng):
        for t in self.transforms:
            x = t(x, rng)
        return x

    def describe(self):
        return [t.describe() if hasattr(t, "describe") else {"name": repr(t)} for t in self.transforms]

    def __repr__(self):
        return f"Compose({self.transforms!r})"


_BY_NAME = {"pad": Pad, "jitter": Jitter, "scale": RandomScale, "rotate": RandomRotate}


def make_transforms(transforms="default"):
    """Build the robustness transforms.

    Parameters
    ----------
    transforms : "default" | None | list
        ``"default"``: lucid's standard transforms, pad 12 px (0.5) -> jitter
        8 -> scale in {1 + (i - 5) / 50} -> rotate in [-10, 10] deg (0 deg five
        times more likely) -> jitter 4. None or ``[]``: none. A list of
        transforms (callables ``t(x, rng)``) or of dicts ``{"name": "pad",
        "width": 12, ...}`` as stored by ``Compose.describe()``.

    Returns
    -------
    Compose
    """
    if transforms is None:
        return Compose([])
    if isinstance(transforms, str):
        check_option("transforms", transforms, ("default",))
        return Compose([Pad(12, 0.5), Jitter(8), RandomScale(), RandomRotate(), Jitter(4)])
    if isinstance(transforms, Compose):
        return transforms
    out = []
    for t in transforms:
        if isinstance(t, dict):
            spec = dict(t)
            name = spec.pop("name", None)
            if name not in _BY_NAME:
                raise ValueError(
                    f"Invalid value for `transforms`: expected dicts with 'name' in {sorted(_BY_NAME)}, "
                    f"got {describe(t)}."
                )
            out.append(_BY_NAME[name](**spec))
        elif callable(t):
            out.append(t)
        else:
            raise TypeError(
                f"Invalid value for `transforms`: expected 'default', None or a list of transforms or "
                f"dicts, got an item {describe(t)}."
            )
    return Compose(out)
