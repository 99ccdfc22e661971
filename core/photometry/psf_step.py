"""The PSF method of the photometry step: choose the PSF stars, model the PSF, fit."""

from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from ..runtime.pipeline import StepState
from .detect import SHARPNESS_LIMIT, noise_scale, residual_sky, single_pixel_ratio
from .epsf import EffectivePSF, analytic_psf, build_epsf, fit_analytic_psf
from .flags import PhotometryFlag as F
from .gridpsf import PSFField, choose_psf, refit_field
from .inputs import FrameInputs
from .params import PhotometryParams
from .psf_sky import sky_offset_matters, sky_under_stars
from .psf_stars import (
    _CANDIDATES,
    CROWDED_ISOLATION,
    FIELD_PSF_STARS,
    ISOLATION,
    _alone_among_fitted,
    _clean_psf_stars,
    _field_psf_stars,
    _n_psf_stars,
    crowded_field,
    psf_star_positions,
)

__all__ = [
    "field_psf",
    "frame_psf",
    "missed_companions",
    "psf_file",
    "psf_star_positions",
    "run_psf",
]

log = logging.getLogger(__name__)

_SKY_MESH = 64
"""Mesh (px) of the sky re-estimated from the residual: the frame sky's own."""

_COMPANION_PASSES = 1
"""Residual searches for companions after the first pass, each costing a first pass.

A second search found 1-2 more per frame of 500 stars in 1024^2 (the first
12-18), for a third more time.
"""

_SKY_PASSES = 2
"""Refits at most with the sky moved to the mean of the frame less the stars (:mod:`.psf_sky`).

The mean barely follows the sky the stars were fitted with (on 703 stars in
384^2, 100.28 at 100.27, 100.16 at 102.7): one refit reaches the fixed
point (mean residual +0.02 e-/px) and the second is skipped as too small
to matter.
"""


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


def psf_file(path: str) -> PSFField:
    """The PSF grid in ``path`` (a GriddedPSFModel FITS file), read once per path and date.

    Raises
    ------
    ValueError
        The file cannot be read as a PSF grid (the message names it).
    """
    from pathlib import Path

    from .gridpsf.io import read_psf_grid

    p = Path(path).expanduser()
    key = (str(p.resolve()), p.stat().st_mtime_ns if p.exists() else 0)
    hit = _PSF_FILES.get(key)
    if hit is None:
        hit = read_psf_grid(p)
        _PSF_FILES.clear()
        _PSF_FILES[key] = hit
    return hit


_PSF_FILES: dict[tuple[str, int], PSFField] = {}


def field_psf(
    p: PhotometryParams,
    data: np.ndarray,
    positions: np.ndarray,
    constant: EffectivePSF,
    mask: np.ndarray,
) -> EffectivePSF | PSFField:
    """The constant PSF, or a field-varying one when held-out stars say the frame needs it.

    ``data`` is the sky-subtracted frame with every star but the PSF stars
    subtracted; ``positions`` the PSF stars.
    """
    if p.psf_variation != "auto" or len(positions) < 3:
        return constant
    kind = "gaussian" if p.psf_model == "gaussian" else "moffat"
    try:
        choice = choose_psf(
            data, positions, constant, kind=kind, mask=mask, cells=p.psf_model == "empirical"
        )
    except (ValueError, np.linalg.LinAlgError) as exc:
        log.warning("field-varying PSF not fitted (%s); one PSF for the frame", exc)
        return constant
    return choice.psf


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


def _frame_sky(img: np.ndarray, first, mask: np.ndarray, sky) -> np.ndarray:
    """The sky from the frame less the first pass's stars (see :func:`.detect.residual_sky`)."""
    try:
        return residual_sky(img - first.model, mask, box=_SKY_MESH)
    except ValueError as exc:  # too few sky pixels left in every mesh
        log.warning("sky from the residual failed (%s); keeping the frame's sky", exc)
        return sky.level


