"""The forced passes of the scene fitter: fluxes at fixed positions, and what they leave.

The main loop (:mod:`.fitter`) moves stars and refits the PSF and the sky;
once they are settled, forced passes without derivative columns give every
flux and its error, add the sources their residual uncovers, and flag the
stars the model fits poorly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from ..epsf import EffectivePSF
from ..flags import PhotometryFlag as F
from ..gridpsf import PSFField
from .centroids import CORE, refine_positions
from .design import FieldTables, Tables, build_design
from .marginal import marginal_errors
from .peaks import find_peaks, new_peaks, significance
from .records import STAMP_SIZES, NoisyImage, SceneFrame, ScenePSF, Solver

__all__ = [
    "STAMP_SIZES",
    "SceneResult",
    "Solver",
    "core_fraction",
    "core_sums",
    "final_pass",
    "leftover_peaks",
    "near_pixels",
    "position_errors",
    "refined_positions",
    "stamp_sizes",
]

log = logging.getLogger(__name__)

STEP_CONVERGED = 0.02
"""px: a star whose last step was smaller is not re-centred again."""


@dataclass(frozen=True)
class SceneResult:
    """The fitted scene."""

    table: Table
    """x, y, flux, flux_err, flags, x_err, y_err, rchi2, own_fraction, sky."""
    model: np.ndarray
    """Sky + all stars (e-)."""
    residual: np.ndarray
    sky: np.ndarray
    psf: EffectivePSF | PSFField
    passes: int
    wings: np.ndarray | float = 0.0
    """The stars' light beyond their stamps (:mod:`.wings`), not in ``sky``.

    ``sky + wings`` is the background the last forced pass fitted the
    stars on.
    """


def stamp_sizes(tables, flux: np.ndarray, sigma_sky: float, saturated: np.ndarray) -> np.ndarray:
    """Smallest stamp whose edge holds the star's light below a third of the sky noise."""
    sizes = np.full(flux.shape, STAMP_SIZES[-1])
    for s in reversed(STAMP_SIZES):
        centre = tables.centre_stamp(s)
        edge = max(centre[0].max(), centre[-1].max(), centre[:, 0].max(), centre[:, -1].max())
        sizes[np.abs(flux) * edge < sigma_sky / 3.0] = s
    sizes[saturated] = STAMP_SIZES[-1]
    return sizes


