"""The crowdsource main loop: find, fit all at once, centroid, re-PSF, re-sky, repeat.

1. Sky: one median of (image - model) for the first two passes, then a
   median on a mesh.
2. Peaks: maxima of the matched-filter significance of the residual; the
   first pass only takes bright ones (the sky is still biased by stars), and
   a peak must not be explained by the model's own residual light
   (crowdsource's test against the model's convolved significance).
3. Fit: every star's PSF and its x/y derivatives are columns of a sparse,
   noise-weighted matrix, solved by LSQR on unit-norm columns.
4. Centroids on the image with the other stars subtracted.
5. PSF re-fitted from the best stars.
6. A final forced pass at fixed positions without derivative columns gives
   the fluxes and their errors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
from astropy.table import Table
from scipy.ndimage import binary_dilation, center_of_mass, label
from scipy.ndimage import sum as ndi_sum
from scipy.sparse.linalg import lsqr
from scipy.spatial import cKDTree

from fluxion.core.pipeline import StepState

from ..epsf import EffectivePSF
from ..flags import PhotometryFlag as F
from ..noise import NoiseModel
from .centroids import refine_positions
from .design import PHASES, SceneDesign, build_design, stamp_tables
from .peaks import find_peaks, significance, significance_at
from .psf_update import refit_psf, select_psf_stars
from .sky import global_sky, mesh_sky

__all__ = ["SceneResult", "SceneSettings", "fit_scene"]

log = logging.getLogger(__name__)

STAMP_SIZES = (11, 19, 31, 63)
SKY_MASK_SIGMA = 0.3
"""The mesh sky ignores pixels where the stars' model exceeds this many sky sigmas.

