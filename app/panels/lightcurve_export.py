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
    QLabel,
    QLineEdit,
    QWidget,
)

from fluxion.core.io.fitsio import atomic_write_text
from fluxion.core.reports.table import write_table

from ..commands import CommandError
from ..commands.reports import (
    check_report_options,
    write_light_curve_reports,
    write_position_reports,
)
from ..workers import Task
from .base import suggested_file
from .lightcurve_describe import curve_description, description_path
from .lightcurve_model import LightCurveRun
from .lightcurve_run_stars import is_run_comparison_curve, magnitude_label
from .lightcurve_state import LightCurveState

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

#: A field's words for one report: the object of an ALCDEF report is an asteroid, not an
#: AAVSO star, and its filter is one of the standard's codes (a camera's "Open" is C).
KIND_LABELS = {
    ("alcdef", "object"): "Object name (the asteroid's, e.g. Luxembourg)",
    ("alcdef", "filter"): "Filter code (C: clear or none; empty: the frames')",
}

#: The fields each report asks for, in the dialog's order.
KIND_FIELDS = {
    "alcdef": ("object", "number", "designation", "observers", "contact_name", "contact_info",
               "obscode", "filter", "band"),
    "aavso": ("object", "aavso_code", "filter"),
    "mpc": ("number", "designation", "obscode", "band"),
    "ades": ("number", "designation", "obscode", "observers", "catalog_used", "band"),
}  # fmt: skip

#: The fields each report cannot do without ("number" stands for number or designation).
REQUIRED = {
    "alcdef": ("number", "designation", "observers", "contact_name", "contact_info"),
    "aavso": ("object", "aavso_code"),
    "mpc": ("number", "designation", "obscode"),
    "ades": ("number", "designation", "obscode", "observers"),
}

#: File name endings the report is written with by default.
#: Between what the panel says of the curve and what an export wrote.
EXPORTED = "\nExported: "

SUFFIX = {"table": ".csv", "alcdef": ".txt", "aavso": ".txt", "mpc": ".txt", "ades": ".psv"}


def report_problem(kind: str, metadata: dict[str, Any], path: Path | None = None) -> str:
    """What keeps ``kind`` from being written with ``metadata`` ('' when nothing).

    The same checks as ``fluxion lightcurve`` makes before any work, said with
    the dialog's field names instead of the command's options.
    """
    if kind == "table":
        return ""
    path = path or Path(f"report{SUFFIX[kind]}")
    try:
        check_report_options(
            _namespace(kind, path, metadata), light_curve=kind in ("alcdef", "aavso")
        )
    except CommandError as exc:
        return _field_words(str(exc))
    return ""


def _field_words(text: str) -> str:
    """A command's message with its --options named as the dialog's fields."""
    labels = {k.replace("_", "-"): v.split(" (")[0] for k, v in METADATA_FIELDS.items()}
    reports = {"alcdef": "the ALCDEF report", "aavso": "the AAVSO report",
               "mpc": "the MPC report", "ades": "the ADES report"}  # fmt: skip
    text = text.replace("--mpc/--ades need", "the MPC and ADES reports need")
    text = re.sub(r"--(alcdef|aavso|mpc|ades)(?![a-z-])", lambda m: reports[m.group(1)], text)
    return re.sub(
        r"--([a-z][a-z-]*)", lambda m: f"'{labels.get(m.group(1), m.group(1).replace('-', ' '))}'",
        text,
    )  # fmt: skip


