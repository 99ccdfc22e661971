"""The Photometry Pipeline's curve-of-growth choice of the aperture radius.

Fluxes are measured in a range of radii for the field stars (and the target
when there is one). The optimum radius is the smallest at which both curves
pass 70% of their plateau and differ by less than 5% (Mommert 2017, PP's
``pp_photometry``); with no target only the field curve counts. The curves and
the rule are kept for the diagnostics plot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from .annulus import FramePixels, SkyMemo
from .aperture import aperture_variance, measure_apertures_and_sums
from .flags import PhotometryFlag as F
from .noise import NoiseModel
from .sums import circle_sums_radii

__all__ = [
    "CurveOfGrowth",
    "curve_from_tables",
    "curve_of_growth",
    "curve_to_tables",
    "interp_rows",
    "optimum_radius",
]

# Least S/N of a field star of the curve (at its best radius).
_MIN_SNR = 20.0

# Field positions whose filter S/N is below this fraction of _MIN_SNR are not
# measured. The aperture S/N of a star along its curve came out at most 1.03
# times its filter S/N for those between 10 and 20 (simulated night, 2230
# stars; up to 1.45 only below 8, where the noise of both is large): below 15
# none can reach 20, and the positions measured in vain were a quarter of
# the curve's time.
_FIELD_SNR_CUT = 0.75

RULE = (
    "smallest radius at which the field (and target) curves pass {min_fraction:.0%} "
    "of their plateau and differ by less than {max_difference:.0%}"
)


@dataclass(frozen=True)
class CurveOfGrowth:
    """Fractional flux against aperture radius, and the radius chosen from it."""

    radii: np.ndarray
    """Aperture radii (px)."""
    field_fraction: np.ndarray
    """Median fractional flux of the field stars at each radius (plateau = 1)."""
    field_snr_fraction: np.ndarray
    """Median S/N of the field stars relative to its maximum."""
    target_fraction: np.ndarray | None
    """Fractional flux of the target, or None without a target."""
    target_snr_fraction: np.ndarray | None
    """S/N of the target relative to its maximum, or None."""
    n_field_stars: int
    """How many field stars the median is taken over."""
    optimum_radius: float
    """The radius chosen by the rule (px)."""
    rule: str
    """The rule, in words, for the plot caption."""
    star_flux: np.ndarray | None = None
    """Sky-subtracted flux of each clean field star at each radius, shape (N, radii)."""
    star_variance: np.ndarray | None = None
    """Pixel-noise variance of those fluxes (without the sky-level error), e-^2."""
    star_area: np.ndarray | None = None
    """Unmasked aperture area of each star at each radius (px)."""
    star_sky_err: np.ndarray | None = None
    """Error of each star's sky level (e-/px)."""

    def aperture_correction(self, radius: float) -> float:
        """Factor from the flux in ``radius`` to the flux at the largest radius."""
        return self.aperture_correction_with_error(radius)[0]

    def aperture_correction_with_error(self, radius: float) -> tuple[float, float]:
        """Factor from the flux in ``radius`` to the largest radius, and its 1-sigma error.

        The light between ``radius`` and the largest radius is regressed
        through the origin on the flux in ``radius``, star by star, weighted
        by the noise of both and sigma-clipped (see :func:`ring_ratio`). The
        error is that of the fitted slope, scaled up by the scatter when the
        stars disagree more than their noise says (e.g. a PSF that varies
        across the field). A radius at or beyond the largest gives 1 +- 0.
        """
        if radius >= self.radii[-1] - 1e-9:
            return 1.0, 0.0
        if self.star_flux is None or len(self.star_flux) < 2:
            frac = float(np.interp(radius, self.radii, self.field_fraction))
            return (1.0 / frac if frac > 0 else float("nan")), float("nan")
        if self.star_variance is None or self.star_area is None:
            raise ValueError("a curve of growth with star fluxes needs their variances and areas")
        flux_r, var_r, area_r = (
            interp_rows(radius, self.radii, arr)
            for arr in (self.star_flux, self.star_variance, self.star_area)
        )
        ring = self.star_flux[:, -1] - flux_r
        var_ring = (
            np.maximum(self.star_variance[:, -1] - var_r, 0.0)
            + ((self.star_area[:, -1] - area_r) * self.star_sky_err) ** 2
        )
        var_r = var_r + (area_r * self.star_sky_err) ** 2
        slope, err = ring_ratio(flux_r, ring, var_r, var_ring)
        return 1.0 + slope, err


