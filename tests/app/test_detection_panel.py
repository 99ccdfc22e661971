"""The Detection panel finds the simulated stars, reports the seeing, links its plot to frames."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from PySide6.QtCore import QPoint, QPointF, Qt

from fluxion.app.panels.detection import QUANTITIES, DetectionPanel, FrameFailure
from fluxion.core.calibration import CalibrationParams, MasterParams
from fluxion.core.chain import calibrate_frames, load_sources
from fluxion.core.detection.extract import DetectionParams
from fluxion.core.detection.measure import SourceFlags
from fluxion.core.io.sequence import scan
from fluxion.core.project.products import ProductStore
from fluxion.core.project.results import RunStatus
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(
    n_frames=4, shape=(256, 256), n_bias=3, n_dark=3, n_flat=3, star_density=3.0, seed=7
)


@pytest.fixture(scope="module")
def night_source(tmp_path_factory) -> Path:
    """A simulated night, calibrated into its own folder as the Calibration panel does."""
    out = tmp_path_factory.mktemp("detection_night")
    simulate_night(out, CONFIG)
    frames = [f for f in scan([out]) if f.usable]
    calibrate_frames(ProductStore(out), frames, CalibrationParams(), MasterParams())
    return out


@pytest.fixture
def night(night_source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(night_source, tmp_path / "night"))


def _panel(window) -> DetectionPanel:
    panel = next(p for p in window.panels if isinstance(p, DetectionPanel))
    window.panel_docks[window.panels.index(panel)].raise_()
    return panel


def _truth(night: Path, frame_name: str) -> tuple[Table, float]:
    truth = Table.read(night / "truth" / frame_name.replace(".fits", ".ecsv"))
    return truth, float(truth.meta["fwhm"])


def _snr(truth: Table, sky_adu: float) -> np.ndarray:
    """S/N of each truth star in an aperture of radius FWHM, in electrons."""
    flux = np.asarray(truth["flux"], float)
    area = math.pi * float(truth.meta["fwhm"]) ** 2
    sky_e = max(sky_adu, 0.0) * CONFIG.gain
    return flux / np.sqrt(flux + area * (sky_e + CONFIG.read_noise**2))


def _run_all(window, qtbot) -> DetectionPanel:
    panel = _panel(window)
    # A threshold other than the default, so that the form's values are the ones run.
    params = replace(DetectionParams(), snr_threshold=4.5)
    panel.form.set_params(params)
    window.session.project.set_step_params(panel.step, params)
    with qtbot.waitSignal(panel.step_finished, timeout=60_000):
        panel.run_all()
    # Other work of the window (frame prefetch, the Targets panel preparing the
    # lights, mask and restore tasks) may still be drawing on the shared image
    # view: let it finish, so the checks read a settled window.
    qtbot.waitUntil(lambda: not window.workers.running(include_quiet=True), timeout=30_000)
    return panel


def test_sources_overlay_and_frame_table_match_the_truth(
    window, qtbot, open_and_wait, night: Path
) -> None:
    open_and_wait(window, night)
    panel = _run_all(window, qtbot)
    seq = window.session.sequence
    lights = [i for i, f in enumerate(seq.frames) if f.type == "light"]
    assert sorted(panel.results) == lights
    i = window.session.current
    result = panel.results[i]
    assert not isinstance(result, FrameFailure)
    assert result.sources.meta["calibrated"]  # the chain searched the calibrated frame
    overlays = window.image_view.overlays
    assert overlays.count("sources") == result.n_sources
    xs = np.concatenate([item.getData()[0] for item in overlays.items("sources")])
    ys = np.concatenate([item.getData()[1] for item in overlays.items("sources")])
    flagged = int((np.asarray(result.sources["flags"]) != 0).sum())
    assert len(overlays.items("sources")) == (2 if flagged else 1)
    # the circles drawn are exactly the frame's sources (good ones, then flagged)
    found = np.asarray(result.sources["flags"]) == 0
    sx, sy = np.asarray(result.sources["x"], float), np.asarray(result.sources["y"], float)
    np.testing.assert_array_equal(xs, np.concatenate([sx[found], sx[~found]]))
    np.testing.assert_array_equal(ys, np.concatenate([sy[found], sy[~found]]))
    # The colours and each kind of flag are said in words, with their counts.
    text = panel.result_label.text()
    assert "Green circles: clean sources; orange: flagged" in text
    flags = np.asarray(result.sources["flags"], np.int64)
    crowded = int(np.count_nonzero(flags & int(SourceFlags.CROWDED)))
    if crowded:
        assert f"{crowded} a neighbour within the isolation radius" in text

    truth, truth_fwhm = _truth(night, seq[i].path.name)
    assert result.fwhm == pytest.approx(truth_fwhm, rel=0.05)
    ny, nx = CONFIG.shape
    x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
    inside = (x > 3) & (x < nx - 4) & (y > 3) & (y < ny - 4)
    # stars closer than 3 FWHM to another are one source to any extractor
    gaps = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(gaps, np.inf)
    isolated = gaps.min(axis=1) > 3 * truth_fwhm
    bright = inside & isolated & (_snr(truth, result.sky) > 10)
    dist = np.hypot(x[bright, None] - xs[None, :], y[bright, None] - ys[None, :]).min(axis=1)
    # the circles drawn hold the truth stars above S/N 10, within a few per cent
    assert bright.sum() >= 30
    assert abs(int((dist < 1.5).sum()) - int(bright.sum())) <= max(1, 0.03 * bright.sum())
    assert overlays.count("sources") >= bright.sum()

    # frame table: FWHM near the simulator's seeing, sky and counts as measured
    model = window.frame_table.frame_model
    assert {c for _, c, _ in QUANTITIES.values()} <= set(model.extra_titles())
    for j in lights:
        _, fwhm_j = _truth(night, seq[j].path.name)
        shown = float(model.extra_text(j, "FWHM (px)"))
        assert shown == pytest.approx(fwhm_j, abs=0.15 * fwhm_j)
        assert model.extra_text(j, "Sources") == str(panel.results[j].n_sources)
        assert float(model.extra_text(j, "Sky (ADU)")) == pytest.approx(
            panel.results[j].sky, abs=0.06
        )
    assert float(model.extra_text(i, "FWHM (px)")) == pytest.approx(truth_fwhm, rel=0.15)
    doc = json.loads((night / "project.json").read_text())
    assert doc["results"]["detection"]["summary"]["n_frames"] == len(lights)


def test_clicking_a_plot_point_selects_its_frame(window, qtbot, open_and_wait, night: Path) -> None:
    open_and_wait(window, night)
    panel = _run_all(window, qtbot)
    lights = sorted(panel.results)
    # the plot shows the chosen quantity of every frame
    panel.set_plotted("Sources")
    x, y = panel.plot.points.getData()
    assert sorted(y.tolist()) == sorted(float(r.n_sources) for r in panel.results.values())
    panel.set_plotted("FWHM")
    x, y = panel.plot.points.getData()
    assert sorted(y.tolist()) == pytest.approx(sorted(r.fwhm for r in panel.results.values()))

    target = lights[-1] if window.session.current != lights[-1] else lights[0]
    point = next(p for p in panel.plot.points.points() if int(p.data()) == target)
    plot = panel.plot.plot
    qtbot.waitUntil(lambda: plot.isVisible() and plot.width() > 50, timeout=5_000)
    plot.getViewBox().autoRange()
    qtbot.wait(50)
    scene = plot.getViewBox().mapViewToScene(QPointF(point.pos().x(), point.pos().y()))
    where = plot.mapFromScene(scene)
    with qtbot.waitSignal(window.session.current_changed, timeout=5_000) as changed:
        qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(where))
    assert changed.args == [target]
    assert window.frame_table.currentIndex().row() == target
    # the new frame shows its own sources
    qtbot.waitUntil(
        lambda: window.image_view.overlays.count("sources") == panel.results[target].n_sources,
        timeout=5_000,
    )


def test_cancel_stops_run_all(window, qtbot, open_and_wait, night: Path) -> None:
    open_and_wait(window, night)
    panel = _panel(window)
    task = panel.run_all()
    with qtbot.waitSignal(task.cancelled, timeout=20_000):
        panel.cancel_button.click()
    qtbot.waitUntil(lambda: task.done, timeout=20_000)
    qtbot.wait(100)  # the last frames' results, queued before the cancel
    # The frames searched before Cancel are kept (shown as they landed), each
    # with its sources in the project.
    kept = panel.results.snapshot()
    assert panel.results.status is RunStatus.CANCELLED
    assert all(not isinstance(r, FrameFailure) and r.n_sources > 0 for r in kept.values())
    store = window.session.product_store()
    seq = window.session.sequence
    assert all(load_sources(store, seq[i]) is not None for i in kept)
    titles = window.frame_table.frame_model.extra_titles()
    assert ("FWHM (px)" in titles) == bool(kept)


def test_current_frame_alone_and_reopened_project(
    window, qtbot, open_and_wait, night: Path
) -> None:
    open_and_wait(window, night)
    panel = _panel(window)
    i = window.session.current
    panel.run_current()
    qtbot.waitUntil(lambda: i in panel.results, timeout=20_000)
    assert window.image_view.overlays.count("sources") == panel.results[i].n_sources
    assert "sources" in panel.result_label.text() and "FWHM" in panel.result_label.text()
    panel.results.clear()
    window.session.sequence_changed.emit()  # as when the project is opened again
    qtbot.waitUntil(lambda: i in panel.results, timeout=20_000)
    assert panel.results[i].n_sources > 0
