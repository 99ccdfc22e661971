"""The crowdsource main loop: find, fit all at once, centroid, re-PSF, re-sky, repeat.

1. Sky: one median of (image - model) for the first two passes, then
   clipped means on a mesh, smoothed where the sky is flat (:mod:`.sky`).
2. Peaks: maxima of the matched-filter significance of the residual; the
   first pass only takes bright ones (the sky is still biased by stars), and
   a peak must not be explained by the model's own residual light
   (crowdsource's test against the model's convolved significance).
3. Fit: every star's PSF and its x/y derivatives are columns of a sparse,
   noise-weighted matrix, solved by LSQR on unit-norm columns.
4. Centroids on the image with the other stars subtracted.
5. PSF re-fitted from the best stars.
6. A final forced pass at fixed positions without derivative columns gives
   the fluxes and their errors; blends fitted as one star are split
   (:mod:`.split`), and the fluxes are corrected for the bias of positions
   fitted on the same noise.

The settings are :class:`.settings.SceneSettings`.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
from scipy.ndimage import binary_dilation
from scipy.spatial import cKDTree

from ...runtime.pipeline import StepState
from ..epsf import EffectivePSF
from ..flags import PhotometryFlag as F
from ..gridpsf import PSFField
from ..noise import NoiseModel
from .centroids import phase_centre, refine_positions
from .companions import final_positions, joint_step
from .design import FieldTables, Tables, build_design
from .forced import (
    SceneResult,
    core_fraction,
    core_sums,
    final_pass,
    leftover_peaks,
    near_pixels,
    position_errors,
    refined_positions,
    stamp_sizes,
)
from .located import mislocated, unplaced
from .merge import merged
from .neighbours import saturated_stars, unique_stars
from .peaks import new_peaks, significance
from .psf_update import (
    ALONE,
    FIELD_STAMP_STARS,
    refit_field_on_stamps,
    refit_on_stamps,
    refit_psf,
    select_psf_stars,
)
from .records import STAMP_SIZES, NoisyImage, PlacedStars, SceneFrame, ScenePSF, SceneStars
from .settings import SceneSettings
from .shadow import explained, shadow_factor
from .sky import global_sky, mesh_sky
from .split import blend_splits
from .wings import beyond_stamps

__all__ = ["SceneResult", "SceneSettings", "fit_scene"]

log = logging.getLogger(__name__)

PSF_ALL_STARS = 500
"""Stars (the brightest clean ones, each on its own stamp) of the later constant-PSF refits.

0: the first refit's stars a stamp apart on one image instead. The error
of the frame's PSF moves every bright flux together; as the PSF-caused
flux bias at the true positions and sky, 3e4-1e5 e- bin, mean and rms
over frames: case A seeds 1-8 +0.052 / 0.107 -> +0.039 / 0.098 sigma
(~190 stars -> ~250, those with near neighbours too); case B seeds 1-4
+0.041 / 0.067 -> -0.015 / 0.023 (250 -> 500; 1000: -0.011 / 0.019 for
~0.5 s more CPU).
"""
PSF_ALONE = 0.0
"""px: no other fitted star this near a star of those refits (their neighbours are subtracted)."""

NEWTON_NEIGHBOURS = 2.0
"""FWHMs: only bright stars with a neighbour this near take the final joint step.