def interp_rows(x: float, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp(x, xp, row)`` for every row of ``fp`` at once, to the last bit.

    The rows share ``xp``, so the interval is found once; the arithmetic is
    numpy's own (its C loop: the knot's value when ``x`` is a knot, else
    ``slope * (x - xp[j]) + fp[j]``, retried from the right knot when that is
    NaN). A Python loop of ``np.interp`` over a few hundred stars was most of
    the curve of growth's time.
    """
    xp = np.asarray(xp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    if fp.ndim != 2 or fp.shape[1] != xp.size:
        raise ValueError("fp must have one column per xp")
    if x <= xp[0]:
        return fp[:, 0].copy()
    if x >= xp[-1]:
        return fp[:, -1].copy()
    j = int(np.searchsorted(xp, x, side="right")) - 1
    if x == xp[j]:
        return fp[:, j].copy()
    left, right = fp[:, j], fp[:, j + 1]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        slope = (right - left) / (xp[j + 1] - xp[j])
        out = slope * (x - xp[j]) + left
        retry = np.isnan(out)
        if retry.any():
            again = slope[retry] * (x - xp[j + 1]) + right[retry]
            same = np.isnan(again) & (left[retry] == right[retry])
            out[retry] = np.where(same, left[retry], again)
    return out


def optimum_radius(
    radii: np.ndarray,
    field_fraction: np.ndarray,
    target_fraction: np.ndarray | None = None,
    *,
    min_fraction: float = 0.7,
    max_difference: float = 0.05,
) -> float:
    """Apply PP's rule to the curves; the largest radius when no radius passes it."""
    ok = np.asarray(field_fraction) >= min_fraction
    if target_fraction is not None:
        t = np.asarray(target_fraction)
        ok &= (t >= min_fraction) & (np.abs(t - field_fraction) < max_difference)
    hits = np.flatnonzero(ok)
    return float(radii[hits[0]] if hits.size else radii[-1])


def ring_ratio(
    flux: np.ndarray,
    ring: np.ndarray,
    var_flux: np.ndarray,
    var_ring: np.ndarray,
    *,
    clip: float = 3.0,
    iterations: int = 5,
) -> tuple[float, float]:
    """Slope k of ``ring = k * flux`` over stars, with its error.

    Written by hand (a weighted straight line through the origin with
    sigma clipping) because the median of per-star ratios, the usual
    curve-of-growth estimate, weights a faint star's noisy plateau as much
    as a bright star's and is biased by the noise of the ratio; here bright
    stars count by their S/N, and stars with an undetected neighbour or a
    cosmic ray in the ring are clipped.

    Parameters
    ----------
    flux, ring : ndarray
        Flux inside the aperture and in the ring out to the plateau radius.
    var_flux, var_ring : ndarray
        Their variances; the weights use the effective variance
        ``var_ring + k^2 var_flux`` of the residual.

    Returns
    -------
    (float, float)
        k and its 1-sigma error, NaN when fewer than two stars are usable.
    """
    ok = np.isfinite(flux) & np.isfinite(ring) & (flux > 0) & (var_ring > 0)
    k = float(np.sum(ring[ok]) / np.sum(flux[ok])) if ok.sum() else float("nan")
    err = float("nan")
    for _ in range(iterations):
        if ok.sum() < 2:
            return float("nan"), float("nan")
        var = var_ring + k**2 * var_flux
        w = 1.0 / var[ok]
        sxx = np.sum(w * flux[ok] ** 2)
        k = float(np.sum(w * flux[ok] * ring[ok]) / sxx)
        z = (ring - k * flux) / np.sqrt(var)
        chi2 = float(np.sum(z[ok] ** 2)) / max(int(ok.sum()) - 1, 1)
        err = float(np.sqrt(max(chi2, 1.0) / sxx))
        # Clip against the actual scatter: a field-varying PSF widens it for all.
        scale = max(1.0, 1.4826 * float(np.median(np.abs(z[ok]))))
        keep = ok & (np.abs(z) < clip * scale)
        if np.array_equal(keep, ok):
            break
        ok = keep
    return k, err


