"""A sky flat from the night's own lights: the large-scale illumination only.

When a night has no flat field, the lights themselves hold the telescope's
illumination pattern (vignetting) in their sky: dawn-twilight lights best,
where the sky is bright and nearly uniform. Each light is bias- and
dark-subtracted, its stars are masked (sep segmentation, grown), its sky is
measured in boxes (photutils ``Background2D``: sigma-clipped medians, median
filtered), divided by its own median, and the box maps of all lights are
median-combined and interpolated back to full resolution.

Only structure larger than the box survives: the stars sit in the same place
in every light of an undithered night, so the pixel response under them is
never seen. Such a flat corrects illumination across the chip (percent-level
differences between comparison stars), not pixel-to-pixel response or dust.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sep
from photutils.background import Background2D, MedianBackground
from scipy import ndimage
from scipy.interpolate import RectBivariateSpline

from ..runtime.params import param
from ..runtime.pipeline import StepState
from .masters import (
    CalibrationError,
    MasterFrame,
    MasterParams,
    check_compatible,
    check_same_geometry,
    new_master,
    row_reader,
    scaled_dark,
)
from .raw import RawFrame

__all__ = ["SkyFlatParams", "make_sky_flat"]


@dataclass(frozen=True)
class SkyFlatParams:
    """How a sky flat is built from light frames (see :func:`make_sky_flat`)."""

    box_size: int = param(
        32, label="Sky box", unit="px", minimum=8, maximum=512,
        help="Side of the boxes in which the sky is measured; the flat keeps only "
        "structure larger than a few boxes (illumination, not pixel response).",
    )  # fmt: skip
    filter_size: int = param(
        3, label="Box smoothing", unit="boxes", minimum=1, maximum=15,
        help="Median filter over the box map, against boxes still touched by stars.",
    )  # fmt: skip
    detect_sigma: float = param(
        2.0, label="Star threshold", unit="sigma", minimum=1.0, maximum=20.0,
        help="Pixels this far above the sky are stars and masked before the sky is measured.",
    )  # fmt: skip
    mask_growth: int = param(
        6, label="Star mask growth", unit="px", minimum=0, maximum=50,
        help="The star masks are grown by this much to cover the wings.",
    )  # fmt: skip


def _star_mask(image: np.ndarray, sigma: float, growth: int) -> np.ndarray:
    data = np.ascontiguousarray(np.nan_to_num(image, nan=np.nanmedian(image)), dtype=np.float32)
    bkg = sep.Background(data)
    sep.set_extract_pixstack(max(300_000, data.size // 2))
    _, seg = sep.extract(
        data - bkg.back(), sigma, err=bkg.globalrms, minarea=5, segmentation_map=True
    )
    mask = seg > 0
    if growth > 0:
        mask = ndimage.binary_dilation(mask, iterations=int(growth))
    return mask | ~np.isfinite(image)


def _expand(mesh: np.ndarray, box: int, shape: tuple[int, int]) -> np.ndarray:
    # Combining the small box maps rather than full frames keeps memory at one
    # frame. The expansion is a cubic spline through the box centres, as in
    # photutils (whose public zoom interpolator is deprecated); beyond the
    # outer centres (half a box) it holds the edge value, as photutils does:
    # extrapolating the polynomial amplifies the sky noise there. Background2D's
    # last boxes may be partial: their centres are placed exactly.
    centres, pixels = [], []
    for n, size in zip(mesh.shape, shape, strict=True):
        starts = np.arange(n) * box
        centres.append((starts + np.minimum(starts + box, size) - 1) / 2)
        pixels.append(np.arange(size, dtype=float))
    kx, ky = (min(3, n - 1) for n in mesh.shape)
    spline = RectBivariateSpline(*centres, mesh, kx=kx, ky=ky, s=0)
    return spline(*pixels).astype(np.float32)


def make_sky_flat(
    frames: Sequence[RawFrame],
    bias: MasterFrame | None,
    dark: MasterFrame | None,
    params: SkyFlatParams | None = None,
    *,
    state: StepState | None = None,
) -> MasterFrame:
    """Illumination flat (mean 1) from the sky of light frames, stars masked.

    Parameters
    ----------
    frames : sequence of RawFrame
        Lights of one filter, best those with a bright sky (dawn or dusk
        twilight); at least 3 so that the median rejects passing objects.
    bias, dark : MasterFrame or None
        Subtracted from each light first (the dark scaled to its exposure).
    params : SkyFlatParams, optional
    state : StepState, optional

    Returns
    -------
    MasterFrame
        ``kind='flat'``; its header says it is a sky flat of large scales only.

    Raises
    ------
    CalibrationError
        Fewer than 3 frames, mixed filters or geometry, or a frame with no sky.
    """
    p = params or SkyFlatParams()
    state = state if state is not None else StepState()
    if len(frames) < 3:
        raise CalibrationError(f"a sky flat needs at least 3 lights, got {len(frames)}")
    shape = check_same_geometry(frames, "sky flat")
    filters = {f.filter for f in frames}
    if len(filters) > 1:
        raise CalibrationError(f"lights of different filters: {sorted(map(str, filters))}")
    for master in (bias, dark):
        if master is not None:
            check_compatible(master, shape, frames[0].binning, "the sky-flat lights")
    box = int(min(p.box_size, min(shape) // 2))
    meshes = []
    for k, f in enumerate(frames):
        state.check()
        bias_data = None if bias is None else bias.data
        image = row_reader(f, bias_data, scaled_dark(dark, f.exptime), 1.0)(0, shape[0])
        mask = _star_mask(image, p.detect_sigma, p.mask_growth)
        if mask.all():
            raise CalibrationError(f"{f.name}: no sky left once its stars are masked")
        bkg = Background2D(
            image, box, mask=mask, filter_size=p.filter_size,
            bkg_estimator=MedianBackground(), exclude_percentile=50.0,
        )  # fmt: skip
        mesh = np.asarray(bkg.background_mesh, dtype=float)
        level = np.nanmedian(mesh)
        if not np.isfinite(level) or level <= 0:
            raise CalibrationError(f"{f.name} has no sky light (median {level:.1f} ADU)")
        meshes.append(mesh / level)
        state.progress((k + 1) / len(frames), f"sky of {k + 1}/{len(frames)} lights")
    data = _expand(np.nanmedian(meshes, axis=0), box, shape)
    data /= np.float32(np.mean(data))
    notes = [
        "sky flat from light frames, stars masked",
        f"large scales only: {box} px boxes, {p.filter_size} box median filter",
        "normalised to mean 1",
    ]
    return new_master("flat", data, frames, MasterParams(), notes, filter=frames[0].filter)
