"""A step's results model reaches the widgets on the GUI thread, whoever wrote it."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from fluxion.app.results_signal import ResultsSignal
from fluxion.core.project.results import ResultsChange, StepResults


def test_a_worker_write_arrives_on_the_gui_thread(qtbot) -> None:
    model: StepResults[int] = StepResults("detection")
    relay = ResultsSignal(model)
    got: list[tuple[ResultsChange, bool]] = []
    relay.changed.connect(lambda c: got.append((c, QThread.currentThread().isMainThread())))

    writer = threading.Thread(target=lambda: model.put(3, 9))
    with qtbot.waitSignal(relay.changed, timeout=5000):
        writer.start()
        writer.join()
    assert len(got) == 1
    change, on_gui_thread = got[0]
    assert change.frames == frozenset({3}) and on_gui_thread

    # A write on the GUI thread is shown before the write returns.
    model[4] = 16
    assert got[-1][0].frames == frozenset({4})


def test_a_deleted_relay_stops_listening(qtbot) -> None:
    model: StepResults[int] = StepResults("detection")
    relay = ResultsSignal(model)
    heard: list[ResultsChange] = []
    relay.changed.connect(heard.append)
    model[0] = 1
    relay.deleteLater()
    qtbot.waitUntil(lambda: not model._listeners, timeout=5000)
    model[1] = 2  # nobody to tell, no crash
    assert len(heard) == 1


def test_the_panels_write_the_sessions_models(window) -> None:
    for panel in window.panels:
        assert window.session.results.of(panel.step) is panel.results
