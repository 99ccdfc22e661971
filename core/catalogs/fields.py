"""Reference stars for each photometry table's field (``fluxion zeropoint --catalog NAME``
and the Zero point panel's named catalogs).

A named catalog is fetched through :mod:`fluxion.core.catalogs` (the fallback
chain and its disk cache) for a cone around the frame's field: the centre and
radius come from the table's ``ra``/``dec`` columns or, when it has only
pixel positions, from a WCS kept in its metadata (the positions are then
added as ``ra``/``dec`` so the calibration can match them). The frames of a
night share a field, so one answer, fetched a little larger than the first
frame's field, serves every frame it covers, and a catalog that failed is not
asked again for the same field.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from .base import CatalogError, Cone, angular_separation_deg
from .chain import CatalogChain

__all__ = ["FieldCatalogs", "field_of"]

log = logging.getLogger(__name__)

#: Added to the field's radius so that stars at the edge find their catalog star.
_EDGE_DEG = 1.0 / 60.0
_PIXEL_COLUMNS = (("x", "y"), ("xcenter", "ycenter"), ("x_fit", "y_fit"), ("X_IMAGE", "Y_IMAGE"))


def _meta_wcs(meta: dict):
    """A celestial WCS from header cards kept in a table's metadata, or None."""
    from ..io.fitsio import read_wcs

    cards = meta.get("wcs", meta)
    if isinstance(cards, str):
        try:
            return read_wcs(fits.Header.fromstring(cards, sep="\n"))
        except ValueError:
            return None
    if not isinstance(cards, dict):
        return None
    header = fits.Header()
    for key, value in cards.items():
        if isinstance(key, str) and len(key) <= 8 and isinstance(value, str | int | float):
            header[key.upper()] = value
    return read_wcs(header) if "CTYPE1" in header else None


def _epoch(table: Table) -> float | None:
    """Julian year of the observation (for the catalog's proper motions), if said."""
    value = None
    for key in ("DATE-OBS", "date-obs", "DATE_OBS"):
        if key in table.meta:
            value = table.meta[key]
        elif key in table.colnames and len(table):
            value = table[key][0]
        if value is not None:
            break
    if value is None:
        return None
    try:
        text = value.decode() if isinstance(value, bytes) else str(value)
        return float(Time(text.strip()).jyear)
    except ValueError:
        return None


def field_of(table: Table):
    """The table (with ``ra``/``dec`` added from a WCS if need be) and its field's cone.

    Returns
    -------
    (Table, Cone or None)
        None when the table has neither sky positions nor pixel positions
        with a WCS in its metadata.
    """
    from ..zeropoint.crossmatch import sky_columns  # (zeropoint imports the catalogs)

    sky = sky_columns(table)
    if sky is None:
        wcs = _meta_wcs(dict(table.meta))
        cols = next((c for c in _PIXEL_COLUMNS if set(c) <= set(table.colnames)), None)
        if wcs is None or cols is None:
            return table, None
        x = np.asarray(table[cols[0]], dtype=float)
        y = np.asarray(table[cols[1]], dtype=float)
        ra, dec = wcs.all_pix2world(x, y, 0)
        table = table.copy(copy_data=False)
        table["ra"], table["dec"] = ra, dec
        sky = (ra, dec)
    ra, dec = (np.asarray(v, dtype=float) for v in sky)
    ok = np.isfinite(ra) & np.isfinite(dec)
    if not ok.any():
        return table, None
    # Centre as the mean direction, so a field across RA = 0 is not torn apart.
    r, d = np.radians(ra[ok]), np.radians(dec[ok])
    vec = np.array([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)]).mean(axis=1)
    ra0 = float(np.degrees(np.arctan2(vec[1], vec[0])) % 360.0)
    dec0 = float(np.degrees(np.arctan2(vec[2], np.hypot(vec[0], vec[1]))))
    radius = float(np.max(angular_separation_deg(ra0, dec0, ra[ok], dec[ok]))) + _EDGE_DEG
    return table, Cone(ra0, dec0, min(radius, 90.0), epoch=_epoch(table))


class FieldCatalogs:
    """Answers of a catalog chain, shared by the frames of one field.

    Parameters
    ----------
    chain : fluxion.core.catalogs.CatalogChain
        The catalogs to try, with their cache.
    margin : float
        Each query covers this many times the frame's field radius.
    """

    def __init__(self, chain: CatalogChain, margin: float = 1.25) -> None:
        self.chain = chain
        self.margin = float(margin)
        self._answers: list[tuple[Cone, Table | None, str]] = []
        self.sources: Counter[str] = Counter()
        self.notes: list[str] = []

    def for_frame(self, frame: Table) -> tuple[Table, Table | None, str]:
        """The frame (with sky positions), its reference stars, and why there are none."""
        frame, cone = field_of(frame)
        if cone is None:
            return frame, None, "the table has no ra/dec columns nor a WCS for its x/y positions"
        for covered, table, problem in self._answers:
            if covered.contains(cone):
                return frame, table, problem
        wide = Cone(cone.ra, cone.dec, min(cone.radius * self.margin, 90.0), epoch=cone.epoch)
        try:
            answer = self.chain.query(wide)
        except CatalogError as exc:
            table, problem = None, str(exc)
        else:
            table, problem = answer.table, ""
            where = "cache" if answer.from_cache else "fetched"
            self.sources[f"{answer.source} ({where})"] += 1
            self.notes.extend(m for m in answer.messages if m not in self.notes)
        self._answers.append((wide, table, problem))
        return frame, table, problem

    def summary(self) -> str:
        """One line: which catalogs answered for how many fields, and what failed."""
        got = ", ".join(f"{n} field(s) from {s}" for s, n in self.sources.items()) or "no field"
        failed = sum(1 for _, t, _ in self._answers if t is None)
        text = f"catalog: {got}"
        if failed:
            text += f"; {failed} field(s) without a catalog"
        if self.notes:
            text += " (" + "; ".join(self.notes) + ")"
        return text
