"""A curve of growth's diagnostics file, as bytes: the bytes astropy writes, made directly.

A frame's aperture photometry keeps its curve of growth beside its table
(:mod:`.stored_photometry`): a primary HDU with the sky annulus and two binary
tables of float64 columns. astropy's ``table_to_hdu`` and ``HDUList.writeto``
built and verified those three HDUs card by card in about 5 ms a frame, more
than the rest of storing the frame's photometry. The file is simple enough to
write from the cards' own images and the columns' big-endian bytes; the bytes
are those astropy writes of :func:`growth_hdus` (the test compares them), so
a file's digest does not depend on which of the two wrote it.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..photometry import CurveOfGrowth
from ..photometry.growth import curve_to_tables

__all__ = ["curve_file_bytes", "curve_tables", "growth_hdus"]

_BLOCK = 2880
_END = "END" + " " * 77


def _header_bytes(cards: list[fits.Card]) -> bytes:
    text = "".join(c.image for c in cards) + _END
    return (text + " " * (-len(text) % _BLOCK)).encode("ascii")


def _table_bytes(columns: Table, name: str, extra: list[fits.Card]) -> bytes:
    """A BINTABLE extension of float64 columns (1-D, or 2-D as fixed-length arrays)."""
    arrays = [np.asarray(columns[c], dtype=np.float64) for c in columns.colnames]
    n_rows = len(columns)
    widths = [1 if a.ndim == 1 else int(np.prod(a.shape[1:])) for a in arrays]
    cards = [
        fits.Card("XTENSION", "BINTABLE", "binary table extension"),
        fits.Card("BITPIX", 8, "array data type"),
        fits.Card("NAXIS", 2, "number of array dimensions"),
        fits.Card("NAXIS1", 8 * sum(widths), "length of dimension 1"),
        fits.Card("NAXIS2", n_rows, "length of dimension 2"),
        fits.Card("PCOUNT", 0, "number of group parameters"),
        fits.Card("GCOUNT", 1, "number of groups"),
        fits.Card("TFIELDS", len(arrays), "number of table fields"),
    ]
    for k, (col, a, w) in enumerate(zip(columns.colnames, arrays, widths, strict=True), 1):
        cards.append(fits.Card(f"TTYPE{k}", col))
        cards.append(fits.Card(f"TFORM{k}", "D" if a.ndim == 1 else f"{w}D"))
        if a.ndim > 1:
            cards.append(fits.Card(f"TDIM{k}", "(" + ",".join(map(str, a.shape[:0:-1])) + ")"))
    cards.append(fits.Card("EXTNAME", name, "extension name"))
    rows = np.empty((n_rows, sum(widths)), dtype=">f8")
    at = 0
    for a, w in zip(arrays, widths, strict=True):
        rows[:, at : at + w] = a.reshape(n_rows, w)
        at += w
    data = rows.tobytes()
    return _header_bytes(cards + extra) + data + b"\0" * (-len(data) % _BLOCK)


def curve_file_bytes(
    curves: Table,
    curve_cards: list[fits.Card],
    stars: Table,
    annulus_cards: list[fits.Card],
) -> bytes:
    """The diagnostics file of a curve of growth: annulus cards, ``GROWTH``, ``GROWTH_STARS``.

    Parameters
    ----------
    curves, stars : Table
        :func:`~fluxion.core.photometry.growth.curve_to_tables`'s tables
        (``curves`` without meta; ``stars`` left out when empty).
    curve_cards : list of Card
        The ``GROWTH`` extension's own cards after its structure.
    annulus_cards : list of Card
        The primary HDU's cards after its structure.
    """
    primary = [
        fits.Card("SIMPLE", True, "conforms to FITS standard"),
        fits.Card("BITPIX", 8, "array data type"),
        fits.Card("NAXIS", 0, "number of array dimensions"),
        fits.Card("EXTEND", True),
    ]
    out = _header_bytes(primary + annulus_cards)
    out += _table_bytes(curves, "GROWTH", curve_cards)
    if len(stars):
        out += _table_bytes(stars, "GROWTH_STARS", [])
    return out


def curve_tables(curve: CurveOfGrowth) -> tuple[Table, list[fits.Card], Table]:
    """The curve's tables (no meta) and the cards of its ``GROWTH`` extension."""
    curves, stars = curve_to_tables(curve)
    meta = curves.meta.copy()
    curves.meta.clear()
    cards = [
        fits.Card("OPT_RAD", meta["optimum_radius"], "radius chosen by the rule (px)"),
        fits.Card("N_STARS", meta["n_field_stars"], "field stars of the median curve"),
        fits.Card("RULE", meta["rule"]),
    ]
    return curves, cards, stars


def growth_hdus(
    curves: Table, curve_cards: list[fits.Card], stars: Table
) -> list[fits.BinTableHDU]:
    """The ``GROWTH`` and (when it has stars) ``GROWTH_STARS`` extensions through astropy.

    What :func:`curve_file_bytes` writes after its primary HDU; the PSF
    method's diagnostics, which hold more than the curve, are made with these.
    """
    hdu = fits.table_to_hdu(curves)
    hdu.name = "GROWTH"
    for card in curve_cards:
        hdu.header.append(card)
    out = [hdu]
    if len(stars):
        hdu = fits.table_to_hdu(stars)
        hdu.name = "GROWTH_STARS"
        out.append(hdu)
    return out
