"""Reports are checked before the file dialog: required fields marked and refused
empty, MPC/ADES and AAVSO offered only when the curve can give them, the observer
remembered between projects, a file name suggested; a later success clears the error bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.table import Table

from fluxion.app.panels import lightcurve_export
from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.app.panels.lightcurve_export import ReportDialog, report_problem
from fluxion.app.panels.lightcurve_model import stored_run
from fluxion.app.settings import Settings
from fluxion.app.workers import ErrorInfo


def _curve(n: int = 4, calibrated: bool = False) -> Table:
    t = Table()
    t["file"] = [f"light_{k:04d}.fits" for k in range(1, n + 1)]
    t["jd_utc"] = 2460000.5 + np.arange(n) / 48
    t["mag"] = np.full(n, 12.0)
    t["mag_err"] = np.full(n, 0.01)
    t["x"] = t["y"] = np.full(n, 50.0)
    t["ra"] = t["dec"] = np.full(n, np.nan)  # never solved
    t["calibrated"] = np.full(n, calibrated)
    return t


def test_required_fields_are_marked_and_refused_empty(qtbot) -> None:
    assert "AAVSO observer code" in report_problem("aavso", {"object": "SS Cyg"})
    assert report_problem("aavso", {"object": "SS Cyg", "aavso_code": "XYZ"}) == ""
    dialog = ReportDialog("alcdef", {}, None)
    qtbot.addWidget(dialog)
    form = dialog.layout()
    labels = [form.labelForField(e).text() for e in dialog.edits.values()]
    assert "Contact name (ALCDEF) *" in labels and "Filter code (empty: the frames') " not in labels
    assert "AAVSO observer code" not in " ".join(labels)  # only this report's fields
    # An asteroid's report names an asteroid, and the standard's filter code for clear.
    assert "Object name (the asteroid's, e.g. Luxembourg)" in labels
    assert "AAVSO" not in " ".join(labels)
    assert "Filter code (C: clear or none; empty: the frames')" in labels
    dialog.accept()
    assert dialog.result() == 0 and "number" in dialog.problem_label.text().lower()
    filled = {"number": "2713", "observers": "A. Observer", "contact_name": "A. Observer",
              "contact_info": "a@example.org"}  # fmt: skip
    for key, value in filled.items():
        dialog.edits[key].setText(value)
    dialog.accept()
    assert dialog.result() == 1


def test_menu_offers_what_the_curve_can_give_and_remembers_the_observer(
    open_panel, demo_night: Path, tmp_path: Path, monkeypatch, qtbot
) -> None:
    panel = open_panel(LightCurvePanel, demo_night)
    settings = Settings(tmp_path / "settings.ini")
    panel.session.settings = settings
    panel.session.project.targets = [{"name": "2713 Luxembourg", "kind": "moving"}]
    panel.refresh_targets()
    panel.run, panel.rows = stored_run(_curve()), np.arange(4)
    panel._update_export_menu(panel.export_menu)
    state = {a.data(): (a.isEnabled(), a.toolTip()) for a in panel.export_menu.actions()}
    assert state["table"][0] and state["alcdef"][0]
    assert not state["mpc"][0] and "solve the frames" in state["mpc"][1]
    assert not state["ades"][0]
    assert not state["aavso"][0] and "Zero point" in state["aavso"][1]

    # Typed once, the observer's fields come back in another project's dialog.
    settings.set_observer({"observers": "A. Observer", "contact_info": "a@example.org"})
    seen = {}

    def fake_exec(dialog) -> int:
        seen["meta"] = dialog.metadata()
        return 1

    def fake_save(parent, title, suggested, filters):
        seen["path"] = suggested
        return "", ""

    monkeypatch.setattr(ReportDialog, "exec", fake_exec)
    monkeypatch.setattr(lightcurve_export.QFileDialog, "getSaveFileName", fake_save)
    panel._ask_export("alcdef")
    assert seen["meta"]["observers"] == "A. Observer"
    assert seen["meta"]["contact_info"] == "a@example.org"
    assert Path(seen["path"]).name == "2713_Luxembourg_alcdef.txt"
    # A target named by a click ("target 1"): the file takes the asteroid's number and name
    # as the dialog gives them.
    panel.session.project.targets = [{"name": "target 1", "kind": "moving"}]
    panel.refresh_targets()

    def typed_exec(dialog) -> int:
        dialog.edits["number"].setText("2713")
        dialog.edits["object"].setText("Luxembourg")
        return 1

    monkeypatch.setattr(ReportDialog, "exec", typed_exec)
    panel._ask_export("alcdef")
    assert Path(seen["path"]).name == "2713_Luxembourg_alcdef.txt"


def test_a_later_success_clears_the_error_bar(window, qtbot) -> None:
    def fail(state) -> None:
        raise ValueError("no such star")

    task = window.workers.submit(fail, name="Writing eb.txt", key="export")
    qtbot.waitUntil(lambda: window.error_bar.isVisible(), timeout=5_000)
    assert window.error_bar.info == ErrorInfo(
        "Writing eb.txt", "no such star", window.error_bar.info.hint, window.error_bar.info.details
    )
    other = window.workers.submit(lambda state: 1, name="Loading frame 3", key="frame")
    qtbot.waitUntil(lambda: other.done, timeout=5_000)
    qtbot.wait(20)
    assert window.error_bar.isVisible()  # something else succeeding says nothing
    again = window.workers.submit(lambda state: 2, name="Writing eb.txt", key="export")
    qtbot.waitUntil(lambda: not window.error_bar.isVisible(), timeout=5_000)
    assert again.done and task.done


def test_noisy_points_are_left_out_by_default_and_can_come_back(
    open_panel, demo_night: Path, tmp_path: Path, qtbot
) -> None:
    """Twilight points with 0.5-0.8 mag errors stay out of the curve and the reports."""
    panel = open_panel(LightCurvePanel, demo_night)
    panel.session.project.targets = [{"name": "2713", "kind": "moving"}]
    panel.refresh_targets()
    curve = _curve(8, calibrated=True)
    curve["mag_err"][6:] = [0.5, 0.8]  # dawn
    curve["mag_err"][2] = 0.03  # a little worse than the others: kept
    panel.run, panel.rows = stored_run(curve), np.arange(8)
    assert panel.excluded().tolist() == [False] * 6 + [True, True]
    assert "Left out of the curve and the reports: 2 noisy light(s)" in panel.noisy_note()
    task = panel.export("table", tmp_path / "lc.csv")
    qtbot.waitUntil(lambda: task.done, timeout=10_000)
    assert len(Table.read(tmp_path / "lc.csv", format="ascii.csv")) == 6
    # The user brings one back, then excludes it again; an ordinary point toggles as before.
    panel.toggle_exclusion(6)
    assert not panel.excluded()[6]
    panel.toggle_exclusion(6)
    assert panel.excluded()[6]
    panel.toggle_exclusion(1)
    assert panel.excluded()[1]
    panel.toggle_exclusion(1)
    assert not panel.excluded()[1]


def test_lights_where_a_star_is_in_the_aperture_are_left_out(open_panel, demo_night: Path) -> None:
    from fluxion.core.photometry.flags import PhotometryFlag

    panel = open_panel(LightCurvePanel, demo_night)
    panel.session.project.targets = [{"name": "2713", "kind": "moving"}]
    panel.refresh_targets()
    curve = _curve(6, calibrated=True)
    curve["flags"] = np.zeros(6, np.int32)
    curve["flags"][4] = int(PhotometryFlag.CONTAMINATED)
    panel.run, panel.rows = stored_run(curve), np.arange(6)
    assert np.flatnonzero(panel.excluded()).tolist() == [4]
    note = panel.noisy_note()
    assert "1 light(s) where a star's light in the target's aperture or annulus" in note
    panel.toggle_exclusion(4)  # the user looked and keeps it
    assert not panel.excluded().any()
