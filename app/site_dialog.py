"""File > Observing site: where the night was observed, for lights whose headers do not say.

The project's site (``project.json``'s ``site``) fills only the lights whose
headers give none; a header's SITELAT/SITELONG or OBSGEO wins. The fields are
checked by :class:`~fluxion.core.io.site.ObservingSite` (ranges, the
east-positive longitude) and what is wrong is said under them; nothing is
computed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from fluxion.core.io.site import PROJECT_SOURCE, ObservingSite

__all__ = ["SiteDialog", "header_site_count"]


def header_site_count(frames: Sequence[Any]) -> tuple[int, int]:
    """(lights whose header gives a site, lights) among ``frames``."""
    lights = [f for f in frames if getattr(f, "type", "") == "light"]
    own = [
        f
        for f in lights
        if f.site is not None and not f.sources.get("site", "").startswith(PROJECT_SOURCE)
    ]
    return len(own), len(lights)


def _number(text: str) -> float | None:
    text = text.strip().replace(",", ".")
    return float(text) if text else None


class SiteDialog(QDialog):
    """The project's observing site: name, longitude (east +), latitude, height.

    ``site`` is the chosen site once accepted (None: the fields were emptied,
    the project keeps no site).
    """

    def __init__(
        self,
        site: ObservingSite | None,
        frames: Sequence[Any] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Observing site")
        self.site = site
        layout = QVBoxLayout(self)
        own, n = header_site_count(frames)
        if n == 0:
            said = "No night is open: the site is kept in the project for its lights."
        elif own == n:
            said = f"All {n} lights give their site in their headers: theirs are used."
        elif site is not None:
            said = f"{n - own} of {n} lights give no site in their headers: they take this one."
        else:
            said = (
                f"{n - own} of {n} lights give no site in their headers: without one they have "
                "no airmass (no extinction term, no airmass regressor, no scintillation) and "
                "their BJD_TDB is the geocentre's (up to 21 ms off)."
            )
        self.intro_label = intro = QLabel(
            f"{said}<br>The site below is used only where a header gives none (a header's "
            "SITELAT/SITELONG or OBSGEO wins). Longitude in degrees <b>east-positive</b> (west "
            "of Greenwich is negative), latitude north-positive, height in metres."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.name_edit = QLineEdit(site.name if site else "")
        self.name_edit.setPlaceholderText("optional, e.g. Backyard")
        self.lon_edit = QLineEdit("" if site is None else f"{site.longitude:.6f}")
        self.lon_edit.setPlaceholderText("e.g. -76.94 (west) or 8.55 (east)")
        self.lat_edit = QLineEdit("" if site is None else f"{site.latitude:.6f}")
        self.lat_edit.setPlaceholderText("e.g. 38.99 (north) or -33.9 (south)")
        height = "" if site is None or site.height is None else f"{site.height:.1f}"
        self.height_edit = QLineEdit(height)
        self.height_edit.setPlaceholderText("optional; 0 m when empty")
        form.addRow("Name", self.name_edit)
        form.addRow("Longitude (deg, east +)", self.lon_edit)
        form.addRow("Latitude (deg, north +)", self.lat_edit)
        form.addRow("Height (m)", self.height_edit)
        layout.addLayout(form)
        self.problem_label = QLabel("")
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #c0392b")
        layout.addWidget(self.problem_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)

    def chosen(self) -> ObservingSite | None:
        """The fields as a site (None when longitude and latitude are both empty).

        Raises
        ------
        ValueError
            Saying which field is wrong and the convention.
        """
        lon_text, lat_text = self.lon_edit.text().strip(), self.lat_edit.text().strip()
        if not lon_text and not lat_text:
            return None
        if not lon_text or not lat_text:
            raise ValueError("give both the longitude and the latitude (or neither: no site)")
        try:
            lon, lat = _number(lon_text), _number(lat_text)
            height = _number(self.height_edit.text())
        except ValueError:
            raise ValueError(
                "longitude, latitude and height are decimal numbers (degrees, metres): "
                "-76.94, not 76 56' W"
            ) from None
        if lon is None or lat is None:  # both texts are non-empty here
            raise ValueError("give both the longitude and the latitude")
        return ObservingSite(lon, lat, height, self.name_edit.text())

    def accept(self) -> None:
        """Keep the site when the fields are valid; otherwise say why and stay open."""
        try:
            self.site = self.chosen()
        except ValueError as exc:
            self.problem_label.setText(str(exc))
            return
        self.problem_label.setText("")
        super().accept()
