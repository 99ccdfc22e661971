"""Master bias, dark and flat frames.

* Master bias: the combined (overscan-subtracted, trimmed) bias frames.
* Master dark: the combined bias-subtracted darks, kept at their exposure
  time ``exptime``; a light of another exposure uses it scaled by
  ``t_light / t_dark``. Darks of mixed exposures are scaled to the group's
  median exposure before combining.
* Master flat: each flat is bias- and dark-subtracted and divided by its own
  median (twilight fades between flats), then combined and normalised to a
  mean of 1.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from astropy.io import fits

from ..io.cards import fits_text
from ..io.cfa import channel_offsets
from ..runtime.failures import per_file
from ..runtime.params import param
from ..runtime.pipeline import StepState
from .combine import COMBINE_METHODS, band_height, combine, robust_median, robust_stats
from .raw import RawFrame, as_pair

__all__ = [
    "CalibrationError",
    "MasterFrame",
    "MasterParams",
    "make_master_bias",
    "make_master_dark",
    "make_master_flat",
    "check_same_geometry",
    "row_reader",
    "scaled_dark",
    "new_master",
]

log = logging.getLogger(__name__)


class CalibrationError(ValueError):
    """Frames that cannot be combined or calibrated together; the message says why."""


@dataclass(frozen=True)
class MasterParams:
    """How calibration frames are combined."""

    method: str = param(
        "median",
        label="Combine",
        help="Pixel-wise median, or mean after rejecting values beyond the clipping "
        "threshold (less noisy, needs 5+ frames).",
        choices=COMBINE_METHODS,
    )
    sigma: float = param(
        3.0,
        label="Clipping threshold",
        help="Values further than this many standard deviations from the median "
        "are rejected by the sigma-clipped mean.",
        unit="sigma",
        minimum=1.0,
        maximum=10.0,
    )
    memory_mb: int = param(
        1024,
        label="Memory",
        help="Most memory the frame stack may use; larger stacks are combined in bands.",
        unit="MB",
        minimum=16,
        maximum=65536,
    )


@dataclass(frozen=True)
class MasterFrame:
    """A master calibration frame.

    Attributes
    ----------
    kind : str
        'bias', 'dark' or 'flat'.
    data : ndarray
        float32, trimmed: bias in ADU; dark in ADU accumulated over
        ``exptime`` (bias removed); flat normalised to mean 1.
    n_frames : int
    exptime : float or None
        Exposure of a dark (s).
    filter : str or None
        Filter of a flat.
    binning : (int, int)
    stats : dict
        mean, median, std (robust) of the data.
    header : astropy.io.fits.Header
        Cards saying what was done, for the product file.
    rejected : tuple of str
        The frames left out and why; the master is made from the others.
    """

    kind: str
    data: np.ndarray = field(repr=False)
    n_frames: int
    exptime: float | None = None
    filter: str | None = None
    binning: tuple[int, int] = (1, 1)
    stats: dict[str, float] = field(default_factory=dict)
    header: fits.Header = field(default_factory=fits.Header, repr=False)
    rejected: tuple[str, ...] = ()
    """Frames left out of the combination, one line each ("bias_0006.fits: ...")."""

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx) of the trimmed frame."""
        ny, nx = self.data.shape
        return ny, nx

    @classmethod
    def from_fits(cls, path: str, kind: str | None = None, *, stats: bool = True) -> MasterFrame:
        """Read a master written by Fluxion (its header says what it is).

        ``stats=False`` leaves :attr:`stats` empty: calibrating lights never
        reads them, and their medians cost more than reading the file.
        """
        with fits.open(path, memmap=False) as hdul:
            h = hdul[0].header
            data = np.array(hdul[0].data, dtype=np.float32)
        kind = kind or str(h.get("FLXKIND", "")).lower()
        if kind not in ("bias", "dark", "flat"):
            raise CalibrationError(f"{path}: not a Fluxion master frame (FLXKIND missing)")
        binning = (int(h.get("XBINNING", 1)), int(h.get("YBINNING", 1)))
        return cls(
            kind=kind,
            data=data,
            n_frames=int(h.get("NCOMBINE", 0)),
            exptime=h.get("EXPTIME") if kind == "dark" else None,
            filter=h.get("FILTER") if kind == "flat" else None,
            binning=binning,
            stats=robust_stats(data) if stats else {},
            header=h,
        )


def _compressed(f: RawFrame) -> bool:
    return f.path is not None and str(f.path).lower().endswith((".fz", ".gz", ".bz2"))