def _refit_psf(
    p: PhotometryParams,
    inputs: FrameInputs,
    psf: EffectivePSF | PSFField,
    first: Table,
    sky_level: np.ndarray,
    *,
    choose: bool = True,
) -> EffectivePSF | PSFField:
    """The PSF from the PSF stars with every other star's model (from ``first``) subtracted.

    With ``choose``, a constant PSF may become one that varies across the
    frame (:func:`field_psf`, from up to ``FIELD_PSF_STARS`` stars spread
    over the frame, the isolated ones first, then those of a crowded field
    with their neighbours masked where they dominate: :func:`_field_psf_stars`);
    a varying one is refitted as the same model from such stars. Without
    either, the constant PSF comes from the brightest ``_n_psf_stars``
    isolated ones, exactly as when the PSF is never allowed to vary.
    """

    img, bad, _, stars, fwhm, noise, sat, _, _, _ = inputs
    n_psf = _n_psf_stars(p)
    field = choose or (isinstance(psf, PSFField) and psf.varies)
    psf_pos = psf_star_positions(
        stars,
        img.shape,
        fwhm,
        float(np.median(sky_level)),
        sat,
        max_stars=_CANDIDATES * FIELD_PSF_STARS if field else n_psf,
        crowded=CROWDED_ISOLATION if field else 0.0,
    )
    if len(psf_pos) < 3:
        return psf
    fx, fy, ff = (np.nan_to_num(np.asarray(first[c], dtype=np.float64)) for c in ("x", "y", "flux"))
    psf_pos = _clean_psf_stars(psf_pos, first, local=field)
    if field:
        psf_pos = _field_psf_stars(psf_pos, stars, fx, fy, fwhm)
    else:
        psf_pos = _alone_among_fitted(psf_pos, fx, fy, ISOLATION * fwhm)
    sky_sigma = float(np.sqrt(np.median(noise.variance(sky_level))))
    neighbours, own, psf_pos = _all_but_own(img.shape, psf, fx, fy, ff, psf_pos, sky_sigma)
    fit_mask = bad if sat is None else bad | (img >= sat)
    fit_mask = fit_mask | _neighbour_pixels(neighbours, own, sky_sigma)
    data = img - sky_level - neighbours
    if isinstance(psf, PSFField) and psf.varies:
        try:
            crowded = crowded_field(len(fx), fwhm, img.shape)
            return refit_field(data, psf_pos, psf, fit_mask, crowded=crowded)
        except (ValueError, np.linalg.LinAlgError) as exc:
            log.warning("field-varying PSF not refitted (%s)", exc)
            return psf
    # The constant PSF from the brightest; the field's variation from all.
    const = frame_psf(
        p, img, bad, sky_level, stars, fwhm, sat, neighbours=neighbours, positions=psf_pos[:n_psf]
    )
    return field_psf(p, data, psf_pos, const, fit_mask) if choose else const


_PSF_STAMP = 15
"""px: the stamp the PSF-shape fits cut around each PSF star (``fit_analytic_psf``, the field's)."""


