"""Circular-aperture photometry with a sigma-clipped local sky annulus.

Sums and overlaps are exact pixel-circle overlaps (sep, as photutils'
'exact' apertures; :mod:`.sums`); this module adds the error (in
electrons), the sky-estimate error and the quality flags.

The error is IRAF ``phot``'s (and DAOPHOT's): the source's own Poisson noise,
``area`` times the background variance *measured* in the annulus, and the
sky level's error. The background variance is not taken from the pixel values
through a noise model, because a pixel's value is not all photo-electrons:
on a frame that still holds its bias (``fluxion lightcurve`` on raw lights, a
night without calibration frames) the ~1500 e- pedestal counted as Poisson
noise made the errors of a sky-limited star 1.6x too large, and on a
sky-subtracted frame the sky's noise would be missed altogether. The
annulus's scatter holds the sky, the read noise, the dark current and the
flat field's effect, whatever the frame's history.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree
from scipy.special import ndtr

from .annulus import FramePixels, SkyMemo, annulus_sky
from .flags import PhotometryFlag as F
from .mirror import mirrored_masked_sums
from .noise import NoiseModel
from .sums import circle_frame_areas, circle_sums, circles_holding

__all__ = [
    "aperture_variance",
    "clipped_std_factor",
    "measure_apertures",
    "measure_apertures_and_sums",
    "neighbour_sky_mask",
    "poisson_median_offset",
]

# The annulus sky is a sigma-clipped median: the mean is pulled up by the
# unclipped wings of faint neighbours. Its variance is pi/2 that of a mean.
_MEDIAN_VARIANCE_FACTOR = np.pi / 2


@cache
def clipped_std_factor(sigma: float = 3.0, maxiters: int = 5) -> float:
    """Standard deviation of sigma-clipped Gaussian noise, in units of the true one.

    A clip at ``sigma`` times the *clipped* scatter, repeated as
    :func:`~fluxion.core.photometry.annulus.annulus_sky` repeats it, keeps a
    truncated Gaussian whose scatter is ~1.6% below the noise's (3 sigma, 5
    passes); the background variance is divided by its square.
    """
    # A unit Gaussian cut at +-a keeps the variance 1 - 2 a phi(a) / (2 Phi(a) - 1):
    # scipy.stats.truncnorm's std() to the last bit at 3 sigma, without its
    # distribution set-up (tens of ms on each process's first call).
    s = 1.0
    for _ in range(maxiters):
        a = sigma * s
        phi = math.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
        s = math.sqrt(1.0 - 2.0 * a * phi / (2.0 * float(ndtr(a)) - 1.0))
    return s


def aperture_variance(
    flux: np.ndarray, area: np.ndarray, radius: float, background_variance: np.ndarray
) -> np.ndarray:
    """Variance (e-^2) of aperture sums: the source's Poisson noise plus the background's.

    An exact circular aperture weighs each pixel by its overlap ``w``, so
    its sum of independent pixels has the variance ``sum(w^2) var``, not
    ``sum(w) var``: the pixels the edge cuts count less than their area.
    Across the edge ``w(1 - w)`` averages 1/6 per unit of perimeter, so
    ``sum(w^2) = area - 2 pi r / 6``, i.e. ``area (1 - 1/(3 r))``
    (photutils' exact overlaps, averaged over pixel phases: 1 - 0.066 at
    r = 5 px, 1 - 0.017 at 20 px); using the area overstated the error of a
    sky-limited star by 3 % at 5 px.

    Parameters
    ----------
    flux : ndarray
        Sky-subtracted flux in the aperture (e-); a negative one adds no
        Poisson noise.
    area : ndarray
        Aperture area (px).
    radius : float
        Aperture radius (px).
    background_variance : ndarray
        Per-pixel variance of the background (e-^2), as measured in the sky
        annulus (sky photons, read noise, dark current together).
    """
    edge = np.clip(1.0 - 1.0 / (3.0 * radius), 0.5, 1.0)
    return np.maximum(np.nan_to_num(flux), 0.0) + area * edge * background_variance


def poisson_median_offset(sky: np.ndarray, read_noise: float) -> np.ndarray:
    """Mean minus median (e-) of a Poisson sky with Gaussian read noise.

    A Poisson sky is skewed (third cumulant = its level), so its median sits
    below its mean by level / (6 variance) (Cornish-Fisher), ~1/6 e- per
    pixel for a bright sky. Small per pixel, it is a percent of a bright
    star's flux over the ~900 px of a 4.75 FWHM aperture, which is where the
    curve of growth takes its plateau, and it biased aperture corrections
    low by ~0.5%.
    """
    level = np.maximum(np.asarray(sky, dtype=np.float64), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(level > 0, level / (6.0 * (level + read_noise**2)), 0.0)


def neighbour_sky_mask(
    shape: tuple[int, int],
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    fwhm: float,
    sky_rms: float,
    *,
    max_radius: float,
) -> np.ndarray:
    """Disks around detected stars, to be left out of the sky annuli.

    A sigma-clipped median clips a neighbour's core but not its wings: on a
    field of a few hundred stars the annulus sky came out ~1 e-/px high,
    which over the curve of growth's widest aperture made the aperture
    correction ~0.5% low. Each disk reaches where a beta = 3 Moffat of the
    star's flux falls to 0.2 of the sky noise per pixel, at least 1.5 FWHM
    and at most ``max_radius`` (kept below the annulus inner radius so that a
    star never masks its own sky).

    Parameters
    ----------
    shape : (int, int)
        Image shape.
    x, y, flux : ndarray
        Detected stars (0-based px; flux in e-, a rough estimate is enough).
    fwhm : float
        Seeing (px).
    sky_rms : float
        Sky noise per pixel (e-).
    max_radius : float
        Largest disk radius (px).
    """
    mask = np.zeros(shape, dtype=bool)
    if len(x) == 0:
        return mask
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / 3.0) - 1.0))
    peak_sb = 2.0 * np.maximum(np.asarray(flux, dtype=np.float64), 0.0) / (np.pi * alpha**2)
    level = max(0.2 * float(sky_rms), 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        reach = alpha * np.sqrt(np.maximum((peak_sb / level) ** (1.0 / 3.0) - 1.0, 0.0))
    radius = np.clip(np.nan_to_num(reach), 1.5 * fwhm, max(max_radius, 1.5 * fwhm))
    ny, nx = shape
    xc, yc = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(xc) & np.isfinite(yc)
    # The disks of a size at once, each in the box of the largest of its size
    # (a loop over the stars was most of the aperture method's own time).
    size = np.ceil(radius).astype(np.int64)
    flat_mask = mask.ravel()
    for half in np.unique(size[ok]).tolist():
        k = np.flatnonzero(ok & (size == half))
        steps = np.arange(-half - 1, half + 2)
        cols = np.floor(xc[k]).astype(np.int64)[:, None, None] + steps[None, None, :]
        rows = np.floor(yc[k]).astype(np.int64)[:, None, None] + steps[None, :, None]
        rc = radius[k][:, None, None]
        inside = (cols - xc[k][:, None, None]) ** 2 + (rows - yc[k][:, None, None]) ** 2 <= rc * rc
        inside &= (cols >= 0) & (cols < nx) & (rows >= 0) & (rows < ny)
        flat_mask[(rows * nx + cols)[inside]] = True
    return mask


def _as_positions(positions: np.ndarray) -> np.ndarray:
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"positions must be an (N, 2) array of x, y; got shape {pos.shape}")
    return pos


def _bounding_box(
    pos: np.ndarray, reach: float, shape: tuple[int, int]
) -> tuple[slice, slice] | None:
    """The part of the frame within ``reach`` px of the positions, or None when most of it."""
    finite = pos[np.all(np.isfinite(pos), axis=1)]
    if len(finite) == 0:
        return None
    ny, nx = shape
    x0 = max(int(np.floor(finite[:, 0].min() - reach)), 0)
    x1 = min(int(np.ceil(finite[:, 0].max() + reach)) + 1, nx)
    y0 = max(int(np.floor(finite[:, 1].min() - reach)), 0)
    y1 = min(int(np.ceil(finite[:, 1].max() + reach)) + 1, ny)
    if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) > 0.5 * nx * ny:
        return None
    return slice(y0, y1), slice(x0, x1)


def measure_apertures(
    image: np.ndarray,
    positions: np.ndarray,
    radius: float,
    annulus: tuple[float, float],
    *,
    noise: NoiseModel | None = None,
    mask: np.ndarray | None = None,
    saturation: float | None = None,
    neighbours: np.ndarray | None = None,
    contamination_radius: float | None = None,
    variance: np.ndarray | None = None,
    sky_mask: np.ndarray | None = None,
    sky_memo: SkyMemo | None = None,
    mirror_masked: bool = True,
) -> Table:
    """Fluxes in circular apertures with a local sky from an annulus.

    Parameters
    ----------
    image : ndarray
        The frame in electrons (see :meth:`NoiseModel.to_electrons`).
    positions : ndarray, shape (N, 2)
        0-based (x, y) pixel positions, x along columns.
    radius : float
        Aperture radius in pixels.
    annulus : (float, float)
        Inner and outer radius of the sky annulus in pixels.
    noise : NoiseModel, optional
        Read noise, for the Poisson skew of the sky's median (gain is
        already applied to ``image``; the error's background noise is
        measured in the annulus).
    mask : ndarray of bool, optional
        True for bad pixels; they are left out of sums and of the sky.
        Non-finite pixels are masked too.
    saturation : float, optional
        Saturation level in electrons: apertures touching it are flagged.
    neighbours : ndarray, shape (M, 2), optional
        Other sources that may contaminate; ``positions`` are always used.
    contamination_radius : float, optional
        A source closer than this (px) to another one is flagged
        ``CONTAMINATED``; default: ``radius`` plus half the annulus width.
    variance : ndarray, optional
        Per-pixel variance (e-^2) of the whole signal, replacing the
        source's Poisson noise and the annulus's measured background noise.
    sky_mask : ndarray of bool, optional
        Pixels left out of the sky annuli only, e.g. the neighbours'
        wings (:func:`neighbour_sky_mask`).
    sky_memo : SkyMemo, optional
        Annulus skies already measured on this image with this mask and sky
        mask (e.g. by the curve of growth): taken, not measured again.

    Returns
    -------
    astropy.table.Table
        Columns x, y, flux, flux_err, sky (e-/px), sky_err, sky_rms (the
        background's noise per pixel, e-), area (px), flags (see
        :class:`PhotometryFlag`).
    """
    return measure_apertures_and_sums(
        image, positions, radius, annulus, noise=noise, mask=mask, saturation=saturation,
        neighbours=neighbours, contamination_radius=contamination_radius, variance=variance,
        sky_mask=sky_mask, sky_memo=sky_memo, mirror_masked=mirror_masked,
    )[0]  # fmt: skip


def _aperture_areas(pixels: FramePixels, pos: np.ndarray, radius: float) -> np.ndarray:
    """Each aperture's area over the good pixels (px): pi r^2 where its box holds no bad pixel.

    The exact overlaps of a circle's whole pixels sum to pi r^2 to ~1e-13
    px^2, so only the apertures a bad pixel or the frame's edge may cut are
    summed over the good-pixel map (as the curve of growth does): summing
    every aperture's overlaps was ~1.2 ms a call for ~370 stars, the box test
    a few tenths of that. A pixel that meets the circle has its centre within
    ``r + 0.5`` of the position on each axis, hence within ``ceil(r + 1)`` of
    its nearest pixel. The box is tested over the frame's 8x8 blocks
    (:attr:`FramePixels.bad_blocks`): a box that meets a block with a bad
    pixel is summed exactly, which gives pi r^2 again where the bad pixel
    lies outside the box, so only the cost depends on the blocks.
    """
    ny, nx = pixels.bad.shape
    half = int(np.ceil(radius + 1.0))
    area = np.full(len(pos), np.pi * radius**2)
    with np.errstate(invalid="ignore"):
        cx, cy = np.round(pos[:, 0]), np.round(pos[:, 1])
        inside = (cx >= half) & (cx <= nx - 1 - half) & (cy >= half) & (cy <= ny - 1 - half)
    exact = ~inside
    at = np.flatnonzero(inside)
    if at.size:
        blocks = pixels.bad_blocks
        y, x = cy[at].astype(np.intp), cx[at].astype(np.intp)
        # Every box spans the same number of blocks or one fewer: the last
        # block is repeated where it is one fewer (the same value, no branch).
        step = np.arange((2 * half) // 8 + 2)
        rows = np.minimum((y - half)[:, None] // 8 + step, (y + half)[:, None] // 8)
        cols = np.minimum((x - half)[:, None] // 8 + step, (x + half)[:, None] // 8)
        flat = (rows[:, :, None] * blocks.shape[1] + cols[:, None, :]).reshape(at.size, -1)
        exact[at[np.take(blocks.ravel(), flat).any(axis=1)]] = True
    if exact.any():
        area[exact] = circle_sums(pixels.valid, pos[exact], radius)
    return area


def measure_apertures_and_sums(
    image: np.ndarray,
    positions: np.ndarray,
    radius: float,
    annulus: tuple[float, float],
    *,
    noise: NoiseModel | None = None,
    mask: np.ndarray | None = None,
    saturation: float | None = None,
    neighbours: np.ndarray | None = None,
    contamination_radius: float | None = None,
    variance: np.ndarray | None = None,
    sky_mask: np.ndarray | None = None,
    sky_memo: SkyMemo | None = None,
    mirror_masked: bool = True,
) -> tuple[Table, np.ndarray | None]:
    """:func:`measure_apertures`' table, and each aperture's sum of the frame's pixels.

    The sums are :func:`circle_sums` of the frame's good pixels (0 at bad
    ones) at ``positions`` and ``radius``, to the bit, so that a caller that
    needs them again (the curve of growth, at its largest radius) does not
    sum them twice; None when only a cut-out of the frame was read. The
    sums are of the good pixels only, without ``mirror_masked``'s mirrors.
    """
    noise = noise or NoiseModel()
    data = np.asarray(image, dtype=np.float64)
    pos = _as_positions(positions)
    if not 0 < radius < annulus[0] < annulus[1]:
        raise ValueError(
            f"need 0 < radius < annulus inner < annulus outer, got {radius}, {annulus}"
        )
    if mask is not None and mask.shape != data.shape:
        raise ValueError(f"mask shape {mask.shape} differs from image shape {data.shape}")
    x_col, y_col = pos[:, 0].copy(), pos[:, 1].copy()
    table_xy = pos  # the frame's positions, whatever box is cut out below
    # Only the pixels around the positions are read: a light curve measures
    # a few stars of a large frame, whose whole-frame copies cost more than
    # the photometry. The box holds every aperture and annulus whole, so an
    # aperture meets its edge only where it meets the frame's.
    box = _bounding_box(pos, annulus[1] + 2.0, data.shape)
    if box is not None:
        data = data[box]
        mask, variance, sky_mask = (
            None if a is None else np.asarray(a)[box] for a in (mask, variance, sky_mask)
        )
        origin = (box[1].start, box[0].start)
        pos = pos - origin
        # The neighbours too: compared with the positions in the box's pixels.
        neighbours = None if neighbours is None else _as_positions(neighbours) - origin
    if box is None and sky_memo is not None:
        # The frame's own arrays, made once for the curve of growth and the apertures.
        pixels = sky_memo.pixels(image, mask, sky_mask)
    else:
        pixels = FramePixels.of(data, mask, sky_mask)
    bad, clean = pixels.bad, pixels.clean
    n = len(pos)
    flags = np.zeros(n, dtype=np.int32)
    if n == 0:
        empty = {
            name: np.zeros(0) for name in ("flux", "flux_err", "sky", "sky_err", "sky_rms", "area")
        }
        return Table({"x": x_col, "y": y_col, **empty, "flags": flags}), np.zeros(0)

    sky_bad = pixels.sky_bad
    if sky_memo is None:
        sky_stats = annulus_sky(clean, sky_bad, pos, annulus[0], annulus[1], sigma=3.0, maxiters=5)
    else:
        sky_stats = sky_memo.sky(
            clean, sky_bad, pos, annulus[0], annulus[1], sigma=3.0, maxiters=5, at=table_xy,
            source=pixels.source, scale=pixels.scale,
        )  # fmt: skip
    sky = sky_stats.median
    sky_std = sky_stats.std
    n_sky = sky_stats.n_pixels.astype(np.float64)
    sky = sky + poisson_median_offset(sky, noise.read_noise)
    no_sky = ~np.isfinite(sky) | (n_sky < 5)
    flags[no_sky] |= F.SKY_FAILED
    sky = np.where(no_sky, np.nan, sky)

    pixel_sigma = None
    if variance is not None:
        pixel_sigma = np.sqrt(np.where(bad, 0.0, np.asarray(variance, np.float64)))
    total = circle_sums(clean, pos, radius)
    sums = total
    area = _aperture_areas(pixels, pos, radius)
    full_area = np.pi * radius**2
    # The area inside the frame: measured only where the aperture's pixel
    # box meets the edge (a frame of ones and a pass over every star cost
    # more than the rest of the flags).
    ny, nx = clean.shape
    with np.errstate(invalid="ignore"):
        inner = (
            (pos[:, 0] - radius - 1 >= 0)
            & (pos[:, 0] + radius + 1 <= nx - 1)
            & (pos[:, 1] - radius - 1 >= 0)
            & (pos[:, 1] + radius + 1 <= ny - 1)
        )
    in_image = np.full(n, full_area)
    if not inner.all():
        edge = ~inner
        in_image[edge] = circle_frame_areas(clean.shape, pos[edge], radius)
    if mirror_masked:
        cut = np.flatnonzero((in_image - area) > 1e-6)
        if cut.size:
            add_sum, add_area = mirrored_masked_sums(clean, bad, pos[cut], radius)
            fixed = np.isfinite(add_sum)
            total = total.copy()
            total[cut[fixed]] += add_sum[fixed]
            area[cut[fixed]] += add_area[fixed]
    flux = total - sky * area
    sky_rms = sky_std / clipped_std_factor(3.0, 5)
    sky_err = sky_rms * np.sqrt(_MEDIAN_VARIANCE_FACTOR / np.maximum(n_sky, 1))
    if variance is None:
        sum_var = aperture_variance(flux, area, radius, sky_rms**2)
    else:
        # photutils (~0.1 CPU s to import) only where a per-pixel variance is
        # given, which the chain's frames never are.
        from photutils.aperture import CircularAperture, aperture_photometry

        aper = CircularAperture(pos, r=radius)
        phot = aperture_photometry(clean, aper, error=pixel_sigma, mask=bad)
        sum_var = np.asarray(phot["aperture_sum_err"], dtype=np.float64) ** 2
    flux_err = np.sqrt(sum_var + (area * sky_err) ** 2)

    # Flags: masked pixels, edge, saturation, neighbours.
    flags[in_image < full_area * 0.999] |= F.NEAR_EDGE
    flags[(in_image - area) > 1e-6] |= F.MASKED
    if saturation is not None:
        rows, cols = pixels.at_or_above(saturation)
        flags[circles_holding(rows, cols, pos, radius)] |= F.SATURATED
    near = (
        contamination_radius
        if contamination_radius is not None
        else (radius + 0.5 * (annulus[1] - annulus[0]))
    )
    others = pos if neighbours is None else np.vstack([pos, _as_positions(neighbours)])
    tree = cKDTree(others)
    # A source within 0.5 px is the same star listed twice, not a neighbour.
    counts = tree.query_ball_point(pos, near, return_length=True) - tree.query_ball_point(
        pos, 0.5, return_length=True
    )
    flags[counts > 0] |= F.CONTAMINATED
    flags[~np.isfinite(flux)] |= F.FIT_FAILED
    flags[np.isfinite(flux) & (flux <= 0)] |= F.NEGATIVE_FLUX

    # One table of all columns: column by column cost as much as the flags.
    table = Table(
        {"x": x_col, "y": y_col, "flux": flux, "flux_err": flux_err, "sky": sky,
         "sky_err": sky_err, "sky_rms": sky_rms, "area": area, "flags": flags},
        copy=False,
    )  # fmt: skip
    return table, (sums if box is None else None)
