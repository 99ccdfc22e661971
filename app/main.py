"""The Qt application: parse the GUI's arguments and open the main window."""

from __future__ import annotations

import argparse
import logging
import os
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
    # Python's collector runs on whichever thread allocates when a threshold is
    # passed, a worker's included; Qt objects destroyed there can crash the
    # GUI. pyqtgraph's GarbageCollector turns automatic collection off and
    # collects on a GUI-thread timer instead.
    from pyqtgraph.util.garbage_collector import GarbageCollector

    collector = GarbageCollector(interval=1.0)  # noqa: F841 - its timer lives with it
    app.setApplicationName("Fluxion")
    app.setOrganizationName("Fluxion")
    _set_window_icon(app)
    window = MainWindow()
    window.show()
    if args.demo:
        window.start_demo(args.demo_dir)
    elif args.path is not None:
        window.open_path(args.path)
    quit_after = os.environ.get("FLUXION_QUIT_AFTER_MS")
    if quit_after and not _quit_once_open(app, window, quit_after):
        window.close()
        return 2
    try:
        return app.exec()
    finally:
        window.close()
        window.deleteLater()


def _set_window_icon(app) -> None:
    """Fluxion's icon for every window (the PNG: it needs no SVG plugin)."""
    from importlib import resources

    from PySide6.QtGui import QIcon

    # Wayland compositors find the icon through the desktop entry of this name.
    app.setDesktopFileName("fluxion")
    icon = resources.files("fluxion.resources").joinpath("icons", "fluxion.png")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    else:  # an incomplete install: a window without an icon still works
        logging.getLogger("fluxion.app").warning("application icon missing: %s", icon)


# Without a first frame within this long after the quit delay, the smoke test fails.
_OPEN_DEADLINE_MS = 60_000


def _quit_once_open(app, window, value: str) -> bool:
    """Testing hook for the standalone build's smoke test (``FLUXION_QUIT_AFTER_MS=N``).

    Quits with status 0 N ms after the first frame of the opened night is on
    screen; with status 1 when a worker reports an error first, or when no frame
    shows within the deadline, so that exit 0 proves the night really opened.
    Returns False (after a message) when ``value`` is not a whole number of ms.
    """
    from PySide6.QtCore import QTimer

    try:
        delay = int(value)
        if delay < 0:
            raise ValueError
    except ValueError:
        print(f"fluxion: FLUXION_QUIT_AFTER_MS={value!r} is not a number of ms", file=sys.stderr)
        return False
    opened = False
    decided = False  # the first verdict stands; later signals and timers do nothing

    def finish(status: int, why: str = "") -> None:
        nonlocal decided
        if not decided:
            decided = True
            if why:
                print(f"fluxion: {why}", file=sys.stderr)
            app.exit(status)

    def on_frame(_frame: object) -> None:
        nonlocal opened
        if not opened:
            opened = True
            QTimer.singleShot(delay, window, lambda: finish(0))

    def on_error(info: object) -> None:
        finish(1, f"{getattr(info, 'task', '')}: {getattr(info, 'message', info)}")

    def on_deadline() -> None:
        if not opened:
            finish(1, "no frame was shown before the deadline")

    window.session.frame_ready.connect(on_frame)
    window.workers.error.connect(on_error)
    QTimer.singleShot(delay + _OPEN_DEADLINE_MS, window, on_deadline)
    return True
