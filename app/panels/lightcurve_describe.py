"""What a light curve is, in words, for the file an export writes beside a CSV table.

A CSV table keeps none of the curve's description (its ECSV meta): opened
later, its ``mag`` column could be taken for standard magnitudes when it
holds differential ones against an ensemble. Beside ``<name>.csv`` the
export writes ``<name>.about.txt`` saying which magnitudes they are, the band
and filter, the comparison stars and the aperture, and why the run chose
them. A sidecar rather than ``#`` lines in the CSV: astropy's and many
spreadsheets' CSV readers take such lines for rows. Qt-free.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astropy.table import Table

from .lightcurve_run_stars import magnitude_label, run_curve_description, run_curve_notes

if TYPE_CHECKING:
    from .lightcurve_model import LightCurveRun

__all__ = ["curve_description", "description_path", "mosaic_note", "scale_words"]


def mosaic_note(pattern: str | None) -> str:
    """What the window's curve of a colour camera's lights holds ('' for a monochrome one).

    The Light curve panel measures the stored pixels: on a colour (Bayer) camera's
    mosaic each aperture sums its red, green and blue pixels together, a broad band
    unlike the one channel (green by default) ``fluxion run``'s curve follows.
    """
    if not pattern:
        return ""
    return (
        f" Colour camera ({pattern}): measured on its mosaic, the red, green and blue pixels "
        "of each aperture together (fluxion run's curve follows one channel, green unless "
        "--channel says another)."
    )


def description_path(path: str | Path) -> Path:
    """The description's file beside the table: ``curve.csv`` -> ``curve.about.txt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.about.txt")


def _listed(value: Any) -> list:
    """A meta list, also when read back from ECSV as its text."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return []
    return list(value) if isinstance(value, list | tuple) else []


def curve_description(
    table: Table,
    calibrated: bool,
    table_name: str,
    aperture: float | None = None,
    target: str = "",
) -> list[str]:
    """The lines that say what the exported curve ``table`` is.

    Parameters
    ----------
    table : Table
        The curve as exported (its meta as the project keeps it).
    calibrated : bool
        Whether its magnitudes are on the catalogue's scale.
    table_name : str
        The table's file name, which the description names.
    aperture : float, optional
        The aperture radius (px) when the curve's meta does not say it.
    target : str, optional
        The target's name now (it may have been renamed since the curve was made).
    """
    meta = table.meta
    target = target or str(meta.get("target", "") or "the target")
    what = magnitude_label(table, calibrated)
    lines = [
        f"Fluxion light curve of {target}: {len(table)} lights in {table_name}.",
        f"mag, mag_err: {what}s: {run_curve_description(table, calibrated)}.",
    ]
    if not calibrated:
        lines.append(
            "These are not standard magnitudes: no zero point puts them on a catalogue's scale."
        )
    band, filt = str(meta.get("band", "") or ""), str(meta.get("filter", "") or "")
    if not calibrated:
        # A differential curve's meta may name the band its lights' zero points were in
        # (the reports' filter codes follow it); its magnitudes are in no band.
        band = "none (differential" + (f"; the lights' zero points are in {band})" if band else ")")
    lines.append(f"Band: {band or 'none (instrumental)'}; filter: {filt or 'not named'}.")
    radius = meta.get("aperture_radius", aperture)
    if radius is not None:
        lines.append(f"Aperture radius: {float(radius):.2f} px.")
    xy = _listed(meta.get("comparison_xy"))
    n = len(_listed(meta.get("comparison_stars"))) or len(xy)
    if n:
        where = "; ".join(f"C{k + 1} ({x:.1f}, {y:.1f})" for k, (x, y) in enumerate(xy))
        lines.append(
            f"Comparison stars: {n}" + (f", at x, y px in the first light: {where}." if xy else ".")
        )
    if scale := str(meta.get("magnitude_scale", "") or ""):
        lines.append(f"Magnitude scale: {scale}.")
    lines += run_curve_notes(table)
    for key in ("scintillation_note", "site_note", "errors"):
        value = str(meta.get(key, "") or "")
        what = key.replace("_note", "")
        if value:  # the notes start with what they are about ("site: ...")
            lines.append(value if value.startswith(what) else f"{what}: {value}")
    lines.append("Columns: " + ", ".join(table.colnames) + " (jd_utc: JD, UTC; bjd_tdb: BJD, TDB).")
    return lines


def scale_words(run: LightCurveRun) -> str:
    """What the magnitudes are: which catalogue stars calibrate them, or differential."""
    if not run.calibrated:
        return "differential: no zero point or catalogue magnitudes of the comparison stars"
    meta = run.table.meta
    band = str(meta.get("band", "") or "")
    n = len(run.choice.comparison)
    where = str(meta.get("comparison_source", "") or "")
    where = (
        "clicked stars" if where == "clicked" else f"catalogue stars of {where}" if where else ""
    )
    return f"calibrated{' ' + band if band else ''} magnitudes: ensemble of {n} " + (
        where or "stars of known magnitude"
    )
