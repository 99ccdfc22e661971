"""The light frames of a target sequence, with times, WCS and field offsets.

What ``fluxion track`` and ``fluxion lightcurve`` (and the targets panel) need
before tracking: the usable light frames in time order, their mid-exposure
times, their WCS when every frame has one, and otherwise the field's drift
from frame to frame measured on bright stars (so that tracks and comparison
stars follow the field without a WCS).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time
from astropy.wcs import WCS

from .detection import Detection
from .lightcurve_run import field_offsets
from .pipeline import StepState
from .sequence import Sequence

__all__ = ["TargetFrames", "load_target_frames", "bright_isolated_stars"]

log = logging.getLogger(__name__)


@dataclass
class TargetFrames:
    """Light frames of one sequence, ready for tracking and light curves."""

    sequence: Sequence
    indices: list[int]  # positions of the lights in ``sequence``
    times: Time
    wcs: list[WCS] | None
    offsets: np.ndarray | None
    stars: np.ndarray  # bright isolated stars of the first light (x, y), brightest first
    location: EarthLocation | None

    def pointing(self) -> SkyCoord | None:
        """The mount's pointing in the first light (OBJCTRA/OBJCTDEC or RA/DEC)."""
        f = self.sequence[self.indices[0]]
        if f.ra is None or f.dec is None:
            return None
        return SkyCoord(f.ra * u.deg, f.dec * u.deg)

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, i: int) -> np.ndarray:
        """Light ``i`` as float (ADU as stored)."""
        return np.asarray(self.sequence.data(self.indices[i]), dtype=float)

    @property
    def files(self) -> list[str]:
        return [self.sequence[k].path.name for k in self.indices]

    def gain(self) -> float:
        g = self.sequence[self.indices[0]].gain
        return float(g) if g else 1.0


def bright_isolated_stars(image: np.ndarray, n: int = 40, *, isolation: float = 15.0) -> np.ndarray:
    """Up to ``n`` bright, unflagged, isolated stars (x, y), brightest first."""
    found = Detection()(np.asarray(image, dtype=np.float32)).sources
    if len(found) == 0:
        return np.zeros((0, 2))
    xy = np.column_stack([np.asarray(found["x"]), np.asarray(found["y"])])
    ok = np.asarray(found["flags"]) == 0
    ny, nx = image.shape
    ok &= (xy[:, 0] > 25) & (xy[:, 0] < nx - 25) & (xy[:, 1] > 25) & (xy[:, 1] < ny - 25)
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    np.fill_diagonal(d, np.inf)
    ok &= d.min(axis=1) > isolation
    order = np.argsort(-np.asarray(found["flux"])[ok])
    return xy[ok][order][:n]


def load_target_frames(
    paths: Iterable[str | os.PathLike[str]], *, state: StepState | None = None
) -> TargetFrames:
    """Scan ``paths`` and prepare the light frames for tracking.

    Raises
    ------
    ValueError
        When there are fewer than two usable light frames or no time in them.
    """
    seq = Sequence.from_paths(paths)
    lights = [k for k, f in enumerate(seq.frames) if f.type == "light" and f.time is not None]
    if len(lights) < 2:
        raise ValueError(f"need at least two light frames with a time; found {len(lights)}")
    lights.sort(key=lambda k: seq[k].time.jd)
    times = Time([seq[k].time.utc.isot for k in lights], scale="utc")
    wcs_list = [seq.wcs(k) for k in lights]
    wcs = wcs_list if all(w is not None for w in wcs_list) else None
    first = np.asarray(seq.data(lights[0]), dtype=float)
    stars = bright_isolated_stars(first)
    offsets = None
    if wcs is None:
        if len(stars) == 0:
            raise ValueError("no star found in the first light to follow the field")
        tf = TargetFrames(seq, lights, times, None, None, stars, None)
        offsets = field_offsets(tf.image, len(lights), stars[:10], state=state)
    site = seq[lights[0]].site
    location = None
    if site is not None:
        location = EarthLocation.from_geodetic(site[0], site[1], site[2])
    return TargetFrames(seq, lights, times, wcs, offsets, stars, location)
