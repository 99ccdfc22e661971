"""Light-curve panel: a project made by ``fluxion run`` shows its light curve without measuring.

``fluxion run`` writes the target's curve as ``lightcurve.ecsv`` in the project
folder and names it in the target's ``light_curve`` entry; opened in the
window, the panel draws that curve as it is, linked to the frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.core.chain.night import LIGHT_CURVE_FILE
from fluxion.core.lightcurve.differential import LIGHT_CURVE_COLUMNS
from fluxion.core.project.document import Project


def _run_project(night: Path, folder: Path) -> tuple[Path, Table]:
    """A project as ``fluxion run`` leaves it: targets entry and light curve (known numbers)."""
    lights = sorted(night.glob("light_*.fits"))
    n = len(lights)
    lc = Table()
    lc["file"] = [p.name for p in lights]
    lc["jd_utc"] = 2460000.5 + np.arange(n) / 48.0
    lc["bjd_tdb"] = lc["jd_utc"] + 0.003
    lc["mag"] = 14.0 + 0.1 * np.arange(n)
    lc["mag"][2] = np.nan  # a frame where the target was not measured
    lc["mag_err"] = np.full(n, 0.02)
    lc["flux"] = 10 ** (-0.4 * (lc["mag"] - 25.0))
    lc["flux_err"] = 0.02 * lc["flux"]
    lc["x"] = 100.0 + 2.0 * np.arange(n)
    lc["y"] = np.full(n, 120.0)
    lc["ra"] = np.full(n, 150.0)
    lc["dec"] = np.full(n, 2.0)
    lc["flags"] = np.zeros(n, np.int64)
    lc["airmass"] = np.full(n, 1.2)
    lc["calibrated"] = np.ones(n, bool)
    assert tuple(lc.colnames[: len(LIGHT_CURVE_COLUMNS)]) == LIGHT_CURVE_COLUMNS
    project = Project.from_inputs(lights, name="run")
    project.save(folder)
    lc.write(folder / LIGHT_CURVE_FILE, format="ascii.ecsv")
    project.targets = [
        {"kind": "fixed", "ra": 150.0, "dec": 2.0, "name": "EB", "light_curve": LIGHT_CURVE_FILE}
    ]
    project.record_result("lightcurve", [folder / LIGHT_CURVE_FILE], points=n - 1)
    return project.save(), lc


def test_a_run_projects_light_curve_is_drawn_without_measuring(
    window, qtbot, open_and_wait, demo_night, tmp_path
) -> None:
    file, lc = _run_project(demo_night, tmp_path / "project")
    started = []
    window.workers.task_started.connect(lambda task: started.append(task.name))
    panel = next(p for p in window.panels if isinstance(p, LightCurvePanel))
    open_and_wait(window, file)
    qtbot.waitUntil(lambda: panel.run is not None, timeout=20_000)
    # Nothing measured nor prepared: the curve as the project keeps it.
    assert not any(n.startswith(("Light curve of", "Preparing the lights")) for n in started)
    assert panel.run.stored and panel.run.calibrated
    assert panel.target_box.currentText() == "EB"
    frames = window.session.sequence.frames
    lights = [i for i, f in enumerate(frames) if f.type == "light"]
    assert [frames[i].path.name for i in lights] == list(lc["file"])
    np.testing.assert_array_equal(panel.rows, lights)
    # The plot holds every measured point, at its frame, magnitude and time.
    x, y = panel.curve.points.getData()
    measured = np.isfinite(lc["mag"])
    np.testing.assert_allclose(y, np.asarray(lc["mag"])[measured])
    hours = (np.asarray(lc["jd_utc"]) - lc["jd_utc"][0]) * 24.0
    np.testing.assert_allclose(x, hours[measured], atol=1e-6)
    assert [s.data() for s in panel.curve.points.points()] == list(np.asarray(lights)[measured])
    assert "4 measured" in panel.result_label.text()

    # Linked to the frames: a point shows its frame, with the target's aperture there.
    window.raise_step(panel.title)
    qtbot.waitUntil(lambda: panel.in_front, timeout=5_000)
    spot = next(s for s in panel.curve.points.points() if s.data() == lights[3])
    with qtbot.waitSignal(window.session.current_changed, timeout=5_000):
        panel.curve.points.sigClicked.emit(panel.curve.points, [spot], None)
    assert window.session.current == lights[3]
    apertures = window.image_view.overlays
    assert apertures.count("apertures") == 1
    _, my = panel.curve.marker.getData()
    assert my[0] == pytest.approx(lc["mag"][3])
    # Exclusion works on the stored curve too, kept in the project by file.
    panel.toggle_exclusion()
    assert window.session.project.targets[0]["excluded"] == [lc["file"][3]]
    assert panel.excluded().sum() == 1
    # The table report needs nothing measured.
    out = tmp_path / "eb.csv"
    panel.export("table", out)
    qtbot.waitUntil(out.exists, timeout=10_000)
    back = Table.read(out, format="ascii.csv")
    assert len(back) == len(lc) - 1 and lc["file"][3] not in list(back["file"])
    assert not any(n.startswith("Light curve of") for n in started)