The wings of bright stars and the mesh sky are degenerate: a cell of
20 px holding a bright star absorbs whatever part of its wings the PSF
misses, and the next PSF refit, seeing that sky subtracted, keeps the
wrong wings. Without those pixels the sky follows the background only.
Case C: the final Moffat beta 2.99 +- 0.03 from pass to pass -> 3.005; a
352^2 field at the same density: flux bias above 1000 e- -0.25 -> -0.01
sigma (mean of six seeds).
"""


@dataclass(frozen=True)
class SceneSettings:
    """Knobs of the scene fitter (see crowdsource's developer notes)."""

    threshold: float = 5.0
    """Matched-filter significance of a new star (sigma)."""
    first_pass_factor: float = 3.0
    """The first pass only takes peaks this many times above ``threshold``."""
    model_significance_factor: float = 0.15
    """A new peak must exceed this fraction of the model's own significance there.

    crowdsource's 0.2 guards against the residuals of an imperfect PSF; with
    the blends dropped from the PSF stars the residuals of bright stars are
    smaller, and 0.15 finds more of their faint neighbours: case C
    completeness 0.949 -> 0.952, false detections 522 -> 513; case B 0.951
    -> 0.954, 146 -> 164 (0.1: C 0.956 / 563, B 0.957 / 212).
    """
    iterations: int = 4
    sky_mesh: int = 20
    """Box (px) of the residual sky median from the third pass on."""
    psf_refit: bool = True
    psf_kind: str = "moffat"
    lsqr_tolerance: float = 1e-4
    """LSQR's atol and btol; fluxes change by < 0.01 sigma below 1e-4."""
    lsqr_iterations: int = 30
    """Iteration cap of the passes with derivatives (their solution only moves stars)."""
    joint_shift_snr: float = 10.0
    """Stars above this S/N move by the joint (derivative-column) solution."""
    min_snr_keep: float = 1.0
    """Stars below this S/N after a pass are dropped (noise peaks)."""
    min_snr_final: float = 4.5
    """Stars below this S/N in the last forced pass are left out of the table (not the model).

    A 5-sigma peak of the matched filter whose fitted flux is below 4.5
    sigma is mostly a noise peak or a star fitted 1-2 px from where it is
    (the faint neighbours of bright stars). Case C, seeds 1 and 2: false
    detections 513 -> 306 and 521 -> 323 (4.0: 372, 365), completeness
    0.954 -> 0.9535 and 0.9545 -> 0.9537 (5.0: 0.950).
    """
    leftover_threshold: float = 4.0
    """Significance (sigma) of the peaks added after the forced pass beside known stars.

    Lower than ``threshold`` where the model itself is significant (the
    companions of known stars, which a blend hides), with the model-aware
    test rejecting the residuals of bright stars; elsewhere ``threshold``.
    """
    leftover_model_factor: float = 0.1
    """``model_significance_factor`` of the peaks added after the forced pass.

    Half the passes' value: with the PSF refitted the residual of a bright
    star is small, and 0.2 rejects real companions at 2-3 px from stars ten
    times brighter. With ``leftover_threshold`` 4: case B completeness
    0.943 -> 0.947, false detections 118 -> 122 of 3900 sources; case A
    unchanged (0.980, 8 false). A global 4-sigma pass reaches 0.950 in case
    B but adds ~20 pure-noise peaks per Mpx (case A: 8 -> 40 false).
    """


@dataclass(frozen=True)
class SceneResult:
    """The fitted scene."""

    table: Table
    """x, y, flux, flux_err, flags, x_err, y_err, rchi2, own_fraction, sky."""
    model: np.ndarray
    """Sky + all stars (e-)."""
    residual: np.ndarray
    sky: np.ndarray
    psf: EffectivePSF
    passes: int


def _stamp_sizes(tables, flux: np.ndarray, sigma_sky: float, saturated: np.ndarray) -> np.ndarray:
    """Smallest stamp whose edge holds the star's light below a third of the sky noise."""
    sizes = np.full(flux.shape, STAMP_SIZES[-1])
    for s in reversed(STAMP_SIZES):
        centre = tables[s].p[tables[s].p.shape[0] // 2, tables[s].p.shape[1] // 2]
        edge = max(centre[0].max(), centre[-1].max(), centre[:, 0].max(), centre[:, -1].max())
        sizes[np.abs(flux) * edge < sigma_sky / 3.0] = s
    sizes[saturated] = STAMP_SIZES[-1]
    return sizes


def _near_pixels(x, y, pixels: np.ndarray, radius: float) -> np.ndarray:
    """True for stars with a True pixel of ``pixels`` within ``radius``."""
    if not pixels.any() or len(x) == 0:
        return np.zeros(len(x), dtype=bool)
    ys, xs = np.nonzero(pixels)
    tree = cKDTree(np.c_[xs, ys])
    return tree.query_ball_point(np.c_[x, y], radius, return_length=True) > 0


def _core_sums(images, x, y, half: int = 2):
    """Sum of each image over the (2*half+1)^2 pixels around each star."""
    ny, nx = images[0].shape
    xi = np.clip(np.round(x).astype(int), 0, nx - 1)
    yi = np.clip(np.round(y).astype(int), 0, ny - 1)
    d = np.arange(-half, half + 1)
    r = np.clip(yi[:, None, None] + d[None, :, None], 0, ny - 1)
    c = np.clip(xi[:, None, None] + d[None, None, :], 0, nx - 1)
    return [img[r, c].sum(axis=(1, 2)) for img in images]


class _Solver:
    """LSQR on the weighted design, warm-started from the previous pass."""

    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance

    def solve(
        self,
        design: SceneDesign,
        data: np.ndarray,
        sqrt_w: np.ndarray,
        x0: np.ndarray,
        iter_lim: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        # Single precision: an LSQR iteration is two passes over the matrix
        # and a few over pixel-long vectors, all bound by memory bandwidth;
        # float32 carries 7 digits, far below the 1e-4 tolerance.
        mat, norm, pixels = design.weighted(sqrt_w, np.float32)
        b = (sqrt_w * data).ravel()[pixels].astype(np.float32)
        out = lsqr(
            mat,
            b,
            atol=self.tolerance,
            btol=self.tolerance,
            iter_lim=iter_lim,
            x0=(x0 * norm).astype(np.float32),
        )
        log.debug("LSQR: %d columns, %d iterations, stop %d", mat.shape[1], out[2], out[1])
        return out[0].astype(np.float64) / norm, norm


def fit_scene(
    image: np.ndarray,
    *,
    noise: NoiseModel,
    psf: EffectivePSF,
    mask: np.ndarray | None = None,
    saturated: np.ndarray | None = None,
    settings: SceneSettings | None = None,
    state: StepState | None = None,
) -> SceneResult:
    """Fit every star of a crowded frame at once.

    Parameters
    ----------
    image : ndarray
        Frame in electrons (sky included).
    noise : NoiseModel
        Read noise (the gain is already applied).
    psf : EffectivePSF
        Starting PSF (e.g. a Moffat of the measured FWHM).
    mask : ndarray of bool, optional
        Bad pixels (zero weight).
    saturated : ndarray of bool, optional
        Saturated pixels: zero weight, and the stars on them get the
        largest stamp and the SATURATED flag.
    settings : SceneSettings, optional
    state : StepState, optional
    """
    st = settings or SceneSettings()
    state = state or StepState()
    img = np.asarray(image, dtype=np.float64)
    shape = img.shape
    bad = np.zeros(shape, bool) if mask is None else np.asarray(mask, bool).copy()
    bad |= ~np.isfinite(img)
    sat = np.zeros(shape, bool) if saturated is None else np.asarray(saturated, bool)
    zero_w = bad | sat
    img = np.where(bad, 0.0, img)
    solver = _Solver(st.lsqr_tolerance)
    tables = stamp_tables(psf, STAMP_SIZES)
    # Saturated stars have no peak to find (their core has no weight): each
    # saturated region is a star at its centre, fitted on its wings with the
    # largest stamp and never moved.
    x, y, f0 = _saturated_stars(img, sat)
    pinned = np.ones(len(x), bool)
    snr_prev = np.zeros(len(x))  # saturated stars are pinned: no derivative columns
    coef3 = np.c_[f0, np.zeros((len(x), 2))]
    no_peaks = zero_w | binary_dilation(sat, iterations=2)
    sky = np.full(shape, global_sky(img, zero_w))
    stars_model = np.zeros(shape)
    n_pass = max(int(st.iterations), 1)
    for it in range(n_pass):
        state.progress(it / (n_pass + 1), f"pass {it + 1}/{n_pass}: {len(x)} stars")
        var = noise.variance(sky + np.maximum(stars_model, 0.0))
        resid = img - sky - stars_model
        sig, flux_est = significance(resid, var, psf.fwhm, zero_w)
        thr = st.threshold * (st.first_pass_factor if it == 0 else 1.0)
        px, py = find_peaks(sig, thr, exclude=no_peaks)
        pxi, pyi = np.round(px).astype(int), np.round(py).astype(int)
        if len(x) and len(px):
            msig = significance_at(stars_model, var, psf.fwhm, pxi, pyi, zero_w)
            keep = sig[pyi, pxi] > st.model_significance_factor * msig
            d, _ = cKDTree(np.c_[x, y]).query(np.c_[px, py])
            keep &= d > 0.5 * psf.fwhm
            px, py, pxi, pyi = px[keep], py[keep], pxi[keep], pyi[keep]
        x = np.concatenate([x, px])
        y = np.concatenate([y, py])
        pinned = np.concatenate([pinned, np.zeros(len(px), bool)])
        coef3 = np.vstack([coef3, np.c_[flux_est[pyi, pxi], np.zeros((len(px), 2))]])
        if len(x) == 0:
            continue
        sat_star = _near_pixels(x, y, sat, 1.5)
        sigma_sky = float(np.sqrt(np.median(sky) + noise.read_noise**2))
        sizes = _stamp_sizes(tables, coef3[:, 0], sigma_sky, sat_star)
        deriv = np.concatenate([snr_prev, sig[pyi, pxi]]) > st.joint_shift_snr
        design = build_design(tables, x, y, sizes, shape, derivatives=deriv)
        sqrt_w = np.where(zero_w, 0.0, 1.0 / np.sqrt(var))
        x0 = np.zeros(design.n_columns)
        cols = design.col_of_star
        for k in range(3):
            has = cols[:, k] >= 0
            x0[cols[has, k]] = coef3[has, k]
        coef, norm = solver.solve(design, img - sky, sqrt_w, x0, iter_lim=st.lsqr_iterations)
        coef3 = np.stack(
            [np.where(cols[:, k] >= 0, coef[np.maximum(cols[:, k], 0)], 0.0) for k in range(3)],
            axis=1,
        )
        stars_model = design.image(coef)
        flux = coef3[:, 0]
        snr = flux * norm[design.col_of_star[:, 0]]
        state.check()
        # New positions. The derivative columns give every star's shift solved
        # jointly with its neighbours (a Newton step of the whole scene);
        # crowdsource's per-star centroid on the image with the others
        # subtracted is used where that step is not reliable (faint stars).
        w = np.where(zero_w, 0.0, 1.0 / var)
        resid = img - sky - stars_model
        nx_, ny_, moved = refine_positions(resid, w, tables[STAMP_SIZES[0]], x, y, flux)
        joint = deriv & (snr > st.joint_shift_snr)
        with np.errstate(divide="ignore", invalid="ignore"):
            sx = np.clip(coef3[:, 1] / flux, -1.0, 1.0)
            sy = np.clip(coef3[:, 2] / flux, -1.0, 1.0)
        # The derivative columns sit at the star's 1/16 px phase centre.
        cx = (
            np.floor(x + 0.5)
            - 0.5
            + (np.floor((x - np.floor(x + 0.5) + 0.5) * PHASES) + 0.5) / PHASES
        )
        cy = (
            np.floor(y + 0.5)
            - 0.5
            + (np.floor((y - np.floor(y + 0.5) + 0.5) * PHASES) + 0.5) / PHASES
        )
        nx_ = np.where(joint & np.isfinite(sx), cx + sx, nx_)
        ny_ = np.where(joint & np.isfinite(sy), cy + sy, ny_)
        nx_ = np.where(pinned, x, nx_)
        ny_ = np.where(pinned, y, ny_)
        coef3[:, 1:] = 0.0
        # Drop noise peaks and duplicates before the next pass.
        keep = snr > st.min_snr_keep if it > 0 else np.ones(len(x), bool)
        keep &= _unique(nx_, ny_, np.where(pinned, np.inf, flux), 0.3 * psf.fwhm)
        keep |= pinned
        x, y, coef3, snr = nx_[keep], ny_[keep], coef3[keep], snr[keep]
        pinned = pinned[keep]
        snr_prev = np.where(pinned, 0.0, snr)
        # PSF from the best stars, everything else subtracted.
        if st.psf_refit and it < n_pass - 1:
            # This pass's model in the variance (the PSF stars' own Poisson
            # noise) for the test that drops blended PSF stars.
            var_now = noise.variance(sky + np.maximum(stars_model, 0.0))
            psf, tables = _update_psf(
                img, sky, var_now, zero_w, x, y, coef3, snr, psf, tables, st.psf_kind, stars_model
            )
        # Sky from the residual: one median early, then a mesh.
        sky_resid = img - stars_model
        if it + 1 >= 2:
            sigma_sky = float(np.sqrt(np.median(sky) + noise.read_noise**2))
            sky_mask = zero_w | (stars_model > SKY_MASK_SIGMA * sigma_sky)
            sky = mesh_sky(sky_resid, sky_mask, st.sky_mesh)
        else:
            sky = np.full(shape, global_sky(sky_resid, zero_w))
    state.progress(n_pass / (n_pass + 1), f"forced pass: {len(x)} stars")
    result = _final_pass(
        img, sky, noise, zero_w, bad, sat, tables, psf, x, y, coef3, solver, n_pass
    )
    # Sources the last pass uncovered (blends that split, stars beside bright
    # ones) are added and the forced pass repeated, at most three times.
    for _ in range(3):
        px, py, flux_est = _leftover_peaks(
            result,
            noise,
            zero_w,
            psf.fwhm,
            st.threshold,
            model_factor=st.leftover_model_factor,
            near_threshold=min(st.leftover_threshold, st.threshold),
        )
        if not len(px):
            break
        state.progress(n_pass / (n_pass + 1), f"forced pass: {len(px)} more stars")
        t = result.table
        pxi, pyi = np.round(px).astype(int), np.round(py).astype(int)
        tx, ty = _refined_positions(result, tables, noise, zero_w)
        x = np.concatenate([tx, px])
        y = np.concatenate([ty, py])
        f0 = np.concatenate([np.nan_to_num(np.asarray(t["flux"])), flux_est[pyi, pxi]])
        coef3 = np.c_[f0, np.zeros((len(f0), 2))]
        result = _final_pass(
            img, sky, noise, zero_w, bad, sat, tables, psf, x, y, coef3, solver, n_pass
        )
    # A last forced pass with every star re-centred on the residual.
    t = result.table
    if len(t):
        x, y = _refined_positions(result, tables, noise, zero_w)
        coef3 = np.c_[np.nan_to_num(np.asarray(t["flux"])), np.zeros((len(t), 2))]
        result = _final_pass(
            img, sky, noise, zero_w, bad, sat, tables, psf, x, y, coef3, solver, n_pass
        )
    # Weak detections leave the table but not the model: their light is
    # still fitted (neighbours and residual unchanged), they are only not
    # reported as stars.
    t = result.table
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.asarray(t["flux"]) / np.asarray(t["flux_err"])
    weak = ~(snr >= st.min_snr_final) & ~(np.asarray(t["flags"]) & F.SATURATED).astype(bool)
    if weak.any():
        result = replace(result, table=t[~weak])
    _position_errors(result, tables, noise, zero_w)
    # Light left in the residual within a star's stamp marks a poor fit of
    # that star (the brightest whose stamp holds the peak).
    px, py, _ = _leftover_peaks(result, noise, zero_w, psf.fwhm, st.threshold, near_stars=True)
    t = result.table
    if len(px) and len(t):
        k = min(16, len(t))
        _, idx = cKDTree(np.c_[t["x"], t["y"]]).query(np.c_[px, py], k=k)
        idx = idx.reshape(len(px), k)
        half = np.asarray(t["stamp"])[idx] / 2.0
        inside = (np.abs(np.asarray(t["x"])[idx] - px[:, None]) <= half) & (
            np.abs(np.asarray(t["y"])[idx] - py[:, None]) <= half
        )
        flux = np.where(inside, np.nan_to_num(np.asarray(t["flux"])[idx], nan=-np.inf), -np.inf)
        best = idx[np.arange(len(px)), np.argmax(flux, axis=1)]
        t["flags"][best[inside.any(axis=1)]] |= F.POOR_FIT
    return result


def _leftover_peaks(
    result,
    noise,
    zero_w,
    fwhm,
    threshold,
    near_stars=False,
    model_factor=0.0,
    near_threshold=None,
):
    """Residual peaks above ``threshold`` (far from every star, or all of them) and the
    matched-filter flux image.

    With ``model_factor``, a peak must also exceed that fraction of the
    model's own significance there (crowdsource's test: the residual of a
    bright star's imperfect model is not a new star). ``near_threshold``
    (lower) applies where the model itself is significant: companions of
    known stars, on a small part of the frame, so that it adds few noise
    peaks (a 1-Mpx matched-filter image has ~20 pure-noise peaks above
    4 sigma, ~1 above 4.5).
    """
    var = noise.variance(result.model)
    sig, flux_est = significance(result.residual, var, fwhm, zero_w)
    low = threshold if near_threshold is None else min(near_threshold, threshold)
    px, py = find_peaks(sig, low, exclude=zero_w)
    t = result.table
    if near_stars or not len(t) or not len(px):
        return px, py, flux_est
    d, _ = cKDTree(np.c_[t["x"], t["y"]]).query(np.c_[px, py])
    far = d > 0.5 * fwhm
    px, py = px[far], py[far]
    if model_factor > 0 and len(px):
        pxi, pyi = np.round(px).astype(int), np.round(py).astype(int)
        stars = result.model - result.sky
        msig = significance_at(stars, var, fwhm, pxi, pyi, zero_w)
        s_here = sig[pyi, pxi]
        keep = (s_here > model_factor * msig) & ((s_here > threshold) | (msig > threshold))
        px, py = px[keep], py[keep]
    return px, py, flux_est


def _refined_positions(result: SceneResult, tables, noise: NoiseModel, zero_w):
    """Positions of the forced pass's stars re-centred on its residual (saturated ones kept).

    Stars found after the main passes (in the residual of a forced pass)
    otherwise keep the position of their matched-filter peak, which a
    bright neighbour's wing pulls. Case C: completeness 0.952 -> 0.954,
    false detections 406 -> 372.
    """
    t = result.table
    x, y = np.asarray(t["x"], dtype=np.float64), np.asarray(t["y"], dtype=np.float64)
    w = np.where(zero_w, 0.0, 1.0 / noise.variance(result.model))
    flux = np.nan_to_num(np.asarray(t["flux"], dtype=np.float64))
    nx_, ny_, _ = refine_positions(result.residual, w, tables[STAMP_SIZES[0]], x, y, flux)
    pinned = (np.asarray(t["flags"]) & F.SATURATED).astype(bool)
    return np.where(pinned, x, nx_), np.where(pinned, y, ny_)


def _saturated_stars(img: np.ndarray, sat: np.ndarray):
    """Centre and a rough flux of every connected saturated region."""
    labels, n = label(sat)
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    idx = np.arange(1, n + 1)
    com = np.array(center_of_mass(sat, labels, idx)).reshape(-1, 2)
    flux = np.asarray(ndi_sum(img, labels, idx), dtype=np.float64) * 2.0
    return com[:, 1], com[:, 0], flux


def _unique(x, y, flux, radius):
    """False for the fainter of two stars closer than ``radius`` (one star found twice)."""
    keep = np.ones(len(x), bool)
    if len(x) < 2:
        return keep
    pairs = cKDTree(np.c_[x, y]).query_pairs(radius, output_type="ndarray")
    if len(pairs):
        drop = np.where(flux[pairs[:, 0]] >= flux[pairs[:, 1]], pairs[:, 1], pairs[:, 0])
        keep[drop] = False
    return keep


def _update_psf(img, sky, var, zero_w, x, y, coef3, snr, psf, tables, kind, stars_model):
    """Refit the PSF on chosen stars with all others subtracted; new PSF and tables."""
    if len(x) < 5:
        return psf, tables
    (all_core,) = _core_sums([stars_model], x, y)
    own_core = coef3[:, 0] * psf.stamp(5).sum()
    own_fraction = np.clip(own_core / np.maximum(all_core, 1e-9), 0, 1)
    bad_near = _near_pixels(x, y, zero_w, 8.0)
    chosen = select_psf_stars(x, y, snr, own_fraction, bad_near, img.shape)
    if len(chosen) < 5:
        return psf, tables
    # Everything but the chosen stars subtracted: the residual plus their own
    # model (at their centroided positions, which the profile fit refines).
    mine = build_design(
        tables, x[chosen], y[chosen], np.full(len(chosen), 31), img.shape, derivatives=False
    )
    isolated = img - sky - stars_model + mine.image(coef3[chosen, 0])
    new = refit_psf(isolated, x[chosen], y[chosen], psf, kind=kind, mask=zero_w, variance=var)
    if new is psf:
        return psf, tables
    log.debug(
        "PSF refitted on %d stars: FWHM %.4f beta %.4f", len(chosen), new.fwhm, new.moffat_beta
    )
    return new, stamp_tables(new, STAMP_SIZES)


def _position_errors(result: SceneResult, tables, noise: NoiseModel, zero_w) -> None:
    """Fill x_err, y_err from the Fisher information of the derivative columns.

    Once, on the last forced pass: building the derivative columns costs as
    much as the forced pass's own matrix.
    """
    t = result.table
    if not len(t):
        return
    x, y, flux = (np.asarray(t[c], dtype=np.float64) for c in ("x", "y", "flux"))
    sqrt_w = np.where(zero_w, 0.0, 1.0 / np.sqrt(noise.variance(result.model)))
    dd = build_design(tables, x, y, np.asarray(t["stamp"]), result.model.shape, derivatives=True)
    dnorm = dd.column_norms(sqrt_w)
    with np.errstate(divide="ignore", invalid="ignore"):
        t["x_err"] = 1.0 / (np.abs(flux) * dnorm[dd.col_of_star[:, 1]])
        t["y_err"] = 1.0 / (np.abs(flux) * dnorm[dd.col_of_star[:, 2]])


def _final_pass(img, sky, noise, zero_w, bad, sat, tables, psf, x, y, coef3, solver, n_pass):
    """Forced photometry at the final positions, without derivative columns."""
    shape = img.shape
    stars_model = np.zeros(shape)
    n = len(x)
    flux = np.zeros(n)
    flux_err = np.full(n, np.nan)
    x_err = np.full(n, np.nan)
    y_err = np.full(n, np.nan)
    stamp = np.zeros(n, dtype=np.int32)
    if n:
        sat_star = _near_pixels(x, y, sat, 1.5)
        sigma_sky = float(np.sqrt(np.median(sky) + noise.read_noise**2))
        sizes = _stamp_sizes(tables, coef3[:, 0], sigma_sky, sat_star)
        stamp = sizes.astype(np.int32)
        design = build_design(tables, x, y, sizes, shape, derivatives=False)
        coef_guess = np.zeros(design.n_columns)
        coef_guess[design.col_of_star[:, 0]] = coef3[:, 0]
        stars_model = design.image(coef_guess)
        var = noise.variance(sky + np.maximum(stars_model, 0.0))
        sqrt_w = np.where(zero_w, 0.0, 1.0 / np.sqrt(var))
        coef, norm = solver.solve(design, img - sky, sqrt_w, coef_guess, iter_lim=400)
        stars_model = design.image(coef)
        col = design.col_of_star[:, 0]
        flux = coef[col]
        # Isolated-star errors from each star's own column (crowdsource's
        # dflux); covariance with blended neighbours is not included.
        flux_err = 1.0 / norm[col]
    model = sky + stars_model
    residual = img - model
    var = noise.variance(model)
    chi = np.where(zero_w, 0.0, residual / np.sqrt(var))
    flags = np.zeros(n, dtype=np.int32)
    rchi2 = np.full(n, np.nan)
    own_fraction = np.full(n, np.nan)
    local_sky = np.full(n, np.nan)
    if n:
        chi2_core, npix, model_core = _core_sums(
            [chi * chi, (~zero_w).astype(np.float64), stars_model], x, y
        )
        rchi2 = chi2_core / np.maximum(npix, 1)
        own_fraction = np.clip(flux * psf.stamp(5).sum() / np.maximum(model_core, 1e-9), 0, 1)
        ny, nx = shape
        xi = np.clip(np.round(x).astype(int), 0, nx - 1)
        yi = np.clip(np.round(y).astype(int), 0, ny - 1)
        local_sky = sky[yi, xi]
        half_fwhm = max(psf.fwhm, 1.5)
        flags[_near_pixels(x, y, sat, half_fwhm)] |= F.SATURATED
        flags[_near_pixels(x, y, bad, half_fwhm)] |= F.MASKED
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
