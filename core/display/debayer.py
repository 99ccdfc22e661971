"""A colour picture of a Bayer mosaic, for the eye only.

A one-shot-colour frame shown as it is stored is a checkerboard: each pixel
has the level of its own colour, so the sky looks like a grid and stars like
dotted discs. The viewer shows instead an RGB picture made here: each colour
interpolated at every pixel from its neighbours of that colour (bilinear
demosaicing: the mean of the 2 or 4 nearest, the pixel itself where it has
the colour), then each channel scaled so that its sky has the green's level
and noise, which makes the sky grey and leaves the stars their colour. None
of it is ever measured: photometry reads the mosaic (:mod:`fluxion.core.photometry.channels`).

Frames above 8 megapixels get one colour per 2 x 2 block instead (its red,
the mean of its greens, its blue: a "superpixel" picture of a quarter the
memory), which the viewer stretches over the block.

Bilinear interpolation is written here (one normalised convolution per
colour, scipy's) because the project has no demosaicing library, and a
display needs nothing better.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve

from ..io.cfa import channel_mask, channel_view

__all__ = ["colour_picture", "debayer_preview"]

# Above this many pixels the picture has one colour per 2 x 2 block (a
# superpixel): a 24-megapixel frame's full RGB would take 290 MB.
_FULL_RESOLUTION_PIXELS = 8_000_000

# Bilinear weights, normalised by those of the colour's pixels present. Red
# and blue: the pixel itself, its 4 edge neighbours at half, its 4 corners at
# a quarter. Green, whose corners are green too: the pixel itself, else its 4
# edge neighbours.
_KERNEL = {
    "RB": np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]], dtype=np.float32),
    "G": np.array([[0.0, 0.25, 0.0], [0.25, 1.0, 0.25], [0.0, 0.25, 0.0]], dtype=np.float32),
}


def _robust(values: np.ndarray) -> tuple[float, float]:
    """Median and the MAD's sigma of a channel's pixels (its sky, on any night frame)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return 0.0, 1.0
    step = max(1, v.size // 200_000)
    v = v[::step]
    med = float(np.median(v))
    mad = float(np.median(np.abs(v - med))) * 1.4826
    return med, mad if mad > 0 else 1.0


def debayer_preview(mosaic: np.ndarray, pattern: str) -> np.ndarray:
    """An (ny, nx, 3) float32 RGB picture of ``mosaic`` in its green's units.

    Parameters
    ----------
    mosaic : ndarray (ny, nx)
        The colour-filter-array frame as stored (raw or calibrated).
    pattern : str
        Its Bayer pattern ('RGGB', ...).

    Returns
    -------
    ndarray
        Red, green and blue at every pixel; each channel's sky has the green
        pixels' median and noise, so that the frame's display limits (from
        the mosaic) suit all three.
    """
    data = np.asarray(mosaic, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"a mosaic is 2-d, got shape {data.shape}")
    finite = np.isfinite(data)
    clean = np.where(finite, data, 0.0).astype(np.float32)
    out = np.empty((*data.shape, 3), dtype=np.float32)
    green_sky = _robust(data[channel_mask(data.shape, pattern, "G")])
    for k, colour in enumerate("RGB"):
        mask = channel_mask(data.shape, pattern, colour) & finite
        kernel = _KERNEL["G" if colour == "G" else "RB"]
        weight = convolve(mask.astype(np.float32), kernel, mode="mirror")
        value = convolve(np.where(mask, clean, 0.0).astype(np.float32), kernel, mode="mirror")
        with np.errstate(invalid="ignore", divide="ignore"):
            plane = np.where(weight > 0, value / weight, np.nan)
        if colour != "G":
            med, sigma = _robust(data[mask])
            plane = (plane - med) * (green_sky[1] / sigma) + green_sky[0]
        out[..., k] = plane
    return out


def _compact(rgb: np.ndarray) -> np.ndarray:
    # Half floats: a third of the memory of the frames the window keeps ready
    # (16-bit counts and their stretch need no more than 3 significant digits).
    limit = float(np.finfo(np.float16).max)
    return np.clip(rgb, -limit, limit).astype(np.float16)


def colour_picture(mosaic: np.ndarray, pattern: str) -> tuple[np.ndarray, int]:
    """The viewer's picture of a mosaic (float16) and its block size (1, or 2: superpixels).

    See :func:`debayer_preview` for the balance of the channels.
    """
    data = np.asarray(mosaic)
    if data.size <= _FULL_RESOLUTION_PIXELS:
        return _compact(debayer_preview(data, pattern)), 1
    ny, nx = (data.shape[0] // 2) * 2, (data.shape[1] // 2) * 2
    data = np.asarray(data[:ny, :nx], dtype=np.float32)
    planes = {c: channel_view(data, pattern, c) for c in ("R", "G1", "G2", "B")}
    green = 0.5 * (planes["G1"] + planes["G2"])
    sky = _robust(green)
    out = np.empty((*green.shape, 3), dtype=np.float32)
    for k, plane in enumerate((planes["R"], green, planes["B"])):
        if k != 1:
            med, sigma = _robust(plane)
            plane = (plane - med) * (sky[1] / sigma) + sky[0]
        out[..., k] = plane
    return _compact(out), 2
