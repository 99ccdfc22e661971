"""The photometric calibration step: ``ZeroPoint(params)(sources, catalog, filter=...)``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from ..photometry.noise import MAG_PER_LN
from ..runtime.pipeline import StepState
from .apply import (
    aperture_correction_mag_err,
    calibrated_table,
    instrumental_magnitudes,
    pixel_columns,
    split_calibration_error,
)
from .bands import (
    BandError,
    band_for_filter,
    band_system,
    catalog_magnitudes,
    catalog_name,
    colour_index_values,
    default_colour_index,
    solar_colour,
)
from .crossmatch import catalog_sky, match_sources, sky_columns
from .fit import FitError, ZeroPointFit, fit_zero_point
from .params import ZeroPointParams
from .solar import select_solar

__all__ = ["ZeroPoint", "ZeroPointParams", "ZeroPointResult"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ZeroPointResult:
    """One frame's calibration.

    ``calibrated`` is False when the frame could not be calibrated; ``reason``
    then says why, the zero point is NaN and ``sources`` carries instrumental
    magnitudes in ``mag``. ``stars`` holds every matched catalog star with
    ``used`` and ``reason`` (why it was left out or rejected).
    """

    calibrated: bool
    reason: str
    band: str
    colour_index: str
    zero_point: float
    zero_point_err: float
    colour_term: float
    colour_term_err: float
    spatial: dict[str, float]
    spatial_err: dict[str, float]
    intrinsic_scatter: float
    n_stars: int
    chi2: float
    trajectory: Table
    stars: Table
    sources: Table
    notes: tuple[str, ...] = ()
    fit: ZeroPointFit | None = field(default=None, repr=False)

    @property
    def used_stars(self) -> Table:
        """Catalog stars kept in the final fit."""
        return self.stars[self.stars["used"]] if len(self.stars) else self.stars

    @property
    def rejected_stars(self) -> Table:
        """Matched catalog stars left out (cuts or outlier rejection), with the reason."""
        return self.stars[~self.stars["used"]] if len(self.stars) else self.stars


_STAR_COLUMNS = (
    ("source_row", int),
    ("catalog_row", int),
    ("catalog_id", str),
    ("ra", float),
    ("dec", float),
    ("x", float),
    ("y", float),
    ("separation", float),
    ("mag_inst", float),
    ("mag_inst_err", float),
    ("mag_catalog", float),
    ("mag_catalog_err", float),
    ("colour", float),
    ("residual", float),
    ("used", bool),
    ("reason", str),
)


#: Identifier columns of reference catalogs, preferred first (AAVSO's AUID names a
#: comparison star in a variable-star report; the others name it in the catalog).
_ID_COLUMNS = ("auid", "AUID", "name", "source_id", "Source", "objID", "recno", "id", "ID")


def _catalog_ids(catalog: Table, rows: np.ndarray) -> np.ndarray:
    """The catalog's identifier of each matched row ('' when the catalog has none)."""
    col = next((c for c in _ID_COLUMNS if c in catalog.colnames), None)
    if col is None:
        return np.full(len(rows), "", dtype="U1")
    column = catalog[col]
    if not hasattr(column, "mask"):  # a plain column: no masked-array round trip
        return np.char.strip(np.asarray(column)[rows].astype(str))
    values = np.ma.asarray(column)[rows]
    # Whole columns at once: a masked array's elements one by one cost more
    # than the zero-point fit.
    ids = np.char.strip(np.asarray(values.data).astype(str))
    ids[np.ma.getmaskarray(values)] = ""
    return ids


def _empty_stars() -> Table:
    return Table(names=[n for n, _ in _STAR_COLUMNS], dtype=[t for _, t in _STAR_COLUMNS])


def _empty_trajectory() -> Table:
    names = (
        "n_stars",
        "zero_point",
        "zero_point_err",
        "chi2",
        "intrinsic_scatter",
        "rejected",
        "chosen",
    )
    return Table(names=names, dtype=(int, float, float, float, float, int, bool))


class _Failed(Exception):
    """Internal: the frame cannot be calibrated for the reason given."""