def core_fraction(tables, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fraction of each star's light in its central 5 x 5 pixels, from the stamp tables.

    Not ``EffectivePSF.stamp``: its spline coefficients are cached by the
    id() of the PSF's array, which a new PSF could reuse once an old one is
    freed (the scene makes a new PSF on every refit); the tables are exact.
    A PSF varying across the frame gives each star its own fraction (the
    weighted sum of its basis images' fractions): one fraction for all,
    that of the widest PSF, made the sharp centre's stars look blended
    (own fraction < 0.8) and left 17 PSF stars of 220.
    """
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))

    def fraction(tab) -> float:
        c, m = tab.size // 2, tab.p.shape[0] // 2
        return float(tab.p[m, m, c - 2 : c + 3, c - 2 : c + 3].sum())

    if isinstance(tables, FieldTables):
        parts = np.array([fraction(part[STAMP_SIZES[0]]) for part in tables.parts])
        return tables.weights(x, y) @ parts
    return np.full(len(x), fraction(tables[STAMP_SIZES[0]]))


def near_pixels(x, y, pixels: np.ndarray, radius: float) -> np.ndarray:
    """True for stars with a True pixel of ``pixels`` within ``radius``."""
    if not pixels.any() or len(x) == 0:
        return np.zeros(len(x), dtype=bool)
    ys, xs = np.nonzero(pixels)
    tree = cKDTree(np.c_[xs, ys])
    return tree.query_ball_point(np.c_[x, y], radius, return_length=True) > 0


def core_sums(images, x, y, half: int = 2, squared: bool = False):
    """Sum of each image over the (2*half+1)^2 pixels around each star.

    ``squared``: the first image's values are squared first (on the core's
    pixels only: a chi image squared over the whole frame took a pass of
    its own).
    """
    ny, nx = images[0].shape
    xi = np.clip(np.round(x).astype(int), 0, nx - 1)
    yi = np.clip(np.round(y).astype(int), 0, ny - 1)
    d = np.arange(-half, half + 1)
    r = np.clip(yi[:, None, None] + d[None, :, None], 0, ny - 1)
    c = np.clip(xi[:, None, None] + d[None, None, :], 0, nx - 1)
    # One flat index for all the images: a two-array gather recomputes it
    # for every image (half of a forced pass's ~5 ms of core sums).
    flat = r * nx + c
    cores = [np.take(img.ravel(), flat) for img in images]
    if squared:
        cores[0] = cores[0] * cores[0]
    return [core.sum(axis=(1, 2)) for core in cores]


def leftover_peaks(
    result: SceneResult,
    frame: SceneFrame,
    fwhm: float,
    threshold: float,
    near_stars: bool = False,
    model_factor: float = 0.0,
    near_threshold: float | None = None,
):
    """Residual peaks above ``threshold`` and the matched-filter flux image.

    With ``near_stars``, all of them; otherwise only new stars by
    :func:`.peaks.new_peaks` (far from every star, above ``model_factor``
    times the model's own significance, ``near_threshold`` where the model
    is significant: a 1-Mpx matched-filter image has ~20 pure-noise peaks
    above 4 sigma, ~1 above 4.5).
    """
    zero_w = frame.zero_w
    var = frame.variance(result.model)
    sig, flux_est = significance(result.residual, var, fwhm, zero_w)
    if near_stars:
        return (*find_peaks(sig, threshold, exclude=zero_w), flux_est)
    t = result.table
    px, py = new_peaks(
        sig,
        NoisyImage(result.model - result.sky, var, zero_w),
        fwhm,
        np.c_[t["x"], t["y"]],
        threshold,
        near_threshold=near_threshold,
        model_factor=model_factor,
    )
    return px, py, flux_est


def refined_positions(
    result: SceneResult,
    frame: SceneFrame,
    tables: Tables,
    *,
    min_snr: float = 3.0,
    iterations: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the forced pass's stars re-centred on its residual (saturated ones kept).

    Stars found after the main passes (in the residual of a forced pass)
    otherwise keep the position of their matched-filter peak, which a
    bright neighbour's wing pulls. Case C: completeness 0.952 -> 0.954,
    false detections 406 -> 372.

    Each star is fitted with its neighbours fixed, ``iterations`` times
    (the shift is a linearised step; the residual is updated for the
    stars that moved), down to a core S/N of ``min_snr``: a faint star
    left at its matched-filter peak was found 1-1.5 px from where it is
    more often than its position error allows. Case B seeds 51 and 52
    (one step from S/N 5 up before): false detections 142 -> 131,
    completeness 0.951 -> 0.952.
    """
    t = result.table
    x = np.array(t["x"], dtype=np.float64)
    y = np.array(t["y"], dtype=np.float64)
    w = frame.noisy(result.residual, result.model).weight
    flux = np.nan_to_num(np.asarray(t["flux"], dtype=np.float64))
    pinned = (np.asarray(t["flags"]) & F.SATURATED).astype(bool)
    sizes = np.asarray(t["stamp"])
    residual = result.residual
    active = np.flatnonzero(~pinned)
    for k in range(iterations):
        if not len(active):
            break
        xa, ya, fa = x[active], y[active], flux[active]
        nx_, ny_, moved = refine_positions(residual, w, tables, xa, ya, fa, min_snr=min_snr)
        i = np.flatnonzero(moved)
        # Only stars that still moved by a noticeable step are fitted again.
        step = np.hypot(nx_[i] - xa[i], ny_[i] - ya[i])
        again = i[step > STEP_CONVERGED]
        if k + 1 < iterations and len(again):
            # The moved stars' own light follows them (fluxes fixed): their
            # old model comes back and the new one goes, drawn as one image.
            # Only the cores of the stars fitted again are read from now on:
            # only the stars whose stamps may reach one are drawn (the
            # residual there is the same to the last bit; ~15 % of the
            # stars are fitted again after the first step).
            i = i[_reaching(xa, ya, nx_, ny_, i, again, sizes[active[i]], iterations - k - 1)]
            sa = sizes[active[i]]
            residual = residual - _stars_image(
                frame,
                tables,
                np.r_[nx_[i], xa[i]],
                np.r_[ny_[i], ya[i]],
                np.r_[fa[i], -fa[i]],
                np.r_[sa, sa],
            )
        moved_all = np.flatnonzero(moved)
        x[active[moved_all]] = nx_[moved_all]
        y[active[moved_all]] = ny_[moved_all]
        active = active[again]
    return x, y


def _reaching(
    xa: np.ndarray,
    ya: np.ndarray,
    nx_: np.ndarray,
    ny_: np.ndarray,
    moved: np.ndarray,
    again: np.ndarray,
    sizes: np.ndarray,
    reads: int,
) -> np.ndarray:
    """Which ``moved`` stars' stamps, at their old or new place, may reach a core of ``again``.

    A stamp covers half its size around its star's rounded position, a core
    half of :data:`.centroids.CORE` around its own; two rounded positions
    are less than 1 px further apart than the positions (per axis). The
    cores are read ``reads`` more times, each star moving by at most 1 px
    per axis (:func:`.centroids.refine_positions`' ``max_shift``) between
    reads.
    """
    tree = cKDTree(np.c_[nx_[again], ny_[again]])
    reach = sizes // 2 + CORE // 2 + reads
    near_new = tree.query_ball_point(
        np.c_[nx_[moved], ny_[moved]], reach, p=np.inf, return_length=True
    )
    near_old = tree.query_ball_point(
        np.c_[xa[moved], ya[moved]], reach, p=np.inf, return_length=True
    )
    return (near_new > 0) | (near_old > 0)


def _stars_image(
    frame: SceneFrame,
    tables: Tables,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    sizes: np.ndarray,
) -> np.ndarray:
    """Model image of stars at fixed fluxes."""
    design = build_design(tables, x, y, sizes, frame.shape, derivatives=False)
    coef = np.zeros(design.n_columns)
    coef[design.col_of_star[:, 0]] = flux
    return design.image(coef)


def position_errors(result: SceneResult, frame: SceneFrame, tables: Tables) -> None:
    """Fill x_err, y_err from the Fisher information of the derivative columns.

    With the neighbours' fluxes and positions fitted too
    (:func:`.marginal.marginal_errors`); flux_err too, in place of the
    forced pass's isolated error, which every test of the fit has read by
    then. Once, on the last forced pass: building the derivative columns
    costs as much as the forced pass's own matrix.
    """
    t = result.table
    if not len(t):
        return
    x, y, flux = (np.asarray(t[c], dtype=np.float64) for c in ("x", "y", "flux"))
    sqrt_w = frame.sqrt_weight(frame.variance(result.model))
    dd = build_design(tables, x, y, np.asarray(t["stamp"]), result.model.shape, derivatives=True)
    dnorm = dd.column_norms(sqrt_w)
    with np.errstate(divide="ignore", invalid="ignore"):
        iso_x = 1.0 / (np.abs(flux) * dnorm[dd.col_of_star[:, 1]])
        iso_y = 1.0 / (np.abs(flux) * dnorm[dd.col_of_star[:, 2]])
    flux_err, x_err, y_err = marginal_errors(dd, sqrt_w, x, y, flux)
    # A star without weight in its own column keeps the isolated error.
    t["flux_err"] = np.where(np.isfinite(flux_err), flux_err, np.asarray(t["flux_err"]))
    t["x_err"] = np.where(np.isfinite(x_err), x_err, iso_x)
    t["y_err"] = np.where(np.isfinite(y_err), y_err, iso_y)


def final_pass(
    frame: SceneFrame,
    sky: np.ndarray,
    scene_psf: ScenePSF,
    x: np.ndarray,
    y: np.ndarray,
    flux0: np.ndarray,
    n_pass: int,
) -> SceneResult:
    """Forced photometry at the final positions, without derivative columns.

    ``flux0``: the fluxes the solution starts from (and the stamps are sized by).
    """
    img, zero_w = frame.image, frame.zero_w
    bad, sat = frame.bad, frame.saturated
    tables, psf = scene_psf.tables, scene_psf.psf
    shape = img.shape
    stars_model = np.zeros(shape)
    n = len(x)
    flux = np.zeros(n)
    flux_err = np.full(n, np.nan)
    x_err = np.full(n, np.nan)
    y_err = np.full(n, np.nan)
    stamp = np.zeros(n, dtype=np.int32)
    if n:
        sat_star = near_pixels(x, y, sat, 1.5)
        sizes = stamp_sizes(tables, flux0, frame.sigma_sky(sky), sat_star)
        stamp = sizes.astype(np.int32)
        design = build_design(tables, x, y, sizes, shape, derivatives=False)
        coef_guess = np.zeros(design.n_columns)
        coef_guess[design.col_of_star[:, 0]] = flux0
        stars_model = design.image(coef_guess)
        var = frame.variance(sky + np.maximum(stars_model, 0.0))
        coef, norm = frame.solver.solve_exact(design, img - sky, frame.sqrt_weight(var), coef_guess)
        stars_model = design.image(coef)
        col = design.col_of_star[:, 0]
        flux = coef[col]
        # Isolated-star errors from each star's own column (crowdsource's
        # dflux); covariance with blended neighbours is not included.
        flux_err = 1.0 / norm[col]
    model = sky + stars_model
    residual = img - model
    var = frame.variance(model)
    # In place: three passes over the frame instead of five.
    chi = np.sqrt(var)
    np.divide(residual, chi, out=chi)
    chi[zero_w] = 0.0
    flags = np.zeros(n, dtype=np.int32)
    rchi2 = np.full(n, np.nan)
    own_fraction = np.full(n, np.nan)
    local_sky = np.full(n, np.nan)
    if n:
        chi2_core, n_bad, model_core = core_sums([chi, zero_w, stars_model], x, y, squared=True)
        npix = (2 * 2 + 1) ** 2 - n_bad
        rchi2 = chi2_core / np.maximum(npix, 1)
        own_fraction = np.clip(
            flux * core_fraction(tables, x, y) / np.maximum(model_core, 1e-9), 0, 1
        )
        ny, nx = shape
        xi = np.clip(np.round(x).astype(int), 0, nx - 1)
        yi = np.clip(np.round(y).astype(int), 0, ny - 1)
        local_sky = sky[yi, xi]
        half_fwhm = max(psf.fwhm, 1.5)
        flags[near_pixels(x, y, sat, half_fwhm)] |= F.SATURATED
        flags[near_pixels(x, y, bad, half_fwhm)] |= F.MASKED
        edge = (
            (x < half_fwhm) | (y < half_fwhm) | (x > nx - 1 - half_fwhm) | (y > ny - 1 - half_fwhm)
        )
        flags[edge] |= F.NEAR_EDGE
        flags[own_fraction < 0.5] |= F.CONTAMINATED
        flags[rchi2 > 5.0] |= F.POOR_FIT
        flags[~np.isfinite(flux)] |= F.FIT_FAILED
        flags[np.isfinite(flux) & (flux <= 0)] |= F.NEGATIVE_FLUX
    table = Table(
        {
            "x": x,
            "y": y,
            "flux": flux,
            "flux_err": flux_err,
            "flags": flags,
            "x_err": x_err,
            "y_err": y_err,
            "rchi2": rchi2,
            "own_fraction": own_fraction,
            "sky": local_sky,
            "stamp": stamp,
        }
    )
    return SceneResult(table, model, residual, sky, psf, n_pass)
