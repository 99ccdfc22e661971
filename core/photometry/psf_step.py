"""The PSF method of the photometry step: choose the PSF stars, model the PSF, fit."""

from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from fluxion.core.runtime.pipeline import StepState

from .detect import SHARPNESS_LIMIT, isolated, noise_scale, residual_sky, single_pixel_ratio
from .epsf import EffectivePSF, analytic_psf, build_epsf, fit_analytic_psf
from .flags import PhotometryFlag as F
from .inputs import FrameInputs
from .params import PhotometryParams

__all__ = ["frame_psf", "missed_companions", "psf_star_positions", "run_psf"]

log = logging.getLogger(__name__)

_SKY_MESH = 64
"""Mesh (px) of the sky re-estimated from the residual: the frame sky's own."""

_COMPANION_PASSES = 1
"""Residual searches for companions after the first pass, each costing a first pass.

A second search found 1-2 more per frame of 500 stars in 1024^2 (the first
12-18), for a third more time.
"""


def psf_star_positions(
    stars: Table,
    shape: tuple[int, int],
    fwhm: float,
    sky_level: float,
    sat: float | None,
    *,
    max_stars: int = 40,
    margin: int = 12,
) -> np.ndarray:
    """Bright, isolated, unsaturated, unflagged stars away from the edge (x, y)."""
    if len(stars) == 0:
        return np.zeros((0, 2))
    ny, nx = shape
    x, y = np.asarray(stars["x"]), np.asarray(stars["y"])
    ok = (np.asarray(stars["flags"]) == 0) & isolated(x, y, 4.0 * fwhm)
    ok &= (x > margin) & (x < nx - 1 - margin) & (y > margin) & (y < ny - 1 - margin)
    if sat is not None:
        ok &= np.asarray(stars["peak"]) + sky_level < 0.7 * sat
    idx = np.flatnonzero(ok)[:max_stars]  # stars are sorted brightest first
    return np.c_[x[idx], y[idx]]


def frame_psf(
    p: PhotometryParams,
    img: np.ndarray,
    bad: np.ndarray,
    sky_level: np.ndarray,
    stars: Table,
    fwhm: float,
    sat: float | None,
    *,
    neighbours: np.ndarray | None = None,
    positions: np.ndarray | None = None,
    empirical: bool = True,
) -> EffectivePSF:
    """The frame's PSF of the kind asked for, falling back to a Moffat of the FWHM.

    ``empirical=False`` stops at the fitted Moffat even when an empirical
    PSF is asked for (a first pass that only finds the neighbours).

    ``neighbours``, a model image of the stars other than the PSF stars, is
    subtracted first: the wings of neighbours in the stamps otherwise pull
    the fitted Moffat's beta low (2.96 for 3 on 500 stars in 1024^2), which
    biases every PSF flux high. ``positions`` replaces the choice of PSF
    stars from ``stars``.
    """
    if positions is not None:
        pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    else:
        pos = psf_star_positions(
            stars, img.shape, fwhm, float(np.median(sky_level)), sat, max_stars=_n_psf_stars(p)
        )
    data = img - sky_level
    if neighbours is not None:
        data = data - neighbours
    fit_mask = bad if sat is None else bad | (img >= sat)
    try:
        kind = "gaussian" if p.psf_model == "gaussian" else "moffat"
        if len(pos) < 3:
            raise ValueError(f"only {len(pos)} PSF stars")
        # The 15 px box also with neighbours subtracted: a +-3 FWHM box fitted
        # beta no better on 500 stars in 1024^2 and worse on small fields.
        psf, _ = fit_analytic_psf(data, pos, fwhm, kind=kind, mask=fit_mask)
        # Neighbours in crowded fields can drag the fit to a bound.
        if not 0.6 < psf.fwhm / fwhm < 1.6 or psf.fwhm <= 0.55:
            raise ValueError(f"fitted FWHM {psf.fwhm:.2f} px disagrees with {fwhm:.2f} px")
        if p.psf_model != "empirical" or not empirical:
            return psf
        return _empirical_or(psf, data, pos, p.psf_size, fit_mask)
    except (ValueError, np.linalg.LinAlgError) as exc:
        log.warning("PSF model from the stars failed (%s); using a Moffat of FWHM %.2f", exc, fwhm)
        return analytic_psf("moffat", fwhm)


def _clean_psf_stars(psf_pos: np.ndarray, first: Table) -> np.ndarray:
    """PSF stars whose first-pass fit is as good as most (photutils qfit).

    A star with an unresolved companion a few px away passes every
    isolation test on the detections, yet its residual is 3-5x the others'
    (qfit 0.2 for 0.05); a few such blends pulled beta low. Stars beyond
    median + 3 robust sigma of qfit are dropped.
    """
    fx = np.nan_to_num(np.asarray(first["x"], dtype=np.float64), nan=-1e9)
    fy = np.nan_to_num(np.asarray(first["y"], dtype=np.float64), nan=-1e9)
    d, j = cKDTree(np.c_[fx, fy]).query(psf_pos)
    q = np.where(d < 1.0, np.asarray(first["qfit"], dtype=np.float64)[j], np.inf)
    finite = np.isfinite(q)
    if finite.sum() < 3:
        return psf_pos
    med = float(np.median(q[finite]))
    spread = 1.4826 * float(np.median(np.abs(q[finite] - med)))
    keep = q <= med + 3.0 * spread
    return psf_pos[keep] if keep.sum() >= 3 else psf_pos


