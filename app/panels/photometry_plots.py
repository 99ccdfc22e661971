"""Diagnostics plots of the Photometry panel: curve of growth, PSF, errors against magnitude.

Each plot takes plain arrays (or the core's result objects) and draws them with
pyqtgraph; none computes anything heavier than a histogram of a small table,
so they are safe on the GUI thread.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from fluxion.core.photometry import CurveOfGrowth
from fluxion.core.photometry.epsf import EffectivePSF
from fluxion.core.photometry.noise import MAG_PER_LN
from fluxion.widgets.plots import captioned, diagnostic_plot, legend_lists_filled_series

__all__ = ["CurveOfGrowthPlot", "ErrorMagnitudePlot", "PsfView", "psf_radial_profile"]

_FIELD = (120, 180, 255)
_TARGET = (255, 120, 60)
_CHOSEN = (255, 210, 0)
_FLAGGED = (255, 80, 80)


def _plot(left: str, bottom: str) -> pg.PlotWidget:
    return diagnostic_plot(left, bottom, min_height=140, legend=True)


class CurveOfGrowthPlot(QWidget):
    """Fraction of the plateau flux against aperture radius, with the radius used marked.

    The field stars' median curve and the target's curve (when there is a
    target) are drawn with their S/N curves dashed; a vertical line marks the
    radius the Photometry Pipeline's rule chose and, when different, the radius
    actually used (a fixed radius overrides the rule).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _plot("fraction of plateau", "aperture radius (px)")
        self.field_curve = self.plot.plot(
            [], [], pen=pg.mkPen(_FIELD, width=2), symbol="o", symbolSize=5, name="field stars"
        )
        self.field_snr = self.plot.plot(
            [], [], pen=pg.mkPen(_FIELD, width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
            name="field S/N",
        )  # fmt: skip
        self.target_curve = self.plot.plot(
            [], [], pen=pg.mkPen(_TARGET, width=2), symbol="t", symbolSize=6, name="target"
        )
        legend_lists_filled_series(self.plot)
        self.chosen_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(_CHOSEN, width=2))
        self.used_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(_CHOSEN, width=1, style=pg.QtCore.Qt.PenStyle.DotLine)
        )
        self.threshold_line = pg.InfiniteLine(
            angle=0, pen=pg.mkPen((160, 160, 160), width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        for line in (self.chosen_line, self.used_line, self.threshold_line):
            line.setVisible(False)
            self.plot.addItem(line)
        self.caption = captioned(self, self.plot)
        self.curve: CurveOfGrowth | None = None
        self.radius_used: float | None = None

    def set_curve(
        self, curve: CurveOfGrowth | None, radius_used: float | None, min_fraction: float = 0.7
    ) -> None:
        """Draw ``curve`` (None clears) and mark the chosen and the used radius."""
        self.curve, self.radius_used = curve, radius_used
        if curve is None:
            for item in (self.field_curve, self.field_snr, self.target_curve):
                item.setData([], [])
            for line in (self.chosen_line, self.used_line, self.threshold_line):
                line.setVisible(False)
            self.caption.setText("No curve of growth (PSF fits, or no clean bright star).")
            return
        self.field_curve.setData(curve.radii, curve.field_fraction)
        self.field_snr.setData(curve.radii, curve.field_snr_fraction)
        if curve.target_fraction is not None:
            self.target_curve.setData(curve.radii, curve.target_fraction)
        else:
            self.target_curve.setData([], [])
        self.chosen_line.setPos(curve.optimum_radius)
        self.chosen_line.setVisible(True)
        self.threshold_line.setPos(min_fraction)
        self.threshold_line.setVisible(True)
        differs = radius_used is not None and abs(radius_used - curve.optimum_radius) > 1e-6
        self.used_line.setVisible(differs)
        if differs:
            self.used_line.setPos(radius_used)
        text = (
            f"Chosen radius {curve.optimum_radius:.2f} px: {curve.rule} "
            f"(median of {curve.n_field_stars} field stars)."
        )
        if differs:
            text += f" Radius used: {radius_used:.2f} px (fixed in the parameters)."
        self.caption.setText(text)


def psf_radial_profile(psf: EffectivePSF) -> tuple[np.ndarray, np.ndarray]:
    """Radius (px) and value relative to the peak of every sample of an oversampled PSF."""
    data = np.asarray(psf.data, dtype=float)
    k = float(psf.oversampling)
    c = (np.asarray(data.shape) - 1) / 2.0
    yy, xx = np.indices(data.shape)
    r = np.hypot(xx - c[1], yy - c[0]) / k
    peak = float(np.nanmax(data)) if data.size else 1.0
    return r.ravel(), (data / peak).ravel() if peak > 0 else data.ravel()


def moffat_profile(r: np.ndarray, fwhm: float, beta: float) -> np.ndarray:
    """A Moffat profile of this FWHM and power, 1 at the centre."""
    alpha = fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))
    return (1.0 + (r / alpha) ** 2) ** (-beta)


