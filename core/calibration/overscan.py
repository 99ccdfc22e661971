"""Overscan subtraction and trimming from BIASSEC / TRIMSEC header sections.

FITS sections are written ``[x1:x2,y1:y2]``: 1-based, inclusive, x along
columns (IRAF's convention). They become numpy slices ``(rows, columns)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from astropy.io import fits

__all__ = ["OverscanError", "Overscan", "parse_section", "overscan_from_header"]

_SECTION = re.compile(r"^\s*\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]\s*$")


class OverscanError(ValueError):
    """A BIASSEC/TRIMSEC card that cannot be used."""


def parse_section(text: str, shape: tuple[int, int] | None = None) -> tuple[slice, slice]:
    """``'[x1:x2,y1:y2]'`` (1-based, inclusive) as 0-based ``(rows, columns)`` slices.

    Parameters
    ----------
    text : str
        The card value.
    shape : (ny, nx), optional
        Image shape; the section must fit inside it.
    """
    m = _SECTION.match(str(text))
    if m is None:
        raise OverscanError(f"not a FITS section: {text!r}")
    x1, x2, y1, y2 = (int(v) for v in m.groups())
    if x1 > x2 or y1 > y2 or min(x1, y1) < 1:
        # Reversed sections (readout direction) carry no information we use.
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
    if shape is not None and (y2 > shape[0] or x2 > shape[1] or min(x1, y1) < 1):
        raise OverscanError(f"section {text} lies outside the {shape[1]}x{shape[0]} image")
    return slice(y1 - 1, y2), slice(x1 - 1, x2)


@dataclass(frozen=True)
class Overscan:
    """Where a frame's overscan and its light-sensitive area are.

    Attributes
    ----------
    bias_section : (slice, slice) or None
        Overscan pixels (BIASSEC).
    trim_section : (slice, slice) or None
        Pixels kept (TRIMSEC); the whole frame when None.
    """

    bias_section: tuple[slice, slice] | None
    trim_section: tuple[slice, slice] | None

    @property
    def active(self) -> bool:
        """True when there is anything to do."""
        return self.bias_section is not None or self.trim_section is not None

    def trimmed_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """Shape of a frame of raw ``shape`` after trimming."""
        if self.trim_section is None:
            return shape
        rows, cols = self.trim_section
        return (len(range(*rows.indices(shape[0]))), len(range(*cols.indices(shape[1]))))

    def row_range(self, ny: int) -> tuple[int, int]:
        """Raw rows ``(first, stop)`` that survive trimming, for a frame of ``ny`` rows."""
        if self.trim_section is None:
            return 0, ny
        start, stop, _ = self.trim_section[0].indices(ny)
        return start, stop

    def trim(self, raw: np.ndarray) -> np.ndarray:
        """The part of a whole raw frame (or of a map of it) that trimming keeps, as a view."""
        r0, r1 = self.row_range(raw.shape[0])
        cols = slice(None) if self.trim_section is None else self.trim_section[1]
        return raw[r0:r1, cols]

    def row_levels(self, band: np.ndarray, first_row: int) -> np.ndarray | None:
        """The overscan level (ADU, float32) of each raw row of ``band``; None without BIASSEC.

        A serial overscan follows the bias drift along the readout, so it is
        taken row by row (median across the overscan columns); rows outside
        the overscan take the median of its rows present in the band, or of
        the whole strip.
        """
        if self.bias_section is None:
            return None
        out = np.asarray(band, dtype=np.float32)
        rows, cols = self.bias_section
        r0, r1 = rows.start, rows.stop
        raw_rows = np.arange(first_row, first_row + out.shape[0])
        inside = (raw_rows >= r0) & (raw_rows < r1)
        level = np.empty(out.shape[0], np.float32)
        if inside.any():
            per_row = np.median(out[inside][:, cols], axis=1)
            level[inside] = per_row
            level[~inside] = np.median(per_row)
        else:
            level[:] = np.median(out[:, cols])
        return level

    def apply_band(self, band: np.ndarray, first_row: int) -> np.ndarray:
        """Subtract the overscan from raw rows and keep the trimmed columns.

        Parameters
        ----------
        band : ndarray
            Full-width raw rows ``first_row .. first_row + len(band)``.
        first_row : int
            Raw index of the band's first row.

        The level subtracted is :meth:`row_levels`'.
        """
        out = np.asarray(band, dtype=np.float32)
        level = self.row_levels(out, first_row)
        if level is not None:
            out = out - level[:, None]
        if self.trim_section is not None:
            out = out[:, self.trim_section[1]]
        return np.ascontiguousarray(out, dtype=np.float32)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Overscan-subtracted, trimmed float32 copy of a whole raw frame."""
        r0, r1 = self.row_range(raw.shape[0])
        return self.apply_band(raw[r0:r1], r0)


def overscan_from_header(header: fits.Header | None, shape: tuple[int, int]) -> Overscan:
    """The :class:`Overscan` that a header's BIASSEC and TRIMSEC describe.

    Raises
    ------
    OverscanError
        When a card is present but malformed or outside the image.
    """
    if header is None:
        return Overscan(None, None)
    bias = header.get("BIASSEC")
    trim_card = "TRIMSEC" if header.get("TRIMSEC") else "DATASEC"
    trim = header.get(trim_card)

    def section(card: str, text: str) -> tuple[slice, slice]:
        # The card's name: a bare "not a FITS section: '[4096:4109]'" left a user to
        # search the header for it.
        try:
            return parse_section(text, shape)
        except OverscanError as exc:
            raise OverscanError(f"header card {card}: {exc}") from exc

    return Overscan(
        section("BIASSEC", bias) if bias else None,
        section(trim_card, trim) if trim else None,
    )
