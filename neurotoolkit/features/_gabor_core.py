"""Numerical core of the Gabor-energy pyramid.

It lives in ``data`` (the lowest layer that needs it) so that the simulator
(:mod:`neurotoolkit.simulation._simulate`) and the public transformer
:class:`neurotoolkit.features.GaborPyramid` share one implementation without
``data`` importing ``features``.
"""

import numpy as np
import pandas as pd
from scipy import fft as sp_fft

from .._utils.logging import progress
from .._utils.validation import check_image_array, check_int, check_option, check_positive_array

__all__ = ["gabor_filters", "check_gabor_params", "gabor_feature_table", "gabor_features"]

_BANDWIDTH = 0.284  # frequency-domain sigma / centre frequency: about one octave
_OVERSAMPLE = 3.0  # grid size / band width for the demodulated inverse FFT


def gabor_filters(size, spatial_frequencies, orientations, pad=None):
    """Quadrature-pair Gabor filters in the frequency domain.

    Each filter is a Gaussian bump centred on the frequency vector
    ``f * (cos theta, sin theta)`` (one-sided, so that its inverse transform
    is complex: real part = even filter, imaginary part = odd filter). Its
    bandwidth is about one octave (sigma_f = 0.284 f).

    Parameters
    ----------
    size : int
        Image height and width in pixels (before padding).
    spatial_frequencies : array (n_sf,)
        Centre frequencies in cycles per image.
    orientations : array (n_ori,)
        Orientations in degrees: direction of the wave vector, counter-clockwise
        from the image x axis (0 = luminance varying left-right, i.e. vertical
        stripes; 90 = horizontal stripes).
    pad : int | None
        Size of the (zero-padded) FFT grid; default ``size + size // 2``.

    Returns
    -------
    filters : array (n_sf, n_ori, pad, pad), complex64
    """
    pad = size + size // 2 if pad is None else pad
    # frequencies in cycles per image (of the unpadded image)
    f = np.fft.fftfreq(pad) * size
    fy, fx = f[:, None], f[None, :]
    sfs = np.asarray(spatial_frequencies, dtype=float)
    thetas = np.deg2rad(np.asarray(orientations, dtype=float))
    cx = sfs[:, None, None, None] * np.cos(thetas)[None, :, None, None]
    cy = -sfs[:, None, None, None] * np.sin(thetas)[None, :, None, None]  # image rows go down
    sigma = _BANDWIDTH * sfs[:, None, None, None]
    bump = np.exp(-((fx - cx) ** 2 + (fy - cy) ** 2) / (2 * sigma**2))
    bump[..., 0, 0] = 0.0  # no response to mean luminance
    # normalise so that a full-contrast grating at the centre frequency gives energy 1
    return (2.0 * bump).astype(np.complex64)


