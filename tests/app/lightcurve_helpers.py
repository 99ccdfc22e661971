"""Measure a simulated night's eclipsing binary in the window's Light curve panel (app tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.app.panels.targets import TargetsPanel


def eclipsing_binary(night: Path) -> str:
    """The simulated eclipsing binary's "RA Dec" (degrees) from the truth of the first light."""
    truth = Table.read(night / "truth" / "light_0001.ecsv")
    eb = truth[truth["kind"] == "eclipsing"][0]
    sky = WCS(fits.getheader(night / "light_0001.fits")).pixel_to_world(eb["x"], eb["y"])
    return f"{sky.ra.deg} {sky.dec.deg}"


def measure_eb(window, qtbot, open_and_wait, night: Path, folder: Path) -> LightCurvePanel:
    """Open the night, save it as a project in ``folder``, add the target EB, measure it."""
    open_and_wait(window, night)
    # A project folder of the test's own: the demo night's folder is shared by other tests.
    assert window.save_project_as(folder) is not None
    targets = next(p for p in window.panels if isinstance(p, TargetsPanel))
    panel = next(p for p in window.panels if isinstance(p, LightCurvePanel))
    assert targets.prepare_frames() is not None
    qtbot.waitUntil(lambda: targets.frames is not None, timeout=20_000)
    assert targets.add_by_coordinates(eclipsing_binary(night), name="EB") is not None
    panel.refresh_targets()
    assert panel.target_box.currentText() == "EB"
    measure(qtbot, panel)
    return panel


def measure(qtbot, panel: LightCurvePanel) -> None:
    """Measure the panel's target again and wait for the new curve."""
    old = panel.run
    assert panel.run_all() is not None
    qtbot.waitUntil(lambda: panel.run is not old, timeout=30_000)


@contextmanager
def reopened(qtbot, open_and_wait, folder: Path, settings: Path) -> Iterator[tuple]:
    """The project ``folder`` opened in a new window: the window, its Light curve panel once
    it shows a curve, and the names of the tasks the window started (closed afterwards)."""
    from fluxion.app.main_window import MainWindow
    from fluxion.app.settings import Settings

    again = MainWindow(Settings(settings))
    again.resize(1200, 800)
    again.show()
    qtbot.waitExposed(again)
    try:
        started: list[str] = []
        again.workers.task_started.connect(lambda task: started.append(task.name))
        shown = next(p for p in again.panels if isinstance(p, LightCurvePanel))
        open_and_wait(again, folder)
        qtbot.waitUntil(lambda: shown.run is not None, timeout=20_000)
        yield again, shown, started
    finally:
        again.close()
        again.deleteLater()
        qtbot.wait(1)