def _fractions(table_fluxes: np.ndarray) -> np.ndarray:
    """Each row divided by its plateau (mean of the three largest radii)."""
    plateau = np.mean(table_fluxes[:, -3:], axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return table_fluxes / plateau


def _field_fraction(radii, flux, pix_var, area, sky_err) -> np.ndarray:
    """The field curve: 1 / aperture correction at each radius (median curve if too few)."""
    if len(flux) < 3:
        return np.nanmedian(_fractions(flux), axis=0)
    cog = CurveOfGrowth(
        radii, np.ones_like(radii), np.ones_like(radii), None, None, len(flux), radii[-1], "",
        flux, pix_var, area, sky_err,
    )  # fmt: skip
    corr = np.array([cog.aperture_correction_with_error(r)[0] for r in radii])
    return 1.0 / corr


def curve_of_growth(
    image: np.ndarray,
    field_positions: np.ndarray,
    radii: np.ndarray,
    annulus: tuple[float, float],
    *,
    target_position: tuple[float, float] | None = None,
    noise: NoiseModel | None = None,
    mask: np.ndarray | None = None,
    saturation: float | None = None,
    min_fraction: float = 0.7,
    max_difference: float = 0.05,
    max_stars: int = 200,
    sky_mask: np.ndarray | None = None,
    neighbours: np.ndarray | None = None,
    field_snr: np.ndarray | None = None,
    sky_memo: SkyMemo | None = None,
) -> CurveOfGrowth:
    """Measure the curves of growth and choose the aperture radius.

    Parameters
    ----------
    image : ndarray
        Frame in electrons.
    field_positions : ndarray, shape (N, 2)
        Candidate field stars (x, y); the clean, bright ones are used.
    radii : ndarray
        Increasing aperture radii (px); all must be inside ``annulus``.
    annulus : (float, float)
        Sky annulus radii (px), shared by all radii so that only the
        aperture changes along the curve.
    target_position : (float, float), optional
        The target, e.g. a moving object, whose own curve must agree.
    noise, mask, saturation
        As for :func:`measure_apertures`.
    min_fraction, max_difference : float
        PP's thresholds: 70% of the plateau and 5% agreement.
    max_stars : int
        At most this many of the highest-S/N clean field stars are used.
    sky_mask : ndarray of bool, optional
        Pixels left out of the sky annuli (neighbours' wings).
    neighbours : ndarray, shape (M, 2), optional
        Other stars (e.g. the positions being measured): a field star with
        one inside its largest aperture or annulus is not clean. The field
        candidates alone miss the neighbours detection did not find, whose
        light then lifts a star's plateau (on a colour channel's grid, with a
        quarter of the light, corrections came out 5-8% high in a dense field).
    field_snr : ndarray, shape (N,), optional
        An S/N of each field position that a star's aperture S/N cannot
        exceed, e.g. the matched filter's significance (the optimal filter
        for a point source). Positions below three quarters of the curve's
        S/N cut (20) are not measured: they could never be chosen (on a
        simulated night half of a frame's clean candidates were under 15 and every
        chosen star over 21; the curve came out the same bit for bit), and
        they stay neighbours of the others.
    sky_memo : SkyMemo, optional
        Shares the stars' annulus skies with the frame's own apertures
        (:func:`measure_apertures`).

    Returns
    -------
    CurveOfGrowth
    """
    radii = np.asarray(radii, dtype=np.float64)
    if radii.ndim != 1 or radii.size < 3 or np.any(np.diff(radii) <= 0):
        raise ValueError("radii must be at least three increasing values")
    pos = np.asarray(field_positions, dtype=np.float64).reshape(-1, 2)
    # Stars come brightest first (detection order); more than a few hundred
    # only cost time.
    pos = pos[: 2 * max_stars]
    if field_snr is not None:
        faint = ~(np.asarray(field_snr, dtype=np.float64)[: len(pos)] >= _FIELD_SNR_CUT * _MIN_SNR)
        if faint.any():
            # Still neighbours: the flags of the stars measured stay the same.
            neighbours = pos[faint] if neighbours is None else np.vstack([neighbours, pos[faint]])
            pos = pos[~faint]
    if target_position is not None:
        pos = np.vstack([pos, np.asarray(target_position, dtype=np.float64)[None, :]])
    # Sky, flags and the noise model once, at the largest radius (the
    # strictest for edge and contamination); then all radii in one pass.
    base, base_sums = measure_apertures_and_sums(
        image,
        pos,
        radii[-1],
        annulus,
        noise=noise,
        mask=mask,
        saturation=saturation,
        sky_mask=sky_mask,
        neighbours=neighbours,
        sky_memo=sky_memo,
        # The curve sums every radius over the good pixels and leaves a star
        # with masked pixels out (partial); mirrors at one radius would mix.
        mirror_masked=False,
    )
    flags = np.asarray(base["flags"])
    pixels = (
        sky_memo.pixels(image, mask, sky_mask)
        if sky_memo is not None
        else FramePixels.of(image, mask, sky_mask)
    )
    clean = pixels.clean
    sky = np.asarray(base["sky"])
    sky_err = np.asarray(base["sky_err"])
    # The background's noise as measured in each star's annulus, as measure_apertures' error.
    background_var = np.asarray(base["sky_rms"]) ** 2
    # Only a clean star can be a field star of the curve (and the target has
    # its own): the others' curves are left NaN, never summed (on a simulated
    # night a third to a half of the candidates are flagged).
    use = flags == 0
    if target_position is not None:
        use[-1] = True
    # Exact overlaps only where the largest aperture meets the edge or a bad
    # pixel; elsewhere the area is pi r^2 (photutils' area_overlap per radius
    # was a third of the curve's time).
    at = pos[use]
    partial = (flags[use] & (F.NEAR_EDGE | F.MASKED)) != 0
    flux = np.full((len(pos), len(radii)), np.nan)
    pix_var = np.full_like(flux, np.nan)
    area = np.full_like(flux, np.nan)
    # Every radius in one call (the same sums, circle by circle); the largest
    # radius's are the apertures' just summed above (the widest circles, about
    # a seventh of the curve's sums).
    if base_sums is not None:
        sums = np.empty((len(at), len(radii)))
        sums[:, :-1] = circle_sums_radii(clean, at, radii[:-1])
        sums[:, -1] = base_sums[use]
    else:
        sums = circle_sums_radii(clean, at, radii)
    areas = np.broadcast_to(np.pi * radii**2, sums.shape).copy()
    if partial.any():
        areas[partial] = circle_sums_radii(pixels.valid, at[partial], radii)
    for k in range(len(radii)):
        a = areas[:, k]
        area[use, k] = a
        flux[use, k] = sums[:, k] - sky[use] * a
        pix_var[use, k] = aperture_variance(flux[use, k], a, radii[k], background_var[use])
    err = np.sqrt(pix_var + (area * sky_err[:, None]) ** 2)
    snr = flux / err
    target_frac = target_snr = None
    if target_position is not None:
        target_frac = _fractions(flux[-1:])[0]
        target_snr = snr[-1] / np.nanmax(snr[-1])
        flux, snr, flags, err = flux[:-1], snr[:-1], flags[:-1], err[:-1]
        pix_var, area, sky_err = pix_var[:-1], area[:-1], sky_err[:-1]
    # Stars are chosen by their best S/N along the curve, not at the largest
    # radius: there the sky noise of a wide aperture leaves only the few
    # brightest stars, and a correction from three stars is off by percents.
    best_snr = np.nanmax(np.where(np.isfinite(snr), snr, -np.inf), axis=1)
    good = (flags == 0) & np.all(np.isfinite(flux), axis=1) & (flux[:, -1] > 0)
    good &= best_snr > _MIN_SNR
    idx = np.flatnonzero(good)
    idx = idx[np.argsort(best_snr[idx])[::-1][:max_stars]]
    if idx.size == 0:
        raise ValueError(
            "no clean field star with S/N > 20 for the curve of growth; "
            "give a fixed aperture radius instead"
        )
    field = _field_fraction(radii, flux[idx], pix_var[idx], area[idx], sky_err[idx])
    field_snr = np.nanmedian(snr[idx] / np.nanmax(snr[idx], axis=1, keepdims=True), axis=0)
    best = optimum_radius(
        radii, field, target_frac, min_fraction=min_fraction, max_difference=max_difference
    )
    return CurveOfGrowth(
        radii=radii,
        field_fraction=field,
        field_snr_fraction=field_snr,
        target_fraction=target_frac,
        target_snr_fraction=target_snr,
        n_field_stars=int(idx.size),
        optimum_radius=best,
        rule=RULE.format(min_fraction=min_fraction, max_difference=max_difference),
        star_flux=flux[idx],
        star_variance=pix_var[idx],
        star_area=area[idx],
        star_sky_err=sky_err[idx],
    )


# -- keeping a curve in a project ------------------------------------------------

_CURVE_COLUMNS = ("field_fraction", "field_snr_fraction", "target_fraction", "target_snr_fraction")
_STAR_COLUMNS = ("star_flux", "star_variance", "star_area", "star_sky_err")


def curve_to_tables(curve: CurveOfGrowth) -> tuple[Table, Table]:
    """The curve as two plain tables that FITS or ECSV keep exactly (float64).

    Returns
    -------
    curves : Table
        One row per radius: ``radius`` and the fractions (the target's only
        when there is a target); ``optimum_radius``, ``n_field_stars`` and
        ``rule`` in its meta.
    stars : Table
        One row per field star: its flux, variance and area at every radius
        and its sky error, from which :meth:`CurveOfGrowth.aperture_correction`
        is computed; empty when the curve has none.
    """
    curves = Table({"radius": np.asarray(curve.radii, dtype=np.float64)})
    for name in _CURVE_COLUMNS:
        value = getattr(curve, name)
        if value is not None:
            curves[name] = np.asarray(value, dtype=np.float64)
    curves.meta.update(
        optimum_radius=float(curve.optimum_radius),
        n_field_stars=int(curve.n_field_stars),
        rule=str(curve.rule),
    )
    stars = Table()
    if curve.star_flux is not None:
        for name in _STAR_COLUMNS:
            stars[name] = np.asarray(getattr(curve, name), dtype=np.float64)
    return curves, stars


def curve_from_tables(curves: Table, stars: Table | None = None) -> CurveOfGrowth:
    """The curve that :func:`curve_to_tables` made ``curves`` and ``stars`` from.

    Raises
    ------
    ValueError
        When ``curves`` lacks the radii, the field curve or the chosen radius.
    """
    missing = {"radius", "field_fraction", "field_snr_fraction"} - set(curves.colnames)
    if missing or "optimum_radius" not in curves.meta:
        raise ValueError(f"not a curve of growth (missing {sorted(missing) or 'optimum_radius'})")

    def column(table: Table | None, name: str) -> np.ndarray | None:
        if table is None or name not in table.colnames:
            return None
        return np.asarray(table[name], dtype=np.float64)

    def required(name: str) -> np.ndarray:
        return np.asarray(curves[name], dtype=np.float64)

    return CurveOfGrowth(
        radii=required("radius"),
        field_fraction=required("field_fraction"),
        field_snr_fraction=required("field_snr_fraction"),
        target_fraction=column(curves, "target_fraction"),
        target_snr_fraction=column(curves, "target_snr_fraction"),
        n_field_stars=int(curves.meta.get("n_field_stars", 0)),
        optimum_radius=float(curves.meta["optimum_radius"]),
        rule=str(curves.meta.get("rule", "")),
        **{name: column(stars, name) for name in _STAR_COLUMNS},
    )
