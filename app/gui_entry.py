"""Start the GUI, or explain in one line why it cannot start."""

from __future__ import annotations

import os
import sys


def display_available() -> bool:
    """Whether Qt can open windows here (a display, Wayland, or an explicit platform)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_gui(argv: list[str]) -> int:
    """Open the main window; return the process exit status."""
    if not display_available():
        print(
            "fluxion: no display found (DISPLAY/WAYLAND_DISPLAY unset); the window cannot open. "
            "Headless subcommands work without one: fluxion --help "
            "(or set QT_QPA_PLATFORM=offscreen).",
            file=sys.stderr,
        )
        return 3
    from .main import main as gui_main

    return gui_main(argv)
