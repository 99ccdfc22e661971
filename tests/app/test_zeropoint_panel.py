"""The zero-point panel calibrates a simulated night against its reference catalog."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.app.panels.zeropoint import CATALOG_FILE, ZeroPointPanel, describe
from fluxion.core.photometry import PhotometryParams
from fluxion.core.simulation.simulate import NightConfig, simulate_night
from fluxion.core.zeropoint import ZeroPointParams

# A camera that needs no calibration frames, so that the raw lights are the
# calibrated frames and the zero point is the simulator's.
CLEAN_CAMERA = dict(
    n_bias=0, n_dark=0, n_flat=0, bias_level=0.0, bias_column_rms=0.0, dark_current=0.0,
    hot_pixel_fraction=0.0, vignetting=0.0, n_dust=0, prnu=0.0, cosmic_ray_rate=0.0,
)  # fmt: skip
CONFIG = NightConfig(n_frames=3, shape=(256, 256), write_wcs=True, **CLEAN_CAMERA)


@pytest.fixture(scope="module")
def clean_night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("zeropoint_night") / "night"
    simulate_night(out, CONFIG)
    return out


@pytest.fixture
def panel(open_panel, clean_night: Path):
    panel = open_panel(ZeroPointPanel, clean_night)
    # PSF photometry: its fluxes are totals without an aperture correction
    panel.session.project.set_step_params("photometry", replace(PhotometryParams(), method="psf"))
    return panel


def _expected_zero_points(night: Path) -> np.ndarray:
    """The simulator's zero point per frame: config zero point minus extinction x airmass.

    Truth fluxes are electrons after extinction, so with m_inst = -2.5 log10(e-/s)
    the zero point is ``zero_point - extinction * airmass``.
    """
    facts = json.loads((night / "truth" / "night.json").read_text())
    airmass = np.array([f["airmass"] for f in facts["frames"]], dtype=float)
    return CONFIG.zero_point - CONFIG.extinction * airmass


def _finish(qtbot, task) -> None:
    """Wait for the task's own end (not a deadline on its result: a busy machine
    took longer than the 30 s once allowed) and fail with the worker's message."""
    assert task is not None
    errors: list = []
    task.error.connect(errors.append)
    with qtbot.waitSignal(task.finished, timeout=300_000):
        pass
    assert not errors, errors[0].text()


def test_zero_points_of_the_night_recovered_within_their_errors(
    panel, qtbot, clean_night: Path
) -> None:
    panel.set_catalog_file(clean_night / "truth" / "reference_catalog.ecsv")
    assert panel.catalog_source()[0] == CATALOG_FILE
    with qtbot.waitSignal(panel.step_finished, timeout=300_000):
        panel.run_all()  # a generous bound: the work ends it, whatever the machine's load
    assert sorted(panel.results) == [0, 1, 2]
    expected = _expected_zero_points(clean_night)
    for i, fc in panel.results.items():
        r = fc.result
        assert r.calibrated, r.reason
        assert r.band == "V"
        pull = (r.zero_point - expected[i]) / r.zero_point_err
        assert abs(pull) < 2.5, (i, r.zero_point, expected[i], r.zero_point_err)
        assert r.zero_point_err < 0.03
        # one V filter: the fitted colour term is nil within its error
        assert abs(r.colour_term) < 3 * r.colour_term_err + 0.01
        # the header's airmass (5 decimals) is the simulator's
        assert fc.airmass == pytest.approx(
            (CONFIG.zero_point - expected[i]) / CONFIG.extinction, abs=1e-4
        )

    # the night plots: zero point against time and against airmass, three points each
    zx, zy = panel.plot.points.getData()
    ax, ay = panel.airmass_plot.points.getData()
    assert len(zy) == len(ay) == 3
    np.testing.assert_allclose(
        sorted(ay), sorted(fc.result.zero_point for fc in panel.results.values())
    )
    np.testing.assert_allclose(sorted(ax), sorted(fc.airmass for fc in panel.results.values()))


def test_current_frame_diagnostics_and_overlays(panel, qtbot, clean_night: Path) -> None:
    panel.set_catalog_file(clean_night / "truth" / "reference_catalog.ecsv")
    # a tight rejection threshold so that some stars are rejected as outliers
    panel.form.set_params(replace(ZeroPointParams(), rejection_sigma=2.0))
    i = panel.session.current
    _finish(qtbot, panel.run_current())
    assert i in panel.results
    fc = panel.results[i]
    r = fc.result
    assert r.calibrated, r.reason
    assert panel.result_label.text() == describe(i, fc)
    used = np.asarray(r.stars["used"], bool)
    n_used, n_rejected = int(used.sum()), int((~used).sum())
    assert n_used == r.n_stars >= 5 and n_rejected >= 1

    # catalog stars on the image: diamonds for the used, crosses for the rejected
    overlays = panel.image_view.overlays
    assert overlays.count("catalog") == n_used + n_rejected
    diamonds, crosses = overlays.items("catalog")
    assert len(diamonds.data) == n_used and len(crosses.data) == n_rejected
    np.testing.assert_allclose(sorted(diamonds.data["x"]), sorted(r.stars["x"][used]))

    # residuals against magnitude and colour hold every used star
    x, y = panel.residual_plots.items["mag"]["used"].getData()
    assert len(x) == n_used
    np.testing.assert_allclose(np.sort(y), np.sort(np.asarray(r.stars["residual"])[used]))
    # the PP analysis: one fit per rejection, the chosen one circled
    t = r.trajectory
    n, zp = panel.trajectory_plot.zp_curve.getData()
    np.testing.assert_allclose(n, t["n_stars"])
    cx, cy = panel.trajectory_plot.chosen.getData()
    assert list(cx) == [r.n_stars] and cy[0] == pytest.approx(r.zero_point)
    # the residual map: used stars at their pixel positions
    mx, my = panel.residual_map.used.getData()
    assert len(mx) == n_used


def test_a_frame_without_a_catalog_keeps_instrumental_magnitudes(panel, qtbot) -> None:
    panel.set_catalog_file(Path("/nonexistent/catalog.ecsv"))
    i = panel.session.current
    _finish(qtbot, panel.run_current())
    assert i in panel.results
    r = panel.results[i].result
    assert not r.calibrated
    assert "cannot read the catalog file" in r.reason
    assert "not calibrated" in panel.result_label.text()
    assert panel.image_view.overlays.count("catalog") == 0
    assert np.isnan(panel.summary(panel.results[i]))
