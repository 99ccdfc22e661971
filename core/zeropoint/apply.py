"""Instrumental magnitudes in, calibrated magnitudes out, for every source.

A frame that could not be calibrated keeps its instrumental magnitudes in the
``mag`` column, ``calibrated`` is False and ``meta['zeropoint_reason']`` says
why, so downstream steps (light curves, export) always find the same columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from ..photometry.noise import MAG_PER_LN

if TYPE_CHECKING:
    from .fit import ZeroPointFit
    from .step import ZeroPointResult

__all__ = [
    "aperture_correction_mag_err",
    "calibrated_table",
    "instrumental_magnitudes",
    "pixel_columns",
    "split_calibration_error",
    "zero_point_table",
]

_X_NAMES = ("x", "xcentroid", "x_fit", "xcenter", "X_IMAGE", "x_0")
_Y_NAMES = ("y", "ycentroid", "y_fit", "ycenter", "Y_IMAGE", "y_0")


def _float(col: object) -> np.ndarray:
    """A column as a new float array, NaN where it is masked."""
    if not hasattr(col, "mask"):
        # A plain column: the masked-array round trip below cost more than the
        # arithmetic it serves.
        return np.array(col, dtype=float)
    arr: np.ma.MaskedArray = np.ma.asarray(col)
    return np.asarray(np.ma.filled(arr.astype(float), np.nan), dtype=float)


def pixel_columns(table: Table) -> tuple[np.ndarray, np.ndarray] | None:
    """Pixel positions from the usual column names, or None."""
    x = next((c for c in _X_NAMES if c in table.colnames), None)
    y = next((c for c in _Y_NAMES if c in table.colnames), None)
    if x is None or y is None:
        return None
    return _float(table[x]), _float(table[y])


def aperture_correction_mag_err(table: Table) -> float:
    """The frame's aperture-correction error in magnitudes (0 when none was applied).

    The photometry step multiplies every aperture flux of a frame by one
    curve-of-growth correction and adds its error to each ``flux_err``
    (``meta['aperture_correction']``, ``meta['aperture_correction_err']``).
    A colour camera's table (``meta['channels']``) gives 0: its channels were
    corrected one by one.
    """
    if "channels" in table.meta:
        # A colour camera's channels each had their own correction; the meta
        # holds one grid's only, which says nothing of the other rows' errors.
        return 0.0
    corr = table.meta.get("aperture_correction")
    corr_err = table.meta.get("aperture_correction_err")
    try:
        value = MAG_PER_LN * float(corr_err) / float(corr)
    except (TypeError, ValueError, ZeroDivisionError):
        return 0.0
    return value if np.isfinite(value) and value > 0 else 0.0


def instrumental_magnitudes(
    table: Table, exptime: float | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """Instrumental magnitude and error of every source.

    From ``flux``/``flux_err`` (any unit; divided by ``exptime`` when given so
    that zero points of different exposures compare), else from an existing
    ``mag_inst`` column (or ``mag_inst_<band>``) with ``mag_inst_err`` or
    ``mag_error``. Non-positive fluxes give NaN.

    The error is each source's own: the frame's aperture-correction error
    (:func:`aperture_correction_mag_err`), which the photometry step folds
    into ``flux_err``, is taken out again. It is one factor shared by every
    source of the frame, so it cancels between a source and the calibration
    stars (the zero point absorbs it) and between a target and its comparison
    stars; counted per source it made a bright star's calibrated light curve
    errors up to 2x its scatter and it was averaged down in the zero-point fit
    as though each star had its own. It belongs to the zero point's error.

    Raises
    ------
    ValueError
        When the table has neither fluxes nor instrumental magnitudes.
    """
    if "flux" in table.colnames:
        flux = _float(table["flux"])
        if exptime is not None and exptime > 0:
            flux = flux / exptime
        err = (
            _float(table["flux_err"])
            if "flux_err" in table.colnames
            else np.full(len(table), np.nan)
        )
        if exptime is not None and exptime > 0:
            err = err / exptime
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = np.where(flux > 0, -2.5 * np.log10(np.where(flux > 0, flux, 1.0)), np.nan)
            mag_err = MAG_PER_LN * np.abs(err / flux)
            # flux_err = hypot(own, flux * corr_err / corr): the shared term out again.
            common = aperture_correction_mag_err(table)
            own = mag_err**2 - common**2
            mag_err = np.where(own > 0, np.sqrt(np.abs(own)), mag_err)
        note = "from flux" + (f" per second ({exptime:g} s)" if exptime else "")
        return mag, np.where(np.isfinite(mag), mag_err, np.nan), note
    mag_col = "mag_inst" if "mag_inst" in table.colnames else None
    if mag_col is None:
        mag_col = next((c for c in table.colnames if c.startswith("mag_inst")), None)
    if mag_col is None:
        raise ValueError(
            "the photometry table has no flux column and no instrumental magnitude "
            "(mag_inst) column"
        )
    err_col = next(
        (
            c
            for c in (f"{mag_col}_err", "mag_inst_err", "mag_error", "mag_err")
            if c in table.colnames
        ),
        None,
    )
    mag = _float(table[mag_col])
    err = _float(table[err_col]) if err_col else np.full(len(table), np.nan)
    return mag, err, f"from column {mag_col}"


def calibrated_table(
    sources: Table,
    mag_inst: np.ndarray,
    mag_inst_err: np.ndarray,
    *,
    fit: ZeroPointFit | None,
    colour: np.ndarray | None = None,
    reason: str = "",
) -> Table:
    """A copy of ``sources`` with ``mag``, ``mag_err``, ``mag_inst``, ``calibrated``.

    Parameters
    ----------
    sources : Table
        The measured sources (not modified).
    mag_inst, mag_inst_err : ndarray
        Instrumental magnitudes of every source.
    fit : ZeroPointFit or None
        The frame's calibration; None keeps instrumental magnitudes.
    colour : ndarray, optional
        Colour of each source used with the colour term (the catalog colour
        of matched stars, an assumed colour for the others).
    reason : str
        Why the frame is not calibrated (when ``fit`` is None).
    """
    out = sources.copy(copy_data=True)
    out["mag_inst"] = mag_inst
    out["mag_inst_err"] = mag_inst_err
    if fit is None:
        out["mag"] = mag_inst
        out["mag_err"] = mag_inst_err
        out["mag_err_sys"] = np.zeros(len(out))
        out["calibrated"] = np.zeros(len(out), bool)
        out.meta["zeropoint_reason"] = reason or "not calibrated"
        return out
    n = len(out)
    colour = np.zeros(n) if colour is None else np.asarray(colour, float)
    xy = pixel_columns(out)
    x, y = xy if xy is not None else (np.full(n, fit.centre[0]), np.full(n, fit.centre[1]))
    offset, offset_err = fit.offset(np.nan_to_num(colour), x, y)
    mag = mag_inst + offset
    out["mag"] = mag
    # The model error at the source is added to its measurement error; the
    # intrinsic scatter is not, because it describes the calibration stars'
    # catalog and colour mismatch, not the source. All of it is in mag_err
    # until split_calibration_error parts the night-common share.
    out["mag_err"] = np.hypot(mag_inst_err, offset_err)
    out["mag_err_sys"] = np.zeros(n)
    out["mag_colour"] = colour
    out["calibrated"] = np.isfinite(mag)
    out.meta["zero_point"] = fit.zero_point
    out.meta["zero_point_err"] = fit.zero_point_err
    out.meta["colour_term"] = fit.colour_term
    out.meta.pop("zeropoint_reason", None)
    return out


def split_calibration_error(table: Table, stars: Table, fit: ZeroPointFit) -> None:
    """Part a calibrated table's ``mag_err`` into per-frame noise and the night's common error.

    The zero point's error at a source holds three things: the calibration
    stars' own measurement noise, their catalog errors and the fitted
    intrinsic scatter. The noise is new in every frame; the catalog errors
    (and the colour and catalog mismatch the intrinsic scatter stands for)
    are the same stars' in every frame of the night, so they move a light
    curve as a whole and do not scatter its points. Counted in each point
    they made a bright star's light curve errors ~1.6x its scatter.

    ``mag_err`` keeps the source's own error and the zero point's noise
    share (the fit's weights applied to the stars' measurement variances);
    ``mag_err_sys`` gets the rest of the zero point's error, so that
    ``hypot(mag_err, mag_err_sys)`` is the magnitude's whole error (what an
    absolute magnitude, e.g. an AAVSO report, carries).

    Parameters
    ----------
    table : Table
        The frame's calibrated sources (:func:`calibrated_table`), changed in place.
    stars : Table
        The matched calibration stars with ``used``, ``colour``, ``x``, ``y``,
        ``mag_inst_err`` and ``mag_catalog_err``; the used ones are the fit's
        kept stars in the fit's order.
    fit : ZeroPointFit
        The frame's calibration.
    """
    n = len(table)
    if n == 0 or not len(stars) or "mag_err_sys" not in table.colnames:
        return
    used = np.asarray(stars["used"], bool)
    if int(used.sum()) != fit.n_stars:
        return
    own = np.nan_to_num(_float(stars["mag_inst_err"])[used])
    var = own**2 + np.nan_to_num(_float(stars["mag_catalog_err"])[used]) ** 2
    # As the fit weighed them: stars without an error got the others' median.
    bad = ~(var > 0)
    if bad.all():
        return
    var[bad] = np.median(var[~bad])
    var = var + fit.intrinsic_scatter**2
    colours, xs, ys = (_float(stars[c])[used] for c in ("colour", "x", "y"))
    a = fit.design(colours, xs, ys)
    cov = np.linalg.inv((a.T / var) @ a)
    gain = cov @ (a.T / var)  # the parameters' change per unit change of each star's delta
    noise_cov = (gain * own**2) @ gain.T
    colour = np.nan_to_num(_float(table["mag_colour"])) if "mag_colour" in table.colnames else None
    xy = pixel_columns(table)
    if colour is None:
        colour = np.zeros(n)
    x, y = xy if xy is not None else (np.full(n, fit.centre[0]), np.full(n, fit.centre[1]))
    rows = fit.design(colour, x, y)
    noise = np.einsum("ij,jk,ik->i", rows, noise_cov, rows)
    total = np.einsum("ij,jk,ik->i", rows, fit.covariance, rows)
    inst = _float(table["mag_inst_err"])
    table["mag_err"] = np.where(np.isfinite(table["mag"]), np.sqrt(inst**2 + noise), np.nan)
    table["mag_err_sys"] = np.sqrt(np.clip(total - noise, 0.0, None))


def zero_point_table(files: Sequence[str], results: Sequence[ZeroPointResult]) -> Table:
    """The per-frame table (``zeropoints.ecsv``): one row per frame, failures included."""
    rows = []
    for name, r in zip(files, results, strict=True):
        rows.append(
            (
                str(name),
                r.band,
                r.zero_point,
                r.zero_point_err,
                r.colour_index,
                r.colour_term,
                r.colour_term_err,
                r.intrinsic_scatter,
                r.n_stars,
                r.chi2,
                r.calibrated,
                r.reason,
            )
        )
    names = (
        "file",
        "band",
        "zero_point",
        "zero_point_err",
        "colour_index",
        "colour_term",
        "colour_term_err",
        "intrinsic_scatter",
        "n_stars",
        "chi2",
        "calibrated",
        "reason",
    )
    dtype = (str, str, float, float, str, float, float, float, int, float, bool, str)
    if not rows:
        return Table(names=names, dtype=dtype)
    return Table(rows=rows, names=names, dtype=dtype)
