"""Star fields with a known pixel-integrated Moffat PSF, for tests and benchmarks.

The general night simulator lives in ``fluxion.core.simulation.simulate``; this module
makes the plain crowded fields the photometry benchmark asks for (one PSF or
one that changes across the field, flat sky, Poisson + read noise) and gives
the exact PSF that went in, which the Cramér-Rao bound needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from .noise import StarBound, isolated_star_bound

if TYPE_CHECKING:
    # An annotation only: the simulator's PSF module imports photutils.psf.
    from ..simulation.psf import FieldPSF

__all__ = ["MoffatProfile", "StarField", "field_shape_of", "star_field"]

_PHASES = 16  # stars are placed on a 1/16 px grid so that a table of stamps is exact


@dataclass(frozen=True)
class MoffatProfile:
    """A circular Moffat PSF, ``(1 + r^2/alpha^2)^-beta``, normalised to unit flux."""

    fwhm: float = 3.5
    beta: float = 3.0

    @property
    def alpha(self) -> float:
        """Core width alpha (px) from the FWHM."""
        return self.fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / self.beta) - 1.0))

    def value(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Surface brightness per px^2 of a unit-flux star at offset (dx, dy)."""
        a2 = self.alpha**2
        return (self.beta - 1.0) / (np.pi * a2) * (1.0 + (dx * dx + dy * dy) / a2) ** -self.beta

    def stamp(self, size: int, x0: float = 0.0, y0: float = 0.0, subsample: int = 7) -> np.ndarray:
        """Pixel-integrated stamp (size x size, odd) of a star at (x0, y0) from the centre."""
        half = size // 2
        sub = (np.arange(subsample) + 0.5) / subsample - 0.5
        grid = np.arange(-half, half + 1, dtype=np.float64)
        u = (grid[:, None] + sub[None, :]).ravel() - x0
        v = (grid[:, None] + sub[None, :]).ravel() - y0
        vals = self.value(u[None, :], v[:, None])
        return vals.reshape(size, subsample, size, subsample).mean(axis=(1, 3))


@lru_cache(maxsize=4)
def _stamp_table(profile: MoffatProfile, size: int) -> np.ndarray:
    """Stamps for every 1/16 px phase: table[my, mx] has the star at (+mx/16, +my/16)."""
    table = np.empty((_PHASES, _PHASES, size, size))
    for my in range(_PHASES):
        for mx in range(_PHASES):
            table[my, mx] = profile.stamp(size, mx / _PHASES, my / _PHASES)
    return table


@dataclass(frozen=True)
class StarField:
    """A simulated frame and its truth."""

    image: np.ndarray
    """The frame in ADU (float64; saturated pixels clipped at ``saturation``)."""
    truth: Table
    """True x, y (0-based px) and flux (e-) of every star."""
    profile: MoffatProfile
    sky: float
    """Sky in e-/px."""
    read_noise: float
    """Read noise in e-."""
    gain: float
    """Gain in e-/ADU."""
    saturation: float | None
    """Saturation level in ADU, or None."""
    field_psf: FieldPSF | None = None
    """The PSF across the field when it varies (``profile`` is then unused)."""

    def bound(self, flux: np.ndarray) -> StarBound:
        """Cramér-Rao bound of an isolated star of the given flux(es) with the true PSF.

        For a field-varying PSF, use :meth:`star_bounds` (the bound depends on
        where the star is).
        """
        size = 41
        p = self.profile.stamp(size)
        h = 1e-3
        px = (self.profile.stamp(size, h, 0) - self.profile.stamp(size, -h, 0)) / (2 * h)
        py = (self.profile.stamp(size, 0, h) - self.profile.stamp(size, 0, -h)) / (2 * h)
        return isolated_star_bound(p, px, py, flux, self.sky, self.read_noise)

    def stamp_at(
        self, size: int, x: float, y: float, cx: int | None = None, cy: int | None = None
    ) -> np.ndarray:
        """True pixel-integrated unit star at (x, y) on a stamp centred on pixel (cx, cy).

        The centre defaults to the star's nearest pixel.
        """
        cx = np.floor(x + 0.5) if cx is None else cx
        cy = np.floor(y + 0.5) if cy is None else cy
        if self.field_psf is not None:
            return self.field_psf.stamp(size, x, y, cx, cy)
        return self.profile.stamp(size, x - cx, y - cy)

    def star_bounds(self) -> np.ndarray:
        """Isolated-star flux bound (e-) of every true star with the PSF where it is."""
        tx, ty, tf = (np.asarray(self.truth[c], dtype=np.float64) for c in ("x", "y", "flux"))
        if self.field_psf is None:
            return self.bound(tf).sigma_flux
        out = np.empty(len(tf))
        size, h = 41, 1e-3
        for k in range(len(tf)):
            cx, cy = np.floor(tx[k] + 0.5), np.floor(ty[k] + 0.5)

            def at(xs: float, ys: float, cx=cx, cy=cy) -> np.ndarray:
                return self.stamp_at(size, xs, ys, cx, cy)

            p = at(tx[k], ty[k])
            px = (at(tx[k] + h, ty[k]) - at(tx[k] - h, ty[k])) / (2 * h)
            py = (at(tx[k], ty[k] + h) - at(tx[k], ty[k] - h)) / (2 * h)
            b = isolated_star_bound(p, px, py, tf[k], self.sky, self.read_noise)
            out[k] = b.sigma_flux[0]
        return out


