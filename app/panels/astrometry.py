"""Astrometry: plate-solve the frames from their header hints, offline first.

The form comes from :class:`fluxion.core.astrometry.SolveParams` (catalog,
magnitude limit, search radius, scale, SIP order, fallbacks). A solved frame
shows its matched stars on the image (detected source circles, catalog star
markers where the solution puts them) and what was done in plain words. The
plots: the RMS per frame over the night (a click selects the frame), and the
current frame's residuals as vectors across the field and against catalog
magnitude (:mod:`.astrometry_plots`).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QLabel, QTabWidget, QWidget

from fluxion.core.astrometry import SolveParams, SolveResult, not_solved
from fluxion.core.astrometry.step import catalog_for
from fluxion.core.astrometry.summary import solve_summary
from fluxion.core.catalogs import CatalogChain, CatalogError, LocalCatalog
from fluxion.core.chain import load_solution, solve_frame
from fluxion.core.chain.blind import unhinted
from fluxion.core.detection.extract import DetectionParams
from fluxion.core.io.frames import FrameInfo
from fluxion.core.project.cache import ProductCache
from fluxion.core.project.products import ProductStore
from fluxion.core.runtime.pipeline import StepState

from .astrometry_plots import ResidualMagnitudePlot, ResidualVectorPlot
from .astrometry_pointing import NightHint, pointed, pointing_note, target_pointing
from .base import FrameInputs, StepPanel, read_stored
from .standalone import run_standalone

__all__ = ["AstrometryPanel", "describe", "reference_chain", "restore"]


def describe(index: int, result: SolveResult) -> str:
    """One paragraph saying what was done, for the panel and the log."""
    if not result.solved:
        reason = result.reason[:1].upper() + result.reason[1:]
        return f"Frame {index + 1}: not solved. {reason}"
    text = (
        f"Frame {index + 1}: solved by {result.method} ({result.verdict}), {result.n_matched} stars"
    )
    if math.isfinite(result.rms_arcsec):
        # A solution read back from the project keeps its RMS in arcsec only.
        px = result.rms_px
        if not math.isfinite(px) and math.isfinite(result.pixel_scale) and result.pixel_scale > 0:
            px = result.rms_arcsec / result.pixel_scale
        text += f', RMS {result.rms_arcsec:.2f}"' + (f" ({px:.2f} px)" if math.isfinite(px) else "")
    if math.isfinite(result.pixel_scale):
        text += f', {result.pixel_scale:.3f}"/px'
    if result.flipped:
        text += ", mirrored image"
    if result.catalog:
        text += f"; catalog {result.catalog}"
    text += f"; {result.seconds:.1f} s."
    # The solver's notes, once each (a catalog that failed is named by every
    # attempt) and one to a line: run together they read as one sentence.
    notes = [m.strip().rstrip(".") for m in dict.fromkeys(result.messages) if m.strip()]
    if notes:
        text += "\n" + "\n".join(f"- {m[:1].upper() + m[1:]}." for m in notes)
    return text


def reference_chain(params: SolveParams, reference: Path | None) -> CatalogChain | None:
    """The step's catalog chain with the project's reference catalog asked first.

    None without a reference catalog (the chain function then builds the
    step's own chain), or when the step names its own file ("Local file").
    A named catalog that cannot be built (unknown name) leaves the reference
    catalog alone rather than failing the solve.
    """
    if reference is None or params.catalog == "Local file":
        return None
    local = LocalCatalog(reference)
    try:
        return catalog_for(params).preferring(local)
    except CatalogError:
        return CatalogChain([local])


def restore(
    store: ProductStore, frames: list[FrameInfo], cache: ProductCache | None = None, state=None
) -> dict[int, SolveResult]:
    """Solutions that earlier runs left in the project (runs in a worker)."""
    return read_stored(store, frames, "astrometry", load_solution, lights_only=True, cache=cache)


@dataclass(frozen=True)
class SolveContext:
    """What a solve needs from the window, taken when the run starts."""

    products: ProductStore | None
    catalog: CatalogChain | None
    detection: DetectionParams
    pointing: tuple[str, float, float] | None = None
    night: NightHint = field(default_factory=NightHint)


class AstrometryPanel(StepPanel):
    """Plate solving with its verdict, matched stars on the image, RMS per frame."""

    title = "Astrometry"
    step = "astrometry"
    params_type = SolveParams
    quantity = "RMS (arcsec)"
    restore_products = staticmethod(restore)

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        self._products: ProductStore | None = None
        self.reference_label = QLabel()
        self.reference_label.setWordWrap(True)
        self.layout().insertWidget(0, self.reference_label)
        session.reference_catalog_changed.connect(self._show_reference)
        self._show_reference()
        # Lights without a pointing: where they are searched, or how to give one.
        self.pointing_label = QLabel()
        self.pointing_label.setWordWrap(True)
        self.layout().insertWidget(1, self.pointing_label)
        targets_changed = getattr(session, "targets_changed", None)
        if targets_changed is not None:
            targets_changed.connect(self._show_pointing)
        self._show_pointing()
        self.scroll_form()  # sixteen parameters
        self.vector_plot = ResidualVectorPlot()
        self.magnitude_plot = ResidualMagnitudePlot()
        layout = self.layout()
        layout.removeWidget(self.plot)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plot, "Night")
        self.tabs.addTab(self.vector_plot, "Residual vectors")
        self.tabs.addTab(self.magnitude_plot, "Residual vs magnitude")
        layout.addWidget(self.tabs, 2)

    # -- the reference catalog ------------------------------------------------
    def _show_reference(self) -> None:
        ref = self.session.reference_catalog()
        self.reference_label.setText(
            f"Reference catalog of the project: {ref.name} (asked before the catalog below)."
            if ref is not None
            else ""
        )
        self.reference_label.setVisible(ref is not None)

    def _show_pointing(self) -> None:
        seq = self.session.sequence
        frames = [] if seq is None else list(seq.frames)
        note = pointing_note(frames, self.session.project.targets)
        self.pointing_label.setText(note)
        self.pointing_label.setVisible(bool(note))

    def _on_project(self) -> None:
        super()._on_project()
        self._show_reference()
        self._show_pointing()

    # -- running --------------------------------------------------------------
    def prepare_run(self) -> bool:
        self._products = self.keep_params_and_store()
        return self._products is not None

    def run_context(self) -> SolveContext:
        # The Detection panel's parameters, so that its stored sources are reused.
        return SolveContext(
            self._products,
            reference_chain(self.params(), self.session.reference_catalog()),
            self.session.project.step_params("detection", DetectionParams),
            target_pointing(self.session.project.targets),
        )

    @staticmethod
    def run(inputs: FrameInputs, params: SolveParams, state: StepState | None) -> SolveResult:
        """Solve a frame through :func:`fluxion.core.chain.solve_frame` (runs in a worker)."""
        context = inputs.context
        frame = context.night.hinted(pointed(inputs.frame, context.pointing), params)
        if frame.type != "light":
            # Bias, darks and flats show no stars: "Run on all lights" passes them by.
            return not_solved("none", f"{frame.path.name} is a {frame.type} frame, not a light")
        why = context.night.given_up(frame, params)
        if why:
            return not_solved("none", why)
        result = solve_frame(
            context.products,
            frame,
            params,
            catalog=context.catalog,
            state=state,
            detection=context.detection,
        )
        context.night.solved(frame, result, searched=unhinted(frame, params))
        return result

    # -- showing --------------------------------------------------------------
    def _on_sequence(self) -> None:
        super()._on_sequence()
        self._show_residuals(None)
        self._show_pointing()

    def _on_frame_changed(self, index: int) -> None:
        if index not in self.results:
            self._show_residuals(None)  # not the previous frame's stars under this frame
        super()._on_frame_changed(index)

    def _show_residuals(self, result: SolveResult | None) -> None:
        self.vector_plot.set_result(result)
        self.magnitude_plot.set_result(result)

    def summary(self, result: SolveResult) -> float:
        return float(result.rms_arcsec) if result.solved else float("nan")

    def run_summary(self, results: dict[int, SolveResult]) -> str:
        """N of M lights solved, and first a service that could not be reached."""
        seq = self.session.sequence
        lights = [r for i, r in results.items() if seq is None or seq[i].type == "light"]
        solved = [r.solved for r in lights]
        return "\n".join(solve_summary(solved, [r.service_problem for r in lights], noun="lights"))

    def show_result(self, index: int, result: SolveResult) -> None:
        self.result_label.setText(describe(index, result))
        self._show_residuals(result)

    def draw_overlays(self, index: int) -> None:
        result = self.results.get(index)
        if result is None:
            return
        view = self.view()
        m = result.matches
        if not result.solved or m is None or result.wcs is None or not len(m):
            return
        used = np.asarray(m["used"], bool)
        view.overlays.set_sources(np.asarray(m["x"])[used], np.asarray(m["y"])[used])
        cx, cy = result.wcs.all_world2pix(np.asarray(m["ra"]), np.asarray(m["dec"]), 0)
        view.overlays.set_catalog(cx, cy)


if __name__ == "__main__":
    sys.exit(run_standalone(AstrometryPanel))
