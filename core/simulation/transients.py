"""What is new in a simulated night: a nova, an outbursting star, galaxies and a supernova.

* The **nova** is not in the reference catalogue (its progenitor is far
  fainter): it brightens steadily over the night, linearly in magnitude, from
  ``nova_mag_start`` to ``nova_mag_end``.
* The **outbursting star** is a catalogued star (a dwarf nova, quiescent at
  ``outburst_mag``) that rises by
  ``outburst_amplitude`` magnitudes at ``outburst_start`` (a fraction of the
  night) over ``outburst_rise`` minutes and stays up.
* **Galaxies** (exponential discs, seen through each frame's PSF) are not in
  the star catalogue either, as in Gaia; they give transients a bright,
  structured host background. A **supernova** sits in the brightest one, off
  its nucleus.

Positions are chosen once per night without random draws (the first two
spots of a fixed list with no catalogued star near), so turning them on moves
no other star; the dwarf nova is appended to the catalogue, and its catalogue
errors and the galaxies come from random streams of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.signal import fftconvolve

from .camera_frames import _rng
from .psf import psf_stamp

if TYPE_CHECKING:
    from collections.abc import Callable

    from astropy.table import Table
    from astropy.time import Time
    from astropy.wcs import WCS

    from .simulate import NightConfig

__all__ = [
    "NOVA_ID",
    "SUPERNOVA_ID",
    "GALAXY_ID_START",
    "NightTransients",
    "outburst_relative_flux",
    "render_galaxy",
]

NOVA_ID = -2
SUPERNOVA_ID = -3
GALAXY_ID_START = -1000  # galaxy k has id GALAXY_ID_START - k
_S_GALAXIES = 31
_S_TRANSIENTS = 32
_CLEAR_PX = 12.0  # nothing catalogued this close to the nova's spot
# Spots for the nova and the dwarf nova, as fractions of (nx - 1, ny - 1):
# away from the variables, the asteroid's path and the edges.
_SPOTS = ((0.22, 0.27), (0.78, 0.72), (0.25, 0.78), (0.8, 0.22), (0.6, 0.85), (0.4, 0.15))


def outburst_relative_flux(
    jd: np.ndarray | float, start: float, rise: float, amplitude: float
) -> np.ndarray:
    """Flux relative to quiescence: a linear rise in flux over ``rise`` days, then flat."""
    frac = np.clip((np.asarray(jd, float) - start) / max(rise, 1e-9), 0.0, 1.0)
    return 1.0 + (10 ** (0.4 * amplitude) - 1.0) * frac


def render_galaxy(
    shape: tuple[int, int],
    x: float,
    y: float,
    flux: float,
    r_eff: float,
    axis_ratio: float,
    pa: float,
    fwhm: float,
    psf: str = "moffat",
    beta: float = 3.0,
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """An exponential disc of total ``flux`` seen through the PSF: (region, stamp).

    The disc is integrated over each pixel on a 5x5 sub-grid and convolved
    with the pixel-integrated PSF; ``r_eff`` (px) is the half-light radius
    along the major axis, ``pa`` (rad) the major axis's angle from +x.
    Returns None when the galaxy is off the image.
    """
    ny, nx = shape
    scale = r_eff / 1.678  # exponential disc: r_eff = 1.678 scale lengths
    half = int(np.ceil(6.0 * r_eff + 3.0 * fwhm))
    cx, cy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    x0, x1, y0, y1 = cx - half, cx + half + 1, cy - half, cy + half + 1
    if x1 <= 0 or y1 <= 0 or x0 >= nx or y0 >= ny:
        return None
    sub = 5
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    gx = (np.arange(x0, x1)[:, None] + offs[None, :]).ravel() - x
    gy = (np.arange(y0, y1)[:, None] + offs[None, :]).ravel() - y
    xx, yy = np.meshgrid(gx, gy)
    c, s = np.cos(pa), np.sin(pa)
    u = c * xx + s * yy
    v = (-s * xx + c * yy) / axis_ratio
    disc = np.exp(-np.hypot(u, v) / scale)
    n = x1 - x0
    disc = disc.reshape(n, sub, n, sub).mean(axis=(1, 3))
    disc *= flux / disc.sum()
    k = int(np.ceil(3.0 * fwhm))
    grid = np.arange(-k, k + 1, dtype=float)
    kernel = psf_stamp(grid, grid, fwhm, psf, beta)
    stamp = fftconvolve(disc, kernel / kernel.sum(), mode="same")
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x1, nx), min(y1, ny)
    cut = stamp[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0]
    return (slice(sy0, sy1), slice(sx0, sx1)), cut


class NightTransients:
    """The transient part of :class:`~fluxion.core.simulation.night.Night`."""

    config: NightConfig
    catalog: Table
    reference_wcs: WCS
    times: Time
    _kind: np.ndarray
    _true_v: np.ndarray
    _true_b: np.ndarray
    _shape_at: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]

    def _make_transients(self) -> None:
        c = self.config
        ny, nx = c.shape
        jd = self.times.jd
        span = max(jd[-1] - jd[0], c.exptime / 86400.0)
        self.nova_start_jd, self.nova_end_jd = float(jd[0]), float(jd[0] + span)
        self.outburst_start_jd = float(jd[0] + c.outburst_start * span)
        x, y = self.reference_wcs.wcs_world2pix(self.catalog["ra"], self.catalog["dec"], 0)
        self.nova_sky = self._clear_spot(x, y) if c.nova else None
        self.outburst_id = self._outburst_star(x, y) if c.outburst else None
        self.galaxies = self._galaxies() if c.n_galaxies > 0 else None
        self.supernova_sky = None
        if self.galaxies is not None and c.supernova:
            g = self.galaxies[int(np.argmin(self.galaxies["mag_V"]))]
            # Half an effective radius from the nucleus along the major axis.
            dx = 0.5 * g["r_eff"] * np.cos(g["pa"])
            dy = 0.5 * g["r_eff"] * np.sin(g["pa"])
            self.supernova_sky = self.reference_wcs.pixel_to_world(g["x"] + dx, g["y"] + dy)

    def _outburst_star(self, x: np.ndarray, y: np.ndarray) -> int:
        """Add the dwarf nova to the catalogue at a clear spot; its id.

        A star of its own (appended, so every other star keeps its id and
        place) rather than one of the field's, which tests of quiet stars use.
        """
        from .field import catalog_errors

        c = self.config
        sky = self._clear_spot(x, y, skip=1)
        rng = _rng(c.seed, _S_TRANSIENTS)
        bv = 0.3
        v, b = c.outburst_mag, c.outburst_mag + bv
        v_err = float(catalog_errors(np.array(v), c.mag_faint))
        b_err = float(catalog_errors(np.array(b), c.mag_faint + 0.5))
        new_id = int(self.catalog["id"].max()) + 1
        row = {
            "id": new_id, "ra": sky.ra.deg, "dec": sky.dec.deg,
            "B": b + b_err * rng.standard_normal(), "B_err": b_err,
            "V": v + v_err * rng.standard_normal(), "V_err": v_err,
        }  # fmt: skip
        if "R" in self.catalog.colnames:
            from .colour import cousins_r

            r = float(cousins_r(np.array(v), np.array(b)))
            r_err = float(catalog_errors(np.array(r), c.mag_faint - 0.3))
            row.update(R=r + r_err * rng.standard_normal(), R_err=r_err)
        self.catalog.add_row([row[k] for k in self.catalog.colnames])
        self._true_v = np.append(self._true_v, v)
        self._true_b = np.append(self._true_b, b)
        self._kind = np.append(self._kind, "outburst")
        return new_id

    def _clear_spot(self, x: np.ndarray, y: np.ndarray, skip: int = 0):
        """The ``skip``-th spot with no catalogued star close by.

        The fixed list's clear spots first; in a field too crowded for them,
        the places of a grid farthest from any catalogued star (each at least
        ``_CLEAR_PX`` from the spots taken before it), so that the new source
        is not blended with a star.
        """
        ny, nx = self.config.shape
        scale = np.array([nx - 1, ny - 1], float)
        fixed = [np.array(f) * scale for f in _SPOTS]

        def room(p: np.ndarray) -> float:
            return float(np.min(np.hypot(x - p[0], y - p[1]))) if len(x) else np.inf

        clear = [p for p in fixed if room(p) > _CLEAR_PX]
        if len(clear) <= skip:
            grid = np.arange(0.15, 0.851, 0.025)
            places = [np.array([fx, fy]) * scale for fx in grid for fy in grid]
            places.sort(key=room, reverse=True)
            for p in places:
                if len(clear) > skip:
                    break
                if all(np.hypot(*(p - q)) > _CLEAR_PX for q in clear):
                    clear.append(p)
        return self.reference_wcs.pixel_to_world(*clear[skip])

    def _galaxies(self) -> Table:
        from astropy.table import Table

        c = self.config
        ny, nx = c.shape
        rng = _rng(c.seed, _S_GALAXIES)
        n = c.n_galaxies
        gx = rng.uniform(0.08, 0.92, n) * (nx - 1)
        gy = rng.uniform(0.08, 0.92, n) * (ny - 1)
        ra, dec = self.reference_wcs.wcs_pix2world(gx, gy, 0)
        t = Table()
        t["id"] = GALAXY_ID_START - np.arange(n)
        t["ra"], t["dec"] = ra, dec
        t["x"], t["y"] = gx, gy
        t["mag_V"] = rng.uniform(c.galaxy_mag_bright, c.galaxy_mag_faint, n)
        t["r_eff"] = rng.uniform(2.5, 6.0, n) / c.pixel_scale
        t["axis_ratio"] = rng.uniform(0.4, 1.0, n)
        t["pa"] = rng.uniform(0, np.pi, n)
        return t

    def nova_mag(self, jd: np.ndarray | float) -> np.ndarray:
        """The nova's V at ``jd``: linear in magnitude from start to end of the night."""
        c = self.config
        span = max(self.nova_end_jd - self.nova_start_jd, 1e-9)
        f = np.clip((np.asarray(jd, float) - self.nova_start_jd) / span, 0.0, 1.0)
        return c.nova_mag_start + (c.nova_mag_end - c.nova_mag_start) * f

    def outburst_factor(self, jd: np.ndarray | float) -> np.ndarray:
        """The outbursting star's flux relative to its catalogued brightness."""
        c = self.config
        return outburst_relative_flux(
            jd, self.outburst_start_jd, c.outburst_rise / 1440.0, c.outburst_amplitude
        )

    def new_point_sources(self, jd: float) -> list[tuple[int, str, object, float]]:
        """(id, kind, sky position, V) of the nova and supernova at ``jd``."""
        out = []
        if self.nova_sky is not None:
            out.append((NOVA_ID, "nova", self.nova_sky, float(self.nova_mag(jd))))
        if self.supernova_sky is not None:
            out.append((SUPERNOVA_ID, "supernova", self.supernova_sky, self.config.supernova_mag))
        return out

    def add_galaxies(self, i: int, image: np.ndarray, wcs: WCS, scale: float, rate) -> None:
        """Add the galaxies (e-) of light ``i`` to ``image``; ``rate(v)`` gives e-/s."""
        if self.galaxies is None:
            return
        c = self.config
        x, y = wcs.all_world2pix(self.galaxies["ra"], self.galaxies["dec"], 0)
        for g, gx, gy in zip(self.galaxies, x, y, strict=True):
            flux = float(rate(g["mag_V"])) * scale
            fwhm = float(self._shape_at(i, np.array([gx]), np.array([gy]))[0][0])
            drawn = render_galaxy(
                c.shape, gx, gy, flux, g["r_eff"], g["axis_ratio"], g["pa"], fwhm,
                c.psf, c.moffat_beta,
            )  # fmt: skip
            if drawn is not None:
                region, stamp = drawn
                image[region] += stamp
