"""Where the target is in each light: a fixed sky position, a positions file, or an ephemeris.

Each function returns a locator for :func:`~fluxion.core.chain.night.run_night`:
``locate(lights, wcs) -> [(x, y) or None per light]`` given the lights'
solutions (None where a frame has none). A locator raises ValueError, with a
message for the user, when it cannot place the target at all. A locator that
knows the target's sky position at each light's time before any light is
solved has ``sky_positions(lights) -> [(ra, dec) or None per light]``: the
run then measures the target in the same pass as the rest of the light. Its
``project_entry`` says what the target is in the form the window's Targets
panel keeps in ``project.targets`` (kind, ra/dec, Horizons name), so that a
project written by ``fluxion run`` places the same target when opened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS

from ..io.frames import FrameInfo
from ..io.site import night_location

__all__ = ["Locator", "ephemeris_target", "fixed_target", "track_target"]


@dataclass(frozen=True)
class Locator:
    """A target's locator: ``locator(lights, wcs)``, and what it knows (module docstring)."""

    locate: Callable[[Sequence[FrameInfo], Sequence[WCS | None]], list]
    project_entry: dict[str, Any]
    sky_positions: Callable[[Sequence[FrameInfo]], list] | None = None

    def __call__(self, lights: Sequence[FrameInfo], wcs: Sequence[WCS | None]) -> list:
        return self.locate(lights, wcs)


def _inside(frame: FrameInfo, x: float, y: float) -> bool:
    if frame.shape is None or not (np.isfinite(x) and np.isfinite(y)):
        return False
    ny, nx = frame.shape
    return 0 <= x < nx and 0 <= y < ny


def fixed_target(ra: float, dec: float) -> Locator:
    """A star (or any fixed object) at ``ra``, ``dec`` in degrees."""
    where = SkyCoord(ra * u.deg, dec * u.deg)

    def locate(lights: Sequence[FrameInfo], wcs: Sequence[WCS | None]) -> list:
        if not any(w is not None for w in wcs):
            raise ValueError("no frame was solved, so RA/Dec cannot be placed on the images")
        out = []
        for f, w in zip(lights, wcs, strict=True):
            xy = None
            if w is not None:
                x, y = (float(v) for v in w.world_to_pixel(where))
                xy = (x, y) if _inside(f, x, y) else None
            out.append(xy)
        return out

    def sky_positions(lights: Sequence[FrameInfo]) -> list:
        return [(float(ra), float(dec))] * len(lights)

    entry = {"kind": "fixed", "ra": float(ra), "dec": float(dec)}
    return Locator(locate, entry, sky_positions)


def track_target(positions: Table) -> Locator:
    """A moving target from a positions file (``fluxion track`` output: jd, x, y, ...).

    Rows are matched to the lights by file name or time, as the track command
    writes them; the track fitted to them (in sky coordinates when every light
    is solved) gives every light's position.
    """
    from ..reports.table import track_from_positions
    from ..targets.tracking import TrackError, fit_track

    def locate(lights: Sequence[FrameInfo], wcs: Sequence[WCS | None]) -> list:
        jd = np.array([f.jd for f in lights], dtype=float)
        files = [f.path.name for f in lights]
        all_wcs = list(wcs) if all(w is not None for w in wcs) else None
        try:
            track = track_from_positions(positions, jd, files)
            fit = fit_track(track, all_wcs)
            table = fit.predict(jd, all_wcs, files=files)
        except TrackError as exc:
            raise ValueError(f"positions file: {exc}") from exc
        return [
            (float(x), float(y)) if _inside(f, x, y) else None
            for f, x, y in zip(lights, table["x"], table["y"], strict=True)
        ]

    return Locator(locate, {"kind": "moving"})


def ephemeris_target(name: str, observatory_code: str | None = None) -> Locator:
    """A solar-system object by name or number, from JPL Horizons (needs the network).

    The ephemeris is asked for once per set of lights: its sky positions
    place the target in each light as it is solved, and the night's
    locator reuses them.
    """
    from ..targets.ephemerides import EphemerisError, horizons_ephemeris

    asked: dict[tuple, object] = {}

    def ephemeris(lights: Sequence[FrameInfo]):
        times_of = [f.time for f in lights if f.time is not None]
        timeless = [f.path.name for f in lights if f.time is None]
        if timeless:
            raise ValueError(
                f"an ephemeris needs the observation time of every light; "
                f"{', '.join(timeless[:3])}{' ...' if len(timeless) > 3 else ''} have none"
            )
        key = tuple(str(f.path) for f in lights)
        if key not in asked:
            times = Time([t.utc.isot for t in times_of], scale="utc")
            location = night_location(lights)
            try:
                asked.clear()
                asked[key] = (
                    horizons_ephemeris(
                        name, times, observatory_code=observatory_code, site=location
                    ),
                    times,
                )
            except EphemerisError as exc:
                raise ValueError(str(exc)) from exc
        return asked[key]

    def sky_positions(lights: Sequence[FrameInfo]) -> list:
        eph, times = ephemeris(lights)
        coords = eph.sky(times.jd)
        return [(float(c.ra.deg), float(c.dec.deg)) for c in coords]

    def locate(lights: Sequence[FrameInfo], wcs: Sequence[WCS | None]) -> list:
        if not all(w is not None for w in wcs):
            n = sum(w is None for w in wcs)
            raise ValueError(
                f"--target needs every light solved to place the ephemeris; {n} of {len(wcs)} "
                "were not (see astrometry above). Without solutions, click the target in a "
                "few lights in the window (Targets), or give its track: --positions FILE "
                "(fluxion track)"
            )
        eph, times = ephemeris(lights)
        table = eph.predict(times.jd, list(wcs))
        return [
            (float(x), float(y)) if _inside(f, x, y) else None
            for f, x, y in zip(lights, table["x"], table["y"], strict=True)
        ]

    return Locator(locate, {"kind": "moving", "horizons": name}, sky_positions)
