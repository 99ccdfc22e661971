"""The start page: open a folder or a project, the classroom demo, or a recent project."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["StartPage"]


class StartPage(QWidget):
    """What the window shows before anything is open.

    Signals
    -------
    open_folder_requested(), open_project_requested(), demo_requested()
    recent_requested(str)
        A recent project folder was chosen.
    """

    open_folder_requested = Signal()
    open_project_requested = Signal()
    demo_requested = Signal()
    recent_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("<h1>Fluxion</h1><p>Photometry of image sequences</p>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.open_folder_button = QPushButton("Open folder of FITS frames...")
        self.open_project_button = QPushButton("Open project...")
        self.demo_button = QPushButton("Classroom demo")
        self.demo_button.setToolTip(
            "Simulate a night with an asteroid, an eclipsing binary and a transiting "
            "planet (known truth), and open it"
        )
        self.open_folder_button.clicked.connect(self.open_folder_requested.emit)
        self.open_project_button.clicked.connect(self.open_project_requested.emit)
        self.demo_button.clicked.connect(self.demo_requested.emit)
        self.recent = QListWidget()
        self.recent.itemActivated.connect(
            lambda item: self.recent_requested.emit(item.data(Qt.ItemDataRole.UserRole))
        )
        box = QVBoxLayout()
        box.addWidget(title)
        for b in (self.open_folder_button, self.open_project_button, self.demo_button):
            b.setMinimumHeight(36)
            box.addWidget(b)
        box.addWidget(QLabel("Recent projects"))
        box.addWidget(self.recent)
        holder = QWidget()
        holder.setLayout(box)
        holder.setMaximumWidth(520)
        outer = QVBoxLayout(self)
        outer.addWidget(holder, 0, Qt.AlignmentFlag.AlignHCenter)

    def set_recent(self, folders: list[str]) -> None:
        """List recent project folders (newest first)."""
        self.recent.clear()
        for f in folders:
            item = QListWidgetItem(f"{Path(f).name}   ({f})")
            item.setData(Qt.ItemDataRole.UserRole, f)
            self.recent.addItem(item)
