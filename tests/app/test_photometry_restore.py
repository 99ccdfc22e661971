"""A reopened project shows the stored curve of growth and PSF without measuring again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.app.panels.photometry import PhotometryPanel
from fluxion.core.chain import measure_photometry
from fluxion.core.photometry import PhotometryParams
from fluxion.core.simulation.simulate import NightConfig, simulate_night

# A camera that needs no calibration, as in test_photometry_panel (fast PSF fits).
CLEAN_CAMERA = dict(
    n_bias=0, n_dark=0, n_flat=0, bias_level=0.0, bias_column_rms=0.0, dark_current=0.0,
    hot_pixel_fraction=0.0, vignetting=0.0, n_dust=0, prnu=0.0, cosmic_ray_rate=0.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def clean_night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("photometry_restore") / "night"
    simulate_night(out, NightConfig(n_frames=2, shape=(256, 256), write_wcs=True, **CLEAN_CAMERA))
    return out


def test_reopened_project_draws_the_stored_curve_of_growth_and_psf(
    open_panel, qtbot, clean_night: Path
) -> None:
    panel = open_panel(PhotometryPanel, clean_night, show=True)
    session = panel.session
    # Products as `fluxion run` leaves them: apertures on frame 1, PSF fits on frame 2.
    store = session.product_store()
    seq = session.sequence
    apertures = measure_photometry(store, seq[0], PhotometryParams())
    fits = measure_photometry(store, seq[1], replace(PhotometryParams(), method="psf"))
    cog, psf = apertures.curve_of_growth, fits.psf
    assert cog is not None and psf is not None

    session.sequence_changed.emit()  # as when the project is opened again
    qtbot.waitUntil(lambda: sorted(panel.results) == [0, 1], timeout=20_000)
    assert not session.workers.running()  # read back, not measured: no task left
    assert session.current == 0

    # Frame 1: the stored field curve, the chosen radius and the sky annulus
    # (drawn when the frame's stored result reaches the panel, after results fill).
    qtbot.waitUntil(lambda: panel.growth_plot.field_curve.getData()[0] is not None, timeout=20_000)
    x, y = panel.growth_plot.field_curve.getData()
    np.testing.assert_array_equal(x, cog.radii)
    np.testing.assert_array_equal(y, cog.field_fraction)
    assert panel.growth_plot.chosen_line.isVisible()
    assert panel.growth_plot.chosen_line.value() == pytest.approx(cog.optimum_radius, abs=1e-12)
    assert f"median of {cog.n_field_stars} field stars" in panel.growth_plot.caption.text()
    assert panel.results[0].result.annulus == apertures.annulus
    assert len(panel.image_view.overlays.items("apertures")) == 3  # apertures and annulus
    assert panel.psf_view.caption.text().startswith("No PSF")

    # Frame 2: the stored PSF stamp and its Moffat profile.
    session.go_to(1)
    qtbot.waitUntil(lambda: panel.psf_view.image.image is not None, timeout=20_000)
    shown = panel.psf_view.image.image
    peak = float(np.max(psf.data))
    np.testing.assert_allclose(shown, np.arcsinh(psf.data / peak * 50.0), rtol=1e-12)
    rx, ry = panel.psf_view.moffat.getData()
    assert len(rx) == 200 and ry[0] == pytest.approx(0.0)
    assert f"FWHM {psf.fwhm:.2f} px" in panel.psf_view.caption.text()
    assert panel.growth_plot.caption.text().startswith("No curve of growth")
    # Model and residual images are not kept: only the frame can be shown.
    assert panel.results[1].images == {}
    assert not panel.show_box.model().item(1).isEnabled()
