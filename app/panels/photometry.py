"""Photometry: apertures with a curve-of-growth radius, PSF fits, or the crowded scene fitter.

The form comes from :class:`fluxion.core.photometry.PhotometryParams` (method,
radii, annulus, PSF model, iterations, thresholds). A measured frame shows its
apertures and sky annuli (aperture method) or its fitted stars (PSF and
crowded methods) on the image; the model and residual images can replace the
frame in the viewer ("Show: image / model / residual"); the tabs below hold
the seeing per frame over the night, the curve of growth with the chosen
radius, the PSF with its radial profile, and the magnitude error against
magnitude. Tables go into the project's ``photometry/`` folder.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QTabWidget,
    QWidget,
)

from fluxion.core.chain import (
    load_photometry,
    load_photometry_diagnostics,
    measure_photometry,
)
from fluxion.core.display.stretch import Limits, compute_limits
from fluxion.core.io.frames import FrameInfo
from fluxion.core.photometry import PhotometryParams, PhotometryResult
from fluxion.core.photometry.epsf import EffectivePSF
from fluxion.core.photometry.gridpsf import PSFField
from fluxion.core.photometry.gridpsf.maps import PSFMaps, psf_maps
from fluxion.core.project.cache import ProductCache
from fluxion.core.project.products import ProductStore
from fluxion.core.runtime.pipeline import StepState

from .base import FrameInputs, StepPanel, read_stored
from .photometry_plots import CurveOfGrowthPlot, ErrorMagnitudePlot, PsfView
from .photometry_psfgrid import PsfGridView
from .standalone import run_standalone
from .zeropoint_target import RunTarget

__all__ = [
    "FramePhotometry",
    "PhotometryContext",
    "channel_rows",
    "PhotometryPanel",
    "SHOW_CHOICES",
    "annuli_to_draw",
    "describe",
    "measure_frame",
    "restore",
]

SHOW_CHOICES = ("image", "model", "residual")


@dataclass(frozen=True)
class FramePhotometry:
    """One frame's photometry as the panel shows it.

    ``images`` holds the model and residual in the frame's own units (ADU, so
    they sit beside the frame with comparable levels) with display limits
    computed in the worker; it is empty for the aperture method.
    """

    result: PhotometryResult
    gain: float
    images: dict[str, tuple[np.ndarray, Limits]] = field(default_factory=dict, repr=False)
    psf_maps: PSFMaps | None = field(default=None, repr=False)
    """The PSF across the frame (grid, differences, FWHM and ellipticity maps)."""

    @property
    def table(self):
        """The photometry table (x, y, flux, flux_err, flags, ...)."""
        return self.result.table


def measure_frame(
    store: ProductStore | None,
    frame: FrameInfo,
    params: PhotometryParams,
    state: StepState | None = None,
    positions: np.ndarray | None = None,
) -> FramePhotometry:
    """Measure one frame through :func:`fluxion.core.chain.measure_photometry` (in a worker).

    The chain stores the table in ``store`` (when given) under the fingerprint
    ``fluxion run`` uses; this adds the model and residual images in the
    viewer's units with their display limits. ``positions``: the (x, y) to
    measure (the frame's sources and its light curve's target), else the
    stars found in the frame.
    """
    state = state or StepState()
    result = measure_photometry(store, frame, params, positions, state=state.sub(0.0, 0.85))
    state.progress(0.9, "model and residual images")
    # The core works in electrons when the gain is known; the viewer shows ADU.
    gain = float(frame.gain) if frame.gain else 1.0
    images: dict[str, tuple[np.ndarray, Limits]] = {}
    for name in ("model", "residual"):
        model = getattr(result, name)
        if model is not None:
            shown = (np.asarray(model) / gain).astype(np.float32)
            images[name] = (shown, compute_limits(shown, "zscale"))
    maps = _maps(result.psf, frame, result.sky)
    state.progress(1.0, f"{len(result.table)} stars measured")
    return FramePhotometry(result=result, gain=gain, images=images, psf_maps=maps)


def _maps(psf: object | None, frame: FrameInfo, sky: np.ndarray | None = None) -> PSFMaps | None:
    # ``psf``: a PhotometryResult's (typed object there), an EffectivePSF or a PSFField.
    """The PSF's grid and shape maps over the frame (a profile fit per map point: worker only)."""
    if not isinstance(psf, EffectivePSF | PSFField):
        return None
    shape = getattr(psf, "shape", None)
    if shape is None and sky is not None and np.ndim(sky) == 2 and np.size(sky) > 1:
        shape = np.shape(sky)
    if shape is None:
        shape = getattr(frame, "shape", None)
    if shape is None or len(shape) != 2 or min(shape) <= 0:
        return None
    return psf_maps(psf, (int(shape[0]), int(shape[1])))


