"""Transients panel: the night searched in a worker (progress, Cancel), the candidates
listed with their cut-outs and linked to their lights, the target's forced photometry
with limits drawn as limits, the export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.simulation.simulate import NightConfig, simulate_night
from fluxion.core.simulation.transients import NOVA_ID

CONFIG = NightConfig(
    n_frames=10, shape=(300, 300), n_bias=3, n_dark=3, n_flat=3, outburst_start=0.3, seed=21,
)  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, Path]:
    night = tmp_path_factory.mktemp("transients_panel_night")
    simulate_night(night, CONFIG)
    folder = tmp_path_factory.mktemp("transients_panel_project") / "project"
    args = ["run", str(night), "--project", str(folder), "--workers", "2",
            "--no-cosmic-rays", "--no-report"]  # fmt: skip
    assert main(args) == 0
    return night, folder


@pytest.fixture
def panel(qtbot, project):
    import fluxion.widgets  # noqa: F401  (PySide6 workaround before any Qt object)
    from fluxion.app.panels.transients import TransientsPanel
    from fluxion.app.session import Session
    from fluxion.app.workers import WorkerPool
    from fluxion.core.io.sequence import Sequence
    from fluxion.core.project.document import Project
    from fluxion.widgets.image_view import ImageView

    night, folder = project
    workers = WorkerPool()
    session = Session(workers)
    view = ImageView()
    panel = TransientsPanel(session, view)
    with qtbot.waitSignal(session.frame_ready, timeout=30_000):
        session.set_sequence(Sequence.from_paths([night]), Project.load(folder))
    yield panel
    workers.shutdown(wait=True)
    for w in (panel, view):
        w.close()
        w.deleteLater()
    qtbot.wait(1)


def test_transients_panel_is_registered() -> None:
    from fluxion.app.panels import PANELS
    from fluxion.app.panels.transients import TransientsPanel

    assert TransientsPanel in PANELS


def test_panel_finds_the_nova_and_shows_it(panel, project, qtbot, tmp_path):
    night, _ = project
    truth0 = Table.read(night / "truth/light_0001.ecsv")
    nova = truth0[truth0["id"] == NOVA_ID][0]
    panel.form.set_params(panel.params().__class__(target=f"{nova['ra']} {nova['dec']}"))
    task = panel.run_all()
    assert task is not None and panel.cancel_button.isEnabled()
    progress = []
    task.progress.connect(lambda f, _m: progress.append(f))
    qtbot.waitUntil(lambda: panel.found is not None, timeout=600_000)
    qtbot.waitUntil(lambda: not panel.cancel_button.isEnabled(), timeout=10_000)
    assert progress and max(progress) > 0.5
    cand = panel.found.result.candidates
    # The list: one row per object, the accepted first; the nova and the dwarf
    # nova among the accepted (both modes), nothing else but the eclipse.
    accepted = [o for o in panel.objects if o["accepted"]]
    assert panel.table.rowCount() == len(panel.objects) >= len(accepted) >= 2
    kinds = set()
    for o in accepted:
        best = cand[o["best"]]
        t = Table.read(night / f"truth/light_{int(best['frame']) + 1:04d}.ecsv")
        d = np.hypot(t["x"] - best["x"], t["y"] - best["y"])
        kinds.add(str(t["kind"][int(np.argmin(d))]) if d.min() < 2 else "false")
    assert {"nova", "outburst"} <= kinds <= {"nova", "outburst", "eclipsing"}, kinds
    # The first is chosen: its light shown, its cut-outs drawn (frame, template, difference).
    first = cand[panel.objects[0]["best"]]
    qtbot.waitUntil(
        lambda: panel.session.sequence[panel.session.current].path.name == first["file"],
        timeout=10_000,
    )
    if panel.objects[0]["mode"] == "difference":
        images = [item.image for item in panel.cutout_items]
        assert all(img is not None and img.shape == (31, 31) for img in images)
        # The new source is in the frame and the difference, at the centre.
        assert images[2][15, 15] > 5
    overlays = panel.image_view.overlays
    assert overlays.count("targets") == 1 and overlays.count("sources") >= 1
    # A row of another object shows that one.
    if len(panel.objects) > 1:
        panel.table.selectRow(1)
        assert panel.chosen is panel.objects[1]

    # The target's forced photometry: detections and limits, one point per light.
    forced = panel.found.result.forced
    assert len(forced) == CONFIG.n_frames
    import pyqtgraph as pg

    items = panel.forced_plot.getPlotItem().items
    scatters = [i for i in items if isinstance(i, pg.ScatterPlotItem)]
    assert sum(len(s.points()) for s in scatters) == int(
        np.sum(forced["detected"]) + np.sum(~forced["detected"] & np.isfinite(forced["limit_mag"]))
    )
    assert "target: detected in" in panel.result_label.text()

    out = tmp_path / "transients"
    assert panel.export(out) is not None
    qtbot.waitUntil(lambda: "Exported" in panel.result_label.text(), timeout=60_000)
    assert len(Table.read(out / "candidates.ecsv")) == len(cand)
    assert len(Table.read(out / "forced.ecsv")) == CONFIG.n_frames

    # A second run cancelled keeps the finished one.
    kept = panel.found
    task = panel.run_all()
    cancelled = []
    task.cancelled.connect(lambda: cancelled.append(True))
    panel.cancel_run()
    qtbot.waitUntil(lambda: bool(cancelled), timeout=120_000)
    assert panel.result_label.text() == "Cancelled." and panel.found is kept


def test_panel_without_a_project_says_what_to_do(qtbot):
    import fluxion.widgets  # noqa: F401
    from fluxion.app.panels.transients import TransientsPanel
    from fluxion.app.session import Session
    from fluxion.app.workers import WorkerPool

    workers = WorkerPool()
    panel = TransientsPanel(Session(workers))
    try:
        assert panel.run_all() is None
        assert "Open a night first" in panel.result_label.text()
        assert panel.export(Path("unused")) is None
    finally:
        workers.shutdown(wait=True)
        panel.close()
        panel.deleteLater()
