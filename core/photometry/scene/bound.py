"""The Cramér-Rao bound of a star's flux in a crowded field (the scene's Fisher matrix).

The isolated-star bound ignores the neighbours: a star whose light overlaps
another's shares pixels with it, and fitting both fluxes and positions at once
costs information that no fitter can recover. The bound of star ``i`` in the
scene is ``sqrt((F^-1)_ii)`` with ``F = J^T V^-1 J`` over all stars' flux and
position parameters. ``F`` is sparse (stars a few FWHM apart do not couple),
so for each requested star it is enough to invert the Fisher matrix of the
stars around it: the stars within ``radius`` of it and the stars within
``radius`` of those (the second ring carries the coupling of the first ring's
positions and fluxes to their own neighbours). The sky is taken as known, as
for :func:`fluxion.core.photometry.noise.isolated_star_bound`, so the ratio of
the two bounds is the cost of crowding alone.

Two stars at one position have identical columns and a singular Fisher
matrix; a pair a pixel apart has a bound some 40 times the isolated one
(Moffat FWHM 3.5 px, beta 3), hundreds of times at half a pixel: no fitter
measures them apart. As in DAOPHOT (which merges stars that converge to
one place) and the scene fitter (:func:`.companions.final_positions`, stars
closer than 0.3 FWHM are one), stars closer than ``unresolved`` are one
source for the bound: at their light-weighted centroid, with their summed
flux, and each of them gets that source's bound (the bound of their summed
flux).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .records import PlacedStars

__all__ = ["crowded_flux_bound"]

StampFunction = Callable[[int, float, float], np.ndarray]
"""``stamp(size, dx, dy)``: pixel-integrated unit-flux PSF offset by (dx, dy) from the centre."""

StampAtFunction = Callable[[int, float, float, int, int], np.ndarray]
"""``stamp_at(size, x, y, cx, cy)``: unit star at (x, y) on a stamp centred on pixel (cx, cy)."""


def crowded_flux_bound(
    stars: PlacedStars,
    which: np.ndarray,
    stamp: StampFunction,
    sky: float,
    read_noise: float,
    *,
    radius: float = 12.0,
    size: int = 25,
    shape: tuple[int, int] | None = None,
    stamp_at: StampAtFunction | None = None,
    unresolved: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Flux bound of the stars ``which`` in the scene of all stars, and their isolated bound.

    Parameters
    ----------
    stars : PlacedStars
        True positions (0-based px) and fluxes (e-) of every star of the frame.
    which : ndarray of int
        Indices of the stars whose bound is wanted.
    stamp : callable
        ``stamp(size, dx, dy)`` of the true PSF (e.g. ``MoffatProfile.stamp``).
    sky, read_noise : float
        Flat sky (e-/px) and read noise (e-).
    radius : float
        Stars closer than this (px) to a star are coupled to it.
    size : int
        Odd stamp size (px) over which each star's Fisher terms are summed.
    shape : (int, int), optional
        Image shape (ny, nx): pixels outside carry no information.
    stamp_at : callable, optional
        ``stamp_at(size, x, y, cx, cy)`` of a PSF that changes across the field; used
        instead of ``stamp`` (each star then gets the PSF where it is).
    unresolved : float
        px: stars this close (or at one position, always) are one source, whose
        summed flux's bound each of them gets (e.g. 0.3 FWHM).

    Returns
    -------
    crowded, isolated : ndarray
        The flux bounds (e-) in the scene and alone on the same sky; for a star
        merged with others, those of their summed flux.
    """
    x, y, flux, source = _sources(stars, unresolved)
    which = source[np.asarray(which, dtype=np.int64)]
    tree = cKDTree(np.c_[x, y])
    half = size // 2
    h = 1e-3
    cache: dict[tuple[float, float], np.ndarray] = {}
    per_star: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def psf(dx: float, dy: float) -> np.ndarray:
        # Simulated stars sit on a sub-pixel grid: the same stamps recur.
        key = (round(dx, 6), round(dy, 6))
        if key not in cache:
            cache[key] = stamp(size, dx, dy)
        return cache[key]

    def columns(j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit stamp of star j and its derivatives in x0, y0 (per unit flux)."""
        if j not in per_star:
            cx, cy = int(np.floor(x[j] + 0.5)), int(np.floor(y[j] + 0.5))
            if stamp_at is None:
                dx, dy = x[j] - cx, y[j] - cy
                p = psf(dx, dy)
                # d(model)/dx0 = -d(stamp)/d(pixel x): the star moving right.
                px = (psf(dx + h, dy) - psf(dx - h, dy)) / (2 * h)
                py = (psf(dx, dy + h) - psf(dx, dy - h)) / (2 * h)
            else:

                def at(xs: float, ys: float, cx=cx, cy=cy) -> np.ndarray:
                    return stamp_at(size, xs, ys, cx, cy)

                p = at(x[j], y[j])
                px = (at(x[j] + h, y[j]) - at(x[j] - h, y[j])) / (2 * h)
                py = (at(x[j], y[j] + h) - at(x[j], y[j] - h)) / (2 * h)
            per_star[j] = (p, px, py)
        return per_star[j]

    crowded = np.full(len(which), np.nan)
    isolated = np.full(len(which), np.nan)
    for k, i in enumerate(np.asarray(which, dtype=np.int64)):
        ring1 = tree.query_ball_point([x[i], y[i]], radius)
        ring2 = sorted(
            set(j for r in tree.query_ball_point(np.c_[x[ring1], y[ring1]], radius) for j in r)
        )
        local = np.array([i] + [j for j in ring2 if j != i])
        # The box holding every local star's stamp.
        x0 = int(np.floor(x[local].min())) - half
        y0 = int(np.floor(y[local].min())) - half
        nx_ = int(np.floor(x[local].max())) + half + 2 - x0
        ny_ = int(np.floor(y[local].max())) + half + 2 - y0
        cols = np.zeros((3 * len(local), ny_ * nx_))
        expected = np.full((ny_, nx_), float(sky))
        # Stars outside the local set still add Poisson variance to these pixels.
        near = tree.query_ball_point(
            [x0 + nx_ / 2, y0 + ny_ / 2], np.hypot(nx_, ny_) / 2 + half + 1
        )
        for j in near:
            cx, cy = int(np.floor(x[j] + 0.5)), int(np.floor(y[j] + 0.5))
            _add(expected, flux[j] * columns(j)[0], cy - half - y0, cx - half - x0)
        for m, j in enumerate(local):
            cx, cy = int(np.floor(x[j] + 0.5)), int(np.floor(y[j] + 0.5))
            p, px, py = columns(j)
            for c, s in enumerate((p, flux[j] * px, flux[j] * py)):
                img = np.zeros((ny_, nx_))
                _add(img, s, cy - half - y0, cx - half - x0)
                cols[3 * m + c] = img.ravel()
        w = 1.0 / (expected.ravel() + read_noise**2)
        if shape is not None:
            yy, xx = np.mgrid[y0 : y0 + ny_, x0 : x0 + nx_]
            outside = (yy < 0) | (yy >= shape[0]) | (xx < 0) | (xx >= shape[1])
            w[outside.ravel()] = 0.0
        fisher = (cols * w) @ cols.T
        crowded[k] = np.sqrt(np.linalg.inv(fisher)[0, 0])
        # The same star alone: only its own three columns, sky-only variance
        # plus its own light.
        own = flux[i] * cols[0]
        w1 = 1.0 / (sky + own + read_noise**2)
        if shape is not None:
            w1[outside.ravel()] = 0.0
        isolated[k] = np.sqrt(np.linalg.inv((cols[:3] * w1) @ cols[:3].T)[0, 0])
    return crowded, isolated


def _sources(
    stars: PlacedStars, unresolved: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions and fluxes of the resolved sources, and each star's source index.

    Stars within ``unresolved`` of one another (chains included) are one
    source at their flux-weighted centroid with their summed flux.
    """
    x, y, flux = (np.asarray(v, dtype=np.float64) for v in (stars.x, stars.y, stars.flux))
    n = len(x)
    pairs = cKDTree(np.c_[x, y]).query_pairs(max(float(unresolved), 0.0), output_type="ndarray")
    if not len(pairs):
        return x, y, flux, np.arange(n)
    links = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    m, source = connected_components(links, directed=False)
    total = np.bincount(source, flux, minlength=m)
    # Light-weighted centroid; an all-zero-flux group keeps its plain mean.
    weight = np.where(total[source] > 0, flux, 1.0)
    norm = np.bincount(source, weight, minlength=m)
    sx = np.bincount(source, weight * x, minlength=m) / norm
    sy = np.bincount(source, weight * y, minlength=m) / norm
    return sx, sy, total, source


def _add(img: np.ndarray, s: np.ndarray, r0: int, c0: int) -> None:
    """Add stamp ``s`` with its corner at (r0, c0), clipped to ``img``."""
    ny, nx = img.shape
    sy, sx = s.shape
    ra, rb = max(r0, 0), min(r0 + sy, ny)
    ca, cb = max(c0, 0), min(c0 + sx, nx)
    if ra < rb and ca < cb:
        img[ra:rb, ca:cb] += s[ra - r0 : rb - r0, ca - c0 : cb - c0]
