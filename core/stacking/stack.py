"""Shift-and-add stacking on the stars or on a moving target's track.

The Photometry Pipeline's ``pp_combine``, without SWarp: calibrated frames of
one night are aligned onto the reference frame's pixel grid and combined
pixel by pixel, either

* on the stars (the sky frame): stars add up, a moving target is smeared;
  the alignment comes from the frames' WCS (:func:`star_offsets_from_wcs`) or
  from the frames' registration on their stars
  (:func:`fluxion.core.registration.register_frames`: a shift, rotation and
  scale per frame, :func:`registration_transforms`), or
* on the target (its moving frame): the shifts follow the target's predicted
  positions (a :class:`fluxion.core.targets.tracking.TrackFit` or an ephemeris,
  :func:`target_offsets`), so a faint asteroid adds up and stars are trailed.

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

Memory is bounded: aligned frames go one by one to a scratch cube that is an
in-memory array when it fits the budget and a memory-mapped temporary file
otherwise, and the cube is combined in bands of rows whose height follows
from the same budget.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sep
from astropy.io import fits
from astropy.stats import SigmaClip, sigma_clipped_stats
from astropy.time import Time
from astropy.wcs import WCS
from scipy import ndimage

from ..calibration.combine import band_height
from ..io.cards import fits_text
from ..io.fitsio import FitsReadError, atomic_write_hdulist, read_image
from ..io.rawfile import is_raw_name
from ..registration import FrameTransform, Registration
from ..runtime.failures import per_file, shown_name
from ..runtime.params import param
from ..runtime.pipeline import StepState
from ..runtime.quiet import quiet

__all__ = [
    "STACK_METHODS",
    "StackError",
    "StackParams",
    "StackResult",
    "FrameLoader",
    "stack_frames",
    "star_offsets_from_wcs",
    "target_offsets",
    "translation_residual",
    "read_calibrated_light",
    "registration_transforms",
]

log = logging.getLogger(__name__)

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
    back = registration.frames[reference].transform.inverse()  # type: ignore[union-attr]
    return [back.then(f.transform) for f in registration.frames]  # type: ignore[arg-type]


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


def _align(
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


def _align_all(
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
        image, mask = outcome.value
        if np.shape(image) != (ny, nx):
            raise StackError(
                f"frame {i} has shape {np.shape(image)}, the reference {(ny, nx)}: "
                "frames of one size only"
            )
        cube[i] = _align(image, mask, alignment[i], params)
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


def _combine_band(band: np.ndarray, params: StackParams) -> np.ndarray:
    """Combine one band of aligned frames (NaN = no data) pixel by pixel."""
    if params.method == "median":
        # Pixels no frame covers would make nanmedian warn: give them a value
        # and blank them after (cheaper than a lock around the warning filter).
        empty = ~np.isfinite(band).any(axis=0)
        band = np.where(empty, 0.0, band)
        median = np.nanmedian(band, axis=0).astype(np.float32)
        median[empty] = np.nan
        return median
    values = np.ma.masked_invalid(band)
    if params.method == "clipped" and band.shape[0] >= 3:
        # A masked array (not NaN) so that astropy does not warn about the
        # pixels the masks and the frame edges left out.
        clip = SigmaClip(sigma=params.clip_sigma, maxiters=5, cenfunc="median", stdfunc="std")
        values = clip(values, axis=0, masked=True, copy=False)
    return np.ma.filled(values.mean(axis=0), np.nan).astype(np.float32)


def _combine(
    cube: np.ndarray,
    params: StackParams,
    budget: int,
    state: StepState,
    executor: Executor | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage and combined image of the aligned cube, in bands of rows.

    Why not :func:`fluxion.core.calibration.combine.combine`: it has no plain
    average and gives sigma clipping NaN-holed input, on which astropy warns.
    """
    n, ny, nx = cube.shape
    rows = band_height(n, (ny, nx), budget)
    if executor is not None:
        rows = max(1, rows // 2)  # parallel bands share the budget
    starts = list(range(0, ny, rows))
    data = np.empty((ny, nx), np.float32)
    coverage = np.empty((ny, nx), np.int16)
    tick = state.counter(len(starts), "combining")

    def one(y0: int) -> None:
        state.check()
        band = np.asarray(cube[:, y0 : y0 + rows])
        coverage[y0 : y0 + rows] = np.isfinite(band).sum(axis=0)
        data[y0 : y0 + rows] = _combine_band(band, params)
        tick()

    if executor is None:
        for y0 in starts:
            one(y0)
    else:
        for future in [executor.submit(one, y0) for y0 in starts]:
            future.result()
    return coverage, data


def stack_frames(
    load: FrameLoader,
    offsets: np.ndarray | Sequence[FrameTransform],
    params: StackParams | None = None,
    *,
    reference: int | None = None,
    header: fits.Header | None = None,
    files: Sequence[str] = (),
    on: str = "stars",
    target: str = "",
    times: Time | None = None,
    exptime: Sequence[float] | None = None,
    scratch_dir: str | os.PathLike[str] | None = None,
    state: StepState | None = None,
    executor: Executor | None = None,
) -> StackResult:
    """Align frames by sub-pixel shifts and combine them.

    Parameters
    ----------
    load : FrameLoader
        ``load(i)`` gives frame ``i`` (calibrated) and its mask or None.
    offsets : ndarray, shape (n_frames, 2), or sequence of FrameTransform
        (dx, dy) px: where the reference frame's pixel lies in frame ``i``
        (:func:`star_offsets_from_wcs`, :func:`target_offsets`); or each
        frame's transform from the reference frame's pixels
        (:func:`registration_transforms`) for a field that rotates.
    params : StackParams, optional
        Method, clipping, interpolation, background, memory budget.
    reference : int, optional
        Frame whose grid and WCS the stack takes; default the middle frame,
        which keeps the largest shift smallest.
    header : astropy.io.fits.Header, optional
        The reference frame's header, copied into the stack's (its WCS is
        the stack's WCS when stacked on the stars).
    files : sequence of str
        File names, recorded as IMCMBnnn cards.
    on : {"stars", "target"}
        What the frames are aligned on, recorded in the header.
    target : str
        Target name for a target stack.
    times : astropy.time.Time, optional
        Mid-exposure times, for the mean time in the header.
    exptime : sequence of float, optional
        Exposure times (s), for EXPTIME (mean) and TOTEXP (sum).
    scratch_dir : path, optional
        Where the aligned frames go when they exceed the memory budget.
    state : StepState, optional
        Progress (aligning 0-0.7, combining 0.7-1) and cancellation.
    executor : Executor, optional
        Aligns frames and combines bands in parallel.

    Returns
    -------
    StackResult
    """
    params = params or StackParams()
    state = state if state is not None else StepState()
    transforms = None
    if len(offsets) and all(isinstance(t, FrameTransform) for t in offsets):
        transforms = list(offsets)  # type: ignore[arg-type]
        offsets = np.zeros((len(transforms), 2))
    offsets = np.asarray(offsets, dtype=float).reshape(-1, 2)
    n = len(offsets)
    if n == 0:
        raise StackError("no frames to stack")
    if not np.all(np.isfinite(offsets)):
        raise StackError("some frames have no alignment offset (NaN)")
    if on not in ("stars", "target"):
        raise StackError(f"on must be 'stars' or 'target', got {on!r}")
    reference = n // 2 if reference is None else int(reference)
    if not 0 <= reference < n:
        raise StackError(f"reference frame {reference} not in 0..{n - 1}")
    ref_name = files[reference] if reference < len(files) else f"frame {reference}"
    read = per_file(ref_name, lambda: load(reference))
    if read.failure is not None:
        raise StackError(
            f"the reference frame cannot be read: {shown_name(ref_name)}: {read.failure.cause}"
        )
    first, _ = read.value
    shape = tuple(int(v) for v in np.shape(first))
    if len(shape) != 2:
        raise StackError(f"frame {reference} is not a 2-D image")
    ny, nx = shape
    if transforms is None:
        alignment = [FrameTransform.shift(dx, dy) for dx, dy in offsets]
    else:
        alignment = transforms
        centre = ((nx - 1) / 2.0, (ny - 1) / 2.0)
        offsets = np.array([t.shift_at(*centre) for t in transforms])
    big = np.abs(offsets).max(axis=0)
    if big[0] >= nx or big[1] >= ny:
        raise StackError(
            f"shifts up to ({big[0]:.0f}, {big[1]:.0f}) px exceed the {nx}x{ny} frames: "
            "nothing would overlap"
        )

    budget = int(params.memory_mb * 2**20)
    cube_bytes = n * ny * nx * 4
    with tempfile.TemporaryDirectory(prefix="fluxion-stack-", dir=scratch_dir) as scratch:
        if cube_bytes <= budget // 2:
            cube = np.empty((n, ny, nx), np.float32)
        else:
            log.info("stack of %d frames: aligned frames on disk (%.0f MB)", n, cube_bytes / 2**20)
            cube = np.lib.format.open_memmap(
                Path(scratch) / "aligned.npy", mode="w+", dtype=np.float32, shape=(n, ny, nx)
            )
        left_out = _align_all(
            load, cube, alignment, params, state.sub(0.0, 0.7), executor, names=files
        )
        coverage, data = _combine(cube, params, budget, state.sub(0.7, 1.0), executor)
        del cube  # a memory map must be closed before its folder goes
    out_header = _stack_header(
        header, params, offsets, reference, files, on, target, times, exptime
    )
    if transforms is not None:
        turn = max(abs(t.rotation) for t in transforms)
        out_header["ROTMAX"] = (turn, "[deg] largest rotation undone (affine alignment)")
        out_header["HISTORY"] = "frames aligned by affine transforms from their registration"
    if left_out:
        out_header["NLEFTOUT"] = (len(left_out), "frames unreadable when aligned, left out")
    state.progress(1.0, f"stacked {n - len(left_out)} frames")
    return StackResult(data, coverage, out_header, offsets, transforms, left_out)


def _stack_header(
    header: fits.Header | None,
    params: StackParams,
    offsets: np.ndarray,
    reference: int,
    files: Sequence[str],
    on: str,
    target: str,
    times: Time | None,
    exptime: Sequence[float] | None,
) -> fits.Header:
    """The reference frame's header, with cards that say what was stacked."""
    h = fits.Header()
    if header is not None:
        skip = {"SIMPLE", "BITPIX", "EXTEND", "BZERO", "BSCALE", "BLANK", "XTENSION",
                "PCOUNT", "GCOUNT", "NMASKED"}  # fmt: skip
        for card in header.cards:
            if card.keyword and not card.keyword.startswith("NAXIS") and card.keyword not in skip:
                h.append(card, end=True)
    n = len(offsets)
    h["NCOMBINE"] = (n, "number of frames stacked")
    h["STACKMTD"] = (params.method, "combination: average, median or clipped mean")
    h["STACKON"] = (on, "frames aligned on the stars or on the target")
    if on == "target":
        h["STACKTGT"] = (target or "target", "moving target the frames follow")
        h["COMMENT"] = "Comoving stack: stars are trailed; the WCS is the reference frame's,"
        h["COMMENT"] = "valid for the stars at the reference frame's time."
    if params.method == "clipped":
        h["CLIPSIG"] = (params.clip_sigma, "sigma-clipping threshold")
    h["INTERP"] = (f"spline{params.interpolation_order}", "sub-pixel shift interpolation")
    h["BACKSUB"] = (bool(params.subtract_background), "sky subtracted before stacking")
    h["STACKREF"] = (reference, "frame (0-based) whose pixel grid is used")
    h["SHIFTMAX"] = (float(np.max(np.hypot(*offsets.T))), "[px] largest shift applied")
    if exptime is not None and len(exptime) == n:
        h["EXPTIME"] = (float(np.mean(exptime)), "[s] mean exposure of a frame (mean stack)")
        h["TOTEXP"] = (float(np.sum(exptime)), "[s] total exposure stacked")
    if times is not None and len(times) == n:
        mid = Time(np.mean(times.jd), format="jd", scale=times.scale)
        h["JD-MID"] = (float(mid.utc.jd), "mean mid-exposure JD (UTC) of the frames")
        h["DATE-AVG"] = (mid.utc.isot, "mean mid-exposure time (UTC)")
    for k, name in enumerate(list(files)[:999]):
        h[f"IMCMB{k + 1:03d}"] = (
            fits_text(str(name))[:68],
            f"shift {offsets[k][0]:+.2f} {offsets[k][1]:+.2f}",
        )
    h["HISTORY"] = f"Fluxion stack of {n} frames on the {on} ({params.method})"
    return h
