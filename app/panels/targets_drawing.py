"""What the Targets panel shows: the track uncertainty plot and the marks on the image.

A mixin of :class:`~fluxion.app.panels.targets.TargetsPanel`. Every light
shows each target's predicted position and its whole track in that light's
pixels (the view's "targets" layer), and for the selected target its click
and the fit's uncertainty circle (:class:`~fluxion.app.panels.target_overlay.TargetMarks`),
with the Horizons ephemeris beside a clicked track and SkyBoT's known objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy.table import Table

from .target_sources import known_object_positions
from .targets_state import TargetsState

__all__ = ["TargetDrawingMixin"]


class TargetDrawingMixin(TargetsState):
    """The plot and the image marks of the Targets panel (drawn only while in front)."""

    def horizons_difference(self, name: str) -> np.ndarray:
        """Distance (px) from the clicked track to the Horizons ephemeris in every light."""
        table = self.predictions[name]
        return np.hypot(table["ephem_x"] - table["x"], table["ephem_y"] - table["y"])

    def _update_plot(self) -> None:
        t = self.current_target
        table = self.predictions.get(t.name) if t is not None else None
        if t is None or table is None or self.frames is None:
            self.plot.clear()
            return
        hours = (np.asarray(table["jd"]) - float(table["jd"][0])) * 24.0
        frames = [self._session_index(i) for i in range(len(table))]
        if "ephem_x" in table.colnames:
            self.plot.plot.setLabel("left", "Horizons - track (px)")
            values = self.horizons_difference(t.name)
        else:
            self.plot.plot.setLabel("left", self.quantity)
            values = np.asarray(table["sigma_px"], float)
        self.plot.set_series(hours, values, frames=frames)
        self.plot.mark_frame(self.session.current)

    def _path_in(self, table: Table, light: int) -> tuple[np.ndarray, np.ndarray]:
        """The whole track in light ``light``'s pixels (sky tracks through its WCS)."""
        f = self.frames
        if f is None:
            raise RuntimeError("the lights are not ready")  # tracks are drawn once they are
        ra, dec = np.asarray(table["ra"], float), np.asarray(table["dec"], float)
        if f.wcs is not None and np.all(np.isfinite(ra)):
            x, y = f.wcs[light].world_to_pixel_values(ra, dec)
            return np.asarray(x), np.asarray(y)
        x, y = np.asarray(table["x"], float), np.asarray(table["y"], float)
        if f.registration is not None:
            # Each frame's position, carried into this light's pixels.
            reg = f.registration
            xy = np.array(
                [reg.between(i, light, np.array([[x[i], y[i]]]))[0] for i in range(len(x))]
            )
            x, y = xy[:, 0], xy[:, 1]
        return x, y

    def marks_in(self, light: int) -> dict[str, Any]:
        """What is drawn in light ``light``: predicted positions, clicks, circles, known objects."""
        names, xs, ys, tracks = [], [], [], {}
        clicked, circles, known = [], [], []
        current = self.current_target
        sigma_k = self.params().circle_sigma
        for t in self.targets:
            table = self.predictions.get(t.name)
            if table is None:
                continue
            x, y = float(table["x"][light]), float(table["y"][light])
            names.append(t.name)
            xs.append(x)
            ys.append(y)
            if t.kind == "moving":
                tracks[t.name] = self._path_in(table, light)
            if t is current:
                s = float(table["sigma_px"][light])
                circles.append((x, y, sigma_k * s))
                c = t.track.click_in(light)
                if c is not None:
                    clicked.append((c.x, c.y))
            if "ephem_x" in table.colnames:
                ex, ey = np.asarray(table["ephem_x"]), np.asarray(table["ephem_y"])
                label = f"{t.name} (Horizons)"
                names.append(label)
                xs.append(float(ex[light]))
                ys.append(float(ey[light]))
                tracks[label] = (ex, ey)
        f = self.frames
        if self.known is not None and len(self.known) and f is not None and f.wcs is not None:
            ra, dec = known_object_positions(self.known, float(f.times.jd[light]))
            kx, ky = f.wcs[light].world_to_pixel_values(ra, dec)
            known = [(float(a), float(b), str(n)) for a, b, n in zip(kx, ky, self.known["name"],
                                                                   strict=True)]  # fmt: skip
        return {"names": names, "x": xs, "y": ys, "tracks": tracks, "clicked": clicked,
                "circles": circles, "known": known}  # fmt: skip

    def _redraw(self) -> None:
        self.redraw_overlays()

    def draw_overlays(self, index: int) -> None:
        view = self.view()
        light = self._light_of(index)
        if light is None:
            if self.marks is not None:
                self.marks.clear()
            return
        m = self.marks_in(light)
        view.overlays.set_targets(m["names"], m["x"], m["y"], tracks=m["tracks"])
        if self.marks is not None:
            self.marks.set_marks(m["clicked"], m["circles"], m["known"])