def _centre_psf(psf: object | None) -> EffectivePSF | None:
    """The PSF at the frame's centre (the profile plot shows one PSF)."""
    if isinstance(psf, PSFField):
        ny, nx = psf.shape or (2 * psf.ys[-1] + 1, 2 * psf.xs[-1] + 1)
        return psf.at((nx - 1) / 2.0, (ny - 1) / 2.0)
    return psf if isinstance(psf, EffectivePSF) else None


def stored_frame(store: ProductStore, frame: FrameInfo) -> FramePhotometry | None:
    """A frame's stored photometry as the panel shows it, or None.

    The table comes with the curve of growth, the PSF and the sky annulus
    kept beside it (:func:`~fluxion.core.chain.measure.load_photometry_diagnostics`);
    a product from before they were kept shows its table alone. The model
    and residual images are not kept, so a reopened frame offers only the
    image in the viewer.
    """
    table = load_photometry(store, frame)
    if table is None:
        return None
    meta = table.meta
    radius = meta.get("aperture_radius")
    kept = load_photometry_diagnostics(store, frame, table)
    result = PhotometryResult(
        table=table,
        method=str(meta.get("method", "aperture")),
        fwhm=float(meta.get("fwhm", math.nan)),
        # as the step decides its unit: electrons when the frame's gain was known
        unit="electron" if meta.get("gain") is not None else "adu",
        sky=np.zeros((0, 0)),
        aperture_radius=None if radius is None else float(radius),
        annulus=kept.annulus if kept is not None else None,
        curve_of_growth=kept.curve_of_growth if kept is not None else None,
        psf=kept.psf if kept is not None else None,
    )
    gain = float(frame.gain) if frame.gain else 1.0
    return FramePhotometry(result=result, gain=gain, psf_maps=_maps(result.psf, frame))


def restore(
    store: ProductStore,
    frames: list[FrameInfo],
    cache: ProductCache | None = None,
    state: StepState | None = None,
) -> dict[int, FramePhotometry]:
    """Photometry tables that earlier runs left in the project (runs in a worker)."""
    return read_stored(store, frames, "photometry", stored_frame, lights_only=True, cache=cache)


def channel_rows(table, channel: str | None):
    """The rows of one colour channel of a colour frame's table (all rows otherwise)."""
    if channel is None or "channel" not in table.colnames:
        return table
    return table[np.asarray(table["channel"]) == channel]


# Sky annuli are drawn for at most this many stars: beyond, the rings (three
# circles a star) overlap into one sheet that hides the image at any zoom that
# shows the frame (1411 stars of a real 1092 x 736 px field).
MAX_ANNULI = 300


def annuli_to_draw(n_stars: int, annulus: tuple[float, float] | None) -> tuple[float, float] | None:
    """The sky annulus to draw around each of ``n_stars`` stars, or None when too crowded."""
    return annulus if n_stars <= MAX_ANNULI else None


def describe(index: int, fp: FramePhotometry, channel: str | None = None) -> str:
    """One line saying what was measured (a colour frame's: in ``channel``, of its channels)."""
    r = fp.result
    table = channel_rows(r.table, channel)
    n = len(table)
    flagged = int(np.count_nonzero(np.asarray(table["flags"]) != 0)) if n else 0
    text = f"Frame {index + 1}: {r.method}, {n} stars ({flagged} flagged), FWHM {r.fwhm:.2f} px"
    channels = r.table.meta.get("channels")
    if channels and "channel" in r.table.colnames:
        pattern = r.table.meta.get("bayer_pattern", "")
        text += f", colour {pattern}: channels {', '.join(channels)}"
        if channel is not None:
            text += f" (shown: {channel})"
    if r.aperture_radius is not None:
        text += f", aperture {r.aperture_radius:.2f} px"
        if r.annulus is not None:
            text += f", sky annulus {r.annulus[0]:.1f}-{r.annulus[1]:.1f} px"
            if annuli_to_draw(n, r.annulus) is None:
                text += f" (not drawn: over {MAX_ANNULI} stars)"
        corr = r.table.meta.get("aperture_correction")
        if corr is not None and math.isfinite(corr):
            text += f", aperture correction x{corr:.3f}"
    if isinstance(r.psf, PSFField) and r.psf.varies:
        how = r.psf.meta.get("chosen", r.psf.kind)
        text += f"; PSF varies across the frame ({how}), FWHM {r.psf.fwhm:.2f} px at the centre"
    elif isinstance(r.psf, EffectivePSF | PSFField):
        text += f"; PSF {r.psf.kind} FWHM {r.psf.fwhm:.2f} px"
    unit = {"electron": "electrons"}.get(r.unit, r.unit)
    return text + f"; fluxes in {unit}."