def _all_but_own(
    shape: tuple[int, int],
    psf: EffectivePSF | PSFField,
    fx: np.ndarray,
    fy: np.ndarray,
    ff: np.ndarray,
    psf_pos: np.ndarray,
    sky_sigma: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model image of every fitted star but each PSF star's own light in its stamp; that
    own light (an image, 0 outside the stamps); the PSF stars.

    The image less this model holds, in each PSF star's ``_PSF_STAMP`` box,
    that star alone. Leaving the PSF stars out of the model altogether (as
    the neighbours of nothing) put the wings of the ~30% of PSF stars with
    another within 20 px into the other's stamp: the fitted beta came out
    low, and a 3e4 e- star's flux high by +0.04..+0.12 sigma over the frame
    (FA, 240 PSF stars with exact neighbours; 0.03 rms with this). PSF stars
    whose boxes overlap another's would see both stars: the fainter goes.
    """
    from .psf import render_stars, star_stamps

    half = _PSF_STAMP // 2
    centre = np.round(psf_pos)
    keep: list[int] = []
    for i in range(len(psf_pos)):  # brightest first
        if not keep or np.abs(centre[keep] - centre[i]).max(axis=1).min() >= _PSF_STAMP:
            keep.append(i)
    psf_pos, centre = psf_pos[keep], centre[keep]
    model = render_stars(shape, psf, fx, fy, ff, sky_sigma=sky_sigma)
    light = np.zeros(shape)
    if len(fx) == 0:
        return model, light, psf_pos
    d, j = cKDTree(np.c_[fx, fy]).query(psf_pos)
    own = d < 1.0
    j, centre = j[own], centre[own].astype(int)
    stamps = star_stamps(psf, _PSF_STAMP, fx[j] - centre[:, 0], fy[j] - centre[:, 1], fx[j], fy[j])
    ny, nx = shape
    for (cx, cy), stamp, f in zip(centre, stamps, ff[j], strict=True):
        if half <= cx < nx - half and half <= cy < ny - half:
            box = np.s_[cy - half : cy + half + 1, cx - half : cx + half + 1]
            model[box] -= f * stamp
            light[box] = f * stamp
    return model, light, psf_pos


NEIGHBOUR_SHARE = 0.2
"""Share of a PSF star's own light in a pixel above which its neighbours' light masks the pixel."""


def _neighbour_pixels(neighbours: np.ndarray, own: np.ndarray, sky_sigma: float) -> np.ndarray:
    """Pixels of the PSF stars' stamps where their subtracted neighbours' light dominates.

    A neighbour's model is drawn with the pass's PSF (the first pass's one
    PSF in a field that varies) and its fitted flux and place: a few per
    cent of its light stays in the stamp, as much as the star's own wing
    where the neighbour's core lies. Pixels where the neighbours' light
    passes ``NEIGHBOUR_SHARE`` of the star's own and half the sky's noise
    are left out of the PSF fit; the star's core, its own, stays.
    """
    return (own > 0) & (neighbours > NEIGHBOUR_SHARE * own) & (neighbours > 0.5 * sky_sigma)


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
    from .scene.records import NoisyImage

    sig, flux = significance(residual, variance, fwhm, mask)
    offset, scale = noise_scale(sig, mask)
    sig = (sig - np.float32(offset)) / np.float32(scale)
    # No mask is no pixel without weight.
    model = NoisyImage(stars_model, variance, np.zeros(sig.shape, bool) if mask is None else mask)
    px, py = new_peaks(
        sig,
        model,
        fwhm,
        known,
        threshold,
        near_threshold=near_threshold,
        model_factor=model_factor,
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


MERGE_RADIUS = 0.2
"""Rows whose fitted centres come within this many FWHM of an earlier row's are one star.

A companion found in the residual, or a second peak of one star, can move
onto a star already fitted. Two rows at one place share its light in any
proportion, and when they lie in different groups the neighbour-subtracted
passes fit each on the frame less the other's last model, which doubles the
error every pass: on 5000 stars in 1024^2 (FWHM 2.5 -> 4.5 px), 29 rows in
13 such pairs and triples within 0.3 px ended at +-2e5..1.6e6 e- for stars
of 2e4..1e5 e-. Their models pulled the sky under the stars down by up to
2.3 e-/px over 64 px cells; merged, the stars of >= 1e3 e- over the oracle
went from +0.04..+0.08 sigma by region (+0.21 and +0.12 in two corners) to
+0.01..+0.03 (+0.02 and +0.11). True pairs this close cannot be told apart
by a PSF fit either.
"""

_MERGE_PASSES = 2
"""Neighbour-subtracted fits at most while rows still merge (one more fit each)."""


def distinct_rows(table: Table, n_fixed: int | None, fwhm: float) -> np.ndarray:
    """Indices of the rows to keep: none within ``MERGE_RADIUS`` FWHM of an earlier kept one.

    Rows are taken in order (the detections before the companions found
    later); the first ``n_fixed`` (the caller's positions) are always kept.
    Rows without a finite position are kept (their fit starts again from
    its position).
    """
    n = len(table)
    if n < 2:
        return np.arange(n)
    x = np.asarray(table["x"], dtype=np.float64)
    y = np.asarray(table["y"], dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    pts = np.c_[np.where(ok, x, 0.0), np.where(ok, y, 0.0)]
    pairs = cKDTree(pts[ok]).query_pairs(MERGE_RADIUS * fwhm, output_type="ndarray")
    rows = np.flatnonzero(ok)
    drop = np.zeros(n, dtype=bool)
    fixed = 0 if n_fixed is None else n_fixed
    # In index order, so that a row dropped for an earlier one drops nothing later.
    for i, j in sorted((min(a, b), max(a, b)) for a, b in rows[pairs]):
        if not drop[i] and j >= fixed:
            drop[j] = True
    return np.flatnonzero(~drop)


def _merged(
    positions: np.ndarray, table: Table, n_rows: int | None, fwhm: float, forced: bool
) -> tuple[np.ndarray, Table]:
    """The starting positions and the table without the rows merged by :func:`distinct_rows`."""
    if forced:
        return positions, table
    keep = distinct_rows(table, n_rows, fwhm)
    if len(keep) == len(table):
        return positions, table
    log.debug("%d rows merged with another on the same star", len(table) - len(keep))
    return positions[keep], table[keep]


def run_psf(p: PhotometryParams, inputs: FrameInputs, state: StepState) -> dict:
    """PSF photometry of a frame; returns the step's result fields."""
    img, bad, sky, stars, fwhm, noise, sat, variance, positions, target = inputs
    from .psf import fit_psf_photometry

    fixed = psf_file(p.psf_file) if p.psf_file else None
    # The first pass only models the neighbours for the PSF refit below:
    # the fitted Moffat serves, and the ePSF (photutils' EPSFBuilder, ~10 s
    # for 80 stars) is built once, from the neighbour-subtracted stars.
    psf = fixed or frame_psf(p, img, bad, sky.level, stars, fwhm, sat, empirical=False)
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
    if fixed is None and p.psf_variation == "auto":
        # Whether the PSF changes across the frame is settled before the
        # companions are looked for: one PSF's residual in a frame whose PSF
        # varies is full of "companions" (the corners' elongated stars), which
        # then took up to 30% of the stars' light.
        varying = _refit_psf(
            p, inputs, psf, first.table, _frame_sky(img, first, bad | saturated, sky)
        )
        if isinstance(varying, PSFField) and varying.varies:
            psf = varying
            state.progress(0.35, f"PSF varies across the frame: {psf.meta.get('chosen', psf.kind)}")
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
    # The sky again, from the frame less the stars (see residual_sky); the
    # frame's own sky only started the fits. The stars are a neighbour-
    # subtracted pass's: each first-pass flux also holds its neighbours'
    # light, so that on 5000 stars in 1024^2 the first pass's model
    # over-subtracted the frame by 1.4 e-/px on average, its residual sky came
    # out 0.3 e-/px low and a 3e4 e- star +0.14 sigma bright.
    start = first.table
    for _ in range(_MERGE_PASSES):
        positions, start = _merged(positions, start, n_rows, fwhm, forced)
        first = fit_psf_photometry(img, positions, psf, start=start, **fit_kw)
        state.check()
        if len(_merged(positions, first.table, n_rows, fwhm, forced)[0]) == len(positions):
            break
        start = first.table
    sky_level = _frame_sky(img, first, bad | saturated, sky)
    fit_kw["sky"] = sky_level
    # The PSF again, from the PSF stars with all their neighbours' models
    # subtracted (the first pass's bent the same PSF by a further +0.1 sigma
    # there); then the neighbour-subtracted fits with it.
    positions, t = _merged(positions, first.table, n_rows, fwhm, forced)
    if fixed is None:
        psf = _refit_psf(p, inputs, psf, t, sky_level, choose=False)
        state.progress(0.6, f"PSF refit without neighbours: FWHM {psf.fwhm:.2f} px")
    fit = fit_psf_photometry(img, positions, psf, start=t, **fit_kw)
    sky_sigma = float(np.sqrt(np.median(noise.variance(sky_level))))
    for _ in range(_SKY_PASSES):
        # The clipped mesh sky leaves out the light of the stars too faint to
        # be found, which every fitted flux then takes up: the fits' sky is
        # the mean of the frame less the stars instead (see psf_sky).
        new_sky = sky_under_stars(img, fit.model, sky_level, bad | saturated, noise, variance)
        change = float(np.max(np.abs(new_sky - sky_level)))
        if not sky_offset_matters(change, fwhm, sky_sigma):
            break
        log.debug("sky moved by up to %.3f e-/px to the mean under the stars", change)
        sky_level = new_sky
        fit_kw["sky"] = sky_level
        positions, start = _merged(positions, fit.table, n_rows, fwhm, forced)
        fit = fit_psf_photometry(img, positions, psf, start=start, **fit_kw)
        state.check()
    positions, start = _merged(positions, fit.table, n_rows, fwhm, forced)
    if len(start) < len(fit.table):
        fit = fit_psf_photometry(img, positions, psf, start=start, **fit_kw)
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
