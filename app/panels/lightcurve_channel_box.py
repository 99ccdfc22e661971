"""The Light curve panel's choice of colour channels, for a colour camera's lights.

Shown only when the open night's lights are a Bayer mosaic: the user picks
the mosaic (every pixel of an aperture together) or the red, green or blue
channel, or all three, each measured on its own pixels as ``fluxion run``
measures them (:mod:`.lightcurve_channels`).
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from .lightcurve_channels import CHANNEL_CHOICES, ChannelPhotometry
from .lightcurve_state import LightCurveState

__all__ = ["LightCurveChannelsMixin", "channels_note"]


def channels_note(pattern: str | None, channels: tuple[str, ...]) -> str:
    """What the label says of a colour night's curve measured on ``channels`` ('' for none)."""
    if not pattern or not channels:
        return ""
    shown = channels[0]
    others = ", ".join(f"mag_{c}" for c in channels[1:])
    return (
        f" Colour camera ({pattern}): measured on the {', '.join(channels)} pixels, each "
        f"channel on its own pixels as fluxion run measures them; the curve shown is {shown}"
        + (f" ({others} are in the table and its exports)" if others else "")
        + "; not calibrated here (no catalogue gives a channel's band)."
    )


class LightCurveChannelsMixin(LightCurveState):
    """Builds and reads the channel choice."""

    def make_channel_box(self) -> QWidget:
        """The row with the channel choice (hidden until a colour night is open)."""
        self.channel_box = QComboBox()
        self.channel_box.addItems(list(CHANNEL_CHOICES))
        self.channel_box.setToolTip(
            "A colour camera's lights: measure every pixel of each aperture together, or each "
            "colour channel on its own pixels (red, the two greens, blue) as fluxion run does"
        )
        self.channel_row = QWidget()
        row = QHBoxLayout(self.channel_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Colour channels"))
        row.addWidget(self.channel_box, 1)
        self.session.sequence_changed.connect(self.show_channel_box)
        self.show_channel_box()
        return self.channel_row

    def colour_pattern(self) -> str | None:
        """The open night's Bayer pattern (its first light's), None for a monochrome night."""
        seq = self.session.sequence
        if seq is None:
            return None
        return next((f.cfa for f in seq.frames if getattr(f, "cfa", None)), None)

    def show_channel_box(self) -> None:
        """Show the choice when the open night's lights are a colour mosaic."""
        self.channel_row.setVisible(self.colour_pattern() is not None)

    def chosen_channels(self) -> tuple[str, ...]:
        """The channels picked (none: the mosaic, or a monochrome night)."""
        if self.colour_pattern() is None:
            return ()
        return CHANNEL_CHOICES[self.channel_box.currentText()]

    def channel_photometry(self, pattern: str | None) -> ChannelPhotometry | None:
        """The photometry of the picked channels on lights of ``pattern``, None for the mosaic."""
        channels = self.chosen_channels()
        return ChannelPhotometry(pattern, channels) if pattern and channels else None

    def show_curve_channels(self, table) -> None:
        """Set the choice to the channels a kept curve was measured on (the mosaic when none)."""
        if self.colour_pattern() is None:
            return
        channels = tuple(str(c) for c in (table.meta.get("channels") or ()))
        for text, picked in CHANNEL_CHOICES.items():
            if picked == channels:
                self.channel_box.setCurrentText(text)
                return