class ZeroPoint:
    """Photometric calibration of one frame against a reference catalog.

    Examples
    --------
    >>> step = ZeroPoint(ZeroPointParams(spatial_order=1))  # doctest: +SKIP
    >>> result = step(sources, catalog, filter="V")  # doctest: +SKIP
    >>> result.zero_point, result.sources["mag"]  # doctest: +SKIP
    """

    def __init__(self, params: ZeroPointParams | None = None) -> None:
        self.params = params if params is not None else ZeroPointParams()

    def __call__(
        self,
        sources: Table,
        catalog: Table | None,
        *,
        filter: str | None = None,
        fwhm_arcsec: float | None = None,
        image_shape: tuple[int, int] | None = None,
        exptime: float | None = None,
        catalog_problem: str = "",
        state: StepState | None = None,
        exclude_rows: Sequence[int] = (),
        scintillation: float = 0.0,
    ) -> ZeroPointResult:
        """Calibrate ``sources`` against ``catalog``.

        Parameters
        ----------
        sources : Table
            Photometry of one frame: ``flux``, ``flux_err`` (or ``mag_inst``),
            ``ra``, ``dec``, optionally ``x``, ``y``, ``flags``.
        catalog : Table or None
            Reference stars (``ra``, ``dec`` and band columns); None when the
            catalog could not be had, with ``catalog_problem`` saying why.
        filter : str, optional
            The frame's FILTER value, used when ``params.band`` is ``'auto'``.
        fwhm_arcsec : float, optional
            Seeing FWHM, for the blend cut; without it blends are kept.
        image_shape : (ny, nx), optional
            Frame size; centres the spatial polynomial on the image so that
            zero points of different frames refer to the same point.
        exptime : float, optional
            Exposure time; fluxes are divided by it.
        catalog_problem : str
            Why ``catalog`` is None (e.g. the query's error message).
        state : StepState, optional
            Progress and cancellation.
        exclude_rows : sequence of int
            Rows of ``sources`` never used as calibration stars: a light
            curve's target, whose own changes would otherwise move the zero
            point it is calibrated by (a transit host that weighs 15 % in its
            frame's zero point shows 15 % of its transit less deep).

        scintillation : float
            The frame's relative flux rms from scintillation
            (:mod:`~fluxion.core.photometry.scintillation`): each source's own,
            so added to every ``mag_inst_err`` (the fit weighs the calibration
            stars with it, and the zero point's noise share carries theirs).

        Raises
        ------
        ValueError
            When ``sources`` has no fluxes or instrumental magnitudes at all.
        """
        mag_inst, mag_inst_err, _ = instrumental_magnitudes(sources, exptime)
        if scintillation > 0:
            mag_inst_err = np.hypot(mag_inst_err, MAG_PER_LN * scintillation)
        notes: list[str] = []
        band, colour_index = "", ""
        if state is not None:
            state.progress(0.0, "photometric calibration")
        try:
            band, colour_index = self._band(filter, notes)
            return self._calibrate(
                sources, catalog, mag_inst, mag_inst_err, band, colour_index,
                fwhm_arcsec, image_shape, catalog_problem, notes, state, exclude_rows,
            )  # fmt: skip
        except _Failed as exc:
            reason = str(exc)
            log.info("frame not calibrated: %s", reason)
            if state is not None:
                state.progress(1.0, f"not calibrated: {reason}")
            return self._failure(sources, mag_inst, mag_inst_err, band, colour_index, reason, notes)

    # -- stages ---------------------------------------------------------------
    def _band(self, filter_name: str | None, notes: list[str]) -> tuple[str, str]:
        p = self.params
        try:
            if p.band != "auto":
                band = p.band
                band_system(band)
                notes.append(f"band {band} chosen by hand")
            else:
                band, note = band_for_filter(filter_name, p.clear_band)
                notes.append(note)
            index = default_colour_index(band) if p.colour_index == "auto" else p.colour_index
        except BandError as exc:
            raise _Failed(str(exc)) from exc
        return band, index

    def _calibrate(
        self,
        sources: Table,
        catalog: Table | None,
        mag_inst: np.ndarray,
        mag_inst_err: np.ndarray,
        band: str,
        colour_index: str,
        fwhm_arcsec: float | None,
        image_shape: tuple[int, int] | None,
        catalog_problem: str,
        notes: list[str],
        state: StepState | None,
        exclude_rows: Sequence[int] = (),
    ) -> ZeroPointResult:
        p = self.params
        if catalog is None:
            raise _Failed(f"no reference catalog: {catalog_problem or 'none was given'}")
        if len(catalog) == 0:
            raise _Failed("the reference catalog has no stars in this field")
        if sky_columns(sources) is None:
            raise _Failed("the sources have no sky positions (ra, dec): the frame needs a WCS")
        if catalog_sky(catalog) is None:
            raise _Failed("the reference catalog has no ra, dec columns")
        name = catalog_name(catalog, p.catalog)
        try:
            cat = catalog_magnitudes(catalog, band, name, unnamed=True)
        except BandError as exc:
            raise _Failed(str(exc)) from exc
        notes.append(cat.how)
        fit_colour = p.fit_colour_term
        use_colour = fit_colour or p.colour_term != 0.0
        colour = np.zeros(len(catalog))
        if use_colour:
            try:
                colour, _, how = colour_index_values(catalog, colour_index, name)
                notes.append(f"colour {how}")
            except BandError as exc:
                if fit_colour and p.colour_index == "auto" and p.colour_term == 0.0:
                    # The default colour term where the catalog has no colours (a
                    # one-band file such as "ra, dec, mag"): calibrate without one.
                    notes.append(f"no colour term: {exc}")
                    fit_colour = use_colour = False
                elif fit_colour:
                    raise _Failed(f"colour term asked for but {exc}") from exc
                else:
                    raise _Failed(str(exc)) from exc

        blend_radius = 0.0
        if p.blend_distance > 0 and fwhm_arcsec and fwhm_arcsec > 0:
            blend_radius = p.blend_distance * fwhm_arcsec
        elif p.blend_distance > 0:
            notes.append("FWHM unknown: blended catalog stars were not removed")
        snr = np.where(mag_inst_err > 0, MAG_PER_LN / mag_inst_err, np.nan)
        match = match_sources(
            sources,
            catalog,
            radius=p.matching_radius,
            blend_radius=blend_radius,
            allowed_flags=p.allowed_flags,
            min_snr=p.min_snr,
            snr=snr,
        )
        if state is not None:
            state.progress(0.3, f"matched: {match.summary()}")
        if len(match) == 0:
            raise _Failed(
                f"no measured source lies within {p.matching_radius:g} arcsec of a catalog star "
                "(wrong WCS or catalog of another field?)"
            )
        stars = self._stars_table(
            sources, catalog, match, mag_inst, mag_inst_err, cat, colour, use_colour
        )
        if len(exclude_rows):
            target = np.isin(np.asarray(stars["source_row"]), np.asarray(exclude_rows, int))
            stars["reason"][target & (np.asarray(stars["reason"]) == "")] = "target"
        usable = np.asarray(stars["reason"]) == ""
        if not usable.any():
            kinds = ", ".join(sorted(set(stars["reason"])))
            raise _Failed(f"none of the {len(stars)} matched stars is usable ({kinds})")

        if p.solar_colours:
            usable = self._solar(catalog, name, match, usable, stars, notes)

        xy = pixel_columns(sources)
        if p.spatial_order > 0 and xy is None:
            raise _Failed("a spatial term needs pixel positions (x, y) in the photometry table")
        centre = scale = None
        if image_shape is not None:
            ny, nx = image_shape[:2]
            centre, scale = ((nx - 1) / 2.0, (ny - 1) / 2.0), max(nx, ny) / 2.0
        idx = np.flatnonzero(usable)

        def col(name: str) -> np.ndarray:
            # The usable stars' values as plain arrays (a Column's arithmetic
            # goes through astropy's machinery at every operation).
            return np.asarray(stars[name])[idx]

        delta = col("mag_catalog") - col("mag_inst")
        delta_err = np.hypot(
            np.nan_to_num(col("mag_inst_err")), np.nan_to_num(col("mag_catalog_err"))
        )
        # Stars without any stated error get the median of the others, rather
        # than an infinite weight.
        bad = ~(delta_err > 0)
        if bad.all():
            delta_err[:] = 0.05
            notes.append("no magnitude errors given: 0.05 mag assumed")
        elif bad.any():
            delta_err[bad] = np.median(delta_err[~bad])
        try:
            fit = fit_zero_point(
                np.asarray(delta),
                delta_err,
                colour=col("colour"),
                x=col("x"),
                y=col("y"),
                fit_colour=fit_colour,
                colour_term=p.colour_term,
                spatial_order=p.spatial_order,
                centre=centre,
                scale=scale,
                intrinsic_scatter=p.intrinsic_scatter,
                rejection_sigma=p.rejection_sigma,
                min_stars=p.min_stars,
            )
        except FitError as exc:
            raise _Failed(f"too few calibration stars: {exc}") from exc
        if state is not None:
            state.progress(0.8, f"zero point {fit.zero_point:.3f} +- {fit.zero_point_err:.3f}")
        stars["used"][idx] = fit.used
        stars["residual"][idx] = fit.residual
        stars["reason"][idx[~fit.used]] = "outlier"
        return self._success(
            sources,
            catalog,
            match,
            mag_inst,
            mag_inst_err,
            colour,
            use_colour,
            band,
            colour_index,
            fit,
            stars,
            notes,
        )

    def _stars_table(
        self, sources, catalog, match, mag_inst, mag_inst_err, cat, colour, use_colour
    ) -> Table:
        p = self.params
        s, c = match.source_index, match.catalog_index
        sky = catalog_sky(catalog)
        if sky is None:  # run() refuses such a catalog before matching
            raise ValueError("the catalog has no RA/Dec columns")
        ra, dec = sky.ra, sky.dec
        xy = pixel_columns(sources)
        if xy is not None:
            x, y = xy[0][s], xy[1][s]
        else:
            x = y = np.full(len(s), np.nan)
        mag_cat = cat.mag[c]
        own = mag_inst[s]
        star_colour = colour[c]
        reason = np.array(match.reason, dtype="U32")
        free = reason == ""
        reason[free & ~np.isfinite(own)] = "no flux"
        reason[(reason == "") & ~np.isfinite(mag_cat)] = "no catalog magnitude"
        reason[(reason == "") & (mag_cat > p.faint_limit)] = "faint"
        if use_colour:
            reason[(reason == "") & ~np.isfinite(star_colour)] = "no colour"
        values = (
            s, c, _catalog_ids(catalog, c), ra[c], dec[c], x, y, match.separation,
            own, mag_inst_err[s], mag_cat, cat.mag_err[c], star_colour,
            np.full(len(s), np.nan), np.zeros(len(s), bool), reason,
        )  # fmt: skip
        # One table of plain arrays at once: astropy's column by column
        # assignment cost as much as the fit.
        return Table(list(values), names=[n for n, _ in _STAR_COLUMNS], copy=True)

    def _solar(self, catalog, name, match, usable, stars, notes) -> np.ndarray:
        p = self.params
        colours: dict[str, np.ndarray] = {}
        for group in (("g-r", "r-i"), ("B-V",), ("V-R",)):
            try:
                colours = {
                    ix: colour_index_values(catalog, ix, name)[0][match.catalog_index]
                    for ix in group
                }
                break
            except BandError:
                continue
        if not colours:
            notes.append(
                "solar colours asked for but the catalog has no g-r, r-i or B-V: all stars used"
            )
            return usable
        sel = select_solar(
            colours, tolerance=p.solar_tolerance, min_stars=p.min_stars, candidates=usable
        )
        notes.append(sel.note)
        stars["reason"][usable & ~sel.mask] = "not solar colour"
        return sel.mask

    def _success(
        self,
        sources,
        catalog,
        match,
        mag_inst,
        mag_inst_err,
        colour,
        use_colour,
        band,
        colour_index,
        fit,
        stars,
        notes,
    ) -> ZeroPointResult:
        p = self.params
        # Colour of every source for the colour term: its catalog colour when
        # it is a matched star, else a typical colour (the Sun's in solar
        # mode, else the median of the calibration stars) - said in the notes.
        assumed = 0.0
        if use_colour:
            used_colours = np.asarray(stars["colour"])[np.asarray(stars["used"], bool)]
            assumed = float(np.median(used_colours)) if len(used_colours) else 0.0
            if p.solar_colours:
                try:
                    assumed = solar_colour(colour_index)
                except BandError:
                    pass
            notes.append(
                f"sources without a catalog colour are given {colour_index} = {assumed:.3f}"
            )
        src_colour = np.full(len(sources), assumed)
        if use_colour:
            matched_colour = colour[match.catalog_index]
            ok = np.isfinite(matched_colour)
            src_colour[match.source_index[ok]] = matched_colour[ok]
        table = calibrated_table(sources, mag_inst, mag_inst_err, fit=fit, colour=src_colour)
        split_calibration_error(table, stars, fit)
        _shared_noise(table, stars, fit, mag_inst_err)
        # The zero point of aperture-corrected fluxes carries the frame's
        # correction error (the fit saw each star's own error only); a
        # source's calibrated magnitude does not: the correction cancels in it.
        zp_err = float(np.hypot(fit.zero_point_err, aperture_correction_mag_err(sources)))
        table.meta["zero_point_err"] = zp_err
        table.meta["band"] = band
        names = [f"x{px}y{py}" for px, py in fit.spatial_exponents]
        return ZeroPointResult(
            calibrated=True,
            reason="",
            band=band,
            colour_index=colour_index if use_colour else "",
            zero_point=fit.zero_point,
            zero_point_err=zp_err,
            colour_term=fit.colour_term,
            colour_term_err=fit.colour_term_err,
            spatial=dict(zip(names, map(float, fit.spatial), strict=True)),
            spatial_err=dict(zip(names, map(float, fit.spatial_err), strict=True)),
            intrinsic_scatter=fit.intrinsic_scatter,
            n_stars=fit.n_stars,
            chi2=fit.chi2,
            trajectory=fit.trajectory,
            stars=stars,
            sources=table,
            notes=tuple(notes),
            fit=fit,
        )

    def _failure(
        self, sources, mag_inst, mag_inst_err, band, colour_index, reason, notes
    ) -> ZeroPointResult:
        table = calibrated_table(sources, mag_inst, mag_inst_err, fit=None, reason=reason)
        return ZeroPointResult(
            calibrated=False,
            reason=reason,
            band=band,
            colour_index=colour_index,
            zero_point=float("nan"),
            zero_point_err=float("nan"),
            colour_term=float("nan"),
            colour_term_err=float("nan"),
            spatial={},
            spatial_err={},
            intrinsic_scatter=float("nan"),
            n_stars=0,
            chi2=float("nan"),
            trajectory=_empty_trajectory(),
            stars=_empty_stars(),
            sources=table,
            notes=tuple(notes),
        )


