"""The dialog that makes a fixed target at RA, Dec: its name and its coordinates.

The name is the target's in the project, the light curve and every export
(``lightcurve.ecsv``'s ``target``, the AAVSO and ALCDEF reports); without one
the target is called "target N", which says nothing in a report.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

__all__ = ["CoordinatesDialog"]


class CoordinatesDialog(QDialog):
    """Name and RA Dec of a fixed target (OK only once coordinates are typed)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fixed target by coordinates")
        self.setMinimumWidth(440)  # the fields show their examples whole
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. TrES-1 or V1143 Cyg (used in the light curve)")
        self.coords_edit = QLineEdit()
        self.coords_edit.setPlaceholderText("degrees, or 19:04:09.8 +36:37:57")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Name", self.name_edit)
        form.addRow("RA Dec", self.coords_edit)
        note = QLabel(
            "The name is the target's in the light curve and its exports; "
            'left empty, the target is called "target N".'
        )
        note.setWordWrap(True)
        form.addRow(note)
        form.addRow(self.buttons)
        self.coords_edit.textChanged.connect(self._enable_ok)
        self._enable_ok()

    def _enable_ok(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if ok is not None:
            ok.setEnabled(bool(self.coords_edit.text().strip()))

    def name(self) -> str:
        """The name typed ('' when none)."""
        return self.name_edit.text().strip()

    def coordinates(self) -> str:
        """The RA Dec typed."""
        return self.coords_edit.text().strip()
