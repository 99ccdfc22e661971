"""Targets: click-to-identify tracks in the viewer, fixed targets, Horizons and SkyBoT.

The user makes a target (moving or fixed; by clicking, by coordinates or by
name through JPL Horizons) and clicks it in any frames. Each click is refined
to the centroid in a worker, or kept as clicked with Shift held (faint
targets); a second click in a frame replaces the first, and the track is
refitted at once (:mod:`fluxion.core.tracking`). Every frame shows the
predicted position and the track (the view's "targets" layer), the click in
that frame and the fit's uncertainty circle; a/d step through the frames.
Tracks live in ``project.targets`` and travel as positions files.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from astropy.table import Table
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fluxion.core.ephemerides import (
    Ephemeris,
)
from fluxion.core.params import param
from fluxion.core.target_inputs import TargetFrames, target_frames
from fluxion.core.tracking import UNREFINED_SIGMA, Click, refine_click

from ..workers import Task
from .base import StepPanel, run_standalone, saved_product_store
from .target_model import Target, predict_positions
from .target_overlay import TargetMarks
from .target_sources import TargetSourcesMixin, known_object_positions

__all__ = ["TrackingParams", "TargetsPanel"]

log = logging.getLogger("fluxion.app.targets")


@dataclass(frozen=True)
class TrackingParams:
    """How clicks are refined and the track drawn."""

    box_size: int = param(
        11, label="Centroid box", unit="px", minimum=5, maximum=51,
        help="Side of the box searched for the source under a click; about 2-3 FWHM.",
    )  # fmt: skip
    min_snr: float = param(
        5.0, label="Minimum S/N", minimum=1.0, maximum=100.0,
        help="A click with no source above this peak S/N is kept as clicked (empty sky).",
    )  # fmt: skip
    circle_sigma: float = param(
        3.0, label="Uncertainty circle", unit="sigma", minimum=1.0, maximum=10.0,
        help="Radius of the circle drawn around the predicted position, in the fit's sigma.",
    )  # fmt: skip
    observatory_code: str = param(
        "", label="MPC observatory code",
        help="For Horizons and SkyBoT; empty: the site from the headers (or the geocentre).",
    )  # fmt: skip


class TargetsPanel(TargetSourcesMixin, StepPanel):
    """Make targets, click them in frames, see the predicted track everywhere."""

    title = "Targets"
    step = "targets"
    params_type = TrackingParams
    quantity = "track uncertainty (px)"

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        for w in (self.run_button, self.run_all_button, self.redo_box):
            w.setVisible(False)
        self.frames: TargetFrames | None = None
        self._preparing: Task | None = None
        self.targets: list[Target] = []
        # Targets made before the lights are ready, when the project's own are
        # not read yet (see _save_targets).
        self._made_early: set[str] = set()
        self.predictions: dict[str, Table] = {}
        self.ephemerides: dict[str, Ephemeris] = {}
        self.known: Table | None = None
        self.marks = TargetMarks(image_view) if image_view is not None else None
        self._build()
        if image_view is not None:
            image_view.pixel_clicked.connect(self._on_view_click)

    # -- construction ---------------------------------------------------------
    def _build(self) -> None:
        self.target_list = QListWidget()
        self.target_list.setMaximumHeight(90)
        self.target_list.currentRowChanged.connect(self._on_target_selected)
        self.click_list = QListWidget()
        self.click_list.setMaximumHeight(110)
        self.click_list.itemDoubleClicked.connect(
            lambda item: self.session.go_to(
                self._session_index(item.data(Qt.ItemDataRole.UserRole))
            )
        )
        self.mark_box = QCheckBox("Clicks in the viewer mark the target (hold Shift: as clicked)")
        self.mark_box.setChecked(True)
        grid = QGridLayout()
        buttons = [
            ("New moving", lambda: self.new_target("moving"), "A moving target: click it"),
            ("New fixed", lambda: self.new_target("fixed"), "A fixed target: click it"),
            ("By coordinates...", self._ask_coordinates, "A fixed target at RA, Dec"),
            ("From Horizons...", self._ask_horizons, "A moving target's ephemeris by name"),
            ("Remove target", self.remove_target, "Forget the selected target"),
            ("Known objects", self.find_known_objects, "Known asteroids in the field (SkyBoT)"),
            ("Import positions...", self._ask_import, "A track from a positions file"),
            ("Export positions...", self._ask_export, "The predicted positions as CSV/ECSV"),
        ]
        for k, (text, slot, tip) in enumerate(buttons):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            grid.addWidget(b, k // 4, k % 4)
        remove_click = QPushButton("Remove click")
        remove_click.setToolTip("Remove the selected click and refit")
        remove_click.clicked.connect(self._remove_selected_click)
        clicks_row = QHBoxLayout()
        clicks_row.addWidget(QLabel("Clicks (double-click: show the frame)"))
        clicks_row.addStretch(1)
        clicks_row.addWidget(remove_click)
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.target_list)
        lay.addLayout(grid)
        lay.addWidget(self.mark_box)
        lay.addLayout(clicks_row)
        lay.addWidget(self.click_list)
        self.layout().insertWidget(0, box)

    # -- frames and project ---------------------------------------------------
    def _on_sequence(self) -> None:
        super()._on_sequence()
        self.frames, self._preparing = None, None
        self.targets, self.predictions, self.ephemerides, self.known = [], {}, {}, None
        self._made_early = set()
        self._refresh_lists()
        self._redraw()
        # Following the field through every light is seconds of work: it waits
        # until the panel is shown or used, not for every sequence opened.
        if self.in_front:
            self.prepare_frames()

    def set_in_front(self, shown: bool) -> None:
        super().set_in_front(shown)
        if shown:
            self.prepare_frames()
        elif self.marks is not None:
            self.marks.clear()  # the next panel in front draws its own

    def prepare_frames(self) -> Task | None:
        """Prepare the lights for tracking in a worker, once per sequence.

        Returns the running task, or None when the lights are ready, being
        prepared already or there is no sequence. The project's targets are
        loaded when they are ready.
        """
        seq = self.session.sequence
        busy = self._preparing is not None and not self._preparing.done
        if seq is None or self.frames is not None or busy:
            return None
        self._preparing = self.session.workers.submit(
            target_frames,
            seq,
            store=saved_product_store(self.session),
            name="Preparing the lights for tracking",
            key="targets:frames",
        )
        self._preparing.result.connect(self._frames_ready)
        return self._preparing

    def _frames_ready(self, frames: TargetFrames) -> None:
        if frames.sequence is not self.session.sequence:
            return
        self.frames = frames
        self._load_targets()

    def _on_project(self) -> None:
        super()._on_project()
        if self.frames is not None:
            self._load_targets()

    def _load_targets(self) -> None:
        f = self.frames
        self.targets = [
            Target.from_dict(d, f.files, f.times.jd) for d in self.session.project.targets
        ]
        self._made_early = set()
        self.predictions.clear()
        self._refresh_lists()
        if self.targets:
            self.target_list.setCurrentRow(0)
        for t in self.targets:
            self._refit(t)
        self.result_label.setText(f"{len(f)} lights ready; {len(self.targets)} target(s).")

    def _save_targets(self) -> None:
        """Write the targets into the project, keeping what other panels stored in them.

        Until the lights are ready the project's targets are not read into the
        panel: those saved entries are kept as they are, before the targets
        made meanwhile (a saved name is never reused, so they cannot clash).
        """
        files = self.frames.files if self.frames is not None else None
        saved = self.session.project.targets
        old = {str(d.get("name")): d for d in saved}
        docs = []
        if self.frames is None:
            docs = [d for d in saved if str(d.get("name")) not in self._made_early]
        for t in self.targets:
            doc = t.to_dict(files)
            kept = old.get(t.name, {})
            for key in ("excluded", "report"):
                if key in kept:
                    doc[key] = kept[key]
            docs.append({**kept, **doc})
        self.session.project.targets = docs

    # -- targets --------------------------------------------------------------
    @property
    def current_target(self) -> Target | None:
        """The selected target."""
        row = self.target_list.currentRow()
        return self.targets[row] if 0 <= row < len(self.targets) else None

    def target(self, name: str) -> Target | None:
        """The target called ``name``."""
        return next((t for t in self.targets if t.name == name), None)

    def new_target(
        self, kind: str = "moving", name: str = "", *, ra: float | None = None,
        dec: float | None = None, horizons: str = "",
    ) -> Target:  # fmt: skip
        """Add a target (and select it); a name already taken gets a number."""
        # The project's names too: before the lights are ready its targets are not read yet.
        taken = {t.name for t in self.targets} | {
            str(d.get("name")) for d in self.session.project.targets
        }
        base = name.strip() or f"target {len(taken) + 1}"
        unique, k = base, 2
        while unique in taken:
            unique, k = f"{base} ({k})", k + 1
        t = Target(unique, kind, ra=ra, dec=dec, horizons=horizons)
        self.targets.append(t)
        if self.frames is None:
            self._made_early.add(unique)
        self._save_targets()
        self._refresh_lists()
        self.target_list.setCurrentRow(len(self.targets) - 1)
        if ra is not None:
            self._refit(t)
        return t

    def remove_target(self) -> None:
        """Forget the selected target."""
        t = self.current_target
        if t is None:
            return
        self.targets.remove(t)
        self.predictions.pop(t.name, None)
        self.ephemerides.pop(t.name, None)
        self._save_targets()
        self._refresh_lists()
        self._redraw()

    def _replace(self, target: Target) -> None:
        for k, t in enumerate(self.targets):
            if t.name == target.name:
                self.targets[k] = target
        self._save_targets()
        self._refresh_clicks()

    def _on_target_selected(self, row: int) -> None:
        self.prepare_frames()
        self._refresh_clicks()
        self._update_plot()
        self._redraw()

    def _refresh_lists(self) -> None:
        self.target_list.blockSignals(True)
        row = self.target_list.currentRow()
        self.target_list.clear()
        for t in self.targets:
            how = "fixed" if t.kind == "fixed" else "moving"
            extra = f", Horizons {t.horizons}" if t.horizons else ""
            self.target_list.addItem(f"{t.name} ({how}, {len(t.track.clicks)} clicks{extra})")
        self.target_list.setCurrentRow(min(max(row, 0), len(self.targets) - 1))
        self.target_list.blockSignals(False)
        self._refresh_clicks()

    def _refresh_clicks(self) -> None:
        self.click_list.clear()
        t = self.current_target
        if t is None:
            return
        row = self.target_list.currentRow()
        item = self.target_list.item(row)
        if item is not None:
            extra = f", Horizons {t.horizons}" if t.horizons else ""
            item.setText(f"{t.name} ({t.kind}, {len(t.track.clicks)} clicks{extra})")
        for c in t.track.clicks:
            how = f"centroid +-{c.sigma:.2f} px" if c.refined else "as clicked"
            self.click_list.addItem(f"light {c.frame + 1}: ({c.x:.2f}, {c.y:.2f}) {how}")
            self.click_list.item(self.click_list.count() - 1).setData(
                Qt.ItemDataRole.UserRole, c.frame
            )

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
        if not self.mark_box.isChecked() or not self.in_front:
            return
        keep = bool(Qt.KeyboardModifier(modifiers) & Qt.KeyboardModifier.ShiftModifier)
        self.add_click(x, y, as_clicked=keep)

    def add_click(self, x: float, y: float, *, as_clicked: bool = False) -> Task | None:
        """Mark the selected target at (x, y) in the current frame, then refit.

        The click is refined to the centroid in a worker unless ``as_clicked``;
        without a target a new moving one is made.
        """
        light = self._light_of(self.session.current)
        if self.frames is None:
            self.prepare_frames()
            self.result_label.setText("The lights are still being prepared; click again shortly.")
            return None
        if light is None:
            self.result_label.setText("This frame is not a light frame: show a light to click.")
            return None
        if self.current_target is None:
            self.new_target("moving")
        name = self.current_target.name
        frames, p = self.frames, self.params()
        jd = float(frames.times.jd[light])

        def work(state) -> tuple[Click, str]:
            if as_clicked:
                return Click(light, jd, x, y, UNREFINED_SIGMA, refined=False), "kept as clicked"
            r = refine_click(frames.image(light), x, y, box_size=p.box_size, min_snr=p.min_snr)
            return Click(light, jd, r.x, r.y, r.sigma, refined=r.found), r.message

        task = self.session.workers.submit(work, name=f"Centroiding the click in light {light + 1}")
        task.result.connect(lambda res, n=name: self._clicked(n, *res))
        return task

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
        eph = self.ephemerides.get(name)
        t = self.target(name)
        if eph is not None and t.track.clicks and self.frames.wcs is not None:
            d = self.horizons_difference(name)
            summary += f"; Horizons - track: up to {np.nanmax(np.abs(d)):.2f} px"
        self.result_label.setText(f"{name}: {summary}.")
        self._after_fit(name)

    def _after_fit(self, name: str) -> None:
        self._update_plot()
        self._redraw()

    def horizons_difference(self, name: str) -> np.ndarray:
        """Distance (px) from the clicked track to the Horizons ephemeris in every light."""
        table, eph, f = self.predictions[name], self.ephemerides[name], self.frames
        e = eph.predict(np.asarray(f.times.jd), f.wcs)
        return np.hypot(np.asarray(e["x"]) - table["x"], np.asarray(e["y"]) - table["y"])

    def _update_plot(self) -> None:
        t = self.current_target
        table = self.predictions.get(t.name) if t is not None else None
        if table is None or self.frames is None:
            self.plot.clear()
            return
        hours = (np.asarray(table["jd"]) - float(table["jd"][0])) * 24.0
        frames = [self._session_index(i) for i in range(len(table))]
        if t.name in self.ephemerides and t.track.clicks and self.frames.wcs is not None:
            self.plot.plot.setLabel("left", "Horizons - track (px)")
            values = self.horizons_difference(t.name)
        else:
            self.plot.plot.setLabel("left", self.quantity)
            values = np.asarray(table["sigma_px"], float)
        self.plot.set_series(hours, values, frames=frames)
        self.plot.mark_frame(self.session.current)

    # -- drawing --------------------------------------------------------------
    def _on_frame_changed(self, index: int) -> None:
        super()._on_frame_changed(index)  # redraws the overlays

    def _path_in(self, table: Table, light: int) -> tuple[np.ndarray, np.ndarray]:
        """The whole track in light ``light``'s pixels (sky tracks through its WCS)."""
        f = self.frames
        ra, dec = np.asarray(table["ra"], float), np.asarray(table["dec"], float)
        if f.wcs is not None and np.all(np.isfinite(ra)):
            x, y = f.wcs[light].world_to_pixel_values(ra, dec)
            return np.asarray(x), np.asarray(y)
        x, y = np.asarray(table["x"], float), np.asarray(table["y"], float)
        if f.offsets is not None:
            x = x - f.offsets[:, 0] + f.offsets[light, 0]
            y = y - f.offsets[:, 1] + f.offsets[light, 1]
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
            eph = self.ephemerides.get(t.name)
            if eph is not None and t.track.clicks and self.frames.wcs is not None:
                e = eph.predict(np.asarray(self.frames.times.jd), self.frames.wcs)
                label = f"{t.name} (Horizons)"
                names.append(label)
                xs.append(float(e["x"][light]))
                ys.append(float(e["y"][light]))
                tracks[label] = (np.asarray(e["x"]), np.asarray(e["y"]))
        if self.known is not None and len(self.known) and self.frames.wcs is not None:
            ra, dec = known_object_positions(self.known, float(self.frames.times.jd[light]))
            kx, ky = self.frames.wcs[light].world_to_pixel_values(ra, dec)
            known = [(float(a), float(b), str(n)) for a, b, n in zip(kx, ky, self.known["name"],
                                                                   strict=True)]  # fmt: skip
        return {"names": names, "x": xs, "y": ys, "tracks": tracks, "clicked": clicked,
                "circles": circles, "known": known}  # fmt: skip

    def _redraw(self) -> None:
        self.redraw_overlays()

    def draw_overlays(self, index: int) -> None:
        view = self.image_view
        light = self._light_of(index)
        if light is None:
            if self.marks is not None:
                self.marks.clear()
            return
        m = self.marks_in(light)
        view.overlays.set_targets(m["names"], m["x"], m["y"], tracks=m["tracks"])
        if self.marks is not None:
            self.marks.set_marks(m["clicked"], m["circles"], m["known"])


if __name__ == "__main__":
    sys.exit(run_standalone(TargetsPanel))
