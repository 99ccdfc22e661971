"""The arithmetic calibration does to pixels, and to their saturation level.

Overscan (per row), bias and scaled dark are subtracted and the flat divided,
a band of rows at a time; the raw saturation level goes through the same
float32 operations so that the calibrated frame knows the lowest level a
saturated pixel can have in it (:func:`calibrated_saturation`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .masks import MaskBits

__all__ = ["LowestLevels", "calibrated_saturation", "remove_instrument", "ScaledDark"]

# Pixels of a band of rows calibrated at once: its arrays stay in the processor's
# cache through every term (a term at a time over a 4096^2 frame reads and
# writes 64 MB for each).
_BAND_PIXELS = 1 << 18


def _bands(ny: int, nx: int) -> Iterator[slice]:
    step = max(1, _BAND_PIXELS // max(nx, 1))
    for y0 in range(0, ny, step):
        yield slice(y0, min(y0 + step, ny))


class ScaledDark:
    """``np.float32(ratio) * dark``, made band by band where it is subtracted (no frame of it)."""

    def __init__(self, dark: np.ndarray, ratio: float) -> None:
        self.dark = dark
        self.ratio = np.float32(ratio)

    def __getitem__(self, rows: slice) -> np.ndarray:
        return self.ratio * self.dark[rows]


def _remove_rows(
    values: np.ndarray,
    rows: slice,
    overscan_rows: np.ndarray | None,
    bias: np.ndarray | None,
    dark_term: np.ndarray | ScaledDark | None,
    flat: np.ndarray | None,
) -> None:
    """:func:`remove_instrument` of the frame's ``rows``, held in ``values``."""
    if overscan_rows is not None:
        values -= overscan_rows[rows, None]
    if bias is not None:
        values -= bias[rows]
    if dark_term is not None:
        values -= dark_term[rows]
    if flat is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            values /= flat[rows]


def remove_instrument(
    values: np.ndarray,
    overscan_rows: np.ndarray | None,
    bias: np.ndarray | None,
    dark_term: np.ndarray | ScaledDark | None,
    flat: np.ndarray | None,
) -> np.ndarray:
    """Subtract overscan (per row), bias and scaled dark, then divide by the flat; in place.

    The one arithmetic of the pixels and of their saturation level
    (:func:`calibrated_saturation`), so that both round alike in float32;
    each pixel goes through the same operations in the same order, a band
    of rows at a time.
    """
    for rows in _bands(*values.shape):
        _remove_rows(values[rows], rows, overscan_rows, bias, dark_term, flat)
    return values


def calibrated_saturation(
    raw_level: float,
    overscan_rows: np.ndarray | None,
    bias: np.ndarray | None,
    dark_term: np.ndarray | ScaledDark | None,
    flat: np.ndarray | None,
    mask: np.ndarray,
) -> float | None:
    """The lowest level a saturated pixel can have in the calibrated frame (ADU).

    Calibration moves the raw clip level of each pixel differently: what is
    subtracted (overscan, bias, scaled dark) and the flat it is divided by
    vary across the frame. The raw level goes through the same float32
    operations, in the same order, as the pixels did; rounding is monotonic,
    so every pixel at or above the raw level ends at or above its own
    calibrated level, and the frame's minimum is a level that flags every
    saturated star (and, where the flat is low, stars a little below it).

    Parameters
    ----------
    raw_level : float
        Raw saturation (ADU); ``inf`` when unknown.
    overscan_rows : ndarray or None
        Overscan level of each trimmed row.
    bias, dark_term : ndarray or None
        The bias and scaled dark maps subtracted (the dark may be made band by
        band where it is read).
    flat : ndarray or None
        The normalised flat divided by.
    mask : ndarray of uint8
        The frame's :class:`MaskBits`; hot, cold and NaN pixels are left out
        (they are masked whatever their value).

    Returns
    -------
    float or None
        None when the raw level is unknown or no pixel is usable.
    """
    if not np.isfinite(raw_level):
        return None
    unusable = np.uint8(MaskBits.HOT | MaskBits.COLD | MaskBits.NAN)
    lowest = None
    # Band by band (the minimum is the same in any order): no frame of levels.
    for rows in _bands(*mask.shape):
        level = np.full((rows.stop - rows.start, mask.shape[1]), np.float32(raw_level), np.float32)
        _remove_rows(level, rows, overscan_rows, bias, dark_term, flat)
        usable = (mask[rows] & unusable) == 0
        usable &= np.isfinite(level)
        if usable.any():
            low = np.min(level[usable])
            lowest = low if lowest is None else min(lowest, low)
    return None if lowest is None else float(lowest)


class LowestLevels:
    """The lowest finite calibrated saturation levels of a frame's pixels, lowest first.

    :func:`calibrated_saturation` is the minimum over the usable pixels (not
    hot, cold or NaN); it is the first usable one of these whenever one of
    them is usable, with no frame of levels computed for each light.
    """

    _COUNT = 4096

    def __init__(self, flat_index: np.ndarray, levels: np.ndarray) -> None:
        self.flat_index = flat_index
        self.levels = levels

    @classmethod
    def of(
        cls,
        raw_level: float,
        bias: np.ndarray | None,
        dark_term: ScaledDark | None,
        flat: np.ndarray | None,
        shape: tuple[int, ...],
    ) -> LowestLevels:
        ny, nx = shape
        level = np.full((ny, nx), np.float32(raw_level), np.float32)
        # Band by band, as calibrated_saturation: each pixel through the same operations.
        for rows in _bands(ny, nx):
            _remove_rows(level[rows], rows, None, bias, dark_term, flat)
        values = level.ravel()
        # The count-th lowest (NaN sort last), then the pixels at or below it.
        top = np.partition(values, min(cls._COUNT, values.size - 1))[
            min(cls._COUNT, values.size - 1)
        ]
        low = (
            np.flatnonzero(values <= top)
            if np.isfinite(top)
            else np.flatnonzero(np.isfinite(values))
        )
        order = low[np.argsort(values[low], kind="stable")]
        return cls(order, values[order].copy())

    def first_usable(self, mask: np.ndarray) -> float | None:
        """The lowest level of a usable pixel of ``mask`` among these, or None if none is."""
        unusable = np.uint8(MaskBits.HOT | MaskBits.COLD | MaskBits.NAN)
        usable = np.flatnonzero((mask.ravel()[self.flat_index] & unusable) == 0)
        return float(self.levels[usable[0]]) if usable.size else None
