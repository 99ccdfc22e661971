"""Raw frames as calibration sees them: a file or an array, with its header facts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits

from ..io.cfa import shift_pattern
from ..io.fitsio import read_frame, read_header, read_image
from ..io.rawfile import is_raw_name
from ..runtime.quiet import quiet
from .overscan import Overscan, overscan_from_header

if TYPE_CHECKING:
    from ..io.frames import FrameInfo

__all__ = ["RawFrame"]

# Frame types combined into masters, never calibrated as lights.
_MASTER_INPUTS = ("bias", "dark", "flat")


def as_pair(values: Sequence[int]) -> tuple[int, int]:
    """A binning ``(bx, by)`` or a shape as a tuple (a frame's facts may hold a list)."""
    a, b = values
    return a, b


@dataclass(frozen=True)
class RawFrame:
    """A raw frame: where its pixels are and the facts calibration needs.

    Build with :meth:`from_info` (a scanned file) or :meth:`from_array`.

    Attributes
    ----------
    name : str
        File base name (or a label for arrays); products are named after it.
    exptime : float or None
        Seconds.
    filter : str or None
    binning : (int, int)
    saturation, gain, read_noise : float or None
        ADU, e-/ADU, e-.
    cfa : str or None
        Bayer pattern of the stored pixels of a colour frame (see
        :attr:`trimmed_cfa` for the pixels calibration keeps).
    """

    name: str
    exptime: float | None = None
    filter: str | None = None
    binning: tuple[int, int] = (1, 1)
    saturation: float | None = None
    gain: float | None = None
    read_noise: float | None = None
    cfa: str | None = None
    path: Path | None = None
    hdu: int | None = None
    array: np.ndarray | None = field(default=None, repr=False, compare=False)
    header: fits.Header | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_info(cls, info: FrameInfo, *, with_pixels: bool = False) -> RawFrame:
        """A scanned file: its header read now, its pixels later or, ``with_pixels``,
        now in the same open (float32).

        A bias, dark or flat is not opened here: it is only ever combined into
        a master, which needs of its header the size and the overscan and trim
        sections the scan kept (:attr:`FrameInfo.sections`).
        """
        array = None
        if with_pixels:
            own = info.hdu if info.hdu is not None and info.hdu >= 0 else None
            array, header, hdu = read_frame(info.path, hdu=own, dtype=np.float32)
        elif info.type in _MASTER_INPUTS and info.shape is not None and info.sections is not None:
            ny, nx = info.shape
            header = fits.Header([("NAXIS", 2), ("NAXIS1", nx), ("NAXIS2", ny)])
            header.update(info.sections)
            hdu = info.hdu
        else:
            header, hdu = read_header(info.path)
        return cls(
            name=Path(info.path).name,
            exptime=info.exptime,
            filter=info.filter,
            binning=as_pair(info.binning),
            saturation=info.saturation,
            gain=info.gain,
            read_noise=info.read_noise,
            cfa=info.cfa,
            path=Path(info.path),
            hdu=info.hdu if info.hdu is not None and info.hdu >= 0 else hdu,
            array=array,
            header=header,
        )

    @classmethod
    def from_array(
        cls, data: np.ndarray, header: fits.Header | None = None, name: str = "frame", **facts
    ) -> RawFrame:
        """An in-memory frame; ``facts`` are the other attributes."""
        data = np.asarray(data)
        if data.ndim != 2:
            raise ValueError(f"a frame must be 2-D, got shape {data.shape}")
        return cls(name=name, array=data, header=header, **facts)

    @property
    def raw_shape(self) -> tuple[int, int]:
        """(ny, nx) before trimming."""
        if self.array is not None:
            ny, nx = self.array.shape
            return ny, nx
        h = self.header
        if h is None:
            raise ValueError(f"{self.name}: a frame with neither pixels nor a header")
        return int(h["NAXIS2"]), int(h["NAXIS1"])

    @property
    def geometry(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """``(binning, trimmed shape)``: what a master must share with this frame."""
        return as_pair(self.binning), self.overscan().trimmed_shape(self.raw_shape)

    def overscan(self) -> Overscan:
        """The frame's BIASSEC/TRIMSEC."""
        return overscan_from_header(self.header, self.raw_shape)

    def trimmed_cfa(self) -> str | None:
        """The Bayer pattern of the pixels kept after trimming (TRIMSEC may start on an odd one)."""
        if self.cfa is None:
            return None
        section = self.overscan().trim_section
        if section is None:
            return self.cfa
        rows, cols = section
        ny, nx = self.raw_shape
        return shift_pattern(self.cfa, cols.indices(nx)[0], rows.indices(ny)[0])

    @property
    def file(self) -> Path:
        """The frame's file (an in-memory frame has none)."""
        if self.path is None:
            raise ValueError(f"{self.name}: an in-memory frame has no file")
        return self.path

    def read(self) -> np.ndarray:
        """All raw pixels (after BZERO/BSCALE), float32, native byte order."""
        if self.array is not None:
            return np.array(self.array, dtype=np.float32, order="C")
        return read_image(self.file, hdu=self.hdu, dtype=np.float32)

    def read_rows(self, y0: int, y1: int) -> np.ndarray:
        """Raw rows ``y0:y1``, float32; a file reads only those bytes."""
        if self.array is not None:
            return np.array(self.array[y0:y1], dtype=np.float32, order="C")
        if is_raw_name(self.file):
            # LibRaw decodes a whole raw file at once: there are no rows to seek to.
            return read_image(self.file, dtype=np.float32)[y0:y1]
        # Odd amateur headers make astropy warn; the scanner reported them. The
        # rows themselves are read outside quiet()'s lock, so threads read in parallel.
        with quiet():
            hdul = fits.open(self.file, memmap=False, lazy_load_hdus=True)
        try:
            with quiet():
                hdu = hdul[self.hdu or 0]
            return np.array(hdu.section[y0:y1, :], dtype=np.float32, order="C")
        finally:
            hdul.close()
