"""Star fields with a known pixel-integrated Moffat PSF, for tests and benchmarks.

The general night simulator lives in ``fluxion.core.simulation.simulate``; this module
makes the plain crowded fields the photometry benchmark asks for (one PSF, flat
sky, Poisson + read noise) and gives the exact PSF that went in, which the
Cramér-Rao bound needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from astropy.table import Table

from .noise import StarBound, isolated_star_bound

__all__ = ["MoffatProfile", "StarField", "star_field"]

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

    def bound(self, flux: np.ndarray) -> StarBound:
        """Cramér-Rao bound of an isolated star of the given flux(es) with the true PSF."""
        size = 41
        p = self.profile.stamp(size)
        h = 1e-3
        px = (self.profile.stamp(size, h, 0) - self.profile.stamp(size, -h, 0)) / (2 * h)
        py = (self.profile.stamp(size, 0, h) - self.profile.stamp(size, 0, -h)) / (2 * h)
        return isolated_star_bound(p, px, py, flux, self.sky, self.read_noise)


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
    table = _stamp_table(profile, stamp_size)
    half = stamp_size // 2
    pad = half + 1
    expected = np.zeros((ny + 2 * pad, nx + 2 * pad))
    xi = np.floor(x).astype(int)
    yi = np.floor(y).astype(int)
    mx = np.round((x - xi) * _PHASES).astype(int) % _PHASES
    my = np.round((y - yi) * _PHASES).astype(int) % _PHASES
    for k in range(x.size):
        r0, c0 = yi[k] + pad - half, xi[k] + pad - half
        expected[r0 : r0 + stamp_size, c0 : c0 + stamp_size] += flux[k] * table[my[k], mx[k]]
    expected = expected[pad:-pad, pad:-pad] + sky
    electrons = rng.poisson(expected).astype(np.float64)
    electrons += rng.normal(0.0, read_noise, shape)
    image = electrons / gain
    if saturation is not None:
        image = np.minimum(image, saturation)
    truth = Table({"x": x, "y": y, "flux": flux})
    return StarField(image, truth, profile, sky, read_noise, gain, saturation)
