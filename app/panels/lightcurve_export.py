"""Light-curve and astrometry reports from the panel: the metadata dialog and the writers.

The writers are those of ``fluxion lightcurve`` (:mod:`fluxion.app.commands.reports`),
so a report made in the window and on the command line are the same file;
the dialog fills the options the command line takes as flags. The panel's
Export menu (:class:`LightCurveReportsMixin`) asks for the metadata and the
file, and writes in a worker.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QWidget,
)

from fluxion.core.reports.table import write_table

from ..commands import CommandError
from ..commands.reports import (
    check_report_options,
    write_light_curve_reports,
    write_position_reports,
)
from ..workers import Task
from .lightcurve_model import LightCurveRun

__all__ = [
    "REPORT_KINDS",
    "METADATA_FIELDS",
    "LightCurveReportsMixin",
    "ReportDialog",
    "write_report",
]

#: What the Export menu offers: kind -> (menu text, file filter).
REPORT_KINDS = {
    "table": ("Light curve table (CSV/ECSV)...", "Tables (*.csv *.ecsv)"),
    "alcdef": ("ALCDEF (asteroids)...", "ALCDEF (*.txt *.alcdef)"),
    "aavso": ("AAVSO extended (variable stars)...", "AAVSO (*.txt *.csv)"),
    "mpc": ("MPC 80-column astrometry...", "MPC (*.txt *.obs)"),
    "ades": ("ADES PSV astrometry...", "ADES (*.psv *.txt)"),
}

#: Metadata asked for in the dialog: key -> label (keys are the command's options).
METADATA_FIELDS = {
    "object": "Object name (AAVSO star id)",
    "number": "Minor planet number",
    "designation": "Provisional designation",
    "observers": "Observers (separated by ;)",
    "contact_name": "Contact name (ALCDEF)",
    "contact_info": "Contact e-mail or address (ALCDEF)",
    "obscode": "MPC observatory code",
    "aavso_code": "AAVSO observer code",
    "filter": "Filter code (empty: the frames')",
    "band": "Magnitude band (empty: the frames')",
    "catalog_used": "Astrometric catalogue (ADES)",
}


class ReportDialog(QDialog):
    """A small form for the report's metadata, prefilled with what was used last."""

    def __init__(self, kind: str, metadata: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(REPORT_KINDS[kind][0].rstrip("."))
        form = QFormLayout(self)
        self.edits: dict[str, QLineEdit] = {}
        for key, label in METADATA_FIELDS.items():
            value = metadata.get(key, "Gaia3" if key == "catalog_used" else "")
            edit = QLineEdit("" if value is None else str(value))
            self.edits[key] = edit
            form.addRow(label, edit)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def metadata(self) -> dict[str, str]:
        """The fields as typed."""
        return {k: e.text().strip() for k, e in self.edits.items()}


def _namespace(kind: str, path: Path, metadata: dict[str, Any]) -> argparse.Namespace:
    m = {k: str(metadata.get(k, "") or "").strip() for k in METADATA_FIELDS}
    number = m.pop("number")
    try:
        number_value = int(number) if number else None
    except ValueError:
        raise CommandError(f"the minor planet number {number!r} is not a whole number") from None
    ns = argparse.Namespace(**m, number=number_value, horizons=None, radec=None)
    ns.catalog_used = ns.catalog_used or "Gaia3"
    ns.obscode = ns.obscode or None
    for k in ("alcdef", "aavso", "mpc", "ades"):
        setattr(ns, k, path if k == kind else None)
    return ns


def write_report(
    kind: str, path: str | Path, run: LightCurveRun, frames, metadata: dict[str, Any],
    excluded: np.ndarray,
) -> str:  # fmt: skip
    """Write one report of the light curve (excluded frames left out); a line for the user.

    Raises
    ------
    CommandError
        A required value is missing (the message names it) or the file cannot be written.
    """
    path = Path(path)
    keep = ~np.asarray(excluded, bool)
    lc = run.table[keep]
    if kind == "table":
        write_table(path, lc)
        return f"light curve: {len(lc)} frames in {path}"
    args = _namespace(kind, path, metadata)
    try:
        check_report_options(args, light_curve=kind in ("alcdef", "aavso"))
        if kind in ("alcdef", "aavso"):
            lines = write_light_curve_reports(args, lc, frames, run.calibrated)
        else:
            positions = run.positions.copy()
            positions["clicked"] = np.asarray(positions["clicked"], bool) & keep
            mags = np.asarray(run.table["mag"], float) if run.calibrated else None
            lines = write_position_reports(args, positions, frames, mags)
    except CommandError as exc:
        # The command's messages name its flags; in the window they are fields.
        text = re.sub(r"--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", " "), str(exc))
        raise CommandError(text) from exc
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc}") from exc
    return "; ".join(lines)


class LightCurveReportsMixin:
    """The Light-curve panel's Export menu: metadata dialog, file, writer in a worker.

    Uses the panel's ``run``, ``frames``, ``excluded()`` and ``_target_doc()``
    (where the metadata last used is kept, in the target's project entry).
    """

    def _ask_export(self, kind: str) -> None:
        if self.run is None:
            self.result_label.setText("Measure the light curve first.")
            return
        doc = self._target_doc() or {}
        meta = dict(doc.get("report", {}))
        if kind != "table":
            dialog = ReportDialog(kind, meta, self)
            try:
                if not dialog.exec():
                    return
                meta = dialog.metadata()
            finally:
                dialog.deleteLater()
        path, _ = QFileDialog.getSaveFileName(
            self, REPORT_KINDS[kind][0], "", REPORT_KINDS[kind][1]
        )
        if path:
            self.export(kind, path, meta)

    def export(
        self, kind: str, path: str | Path, metadata: dict[str, Any] | None = None
    ) -> Task | None:
        """Write a report of the measured light curve in a worker (see :data:`REPORT_KINDS`)."""
        run, frames = self.run, self.frames
        if run is None:
            return None
        if frames is None and kind != "table":
            # A curve read from the project: the reports need the lights' site and times.
            self._prepare_frames()
            self.result_label.setText("Preparing the lights; export again in a moment.")
            return None
        meta = dict(metadata or {})
        doc = self._target_doc()
        if doc is not None and kind != "table":
            doc["report"] = meta
        excluded = self.excluded()

        def work(state) -> str:
            try:
                return write_report(kind, path, run, frames, meta, excluded)
            except CommandError as exc:
                raise ValueError(str(exc)) from exc

        task = self.session.workers.submit(work, name=f"Writing {Path(path).name}", key=None)
        task.result.connect(self.result_label.setText)
        return task