def _to_gray(images, image_size):
    """uint8/float images (n, h, w[, 3]) -> float32 (n, image_size, image_size) in [0, 1]."""
    imgs = check_image_array("images", images, channels=(1, 3, 4))  # shape, dtype, range
    scale = 255.0 if imgs.dtype == np.uint8 else 1.0
    imgs = imgs.astype(np.float32) / scale
    if imgs.ndim == 4:
        if imgs.shape[-1] == 1:
            imgs = imgs[..., 0]
        else:
            imgs = imgs[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    if imgs.shape[1:] != (image_size, image_size):
        from PIL import Image

        imgs = np.stack(
            [
                np.asarray(
                    Image.fromarray(im, mode="F").resize((image_size, image_size), Image.BICUBIC)
                )
                for im in imgs
            ]
        )
    return imgs


def _band_plan(size, pad, sf, oris, grids, oversample=_OVERSAMPLE):
    """Demodulated, cropped frequency grid for one spatial frequency.

    The filtered spectrum of a one-sided Gabor is a bump of width ~7 sigma
    around its centre; the modulus of its inverse transform does not change
    when the whole band is shifted to 0, so it is computed on a small
    ``m x m`` grid centred on the band (m >= ``oversample`` x band width),
    which samples the image region on ``region x region`` pixels.

    Returns (iy, ix, filt, region, gain): index arrays (n_ori, m) into the
    padded spectrum, the filters on that grid (n_ori, m, m), the number of
    output pixels covering the image, and the amplitude gain (m / pad)^2.
    """
    step = int(np.lcm.reduce([2 * g for g in grids]))
    width = 7.0 * _BANDWIDTH * sf * pad / size  # in padded-grid frequency bins
    region = size
    for cand in range(step, size + 1, step):
        if (cand * pad) % size == 0 and cand * pad / size >= oversample * width:
            region = cand
            break
    m = region * pad // size
    filt_full = gabor_filters(size, [sf], oris, pad=pad)[0]  # (n_ori, pad, pad)
    thetas = np.deg2rad(oris)
    k0x = np.round(sf * np.cos(thetas) * pad / size).astype(int)
    k0y = np.round(-sf * np.sin(thetas) * pad / size).astype(int)
    j = np.round(np.fft.fftfreq(m) * m).astype(int)
    iy = (k0y[:, None] + j[None]) % pad
    ix = (k0x[:, None] + j[None]) % pad
    if m == pad:  # full grid: plain indices keep the result exact
        iy = np.broadcast_to(np.arange(pad), (len(oris), pad))
        ix = iy
    filt = filt_full[np.arange(len(oris))[:, None, None], iy[:, :, None], ix[:, None, :]]
    return iy, ix, filt.astype(np.complex64), region, (m / pad) ** 2


def _pool_edges(size, g):
    return np.linspace(0, size, g + 1).round().astype(int)




def check_gabor_params(n_orientations, spatial_frequencies, grid_sizes, image_size, output="energy",
                       dtype="float32", batch_size=64):
    """Validate GaborPyramid parameters; returns (sfs, orientations_deg, grids, image_size)."""
    n_ori = check_int("n_orientations", n_orientations, min_value=1)
    size = check_int("image_size", image_size, min_value=8)
    sfs = (2.0, 4.0, 8.0, 16.0) if spatial_frequencies is None else spatial_frequencies
    sfs = check_positive_array("spatial_frequencies", np.atleast_1d(sfs))
    if sfs.max() >= size / 2:
        raise ValueError(
            f"Invalid value for `spatial_frequencies`: expected values below image_size / 2 = "
            f"{size / 2:g} cycles per image (the Nyquist limit), got {sfs.tolist()}. "
            "Raise `image_size` or drop the highest frequencies."
        )
    grids = tuple(np.atleast_1d(grid_sizes).tolist())
    if not grids or any(int(g) != g or g < 1 or g > size for g in grids):
        raise ValueError(
            f"Invalid value for `grid_sizes`: expected a tuple of ints in [1, image_size], "
            f"got {grid_sizes!r}."
        )
    check_option("output", output, ("energy", "log_energy"))
    check_option("dtype", str(np.dtype(dtype)), ("float32", "float64"))
    check_int("batch_size", batch_size, min_value=1)
    oris = np.arange(n_ori) * 180.0 / n_ori
    return sfs, oris, tuple(int(g) for g in grids), size


def gabor_feature_table(sfs, oris, grids, size):
    """One row per output feature.

    Returns
    -------
    pandas.DataFrame, shape (n_features, 7)
        Columns ``sf`` (cycles/image), ``orientation`` (deg), ``grid``,
        ``row``, ``col`` and ``x``, ``y``: the cell centre in [0, 1]
        image coordinates (x to the right, y downwards). Index: feature names.
    """
    rows = []
    for sf in sfs:
        for ori in oris:
            for g in grids:
                edges = _pool_edges(size, g)
                centres = (edges[:-1] + edges[1:]) / (2.0 * size)
                for r in range(g):
                    for c in range(g):
                        rows.append((sf, ori, g, r, c, centres[c], centres[r]))
    table = pd.DataFrame(rows, columns=["sf", "orientation", "grid", "row", "col", "x", "y"])
    table.index = [
        f"sf{sf:g}_ori{ori:g}_g{g}_r{r}c{c}"
        for sf, ori, g, r, c in table[["sf", "orientation", "grid", "row", "col"]].itertuples(
            index=False
        )
    ]
    return table


def gabor_features(X, sfs, oris, grids, size, output="energy", dtype="float32", batch_size=64,
                   verbose=None):
    """Pooled Gabor energies of images (n_images, n_features); see GaborPyramid.transform."""
    dtype = np.dtype(dtype)
    n_feat = len(sfs) * len(oris) * sum(g * g for g in grids)
    stim = X if hasattr(X, "load_images") and hasattr(X, "ids") else None
    if stim is None:  # shape, dtype, range and at least 1 image, before any work
        X = check_image_array("images", X, channels=(1, 3, 4))
    n = len(stim) if stim is not None else len(X)
    pad = size + size // 2
    plans = [_band_plan(size, pad, sf, oris, grids) for sf in sfs]
    out = np.empty((n, n_feat), dtype=dtype)
    bs = int(batch_size)
    for start in progress(range(0, n, bs), desc="Gabor pyramid", verbose=verbose):
        stop = min(n, start + bs)
        if stim is not None:
            batch = stim.load_images(stim.ids[start:stop], size=size)
        else:
            batch = X[start:stop]
        gray = _to_gray(batch, size)
        gray = gray - gray.mean(axis=(1, 2), keepdims=True)
        spec = sp_fft.fft2(gray, s=(pad, pad), workers=-1).astype(np.complex64)
        per_sf = []
        for iy, ix, filt, region, gain in plans:
            band = spec[:, iy[:, :, None], ix[:, None, :]] * filt  # (b, n_ori, m, m)
            resp = sp_fft.ifft2(band, workers=-1, overwrite_x=True)[..., :region, :region]
            energy = np.abs(resp) * np.float32(gain)
            if output == "log_energy":
                energy = np.log1p(energy)
            pooled = []
            for g in grids:
                e = _pool_edges(region, g)
                cells = np.add.reduceat(np.add.reduceat(energy, e[:-1], axis=-2), e[:-1], axis=-1)
                area = np.outer(np.diff(e), np.diff(e)).astype(np.float32)
                pooled.append((cells / area).reshape(*cells.shape[:2], g * g))
            per_sf.append(np.concatenate(pooled, axis=-1))  # (b, n_ori, n_cells)
        out[start:stop] = np.stack(per_sf, axis=1).reshape(stop - start, -1)
    return out
