"""Targets: click-to-identify tracks in the viewer, fixed targets, Horizons and SkyBoT.

The user makes a target (moving or fixed; by clicking, by coordinates or by
name through JPL Horizons) and clicks it in any frames. Each click is refined
to the centroid in a worker, or kept as clicked with Shift held (faint
targets); a second click in a frame replaces the first, and the track is
refitted at once (:mod:`fluxion.core.targets.tracking`). Every frame shows the
predicted position and the track (the view's "targets" layer), the click in
that frame and the fit's uncertainty circle; a/d step through the frames.
Tracks live in ``project.targets`` and travel as positions files.

This module holds the panel and its list of targets; the clicks and fits
(:mod:`.targets_tracking`), what is drawn (:mod:`.targets_drawing`) and the
other sources of targets (:mod:`.target_sources`) are its mixins.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

from astropy.table import Table
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fluxion.core.runtime.params import param
from fluxion.core.targets.ephemerides import Ephemeris
from fluxion.core.targets.inputs import TargetFrames, target_frames

from ..workers import Task
from .base import NO_FRAMES_OPEN, StepPanel, cached_solutions, saved_product_store
from .solutions import follow_solutions
from .standalone import run_standalone
from .target_model import Target
from .target_overlay import TargetMarks
from .target_sources import TargetSourcesMixin
from .targets_drawing import TargetDrawingMixin
from .targets_naming import TargetNamingMixin
from .targets_tracking import TargetTrackingMixin

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


class TargetsPanel(
    TargetSourcesMixin, TargetTrackingMixin, TargetDrawingMixin, TargetNamingMixin, StepPanel
):
    """Make targets, click them in frames, see the predicted track everywhere."""

    title = "Targets"
    step = "targets"
    params_type = TrackingParams
    quantity = "track uncertainty (px)"

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        for w in (self.run_button, self.run_all_button, self.cancel_button, self.redo_box):
            w.setVisible(False)
        self.frames: TargetFrames | None = None
        self._preparing: Task | None = None
        self.targets: list[Target] = []
        # Targets made before the lights are ready, when the project's own are
        # not read yet (see _save_targets).
        self._made_early: set[str] = set()
        self.waiting_clicks: list[tuple[str, int, float, float, bool]] = []
        self.predictions: dict[str, Table] = {}
        self.ephemerides: dict[str, Ephemeris] = {}
        self.known: Table | None = None
        self.marks = TargetMarks(image_view) if image_view is not None else None
        self._build()
        if image_view is not None:
            image_view.pixel_clicked.connect(self._on_view_click)
        # Lights prepared before they were solved: prepared again with their solutions.
        self._unsolved_frames = False
        follow_solutions(session, self, self._on_new_solutions)
        # A new observing site: an ephemeris is asked again for it (topocentric places).
        site_changed = getattr(session, "site_changed", None)
        if site_changed is not None:
            site_changed.connect(self._on_new_solutions)

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
            ("New moving", lambda: self._new_clicked("moving"), "A moving target: click it"),
            ("New fixed", lambda: self._new_clicked("fixed"), "A fixed target: click it"),
            ("By coordinates...", self._ask_coordinates, "A fixed target at RA, Dec"),
            ("From Horizons...", self._ask_horizons, "A moving target's ephemeris by name"),
            ("Remove target", self.remove_target, "Forget the selected target"),
            ("Rename...", self._ask_name, "Give the selected target a name"),
            ("Known objects", self.find_known_objects, "Known asteroids in the field (SkyBoT)"),
            ("Import positions...", self._ask_import, "A track from a positions file"),
            ("Export positions...", self._ask_export, "The predicted positions as CSV/ECSV"),
        ]
        for k, (text, slot, tip) in enumerate(buttons):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            grid.addWidget(b, k // 3, k % 3)  # three a row: the dock is a third of the window
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
        self.frames, self._preparing, self._unsolved_frames = None, None, False
        self.targets, self.predictions, self.ephemerides, self.known = [], {}, {}, None
        self._made_early, self.waiting_clicks = set(), []
        self._refresh_lists()
        self._redraw()
        # Following the field through every light is seconds of work: it waits
        # until the panel is shown or used, not for every sequence opened.
        if self.in_front:
            self.prepare_frames()

    def _on_new_solutions(self) -> None:
        if self.frames is None and self._preparing is None:
            return  # not prepared yet: they will be with the solutions
        self._unsolved_frames = True
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
        ready = self.frames is not None and not self._unsolved_frames
        if seq is None or ready or busy:
            return None
        self._unsolved_frames = False
        store = saved_product_store(self.session)
        self._preparing = self.session.workers.submit(
            target_frames,
            seq,
            store=store,
            solved_wcs=cached_solutions(self.session, store),
            name="Preparing the lights for tracking",
            key="targets:frames",
        )
        self._preparing.result.connect(self._frames_ready)
        # What is known meanwhile (it takes seconds to a minute on a real night):
        # how far the preparation is, and the targets the project keeps.
        self._preparing.progress.connect(self._show_preparing)
        self._show_preparing(0.0, "")
        self._refresh_lists()
        return self._preparing

    def _show_preparing(self, fraction: float, message: str) -> None:
        """Say how far the lights' preparation is, and what waits for it."""
        if self.frames is not None and not self._unsolved_frames:
            return
        saved = self._waiting_targets()
        text = f"Preparing the lights for tracking: {fraction:.0%}"
        text += f" ({message})." if message else "."
        if saved:
            text += (
                f" {len(saved)} saved target(s) listed: they can be selected and clicked "
                "once the lights are ready."
            )
        else:
            text += " Targets can be made and clicked meanwhile: clicks are placed once ready."
        if self.waiting_clicks:
            text += f" {len(self.waiting_clicks)} click(s) waiting."
        self.result_label.setText(text)

    def _waiting_targets(self) -> list[str]:
        """The project's saved targets not read into the panel yet (lights not ready)."""
        if self.frames is not None:
            return []
        mine = {t.name for t in self.targets}
        return [
            str(d.get("name")) for d in self.session.project.targets if d.get("name") not in mine
        ]

    def _frames_ready(self, frames: TargetFrames) -> None:
        if frames.sequence is not self.session.sequence:
            return
        self.frames = frames
        self._load_targets()
        self.place_waiting_clicks()
        if self._unsolved_frames and self.in_front:
            self.prepare_frames()  # solved while these were prepared

    def _on_project(self) -> None:
        super()._on_project()
        if self.frames is not None:
            self._load_targets()

    def _load_targets(self) -> None:
        f = self.frames
        if f is None:
            return  # read once the lights are ready (_frames_ready)
        self.targets = [
            Target.from_dict(d, f.files, f.times.jd) for d in self.session.project.targets
        ]
        self._made_early = set()
        self.predictions.clear()
        self._refresh_lists()
        if self.targets:
            self.target_list.setCurrentRow(0)
        self.follow_selected_target()
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
        self.session.targets_changed.emit()  # the Light curve panel lists them
        # An edit of the targets (made, removed, clicked, renamed) is the user's work:
        # the window saves the project on this signal, so closing it keeps the edit.
        self.step_finished.emit(self.step)

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

    def _new_clicked(self, kind: str) -> Target | None:
        """ "New moving"/"New fixed": a target marked by clicking it needs a night to click on.

        With no night open it would be "target 1" pointing at no frames: none is made,
        and the panel says what to open.
        """
        if self.session.sequence is None:
            self.result_label.setText(
                f"No {kind} target made: it is marked by clicking it on the lights. "
                + NO_FRAMES_OPEN
            )
            return None
        return self.new_target(kind)

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
        self.follow_selected_target()
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
        # The saved ones not read yet: listed, not selectable until the lights are ready.
        for name in self._waiting_targets():
            item = QListWidgetItem(f"{name} (saved; ready with the lights)")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.target_list.addItem(item)
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


if __name__ == "__main__":
    sys.exit(run_standalone(TargetsPanel))
