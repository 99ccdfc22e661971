"""End to end in the window, offline: the classroom demo from raw frames to a light curve.

A small demo night is simulated into a folder and opened in the main window
(offscreen). Every step runs through its panel's own run methods on the worker
pool: calibration, detection, astrometry against the demo's own reference
catalog (no service is contacted), photometry, zero points, a moving target
clicked in three frames, its light curve. The numbers are checked against the
simulator's truth, then the project is saved, reopened in a new window and
every step's results are there again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from fluxion.app.main_window import MainWindow
from fluxion.app.settings import Settings
from fluxion.core.chain import load_photometry
from fluxion.core.simulation import simulate

CONFIG = simulate.NightConfig(n_frames=4, shape=(384, 384))
STEP_TIMEOUT = 60_000


def _panel(window, title: str):
    return next(p for p in window.panels if p.title == title)


def _raise(window, qtbot, panel) -> None:
    dock = window.panel_docks[window.panels.index(panel)]
    dock.show()
    dock.raise_()
    qtbot.waitUntil(panel.isVisible, timeout=5_000)


def _run_all(window, qtbot, title: str):
    panel = _panel(window, title)
    _raise(window, qtbot, panel)
    errors: list[str] = []
    finished: list[str] = []
    panel.step_finished.connect(finished.append)
    task = panel.run_all()
    assert task is not None
    task.error.connect(lambda info: errors.append(info.text()))
    task.cancelled.connect(lambda: errors.append("cancelled"))
    done: list[bool] = []
    task.finished.connect(lambda: done.append(True))
    # Fail at once with the worker's message rather than after the timeout.
    qtbot.waitUntil(lambda: bool(finished or errors or done), timeout=STEP_TIMEOUT)
    qtbot.waitUntil(lambda: bool(finished or errors), timeout=2_000)
    assert not errors, f"{title} failed: {errors[0]}"
    return panel


def _lights(window) -> list[int]:
    return [i for i, f in enumerate(window.session.sequence.frames) if f.type == "light"]


def _wcs_error_arcsec(wcs, truth, shape: tuple[int, int]) -> np.ndarray:
    """Sky distance between two WCS over a grid of the frame's pixels."""
    ny, nx = shape
    y, x = np.mgrid[0 : ny : ny // 8, 0 : nx : nx // 8]
    a = wcs.pixel_to_world(x.ravel(), y.ravel())
    b = truth.pixel_to_world(x.ravel(), y.ravel())
    return a.separation(b).arcsec


def _open_demo(qtbot, tmp_path: Path) -> tuple[MainWindow, Path]:
    window = MainWindow(Settings(tmp_path / "settings.ini"))
    window.resize(1400, 900)
    window.show()
    folder = tmp_path / "demo"
    with qtbot.waitSignal(window.session.frame_ready, timeout=60_000):
        window.start_demo(folder, CONFIG)
    return window, folder


def _click_asteroid(window, qtbot, targets, light: int, xy: np.ndarray) -> None:
    """Show light ``light`` and click 1 px off the asteroid through the view's click signal."""
    index = _lights(window)[light]
    window.session.go_to(index)
    name = targets.current_target.name if targets.current_target is not None else None
    before = targets.predictions.get(name) if name else None
    window.image_view.pixel_clicked.emit(
        float(xy[light, 0] + 1.0), float(xy[light, 1]), Qt.KeyboardModifier.NoModifier
    )

    def fitted() -> bool:
        t = targets.current_target
        return (
            t is not None
            and t.track.click_in(light) is not None
            and targets.predictions.get(t.name) is not None
            and targets.predictions.get(t.name) is not before
        )

    qtbot.waitUntil(fitted, timeout=20_000)


def test_the_demo_night_runs_end_to_end_offline_and_reopens(qtbot, tmp_path: Path) -> None:
    window, folder = _open_demo(qtbot, tmp_path)
    other = None
    try:
        facts = json.loads((folder / "truth" / "night.json").read_text())
        session = window.session
        # The demo carries its reference catalog: both panels use it by default.
        reference = (folder / "truth" / "reference_catalog.ecsv").resolve()
        assert session.reference_catalog() == reference
        lights = _lights(window)
        assert len(lights) == CONFIG.n_frames

        calibration = _run_all(window, qtbot, "Calibration")
        assert set(lights) <= set(calibration.results)
        detection = _run_all(window, qtbot, "Detection")
        assert all(detection.results[i].n_sources >= 20 for i in lights)

        # Astrometry with the default parameters (Gaia DR3 named): the reference
        # catalog answers first, so nothing goes to the network.
        astrometry = _run_all(window, qtbot, "Astrometry")
        shape = CONFIG.shape
        for k, i in enumerate(lights):
            r = astrometry.results[i]
            assert r.solved, r.reason
            assert r.catalog == "reference_catalog.ecsv"
            truth = simulate.read_truth_wcs(folder / "truth" / f"light_{k + 1:04d}.wcs.fits")
            err = _wcs_error_arcsec(r.wcs, truth, shape)
            # 1.2"/px: within 0.25 px on the median; the cubic distortion fitted to
            # ~25 stars of a small frame drifts up to ~1.5 px at the very corners
            assert np.median(err) < 0.3 and err.max() < 2.5, (k, np.median(err), err.max())

        photometry = _run_all(window, qtbot, "Photometry")
        zeropoint = _run_all(window, qtbot, "Zero point")
        expected = np.array(
            [CONFIG.zero_point - CONFIG.extinction * f["airmass"] for f in facts["frames"]]
        )
        zp = np.array([zeropoint.results[i].result.zero_point for i in lights])
        zp_err = np.array([zeropoint.results[i].result.zero_point_err for i in lights])
        assert np.all(zp_err < 0.03), zp_err
        # The flat field and the aperture leave one offset common to the night;
        # frame to frame the zero points follow the extinction within their errors.
        offset = np.average(zp - expected, weights=zp_err**-2)
        assert abs(offset) < 0.05, offset
        pull = (zp - expected - offset) / zp_err
        assert np.all(np.abs(pull) < 3.0), (zp, expected, zp_err)

        # The asteroid clicked in three lights; the track follows it in all four.
        targets = _panel(window, "Targets")
        _raise(window, qtbot, targets)
        qtbot.waitUntil(lambda: targets.frames is not None, timeout=20_000)
        truth_xy = np.array([[f["asteroid"]["x"], f["asteroid"]["y"]] for f in facts["frames"]])
        for light in (0, 2, 3):
            _click_asteroid(window, qtbot, targets, light, truth_xy)
        track = targets.predictions[targets.current_target.name]
        track_err = np.hypot(
            np.asarray(track["x"]) - truth_xy[:, 0], np.asarray(track["y"]) - truth_xy[:, 1]
        )
        assert track_err.max() < 0.2, track_err  # light 2 (index 1) was never clicked

        curve = _panel(window, "Light curve")
        _raise(window, qtbot, curve)
        with qtbot.waitSignal(curve.step_finished, timeout=STEP_TIMEOUT):
            assert curve.run_all() is not None
        lc = curve.run.table
        assert len(lc) == CONFIG.n_frames
        assert np.all(np.isfinite(np.asarray(lc["mag"], float)))
        assert np.nanmedian(np.asarray(lc["mag_err"], float)) < 0.05

        assert window.save_project() == folder / "project.json"
        doc = json.loads((folder / "project.json").read_text())
        for step in ("calibration", "detection", "astrometry", "photometry", "zeropoint"):
            assert doc["results"][step]["summary"]["n_frames"] >= len(lights), step
        assert doc["results"]["lightcurve"]["summary"]["measured"] == CONFIG.n_frames
        assert doc["steps"]["reference_catalog"]["file"] == str(reference)
        assert len(doc["targets"]) == 1 and len(doc["targets"][0]["clicks"]) == 3

        other = MainWindow(Settings(tmp_path / "settings.ini"))
        other.show()
        with qtbot.waitSignal(other.session.frame_ready, timeout=30_000):
            other.open_path(folder)
        assert other.session.reference_catalog() == reference
        for title, first in (
            ("Calibration", calibration),
            ("Detection", detection),
            ("Astrometry", astrometry),
            ("Zero point", zeropoint),
        ):
            again = _panel(other, title)
            qtbot.waitUntil(lambda p=again: set(lights) <= set(p.results), timeout=20_000)
            for i in lights:
                # the stored solution keeps its RMS to 1e-4 arcsec
                assert again.summary(again.results[i]) == pytest.approx(
                    first.summary(first.results[i]), rel=1e-3, nan_ok=True
                ), (title, i)
        # The photometry tables are the products the panel wrote (with the curve
        # of growth and PSF beside them; the model images are not kept).
        store = other.session.product_store()
        for i in lights:
            table = load_photometry(store, other.session.sequence[i])
            assert table is not None and len(table) == len(photometry.results[i].table)
        reopened = _panel(other, "Targets")
        _raise(other, qtbot, reopened)
        qtbot.waitUntil(lambda: reopened.frames is not None, timeout=20_000)
        assert [t.name for t in reopened.targets] == [targets.current_target.name]
        assert reopened.targets[0].track.frames == (0, 2, 3)
    finally:
        for w in (window, other):
            if w is not None:
                w.close()
                w.deleteLater()
        qtbot.wait(1)
