"""The run's notes in the window: ``fluxion run`` keeps them in the project, the Run tab shows them.

A night whose FILTER names no band ('Filter 2', a filter wheel's slot) has
no zero points; the run says so, and says its light curve is against
comparison stars and why. Those notes were printed in the terminal only:
opened in the window, the project now shows them in the Run tab, in front.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from astropy.table import Table
from night_helpers import edited_copy, run_args, slot_named
from PySide6.QtWidgets import QTabBar

from fluxion.app.cli import main

simulate = pytest.importorskip("fluxion.core.simulation.simulate")


@pytest.fixture(scope="module")
def slot_project(tmp_path_factory) -> tuple[list[str], Path, str]:
    """A 'Filter 2' night's project by ``fluxion run``, its arguments and what it printed."""
    named = tmp_path_factory.mktemp("named")
    config = simulate.NightConfig(n_frames=4, shape=(300, 300), n_bias=1, n_dark=1, n_flat=1)
    simulate.simulate_night(named, config)
    night = tmp_path_factory.mktemp("slot") / "night"
    assert edited_copy(named, night, slot_named) > 0
    folder = tmp_path_factory.mktemp("slot_project") / "project"
    args = run_args(night, folder)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(args)
    return args, folder, out.getvalue()


def _tabs(bar: QTabBar) -> list[str]:
    return [bar.tabText(i) for i in range(bar.count())]


def _kept(folder: Path) -> dict:
    return json.loads((folder / "project.json").read_text())["results"]["run"]


def test_the_run_keeps_its_notes_and_an_unchanged_run_its_time(slot_project) -> None:
    args, folder, printed = slot_project
    run = _kept(folder)
    notes = run["summary"]["notes"]
    assert any("'Filter 2'" in n and "not a known band" in n for n in notes)
    assert any(n.startswith("light curve: against") for n in notes)
    # Every note the terminal got is kept, in the order it was printed.
    assert [n for n in printed.splitlines() if n in notes] == notes
    # Run again with nothing new: nothing is redone, the notes and their time stay.
    with contextlib.redirect_stdout(io.StringIO()):
        main(args)
    again = _kept(folder)
    assert again["summary"]["notes"] == notes and again["finished"] == run["finished"]


def test_lights_that_failed_alike_are_said_once(slot_project) -> None:
    _, folder, printed = slot_project
    frames = Table.read(folder / "frames.ecsv")
    (status,) = set(frames["status"])  # every light: the filter names no band
    assert "'Filter 2' is not a known band" in status
    lines = [n for n in printed.splitlines() if n.endswith(status)]
    files = list(frames["file"])
    assert lines == [f"{len(files)} lights ({', '.join(files[:3])} and 1 more): {status}"]


def test_the_window_shows_the_runs_notes_in_front(window, qtbot, open_and_wait, slot_project):
    _, folder, _ = slot_project
    notes = _kept(folder)["summary"]["notes"]
    assert not window.run_notes.toPlainText().count("Filter 2")
    open_and_wait(window, folder / "project.json")
    shown = window.run_notes.toPlainText()
    band = next(n for n in notes if "not a known band" in n)
    # Each note under its part of the run ("zero points: ..."), as the terminal said it.
    assert band.partition(": ")[2][:80] in shown and "zero points" in shown
    assert all(n.partition(": ")[2][:60] in shown for n in notes)
    # In front of the frame list (tabbed with it), where a user looks first.
    bar = next(
        b for b in window.findChildren(QTabBar) if "Run" in _tabs(b) and "Frames" in _tabs(b)
    )
    qtbot.waitUntil(lambda: bar.tabText(bar.currentIndex()) == "Run", timeout=5_000)
    # Next to the Frames tab: a narrow dock's tab bar scrolls to the tab in front, and
    # Frames stays in sight beside it.
    assert _tabs(bar).index("Run") == _tabs(bar).index("Frames") + 1
    assert window.frame_table.visibleRegion().isEmpty()
    assert not window.run_notes.visibleRegion().isEmpty()


def test_a_project_without_a_run_says_so(window, open_and_wait, demo_night) -> None:
    assert window.run_notes.toPlainText().startswith("No night open yet")
    open_and_wait(window, demo_night)
    # A night just opened: nothing ran, and the tab says how to run it.
    said = window.run_notes.toPlainText()
    assert said.startswith("No notes of fluxion run on this night")
    assert "Run > Every step on all lights" in said
    # A project where steps ran but no fluxion run: it keeps no notes of one.
    window.session.project.record_result("detection", [], n_frames=1)
    window.run_notes.refresh()
    assert "keeps no notes of fluxion run" in window.run_notes.toPlainText()
