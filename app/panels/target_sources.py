"""The Targets panel's other sources of targets: Horizons, SkyBoT, coordinates, files.

A mixin of :class:`~fluxion.app.panels.targets.TargetsPanel`, kept apart so
that the panel module holds the clicking and drawing. Every service call runs
in a worker; a service that is down is one error message, nothing is lost.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.wcs.utils import proj_plane_pixel_scales
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog

from fluxion.core.reports import ExportError
from fluxion.core.reports.table import read_positions, track_from_positions, write_table
from fluxion.core.targets.ephemerides import Ephemeris, horizons_ephemeris, known_objects_in_field
from fluxion.core.targets.tracking import Track

from ..workers import ErrorInfo, Task
from .base import suggested_file
from .target_coordinates import CoordinatesDialog
from .target_model import Target
from .targets_state import TargetsState

__all__ = ["TargetSourcesMixin", "known_object_positions"]


def known_object_positions(known: Table, jd: float) -> tuple[np.ndarray, np.ndarray]:
    """RA, Dec (deg) of SkyBoT's objects at ``jd``, moved on with their rates.

    SkyBoT gives positions at one epoch (``known.meta['jd']``) and rates in
    arcsec/h (RA rate already times cos Dec); over one night a linear motion
    is good to well below a marker's size.
    """
    hours = (jd - float(known.meta.get("jd", jd))) * 24.0
    dec = np.asarray(known["dec"], float) + np.nan_to_num(known["dec_rate"]) * hours / 3600.0
    cosd = np.cos(np.radians(np.asarray(known["dec"], float)))
    ra = np.asarray(known["ra"], float) + np.nan_to_num(known["ra_rate"]) * hours / 3600.0 / cosd
    return ra % 360.0, dec


class TargetSourcesMixin(TargetsState):
    """Horizons, SkyBoT, coordinates and positions files for the Targets panel."""

    # -- Horizons, SkyBoT -----------------------------------------------------
    def _ask_horizons(self) -> None:
        name, ok = QInputDialog.getText(self, "JPL Horizons", "Name, number or designation:")
        if ok and name.strip():
            self.query_horizons(name.strip())

    def query_horizons(self, designation: str) -> Task | None:
        """Get a moving target's ephemeris from JPL Horizons in a worker.

        It joins the selected moving target when that has no ephemeris yet
        (drawn beside its clicked track, the difference plotted), else it
        becomes a new target.
        """
        if self.frames is None:
            self.prepare_frames()
            return None
        t = self.current_target
        if t is None or t.kind != "moving" or t.horizons:
            t = self.new_target("moving", designation, horizons=designation)
        else:
            t = t.replace(horizons=designation)
            self._replace(t)
        frames, p = self.frames, self.params()
        folder = self.session.project.folder
        cache = None if folder is None else folder / "ephemerides"

        def work(state) -> Ephemeris:
            state.progress(0.1, f"asking JPL Horizons for {designation}")
            return horizons_ephemeris(designation, frames.times, site=frames.location,
                                      observatory_code=p.observatory_code or None,
                                      cache_dir=cache)  # fmt: skip

        task = self.session.workers.submit(work, name=f"Ephemeris of {designation}",
                                           key=f"targets:horizons:{t.name}")  # fmt: skip
        task.result.connect(lambda eph, n=t.name: self._ephemeris_ready(n, eph))
        return task

    def _ephemeris_ready(self, name: str, eph: Ephemeris) -> None:
        t = self.target(name)
        if t is None:
            return
        self.ephemerides[name] = eph
        self._refit(t)

    def find_known_objects(self) -> Task | None:
        """Ask SkyBoT for the known asteroids and comets in the field (in a worker)."""
        f = self.frames
        if f is None:
            self.prepare_frames()
            return None
        if f.wcs is None:
            self.result_label.setText("Known objects need frames with a WCS: solve them first.")
            return None
        mid = len(f) // 2
        w = f.wcs[mid]
        shape = f.sequence[f.indices[mid]].shape
        if shape is None:  # a usable light has one; a frame without pixels cannot be searched
            return None
        ny, nx = shape
        center = w.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
        scale = float(np.mean(proj_plane_pixel_scales(w.celestial)))
        radius = 0.5 * np.hypot(nx, ny) * scale * u.deg
        epoch = f.times[mid]
        code = self.params().observatory_code or "500"

        def work(state) -> Table:
            state.progress(0.1, "asking SkyBoT")
            table = known_objects_in_field(center, radius, epoch, observatory_code=code)
            table.meta["jd"] = float(epoch.utc.jd)
            return table

        task = self.session.workers.submit(
            work, name="Known objects (SkyBoT)", key="targets:skybot"
        )
        task.result.connect(self._known_ready)
        return task

    def _known_ready(self, table: Table) -> None:
        self.known = table
        names = ", ".join(str(n) for n in table["name"][:8]) if len(table) else "none"
        self.result_label.setText(f"Known objects in the field (SkyBoT): {len(table)}: {names}.")
        self._redraw()

    # -- coordinates and positions files --------------------------------------
    def _ask_coordinates(self) -> None:
        dialog = CoordinatesDialog(self)
        try:
            if dialog.exec() == QDialog.DialogCode.Accepted and dialog.coordinates():
                self.add_by_coordinates(dialog.coordinates(), dialog.name())
        finally:
            dialog.deleteLater()

    def add_by_coordinates(self, text: str, name: str = "") -> Target | None:
        """A fixed target at ``"RA Dec"`` (degrees or sexagesimal hours/degrees)."""
        try:
            parts = text.replace(",", " ").split()
            unit = (u.hourangle, u.deg) if ":" in parts[0] or "h" in parts[0] else (u.deg, u.deg)
            c = SkyCoord(parts[0], parts[1], unit=unit) if len(parts) == 2 else SkyCoord(
                text, unit=unit)  # fmt: skip
        except (ValueError, IndexError) as exc:
            self.result_label.setText(f"Cannot read coordinates {text!r}: {exc}.")
            return None
        return self.new_target("fixed", name, ra=float(c.ra.deg), dec=float(c.dec.deg))

    def _ask_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import positions", "", "Tables (*.csv *.ecsv)")
        if path:
            self.import_positions(path)

    def import_positions(self, path: str | Path) -> Target | None:
        """A moving target whose clicks are the rows of a positions file."""
        if self.frames is None:
            self.prepare_frames()
            return None
        f = self.frames
        try:
            track = track_from_positions(read_positions(path), f.times.jd, f.files,
                                         name=Path(path).stem)  # fmt: skip
        except ExportError as exc:
            self._error("Importing positions", str(exc), "Choose a CSV or ECSV positions file.")
            return None
        t = self.new_target("moving", Path(path).stem)
        t = t.replace(track=Track(name=t.name, clicks=track.clicks))
        self._replace(t)
        self._refit(t)
        return t

    def _ask_export(self) -> None:
        t = self.current_target
        start = suggested_file(self.session, f"{t.name if t else 'target'}_positions", ".ecsv")
        path, _ = QFileDialog.getSaveFileName(
            self, "Export positions", start, "Tables (*.csv *.ecsv)"
        )
        if path:
            self.export_positions(path)

    def export_positions(self, path: str | Path) -> Path | None:
        """Write the selected target's positions in every light (file, jd, ra, dec, x, y ...)."""
        t = self.current_target
        table = self.predictions.get(t.name) if t is not None else None
        if table is None:
            self._error("Exporting positions", "the target has no track yet", "Click it first.")
            return None
        try:
            return write_table(path, table)
        except (ExportError, OSError) as exc:
            self._error(
                "Exporting positions", str(exc), "Choose a .csv or .ecsv file you can write."
            )
            return None

    def _error(self, task: str, message: str, hint: str) -> None:
        self.session.workers.error.emit(ErrorInfo(task, message, hint))
