"""The Qt application: parse the GUI's arguments and open the main window."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

__all__ = ["parse_args", "main"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """``fluxion [PATH] [--demo [--demo-dir DIR]]``."""
    p = argparse.ArgumentParser(prog="fluxion", description="Open the Fluxion window.")
    p.add_argument("path", nargs="?", type=Path, help="a folder of FITS frames or a project")
    p.add_argument("--demo", action="store_true", help="simulate and open the classroom demo")
    p.add_argument(
        "--demo-dir", type=Path, default=None, help="write the demo here (default: a temp folder)"
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    """Open the main window; returns the exit status."""
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Fluxion")
    app.setOrganizationName("Fluxion")
    window = MainWindow()
    window.show()
    if args.demo:
        window.start_demo(args.demo_dir)
    elif args.path is not None:
        window.open_path(args.path)
    try:
        return app.exec()
    finally:
        window.close()
        window.deleteLater()
