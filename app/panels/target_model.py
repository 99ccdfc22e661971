"""Targets as the panels keep them: clicks, coordinates or a name, saved in the project.

Qt-free, so the Targets and Light-curve panels share it and tests use it
without a window. A :class:`Target` is what the user made: a moving target
(clicked track, or a JPL Horizons name), or a fixed one (clicked, or given by
coordinates). :func:`predict_positions` turns it into the target's position
in every light frame through :mod:`fluxion.core.targets.tracking`.

Clicks are indexed by light frame (0 = first light in time order, as
``fluxion track --click``) and saved with the frame's file name, so a project
whose input list changed still finds the frame a click belongs to.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from fluxion.core.targets.ephemerides import Ephemeris
from fluxion.core.targets.inputs import TargetFrames
from fluxion.core.targets.tracking import Click, Track, TrackError, fit_track

__all__ = ["Target", "predict_positions", "KINDS"]

log = logging.getLogger("fluxion.app.targets")

#: Kinds of target: a moving one follows its clicks (or ephemeris), a fixed one stays put.
KINDS = ("moving", "fixed")


@dataclass(frozen=True)
class Target:
    """One target of the project.

    Attributes
    ----------
    name : str
    kind : {"moving", "fixed"}
    track : Track
        The clicks (light-frame indices).
    ra, dec : float or None
        Coordinates (deg) of a fixed target given by coordinates.
    horizons : str
        Name, number or designation for JPL Horizons ("" when none).
    excluded : tuple of str
        Files left out of the light curve.
    report : dict
        Report metadata (observers, codes ...) last used for this target.
    """

    name: str
    kind: str = "moving"
    track: Track = field(default_factory=Track)
    ra: float | None = None
    dec: float | None = None
    horizons: str = ""
    excluded: tuple[str, ...] = ()
    report: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Target:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def to_dict(self, files: list[str] | None = None) -> dict[str, Any]:
        """The JSON-able form kept in ``project.targets``."""
        clicks = []
        for c in self.track.clicks:
            name = files[c.frame] if files is not None and c.frame < len(files) else ""
            clicks.append(
                {"frame": c.frame, "file": name, "jd": c.jd, "x": c.x, "y": c.y,
                 "sigma": c.sigma, "refined": c.refined}
            )  # fmt: skip
        return {
            "name": self.name, "kind": self.kind, "clicks": clicks, "ra": self.ra,
            "dec": self.dec, "horizons": self.horizons, "excluded": list(self.excluded),
            "report": dict(self.report),
        }  # fmt: skip

    @classmethod
    def from_dict(
        cls, doc: dict[str, Any], files: list[str] | None = None, jd: np.ndarray | None = None
    ) -> Target:
        """Read a ``project.targets`` entry; clicks find their frame by file name first.

        Older entries store a click as ``[frame, x, y]``; they are read too.
        Clicks whose frame is not among the lights are dropped with a warning.
        """
        index = {f: i for i, f in enumerate(files or [])}
        track = Track(name=str(doc.get("name", "target")))
        for raw in doc.get("clicks", []):
            c = raw if isinstance(raw, dict) else dict(zip(("frame", "x", "y"), raw, strict=False))
            frame = index.get(str(c.get("file", "")), c.get("frame"))
            if frame is None or (files is not None and not 0 <= int(frame) < len(files)):
                log.warning("a click of %s refers to a frame no longer open", track.name)
                continue
            frame = int(frame)
            t = float(jd[frame]) if jd is not None else float(c.get("jd", frame))
            track = track.with_click(
                Click(frame, t, float(c["x"]), float(c["y"]), float(c.get("sigma", 0.1)),
                      bool(c.get("refined", True)))
            )  # fmt: skip
        kind = str(doc.get("kind", "moving"))
        return cls(
            name=track.name,
            kind=kind if kind in KINDS else "moving",
            track=track,
            ra=None if doc.get("ra") is None else float(doc["ra"]),
            dec=None if doc.get("dec") is None else float(doc["dec"]),
            horizons=str(doc.get("horizons", "") or ""),
            excluded=tuple(str(f) for f in doc.get("excluded", [])),
            report=dict(doc.get("report", {})),
        )


def predict_positions(
    target: Target, frames: TargetFrames, ephemeris: Ephemeris | None = None
) -> tuple[Table, str]:
    """The target's position in every light, and a one-line summary.

    Columns ``frame, file, jd, ra, dec, x, y, sigma_px, clicked`` as
    :meth:`fluxion.core.targets.tracking.TrackFit.predict`. A moving target follows
    its clicks (spline in time), or its ephemeris when it has no click; a
    fixed target stays at its coordinates or at the mean of its clicks. A
    clicked moving target with an ephemeris also gets the ephemeris' pixels
    in ``ephem_x, ephem_y`` (computed here, in the worker, once: the panel
    draws and compares them on every frame change).

    Raises
    ------
    TrackError
        When the target cannot be placed (no click, no WCS for coordinates).
    """
    jd = np.asarray(frames.times.jd, dtype=float)
    files = frames.files
    clicks = target.track.clicks
    if target.kind == "moving" and clicks:
        reg = frames.registration
        fit = fit_track(target.track, frames.wcs, registration=reg)
        table = fit.predict(
            jd, frames.wcs, files=files, clicked=target.track.frames, registration=reg
        )
        if ephemeris is not None and frames.wcs is not None:
            e = ephemeris.predict(jd, frames.wcs)
            table["ephem_x"], table["ephem_y"] = np.asarray(e["x"]), np.asarray(e["y"])
        summary = (
            f"{fit.describe(len(clicks))}; largest uncertainty {np.max(table['sigma_px']):.2f} px"
        )
        return table, summary
    if target.kind == "moving":
        if ephemeris is None:
            raise TrackError("click the target in a frame (or get its ephemeris from Horizons)")
        if frames.wcs is None:
            raise TrackError("an ephemeris needs frames with a WCS: solve them first")
        table = ephemeris.predict(jd, frames.wcs)
        table["file"] = files
        table["sigma_px"] = np.full(len(jd), np.nan)
        table["clicked"] = np.zeros(len(jd), bool)
        return table, f"ephemeris of {ephemeris.name} from {ephemeris.source}"
    return _fixed_positions(target, frames, jd, files)


def _fixed_positions(
    target: Target, frames: TargetFrames, jd: np.ndarray, files: list[str]
) -> tuple[Table, str]:
    n = len(jd)
    if target.ra is None or target.dec is None:
        if not target.track.clicks:
            raise TrackError("click the target in a frame, or give its coordinates")
        # The clicks' weighted mean, with its error (a track of degree 0).
        reg = frames.registration
        fit = fit_track(target.track, frames.wcs, registration=reg, fixed=True)
        table = fit.predict(jd, frames.wcs, files=files, clicked=target.track.frames,
                            registration=reg)  # fmt: skip
        where = "" if fit.frame_type == "sky" else ", following the field"
        return table, f"fixed target at the mean of {len(target.track.clicks)} click(s){where}"
    if frames.wcs is None:
        raise TrackError("coordinates need frames with a WCS: solve them first")
    target_sky = SkyCoord(target.ra * u.deg, target.dec * u.deg)
    xy = np.array([w.world_to_pixel(target_sky) for w in frames.wcs], dtype=float)
    table = Table()
    table["frame"] = np.arange(n)
    table["file"] = files
    table["jd"] = jd
    table["ra"] = np.full(n, target.ra)
    table["dec"] = np.full(n, target.dec)
    table["x"] = xy[:, 0]
    table["y"] = xy[:, 1]
    # Given coordinates carry no error of the user's clicking.
    table["sigma_px"] = np.zeros(n)
    table["clicked"] = np.isin(np.arange(n), list(target.track.frames))
    return table, "fixed target at the given coordinates"