def screen_frames(
    frames: Sequence[RawFrame],
    kind: str,
    check: Callable[[RawFrame], str | None] | None = None,
) -> tuple[list[RawFrame], list[str]]:
    """The frames fit to combine, and one line for each left out.

    A frame whose pixels cannot be read (a damaged compressed file), whose
    shape or binning is not the group's (the most common one), or that
    ``check`` refuses (a flat with no light) is left out, so that one bad
    frame costs itself, not the master. :class:`CalibrationError` when none
    is left.
    """
    kept: list[RawFrame] = []
    rejected: list[str] = []
    readable = []
    for f in frames:
        # One row opens the file and decodes its header; a compressed file is
        # decoded whole (a damaged one may fail at any tile).
        rows = f.raw_shape[0] if _compressed(f) else 1
        done = per_file(f.path or f.name, partial(f.read_rows, 0, rows))
        if done.ok:
            readable.append(f)
        else:
            rejected.append(f"{f.name}: {done.cause}")
    if readable:
        geometry = Counter((f.raw_shape, tuple(f.binning)) for f in readable).most_common(1)[0][0]
        for f in readable:
            if (f.raw_shape, tuple(f.binning)) != geometry:
                rejected.append(
                    f"{f.name}: {f.raw_shape[1]}x{f.raw_shape[0]} px binned "
                    f"{f.binning[0]}x{f.binning[1]}, unlike the other {kind} frames"
                )
                continue
            why = check(f) if check is not None else None
            if why:
                rejected.append(f"{f.name}: {why}")
            else:
                kept.append(f)
    if not kept:
        raise CalibrationError(f"no usable {kind} frame ({'; '.join(rejected)})")
    for line in rejected:
        log.warning("%s frame left out: %s", kind, line)
    return kept, rejected


def check_same_geometry(frames: Sequence[RawFrame], kind: str) -> tuple[int, int]:
    """Trimmed (ny, nx) of frames to be combined; raise when their shapes or binnings differ."""
    if not frames:
        raise CalibrationError(f"no {kind} frames")
    shapes = {f.raw_shape for f in frames}
    if len(shapes) > 1:
        raise CalibrationError(f"{kind} frames have different shapes: {sorted(shapes)}")
    binnings = {tuple(f.binning) for f in frames}
    if len(binnings) > 1:
        raise CalibrationError(f"{kind} frames have different binnings: {sorted(binnings)}")
    overscan = frames[0].overscan()
    return overscan.trimmed_shape(frames[0].raw_shape)


def check_compatible(master: MasterFrame, shape: tuple[int, int], binning, what: str) -> None:
    """Raise :class:`CalibrationError` when a master does not fit a frame."""
    if tuple(master.binning) != tuple(binning):
        raise CalibrationError(
            f"{what} is binned {binning[0]}x{binning[1]} but the master {master.kind} is "
            f"{master.binning[0]}x{master.binning[1]}"
        )
    if master.shape != tuple(shape):
        raise CalibrationError(
            f"{what} is {shape[1]}x{shape[0]} px but the master {master.kind} is "
            f"{master.shape[1]}x{master.shape[0]} px"
        )


def row_reader(
    frame: RawFrame,
    bias: np.ndarray | None,
    dark: np.ndarray | None,
    scale: float | np.ndarray,
) -> Callable[[int, int], np.ndarray]:
    """``read(y0, y1)``: trimmed rows of a frame, overscan and bias and dark removed, / scale.

    Reading by bands lets :func:`combine` hold one band of every frame, not whole frames.
    ``scale`` is one number, or a 2 x 2 tile of numbers repeated over the frame
    (a colour-filter array's channel levels: tile[row % 2, column % 2]).
    """
    overscan = frame.overscan()
    first, _ = overscan.row_range(frame.raw_shape[0])

    def read(y0: int, y1: int) -> np.ndarray:
        band = overscan.apply_band(frame.read_rows(first + y0, first + y1), first + y0)
        if bias is not None:
            band -= bias[y0:y1]
        if dark is not None:
            band -= dark[y0:y1]
        return _divide(band, y0, scale)

    return read


def _divide(band: np.ndarray, y0: int, scale: float | np.ndarray) -> np.ndarray:
    """``band`` (rows from ``y0``) divided in place by a number or a repeated 2 x 2 tile."""
    if np.ndim(scale) == 2:
        rows = np.arange(y0, y0 + band.shape[0]) % 2
        cols = np.arange(band.shape[1]) % 2
        band /= np.asarray(scale, np.float32)[np.ix_(rows, cols)]
    elif scale != 1.0:
        band /= scale
    return band


