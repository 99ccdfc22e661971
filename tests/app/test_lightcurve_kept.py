"""Light-curve panel: a curve measured in the window is kept in the project and drawn on reopening.

The curve goes into the project folder as ``fluxion run`` writes it (ECSV,
named in the target's ``light_curve`` entry); the reopened project draws it
through the stored-curve path without measuring again, with the user's
exclusions as they were. A curve that cannot be written stays on screen.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from lightcurve_helpers import measure, measure_eb, reopened

from fluxion.app.panels.lightcurve_model import light_curve_file
from fluxion.core.chain.night import LIGHT_CURVE_FILE


def test_a_curve_measured_in_the_window_is_drawn_again_when_the_project_reopens(
    window, qtbot, open_and_wait, demo_night, tmp_path
) -> None:
    folder = tmp_path / "project"
    panel = measure_eb(window, qtbot, open_and_wait, demo_night, folder)
    assert not panel.run.stored
    # The user excludes a frame, then measures again: the exclusion stays as it was.
    window.session.go_to(int(panel.rows[3]))
    panel.toggle_exclusion()
    measure(qtbot, panel)
    measured, rows = panel.run.table, panel.rows.copy()
    assert len(measured) == 5 and np.isfinite(measured["mag"]).sum() >= 4
    assert panel.excluded().tolist() == [False, False, False, True, False]
    qtbot.waitUntil(lambda: "light_curve" in json.loads((folder / "project.json").read_text())
                    ["targets"][0], timeout=5_000)  # fmt: skip
    entry = json.loads((folder / "project.json").read_text())["targets"][0]
    assert entry["light_curve"] == LIGHT_CURVE_FILE and entry["excluded"] == [measured["file"][3]]
    assert "Kept in the project" in panel.result_label.text()
    window.close()

    # Reopened in a new window: the curve as measured, nothing measured again.
    with reopened(qtbot, open_and_wait, folder, tmp_path / "settings2.ini") as (_, shown, started):
        assert not any(n.startswith(("Light curve of", "Preparing the lights")) for n in started)
        assert shown.run.stored and not shown.run.calibrated
        assert shown.target_box.currentText() == "EB"
        kept = shown.run.table
        assert list(kept["file"]) == list(measured["file"])
        np.testing.assert_array_equal(shown.rows, rows)
        for c in ("mag", "mag_err", "jd_utc", "check_mag"):
            np.testing.assert_allclose(kept[c], measured[c], rtol=0, atol=1e-12, equal_nan=True)
        # Drawn: the included measured points at their frames, hours and magnitudes.
        use = np.isfinite(np.asarray(measured["mag"], float)) & ~shown.excluded()
        x, y = shown.curve.points.getData()
        np.testing.assert_allclose(y, np.asarray(measured["mag"])[use], atol=1e-12)
        hours = (np.asarray(measured["jd_utc"]) - measured["jd_utc"][0]) * 24.0
        np.testing.assert_allclose(x, hours[use], atol=1e-9)
        assert [s.data() for s in shown.curve.points.points()] == list(rows[use])
        assert shown.excluded().tolist() == [False, False, False, True, False]
        assert "differential" in shown.result_label.text()


def test_a_curve_that_cannot_be_written_stays_shown_and_the_log_says_why(
    window, qtbot, open_and_wait, demo_night, tmp_path, monkeypatch, caplog
) -> None:
    def refuse(table, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("fluxion.app.panels.lightcurve.write_light_curve", refuse)
    folder = tmp_path / "project"
    with caplog.at_level(logging.ERROR, logger="fluxion.app.lightcurve"):
        panel = measure_eb(window, qtbot, open_and_wait, demo_night, folder)
    # The measured curve is kept in memory and drawn; nothing names a file that is not there.
    assert panel.run is not None and not panel.run.stored and len(panel.run.table) == 5
    good = np.isfinite(np.asarray(panel.run.table["mag"], float))
    assert len(panel.curve.points.getData()[1]) == good.sum() >= 4
    assert "light_curve" not in window.session.project.targets[0]
    assert not (folder / LIGHT_CURVE_FILE).exists()
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "EB" in message and "No space left on device" in message
    assert "Not saved in the project" in panel.result_label.text()


@pytest.mark.parametrize(
    ("targets", "which", "expected"),
    [
        # The only target: fluxion run's name.
        ([{"name": "EB"}], 0, LIGHT_CURVE_FILE),
        # Several targets: one file each, named after the target.
        ([{"name": "EB"}, {"name": "2713 Luxembourg"}], 1, "lightcurve_2713_Luxembourg.ecsv"),
        # A target keeps the file it has (measuring again replaces its own curve).
        ([{"name": "EB", "light_curve": LIGHT_CURVE_FILE}, {"name": "V"}], 0, LIGHT_CURVE_FILE),
        # ... but never takes another target's file.
        (
            [{"name": "A/B", "light_curve": "lightcurve_A_B.ecsv"}, {"name": "A B"}],
            1,
            "lightcurve_A_B_2.ecsv",
        ),
        ([{"name": "EB", "light_curve": LIGHT_CURVE_FILE}, {"name": "V"}], 1, "lightcurve_V.ecsv"),
    ],
)
def test_each_target_keeps_its_own_light_curve_file(targets, which, expected) -> None:
    assert light_curve_file(targets, targets[which]) == expected
