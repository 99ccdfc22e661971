"""Settings that outlive a session (QSettings): window geometry, last folder, stretch, recents.

Versioned like the project file: ``settings_version`` is stored, and a newer
layout migrates or drops what it cannot read rather than failing at start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

__all__ = ["SETTINGS_VERSION", "MAX_RECENT", "Settings"]

SETTINGS_VERSION = 1
MAX_RECENT = 10

DISPLAY_DEFAULTS: dict[str, object] = {
    "stretch": "linear",
    "colormap": "grey",
    "limits": "zscale",
}


#: Report fields that belong to the observer, not to a night: kept between projects.
OBSERVER_KEYS = ("observers", "contact_name", "contact_info", "obscode", "aavso_code")


class Settings:
    """Typed access to Fluxion's QSettings.

    Parameters
    ----------
    path : path, optional
        An INI file to use instead of the user's settings (tests, portable use).
        ``$FLUXION_SETTINGS`` does the same from the environment.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        path = path or os.environ.get("FLUXION_SETTINGS")
        if path:
            self.qsettings = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self.qsettings = QSettings("Fluxion", "fluxion")
        version = self._int("settings_version", 0)
        if version > SETTINGS_VERSION:
            # written by a newer Fluxion: start from defaults rather than misread it
            self.qsettings.clear()
        self.qsettings.setValue("settings_version", SETTINGS_VERSION)

    def _int(self, key: str, default: int) -> int:
        try:
            value: Any = self.qsettings.value(key, default)  # str or int, as the file has it
            return int(value)
        except (TypeError, ValueError):
            return default

    # -- window ---------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self.qsettings.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self.qsettings.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", geometry)
        self.qsettings.setValue("window/state", state)

    def last_step(self) -> str:
        """Title of the step panel shown last ("" before the first run)."""
        return str(self.qsettings.value("window/step", "") or "")

    def set_last_step(self, title: str) -> None:
        self.qsettings.setValue("window/step", title)

    # -- folders and recents --------------------------------------------------
    def last_folder(self) -> str:
        folder = str(self.qsettings.value("last_folder", "") or "")
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    def set_last_folder(self, folder: str | os.PathLike[str]) -> None:
        self.qsettings.setValue("last_folder", str(folder))

    def recent_projects(self) -> list[str]:
        """Recently opened or saved projects that still exist, newest first."""
        value: Any = self.qsettings.value("recent_projects", [])  # a str for a list of one
        items = [value] if isinstance(value, str) else list(value or [])
        return [p for p in items if Path(p).exists()]

    def add_recent_project(self, folder: str | os.PathLike[str]) -> None:
        folder = str(Path(folder).resolve())
        items = [p for p in self.recent_projects() if p != folder]
        self.qsettings.setValue("recent_projects", [folder, *items][:MAX_RECENT])

    # -- the observer, for reports --------------------------------------------
    def observer(self) -> dict[str, str]:
        """Who observes and where (report fields that do not change between projects)."""
        return {k: str(self.qsettings.value(f"observer/{k}", "") or "") for k in OBSERVER_KEYS}

    def set_observer(self, values: dict[str, object]) -> None:
        """Remember the observer's fields among ``values`` (empty ones too: cleared)."""
        for k in OBSERVER_KEYS:
            if k in values:
                self.qsettings.setValue(f"observer/{k}", str(values[k] or ""))

    # -- display --------------------------------------------------------------
    def display_defaults(self) -> dict[str, object]:
        """Stretch, colour map and limits method to start with."""
        return {k: self.qsettings.value(f"display/{k}", v) for k, v in DISPLAY_DEFAULTS.items()}

    def set_display_defaults(self, values: dict[str, object]) -> None:
        for k in DISPLAY_DEFAULTS:
            if k in values:
                self.qsettings.setValue(f"display/{k}", values[k])

    # -- presentation -----------------------------------------------------------
    def presentation(self) -> bool:
        """Whether the window starts in presentation (projector) mode."""
        value = self.qsettings.value("window/presentation", False)
        return value is True or str(value).lower() in ("true", "1")

    def set_presentation(self, on: bool) -> None:
        self.qsettings.setValue("window/presentation", bool(on))

    def sync(self) -> None:
        self.qsettings.sync()
