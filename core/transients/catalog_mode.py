"""Catalogue-based transient detection (STDWeb's "simple" mode) in one frame.

Every detection is compared with a reference catalogue: what has no
counterpart, or is much brighter than its counterpart, is a candidate, once
the usual impostors are rejected:

* flagged detections: saturated, on masked pixels, cut by the frame's edge;
* artefacts by shape (cosmic rays, hot pixels, galaxies, trails): outliers
  from the frame's own stars in shape space (:mod:`.shapes`);
* blends: catalogue stars closer than ``2 FWHM`` are merged (:mod:`.blends`)
  and a detection is compared with the blend it is;
* detections fainter than the catalogue reaches (a faint star the catalogue
  does not list is no transient);
* known Solar System objects (:mod:`.solar_system`), checked by the caller
  over the whole sequence, and candidates seen in one frame only
  (:mod:`.sequence`).

The result is a table (:mod:`.candidates`) of every detection that is not a
catalogued star at its catalogued brightness, each with the reason it was
rejected or accepted, so a user sees why a known object was not reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from astropy.wcs import WCS, NoConvergence

from ..detection.measure import SourceFlags
from ..runtime.params import param
from .blends import merge_blends, nearest_within
from .candidates import Reason, empty_candidates
from .forced import MAG_PER_LN
from .shapes import fit_shape_model, outlier_threshold, shape_features

__all__ = [
    "CatalogModeParams",
    "catalogue_candidates",
    "catalog_limit",
    "frame_zero_point",
    "near_masked",
    "MAG_PER_LN",
]


_EDGE = SourceFlags.TRUNCATED | SourceFlags.APERTURE_TRUNCATED
# sep's APERTURE_MASKED also marks apertures that merely leave a neighbour's
# pixels out, so masked pixels are looked up in the mask itself (near_masked).


@dataclass(frozen=True)
class CatalogModeParams:
    """Parameters of the catalogue-based search."""

    min_snr: float = param(
        5.0,
        label="Least S/N",
        help="Detections below this signal-to-noise are not candidates.",
        minimum=1.0,
        maximum=1000.0,
    )
    match_radius: float = param(
        0.5,
        label="Match radius",
        unit="FWHM",
        help="A detection this close to a catalogue star (or blend) is that star.",
        minimum=0.1,
        maximum=5.0,
    )
    blend_radius: float = param(
        2.0,
        label="Blend radius",
        unit="FWHM",
        help="Catalogue stars closer than this to each other are one source to the "
        "frame: merged, with their summed flux, before matching.",
        minimum=0.0,
        maximum=10.0,
    )
    min_mag_diff: float = param(
        1.0,
        label="Least brightening",
        unit="mag",
        help="A catalogued star is a candidate when it is at least this much brighter "
        "than its catalogue magnitude (and significantly so).",
        minimum=0.05,
        maximum=10.0,
    )
    shape_false_rate: float = param(
        1e-3,
        label="Shape test false-alarm rate",
        help="Share of real stars the shape test may reject; smaller keeps more odd shapes.",
        minimum=1e-9,
        maximum=0.5,
    )
    catalog_margin: float = param(
        0.5,
        label="Catalogue depth margin",
        unit="mag",
        help="Uncatalogued detections fainter than the catalogue's limit minus this "
        "are faint stars, not candidates.",
        minimum=-2.0,
        maximum=5.0,
    )
    reject_flagged: bool = param(
        True,
        label="Reject flagged",
        help="Reject saturated, masked and edge-cut detections.",
    )


def catalog_limit(mag: np.ndarray) -> float:
    """Where a catalogue stops being complete: the turnover of its magnitude counts.

    Star counts rise with magnitude until the survey loses stars; the
    faintest 0.25 mag bin holding the most stars is where they stop rising.
    """
    mag = np.asarray(mag, dtype=float)
    mag = mag[np.isfinite(mag)]
    if len(mag) < 10:
        return float(np.max(mag)) if len(mag) else math.nan
    edges = np.arange(math.floor(mag.min()), math.ceil(mag.max()) + 0.25, 0.25)
    counts, edges = np.histogram(mag, edges)
    k = int(np.flatnonzero(counts == counts.max())[-1])
    return float(edges[k + 1])


def frame_zero_point(
    inst_mag: np.ndarray, catalog_mag: np.ndarray, usable: np.ndarray
) -> tuple[float, float]:
    """The frame's offset from instrumental to catalogue magnitudes, and its error.

    A sigma-clipped median over isolated, unflagged, well-measured matches:
    all the candidate test needs (colour terms move a star by far less than
    the brightening it looks for); the zero-point step does the full fit.
    """
    d = np.asarray(catalog_mag, float) - np.asarray(inst_mag, float)
    d = d[np.asarray(usable, bool) & np.isfinite(d)]
    if len(d) < 3:
        return math.nan, math.nan
    _, median, std = sigma_clipped_stats(d, sigma=3.0)
    return float(median), float(std / math.sqrt(len(d)))


def near_masked(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None, radius: float) -> np.ndarray:
    """Whether any masked pixel lies within ``radius`` px of each position."""
    x = np.asarray(x, float)
    if mask is None or len(x) == 0:
        return np.zeros(len(x), bool)
    from scipy.ndimage import distance_transform_edt

    bad = np.asarray(mask, bool)
    if not bad.any():
        return np.zeros(len(x), bool)
    # Distance of every pixel to the nearest masked one, looked up at the positions.
    dist = distance_transform_edt(~bad)
    ix = np.clip(np.rint(x).astype(int), 0, bad.shape[1] - 1)
    iy = np.clip(np.rint(np.asarray(y, float)).astype(int), 0, bad.shape[0] - 1)
    return dist[iy, ix] <= radius


def _flag_reason(flags: np.ndarray, masked: np.ndarray) -> np.ndarray:
    reason = np.full(len(flags), "", dtype="U160")
    reason[(flags & _EDGE) != 0] = Reason.EDGE
    reason[masked] = Reason.MASKED
    reason[(flags & SourceFlags.SATURATED) != 0] = Reason.SATURATED
    return reason


def _catalogue_pixels(wcs: WCS, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Catalogue positions in the frame's pixels; NaN where the WCS cannot be inverted.

    The catalogue's cone is wider than the frame, and far outside it a
    distortion polynomial's inverse can diverge (astropy raises NoConvergence
    for the whole call): those stars are not in the frame, so they are left
    out instead of ending the search.
    """
    try:
        x, y = wcs.all_world2pix(np.asarray(ra, float), np.asarray(dec, float), 0)
    except NoConvergence as exc:
        xy = np.array(exc.best_solution, dtype=float).reshape(-1, 2)
        for failed in (exc.divergent, exc.slow_conv):
            if failed is not None:
                xy[np.asarray(failed, dtype=int)] = np.nan
        x, y = xy[:, 0], xy[:, 1]
    return np.asarray(x, float), np.asarray(y, float)


