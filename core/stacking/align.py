"""Aligning frames onto the reference frame's pixel grid before they are stacked.

What aligns the frames: a shift per frame from their WCS
(:func:`star_offsets_from_wcs`, with :func:`translation_residual` saying what
a shift leaves), each frame's affine transform from its registration
(:func:`registration_transforms`), or the shifts of a moving target's track
(:func:`target_offsets`). How a frame is resampled: :func:`align_frame`, and
every frame into the stack's scratch cube by :func:`align_all`.

Why a translation or an affine map per frame and ``scipy.ndimage``: frames
of one night on an equatorial mount differ by drift and jitter, i.e. by a
translation (``ndimage.shift``); an alt-azimuth mount also turns the field,
and then each frame is resampled through its registration's affine transform
(``ndimage.affine_transform``, the same spline). Distortion changes over a
night by far less than a pixel; :func:`translation_residual` measures what a
shift leaves so the header says so. A cubic spline reproduces a constant
exactly, so a source's total flux is kept (flux-conserving, as the average
stack must be for photometry; an affine map's area change is multiplied
back) while the PSF stays sharp; bilinear interpolation would widen the PSF
and smooth the noise, and a Fourier shift wraps the image around its edges
and rings at masked pixels. A full reprojection (``reproject``) is not a
dependency and buys nothing for affine maps.

Masked pixels (the calibrated light's ``MASK`` extension: saturated, hot,
cold, cosmic rays) are filled with the frame's sky level before the shift, so
the spline does not spread them, and every output pixel they touch is left
out of that frame's contribution. Pixels shifted in from outside a frame are
left out likewise; the ``COVERAGE`` extension says how many frames made each
output pixel.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
import sep
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.wcs import WCS
from scipy import ndimage

from ..io.fitsio import FitsReadError, read_image
from ..io.rawfile import is_raw_name
from ..registration import FrameTransform, Registration
from ..runtime.failures import per_file, shown_name
from ..runtime.pipeline import StepState
from ..runtime.quiet import quiet
from .results import FrameLoader, StackError, StackParams

__all__ = [
    "align_all",
    "align_frame",
    "read_calibrated_light",
    "registration_transforms",
    "star_offsets_from_wcs",
    "target_offsets",
    "translation_residual",
]

log = logging.getLogger(__name__)


def star_offsets_from_wcs(
    wcs: Sequence[WCS], reference: int, at: tuple[float, float] | None = None
) -> np.ndarray:
    """Offsets that align every frame on the stars, from their WCS.

    Parameters
    ----------
    wcs : sequence of WCS
        One per frame.
    reference : int
        Frame whose pixel grid the stack uses.
    at : (x, y), optional
        Reference pixel where the translation is exact (default the centre).

    Returns
    -------
    ndarray, shape (n_frames, 2)
        (dx, dy) px: where the sky at ``at`` in the reference frame lies in each frame.
    """
    ref = wcs[reference]
    if at is None:
        ny, nx = _wcs_shape(ref)
        at = ((nx - 1) / 2.0, (ny - 1) / 2.0)
    sky = ref.pixel_to_world(at[0], at[1])
    xy = np.array([np.asarray(w.world_to_pixel(sky), dtype=float) for w in wcs])
    return xy - np.asarray(at, dtype=float)


def translation_residual(wcs: Sequence[WCS], reference: int, offsets: np.ndarray) -> float:
    """Largest misalignment (px) at the frame corners that a translation leaves.

    Field rotation, a changed scale or a meridian flip cannot be undone by a
    shift; this says by how much the shift-and-add smears the corners.
    """
    ref = wcs[reference]
    ny, nx = _wcs_shape(ref)
    cx = np.array([0.0, nx - 1.0, 0.0, nx - 1.0])
    cy = np.array([0.0, 0.0, ny - 1.0, ny - 1.0])
    sky = ref.pixel_to_world(cx, cy)
    worst = 0.0
    for w, (dx, dy) in zip(wcs, np.asarray(offsets), strict=True):
        x, y = w.world_to_pixel(sky)
        worst = max(worst, float(np.max(np.hypot(x - cx - dx, y - cy - dy))))
    return worst


def registration_transforms(registration: Registration, reference: int) -> list[FrameTransform]:
    """Transforms that align every frame on the stars, from their registration.

    Parameters
    ----------
    registration : Registration
        Each frame's transform from the registration's reference frame.
    reference : int
        Frame whose pixel grid the stack uses (need not be the registration's).

    Raises
    ------
    StackError
        A frame (or the reference) could not be registered; the message names
        them so they can be left out.
    """
    failed = registration.failed
    if failed:
        names = ", ".join(f"{i} ({registration.frames[i].status})" for i in failed[:5])
        raise StackError(f"frames not registered on the stars, leave them out: {names}")
    # No frame failed, so every one has its transform.
    transforms = [f.transform for f in registration.frames if f.transform is not None]
    if len(transforms) < len(registration.frames):
        raise StackError("a registered frame has no transform")
    back = transforms[reference].inverse()
    return [back.then(t) for t in transforms]


def target_offsets(x: Sequence[float], y: Sequence[float], reference: int) -> np.ndarray:
    """Offsets that align every frame on a moving target.

    Parameters
    ----------
    x, y : sequence of float
        The target's position (px) in every frame, e.g. the ``x`` and ``y``
        columns of :meth:`fluxion.core.targets.tracking.TrackFit.predict`.
    reference : int
        Frame whose pixel grid the stack uses.

    Returns
    -------
    ndarray, shape (n_frames, 2)
    """
    xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    if not np.all(np.isfinite(xy)):
        raise StackError("the target's position is unknown in some frames")
    return xy - xy[reference]


def _wcs_shape(w: WCS) -> tuple[int, int]:
    if w.pixel_shape is None:
        raise StackError("the WCS does not give the image size")
    nx, ny = w.pixel_shape
    return int(ny), int(nx)


def read_calibrated_light(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """A light's image and, when it has one, its ``MASK`` extension (non-zero = bad).

    Raises
    ------
    FitsReadError
        When the file cannot be read.
    """
    image = read_image(path)
    if is_raw_name(path):
        return image, None  # a camera raw file has no mask
    try:
        # A raw light's odd header cards make astropy warn; the scan said them.
        with quiet(), fits.open(path, memmap=False) as hdul:
            if "MASK" not in hdul:
                return image, None
            mask = np.asarray(hdul["MASK"].data)
    except (OSError, KeyError) as exc:
        raise FitsReadError(f"cannot read the MASK extension of {path}: {exc}") from exc
    if mask.shape != image.shape:
        log.warning("%s: MASK has shape %s, the image %s; mask ignored", path, mask.shape,
                    image.shape)  # fmt: skip
        return image, None
    return image, mask != 0


def _sky_level(image: np.ndarray, bad: np.ndarray) -> float:
    """Sigma-clipped sky level (a subsample: the fill value need not be exact)."""
    step = max(1, int(np.sqrt(image.size / 250_000)))
    sample = image[::step, ::step][~bad[::step, ::step]]
    if sample.size == 0:
        return 0.0
    _, median, _ = sigma_clipped_stats(sample, sigma=3.0, maxiters=5)
    return float(median)


def align_frame(
    image: np.ndarray,
    mask: np.ndarray | None,
    alignment: FrameTransform,
    params: StackParams,
) -> np.ndarray:
    """Frame resampled onto the reference grid; NaN where masked or uncovered."""
    data = np.array(image, dtype=np.float32, copy=True)
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= np.asarray(mask, dtype=bool)
    if params.subtract_background:
        bkg = sep.Background(np.where(bad, 0.0, data).astype(np.float32), mask=bad)
        data -= bkg.back()
        fill = 0.0
    else:
        fill = _sky_level(data, bad)
    data[bad] = fill
    good_in = (~bad).astype(np.float32)
    order = params.interpolation_order
    if np.array_equal(alignment.matrix, np.eye(2)):
        shift = (-float(alignment.offset[1]), -float(alignment.offset[0]))
        out = ndimage.shift(data, shift, order=order, mode="nearest")
        # Bilinear weight of the good pixels: below 1 where a bad or outside
        # pixel enters the interpolation, which then must not count.
        good = ndimage.shift(good_in, shift, order=1, mode="constant", cval=0.0)
    else:
        # ndimage works in (row, column): swap x and y of the transform.
        m = alignment.matrix[::-1, ::-1]
        b = alignment.offset[::-1]
        out = ndimage.affine_transform(data, m, b, order=order, mode="nearest")
        # Each output pixel covers |det| frame pixels: keep the flux per pixel.
        out *= np.float32(abs(np.linalg.det(alignment.matrix)))
        good = ndimage.affine_transform(good_in, m, b, order=1, mode="constant", cval=0.0)
    out[good < 0.999] = np.nan
    return out


def align_all(
    load: FrameLoader,
    cube: np.ndarray,
    alignment: list[FrameTransform],
    params: StackParams,
    state: StepState,
    executor: Executor | None,
    names: Sequence[str] = (),
) -> tuple[str, ...]:
    """Align every frame into its slot of ``cube``.

    A frame that cannot be read now (damaged since it was registered, or
    unreadable past its header) is left out, its slot all NaN, rather than
    ending the stack: one bad light never stops a night. Returns those
    frames as "name: cause".
    """
    n, ny, nx = cube.shape
    tick = state.counter(n, "aligning")

    def one(i: int) -> str | None:
        state.check()
        name = names[i] if i < len(names) else f"frame {i}"
        outcome = per_file(name, lambda: load(i))
        if outcome.failure is not None:
            cube[i] = np.nan
            tick()
            return f"{shown_name(name)}: {outcome.failure.cause}"
        image, mask = outcome.get()
        if np.shape(image) != (ny, nx):
            raise StackError(
                f"frame {i} has shape {np.shape(image)}, the reference {(ny, nx)}: "
                "frames of one size only"
            )
        cube[i] = align_frame(image, mask, alignment[i], params)
        tick()
        return None

    if executor is None:
        results = [one(i) for i in range(n)]
    else:
        results = [f.result() for f in [executor.submit(one, i) for i in range(n)]]
    left_out = tuple(r for r in results if r is not None)
    if len(left_out) == n:
        raise StackError("no frame could be read: " + "; ".join(left_out[:3]))
    return left_out