def _held(pixels: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """A row reader of prepared pixels already in memory."""
    return lambda y0, y1: pixels[y0:y1]


def _header(kind: str, frames: Sequence[RawFrame], params: MasterParams, notes: list[str]):
    h = fits.Header()
    h["FLXKIND"] = (kind.upper(), "Fluxion master calibration frame")
    h["NCOMBINE"] = (len(frames), "number of frames combined")
    h["COMBINE"] = (params.method, "combination")
    if params.method != "median":
        h["CLIPSIG"] = (params.sigma, "[sigma] clipping threshold")
    h["XBINNING"] = frames[0].binning[0]
    h["YBINNING"] = frames[0].binning[1]
    for f in frames:
        h.add_history(f"input {fits_text(f.name)}")
    for n in notes:
        h.add_history(fits_text(n))
    return h


def scaled_dark(dark: MasterFrame | None, exptime: float | None) -> np.ndarray | None:
    """The master dark scaled to an exposure, or None when either has no exposure time."""
    if dark is None or not exptime or not dark.exptime:
        return None
    return dark.data * np.float32(exptime / dark.exptime)


def new_master(
    kind: str,
    data: np.ndarray,
    frames: Sequence[RawFrame],
    params: MasterParams,
    notes: list[str],
    **extra,
) -> MasterFrame:
    """A :class:`MasterFrame` of combined data, its header saying how it was made.

    ``extra`` is ``exptime=`` for a dark or ``filter=`` for a flat, and
    ``rejected=`` the frames left out (written into the header too).
    """
    rejected = tuple(extra.pop("rejected", ()))
    header = _header(kind, frames, params, [*notes, *(f"left out {r}" for r in rejected)])
    if extra.get("exptime") is not None:
        header["EXPTIME"] = (extra["exptime"], "[s] exposure of the master dark")
    if extra.get("filter") is not None:
        header["FILTER"] = (extra["filter"], "filter of the master flat")
    stats = robust_stats(data)
    for key in ("mean", "median", "std"):
        header[f"STAT{key[:3].upper()}"] = (round(stats[key], 6), f"{key} of the master")
    return MasterFrame(
        kind=kind,
        data=data,
        n_frames=len(frames),
        binning=as_pair(frames[0].binning),
        stats=stats,
        header=header,
        rejected=rejected,
        **extra,
    )


def make_master_bias(
    frames: Sequence[RawFrame],
    params: MasterParams | None = None,
    *,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> MasterFrame:
    """Combine bias frames (overscan-subtracted and trimmed when the headers say so)."""
    params = params or MasterParams()
    frames, rejected = screen_frames(frames, "bias")
    shape = check_same_geometry(frames, "bias")
    readers = [row_reader(f, None, None, 1.0) for f in frames]
    data = _combine(readers, shape, params, executor, state)
    notes = ["overscan subtracted"] if frames[0].overscan().bias_section is not None else []
    return new_master("bias", data, frames, params, notes, rejected=rejected)


def make_master_dark(
    frames: Sequence[RawFrame],
    bias: MasterFrame | None,
    params: MasterParams | None = None,
    *,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> MasterFrame:
    """Combine bias-subtracted darks into a dark at their (median) exposure time."""
    params = params or MasterParams()

    def timed(f: RawFrame) -> str | None:
        ok = f.exptime is not None and f.exptime > 0
        return None if ok else "no exposure time; a dark cannot be scaled without one"

    frames, rejected = screen_frames(frames, "dark", timed)
    shape = check_same_geometry(frames, "dark")
    exptimes = [f.exptime for f in frames if f.exptime is not None]
    if len(exptimes) < len(frames):  # screen_frames left those out
        raise CalibrationError("a dark without an exposure time")
    t_ref = float(np.median(exptimes))
    notes = []
    bias_data = None
    if bias is not None:
        check_compatible(bias, shape, frames[0].binning, "the darks")
        bias_data = bias.data
        notes.append("bias subtracted")
    else:
        log.warning("master dark made without a master bias: it includes the bias level")
        notes.append("NO bias subtracted")
    if len(set(exptimes)) > 1:
        notes.append(f"darks scaled to {t_ref:g} s")
    readers = [
        row_reader(f, bias_data, None, t / t_ref) for f, t in zip(frames, exptimes, strict=True)
    ]
    data = _combine(readers, shape, params, executor, state)
    return new_master("dark", data, frames, params, notes, exptime=t_ref, rejected=rejected)


def make_master_flat(
    frames: Sequence[RawFrame],
    bias: MasterFrame | None,
    dark: MasterFrame | None,
    params: MasterParams | None = None,
    *,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> MasterFrame:
    """Combine flats, each divided by its median, into a flat of mean 1.

    A colour-filter-array flat is divided by the median of each colour
    channel (R, G, B) and normalised to mean 1 in each channel, never across
    them: the flat's light (twilight, a panel) has a colour of its own that
    changes from flat to flat, and a single normalisation would imprint it on
    the lights' channel ratios. Each channel of a calibrated light keeps the
    camera's own response to its light.
    """
    params = params or MasterParams()
    state = state if state is not None else StepState()
    frames, rejected = screen_frames(frames, "flat")
    shape = check_same_geometry(frames, "flat")
    filters = {f.filter for f in frames}
    if len(filters) > 1:
        raise CalibrationError(f"flats of different filters combined: {sorted(map(str, filters))}")
    notes = []
    bias_data = None
    if bias is not None:
        check_compatible(bias, shape, frames[0].binning, "the flats")
        bias_data = bias.data
        notes.append("bias subtracted")
    if dark is not None:
        check_compatible(dark, shape, frames[0].binning, "the flats")
    patterns = {f.trimmed_cfa() for f in frames}
    if len(patterns) > 1:
        raise CalibrationError(
            f"flats of different Bayer patterns combined: {sorted(map(str, patterns))}"
        )
    pattern = patterns.pop()
    readers = []
    used = []
    scale_state = state.sub(0.0, 0.3)
    # Each flat is read whole for its level; when the whole stack fits the
    # budget (with room for the combination's own copy), those pixels are
    # kept and combined rather than read and prepared a second time.
    hold = band_height(len(frames), shape, int(params.memory_mb) << 20) >= shape[0]
    for k, f in enumerate(frames):
        dark_data = scaled_dark(dark, f.exptime)
        pixels = row_reader(f, bias_data, dark_data, 1.0)(0, shape[0])
        level = channel_levels(pixels, pattern)
        if not np.all(np.isfinite(level)) or np.any(level <= 0):
            # One flat without light (a closed shutter, a dark by mistake) is
            # left out; the others still make the master.
            rejected.append(f"{f.name}: no light (median level {np.nanmin(level):.1f} ADU)")
            log.warning("flat frame left out: %s", rejected[-1])
            continue
        used.append(f)
        if hold:
            readers.append(_held(_divide(pixels, 0, level)))
        else:
            readers.append(row_reader(f, bias_data, dark_data, level))
        scale_state.progress((k + 1) / len(frames), f"flat levels {k + 1}/{len(frames)}")
    if not used:
        raise CalibrationError(f"no flat with light ({'; '.join(rejected)})")
    frames = used
    if dark is not None:
        notes.append("dark subtracted")
    per = " of each colour channel (R, G, B)" if pattern else ""
    notes.append(f"each flat divided by its median{per}")
    data = _combine(readers, shape, params, executor, state.sub(0.3, 1.0))
    if pattern is None:
        data /= np.float32(np.nanmean(data))
    else:
        tile = np.asarray(channel_levels(data, pattern, np.nanmean))  # a 2 x 2 tile
        data /= tile[np.ix_(np.arange(shape[0]) % 2, np.arange(shape[1]) % 2)]
    notes.append(f"normalised to mean 1{' in each colour channel' if pattern else ''}")
    return new_master(
        "flat", data, frames, params, notes, filter=frames[0].filter, rejected=rejected
    )


def channel_levels(
    pixels: np.ndarray, pattern: str | None, statistic: Callable | None = None
) -> float | np.ndarray:
    """A flat's level: one median, or for a colour-filter array a 2 x 2 tile of channel levels.

    The tile holds at [row % 2, column % 2] the level of that pixel's channel;
    the two greens share one (they see through the same filter, and a flat
    corrects the difference of their responses as it does any pixel's).
    ``statistic`` defaults to the robust median; ``np.nanmean`` gives means.
    """
    if pattern is None:
        if statistic is None:
            return robust_median(pixels)
        return float(statistic(pixels))
    tile = np.empty((2, 2), np.float32)
    for channel in ("R", "G", "B"):
        grids = ("G1", "G2") if channel == "G" else (channel,)
        offsets = [channel_offsets(pattern)[g] for g in grids]
        values = np.concatenate([pixels[dy::2, dx::2].ravel() for dy, dx in offsets])
        level = robust_median(values) if statistic is None else statistic(values)
        for dy, dx in offsets:
            tile[dy, dx] = level
    return tile


def _combine(readers, shape, params, executor, state) -> np.ndarray:
    return combine(
        readers,
        shape,
        method=params.method,
        sigma=params.sigma,
        memory_bytes=int(params.memory_mb) << 20,
        executor=executor,
        state=state,
    )