class ReportDialog(QDialog):
    """The report's metadata, prefilled with what was used last; required fields marked.

    OK is refused (the dialog says which field is missing) until the report can
    be written.
    """

    def __init__(self, kind: str, metadata: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.setWindowTitle(REPORT_KINDS[kind][0].rstrip("."))
        form = QFormLayout(self)
        self.edits: dict[str, QLineEdit] = {}
        required = REQUIRED.get(kind, ())
        for key in KIND_FIELDS.get(kind, tuple(METADATA_FIELDS)):
            label = KIND_LABELS.get((kind, key), METADATA_FIELDS[key])
            value = metadata.get(key, "Gaia3" if key == "catalog_used" else "")
            edit = QLineEdit("" if value is None else str(value))
            self.edits[key] = edit
            if key in required:
                label += " *"
                edit.setPlaceholderText(
                    "this or the designation" if key == "number"
                    else "this or the number" if key == "designation" else "required"
                )  # fmt: skip
            form.addRow(label, edit)
        note = QLabel("* required")
        self.problem_label = QLabel("")
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #c03030;")
        form.addRow(note)
        form.addRow(self.problem_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def metadata(self) -> dict[str, str]:
        """The fields as typed."""
        return {k: e.text().strip() for k, e in self.edits.items()}

    def accept(self) -> None:  # noqa: D102 (Qt override)
        problem = report_problem(self.kind, self.metadata())
        if problem:
            self.problem_label.setText(problem[:1].upper() + problem[1:] + ".")
            return
        super().accept()


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
    excluded: np.ndarray, aperture: float | None = None, target: str = "",
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
        said = f"light curve: {len(lc)} frames in {path}"
        if path.suffix.lower() == ".csv":
            # The curve's description (its meta) does not survive in CSV: it goes beside
            # it, so a differential curve is not read as standard magnitudes.
            about = description_path(path)
            lines = curve_description(lc, run.calibrated, path.name, aperture, target)
            try:
                atomic_write_text(about, "\n".join(lines) + "\n")
            except OSError as exc:
                raise CommandError(f"cannot write {about}: {exc}") from exc
            what = magnitude_label(run.table, run.calibrated)
            said += f" (its mag column holds {what}s; what the curve is: {about.name})"
        return said
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
        raise CommandError(_field_words(str(exc))) from exc
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc}") from exc
    return "; ".join(lines)


class LightCurveReportsMixin(LightCurveState):
    """The Light-curve panel's Export menu: metadata dialog, file, writer in a worker.

    Uses the panel's ``run``, ``frames``, ``excluded()`` and ``_target_doc()``
    (where the metadata last used is kept, in the target's project entry).
    """

    def export_problem(self, kind: str) -> str:
        """Why ``kind`` cannot be exported from the curve shown ('' when it can)."""
        run = self.run
        if run is None:
            return "Measure the light curve first."
        if kind in ("mpc", "ades"):
            pos = run.positions
            ra = np.asarray(pos["ra"], float) if "ra" in pos.colnames else np.empty(0)
            clicked = np.asarray(pos["clicked"], bool) if "clicked" in pos.colnames else ra > 0
            if not np.any(np.isfinite(ra) & clicked):
                return (
                    "MPC and ADES reports need measured sky positions: solve the frames "
                    "(Astrometry) and click the target in the Targets panel."
                )
        doc = self._target_doc() or {}
        if kind == "alcdef" and doc.get("kind", "moving") != "moving":
            return (
                "ALCDEF is the asteroid light-curve format: this target is fixed on the sky "
                "(a star). Export the table, or AAVSO for a variable star."
            )
        if kind == "aavso" and not run.calibrated and run.table.meta.get("comparison_reason"):
            return (
                "AAVSO reports need standard magnitudes; this is the run's differential curve "
                f"against comparison stars, because {run.table.meta['comparison_reason']} (see "
                "the Run tab). Give the lights zero points (the Zero point step: a catalog, "
                "and a Band where the filter names none), then measure the light curve again."
            )
        if kind == "aavso" and not run.calibrated:
            return (
                "AAVSO reports need standard magnitudes: run the Zero point step, then "
                "measure the light curve again (or type the comparison stars' magnitudes)."
            )
        return ""

    def _update_export_menu(self, menu) -> None:
        """Offer only what can be written; the others say why in their tooltip."""
        for action in menu.actions():
            kind = action.data()
            problem = self.export_problem(kind) if kind else ""
            action.setEnabled(not problem)
            action.setToolTip(problem)

    def _suggested_path(self, kind: str, metadata: dict[str, Any] | None = None) -> str:
        """``<target>_<kind><suffix>`` in the project folder (else the last folder); the
        object as the report's dialog names it (number, name or designation) when it does."""
        meta = metadata or {}
        said = [str(meta.get(k) or "").strip() for k in ("number", "object", "designation")]
        # "target 1" made by a click is not what the user called the asteroid in the dialog.
        said = [s for s in said[:2] if s] or [s for s in said[2:] if s]
        name = " ".join(said) or self.target_box.currentText().strip() or "lightcurve"
        return suggested_file(self.session, f"{name}_{kind}", SUFFIX[kind])

    def _ask_export(self, kind: str) -> None:
        problem = self.export_problem(kind)
        if problem:
            self.result_label.setText(problem)
            return
        doc = self._target_doc() or {}
        meta = dict(doc.get("report", {}))
        settings = getattr(self.session, "settings", None)
        if settings is not None:
            # The observer's own fields from earlier projects, where this one has none.
            for k, v in settings.observer().items():
                if v and not meta.get(k):
                    meta[k] = v
        if kind != "table":
            dialog = ReportDialog(kind, meta, self)
            try:
                if not dialog.exec():
                    return
                meta = {**meta, **dialog.metadata()}
            finally:
                dialog.deleteLater()
            if settings is not None:
                settings.set_observer(meta)
        path, _ = QFileDialog.getSaveFileName(
            self, REPORT_KINDS[kind][0], self._suggested_path(kind, meta), REPORT_KINDS[kind][1]
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
        # The run's curve says its own aperture (or the photometry step's); the
        # window's curves are measured with the form's.
        aperture = None if is_run_comparison_curve(run.table) else self.params().aperture_radius
        name = self.target_box.currentText()  # renamed since the curve was made, perhaps

        def work(state) -> str:
            try:
                return write_report(kind, path, run, frames, meta, excluded, aperture, name)
            except CommandError as exc:
                problem = ValueError(_field_words(str(exc)))
                problem.hint = (  # type: ignore[attr-defined]
                    f"Choose Export > {REPORT_KINDS[kind][0]} again and fill in what the "
                    "message names; the dialog keeps what you typed."
                )
                raise problem from exc

        task = self.session.workers.submit(work, name=f"Writing {Path(path).name}", key=None)
        task.result.connect(self._said_export)
        return task

    def _said_export(self, said: str) -> None:
        """Say what was written under what the panel said of the curve (which curve it is)."""
        shown = self.result_label.text().split(EXPORTED)[0].rstrip()
        self.result_label.setText(f"{shown}{EXPORTED}{said}" if shown else said)
