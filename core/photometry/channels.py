"""Photometry of a colour-filter-array frame on each channel's own pixels, without interpolation.

A one-shot-colour frame (:mod:`fluxion.core.io.cfa`) is four interleaved
images: the red, the two green and the blue pixels, each one pixel of every
2 x 2 block. Each is a grid of its own (pixel (i, j) is the frame's
(2 i + dy, 2 j + dx)) and is measured as an image: its own sky in every
annulus, apertures and PSF fits on its own pixels, the PSF sampled on its
sparse grid. No pixel value is ever made up from its neighbours (a
demosaiced frame's would be, its noise correlated and its colours mixed).

The four grids are measured in one run of the photometry step, laid out two
by two with a wide masked gap between them, so that the seeing, the curve of
growth and the PSF model come from every star four times over: a grid alone
holds a quarter of the light (the blue one of a typical sensor far less) and
too few bright stars for a curve of growth (its radius and correction went
from 2.4 to 14 px between grids of one simulated light). One PSF shape for
the four assumes the channels share it; seeing grows bluer by
(lambda)^-0.2, ~8% in FWHM from red to blue, which the frame's zero point of
each channel absorbs (it is the same for every star of the channel).

The stars are found once, on the sum of the two greens (whose light centre
is the block's whatever the star's colour; see :func:`~fluxion.core.io.cfa.bin_cfa`),
and measured at the same frame positions on every grid.

A channel's flux is the electrons its own pixels collected: ``G`` is the sum
of the two green grids (G1 + G2) and the luminance ``L`` the sum of all four
(every pixel of the frame, each grid with its own sky: one sky over the
mosaic would be the median of four different levels). Errors add in
quadrature, the grids sharing no pixel. Rows: one per star and channel, in
the order of the channels asked for, with a ``channel`` column and frame
positions.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table, vstack

from ..io.cfa import CHANNELS, bin_cfa, channel_offsets, channel_view, unbinned_xy
from ..runtime.pipeline import StepState
from .detect import find_stars, frame_sky, measure_fwhm
from .flags import PhotometryFlag as F
from .params import CHANNEL_SETS

if TYPE_CHECKING:
    from astropy.wcs import WCS

__all__ = ["channel_list", "measure_channels", "star_positions"]

log = logging.getLogger(__name__)

# Parameters counted in pixels, which halve on a channel's grid.
_PX_PARAMS = ("fwhm", "aperture_radius")
_PX_ODD_PARAMS = ("fit_size", "psf_size")
# What a combined channel is made of.
_SUMS = {"G": ("G1", "G2"), "L": ("R", "G1", "G2", "B")}
# sep's sky mesh of the photometry step (px), filtered over 3 x 3 cells.
_SKY_BOX = 64
# The star finder's sharpness test on a grid (a lone pixel reads 1). A grid
# pixel samples a quarter of its area, so its stars are sharper than a
# pixel-integrated star of their FWHM: at 1.4 grid px (3 frame px, common)
# they read 0.56-0.65, all of them failing the frame's 0.5, which left the
# curve of growth one spurious star and corrections 30% high.
_GRID_SHARPNESS = 0.85


def channel_list(choice: str) -> tuple[str, ...]:
    """The rows a :data:`~.params.CHANNEL_SETS` choice gives (``'RGB'`` -> R, G, B)."""
    if choice not in CHANNEL_SETS or choice == "mono":
        raise ValueError(f"channels {choice!r}: one of {', '.join(CHANNEL_SETS)}")
    return {
        "RGB": ("R", "G", "B"),
        "RGB+L": ("R", "G", "B", "L"),
        "L": ("L",),
        "G": ("G",),
        "RGGB": ("R", "G1", "G2", "B"),
    }[choice]


def _grid_params(params):
    """``params`` with its pixel-counted sizes in a channel grid's pixels (half the frame's)."""
    changes = {}
    for name in _PX_PARAMS:
        value = getattr(params, name)
        if value > 0:
            changes[name] = value / 2.0
    for name in _PX_ODD_PARAMS:
        changes[name] = max(int(round(getattr(params, name) / 2.0)) | 1, 3)
    changes["sky_mesh"] = max(int(round(params.sky_mesh / 2.0)), 4)
    return dataclasses.replace(params, **changes)


def _tiles(grids: list[np.ndarray], gap: int, fill) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The grids laid out two by two with ``gap`` pixels of ``fill`` between; their origins."""
    gy, gx = grids[0].shape
    out = np.full((2 * gy + gap, 2 * gx + gap), fill, dtype=np.result_type(grids[0], fill))
    origins = []
    for k, g in enumerate(grids):
        oy, ox = (k // 2) * (gy + gap), (k % 2) * (gx + gap)
        out[oy : oy + g.shape[0], ox : ox + g.shape[1]] = g
        origins.append((oy, ox))
    return out, origins


def star_positions(
    image: np.ndarray,
    pattern: str,
    *,
    mask: np.ndarray | None = None,
    threshold: float = 5.0,
    fwhm: float = 0.0,
) -> np.ndarray:
    """(x, y) in frame pixels of the stars found on the sum of the two greens, brightest first."""
    greens = bin_cfa(np.nan_to_num(np.asarray(image, dtype=np.float64)), pattern)
    bad = ~np.isfinite(greens)
    if mask is not None:
        bad |= bin_cfa(np.asarray(mask, bool).astype(np.float32), pattern) > 0
    sky = frame_sky(greens, bad, box=_SKY_BOX // 2)
    guess = fwhm / 2.0 if fwhm > 0 else 2.0
    stars = find_stars(
        greens, sky, threshold=threshold, mask=bad, fwhm=guess, sharpness_limit=_GRID_SHARPNESS
    )
    if fwhm <= 0:
        # As the photometry step does: the matched filter of the frame's own
        # seeing, whose sharpness test also keeps undersampled stars.
        measured = measure_fwhm(greens, sky, stars)
        if np.isfinite(measured) and abs(measured - guess) > 0.2 * guess:
            stars = find_stars(
                greens,
                sky,
                threshold=threshold,
                mask=bad,
                fwhm=measured,
                sharpness_limit=_GRID_SHARPNESS,
            )
    x, y = unbinned_xy(np.asarray(stars["x"]), np.asarray(stars["y"]))
    return np.column_stack([x, y])


def measure_channels(
    step,
    image: np.ndarray,
    pattern: str,
    positions: np.ndarray | None = None,
    *,
    mask: np.ndarray | None = None,
    error: np.ndarray | None = None,
    gain: float | None = None,
    read_noise: float = 0.0,
    saturation: float | None = None,
    target: tuple[float, float] | None = None,
    wcs: WCS | None = None,
    fwhm: float | None = None,
    state: StepState | None = None,
):
    """Measure a colour-filter-array frame channel by channel (see the module docstring).

    Parameters
    ----------
    step : Photometry
        The configured step; its ``params.channels`` says which rows to give.
    image : ndarray
        The mosaic (ADU, calibrated or raw), as stored.
    pattern : str
        Its Bayer pattern ('RGGB', ...).
    positions : ndarray (N, 2), optional
        Frame positions to measure; found on the greens when not given.
    mask, error, gain, read_noise, saturation, wcs, state
        As for :meth:`Photometry.run`.
    target : (float, float), optional
        The target's frame position: measured after the stars.
    fwhm : float, optional
        The frame's seeing in frame pixels when already measured.

    Returns
    -------
    PhotometryResult
        The rows of every channel asked for. Its sky, model and residual are
        mosaics of the grids' own; its FWHM, aperture radius and annulus are
        in frame pixels (twice a grid's), its curve of growth and PSF in grid
        pixels (``extra['grid_pixels']``; the PSF method's is the first green
        grid's, each grid's result is in ``extra['grids']``).
    """
    from .step import PhotometryResult, _finish_table

    state = state or StepState()
    p = step.params
    rows = channel_list(p.channels)
    data = np.asarray(image, dtype=np.float64)
    if positions is None:
        state.progress(0.02, "finding stars on the green pixels")
        positions = star_positions(
            data, pattern, mask=mask, threshold=p.detection_threshold, fwhm=p.fwhm
        )
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    if target is not None:
        positions = np.vstack([positions, np.asarray(target, dtype=np.float64)[None, :]])
    grid_params = dataclasses.replace(_grid_params(p), channels="mono")
    kw = dict(mask=mask, error=error, gain=gain, read_noise=read_noise, saturation=saturation)
    if fwhm is not None and fwhm > 0:
        kw["fwhm"] = fwhm / 2.0  # a grid pixel is two frame pixels
    kw["sharpness_limit"] = _GRID_SHARPNESS
    how = _tiled if p.method == "aperture" else _apart
    per_grid, result, images = how(grid_params, data, pattern, positions, kw, state.sub(0.05, 0.98))
    tables = []
    for row in rows:
        parts = [per_grid[g] for g in _SUMS.get(row, (row,))]
        t = parts[0] if len(parts) == 1 else _sum_rows(parts)
        t["channel"] = np.full(len(t), row, dtype="U2")
        tables.append(t)
    table = vstack(tables, join_type="inner", metadata_conflicts="silent")
    table = _finish_table(table, wcs)
    table.meta = dict(result.table.meta)
    for key in ("fwhm", "aperture_radius"):
        if key in table.meta:
            table.meta[key] = 2.0 * float(table.meta[key])
    table.meta.update(bayer_pattern=pattern, channels=list(rows))
    state.progress(1.0, f"{len(positions)} stars measured in {', '.join(rows)}")
    return PhotometryResult(
        table=table,
        method=p.method,
        fwhm=2.0 * result.fwhm,
        unit=result.unit,
        sky=images["sky"],
        aperture_radius=None if result.aperture_radius is None else 2.0 * result.aperture_radius,
        annulus=None if result.annulus is None else tuple(2.0 * a for a in result.annulus),
        curve_of_growth=result.curve_of_growth,
        psf=result.psf,
        model=images["model"],
        residual=images["residual"],
        extra={**result.extra, "grid_pixels": True},
    )


def _to_frame(table: Table, offset: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> Table:
    """A grid's (or a tile's) table in frame pixels: grid pixel i is frame pixel 2 i + offset."""
    t = Table(table, copy=True)
    (dy, dx), (oy, ox) = offset, origin
    t["x"] = 2.0 * (np.asarray(t["x"], float) - ox) + dx
    t["y"] = 2.0 * (np.asarray(t["y"], float) - oy) + dy
    return t


def _tiled(params, data, pattern, positions, kw, state):
    """Aperture photometry of the four grids laid out as one image (pooled seeing and growth).

    The annuli give every star its own grid's sky; the frame's sky maps
    (sep's, for the star finder and the seeing) see the tiles far enough
    apart not to mix their levels.
    """
    from .step import Photometry

    offsets = channel_offsets(pattern)
    reach = max(params.annulus_outer * max(params.fwhm, 4.0), params.fit_size, params.psf_size)
    gap = int(max(5 * _SKY_BOX + 8, 2 * reach))

    def tiled(array, fill):
        if array is None:
            return None, None
        return _tiles([channel_view(array, pattern, g) for g in CHANNELS], gap, fill)

    tiles, origins = tiled(data, np.nan)
    mask, error = kw["mask"], kw["error"]
    kw = {
        **kw,
        "mask": tiled(None if mask is None else np.asarray(mask, bool), True)[0],
        "error": tiled(None if error is None else np.asarray(error, np.float64), np.inf)[0],
    }
    n = len(positions)
    on_tiles = np.vstack(
        [
            np.column_stack(
                [
                    (positions[:, 0] - offsets[g][1]) / 2.0 + ox,
                    (positions[:, 1] - offsets[g][0]) / 2.0 + oy,
                ]
            )
            for g, (oy, ox) in zip(CHANNELS, origins, strict=True)
        ]
    )
    result = Photometry(params).run(tiles, on_tiles, state=state, **kw)
    per_grid = {
        g: _to_frame(result.table[k * n : (k + 1) * n], offsets[g], origins[k])
        for k, g in enumerate(CHANNELS)
    }

    def mosaic(image_on_tiles):
        if image_on_tiles is None:
            return None
        full = np.full(data.shape, np.nan)
        source = np.broadcast_to(image_on_tiles, tiles.shape)
        for g, (oy, ox) in zip(CHANNELS, origins, strict=True):
            dy, dx = offsets[g]
            view = full[dy::2, dx::2]
            view[...] = source[oy : oy + view.shape[0], ox : ox + view.shape[1]]
        return full

    images = {k: mosaic(getattr(result, k)) for k in ("sky", "model", "residual")}
    return per_grid, result, images


def _apart(params, data, pattern, positions, kw, state):
    """PSF or scene photometry of each grid on its own: its own sky map and its own PSF.

    A PSF fit needs a sky map, which the four grids' different levels would
    smear into one another across any gap (a spline over the sky mesh
    carried a 200 e- tile to 400 e- across 600 px), and each colour's PSF
    is its own (seeing is sharper in the red).
    """
    from .step import Photometry

    offsets = channel_offsets(pattern)
    step = Photometry(params)
    per_grid, results = {}, {}
    images = {k: np.full(data.shape, np.nan) for k in ("sky", "model", "residual")}
    for k, g in enumerate(CHANNELS):
        dy, dx = offsets[g]
        on_grid = np.column_stack([(positions[:, 0] - dx) / 2.0, (positions[:, 1] - dy) / 2.0])
        grid_kw = {
            key: (None if v is None else np.ascontiguousarray(channel_view(v, pattern, g)))
            if key in ("mask", "error")
            else v
            for key, v in kw.items()
        }
        r = step.run(
            np.ascontiguousarray(channel_view(data, pattern, g)),
            on_grid,
            state=state.sub(k / 4, (k + 1) / 4),
            **grid_kw,
        )
        results[g] = r
        per_grid[g] = _to_frame(r.table, offsets[g])
        for name in images:
            value = getattr(r, name)
            view = images[name][dy::2, dx::2]
            if value is not None:
                view[...] = value
    for name in ("model", "residual"):
        if any(getattr(r, name) is None for r in results.values()):
            images[name] = None
    first = results["G1"]
    first.extra["grids"] = results
    return per_grid, first, images


def _sum_rows(parts: list[Table]) -> Table:
    """Rows of several grids' tables (same stars, same order) added: flux, error, flags."""
    flux = np.sum([np.asarray(t["flux"], float) for t in parts], axis=0)
    err = np.sqrt(np.sum([np.asarray(t["flux_err"], float) ** 2 for t in parts], axis=0))
    flags = np.bitwise_or.reduce([np.asarray(t["flags"], np.int32) for t in parts], axis=0)
    # A star lost on one grid is lost on the sum.
    flags = np.where(np.isfinite(flux), flags, flags | int(F.FIT_FAILED))
    x = np.mean([np.asarray(t["x"], float) for t in parts], axis=0)
    y = np.mean([np.asarray(t["y"], float) for t in parts], axis=0)
    return Table({"x": x, "y": y, "flux": flux, "flux_err": err, "flags": flags})
