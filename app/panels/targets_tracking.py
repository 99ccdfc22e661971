"""The Targets panel's clicks and track fits.

A mixin of :class:`~fluxion.app.panels.targets.TargetsPanel`. A click in the
viewer marks the selected target in the current light: it is refined to the
centroid in a worker (:func:`fluxion.core.targets.tracking.refine_click`), or kept as
clicked with Shift held (faint targets); a second click in a light replaces
the first. Each change refits the target's track in a worker
(:func:`~fluxion.app.panels.target_model.predict_positions`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy.table import Table
from PySide6.QtCore import Qt

from fluxion.core.targets.tracking import UNREFINED_SIGMA, Click, refine_click

from ..workers import Task
from .target_model import Target, predict_positions
from .targets_state import TargetsState

__all__ = ["TargetTrackingMixin"]


class TargetTrackingMixin(TargetsState):
    """Clicks in the viewer and the fits of the tracks, for the Targets panel."""

    # -- clicks ---------------------------------------------------------------
    def _light_of(self, session_index: int) -> int | None:
        if self.frames is None:
            return None
        try:
            return self.frames.indices.index(session_index)
        except ValueError:
            return None

    def _session_index(self, light: int) -> int:
        return self.frames.indices[light] if self.frames is not None else light

    def _on_view_click(self, x: float, y: float, modifiers: Any) -> None:
        if not self.mark_box.isChecked():
            self.click_not_marked()  # a target placed by RA/Dec: says why nothing changed
            return
        if not self.in_front:
            return
        keep = bool(Qt.KeyboardModifier(modifiers) & Qt.KeyboardModifier.ShiftModifier)
        self.add_click(x, y, as_clicked=keep)

    def add_click(
        self, x: float, y: float, *, as_clicked: bool = False, index: int | None = None
    ) -> Task | None:
        """Mark the selected target at (x, y) in the current frame (or ``index``), then refit.

        The click is refined to the centroid in a worker unless ``as_clicked``;
        without a target a new moving one is made. A click before the lights
        are ready is kept and placed once they are (:meth:`place_waiting_clicks`).
        """
        index = self.session.current if index is None else index
        if self.frames is None:
            early = self.current_target or self.new_target("moving")
            self.waiting_clicks.append((early.name, index, x, y, as_clicked))
            self.prepare_frames()
            self.result_label.setText(
                f"{early.name}: click in frame {index + 1} kept "
                f"({len(self.waiting_clicks)} waiting); it is placed once the lights are "
                "prepared for tracking."
            )
            return None
        light = self._light_of(index)
        if light is None:
            self.result_label.setText("This frame is not a light frame: show a light to click.")
            return None
        target = self.current_target
        if target is None:
            target = self.new_target("moving")
        name = target.name
        frames, p = self.frames, self.params()
        jd = float(frames.times.jd[light])

        def work(state) -> tuple[Click, str]:
            if as_clicked:
                return Click(light, jd, x, y, UNREFINED_SIGMA, refined=False), "kept as clicked"
            r = refine_click(
                frames.image(light), x, y, box_size=p.box_size, min_snr=p.min_snr,
                gain=frames.gain(),
            )  # fmt: skip
            return Click(light, jd, r.x, r.y, r.sigma, refined=r.found), r.message

        task = self.session.workers.submit(work, name=f"Centroiding the click in light {light + 1}")
        task.result.connect(lambda res, n=name: self._clicked(n, *res))
        return task

    def place_waiting_clicks(self) -> None:
        """Place the clicks made while the lights were prepared (they are ready now)."""
        waiting, self.waiting_clicks = self.waiting_clicks, []
        for name, index, x, y, as_clicked in waiting:
            row = next((k for k, t in enumerate(self.targets) if t.name == name), None)
            if row is None:
                continue  # removed meanwhile
            self.target_list.setCurrentRow(row)
            self.add_click(x, y, as_clicked=as_clicked, index=index)

    def _clicked(self, name: str, click: Click, message: str) -> None:
        t = self.target(name)
        if t is None:
            return
        replaced = t.track.click_in(click.frame) is not None
        t = t.replace(track=t.track.with_click(click))
        self._replace(t)
        what = "corrected" if replaced else "added"
        self.result_label.setText(f"{t.name}: click {what} in light {click.frame + 1} ({message}).")
        self._refit(t)

    def remove_click(self, light: int) -> None:
        """Remove the selected target's click in light frame ``light`` and refit."""
        t = self.current_target
        if t is None or t.track.click_in(light) is None:
            return
        t = t.replace(track=t.track.without_click(light))
        self._replace(t)
        self._refit(t)

    def _remove_selected_click(self) -> None:
        item = self.click_list.currentItem()
        if item is not None:
            self.remove_click(int(item.data(Qt.ItemDataRole.UserRole)))

    # -- fitting --------------------------------------------------------------
    def run_current(self) -> Task | None:
        """Fit the selected target's track again (the panel has no per-frame step).

        The Run buttons are hidden here, but the base lifecycle (a redo on frame
        change, a window shortcut) may still call this: it never raises.
        """
        return self.run_all()

    def run_all(self) -> Task | None:
        """Fit the selected target's track over every light; None when there is nothing to fit."""
        target = self.current_target
        if self.frames is None:
            self.prepare_frames()
            self.result_label.setText("The lights are still being prepared.")
            return None
        if target is None:
            self.result_label.setText("No target yet: make one, then click it in a few frames.")
            return None
        return self._refit(target)

    def _refit(self, target: Target) -> Task | None:
        frames = self.frames
        if frames is None:
            return None
        eph = self.ephemerides.get(target.name)
        if target.kind == "moving" and not target.track.clicks and eph is None:
            self.predictions.pop(target.name, None)
            self._after_fit(target.name)
            return None
        if target.ra is not None and target.dec is not None and frames.wcs is None:
            # Not a failure: the lights are not solved yet (Astrometry searches
            # near the target when their headers give no pointing).
            self.predictions.pop(target.name, None)
            self.result_label.setText(
                f"{target.name}: RA {target.ra:.5f} Dec {target.dec:+.5f}, placed on the "
                "lights once they are solved (Astrometry)."
            )
            self._after_fit(target.name)
            return None

        def work(state) -> tuple[Table, str]:
            return predict_positions(target, frames, eph)

        task = self.session.workers.submit(
            work, name=f"Fitting the track of {target.name}", key=f"targets:fit:{target.name}"
        )
        task.result.connect(lambda res, n=target.name: self._fitted(n, *res))
        return task

    def _fitted(self, name: str, table: Table, summary: str) -> None:
        if self.target(name) is None:
            return
        self.predictions[name] = table
        if "ephem_x" in table.colnames:
            d = self.horizons_difference(name)
            summary += f"; Horizons - track: up to {np.nanmax(np.abs(d)):.2f} px"
        self.result_label.setText(f"{name}: {summary}.")
        self._after_fit(name)

    def _after_fit(self, name: str) -> None:
        self._update_plot()
        self._redraw()