def catalogue_candidates(
    sources: Table,
    wcs: WCS,
    catalog_ra: np.ndarray,
    catalog_dec: np.ndarray,
    catalog_mag: np.ndarray,
    *,
    fwhm: float,
    zero_point: float | None = None,
    params: CatalogModeParams | None = None,
    limit: float | None = None,
    mask: np.ndarray | None = None,
) -> Table:
    """The candidates of one frame against a catalogue.

    Parameters
    ----------
    sources : Table
        The frame's detections (:class:`~fluxion.core.detection.extract.Detection`).
    wcs : WCS
        The frame's astrometric solution.
    catalog_ra, catalog_dec, catalog_mag : ndarray
        The reference catalogue around the frame, in the frame's band.
    fwhm : float
        The frame's FWHM (px).
    zero_point : float, optional
        The frame's zero point (catalogue mag of unit flux). Without it the
        offset is measured on the matched stars (:func:`frame_zero_point`).
    params : CatalogModeParams, optional
    limit : float, optional
        The catalogue's completeness limit; default :func:`catalog_limit`.
    mask : ndarray of bool, optional
        The frame's bad pixels: a detection within 1 FWHM of one is rejected.

    Returns
    -------
    Table
        :mod:`.candidates` columns for every detection that is not a
        catalogued star at its catalogued brightness; ``meta['zero_point']``,
        ``meta['catalog_limit']`` and ``meta['n_shape_stars']`` say what it
        was compared with. ``file``, ``frame`` and times are left for the caller.
    """
    p = params or CatalogModeParams()
    if not math.isfinite(fwhm) or fwhm <= 0:
        raise ValueError("the frame's FWHM is needed to match and merge catalogue stars")
    n = len(sources)
    x = np.asarray(sources["x"], dtype=float)
    y = np.asarray(sources["y"], dtype=float)
    flux = np.asarray(sources["flux"], dtype=float)
    flux_err = np.asarray(sources["flux_err"], dtype=float)
    flags = np.asarray(sources["flags"], dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(flux_err > 0, flux / flux_err, np.nan)
        inst = np.where(flux > 0, -2.5 * np.log10(flux), np.nan)
        inst_err = np.where(flux > 0, MAG_PER_LN * flux_err / flux, np.nan)

    cat_mag = np.asarray(catalog_mag, dtype=float)
    cx, cy = _catalogue_pixels(wcs, catalog_ra, catalog_dec)
    inside = np.isfinite(cx) & np.isfinite(cy)
    merged = merge_blends(cx[inside], cy[inside], cat_mag[inside], p.blend_radius * fwhm)
    idx, _ = nearest_within(x, y, merged.x, merged.y, max(p.match_radius * fwhm, 1.0))
    matched = idx >= 0
    counterpart = np.where(matched, merged.mag[np.maximum(idx, 0)], np.nan)
    single = matched & (merged.n_members[np.maximum(idx, 0)] == 1)

    clean = (flags == 0) & np.isfinite(snr)
    if zero_point is None or not math.isfinite(zero_point):
        zero_point, _ = frame_zero_point(inst, counterpart, clean & single & (snr >= 20))
    zp = float(zero_point) if zero_point is not None and math.isfinite(zero_point) else 0.0
    mag = inst + zp
    limit = catalog_limit(cat_mag) if limit is None else float(limit)

    features = shape_features(sources, fwhm)
    model = fit_shape_model(features, snr, clean)
    distance = model.distance(features, snr) if model is not None else np.zeros(n)
    odd = distance > outlier_threshold(p.shape_false_rate)

    diff = counterpart - mag
    # A brightening must be large and significant (5 sigma of the detection's
    # own error), or a faint star's noise would make candidates.
    brighter = matched & (diff >= p.min_mag_diff) & (diff >= 5.0 * inst_err)
    keep = (snr >= p.min_snr) & (~matched | brighter)
    reason = np.full(n, "", dtype="U160")
    too_faint = ~matched & np.isfinite(mag) & (mag > limit - p.catalog_margin)
    reason[too_faint] = f"{Reason.BELOW_CATALOG} (limit {limit:.1f})"
    reason[odd] = Reason.SHAPE
    if p.reject_flagged:
        flagged = _flag_reason(flags, near_masked(x, y, mask, fwhm))
        reason = np.where(flagged != "", flagged, reason)

    rows = np.flatnonzero(keep)
    out = empty_candidates(len(rows))
    ra, dec = wcs.all_pix2world(x[rows], y[rows], 0) if len(rows) else (np.zeros(0),) * 2
    out["ra"], out["dec"] = ra, dec
    out["x"], out["y"] = x[rows], y[rows]
    out["flux"], out["flux_err"] = flux[rows], flux_err[rows]
    out["mag"], out["mag_err"] = mag[rows], inst_err[rows]
    out["score"] = snr[rows]
    out["catalog_mag"] = counterpart[rows]
    out["mag_diff"] = diff[rows]
    out["shape_distance"] = distance[rows]
    out["reason"] = reason[rows]
    out["accepted"] = reason[rows] == ""
    out.meta.update(
        zero_point=zp if zero_point is not None and math.isfinite(zp) else math.nan,
        catalog_limit=limit,
        n_shape_stars=model.n_stars if model is not None else 0,
        mode="catalogue",
    )
    return out
