"""What a stack is asked and what it gives.

* :class:`StackParams` -- combination method, clipping, interpolation order,
  background subtraction and the memory budget;
* :class:`StackResult` -- the combined image, its coverage and header, the
  alignment of every frame and the frames left out, written with its
  ``COVERAGE`` extension by :meth:`StackResult.write`;
* :class:`StackError` -- frames that cannot be stacked, with the reason;
* :data:`FrameLoader` -- how the stack reads a frame and its mask.

Aligning is :mod:`.align`, combining :mod:`.stack` (which re-exports these).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..io.fitsio import atomic_write_hdulist
from ..registration import FrameTransform
from ..runtime.params import param

__all__ = ["STACK_METHODS", "FrameLoader", "StackError", "StackParams", "StackResult"]

#: How aligned frames are combined pixel by pixel.
STACK_METHODS = ("average", "median", "clipped")

#: ``load(i)`` returns frame ``i`` and its mask (non-zero = bad), or None for no mask.
FrameLoader = Callable[[int], tuple[np.ndarray, np.ndarray | None]]


class StackError(ValueError):
    """Frames that cannot be stacked; the message says why and what to do."""


@dataclass(frozen=True)
class StackParams:
    """Parameters of a stack."""

    method: str = param(
        "clipped",
        label="Combination",
        choices=STACK_METHODS,
        help="Average keeps every photon; clipped (sigma-clipped mean) also drops cosmic "
        "rays and, on a target stack, most of the trailed stars; the median is cleanest "
        "but does not conserve flux for photometry.",
    )
    clip_sigma: float = param(
        3.0, label="Clipping threshold", unit="sigma", minimum=1.0, maximum=10.0
    )
    interpolation_order: int = param(
        3,
        label="Interpolation",
        choices=(1, 3),
        help="Spline order of the sub-pixel shift: 3 (cubic) keeps the PSF sharp, "
        "1 (bilinear) rings less around very bright stars.",
    )
    subtract_background: bool = param(
        False,
        label="Subtract background",
        help="Remove each frame's sky (sep background mesh) before combining, as "
        "pp_combine -backsub does; useful when the sky changes through the night.",
    )
    memory_mb: float = param(
        1024.0,
        label="Memory budget",
        unit="MB",
        minimum=16.0,
        help="Above this the aligned frames go to a temporary file on disk.",
    )

    def __post_init__(self) -> None:
        if self.method not in STACK_METHODS:
            raise StackError(f"unknown stack method {self.method!r}; use one of {STACK_METHODS}")
        if self.interpolation_order not in (1, 3):
            raise StackError("interpolation_order must be 1 or 3")


@dataclass(frozen=True)
class StackResult:
    """A stacked image.

    Attributes
    ----------
    data : ndarray
        The combined image (float32) on the reference frame's pixel grid, in
        the frames' units per frame (the mean, not the sum, of the frames);
        NaN where no frame covers a pixel.
    coverage : ndarray
        Number of frames that contributed to each pixel (int16).
    header : astropy.io.fits.Header
        What was stacked: method, frames, shifts, exposure, reference WCS.
    offsets : ndarray, shape (n_frames, 2)
        (dx, dy) px: where the reference frame's pixel lies in each frame
        (its centre's, when frames were aligned by transforms).
    transforms : list of FrameTransform or None
        The affine alignment of each frame, when frames were aligned by transforms.
    left_out : tuple of str
        Frames that could not be read when they were aligned ("name: cause"),
        left out of the stack (their slots count in no pixel's coverage).
    """

    data: np.ndarray = field(repr=False)
    coverage: np.ndarray = field(repr=False)
    header: fits.Header = field(repr=False)
    offsets: np.ndarray = field(repr=False)
    transforms: list[FrameTransform] | None = field(default=None, repr=False)
    #: Frames that could not be read when aligned (name: cause), left out of the stack.
    left_out: tuple[str, ...] = ()

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the stack (primary HDU) and its ``COVERAGE`` extension atomically."""
        hdul = fits.HDUList(
            [
                fits.PrimaryHDU(self.data, header=self.header),
                fits.ImageHDU(self.coverage, name="COVERAGE"),
            ]
        )
        return atomic_write_hdulist(path, hdul)