def _n_psf_stars(p: PhotometryParams) -> int:
    # An analytic PSF from 100 stars rather than 40: beta scatters by 0.011
    # rather than 0.014 from frame to frame (500 stars in 1024^2, neighbours
    # subtracted), and a beta error of 0.02 moves a 1e5 e- star by 0.4 sigma.
    return 80 if p.psf_model == "empirical" else 100


def _empirical_or(
    moffat: EffectivePSF, data: np.ndarray, pos: np.ndarray, size: int, mask: np.ndarray
) -> EffectivePSF:
    """The ePSF of the stars, or the fitted Moffat when the ePSF is not credible.

    EPSFBuilder needs many stars to fill its oversampled grid: with a few
    dozen, 4x oversampling leaves holes that its smoothing turns into a
    broadened core, so fewer stars get a 2x grid, and an ePSF whose FWHM
    strays by more than 10% from the Moffat fit is not used.
    """
    if len(pos) < 10:
        log.warning("only %d PSF stars for an empirical PSF; using the Moffat fit", len(pos))
        return moffat
    oversampling = 4 if len(pos) >= 60 else 2
    try:
        epsf = build_epsf(data, pos, size=size, mask=mask, oversampling=oversampling)
    except ValueError as exc:
        log.warning("empirical PSF failed (%s); using the Moffat fit", exc)
        return moffat
    if abs(epsf.fwhm / moffat.fwhm - 1) > 0.1:
        log.warning(
            "empirical PSF FWHM %.2f px strays from the Moffat fit's %.2f px; using the Moffat",
            epsf.fwhm,
            moffat.fwhm,
        )
        return moffat
    return epsf


def missed_companions(
    residual: np.ndarray,
    stars_model: np.ndarray,
    variance: np.ndarray,
    fwhm: float,
    known: np.ndarray,
    *,
    threshold: float = 5.0,
    near_threshold: float = 4.0,
    model_factor: float = 0.1,
    mask: np.ndarray | None = None,
    sharpness_limit: float = SHARPNESS_LIMIT,
) -> np.ndarray:
    """Stars the fit left in its residual: (x, y) of significant new peaks.

    The peak finder merges a companion 2-5 px from a brighter star into one
    detection, and the fit then gives the bright star the companion's light
    too: on 500 stars in 1024^2, stars above 3000 e- with an undetected
    neighbour of > 1000 e- within 5 px were 20 sigma too bright, which
    widened the bright bins' robust scatter to 1.1x the Cramér-Rao bound.

    A peak of the residual's matched-filter significance counts when it
    passes ``threshold``, or ``near_threshold`` where the model itself is
    significant (a companion hides where a star is); and it must exceed
    ``model_factor`` times the model's own significance there, so that the
    residual of a bright star's imperfect PSF is not taken for a star (the
    scene fitter's test, after crowdsource). Peaks within half a FWHM of a
    known star are the known star's residual (:func:`.scene.peaks.new_peaks`).

    The residual's significance is taken against its own scatter on the sky
    (:func:`.detect.noise_scale`), as the finder's: a raw frame's bias
    column pattern and flat structure left 182 "companions" of 20 stars in
    a 256^2 simulated light, whose fits then took minutes. Peaks sharper
    than a star (hot pixels, cosmic rays; see :func:`.detect.find_stars`)
    are no companions either: 4 of the 7 left on that frame were hot pixels.
    """
    from .scene.peaks import new_peaks, significance

    sig, flux = significance(residual, variance, fwhm, mask)
    offset, scale = noise_scale(sig, mask)
    sig = (sig - np.float32(offset)) / np.float32(scale)
    px, py = new_peaks(
        sig,
        stars_model,
        variance,
        fwhm,
        known,
        threshold,
        near_threshold=near_threshold,
        model_factor=model_factor,
        mask=mask,
        border=1,
    )
    pxi, pyi = np.round(px).astype(int), np.round(py).astype(int)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharp = residual[pyi, pxi] / flux[pyi, pxi] / single_pixel_ratio(fwhm)
    keep = ~(sharp > sharpness_limit)
    return np.c_[px[keep], py[keep]]


def _core_flags(table: Table, mask: np.ndarray, radius: float, flag: int) -> None:
    """Set ``flag`` for stars with a ``mask`` pixel within ``radius`` of their centre."""
    if len(table) == 0 or not mask.any():
        return
    ys, xs = np.nonzero(mask)
    from scipy.spatial import cKDTree

    tree = cKDTree(np.c_[xs, ys])
    x = np.nan_to_num(np.asarray(table["x"]), nan=-1e9)
    y = np.nan_to_num(np.asarray(table["y"]), nan=-1e9)
    hits = tree.query_ball_point(np.c_[x, y], radius, return_length=True)
    table["flags"][hits > 0] |= flag


