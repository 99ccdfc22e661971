"""Astrometry: plate-solve the frames from their header hints, offline first.

The form comes from :class:`fluxion.core.astrometry.SolveParams` (catalog,
magnitude limit, search radius, scale, SIP order, fallbacks). A solved frame
shows its matched stars on the image (detected source circles, catalog star
markers where the solution puts them) and what was done in plain words; the
plot is the RMS per frame over the night, a click selecting the frame.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

from fluxion.core.astrometry import SolveParams, SolveResult
from fluxion.core.astrometry.step import solve_frame

from .base import StepPanel, run_standalone

__all__ = ["AstrometryPanel", "describe"]


def describe(index: int, result: SolveResult) -> str:
    """One paragraph saying what was done, for the panel and the log."""
    if not result.solved:
        return f"Frame {index + 1}: not solved. {result.reason}"
    text = (
        f"Frame {index + 1}: solved by {result.method} ({result.verdict}), {result.n_matched} stars"
    )
    if math.isfinite(result.rms_arcsec):
        text += f', RMS {result.rms_arcsec:.2f}" ({result.rms_px:.2f} px)'
    if math.isfinite(result.pixel_scale):
        text += f', {result.pixel_scale:.3f}"/px'
    if result.flipped:
        text += ", mirrored image"
    if result.catalog:
        text += f"; catalog {result.catalog}"
    text += f"; {result.seconds:.1f} s."
    if result.messages:
        text += " " + " ".join(result.messages)
    return text


class AstrometryPanel(StepPanel):
    """Plate solving with its verdict, matched stars on the image, RMS per frame."""

    title = "Astrometry"
    step = "astrometry"
    params_type = SolveParams
    quantity = "RMS (arcsec)"

    run_frame = staticmethod(solve_frame)

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        # Sixteen parameters make a tall form: it scrolls, so that the panel does
        # not force a minimum height on the whole window.
        layout = self.layout()
        index = layout.indexOf(self.form)
        layout.removeWidget(self.form)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.form)
        layout.insertWidget(index, scroll, 1)

    def summary(self, result: SolveResult) -> float:
        return float(result.rms_arcsec) if result.solved else float("nan")

    def show_result(self, index: int, result: SolveResult) -> None:
        self.result_label.setText(describe(index, result))
        view = self.image_view
        if view is None:
            return
        view.overlays.clear("sources")
        view.overlays.clear("catalog")
        m = result.matches
        if not result.solved or m is None or result.wcs is None or not len(m):
            return
        used = np.asarray(m["used"], bool)
        view.overlays.set_sources(np.asarray(m["x"])[used], np.asarray(m["y"])[used])
        cx, cy = result.wcs.all_world2pix(np.asarray(m["ra"]), np.asarray(m["dec"]), 0)
        view.overlays.set_catalog(cx, cy)


if __name__ == "__main__":
    sys.exit(run_standalone(AstrometryPanel))