def _shared_noise(table: Table, stars: Table, fit: ZeroPointFit, mag_inst_err: np.ndarray) -> None:
    """A calibration star's magnitude error less the noise it shares with the zero point.

    ``mag = m_inst + ZP`` and the fit's ZP holds ``-h`` times the star's own
    noise (h: its leverage), so the noise enters as ``(1 - h)``: the variance
    is ``sigma^2 + sigma_ZP^2 - 2 h sigma^2``, not the sum. A bright star
    that weighs in its frame's zero point had its light curve errors
    overstated by that much (``sigma_ZP`` already holds ``h^2 sigma^2``).
    """
    if fit.leverage is None or not len(stars):
        return
    # The kept stars, in the fit's order (its input was the usable stars).
    idx = np.flatnonzero(np.asarray(stars["used"], bool))
    lev = np.asarray(fit.leverage, float)[np.asarray(fit.used, bool)]
    if len(lev) != len(idx):
        return
    rows = np.asarray(stars["source_row"], int)[idx]
    err = np.array(table["mag_err"], dtype=float)
    own = np.nan_to_num(np.asarray(mag_inst_err, float)[rows])
    var = err[rows] ** 2 - 2.0 * lev * own**2
    err[rows] = np.sqrt(np.clip(var, ((1.0 - lev) * own) ** 2, None))
    table["mag_err"] = err
