"""Targets panel: clicks in the viewer make a track that lands on the simulated asteroid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from PySide6.QtCore import Qt

from fluxion.app.panels import PANELS
from fluxion.app.panels.targets import TargetsPanel
from fluxion.core.reports.table import read_positions
from fluxion.core.simulation.simulate import NightConfig, simulate_night
from fluxion.core.targets.ephemerides import Ephemeris

CONFIG = NightConfig(
    n_frames=8, shape=(384, 384), write_wcs=True, n_bias=0, n_dark=0, n_flat=0, seed=8
)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> tuple[Path, np.ndarray, dict]:
    """Eight 384x384 lights with WCS; the asteroid's true (x, y) per light."""
    out = tmp_path_factory.mktemp("targets_night")
    simulate_night(out, CONFIG)
    record = json.loads((out / "truth" / "night.json").read_text())
    xy = np.array([[f["asteroid"]["x"], f["asteroid"]["y"]] for f in record["frames"]])
    return out, xy, record


def _panel(window, qtbot) -> TargetsPanel:
    panel = next(p for p in window.panels if isinstance(p, TargetsPanel))
    dock = window.panel_docks[window.panels.index(panel)]
    dock.show()
    dock.raise_()
    qtbot.waitUntil(lambda: panel.in_front, timeout=5_000)
    qtbot.waitUntil(lambda: panel.frames is not None, timeout=20_000)
    return panel


def _click(window, qtbot, panel, frame, x, y, shift=False):
    """Show light ``frame`` and click (x, y) through the view's click signal; wait for the fit."""
    window.session.go_to(frame)
    before = dict(panel.predictions)
    mods = Qt.KeyboardModifier.ShiftModifier if shift else Qt.KeyboardModifier.NoModifier
    window.image_view.pixel_clicked.emit(float(x), float(y), mods)
    name = panel.current_target.name
    qtbot.waitUntil(
        lambda: (
            panel.predictions.get(name) is not before.get(name)
            and panel.current_target.track.click_in(frame) is not None
        ),
        timeout=20_000,
    )


def _error(panel, xy) -> np.ndarray:
    table = panel.predictions[panel.current_target.name]
    return np.hypot(np.asarray(table["x"]) - xy[:, 0], np.asarray(table["y"]) - xy[:, 1])


def test_targets_panel_is_registered() -> None:
    assert TargetsPanel in PANELS


def test_lights_are_prepared_when_the_panel_is_first_shown(
    window, qtbot, open_and_wait, night
) -> None:
    folder, _, _ = night
    started = []
    window.session.workers.task_started.connect(lambda task: started.append(task.name))
    open_and_wait(window, folder)
    panel = next(p for p in window.panels if isinstance(p, TargetsPanel))
    qtbot.wait(200)
    assert not panel.in_front and panel.frames is None
    assert "Preparing the lights for tracking" not in started
    _panel(window, qtbot)
    assert started.count("Preparing the lights for tracking") == 1
    assert len(panel.frames) == 8
    # Shown again: the lights are ready, nothing is prepared twice.
    window.panel_docks[0].raise_()
    qtbot.waitUntil(lambda: not panel.in_front, timeout=5_000)
    _panel(window, qtbot)
    assert started.count("Preparing the lights for tracking") == 1


