"""A project's lights as the transient searches take them.

What ``fluxion run`` (or the window) left in a project is all the searches
need: each light's calibrated pixels and mask, its detections, its solution
and, when the night was calibrated, its zero point. Each light becomes a
:class:`~fluxion.core.transients.frames.TransientFrame`; lights missing a
solution or detections are named and left out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..calibration.masks import MaskBits
from ..io.fitsio import FitsReadError
from ..io.frames import FrameInfo
from ..project.products import ProductStore
from ..runtime.pipeline import StepState
from ..transients.frames import TransientFrame
from .calibrate import frame_image
from .solve import frame_wcs

__all__ = ["project_transient_frames", "table_zero_point"]

log = logging.getLogger(__name__)


def table_zero_point(table: Table | None) -> tuple[float, float]:
    """Magnitude of unit flux (image units) in a light, from its calibrated sources.

    The zero-point step writes each source's calibrated ``mag`` beside its
    ``flux``; their median difference is the frame's zero point for a source
    of the stars' typical colour, whatever units and exposure normalisation
    the fit used. (NaN, NaN) when the light was not calibrated.
    """
    if table is None or len(table) == 0 or not table.meta.get("calibrated", False):
        return math.nan, math.nan
    if not {"mag", "flux"} <= set(table.colnames):
        return math.nan, math.nan
    if "channel" in table.colnames:
        channels = [str(c) for c in table["channel"]]
        keep = "G" if "G" in channels else channels[0]
        table = table[np.asarray(channels) == keep]
    flux = np.asarray(table["flux"], float)
    mag = np.asarray(table["mag"], float)
    ok = np.isfinite(flux) & (flux > 0) & np.isfinite(mag)
    if "flags" in table.colnames:
        ok &= np.asarray(table["flags"]) == 0
    if ok.sum() < 3:
        return math.nan, math.nan
    zp = mag[ok] + 2.5 * np.log10(flux[ok])
    err = table.meta.get("zero_point_err")
    try:
        err = float(err) if err is not None else math.nan
    except (TypeError, ValueError):
        err = math.nan
    return float(np.median(zp)), err


def project_transient_frames(
    folder: str | Path, lights: Sequence[FrameInfo], state: StepState | None = None
) -> tuple[list[TransientFrame], list[str]]:
    """The project's lights as transient frames, in time order, and what was left out.

    Parameters
    ----------
    folder : path
        The project folder.
    lights : sequence of FrameInfo
        The night's usable lights.

    Returns
    -------
    frames : list of TransientFrame
        Every light with a solution and detections (``index`` is its place in time).
    notes : list of str
        One line per light left out, saying why.
    """
    state = state if state is not None else StepState()
    store = ProductStore(folder)
    lights = sorted(
        (f for f in lights if f.type == "light" and f.usable),
        key=lambda f: f.jd if f.jd is not None else math.inf,
    )
    frames: list[TransientFrame] = []
    notes: list[str] = []
    tick = state.counter(len(lights), "read")
    for f in lights:
        state.check()
        name = f.path.name
        det = store.read_table("detection", f.path)
        if det is None or len(det) == 0:
            notes.append(f"{name}: no detections stored; run the detection first")
            tick()
            continue
        try:
            image = frame_image(store, f)
        except (FitsReadError, OSError, ValueError) as exc:
            notes.append(f"{name}: cannot be read ({exc})")
            tick()
            continue
        wcs = frame_wcs(store, f, image.header)
        if wcs is None:
            notes.append(f"{name}: not solved and no WCS in its header; solve it first")
            tick()
            continue
        data = np.asarray(image.data, dtype=np.float32)
        if image.mask is not None:
            mask = np.asarray(image.mask) != 0
            saturated = (np.asarray(image.mask) & np.uint8(MaskBits.SATURATED)) != 0
        else:
            mask = None
            saturated = None
        if image.saturation is not None:
            level = data >= float(image.saturation)
            saturated = level if saturated is None else saturated | level
            mask = saturated if mask is None else mask | saturated
        zp, zp_err = table_zero_point(store.read_table("zeropoint", f.path))
        frames.append(
            TransientFrame(
                image=data, mask=mask, wcs=wcs.celestial, sources=det, file=name,
                index=len(frames), jd_utc=float(f.jd) if f.jd is not None else math.nan,
                gain=float(f.gain) if f.gain else None, zero_point=zp,
                zero_point_err=zp_err if math.isfinite(zp_err) else 0.0, saturated=saturated,
            )  # fmt: skip
        )
        tick()
    for line in notes:
        log.warning("%s", line)
    return frames, notes
