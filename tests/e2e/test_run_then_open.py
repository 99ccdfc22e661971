"""``fluxion run`` then the window: the project opens with every step done, nothing redone.

A small simulated night goes through ``fluxion run`` offline (the night's
reference catalog as ``--catalog``, the eclipsing binary of the truth table as
``--ra/--dec``). The project folder is then opened in the main window
(offscreen) and every step panel must show the run's own results, read from
its products: the calibration steps of each light, the detection's FWHM, sky
and source count in the frame table, the solutions' RMS, the photometry
tables, the zero points, and the target. No product file may be written while
the window opens: nothing is recomputed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.app.main_window import MainWindow
from fluxion.app.settings import Settings
from fluxion.core.chain import load_photometry
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=4, shape=(320, 320), n_bias=3, n_dark=3, n_flat=3)
WAIT = 30_000
# Names of the tasks that compute a step (a panel's run), as the panels submit them.
COMPUTING = (
    "on all frames",
    "on all lights",
    "of all lights",
    "on frame",
    "of frame",
    "Light curve of",
)


@pytest.fixture(scope="module")
def run_project(tmp_path_factory) -> tuple[Path, Path, Table]:
    """(night folder, project folder written by ``fluxion run``, the target's truth row)."""
    night = tmp_path_factory.mktemp("night")
    simulate_night(night, CONFIG)
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    project = tmp_path_factory.mktemp("run") / "project"
    args = [
        "run", str(night), "--project", str(project),
        "--ra", repr(float(star["ra"])), "--dec", repr(float(star["dec"])),
        "--catalog", str(night / "truth/reference_catalog.ecsv"),
        "--workers", "2", "--aperture", "5", "--no-cosmic-rays", "--no-report",
    ]  # fmt: skip
    assert main(args) == 0
    return night, project, star


def _products(project: Path) -> dict[Path, int]:
    """Every file the run wrote except project.json (the window may save its view there)."""
    return {
        p: p.stat().st_mtime_ns
        for p in project.rglob("*")
        if p.is_file() and p.name != "project.json"
    }


def _panel(window, title: str):
    return next(p for p in window.panels if p.title == title)


def test_the_window_opens_a_run_project_with_every_step_done(qtbot, tmp_path, run_project):
    night, project, star = run_project
    frames = Table.read(project / "frames.ecsv")
    assert list(frames["status"]) == ["ok"] * CONFIG.n_frames
    before = _products(project)
    started: list[str] = []

    window = MainWindow(Settings(tmp_path / "settings.ini"))
    window.workers.task_started.connect(lambda task: started.append(task.name))
    window.resize(1400, 900)
    window.show()
    try:
        with qtbot.waitSignal(window.session.frame_ready, timeout=WAIT):
            assert window.open_path(project) is not None
        seq = window.session.sequence
        index = {f.path.name: i for i, f in enumerate(seq.frames)}
        lights = [index[name] for name in frames["file"]]
        assert all(seq[i].type == "light" for i in lights)

        def restored(title: str):
            panel = _panel(window, title)
            qtbot.waitUntil(lambda: set(lights) <= set(panel.results), timeout=WAIT)
            return panel

        # Calibration: bias, dark and flat applied to each light (no cosmic rays, as run).
        calibration = restored("Calibration")
        for i in lights:
            facts = calibration.results[i]
            assert not facts.error and facts.applied == ("bias", "dark", "flat"), facts
        assert {m.kind for m in calibration.masters} == {"bias", "dark", "flat"}

        # Detection: the run's FWHM, sky and source count, in the panel and the frame table.
        detection = restored("Detection")
        model = window.frame_table.frame_model
        for row, i in zip(frames, lights, strict=True):
            r = detection.results[i]
            assert r.fwhm == pytest.approx(row["fwhm"], rel=1e-6)
            assert r.sky == pytest.approx(row["sky"], rel=1e-6)
            assert r.n_sources == row["n_sources"]
            assert model.extra_text(i, "FWHM (px)") == f"{row['fwhm']:.2f}"
            assert model.extra_text(i, "Sky (ADU)") == f"{row['sky']:.1f}"
            assert model.extra_text(i, "Sources") == f"{row['n_sources']:d}"

        # Astrometry: each frame's solution with the run's RMS.
        astrometry = restored("Astrometry")
        for row, i in zip(frames, lights, strict=True):
            r = astrometry.results[i]
            assert r.solved and bool(row["wcs_ok"])
            assert astrometry.summary(r) == pytest.approx(row["astrometric_rms_arcsec"], abs=1e-4)

        # Photometry: the panel holds each light's stored table.
        photometry = restored("Photometry")
        store = window.session.product_store()
        for i in lights:
            table = photometry.results[i].table
            stored = load_photometry(store, seq[i])
            assert len(table) == len(stored) > 10
            np.testing.assert_array_equal(np.asarray(table["flux"]), np.asarray(stored["flux"]))

        # Zero points: the run's, frame by frame.
        zeropoint = restored("Zero point")
        for row, i in zip(frames, lights, strict=True):
            r = zeropoint.results[i].result
            assert r.calibrated
            assert r.zero_point == pytest.approx(row["zero_point"], abs=1e-6)
            assert r.zero_point_err == pytest.approx(row["zero_point_err"], abs=1e-6)

        # The run's target: a fixed star at the given coordinates, placed on every light
        # at the simulator's position (truth x, y within 0.5 px through the solutions).
        targets = _panel(window, "Targets")
        window.raise_step("Targets")  # the lights are prepared for tracking when shown
        qtbot.waitUntil(lambda: targets.frames is not None and bool(targets.targets), timeout=WAIT)
        target = targets.targets[0]
        assert target.kind == "fixed"
        assert target.ra == pytest.approx(float(star["ra"]), abs=1e-9)
        qtbot.waitUntil(lambda: targets.predictions.get(target.name) is not None, timeout=WAIT)
        predicted = targets.predictions[target.name]
        for k in range(CONFIG.n_frames):
            truth = Table.read(night / f"truth/light_{k + 1:04d}.ecsv")
            t = truth[truth["id"] == star["id"]][0]
            assert np.hypot(predicted["x"][k] - t["x"], predicted["y"][k] - t["y"]) < 0.5
        curve = _panel(window, "Light curve")
        curve.refresh_targets()
        assert curve.target_box.currentText() == target.name

        # Nothing was recomputed: no step ran and no product was written.
        qtbot.waitUntil(lambda: not window.workers.running(include_quiet=True), timeout=WAIT)
        assert not [n for n in started if any(c in n for c in COMPUTING)], started
        assert _products(project) == before
    finally:
        window.close()
        window.deleteLater()
        qtbot.wait(1)