def test_three_clicks_track_the_asteroid_in_every_frame(
    window, qtbot, open_and_wait, night, tmp_path
) -> None:
    folder, truth, _ = night
    open_and_wait(window, folder)
    panel = _panel(window, qtbot)
    assert len(panel.frames) == 8 and panel.frames.wcs is not None
    # Clicks 1 px off the asteroid in three frames, refined to the centroid.
    for frame in (0, 4, 7):
        _click(window, qtbot, panel, frame, truth[frame, 0] + 1.0, truth[frame, 1])
    target = panel.current_target
    assert target.track.frames == (0, 4, 7)
    assert all(c.refined for c in target.track.clicks)
    err = _error(panel, truth)
    assert err.max() < 0.5, err
    # The frame shown has its predicted position, its click and the uncertainty circle.
    marks = panel.marks_in(7)
    assert marks["names"] == [target.name]
    assert np.hypot(marks["x"][0] - truth[7, 0], marks["y"][0] - truth[7, 1]) < 0.5
    assert len(marks["clicked"]) == 1 and len(marks["circles"]) == 1
    assert window.image_view.overlays.count("targets") == 1
    assert panel.marks.counts == {"clicks": 1, "circles": 1, "known": 0}
    # In a frame without a click: the prediction and circle, no click mark.
    window.session.go_to(2)
    assert panel.marks.counts["clicks"] == 0 and panel.marks.counts["circles"] == 1
    # The track is saved in the project with each click's file.
    saved = window.session.project.targets[0]
    assert [c["file"] for c in saved["clicks"]] == [
        "light_0001.fits", "light_0005.fits", "light_0008.fits"
    ]  # fmt: skip

    # An ephemeris through the asteroid's true positions (as Horizons would
    # give): computed with the track in the worker, drawn and compared in
    # every light without another prediction.
    f = panel.frames
    sky = [f.wcs[i].pixel_to_world_values(*truth[i]) for i in range(len(f))]
    eph = Ephemeris(
        "asteroid",
        Table({"jd": f.times.jd, "ra": [r for r, _ in sky], "dec": [d for _, d in sky]}),
        "truth",
    )
    old = panel.predictions[target.name]
    panel._ephemeris_ready(target.name, eph)
    qtbot.waitUntil(lambda: panel.predictions[target.name] is not old, timeout=20_000)
    marks = panel.marks_in(5)
    k = marks["names"].index(f"{target.name} (Horizons)")
    assert np.hypot(marks["x"][k] - truth[5, 0], marks["y"][k] - truth[5, 1]) < 0.01
    diff = panel.horizons_difference(target.name)
    assert diff.shape == (8,) and diff.max() < 0.5, diff
    assert np.allclose(diff, err, atol=0.01)  # the track's own error against the truth
    assert "Horizons - track: up to" in panel.result_label.text()

    # A click far off in frame 4, kept as clicked (Shift): it replaces the
    # centroid there. Three clicks make a line (never as many terms as
    # clicks), which the two centroids hold and the 1 px click cannot bend;
    # its 6 px residual shows, and the uncertainties are scaled up for it.
    sigma_before = np.asarray(panel.predictions[target.name]["sigma_px"])
    _click(window, qtbot, panel, 4, truth[4, 0] + 6.0, truth[4, 1], shift=True)
    c4 = panel.current_target.track.click_in(4)
    assert not c4.refined and c4.x == pytest.approx(truth[4, 0] + 6.0)
    assert len(panel.current_target.track.clicks) == 3
    assert "3 click(s): a line" in panel.result_label.text()
    assert "scatter" in panel.result_label.text()
    sigma_after = np.asarray(panel.predictions[target.name]["sigma_px"])
    assert np.all(sigma_after > 3 * sigma_before)
    assert np.all(_error(panel, truth) < 4 * np.sqrt(2) * sigma_after)
    # Removing that click: the track is a line through frames 0 and 7 again on the asteroid.
    old = panel.predictions[target.name]
    panel.remove_click(4)
    qtbot.waitUntil(lambda: panel.predictions[target.name] is not old, timeout=20_000)
    assert panel.current_target.track.frames == (0, 7)
    assert "2 click(s): a line" in panel.result_label.text()
    assert "rms undefined" in panel.result_label.text()
    assert _error(panel, truth).max() < 0.5

    # Positions file out and back in: the same clicks.
    path = panel.export_positions(tmp_path / "asteroid.ecsv")
    table = read_positions(path)
    assert len(table) == 8 and list(np.flatnonzero(table["clicked"])) == [0, 7]
    again = panel.import_positions(path)
    assert again.track.frames == (0, 7)
    assert len(window.session.project.targets) == 2


def test_fixed_target_by_coordinates_and_by_click(window, qtbot, open_and_wait, night) -> None:
    folder, _, record = night
    open_and_wait(window, folder)
    panel = _panel(window, qtbot)
    truth0 = Table.read(folder / "truth" / "light_0001.ecsv")
    eb = truth0[truth0["kind"] == "eclipsing"][0]
    sky = WCS(fits.getheader(folder / "light_0001.fits")).pixel_to_world(eb["x"], eb["y"])
    target = panel.add_by_coordinates(f"{sky.ra.deg} {sky.dec.deg}", name="EB")
    qtbot.waitUntil(lambda: "EB" in panel.predictions, timeout=20_000)
    table = panel.predictions["EB"]
    assert target.kind == "fixed"
    assert np.hypot(table["x"][0] - eb["x"], table["y"][0] - eb["y"]) < 0.05
    # Bad coordinates: a message, no new target.
    n = len(panel.targets)
    assert panel.add_by_coordinates("north of the moon") is None
    assert len(panel.targets) == n and "Cannot read coordinates" in panel.result_label.text()