def star_field(
    shape: tuple[int, int] = (256, 256),
    n_stars: int = 100,
    *,
    flux_range: tuple[float, float] = (100.0, 1e5),
    sky: float = 100.0,
    read_noise: float = 5.0,
    gain: float = 1.0,
    profile: MoffatProfile | None = None,
    saturation: float | None = None,
    border: int = 0,
    min_separation: float = 0.0,
    stamp_size: int = 61,
    seed: int = 0,
    field_psf: FieldPSF | None = None,
) -> StarField:
    """Simulate a field of stars with log-uniform fluxes on a flat sky.

    Parameters
    ----------
    shape : (int, int)
        Image shape (ny, nx).
    n_stars : int
        Number of stars.
    flux_range : (float, float)
        Smallest and largest total flux (e-); fluxes are log-uniform.
    sky, read_noise, gain : float
        Sky (e-/px), read noise (e-), gain (e-/ADU).
    profile : MoffatProfile, optional
        The PSF; default beta 3, FWHM 3.5 px.
    saturation : float, optional
        Clip the frame at this many ADU.
    border : int
        No star centre closer than this to the edge (px).
    min_separation : float
        Minimum distance between star centres (px); stars that cannot be
        placed are dropped.
    stamp_size : int
        Odd size of the painted stamp; light beyond it is lost (the flux in
        the truth table is the total flux).
    seed : int
        Random seed.
    field_psf : FieldPSF, optional
        A PSF that changes across the field (``profile`` is then unused);
        each star is drawn with the PSF where it is.
    """
    profile = profile or MoffatProfile()
    rng = np.random.default_rng(seed)
    ny, nx = shape
    x = rng.uniform(border, nx - 1 - border, n_stars)
    y = rng.uniform(border, ny - 1 - border, n_stars)
    if min_separation > 0:
        keep: list[int] = []
        for i in range(n_stars):
            d2 = (x[keep] - x[i]) ** 2 + (y[keep] - y[i]) ** 2
            if not keep or d2.min() >= min_separation**2:
                keep.append(i)
        x, y = x[keep], y[keep]
    # Snap to the 1/16 px phase grid: the truth is then exactly what was painted.
    x = np.round(x * _PHASES) / _PHASES
    y = np.round(y * _PHASES) / _PHASES
    lo, hi = np.log10(flux_range[0]), np.log10(flux_range[1])
    flux = 10 ** rng.uniform(lo, hi, x.size)
    half = stamp_size // 2
    pad = half + 1
    expected = np.zeros((ny + 2 * pad, nx + 2 * pad))
    xi = np.floor(x).astype(int)
    yi = np.floor(y).astype(int)
    mx = np.round((x - xi) * _PHASES).astype(int) % _PHASES
    my = np.round((y - yi) * _PHASES).astype(int) % _PHASES
    if field_psf is None:
        table = _stamp_table(profile, stamp_size)
    for k in range(x.size):
        r0, c0 = yi[k] + pad - half, xi[k] + pad - half
        if field_psf is None:
            stamp = table[my[k], mx[k]]
        else:
            # Centred on pixel (xi, yi) = floor(x, y), as the phase table's stamps.
            stamp = field_psf.stamp(stamp_size, x[k], y[k], xi[k], yi[k])
        expected[r0 : r0 + stamp_size, c0 : c0 + stamp_size] += flux[k] * stamp
    expected = expected[pad:-pad, pad:-pad] + sky
    electrons = rng.poisson(expected).astype(np.float64)
    electrons += rng.normal(0.0, read_noise, shape)
    image = electrons / gain
    if saturation is not None:
        image = np.minimum(image, saturation)
    truth = Table({"x": x, "y": y, "flux": flux})
    return StarField(image, truth, profile, sky, read_noise, gain, saturation, field_psf)


def field_shape_of(field_psf: FieldPSF):
    """The simulator's radial :class:`FieldPSF` as the estimator's exact degree-2 field shape.

    FWHM and ellipticity grow as ``t = r^2 / r_corner^2``, a quadratic in x,
    y; the ellipticity components ``e cos 2 phi`` and ``e sin 2 phi`` (major
    axis along the radius) are ``(dx^2 - dy^2)`` and ``2 dx dy`` over
    ``r_corner^2``, quadratics too. The true PSF of a benchmark, for the
    methods given the truth (photutils rows, the oracle's checks).
    """
    from .gridpsf.fit import FieldShape

    ny, nx = field_psf.shape
    cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
    r2 = cx**2 + cy**2
    a, b = cx**2 / r2, cy**2 / r2
    df = field_psf.fwhm_corner - field_psf.fwhm_centre
    ek = field_psf.ellipticity_corner * (1.0 if field_psf.radial else -1.0)
    # Monomials: 1, u, v, u^2, uv, v^2 with u = dx / cx, v = dy / cy.
    fwhm = np.array([field_psf.fwhm_centre, 0, 0, df * a, 0, df * b])
    e1 = np.array([0, 0, 0, ek * a, 0, -ek * b])
    e2 = np.array([0, 0, 0, 0, ek * 2 * cx * cy / r2, 0])
    return FieldShape(field_psf.psf, 2, (cx, cy), (cx, cy), fwhm, e1, e2, field_psf.beta)
