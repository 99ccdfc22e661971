"""Cancel during "Run on all lights": each light's own work sees the cancel at once (a
running solve-field is killed), and the lights finished before it are shown."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fluxion.app.panels.astrometry import AstrometryPanel
from fluxion.core.astrometry.result import not_solved


def test_cancel_reaches_each_light_and_keeps_the_finished_ones(
    window, qtbot, open_and_wait, demo_night: Path, monkeypatch
) -> None:
    open_and_wait(window, demo_night)
    panel = next(p for p in window.panels if isinstance(p, AstrometryPanel))
    lights = [i for i, f in enumerate(window.session.sequence.frames) if f.type == "light"]
    quick = {window.session.sequence[i].path.name for i in lights[:2]}
    finished = threading.Event()
    waited: list[float] = []
    returned: list[str] = []

    def run(inputs, params, state):
        frame = inputs.frame
        if frame.path.name in quick:
            returned.append(frame.path.name)
            return not_solved("test", f"{frame.path.name} done before the cancel")
        t0 = time.monotonic()
        while not state.cancelled and time.monotonic() - t0 < 60:
            time.sleep(0.02)  # a long solve that watches its state, as solve-field's does
        waited.append(time.monotonic() - t0)
        finished.set()
        state.check()
        return not_solved("test", "not reached")

    monkeypatch.setattr(panel, "prepare_run", lambda: True)
    monkeypatch.setattr(type(panel), "run", staticmethod(run))
    task = panel.run_all()
    assert task is not None
    qtbot.waitUntil(lambda: len(returned) == 2, timeout=20_000)
    qtbot.wait(300)  # the batch notes them as done
    with qtbot.waitSignal(task.cancelled, timeout=20_000):
        panel.cancel()
    assert finished.wait(5.0) and max(waited) < 30  # stopped by the cancel, not the 60 s
    shown = {window.session.sequence[i].path.name for i in panel.results}
    assert shown == quick