@dataclass(frozen=True)
class PhotometryContext:
    """What a photometry run takes from the window (GUI thread, before the run)."""

    products: ProductStore | None
    """Where the tables are kept (None: measured and not kept)."""
    target: RunTarget
    """Where the project's light curve measured its target, per light."""


class PhotometryPanel(StepPanel):
    """Photometry of each frame with its overlays and diagnostics."""

    title = "Photometry"
    step = "photometry"
    params_type = PhotometryParams
    quantity = "FWHM (px)"
    restore_products = staticmethod(restore)

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        self._products = None
        self._replaced = False  # a model or residual is in the viewer
        self.scroll_form()  # seventeen parameters
        layout = self.layout()

        self.show_box = QComboBox()
        self.show_box.addItems(list(SHOW_CHOICES))
        self.show_box.setToolTip(
            "What the viewer shows for the current frame: the frame, the fitted model "
            "(stars plus sky), or the frame minus the model (PSF and crowded methods)."
        )
        self.show_box.currentTextChanged.connect(lambda _: self._show_choice())
        self.channel_box = QComboBox()
        self.channel_box.setToolTip(
            "Colour frames: the channel whose stars the summary and the error plot show "
            "(the form's 'Colour channels' says which are measured)"
        )
        self.channel_box.currentTextChanged.connect(lambda _: self._show_channel())
        self.channel_label = QLabel("Channel")
        row = QHBoxLayout()
        row.addWidget(QLabel("Show"))
        row.addWidget(self.show_box)
        row.addWidget(self.channel_label)
        row.addWidget(self.channel_box)
        row.addStretch(1)
        self._set_channels([])
        layout.insertLayout(layout.indexOf(self.result_label), row)
        self._offer_colour_channels()

        self.growth_plot = CurveOfGrowthPlot()
        self.psf_view = PsfView()
        self.psf_grid = PsfGridView()
        self.error_plot = ErrorMagnitudePlot()
        layout.removeWidget(self.plot)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plot, "Night")
        self.tabs.addTab(self.growth_plot, "Curve of growth")
        self.tabs.addTab(self.psf_view, "PSF")
        self.tabs.addTab(self.psf_grid, "PSF across field")
        self.tabs.addTab(self.error_plot, "Errors")
        layout.addWidget(self.tabs, 2)
        # Queued: the window shows a new frame in its own frame_ready slot, and a
        # model or residual must replace it afterwards, not before.
        session.frame_ready.connect(self._on_frame_ready, Qt.ConnectionType.QueuedConnection)

    def _on_sequence(self) -> None:
        super()._on_sequence()
        self._offer_colour_channels()

    def _offer_colour_channels(self) -> None:
        """The form's 'Colour channels' only for a night with colour (Bayer) frames.

        A monochrome frame ignores the choice: offered there it only asks a
        question that has no effect. A frame is colour when its header gives
        a Bayer pattern (BAYERPAT and the like, or the user's choice).
        """
        seq = self.session.sequence
        colour = seq is not None and any(f.cfa for f in seq.frames)
        form = self.form.layout()
        if isinstance(form, QFormLayout):
            form.setRowVisible(self.form.editor("channels"), colour)

    # -- running ----------------------------------------------------------------
    def prepare_run(self) -> bool:
        # Without a product store the frames are still measured (nothing is kept).
        self._products = self.keep_params_and_store()
        return True

    def run_context(self) -> PhotometryContext:
        """The product store the run keeps its tables in, and the light curve's target."""
        store = self._products
        folder = None if store is None else store.folder
        return PhotometryContext(
            store, RunTarget(folder, [dict(d) for d in self.session.project.targets])
        )

    @staticmethod
    def run(
        inputs: FrameInputs, params: PhotometryParams, state: StepState | None
    ) -> FramePhotometry:
        """Measure a frame and keep its table in the project (runs in a worker).

        A light the project's light curve measured its target in is measured
        at the same places (its sources and the target), as ``fluxion run``
        does: a table without the target's row would replace the run's and
        leave the zero point and the light curve without the target.
        """
        c = inputs.context
        positions = None
        if c.products is not None:
            xy = c.target.place(c.products, inputs.frame)
            positions = c.target.positions(c.products, inputs.frame, xy)
        return measure_frame(c.products, inputs.frame, params, state, positions)

    # -- showing ------------------------------------------------------------------
    def summary(self, result: FramePhotometry) -> float:
        return float(result.result.fwhm)

    def _set_channels(self, channels: list[str]) -> None:
        """Offer a colour frame's channels (green first chosen); hidden for monochrome frames."""
        current = self.channel_box.currentText()
        if [self.channel_box.itemText(i) for i in range(self.channel_box.count())] != channels:
            self.channel_box.blockSignals(True)
            self.channel_box.clear()
            self.channel_box.addItems(channels)
            keep = current if current in channels else "G" if "G" in channels else None
            if keep is not None:
                self.channel_box.setCurrentText(keep)
            self.channel_box.blockSignals(False)
        for w in (self.channel_box, self.channel_label):
            w.setVisible(bool(channels))

    def shown_channel(self) -> str | None:
        """The colour channel the panel shows, None for a monochrome frame."""
        return self.channel_box.currentText() or None if self.channel_box.count() else None

    def _show_channel(self) -> None:
        result = self.results.get(self.session.current)
        if result is not None:
            self.show_result(self.session.current, result)

    def show_result(self, index: int, result: FramePhotometry) -> None:
        r = result.result
        colour = "channel" in r.table.colnames
        self._set_channels(list(r.table.meta.get("channels", [])) if colour else [])
        channel = self.shown_channel()
        self.result_label.setText(describe(index, result, channel))
        p = self.params()
        self.growth_plot.set_curve(r.curve_of_growth, r.aperture_radius, p.growth_min_fraction)
        self.psf_view.set_psf(_centre_psf(r.psf))
        self.psf_grid.set_maps(
            result.psf_maps,
            "" if result.images or r.psf is None else "The residual image shows after a new run.",
        )
        t = channel_rows(r.table, channel)
        self.error_plot.set_table(t["flux"], t["flux_err"], t["flags"])
        has_model = bool(result.images)
        model = self.show_box.model()  # a combo box's own: a QStandardItemModel
        for i, name in enumerate(SHOW_CHOICES):
            item = model.item(i) if isinstance(model, QStandardItemModel) else None
            if item is not None:
                item.setEnabled(name == "image" or has_model)
        if not has_model and self.show_box.currentText() != "image":
            self.show_box.setCurrentText("image")
        self._show_choice()

    def draw_overlays(self, index: int) -> None:
        result = self.results.get(index)
        if result is None:
            return
        view, r = self.view(), result.result
        # A colour frame's channels measure the same stars: one mark each.
        table = channel_rows(r.table, self.shown_channel())
        x, y = np.asarray(table["x"], float), np.asarray(table["y"], float)
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        if r.aperture_radius is not None:
            annulus = annuli_to_draw(len(x), r.annulus)
            view.overlays.set_apertures(x, y, r.aperture_radius, annulus)
        else:
            view.overlays.set_sources(x, y, radius=max(r.fwhm, 1.0))

    def set_in_front(self, shown: bool) -> None:
        """In front, the chosen image replaces the frame; behind, the frame is put back."""
        super().set_in_front(shown)
        if shown:
            self._show_choice()
        elif self._replaced:
            self._put_back_frame()

    def _on_frame_ready(self, _frame: object) -> None:
        self._replaced = False  # the window has just put the new frame in the viewer
        self._show_choice()

    def _show_choice(self) -> None:
        """Put the chosen image of the current frame in the viewer (only while in front)."""
        view, shown = self.image_view, self.session.shown
        if view is None or shown is None or shown.index != self.session.current:
            return
        if not self.in_front:
            return  # the viewer shows what the panel in front chose
        choice = self.show_box.currentText()
        result = self.results.get(self.session.current)
        if choice != "image" and result is not None and choice in result.images:
            image, limits = result.images[choice]
            view.set_image(image, limits=limits, wcs=shown.wcs)
            self._replaced = True
        elif self._replaced:
            self._put_back_frame()

    def _put_back_frame(self) -> None:
        """Show the current frame again in place of this panel's model or residual.

        Only what this panel put in the viewer is undone: the window keeps its
        own stretch (fixed while blinking) for the frames it shows.
        """
        self._replaced = False
        view, shown = self.image_view, self.session.shown
        if view is None or shown is None:
            return
        view.set_image(
            shown.data,
            limits=shown.limits,
            wcs=shown.wcs,
            histogram=shown.histogram,
            preview=shown.preview,
            colour=shown.colour,
            pattern=getattr(shown, "pattern", None),
        )


if __name__ == "__main__":
    sys.exit(run_standalone(PhotometryPanel))
