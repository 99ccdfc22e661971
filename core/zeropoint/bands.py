"""Which catalog magnitude a frame's filter is calibrated against.

A frame's FILTER header names a band (``R``, ``r'``, ``Clear``); a reference
catalog has magnitudes in bands of its own photometric system (APASS ``g`` is
SDSS, ATLAS-RefCat2 ``g`` is Pan-STARRS1). This module maps one to the other
and, where the band is not in the catalog, computes it with a published
transformation (Chonis & Gaskell 2008, Tonry et al. 2012). The coefficient
tables are data in ``fluxion.resources`` (``photometric_transformations.json``,
``photometric_bands.json``) with their references.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from astropy.table import Table

from ..catalogs.base import UNNAMED_BAND
from .params import BANDS

__all__ = [
    "BandError",
    "CatalogMagnitudes",
    "band_for_filter",
    "band_system",
    "catalog_magnitudes",
    "catalog_name",
    "catalog_systems",
    "colour_index_values",
    "default_colour_index",
    "solar_colour",
    "unknown_band_notes",
]

log = logging.getLogger(__name__)

CLEAR = "clear"


class BandError(ValueError):
    """The band or colour cannot be had from this catalog (message for the user)."""


@cache
def _load(name: str) -> dict[str, Any]:
    text = resources.files("fluxion.resources").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


def _bands_data() -> dict[str, Any]:
    return _load("photometric_bands.json")


def _transformations() -> list[dict[str, Any]]:
    return _load("photometric_transformations.json")["transformations"]


def band_system(band: str) -> str:
    """The photometric system a band name belongs to (``'R'`` -> ``'johnson'``)."""
    systems = _bands_data()["band_systems"]
    if band not in systems:
        raise BandError(f"unknown band {band!r}; known bands: {', '.join(systems)}")
    return systems[band]


def is_clear_filter(filter_name: str | None) -> bool:
    """Whether the calibration takes ``filter_name`` for unfiltered light (Open, L, IRCUT ...)."""
    return (filter_name or "").strip().lower() in _bands_data()["filters"][CLEAR]


def band_for_filter(filter_name: str | None, clear_band: str = "R") -> tuple[str, str]:
    """Map a frame's FILTER value to a catalog band.

    Parameters
    ----------
    filter_name : str or None
        The FILTER header value; None or blank is an unfiltered camera.
    clear_band : str
        The band that clear and unfiltered frames are calibrated to (they need
        a colour term, since the response is much wider than the band).

    Returns
    -------
    band : str
        The catalog band.
    note : str
        How the band was chosen, shown to the user.
    """
    data = _bands_data()
    raw = (filter_name or "").strip()
    exact = data["filters_case_sensitive"]
    if raw in exact:
        return exact[raw], f"filter {raw!r} is band {exact[raw]}"
    key = raw.lower()
    for band, aliases in data["filters"].items():
        if key in aliases:
            if band == CLEAR:
                band_system(clear_band)
                return (
                    clear_band,
                    f"filter {raw or 'none'!r} is unfiltered: calibrated to {clear_band}",
                )
            return band, f"filter {raw!r} is band {band}"
    raise BandError(
        f"filter {raw!r} is not a known band; choose the band by hand (--band, or the "
        "Zero point step's Band; known: U B V R I, u g r i z and their usual spellings, or "
        "clear)"
    )


#: What a night without zero points still measured, when its light curve is instrumental.
INSTRUMENTAL_CURVE = "photometry and the light curve (uncalibrated, instrumental magnitudes)"


def unknown_band_notes(
    named_filters: Sequence[tuple[str, str | None]],
    clear_band: str = "R",
    done: str = INSTRUMENTAL_CURVE,
) -> list[str]:
    """What to tell the user about lights whose FILTER names no known band.

    Parameters
    ----------
    named_filters : sequence of (str, str or None)
        Each light's file name and FILTER value.
    clear_band : str
        The band clear and unfiltered frames are calibrated to.
    done : str
        What was measured all the same, and on which scale: the light curve
        is instrumental unless the run measured it against comparison stars,
        and the note must say the same as the light curve's own.

    Returns
    -------
    list of str
        One line per unknown filter, naming it and its files, saying how to
        choose the band and what the run did without it; empty when every
        filter maps to a band.
    """
    groups: dict[str, list[str]] = {}
    for name, filter_name in named_filters:
        try:
            band_for_filter(filter_name, clear_band)
        except BandError:
            groups.setdefault((filter_name or "").strip(), []).append(name)
    lines = []
    for raw, names in groups.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        count = f"{len(names)} light" + ("s" if len(names) > 1 else "")
        lines.append(
            f"zero points: filter {raw!r} of {count} ({shown}) is not a known band, so they "
            "have no zero points; choose the catalog band they are calibrated to with "
            "fluxion run --band BAND, or the Zero point step's Band in the window (known: "
            f"{' '.join(BANDS[1:])}; R for an unfiltered camera). Calibration, astrometry, "
            f"{done} are done"
        )
    return lines


def catalog_name(table: Table, hint: str = "auto") -> str:
    """The catalog's canonical name, from ``hint``, ``meta['source']`` or its columns.

    Falls back to guessing from column names (ATLAS-RefCat2 has ``rcontrib``,
    APASS has ``g'mag``); a catalog that cannot be told apart gives ``'unknown'``
    and its bands are taken to be in their natural systems.
    """
    catalogs = _bands_data()["catalogs"]
    candidates = [hint] if hint and hint != "auto" else []
    candidates.append(str(table.meta.get("source", "") or table.meta.get("catalog", "")))
    for cand in candidates:
        low = cand.strip().lower()
        for name, info in catalogs.items():
            if low == name.lower() or low in info["aliases"]:
                return name
        for name, info in catalogs.items():
            if low and any(a in low for a in info["aliases"] if len(a) > 3):
                return name
    cols = set(table.colnames)
    if {"rcontrib", "gchi"} & cols:
        return "ATLAS-RefCat2"
    if {"g'mag", "r'mag"} & cols:
        return "APASS"
    return "unknown"


def catalog_systems(name: str) -> dict[str, str]:
    """Photometric system of each band of a named catalog (natural systems if unknown)."""
    info = _bands_data()["catalogs"].get(name)
    if info is None:
        return dict(_bands_data()["band_systems"])
    return dict(info["systems"])


# Column names VizieR uses for the same band, tried in order, so that a catalog
# file saved straight from VizieR (as the APASS and RefCat2 test files are) can
# be used without the catalog module's renaming.
def _mag_columns(band: str) -> tuple[tuple[str, str], ...]:
    return (
        (band, f"{band}_err"),
        (f"{band}mag", f"e_{band}mag"),
        (f"{band}'mag", f"e_{band}'mag"),
        (f"{band}_mag", f"e_{band}_mag"),
        (f"phot_{band.lower()}_mean_mag", ""),
    )


def _raw_band(table: Table, band: str) -> tuple[np.ndarray, np.ndarray] | None:
    for mag_col, err_col in _mag_columns(band):
        if mag_col in table.colnames:
            mag = _as_float(table[mag_col])
            if err_col and err_col in table.colnames:
                err = _as_float(table[err_col])
            else:
                err = np.full(len(table), np.nan)
            return mag, err
    return None


def _as_float(col: Any) -> np.ndarray:
    if hasattr(col, "mask"):
        arr = np.ma.asarray(col)
        out = np.asarray(arr.filled(np.nan) if np.ma.isMaskedArray(arr) else arr, dtype=float)
    else:  # a plain column: no masked-array round trip
        out = np.asarray(col, dtype=float)
    return np.where(np.isfinite(out), out, np.nan)


@dataclass(frozen=True)
class CatalogMagnitudes:
    """Magnitudes of every catalog star in one band, and how they were obtained."""

    band: str
    mag: np.ndarray
    mag_err: np.ndarray
    how: str


def catalog_magnitudes(
    table: Table, band: str, catalog: str = "auto", *, unnamed: bool = False
) -> CatalogMagnitudes:
    """Magnitudes of every catalog star in ``band``, transformed if need be.

    Parameters
    ----------
    table : Table
        The reference catalog.
    band : str
        Target band (``'V'``, ``'R'``, ``'r'`` ...).
    catalog : str
        Catalog name or ``'auto'`` (see :func:`catalog_name`).
    unnamed : bool
        Take a magnitude column that names no band (``mag``) as ``band`` when
        the catalog has neither ``band`` nor a transformation to it: right for
        the band a frame is calibrated in, never for a colour (``B`` and ``V``
        would both be that one column).

    Returns
    -------
    CatalogMagnitudes
        NaN where a star has no magnitude or its colour is outside the range
        of the transformation.

    Raises
    ------
    BandError
        When neither the band nor any transformation to it is available.
    """
    name = catalog_name(table, catalog)
    systems = catalog_systems(name)
    target_system = band_system(band)
    direct = _raw_band(table, band)
    if direct is not None and systems.get(band, target_system) == target_system:
        return CatalogMagnitudes(band, direct[0], direct[1], f"{band} from {name}")
    for trans in _transformations():
        if trans["to_system"] != target_system:
            continue
        rel = next((r for r in trans["relations"] if r["band"] == band), None)
        if rel is None:
            continue
        needed = {rel["base"], *rel["colour"]}
        if not all(systems.get(b) == trans["from_system"] for b in needed):
            continue
        raw = {b: _raw_band(table, b) for b in needed}
        found = {b: v for b, v in raw.items() if v is not None}
        if len(found) < len(raw):
            continue
        mag, err = _apply_relation(rel, found)
        how = f"{band} from {name} {'/'.join(sorted(needed))} by {trans['name']}"
        return CatalogMagnitudes(band, mag, err, how)
    # A catalog whose magnitude column names no band ("ra, dec, mag") is in
    # the band the user made it for: the frames'. Named bands come first.
    plain = _raw_band(table, UNNAMED_BAND) if unnamed else None
    if plain is not None:
        if not np.isfinite(plain[1]).any() and f"e_{UNNAMED_BAND}" in table.colnames:
            plain = (plain[0], _as_float(table[f"e_{UNNAMED_BAND}"]))
        how = f"{band} taken from the catalog's '{UNNAMED_BAND}' column (it names no band)"
        return CatalogMagnitudes(band, plain[0], plain[1], how)
    # Its own bands, not every band a catalog may have: the user picks among these.
    own = sorted(b for b in systems if _raw_band(table, b) is not None)
    raise BandError(
        f"catalog {name} has no {band} magnitudes and no transformation to {band} "
        f"from its bands ({', '.join(own) or 'none known'})"
    )


def _apply_relation(
    rel: dict[str, Any], raw: dict[str, tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    c1, c2 = rel["colour"]
    x = raw[c1][0] - raw[c2][0]
    coeffs = np.asarray(rel["coefficients"], dtype=float)
    poly = np.polynomial.polynomial.polyval(x, coeffs)
    dpoly = np.polynomial.polynomial.polyval(x, np.polynomial.polynomial.polyder(coeffs))
    mag = raw[rel["base"]][0] + poly
    # Propagate each band's catalog error through the relation: the base band
    # enters with slope 1, the colour bands with +-dpoly/dx.
    var = np.zeros_like(x)
    for b, (_, e) in raw.items():
        slope = (1.0 if b == rel["base"] else 0.0) + dpoly * ((b == c1) - (b == c2))
        var = var + (slope * np.nan_to_num(e)) ** 2
    cerr = np.asarray(rel.get("coefficient_errors") or [], dtype=float)
    for k, s in enumerate(cerr):
        var = var + (s * x**k) ** 2
    var = var + float(rel.get("rms", 0.0)) ** 2
    lo, hi = rel["colour_range"]
    ok = np.isfinite(x) & (x >= lo) & (x <= hi)
    return np.where(ok, mag, np.nan), np.where(ok, np.sqrt(var), np.nan)


def default_colour_index(band: str) -> str:
    """The usual colour index for a colour term in ``band``'s system (V -> B-V)."""
    return _bands_data()["default_colour_index"].get(band_system(band), "B-V")


def parse_colour_index(index: str) -> tuple[str, str]:
    """Split ``'B-V'`` into ``('B', 'V')``; raises :class:`BandError` if malformed."""
    parts = index.replace(" ", "").split("-")
    if len(parts) != 2 or not all(parts):
        raise BandError(f"colour index {index!r} must look like 'B-V' or 'g-r'")
    for p in parts:
        band_system(p)
    return parts[0], parts[1]


def colour_index_values(
    table: Table, index: str, catalog: str = "auto"
) -> tuple[np.ndarray, np.ndarray, str]:
    """Colour of every catalog star, e.g. ``B-V``, with its error and provenance.

    Each band is fetched with :func:`catalog_magnitudes`, so a B-V colour can
    come from Pan-STARRS g, r, i through Tonry et al. (2012).
    """
    b1, b2 = parse_colour_index(index)
    m1 = catalog_magnitudes(table, b1, catalog)
    m2 = catalog_magnitudes(table, b2, catalog)
    colour = m1.mag - m2.mag
    # The two errors share catalog bands when transformed; adding in
    # quadrature overstates them a little, which only widens the weights of
    # colour-selected stars and is harmless.
    err = np.hypot(m1.mag_err, m2.mag_err)
    return colour, err, f"{index}: {m1.how}; {m2.how}"


def solar_colour(index: str) -> float:
    """The Sun's colour in ``index`` (``'g-r'`` -> 0.44); raises BandError if unknown."""
    table = _bands_data()["solar_colours"]
    if index not in table:
        known = [k for k in table if k != "reference"]
        raise BandError(f"no solar colour known for {index!r}; known: {', '.join(known)}")
    return float(table[index])