(0: all bright stars.) An isolated star's per-star re-centring is already
the joint solution's; fewer derivative columns make the step cheaper. Case
B seeds 191+192: the scatter per bin from 1e3 e- the same to 0.001 sigma,
completeness and false detections unchanged, 0.15 s less CPU a frame.
"""

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


def fit_scene(
    image: np.ndarray,
    *,
    noise: NoiseModel,
    psf: EffectivePSF | PSFField,
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
    frame = SceneFrame.of(image, noise, mask, saturated, st.lsqr_tolerance)
    img, zero_w, sat, shape = frame.image, frame.zero_w, frame.saturated, frame.shape
    scene_psf = ScenePSF.of(psf)
    # Saturated stars have no peak to find (their core has no weight): each
    # saturated region is a star at its centre, fitted on its wings with the
    # largest stamp and never moved (no derivative columns: S/N 0).
    sx, sy, sflux = saturated_stars(img, sat)
    stars = SceneStars.new(sx, sy, sflux, pinned=True)
    no_peaks = zero_w | binary_dilation(sat, iterations=2)
    sky = np.full(shape, global_sky(img, zero_w))
    stars_model = np.zeros(shape)
    wings = np.zeros(shape)
    sky_has_wings = False
    n_pass = max(int(st.iterations), 1)
    for it in range(n_pass):
        state.progress(it / (n_pass + 1), f"pass {it + 1}/{n_pass}: {len(stars)} stars")
        var = frame.variance(sky + np.maximum(stars_model, 0.0))
        residual = NoisyImage(img - sky - stars_model, var, zero_w)
        thr = st.threshold * (st.first_pass_factor if it == 0 else 1.0)
        stars = _add_peaks(residual, stars_model, stars, scene_psf.fwhm, thr, st, no_peaks)
        if len(stars) == 0:
            continue
        last = it == n_pass - 1
        stars, stars_model, sizes = _joint_pass(
            frame,
            sky,
            var,
            stars,
            scene_psf,
            st,
            first=it == 0,
            iter_lim=st.lsqr_iterations if last else st.lsqr_early_iterations,
        )
        state.check()
        # PSF from the best stars, everything else subtracted.
        if st.psf_refit and it < n_pass - 1:
            # A sky holding the stars' wings holds each PSF star's own too:
            # its whole model goes back into its stamp.
            own_sizes = np.full(len(sizes), STAMP_SIZES[-1]) if sky_has_wings else sizes
            new_psf = _update_psf(
                frame, sky, stars_model, stars, own_sizes, scene_psf, st, first=it == 0
            )
            if new_psf is not scene_psf and len(stars):
                # The next pass looks for new stars in the residual and the sky
                # follows it: both from the stars drawn with the new PSF. The
                # old model's misfit (a frame-wide PSF on the corners'
                # elongated stars) was otherwise taken for faint companions in
                # the wings of bright stars, which ate ~1% of their light and
                # narrowed the corners' PSF at the next refit.
                stars_model, sizes = _draw(frame, sky, stars, new_psf)
            scene_psf = new_psf
        # Sky from the residual: one median early, then a mesh.
        sky_resid = img - stars_model
        if it + 1 >= 2:
            # sigma_sky is this pass's, from the sky not yet replaced.
            sky_mask = zero_w | (stars_model > SKY_MASK_SIGMA * frame.sigma_sky(sky))
            # The stars' light beyond their stamps (:mod:`.wings`) is not
            # the sky's, but it is the background of their neighbours' fits.
            centre = scene_psf.tables.centre_stamp(STAMP_SIZES[-1])
            wings = beyond_stamps(shape, stars.x, stars.y, stars.flux, sizes, centre)
            sky = mesh_sky(sky_resid - wings, sky_mask, st.sky_mesh) + wings
            sky_has_wings = True
        else:
            sky = np.full(shape, global_sky(sky_resid, zero_w))
    state.progress(n_pass / (n_pass + 1), f"forced pass: {len(stars)} stars")
    tables, fwhm = scene_psf.tables, scene_psf.fwhm

    def forced(x, y, flux0):
        return final_pass(frame, sky, scene_psf, x, y, flux0, n_pass)

    def fluxes(t):
        return np.nan_to_num(np.asarray(t["flux"]))

    result = forced(stars.x, stars.y, stars.flux)
    # Sources the last pass uncovered (blends that split, stars beside bright
    # ones) are added and the forced pass repeated, at most twice (a third
    # round found 0-1 stars a case B frame, none kept); the first time also
    # with the second stars of the blends fitted as one.
    for k in range(2):
        px, py, flux_est = leftover_peaks(
            result,
            frame,
            fwhm,
            st.threshold,
            model_factor=st.leftover_model_factor,
            near_threshold=st.leftover_threshold,
        )
        pxi, pyi = np.round(px).astype(int), np.round(py).astype(int)
        pf = flux_est[pyi, pxi]
        if k == 0 and st.split_snr > 0:
            which, x1, y1, x2, y2, f2 = blend_splits(
                result,
                frame,
                tables,
                min_snr=st.split_snr,
                min_rchi2=st.split_rchi2,
                min_dchi2=st.split_dchi2,
            )
            log.debug("%d blends split", len(which))
            px, py, pf = np.r_[px, x2], np.r_[py, y2], np.r_[pf, f2]
        else:
            which, x1, y1 = np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0)
        if not len(px):
            break
        state.progress(n_pass / (n_pass + 1), f"forced pass: {len(px)} more stars")
        # Later rounds add 0-5 stars a case B frame: the re-centring before
        # the last forced pass does the rest (compl, false, bias unchanged).
        t = result.table
        tx, ty = refined_positions(result, frame, tables) if k == 0 else (t["x"], t["y"])
        tx, ty = np.array(tx, dtype=np.float64), np.array(ty, dtype=np.float64)
        # A split star keeps the position of its two-star fit (its residual
        # still holds the second star, which re-centring would follow).
        tx[which], ty[which] = x1, y1
        result = forced(
            np.concatenate([tx, px]),
            np.concatenate([ty, py]),
            np.concatenate([fluxes(result.table), pf]),
        )
    # A last forced pass with every star re-centred on the residual, and
    # the bright ones moved by a joint step of the whole scene.
    hidden = np.zeros(len(result.table), dtype=bool)
    if len(result.table):
        x, y = refined_positions(result, frame, tables)
        flux0 = fluxes(result.table)
        near = NEWTON_NEIGHBOURS * fwhm
        x, y = joint_step(
            frame,
            result,
            tables,
            PlacedStars(x, y, flux0),
            min_snr=st.joint_shift_snr,
            neighbours=near,
        )
        placed = PlacedStars(x, y, flux0)
        if st.merge_dchi2 > 0:
            result, placed = merged(result, frame, tables, placed, st, fwhm)
        placed = placed.take(_needed(result, frame, tables, placed, st, fwhm))
        result = forced(placed.x, placed.y, placed.flux)
        # Faint companions into the model and the scene converged after the
        # merge and shadow tests (:mod:`.companions`).
        result, hidden = final_positions(
            frame, result, tables, st, forced, neighbours=near, min_separation=0.3 * fwhm
        )
    # Weak detections leave the table but not the model: their light is
    # still fitted (neighbours and residual unchanged), they are only not
    # reported as stars.
    t = result.table
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.asarray(t["flux"]) / np.asarray(t["flux_err"])
    weak = ~(snr >= st.min_snr_final) & ~(np.asarray(t["flags"]) & F.SATURATED).astype(bool)
    weak |= hidden
    noisy = frame.noisy(result.residual, result.model)
    # So do stars whose light their brighter neighbours explain where the
    # stars are reported (the test of :func:`_needed`, after the companions).
    weak |= explained(t, noisy, tables, snr=st.final_shadow_snr, radius=st.shadow_radius * fwhm)
    if st.located_probability > 0:
        # So do faint stars the data cannot place where they are reported.
        weak |= mislocated(
            t, noisy, tables, fwhm, radius=st.located_radius, probability=st.located_probability
        )
    if weak.any():
        result = replace(result, table=t[~weak])
    if st.position_debias:
        _position_debias(result.table)
    position_errors(result, frame, tables)
    lost = unplaced(result.table, st.located_radius, st.placed_probability)
    result = replace(result, table=result.table[~lost])
    _flag_poor_fits(result, frame, fwhm, st.threshold)
    # The sky reported is the sky's alone; the stars' wings were background.
    return replace(result, sky=result.sky - wings, wings=wings)


def _add_peaks(
    residual: NoisyImage,
    stars_model: np.ndarray,
    stars: SceneStars,
    fwhm: float,
    threshold: float,
    st: SceneSettings,
    exclude: np.ndarray,
) -> SceneStars:
    """``stars`` and the new peaks of this pass's residual (their S/N: the peak's significance).

    ``residual`` is the image less the sky and ``stars_model``, with the
    variance of that model; peaks count above ``threshold`` (sigma) and
    outside ``exclude``.
    """
    sig, flux_est = significance(residual.image, residual.variance, fwhm, residual.mask)
    model = NoisyImage(stars_model, residual.variance, residual.mask)
    px, py = new_peaks(
        sig,
        model,
        fwhm,
        np.c_[stars.x, stars.y],
        threshold,
        model_factor=st.model_significance_factor,
        exclude=exclude,
    )
    pxi, pyi = np.round(px).astype(int), np.round(py).astype(int)
    found = SceneStars.new(px, py, flux_est[pyi, pxi], pinned=False)
    found.snr = sig[pyi, pxi].astype(np.float64)
    return stars.extend(found)


def _joint_pass(
    frame: SceneFrame,
    sky: np.ndarray,
    var: np.ndarray,
    stars: SceneStars,
    scene_psf: ScenePSF,
    st: SceneSettings,
    first: bool,
    iter_lim: int,
) -> tuple[SceneStars, np.ndarray, np.ndarray]:
    """One fit of every flux (and the bright stars' shifts); the stars moved, their model, and
    the stamp size each star's model was drawn with.

    ``var`` is the variance of the model before this fit; LSQR stops after
    ``iter_lim`` iterations. Noise peaks (S/N below ``min_snr_keep``, after
    the first pass) and stars found twice are dropped.
    """
    tables = scene_psf.tables
    x, y, pinned = stars.x, stars.y, stars.pinned
    sat_star = near_pixels(x, y, frame.saturated, 1.5)
    sizes = stamp_sizes(tables, stars.flux, frame.sigma_sky(sky), sat_star)
    deriv = stars.snr > st.joint_shift_snr
    design = build_design(tables, x, y, sizes, frame.shape, derivatives=deriv)
    sqrt_w = frame.sqrt_weight(var)
    x0 = np.zeros(design.n_columns)
    cols = design.col_of_star
    for k in range(3):
        has = cols[:, k] >= 0
        x0[cols[has, k]] = stars.coef[has, k]
    coef, norm = frame.solver.solve(design, frame.image - sky, sqrt_w, x0, iter_lim=iter_lim)
    coef3 = np.stack(
        [np.where(cols[:, k] >= 0, coef[np.maximum(cols[:, k], 0)], 0.0) for k in range(3)],
        axis=1,
    )
    stars_model = design.image(coef)
    flux = coef3[:, 0]
    snr = flux * norm[cols[:, 0]]
    # New positions. The derivative columns give every star's shift solved
    # jointly with its neighbours (a Newton step of the whole scene);
    # crowdsource's per-star centroid on the image with the others
    # subtracted is used where that step is not reliable (faint stars).
    joint = deriv & (snr > st.joint_shift_snr)
    with np.errstate(divide="ignore", invalid="ignore"):
        sx = np.clip(coef3[:, 1] / flux, -1.0, 1.0)
        sy = np.clip(coef3[:, 2] / flux, -1.0, 1.0)
    joint &= np.isfinite(sx) & np.isfinite(sy)
    # The derivative columns sit at the star's 1/16 px phase centre.
    nx_ = np.where(joint, phase_centre(x) + sx, x)
    ny_ = np.where(joint, phase_centre(y) + sy, y)
    free = np.flatnonzero(~joint & ~pinned)
    if len(free):
        resid = frame.image - sky - stars_model
        fx, fy, _ = refine_positions(resid, frame.weight(var), tables, x[free], y[free], flux[free])
        nx_[free], ny_[free] = fx, fy
    coef3[:, 1:] = 0.0
    # Drop noise peaks and duplicates before the next pass.
    keep = snr > st.min_snr_keep if not first else np.ones(len(x), bool)
    keep &= unique_stars(nx_, ny_, np.where(pinned, np.inf, flux), 0.3 * scene_psf.fwhm)
    keep |= pinned
    moved = SceneStars(nx_, ny_, coef3, pinned, np.where(pinned, 0.0, snr)).take(keep)
    return moved, stars_model, sizes[keep]


def _draw(
    frame: SceneFrame, sky: np.ndarray, stars: SceneStars, scene_psf: ScenePSF
) -> tuple[np.ndarray, np.ndarray]:
    """Model image of ``stars`` (fluxes only) drawn with ``scene_psf``, and their stamp sizes."""
    sat_star = near_pixels(stars.x, stars.y, frame.saturated, 1.5)
    sizes = stamp_sizes(scene_psf.tables, stars.flux, frame.sigma_sky(sky), sat_star)
    design = build_design(scene_psf.tables, stars.x, stars.y, sizes, frame.shape, derivatives=False)
    flux_cols = np.zeros(design.n_columns)
    flux_cols[design.col_of_star[:, 0]] = stars.flux
    return design.image(flux_cols), sizes


def _needed(
    result: SceneResult,
    frame: SceneFrame,
    tables: Tables,
    stars: PlacedStars,
    st: SceneSettings,
    fwhm: float,
) -> np.ndarray:
    """False for ``stars`` (the rows of ``result``, moved since) whose light their brighter
    neighbours explain (:mod:`.shadow`).

    The test is on the stars that would be reported (S/N >= ``min_snr_final``
    with positions fixed): a star whose S/N falls below ``shadow_snr`` with
    the brighter neighbours within ``shadow_radius`` FWHM free in flux and
    position is a split of their PSF's misfit and leaves the model, its
    light going back to them. Weaker stars stay in the model and out of
    the table as before. Saturated stars are kept.
    """
    t = result.table
    x, y, flux = stars.x, stars.y, stars.flux
    keep = np.ones(len(x), dtype=bool)
    if st.shadow_radius <= 0 or len(x) < 2:
        return keep
    with np.errstate(divide="ignore", invalid="ignore"):
        iso = flux / np.asarray(t["flux_err"])
    test = (iso >= st.min_snr_final) & ~(np.asarray(t["flags"]) & F.SATURATED).astype(bool)
    factor = shadow_factor(
        tables,
        x,
        y,
        flux,
        np.asarray(t["stamp"]),
        frame.sqrt_weight(frame.variance(result.model)),
        radius=st.shadow_radius * fwhm,
    )
    keep[test & (iso * factor < st.shadow_snr)] = False
    log.debug("%d stars explained by brighter neighbours", int((~keep).sum()))
    return keep


def _position_debias(t) -> None:
    """Remove the flux bias of fitting each star's position on its own noise.

    The forced pass fits fluxes at positions found on the same data, which
    sit where the noise adds light: the profile likelihood over the two
    position parameters gains a chi-square of 2 on average, so the fitted
    flux squared is high by ``2 sigma^2`` and the flux by ``sigma^2 / flux``
    (1/S/N sigma: 0.1 sigma at S/N 10, 0.02 at S/N 50). Saturated stars
    (never moved) are left alone.
    """
    flux = np.asarray(t["flux"], dtype=np.float64)
    err = np.asarray(t["flux_err"], dtype=np.float64)
    moved = ~(np.asarray(t["flags"]) & F.SATURATED).astype(bool) & (flux > 0) & np.isfinite(err)
    t["flux"][moved] = flux[moved] - err[moved] ** 2 / flux[moved]


def _flag_poor_fits(result: SceneResult, frame: SceneFrame, fwhm: float, threshold: float) -> None:
    """Flag POOR_FIT on the brightest star whose stamp holds a peak of the residual.

    Light left in the residual within a star's stamp marks a poor fit of
    that star.
    """
    px, py, _ = leftover_peaks(result, frame, fwhm, threshold, near_stars=True)
    t = result.table
    if not (len(px) and len(t)):
        return
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


def _update_psf(
    frame: SceneFrame,
    sky: np.ndarray,
    stars_model: np.ndarray,
    stars: SceneStars,
    sizes: np.ndarray,
    scene_psf: ScenePSF,
    st: SceneSettings,
    first: bool,
) -> ScenePSF:
    """Refit the PSF on chosen stars with all others subtracted (``scene_psf`` if it cannot).

    The first refit may choose a field-varying PSF (``psf_variation``
    'auto') and takes two profile-fit iterations. Later refits of a
    constant analytic PSF take every bright clean star, each on its own
    stamp (:func:`.psf_update.refit_on_stamps`), where the first refit
    (which needs one image for the held-out choice) takes stars a stamp
    apart.
    """
    x, y, psf, tables = stars.x, stars.y, scene_psf.psf, scene_psf.tables
    if len(x) < 5:
        return scene_psf
    choose = first and st.psf_variation == "auto"
    iterations = 2 if first else st.psf_refit_iterations
    max_stars = 400 if choose or isinstance(psf, PSFField) else st.psf_stars
    # This pass's model in the variance (the PSF stars' own Poisson noise)
    # for the test that drops blended PSF stars.
    var = frame.variance(sky + np.maximum(stars_model, 0.0))
    (all_core,) = core_sums([stars_model], x, y)
    own_core = stars.flux * core_fraction(tables, x, y)
    own_fraction = np.clip(own_core / np.maximum(all_core, 1e-9), 0, 1)
    bad_near = near_pixels(x, y, frame.zero_w, 8.0)
    stamps = (
        not choose
        and isinstance(psf, EffectivePSF)
        and st.psf_kind != "empirical"
        and PSF_ALL_STARS > 0
    )
    # A varying PSF's shape model likewise, once chosen.
    field_stamps = (
        not choose
        and isinstance(psf, PSFField)
        and isinstance(tables, FieldTables)
        and psf.meta.get("shape") is not None
        and FIELD_STAMP_STARS > 0
    )
    on_stamps = stamps or field_stamps
    chosen = select_psf_stars(
        stars,
        own_fraction,
        bad_near,
        frame.shape,
        max_stars=(FIELD_STAMP_STARS if field_stamps else PSF_ALL_STARS)
        if on_stamps
        else max_stars,
        alone=PSF_ALONE if on_stamps else ALONE,
        apart=not on_stamps,
    )
    if len(chosen) < 5:
        return scene_psf
    if field_stamps and isinstance(psf, PSFField) and isinstance(tables, FieldTables):
        varying = refit_field_on_stamps(
            NoisyImage(frame.image - sky - stars_model, var, frame.zero_w),
            PlacedStars(x[chosen], y[chosen], stars.flux[chosen], sizes[chosen]),
            psf,
            tables,
        )
        return scene_psf if varying is psf else ScenePSF.of(varying)
    if stamps and isinstance(psf, EffectivePSF):
        refit = refit_on_stamps(
            NoisyImage(frame.image - sky - stars_model, var, frame.zero_w),
            PlacedStars(x[chosen], y[chosen], stars.flux[chosen], sizes[chosen]),
            psf,
            tables[STAMP_SIZES[2]],
            kind=st.psf_kind,
            iterations=st.psf_refit_iterations,
        )
        if refit is psf:
            return scene_psf
        log.debug(
            "PSF refitted on %d stamps: FWHM %.4f beta %.4f",
            len(chosen),
            refit.fwhm,
            refit.moffat_beta,
        )
        return ScenePSF.of(refit)
    # Everything but the chosen stars subtracted: the residual plus their own
    # model (at their centroided positions, which the profile fit refines).
    mine = build_design(
        tables, x[chosen], y[chosen], np.full(len(chosen), 31), frame.shape, derivatives=False
    )
    isolated = frame.image - sky - stars_model + mine.image(stars.flux[chosen])
    new = refit_psf(
        NoisyImage(isolated, var, frame.zero_w),
        np.c_[x[chosen], y[chosen]],
        psf,
        kind=st.psf_kind,
        choose=choose,
        iterations=iterations,
    )
    if new is psf:
        return scene_psf
    log.debug(
        "PSF refitted on %d stars: FWHM %.4f beta %.4f", len(chosen), new.fwhm, new.moffat_beta
    )
    return ScenePSF.of(new)
