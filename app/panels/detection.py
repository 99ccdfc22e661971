"""Detection: sources, sky and seeing of each frame, with their diagnostics over the night.

The form comes from :class:`~fluxion.core.detection.extract.DetectionParams`. Each
frame goes through :func:`fluxion.core.chain.detect_frame`, which searches the
calibrated frame when the project has one (else the raw file) and keeps the
source table in the project, so a frame already done with the same parameters
is read back, not searched again. The sources are drawn on the image as
circles of their FWHM (flagged ones - saturated, blended, crowded, truncated -
in another colour); FWHM, sky and source count go to the frame table and to
the plot over time, where a click selects the frame.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel

from fluxion.core.chain import detect_frame, load_sources
from fluxion.core.detection.extract import DetectionError, DetectionParams, DetectionResult
from fluxion.core.detection.measure import SourceFlags
from fluxion.core.io.fitsio import FitsReadError
from fluxion.core.project.results import ResultsChange
from fluxion.core.runtime.pipeline import StepState
from fluxion.core.runtime.threads import single_thread

from ..workers import Task
from .base import StepPanel, read_stored
from .standalone import run_standalone

__all__ = ["DetectionPanel", "FrameFailure", "QUANTITIES", "detect_frames"]

# plot choice -> (axis label, frame-table column, number format)
QUANTITIES: dict[str, tuple[str, str, str]] = {
    "FWHM": ("FWHM (px)", "FWHM (px)", "{:.2f}"),
    "Sky": ("sky (ADU)", "Sky (ADU)", "{:.1f}"),
    "Sources": ("sources", "Sources", "{:d}"),
}


@dataclass(frozen=True)
class FrameFailure:
    """A frame whose sources could not be found, and why."""

    message: str


def _value(result: DetectionResult | FrameFailure, quantity: str) -> float | int:
    if isinstance(result, FrameFailure):
        return math.nan
    if quantity == "FWHM":
        return float(result.fwhm)
    if quantity == "Sky":
        return float(result.sky)
    return int(result.n_sources)


def detect_frames(
    store,
    frames: list,
    indices: list[int],
    params: DetectionParams,
    executor=None,
    state: StepState | None = None,
    on_frame: Callable[[int, DetectionResult | FrameFailure], object] | None = None,
) -> dict[int, DetectionResult | FrameFailure]:
    """Sources of ``frames[indices]`` through the project's products (runs in a worker).

    Frames run in parallel on ``executor``; a frame that cannot be read or
    searched becomes a :class:`FrameFailure` and the others go on. Cancelling
    stops between frames. ``on_frame(index, result)`` is called (on the
    frame's worker) as each frame is done.

    The native thread pools (BLAS, OpenMP) run on one thread each, as in the
    chain's workers: the frames are the parallel work, and a BLAS pool of one
    thread per core beside them only competes for the same cores.
    """
    state = state if state is not None else StepState()
    tick = state.counter(len(indices), "frames searched")

    def one(i: int) -> DetectionResult | FrameFailure:
        state.check()
        try:
            # a single frame reports its own stages; a batch reports frames
            sub = state if len(indices) == 1 else None
            # OpenMP's thread count is per thread: each frame's worker sets its own.
            with single_thread("openmp"):
                result: DetectionResult | FrameFailure = detect_frame(store, frames[i], params, sub)
        except (DetectionError, FitsReadError, OSError, ValueError) as exc:
            result = FrameFailure(f"{frames[i].path.name}: {exc}")
        if on_frame is not None:
            on_frame(i, result)
        tick()
        return result

    # BLAS's pool is the process's: limited once, for the whole run.
    with single_thread("blas"):
        if executor is None or len(indices) == 1:
            return {i: one(i) for i in indices}
        futures = {i: executor.submit(one, i) for i in indices}
        try:
            return {i: f.result() for i, f in futures.items()}
        finally:
            for f in futures.values():
                f.cancel()  # after a cancel, frames not started are dropped


def restore(store, frames: list, cache=None, state=None) -> dict[int, DetectionResult]:
    """Sources that earlier runs left in the project (runs in a worker)."""
    return read_stored(store, frames, "detection", load_sources, cache=cache)


def source_circles(result: DetectionResult) -> tuple[np.ndarray, ...]:
    """x, y, radius (each source's FWHM, the frame's where unmeasured) and flagged."""
    s = result.sources
    x, y = np.asarray(s["x"], float), np.asarray(s["y"], float)
    fwhm = np.asarray(s["fwhm"], float) if "fwhm" in s.colnames else np.full(x.size, np.nan)
    fallback = result.fwhm if math.isfinite(result.fwhm) else 3.0
    radius = np.where(np.isfinite(fwhm) & (fwhm > 0), fwhm, fallback)
    flags = np.asarray(s["flags"], np.int64) if "flags" in s.colnames else np.zeros(x.size, int)
    return x, y, radius, flags != 0


#: What each flag means to an observer, in the order they are told.
FLAG_WORDS = (
    (SourceFlags.CROWDED, "a neighbour within the isolation radius"),
    (SourceFlags.MERGED, "deblended from a blend"),
    (SourceFlags.SATURATED, "saturated"),
    (SourceFlags.APERTURE_MASKED, "masked pixels (hot, cold, cosmic ray) in the aperture"),
    (SourceFlags.TRUNCATED | SourceFlags.APERTURE_TRUNCATED, "at the image edge"),
    (SourceFlags.CENTROID_ISOPHOTAL, "centroid from the isophote"),
    (SourceFlags.NONPOSITIVE_FLUX | SourceFlags.SINGULAR, "no usable flux or shape"),
)


def flag_summary(flags: np.ndarray) -> str:
    """How many sources carry each kind of flag ('' when none is flagged).

    A source can carry several, so the counts may add up to more than the
    flagged sources.
    """
    f = np.asarray(flags, np.int64)
    parts = [f"{int(np.count_nonzero(f & int(bits)))} {words}" for bits, words in FLAG_WORDS
             if np.any(f & int(bits))]  # fmt: skip
    return "; ".join(parts)


class DetectionPanel(StepPanel):
    """Sources on the image; FWHM, sky and source count per frame."""

    title = "Detection"
    step = "detection"
    params_type = DetectionParams
    quantity = QUANTITIES["FWHM"][0]
    restore_products = staticmethod(restore)

    def __init__(self, session, image_view=None, parent=None) -> None:
        super().__init__(session, image_view, parent)
        self.plotted = "FWHM"
        self.quantity_box = QComboBox()
        self.quantity_box.addItems(list(QUANTITIES))
        self.quantity_box.setToolTip("Quantity plotted against time")
        self.quantity_box.currentTextChanged.connect(self.set_plotted)
        self.cancel_button.setToolTip("Stop the run; frames already searched are kept")
        layout = self.layout()
        self.scroll_form()  # thirteen parameters: the plot keeps its room
        chooser = QHBoxLayout()
        chooser.addWidget(QLabel("Plot"))
        chooser.addWidget(self.quantity_box, 1)
        layout.insertLayout(layout.indexOf(self.plot), chooser)

    # -- running ----------------------------------------------------------------
    def run_current(self) -> Task | None:
        """Find the sources of the current frame in a worker."""
        index = self.session.current
        if self.session.sequence is None or index < 0:
            return None
        return self._submit([index], f"{self.title} on frame {index + 1}", everything=False)

    def run_all(self) -> Task | None:
        """Find the sources of every light (in parallel on the frame executor)."""
        seq = self.session.sequence
        if seq is None or not len(seq):
            return None
        lights = [i for i, f in enumerate(seq.frames) if f.type == "light"]
        return self._submit(lights or list(range(len(seq))), f"{self.title} on all lights", True)

    def _submit(self, indices: list[int], name: str, everything: bool) -> Task:
        params = self.params()  # before the store: saving the project reloads the form
        seq = self.session.sequence
        frames = list(seq.frames) if seq is not None else []  # run_* checked there is one
        land, ticket = self.landing.land, self.results.begin_run(indices)
        task = self.session.workers.submit(
            detect_frames,
            self.session.product_store(),
            frames,
            indices,
            params,
            self.session.workers.frame_executor,
            # A batch's frames shown as they are searched, not when the last one is.
            on_frame=(lambda i, r: land(ticket, i, r)) if len(indices) > 1 else None,
            name=name,
            key=f"panel:{self.step}",
        )
        self._follow(task, indices, ticket=ticket)
        task.result.connect(lambda results: self._store_run(results, everything, ticket))
        return task

    def _on_results_changed(self, change: ResultsChange) -> None:
        super()._on_results_changed(change)
        if change.frames and not change.cleared:
            self._publish_columns()

    def _publish_columns(self) -> None:
        results = self.results.snapshot()
        for name, (_, column, fmt) in QUANTITIES.items():
            values = {
                i: _value(r, name) for i, r in results.items() if not isinstance(r, FrameFailure)
            }
            self.session.set_frame_column(column, values, fmt)

    # -- what a frame shows ------------------------------------------------------
    def set_plotted(self, name: str) -> None:
        """Plot ``name`` (a key of :data:`QUANTITIES`) against time."""
        if name not in QUANTITIES:
            raise ValueError(f"no quantity {name!r}; choose one of {', '.join(QUANTITIES)}")
        self.plotted = name
        if self.quantity_box.currentText() != name:
            self.quantity_box.setCurrentText(name)
        self.plot.plot.setLabel("left", QUANTITIES[name][0])
        self._update_plot()

    def summary(self, result: DetectionResult | FrameFailure) -> float:
        return float(_value(result, self.plotted))

    def show_result(self, index: int, result: DetectionResult | FrameFailure) -> None:
        if isinstance(result, FrameFailure):
            self.result_label.setText(f"Frame {index + 1}: no sources. {result.message}")
            return
        flagged = source_circles(result)[3]
        where = "calibrated" if result.sources.meta.get("calibrated") else "raw"
        s = result.sources
        kinds = flag_summary(np.asarray(s["flags"])) if "flags" in s.colnames else ""
        self.result_label.setText(
            f"Frame {index + 1} ({where}): {result.n_sources} sources, {int(flagged.sum())} "
            f"flagged; FWHM {result.fwhm:.2f} ± {result.fwhm_spread:.2f} px from "
            f"{result.n_fwhm_stars} stars; sky {result.sky:.1f} ± {result.sky_noise:.1f} ADU."
            "\nGreen circles: clean sources; orange: flagged, which later steps distrust"
            + (f" ({kinds})." if kinds else ".")
        )

    def draw_overlays(self, index: int) -> None:
        result = self.results.get(index)
        if isinstance(result, DetectionResult):
            self.view().overlays.set_sources(*source_circles(result))

    @staticmethod
    def error_of(result: DetectionResult | FrameFailure) -> str | None:
        return result.message if isinstance(result, FrameFailure) else None


if __name__ == "__main__":
    sys.exit(run_standalone(DetectionPanel))
