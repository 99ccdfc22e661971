"""The Light curve panel's choice of colour channels, for a colour camera's lights.

Shown only when the open night's lights are a Bayer mosaic: the user picks
the mosaic (every pixel of an aperture together) or the red, green or blue
channel, or all three, each measured on its own pixels as ``fluxion run``
measures them (:mod:`.lightcurve_channels`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from fluxion.core.runtime.params import params_to_dict

from .lightcurve_channels import CHANNEL_CHOICES, ChannelPhotometry
from .lightcurve_state import LightCurveState

__all__ = ["CHANNELS_KEY", "LightCurveChannelsMixin", "channels_note", "colour_brief"]

#: The key of the channel choice among the project's Light curve settings
#: (beside the form's: ``fluxion run`` reads the form's and passes this one by).
CHANNELS_KEY = "colour_channels"


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


def colour_brief(pattern: str | None, channels: tuple[str, ...]) -> str:
    """The label's few words on a colour night's curve ('' for a monochrome one).

    The whole note (:func:`channels_note`, :func:`.mosaic_note`) ran to several
    lines of the label; it goes to the label's tooltip.
    """
    if not pattern:
        return ""
    if not channels:
        return f" Colour camera ({pattern}): all pixels together (the mosaic)."
    return (
        f" Colour camera ({pattern}): {', '.join(channels)} channels, {channels[0]} shown, "
        "not calibrated."
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
        # Kept with the form's settings, and set back from them when a project opens.
        self.channel_box.currentTextChanged.connect(lambda _t: self._on_params(self.params()))
        self.channel_row = QWidget()
        row = QHBoxLayout(self.channel_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Colour channels"))
        row.addWidget(self.channel_box, 1)
        self.session.sequence_changed.connect(self.show_channel_box)
        self.show_channel_box()
        return self.channel_row

    def kept_params(self, params: Any) -> dict[str, Any]:
        """The form's settings and the channel choice, as the project keeps them."""
        return {**params_to_dict(params), CHANNELS_KEY: self.channel_box.currentText()}

    def show_kept_channels(self) -> None:
        """Set the choice to the one the project keeps (the mosaic when none)."""
        kept = self.session.project.steps.get(self.step, {}).get(CHANNELS_KEY)
        text = kept if kept in CHANNEL_CHOICES else next(iter(CHANNEL_CHOICES))
        with QSignalBlocker(self.channel_box):  # read, not a change to keep
            self.channel_box.setCurrentText(text)

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