class PsfView(QWidget):
    """The PSF as an image beside its radial profile (samples and the fitted Moffat)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image_widget = pg.GraphicsLayoutWidget()
        self.image_widget.setMinimumSize(140, 140)
        box = self.image_widget.addViewBox(lockAspect=True)
        box.setMouseEnabled(False, False)
        self.image = pg.ImageItem(axisOrder="row-major")
        box.addItem(self.image)
        # log10 by hand rather than setLogMode, which scatter items ignore
        self.profile = _plot("log10 value / peak", "radius (px)")
        self.samples = pg.ScatterPlotItem(size=3, pen=None, brush=(*_FIELD, 120), name="PSF")
        self.profile.addItem(self.samples)
        self.moffat = self.profile.plot([], [], pen=pg.mkPen(_TARGET, width=2), name="Moffat fit")
        legend_lists_filled_series(self.profile)
        row = QHBoxLayout()
        row.addWidget(self.image_widget, 1)
        row.addWidget(self.profile, 2)
        self.caption = captioned(self, row)

    def set_psf(self, psf: EffectivePSF | None) -> None:
        """Show ``psf`` (an :class:`~fluxion.core.photometry.epsf.EffectivePSF`); None clears."""
        if psf is None:
            self.image.clear()
            self.samples.setData([], [])
            self.moffat.setData([], [])
            self.caption.setText("No PSF (aperture photometry).")
            return
        data = np.asarray(psf.data, dtype=float)
        # asinh-like display so that the wings show beside the core
        peak = float(np.nanmax(data)) or 1.0
        self.image.setImage(np.arcsinh(data / peak * 50.0), autoLevels=True)
        r, v = psf_radial_profile(psf)
        keep = v > 1e-5  # log axis: drop zeros and the noise floor of the stamp
        self.samples.setData(r[keep], np.log10(v[keep]))
        beta = float(getattr(psf, "moffat_beta", float("nan")))
        if math.isfinite(beta) and beta > 0 and psf.fwhm > 0:
            rr = np.linspace(0.0, float(r.max()), 200)
            self.moffat.setData(rr, np.log10(moffat_profile(rr, psf.fwhm, beta)))
        else:
            self.moffat.setData([], [])
        text = f"{psf.kind} PSF, FWHM {psf.fwhm:.2f} px"
        if math.isfinite(beta):
            text += f", Moffat beta {beta:.2f}"
        if getattr(psf, "n_stars", 0):
            text += f", from {psf.n_stars} stars"
        self.caption.setText(text + ".")


class ErrorMagnitudePlot(QWidget):
    """Magnitude error against instrumental magnitude; flagged stars in red.

    The error follows the noise model: flat at the bright end (source Poisson
    noise, 1/sqrt(flux)), steep at the faint end (sky and read noise); stars
    off the locus have a problem the flags may name.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _plot("log10 magnitude error", "instrumental magnitude")
        self.good = pg.ScatterPlotItem(size=5, pen=None, brush=_FIELD, name="clean")
        self.flagged = pg.ScatterPlotItem(size=5, pen=None, brush=_FLAGGED, name="flagged")
        self.plot.addItem(self.good)
        self.plot.addItem(self.flagged)
        legend_lists_filled_series(self.plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def set_table(self, flux: np.ndarray, flux_err: np.ndarray, flags: np.ndarray) -> None:
        """Plot the stars of a photometry table (flux, flux_err, flags columns)."""
        flux = np.asarray(flux, dtype=float)
        err = np.asarray(flux_err, dtype=float)
        ok = np.isfinite(flux) & np.isfinite(err) & (flux > 0) & (err > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = -2.5 * np.log10(np.where(ok, flux, 1.0))
            mag_err = MAG_PER_LN * err / np.where(ok, flux, 1.0)
        clean = ok & (np.asarray(flags) == 0)
        bad = ok & ~clean
        self.good.setData(mag[clean], np.log10(mag_err[clean]))
        self.flagged.setData(mag[bad], np.log10(mag_err[bad]))

    def counts(self) -> tuple[int, int]:
        """Number of clean and flagged stars drawn."""
        return len(self.good.data), len(self.flagged.data)
