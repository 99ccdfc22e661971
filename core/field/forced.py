"""Forced photometry of every star of a field: the star list and one frame's measurement.

The star list is made once per night, in the reference frame's pixels: the
stars detected there that are seen again in most frames (an asteroid or a
satellite in the reference frame is not a star), and, when the frames have
a WCS and a catalogue is given, the catalogue's stars on the frame that were
not detected (the faint ones, measured in every frame at their place too).
Each star carries its catalogue magnitude and colour when the catalogue has
it (for magnitude fitting's colour term and scale).

Each frame is then measured with apertures at every star's predicted place
(:func:`measure_field_frame`), so a star has a point in every frame where it
is on the detector, bright or faint, detected there or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from ..photometry.aperture import measure_apertures
from ..photometry.flags import PhotometryFlag
from ..photometry.noise import NoiseModel
from ..runtime.params import param
from .flags import FieldFlag

__all__ = ["ForcedParams", "star_list", "measure_field_frame", "confirmed"]


@dataclass(frozen=True)
class ForcedParams:
    """How every star of the field is measured."""

    aperture_fwhm: float = param(
        1.5, label="Aperture radius", unit="FWHM", minimum=0.5, maximum=10.0,
        help="Radius of the apertures in units of the night's median FWHM (one radius for "
        "the whole night: magnitude fitting takes out what the seeing changes).",
    )  # fmt: skip
    aperture_radius: float = param(
        0.0, label="Aperture radius (px)", unit="px", minimum=0.0, maximum=100.0,
        help="A fixed radius in pixels instead (0: from the FWHM).",
    )  # fmt: skip
    annulus_inner: float = param(
        4.0, label="Sky annulus inner", unit="FWHM", minimum=1.0, maximum=30.0,
        help="Inner radius of the sky annulus.",
    )  # fmt: skip
    annulus_outer: float = param(
        6.0, label="Sky annulus outer", unit="FWHM", minimum=1.5, maximum=50.0,
        help="Outer radius of the sky annulus.",
    )  # fmt: skip
    min_seen: float = param(
        0.5, label="Seen in frames", minimum=0.0, maximum=1.0,
        help="A source of the reference frame must be detected again in this fraction of "
        "the frames to be a star (moving objects are not).",
    )  # fmt: skip
    catalog_stars: bool = param(
        True, label="Catalogue stars",
        help="Also measure the catalogue's stars on the frame that were not detected.",
    )  # fmt: skip
    catalog_limit: float = param(
        0.0, label="Faintest catalogue star", unit="mag", minimum=0.0, maximum=30.0,
        help="Catalogue stars fainter than this are not added (0: all the catalogue holds).",
    )  # fmt: skip
    match_radius: float = param(
        2.0, label="Match radius", unit="px", minimum=0.3, maximum=20.0,
        help="A detection and a catalogue star (or a star's place in another frame) closer "
        "than this are the same star.",
    )  # fmt: skip

    def radii(self, fwhm: float) -> tuple[float, tuple[float, float]]:
        """Aperture radius and sky annulus (px) for a night of median FWHM ``fwhm``."""
        f = fwhm if np.isfinite(fwhm) and fwhm > 0 else 3.0
        r = self.aperture_radius if self.aperture_radius > 0 else self.aperture_fwhm * f
        inner = max(self.annulus_inner * f, r + 1.0)
        outer = max(self.annulus_outer * f, inner + 2.0)
        return float(r), (float(inner), float(outer))


def confirmed(xy_ref: np.ndarray, seen_xy: list[np.ndarray | None], radius: float) -> np.ndarray:
    """How many frames detected a source within ``radius`` of each position.

    ``seen_xy[i]`` are frame ``i``'s detections carried into the reference
    frame's pixels (None for a frame that cannot be placed).
    """
    count = np.zeros(len(xy_ref), int)
    for xy in seen_xy:
        if xy is None or len(xy) == 0 or len(xy_ref) == 0:
            continue
        d, _ = cKDTree(np.asarray(xy, float)).query(np.asarray(xy_ref, float))
        count += d <= radius
    return count


def star_list(
    sources: Table,
    shape: tuple[int, int],
    *,
    seen: np.ndarray | None = None,
    n_frames: int = 1,
    wcs=None,
    catalog: Table | None = None,
    catalog_mag: np.ndarray | None = None,
    colour: np.ndarray | None = None,
    params: ForcedParams | None = None,
) -> Table:
    """The night's stars in the reference frame's pixels.

    Parameters
    ----------
    sources : Table
        The reference frame's detections (``x``, ``y``, and ``flux`` to order them).
    shape : (ny, nx)
        The reference frame's size.
    seen : ndarray of int, optional
        Per detection, the frames that detected it again (:func:`confirmed`);
        detections seen in fewer than ``min_seen`` of ``n_frames`` are dropped.
    wcs : astropy.wcs.WCS, optional
        The reference frame's WCS (gives ``ra``, ``dec`` and places catalogue stars).
    catalog : Table, optional
        Reference stars (``ra``, ``dec``) with ``catalog_mag`` and ``colour``
        per row (NaN where unknown).
    params : ForcedParams, optional

    Returns
    -------
    Table
        ``star_id`` (1, 2, ... brightest detection first, catalogue-only stars
        after), ``x_ref``, ``y_ref``, ``ra``, ``dec``, ``catalog_mag``,
        ``colour``, ``detected``.
    """
    p = params or ForcedParams()
    ny, nx = shape
    xy = np.column_stack([np.asarray(sources["x"], float), np.asarray(sources["y"], float)])
    keep = np.all(np.isfinite(xy), axis=1)
    if seen is not None and n_frames > 1:
        keep &= np.asarray(seen) >= p.min_seen * n_frames
    if "flux" in sources.colnames:
        order = np.argsort(-np.nan_to_num(np.asarray(sources["flux"], float), nan=-np.inf))
        order = order[keep[order]]
    else:
        order = np.flatnonzero(keep)
    xy = xy[order]
    detected = np.ones(len(xy), bool)
    n_cat = 0 if catalog is None else len(catalog)
    cat_mag = np.full(len(xy), np.nan)
    cat_colour = np.full(len(xy), np.nan)
    ra = dec = np.full(len(xy), np.nan)
    if wcs is not None and len(xy):
        ra, dec = (np.asarray(v, float) for v in wcs.pixel_to_world_values(xy[:, 0], xy[:, 1]))
    if wcs is not None and catalog is not None and n_cat:
        mags = np.full(n_cat, np.nan) if catalog_mag is None else np.asarray(catalog_mag, float)
        cols = np.full(n_cat, np.nan) if colour is None else np.asarray(colour, float)
        sky = (np.asarray(catalog["ra"], float), np.asarray(catalog["dec"], float))
        cx, cy = (np.asarray(v, float) for v in wcs.world_to_pixel_values(*sky))
        on = np.isfinite(cx) & np.isfinite(cy) & (cx >= 0) & (cx <= nx - 1)
        on &= (cy >= 0) & (cy <= ny - 1)
        cat_xy = np.column_stack([cx, cy])
        if len(xy) and on.any():
            d, k = cKDTree(cat_xy[on]).query(xy)
            hit = d <= p.match_radius
            rows = np.flatnonzero(on)[k[hit]]
            cat_mag[hit], cat_colour[hit] = mags[rows], cols[rows]
        if p.catalog_stars:
            extra = on.copy()
            if p.catalog_limit > 0:
                extra &= ~(mags > p.catalog_limit)
            if len(xy) and extra.any():
                d, _ = cKDTree(xy).query(cat_xy[extra])
                idx = np.flatnonzero(extra)
                extra[idx[d <= 2.0 * p.match_radius]] = False
            idx = np.flatnonzero(extra)
            idx = idx[np.argsort(np.nan_to_num(mags[idx], nan=np.inf))]
            xy = np.vstack([xy, cat_xy[idx]]) if len(idx) else xy
            detected = np.concatenate([detected, np.zeros(len(idx), bool)])
            cat_mag = np.concatenate([cat_mag, mags[idx]])
            cat_colour = np.concatenate([cat_colour, cols[idx]])
            ra = np.concatenate([ra, np.asarray(catalog["ra"], float)[idx]])
            dec = np.concatenate([dec, np.asarray(catalog["dec"], float)[idx]])
    out = Table()
    out["star_id"] = np.arange(1, len(xy) + 1, dtype=np.int64)
    out["ra"] = ra if len(ra) == len(xy) else np.full(len(xy), np.nan)
    out["dec"] = dec if len(dec) == len(xy) else np.full(len(xy), np.nan)
    out["x_ref"] = xy[:, 0] if len(xy) else np.zeros(0)
    out["y_ref"] = xy[:, 1] if len(xy) else np.zeros(0)
    out["catalog_mag"] = cat_mag
    out["colour"] = cat_colour
    out["detected"] = detected
    return out


def measure_field_frame(
    image: np.ndarray,
    star_id: np.ndarray,
    xy: np.ndarray,
    radius: float,
    annulus: tuple[float, float],
    *,
    mask: np.ndarray | None = None,
    read_noise: float = 0.0,
    saturation: float | None = None,
    detections: np.ndarray | None = None,
    match_radius: float = 2.0,
) -> Table:
    """One frame's forced aperture photometry of the stars at ``xy``.

    Parameters
    ----------
    image : ndarray
        The calibrated frame in electrons.
    star_id : ndarray (n,)
    xy : ndarray (n, 2)
        Each star's place in this frame (NaN: not placed there).
    radius, annulus : float, (float, float)
        Aperture and sky annulus radii (px).
    mask : ndarray of bool, optional
        Bad pixels (cosmic rays, hot pixels).
    read_noise : float
        e-.
    saturation : float, optional
        Saturation level in electrons.
    detections : ndarray (m, 2), optional
        The frame's own detections: one that is no listed star and falls in a
        star's aperture (an asteroid passing) flags the star ``TRANSIENT``.
    match_radius : float
        A detection this close to a star is that star.

    Returns
    -------
    Table
        ``star_id``, ``x``, ``y``, ``flux``, ``flux_err`` (e-), ``flags``,
        ``sky`` (e-/px), ``sky_rms`` and ``area``, one row per star on the frame.
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    ny, nx = image.shape
    placed = np.all(np.isfinite(xy), axis=1)
    on = placed & (xy[:, 0] >= 0) & (xy[:, 0] <= nx - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= ny - 1)
    rows = np.flatnonzero(on)
    table = measure_apertures(
        image, xy[rows], radius, annulus, noise=NoiseModel(1.0, float(read_noise)),
        mask=mask, saturation=saturation, contamination_radius=radius,
    )  # fmt: skip
    flags = np.asarray(table["flags"], dtype=np.int64)
    if detections is not None and len(detections) and len(rows):
        det = np.asarray(detections, float).reshape(-1, 2)
        d_star, _ = cKDTree(xy[rows]).query(det)
        stray = det[d_star > match_radius]
        if len(stray):
            d, _ = cKDTree(stray).query(xy[rows])
            flags[d <= radius + match_radius] |= int(FieldFlag.TRANSIENT)
    table["flags"] = flags
    table.add_column(np.asarray(star_id, np.int64)[rows], name="star_id", index=0)
    # Stars placed but off this frame, and stars not placed, are absent from
    # the table: the long table flags them OUTSIDE.
    table.meta["flag_names"] = {f.name: int(f.value) for f in PhotometryFlag}
    return table
