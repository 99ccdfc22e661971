"""A light curve made ready for a transit fit: times, relative flux, errors, regressors.

Two kinds of tables are read:

* what ``fluxion lightcurve`` / ``fluxion run`` write: the differential
  magnitude ``mag`` (target against the comparison ensemble) becomes relative
  flux, ``10^(-0.4 (mag - median))``; ``flux`` there is the target's raw
  count and is not used as the signal. Per-frame ``airmass``, ``fwhm``,
  ``sky``, ``x``, ``y`` and ``comp_flux`` (the ensemble's counts) become
  systematics regressors.
* what ``fluxion run`` writes into a project from calibrated frames (a
  ``calibrated`` column; when the run measured against comparison stars it
  is the first kind, and ``calibrated`` is not looked at): the
  target's counts ``flux``, with the frame's zero point (``mag`` + 2.5 log10
  ``flux``, which the field's catalog stars measured) as the ``comp_flux``
  regressor of the night's transparency. The zero point's own noise stays out
  of the flux: on the demo's transit night its magnitudes scattered 4.5 mmag
  point to point against the counts' 2.8 ppt. Frames the zero point did not
  calibrate are left out and counted; a curve with none is refused: nothing
  then tells a transit from the night's extinction and clouds (the TrES-1
  night's counts gave an 11 % "transit").
* any table with ``bjd_tdb``, ``flux`` and ``flux_err`` (relative flux, as other
  programs export it), with ``airmass`` and the other regressors when present.

Rows without a time, flux or error, and rows flagged by the photometry, are
left out and counted. The mid-time is only meaningful on BJD_TDB: a table
without it is refused with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..photometry.noise import MAG_PER_LN
from ..runtime.quiet import quiet

__all__ = ["TransitData", "TransitDataError", "transit_data_from_table", "read_transit_data"]

_REGRESSOR_COLUMNS = ("airmass", "fwhm", "sky", "x", "y", "comp_flux")


class TransitDataError(ValueError):
    """The light curve cannot be fitted; the message names the file and the cause."""


@dataclass(frozen=True)
class TransitData:
    """The light curve of one transit, in time order.

    Attributes
    ----------
    t : ndarray
        Mid-exposure BJD_TDB.
    flux, flux_err : ndarray
        Relative flux (median 1) and its 1-sigma error.
    columns : dict
        Per-frame regressors by name (airmass, fwhm, sky, x, y, comp_flux).
    files : list of str
        Frame names, when the table has them.
    exposure_s : float or None
        Exposure time (s), when the table says it.
    filter : str or None
        Filter name, when the table says it.
    dropped : dict
        Why rows were left out -> how many.
    source : str
        Which column the flux came from.
    """

    t: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    exposure_s: float | None = None
    filter: str | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    source: str = "flux"

    def __len__(self) -> int:
        return int(self.t.size)

    def subset(self, keep: np.ndarray) -> TransitData:
        """The same light curve with only the rows where ``keep`` is True."""
        keep = np.asarray(keep, dtype=bool)
        return TransitData(
            t=self.t[keep], flux=self.flux[keep], flux_err=self.flux_err[keep],
            columns={k: v[keep] for k, v in self.columns.items()},
            files=[f for f, k in zip(self.files, keep, strict=True) if k] if self.files else [],
            exposure_s=self.exposure_s, filter=self.filter, dropped=dict(self.dropped),
            source=self.source,
        )  # fmt: skip


def _column(table: Table, name: str) -> np.ndarray | None:
    if name not in table.colnames:
        return None
    col = table[name]
    values: np.ndarray = np.ma.filled(
        np.ma.asarray(getattr(col, "value", col), dtype=float), np.nan
    )
    return np.asarray(values, dtype=float)


def transit_data_from_table(table: Table, name: str = "the light curve") -> TransitData:
    """Relative flux, errors and regressors from a light-curve table.

    Parameters
    ----------
    table : Table
    name : str
        How to call the table in messages (its file name).

    Raises
    ------
    TransitDataError
        No BJD_TDB, no flux, or too few usable rows.
    """
    t = _column(table, "bjd_tdb")
    if t is None or not np.any(np.isfinite(t)):
        raise TransitDataError(
            f"{name}: no bjd_tdb times. A mid-transit time needs BJD_TDB: make the light "
            "curve from frames with a WCS or give the target's RA/Dec, or add a bjd_tdb column"
        )
    mag, mag_err = _column(table, "mag"), _column(table, "mag_err")
    flux, flux_err = _column(table, "flux"), _column(table, "flux_err")
    # Fluxion's own light curves: the differential magnitudes, even with a flux column.
    fluxion_curve = "comparison_stars" in table.meta or "n_comparison" in table.colnames
    # Against comparison stars the frames' zero points do not matter.
    calibrated = None if fluxion_curve else _column(table, "calibrated")
    if calibrated is not None and not np.any(calibrated == 1):
        raise TransitDataError(
            f"{name}: not a differential light curve: no comparison stars, and no frame's "
            "magnitudes are on a catalog's scale (the photometric calibration failed or was "
            "not run), so the target's counts carry the night's extinction and clouds. "
            "Measure the light curve with comparison stars (the Light curve panel, or "
            "fluxion lightcurve), or calibrate the frames photometrically"
        )
    if mag is not None and mag_err is not None and (fluxion_curve or flux is None):
        ref = float(np.nanmedian(mag))
        rel = 10 ** (-0.4 * (mag - ref))
        err = rel * mag_err / MAG_PER_LN
        source = "mag (differential magnitude against the comparison ensemble)"
    elif flux is not None:
        if flux_err is None:
            raise TransitDataError(f"{name}: a flux column but no flux_err")
        scale = float(np.nanmedian(flux))
        if not scale > 0:
            raise TransitDataError(f"{name}: the flux column's median is not positive")
        rel, err = flux / scale, flux_err / scale
        source = "flux"
        if calibrated is not None:
            source = "flux (the target's counts; the frame's zero point as comp_flux)"
    else:
        raise TransitDataError(f"{name}: no flux (flux, flux_err) or magnitude (mag, mag_err)")
    n = t.size
    dropped: dict[str, int] = {}
    good = np.isfinite(t) & np.isfinite(rel) & np.isfinite(err) & (err > 0)
    if (~good).any():
        dropped["no time, flux or error"] = int((~good).sum())
    if calibrated is not None and np.any(good & (calibrated != 1)):
        # Not on the catalog's scale: the frame's extinction is in its magnitude.
        dropped["not photometrically calibrated"] = int(np.sum(good & (calibrated != 1)))
        good &= calibrated == 1
    flags = _column(table, "flags")
    if flags is not None:
        flagged = good & (np.nan_to_num(flags, nan=0.0) != 0)
        if flagged.any() and flagged.sum() < 0.5 * good.sum():
            dropped["flagged by the photometry"] = int(flagged.sum())
            good &= ~flagged
    if good.sum() < 10:
        raise TransitDataError(f"{name}: only {int(good.sum())} usable points of {n}; need 10")
    order = np.argsort(t[good], kind="stable")
    idx = np.flatnonzero(good)[order]
    columns = {}
    extra = {}
    if calibrated is not None and mag is not None and source.startswith("flux"):
        # The frame's throughput, 10^(0.4 zero point): the ensemble of its catalog stars.
        with np.errstate(invalid="ignore", divide="ignore"):
            extra["comp_flux"] = flux * 10 ** (0.4 * (mag - np.nanmedian(mag)))
    for c in _REGRESSOR_COLUMNS:
        v = extra.get(c, _column(table, c))
        if v is not None and np.all(np.isfinite(v[idx])):
            columns[c] = v[idx]
    files = [str(table["file"][i]) for i in idx] if "file" in table.colnames else []
    exposure = table.meta.get("exposure_s", table.meta.get("exptime"))
    filt = table.meta.get("filter")
    return TransitData(
        t=t[idx], flux=rel[idx], flux_err=err[idx], columns=columns, files=files,
        exposure_s=float(exposure) if exposure is not None else None,
        filter=str(filt) if filt else None, dropped=dropped, source=source,
    )  # fmt: skip


def read_transit_data(path: str | os.PathLike[str]) -> TransitData:
    """Read a light-curve file (ECSV, CSV or anything astropy reads) for a transit fit.

    Raises
    ------
    TransitDataError
        The file cannot be read or has no usable light curve; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise TransitDataError(f"{path}: no such file")
    fmt = {".ecsv": "ascii.ecsv", ".csv": "ascii.csv"}.get(path.suffix.lower())
    try:
        with quiet():
            table = Table.read(path, format=fmt) if fmt else Table.read(path)
    except Exception as exc:  # noqa: BLE001 - astropy's readers raise many kinds
        raise TransitDataError(f"{path}: not a readable table ({exc})") from exc
    return transit_data_from_table(table, path.name)