def run_psf(p: PhotometryParams, inputs: FrameInputs, state: StepState) -> dict:
    """PSF photometry of a frame; returns the step's result fields."""
    img, bad, sky, stars, fwhm, noise, sat, variance, positions, target = inputs
    from .psf import fit_psf_photometry, render_stars

    # The first pass only models the neighbours for the PSF refit below:
    # the fitted Moffat serves, and the ePSF (photutils' EPSFBuilder, ~10 s
    # for 80 stars) is built once, from the neighbour-subtracted stars.
    psf = frame_psf(p, img, bad, sky.level, stars, fwhm, sat, empirical=False)
    state.progress(0.2, f"PSF: {psf.kind}, FWHM {psf.fwhm:.2f} px")
    forced = positions is not None and p.forced
    # The caller's stars are the rows of the table; companions found in the
    # residual are fitted with them but not reported.
    n_rows = None if positions is None else len(positions) + (target is not None)
    if positions is None:
        positions = np.c_[stars["x"], stars["y"]] if len(stars) else np.zeros((0, 2))
    if target is not None:
        positions = np.vstack([positions, np.asarray(target, dtype=np.float64)[None, :]])
    saturated = np.zeros_like(bad) if sat is None else img >= sat
    if len(positions) == 0:
        empty = Table({c: np.zeros(0) for c in ("x", "y", "flux", "flux_err")})
        empty["flags"] = np.zeros(0, dtype=np.int32)
        return dict(table=empty, psf=psf)
    fit_kw = dict(
        sky=sky.level,
        noise=noise,
        mask=bad | saturated,
        fit_size=p.fit_size,
        group_distance=p.group_distance * fwhm,
        forced=forced,
        variance=variance,
    )
    first = fit_psf_photometry(img, positions, psf, neighbour_subtraction=False, **fit_kw)
    state.check()
    if not forced:
        # Companions the peak finder merged with a brighter star, found in
        # the first pass's residual, are fitted as stars of their own.
        for _ in range(_COMPANION_PASSES):
            extra = missed_companions(
                img - sky.level - first.model,
                first.model,
                noise.variance(sky.level + np.maximum(first.model, 0))
                if variance is None
                else variance,
                fwhm,
                positions,
                threshold=p.detection_threshold,
                mask=bad | saturated,
            )
            if len(extra) == 0:
                break
            positions = np.vstack([positions, extra])
            first = fit_psf_photometry(img, positions, psf, neighbour_subtraction=False, **fit_kw)
            state.check()
    # The sky again, from the frame less the first pass's stars (see
    # residual_sky); the frame's own sky only started the fits.
    try:
        sky_level = residual_sky(img - first.model, bad | saturated, box=_SKY_MESH)
    except ValueError as exc:  # too few sky pixels left in every mesh
        log.warning("sky from the residual failed (%s); keeping the frame's sky", exc)
        sky_level = sky.level
    fit_kw["sky"] = sky_level
    # The PSF again, from the PSF stars with all their neighbours' first-pass
    # models subtracted; then the neighbour-subtracted fits with it.
    t = first.table
    psf_pos = psf_star_positions(
        stars, img.shape, fwhm, float(np.median(sky_level)), sat, max_stars=_n_psf_stars(p)
    )
    if len(psf_pos) >= 3:
        fx, fy, ff = (np.nan_to_num(np.asarray(t[c], dtype=np.float64)) for c in ("x", "y", "flux"))
        psf_pos = _clean_psf_stars(psf_pos, t)
        d, _ = cKDTree(psf_pos).query(np.c_[fx, fy])
        others = d > 1.0
        sky_sigma = float(np.sqrt(np.median(noise.variance(sky_level))))
        neighbours = render_stars(
            img.shape, psf, fx[others], fy[others], ff[others], sky_sigma=sky_sigma
        )
        psf = frame_psf(
            p, img, bad, sky_level, stars, fwhm, sat, neighbours=neighbours, positions=psf_pos
        )
        state.progress(0.6, f"PSF refit without neighbours: FWHM {psf.fwhm:.2f} px")
    fit = fit_psf_photometry(img, positions, psf, start=t, **fit_kw)
    table = fit.table if n_rows is None else fit.table[:n_rows]
    _core_flags(table, saturated, fwhm, F.SATURATED)
    _core_flags(table, bad, fwhm, F.MASKED)
    ny, nx = img.shape
    half = p.fit_size // 2
    x, y = np.asarray(table["x"]), np.asarray(table["y"])
    edge = (x < half) | (y < half) | (x > nx - 1 - half) | (y > ny - 1 - half)
    table["flags"][edge] |= F.NEAR_EDGE
    table["flags"][np.asarray(table["group_size"]) > 1] |= F.CONTAMINATED
    model = fit.model + sky_level
    state.progress(1.0, "PSF fits done")
    return dict(table=table, psf=psf, model=model, residual=img - model)
