"""sep's (SExtractor's) mesh background and rms of a frame, and the mask it is read with."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sep

from ..calibration.masks import MaskBits
from .params import DetectionError

__all__ = ["SkyBackground", "measure_background", "native_float32", "sep_background", "split_mask"]


@dataclass(frozen=True)
class SkyBackground:
    """sep's background model of a frame.

    Attributes
    ----------
    level : float
        Global sky level (median of the mesh), image units.
    noise : float
        Global sky noise (rms), image units.
    back, rms : ndarray or None
        The smooth background and rms maps (float32), when kept.
    mesh : (int, int, int) or None
        sep's box width and height (px) and median filter size (meshes) the
        maps were made with; None when not known (a stored table's levels).
    """

    level: float
    noise: float
    back: np.ndarray | None = field(default=None, repr=False)
    rms: np.ndarray | None = field(default=None, repr=False)
    mesh: tuple[int, int, int] | None = None


def native_float32(image: np.ndarray) -> np.ndarray:
    """A C-contiguous, native byte order float32 copy, as sep requires."""
    return np.array(image, dtype=np.float32, order="C", copy=True)


def split_mask(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels to ignore and pixels to flag as saturated.

    A boolean mask means "ignore". An integer mask holds :class:`MaskBits`:
    saturated pixels stay in the detection (a saturated star is still a
    star, and masking its core would split it into a ring) but flag their
    source; every other bit is ignored. Non-finite pixels are always ignored.
    """
    bad = ~np.isfinite(image)
    saturated = None
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != image.shape:
            raise DetectionError(f"mask shape {mask.shape} differs from image shape {image.shape}")
        if mask.dtype == bool:
            bad |= mask
        else:
            # In the mask's own integer type (a widening copy was most of this
            # function's time); a bit other than SATURATED is set exactly when
            # the value is neither 0 nor SATURATED alone.
            bits = mask if mask.dtype.kind in "iu" else mask.astype(np.int64)
            sat = int(MaskBits.SATURATED)
            saturated = (bits & bits.dtype.type(sat)) != 0
            bad |= (bits != 0) & (bits != sat)
    return bad, saturated


def measure_background(
    image: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    mesh_size: int = 64,
    filter_size: int = 3,
    keep_maps: bool = True,
) -> SkyBackground:
    """sep's (SExtractor's) mesh background and rms of a frame.

    Parameters
    ----------
    image : ndarray
        2-D image; any dtype or byte order (a float32 copy is made).
    mask : ndarray, optional
        Pixels to ignore (bool) or a :class:`MaskBits` bitmask.
    mesh_size, filter_size : int
        Box size (px) and median filter size (meshes).
    keep_maps : bool
        Return the full-size background and rms maps.
    """
    data = native_float32(image)
    bad, _ = split_mask(data, mask)
    return sep_background(data, bad, mesh_size, filter_size, keep_maps)[0]


def sep_background(
    data: np.ndarray, bad: np.ndarray, mesh_size: int, filter_size: int, keep_maps: bool
) -> tuple[SkyBackground, sep.Background]:
    """sep's background of ``data`` (zeroed in place where ``bad``), and sep's object."""
    if bad.all():
        raise DetectionError("the frame has no valid pixels (all masked or NaN)")
    data[bad] = 0.0
    ny, nx = data.shape
    bw, bh = min(mesh_size, nx), min(mesh_size, ny)
    bkg = sep.Background(data, mask=bad, bw=bw, bh=bh, fw=filter_size, fh=filter_size)
    sky = SkyBackground(
        level=float(bkg.globalback),
        noise=float(bkg.globalrms),
        back=bkg.back(dtype=np.float32) if keep_maps else None,
        rms=bkg.rms(dtype=np.float32) if keep_maps else None,
        mesh=(bw, bh, filter_size),
    )
    return sky, bkg
