"""The Qt application: parse GUI arguments and open the main window."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Open the main window (placeholder until the viewer lands)."""
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    label = QLabel("Fluxion")
    label.setWindowTitle("Fluxion")
    label.resize(480, 320)
    label.show()
    try:
        return app.exec()
    finally:
        label.close()
        label.deleteLater()
