"""The Lesson panel: a transit lesson followed with real clicks and keys, checked at the end."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from PySide6.QtCore import Qt

from fluxion.core.classroom.answers import read_answers
from fluxion.core.classroom.check_answers import _expected
from fluxion.core.classroom.truth import load_truth
from fluxion.core.project.document import Project
from fluxion.core.simulation.lessons import simulate_lesson


@pytest.fixture(scope="module")
def transit_night(tmp_path_factory):
    folder = tmp_path_factory.mktemp("transit_night")
    simulate_lesson(folder, "transit", "easy", seed=9, shape=(256, 256), n_bias=1, n_dark=1,
                    n_flat=1)  # fmt: skip
    return load_truth(folder)


def _project_with_curve(tmp_path, truth):
    """A project as the steps leave it: results recorded, the host's light curve kept."""
    project = Project.from_inputs(sorted(truth.folder.glob("light_*.fits")))
    for step in ("calibration", "detection", "astrometry", "photometry", "zeropoint"):
        project.record_result(step, [], done=truth.config.n_frames)
    ra, dec = truth.variable_sources()["transit"]
    jd = np.asarray(truth.night.times.jd)
    sigma = 1.0857 / truth.target("transit")["snr_median"]
    rng = np.random.default_rng(0)
    mag = truth.true_magnitudes("transit", jd) + 0.2 + rng.normal(0, sigma, len(jd))
    table = Table({"file": truth.files, "jd_utc": jd, "mag": mag,
                   "mag_err": np.full(len(jd), sigma)})  # fmt: skip
    folder = tmp_path / "project"
    project.targets = [{"name": "host", "kind": "fixed", "ra": ra, "dec": dec,
                        "light_curve": "lightcurve.ecsv"}]  # fmt: skip
    project.save(folder)
    table.write(folder / "lightcurve.ecsv", format="ascii.ecsv")
    return folder


def _click_row(qtbot, panel, row):
    rect = panel.steps.visualItemRect(panel.steps.item(row))
    qtbot.mouseClick(panel.steps.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _type(qtbot, field, text):
    field.setFocus()
    field.selectAll()
    qtbot.keyClick(field, Qt.Key.Key_Delete)
    qtbot.keyClicks(field, text)


def test_follow_the_transit_lesson_and_check(window, qtbot, tmp_path, transit_night):
    folder = _project_with_curve(tmp_path, transit_night)
    with qtbot.waitSignal(window.session.frame_ready, timeout=30_000):
        window.open_project(folder)
    panel = window.lesson_panel
    window.lesson_dock.raise_()
    qtbot.waitUntil(lambda: panel.lesson is not None and panel.lesson.name == "transit")
    assert "easy transit night" in panel.night_label.text()
    # Every step the project shows as done is marked; the answers are still to come.
    marks = panel.done_marks()
    assert marks == [True] * (len(marks) - 1) + [False]
    qtbot.waitUntil(lambda: panel.steps.item(0).text().startswith("\u2713"))
    assert panel.steps.item(len(marks) - 1).text().startswith("\u25cb")

    # Walk: click a step, read it, open its panel.
    _click_row(qtbot, panel, 1)
    assert "master" in panel.text.toPlainText().lower()
    qtbot.mouseClick(panel.go_button, Qt.MouseButton.LeftButton)
    assert window.current_step == "Calibration"
    last = len(marks) - 1
    _click_row(qtbot, panel, last)
    assert panel.go_button.text() == "Open Transit"
    qtbot.mouseClick(panel.go_button, Qt.MouseButton.LeftButton)
    assert window.current_step == "Transit"

    # Type the answers read off the fit, with their errors, and check them.
    true_mid, err_mid = _expected(transit_night, "transit_mid_bjd")
    true_depth, err_depth = _expected(transit_night, "transit_depth")
    value, error = panel.answer_fields["transit_mid_bjd"]
    _type(qtbot, value, f"{true_mid + 0.5 * err_mid:.6f}")
    _type(qtbot, error, f"{2 * err_mid:.6f}")
    value, error = panel.answer_fields["transit_depth"]
    _type(qtbot, value, f"{true_depth:.5f}")
    _type(qtbot, error, f"{max(err_depth, 1e-4):.5f}")
    with qtbot.waitSignal(window.workers.task_finished, timeout=30_000):
        qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.report is not None)
    verdicts = {f.name: f.verdict for f in panel.report.findings}
    assert verdicts["transit_mid_bjd"] == "good" and verdicts["transit_depth"] == "good"
    assert verdicts["transit_lightcurve_chi2"] == "good"
    assert "GOOD" in panel.text.toPlainText()
    assert set(read_answers(folder)) == {"transit_mid_bjd", "transit_depth"}
    assert all(panel.done_marks())
    qtbot.waitUntil(lambda: panel.steps.item(last).text().startswith("\u2713"))

    # A mid-time 15 minutes off with a tight error bar: off, and said why.
    value, error = panel.answer_fields["transit_mid_bjd"]
    _type(qtbot, value, f"{true_mid + 15 / 1440:.6f}")
    _type(qtbot, error, f"{err_mid:.6f}")
    panel.report = None
    with qtbot.waitSignal(window.workers.task_finished, timeout=30_000):
        qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.report is not None)
    mid = next(f for f in panel.report.findings if f.name == "transit_mid_bjd")
    assert mid.verdict == "off" and "+15 min" in " ".join(mid.explanation)
    assert "OFF" in panel.text.toPlainText()

    # Not a number: said, nothing saved.
    _type(qtbot, value, "soon")
    qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert "not a number" in panel.status.text()
    assert read_answers(folder)["transit_mid_bjd"].value == pytest.approx(true_mid + 15 / 1440)
