"""The image view's overlay layers show the step panel in front, and only it.

Every step panel draws on the same layers (sources, apertures, catalog...);
a panel behind another tab must not draw over the front one's circles, and
bringing a panel to the front replaces what the previous one drew.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from fluxion.app.panels.detection import DetectionPanel
from fluxion.app.panels.photometry import PhotometryPanel


def _settle(window, qtbot) -> None:
    """Wait until no work (prefetch, restores, other panels) may still draw."""
    # Generous: a deadline only fails a busy machine; the wait ends when the work does.
    qtbot.waitUntil(lambda: not window.workers.running(include_quiet=True), timeout=180_000)


def _bring(window, qtbot, panel) -> None:
    window.raise_step(panel.title)
    others = [p for p in window.panels if p is not panel]
    qtbot.waitUntil(lambda: panel.in_front and not any(p.in_front for p in others), timeout=60_000)
    _settle(window, qtbot)


def _run(window, qtbot, panel) -> None:
    i = window.session.current
    task = panel.run_current()
    assert task is not None
    with qtbot.waitSignal(task.finished, timeout=180_000):
        pass  # the task's own end, whatever the load
    assert i in panel.results
    _settle(window, qtbot)


def _go(window, qtbot, index: int) -> None:
    window.session.go_to(index)
    qtbot.waitUntil(lambda: window.session.current == index, timeout=60_000)
    _settle(window, qtbot)


def _shown(window) -> tuple[int, int]:
    overlays = window.image_view.overlays
    return overlays.count("sources"), overlays.count("apertures")


def _detection_shows(panel: DetectionPanel, index: int) -> tuple[int, int]:
    """What the Detection panel draws for frame ``index``: its sources, no apertures."""
    result = panel.results.get(index)
    return (0 if result is None else result.n_sources), 0


def _photometry_shows(panel: PhotometryPanel, index: int) -> tuple[int, int]:
    """What the Photometry panel draws for frame ``index``: an aperture per measured star."""
    result = panel.results.get(index)
    if result is None:
        return 0, 0
    t = result.table
    placed = np.isfinite(np.asarray(t["x"], float)) & np.isfinite(np.asarray(t["y"], float))
    return 0, int(placed.sum())


def test_the_front_panel_owns_the_overlays(
    window, qtbot, open_and_wait, demo_night: Path, tmp_path: Path
) -> None:
    night = Path(shutil.copytree(demo_night, tmp_path / "night"))
    open_and_wait(window, night)
    _settle(window, qtbot)
    detection = next(p for p in window.panels if isinstance(p, DetectionPanel))
    photometry = next(p for p in window.panels if isinstance(p, PhotometryPanel))
    lights = [i for i, f in enumerate(window.session.sequence.frames) if f.type == "light"]
    first, second = lights[0], lights[1]
    _go(window, qtbot, first)

    _bring(window, qtbot, detection)
    _run(window, qtbot, detection)
    n_sources = _detection_shows(detection, first)[0]
    assert n_sources > 10
    assert _shown(window) == (n_sources, 0)

    # Photometry in front, before it has measured this frame: nothing of Detection's stays.
    _bring(window, qtbot, photometry)
    assert _shown(window) == (0, 0)
    _run(window, qtbot, photometry)
    n_apertures = _photometry_shows(photometry, first)[1]
    assert n_apertures > 10
    assert _shown(window) == (0, n_apertures)

    # Back to Detection: its sources replace the apertures.
    _bring(window, qtbot, detection)
    assert _shown(window) == (n_sources, 0)

    # A result of the panel behind the tab does not draw over the front one.
    _go(window, qtbot, second)
    assert _shown(window) == (0, 0)  # Detection has nothing for this frame yet
    _run(window, qtbot, photometry)
    assert second in photometry.results
    assert _shown(window) == (0, 0)
    _run(window, qtbot, detection)
    assert _shown(window) == _detection_shows(detection, second)
    assert _shown(window)[0] > 10

    # Frame changes redraw only the front panel's items, for the frame shown.
    _bring(window, qtbot, photometry)
    assert _shown(window) == _photometry_shows(photometry, second)
    _go(window, qtbot, first)
    assert _shown(window) == (0, n_apertures)
    _bring(window, qtbot, detection)
    assert _shown(window) == (n_sources, 0)
    _go(window, qtbot, second)
    assert _shown(window) == _detection_shows(detection, second)
