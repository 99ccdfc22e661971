"""Field panel: every star of a project's night measured in a worker (progress, Cancel),
the rms-magnitude plot with the expected noise, the candidates linked to their
light curves and to the frames, the image marks, the export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.catalogs.base import angular_separation_deg


@pytest.fixture
def open_field_panel(qtbot, field_project):
    """``open_field_panel()``: a Field panel beside a viewer on the project's night."""
    import fluxion.widgets  # noqa: F401  (PySide6 workaround before any Qt object)
    from fluxion.app.panels.field import FieldPanel
    from fluxion.app.session import Session
    from fluxion.app.workers import WorkerPool
    from fluxion.core.io.sequence import Sequence
    from fluxion.core.project.document import Project
    from fluxion.widgets.image_view import ImageView

    night, folder, _ = field_project
    pools, widgets = [], []

    def _open():
        workers = WorkerPool()
        session = Session(workers)
        view = ImageView()
        panel = FieldPanel(session, view)
        pools.append(workers)
        widgets.extend((panel, view))
        with qtbot.waitSignal(session.frame_ready, timeout=30_000):
            session.set_sequence(Sequence.from_paths([night]), Project.load(folder))
        return panel

    yield _open
    for workers in pools:
        workers.shutdown(wait=True)
    for w in widgets:
        w.close()
        w.deleteLater()
    qtbot.wait(1)


def test_field_panel_is_registered() -> None:
    from fluxion.app.panels import PANELS
    from fluxion.app.panels.field import FieldPanel

    assert FieldPanel in PANELS


def test_panel_measures_the_field_and_links_stars_and_frames(open_field_panel, field_project,
                                                             qtbot, tmp_path):  # fmt: skip
    night, _, config = field_project
    panel = open_field_panel()
    task = panel.run_all()
    assert task is not None and panel.cancel_button.isEnabled()
    progress = []
    task.progress.connect(lambda f, _m: progress.append(f))
    qtbot.waitUntil(lambda: panel.field is not None, timeout=600_000)
    qtbot.waitUntil(lambda: not panel.cancel_button.isEnabled(), timeout=10_000)
    assert progress and max(progress) > 0.5
    table, lc = panel.field.variability, panel.field.lightcurves
    n_stars = len(table)
    assert len(np.unique(lc["frame"])) == config.n_frames and n_stars > 40
    assert len(lc) == n_stars * config.n_frames

    # The rms plot: one point per searched star, the expected noise drawn under them.
    items = panel.rms_plot.getPlotItem().items
    scatter = next(i for i in items if getattr(i, "name", lambda: "")() == "after EPD/TFA")
    searched = np.isfinite(np.asarray(table["rms"], float)) & (np.asarray(table["rms"]) > 0)
    assert len(scatter.points()) == int(searched.sum())
    noise = next(i for i in items if getattr(i, "name", lambda: "")() == "expected noise")
    x, y = noise.getData()
    assert np.allclose(10**y, panel.field.noise.rms(x))
    # Quiet bright stars lie near the noise curve after detrending (the panel
    # shows what the analysis measured: rms over expected, median of the bright half).
    quiet = searched & ~np.asarray(table["candidate"], bool)
    bright = quiet & (np.asarray(table["mean_mag"]) < np.nanmedian(table["mean_mag"][quiet]))
    ratio = np.median(np.asarray(table["rms"])[bright] / np.asarray(table["expected_rms"])[bright])
    assert 0.7 < ratio < 1.3, ratio
    text = panel.result_label.text()
    assert "after EPD/TFA" in text and "candidate" in text and "kept in" in text
    before = np.nanmedian(np.asarray(table["rms_fitted"], float))
    assert np.nanmedian(np.asarray(table["rms"], float)) <= before

    # The candidates list: the eclipsing binary and the dwarf nova in outburst
    # among the first three, found unprompted; the first shown (light curve,
    # periodogram) without a click.
    n_cand = int(np.sum(table["candidate"]))
    assert n_cand >= 2 and panel.table.rowCount() == n_cand
    listed = [int(panel.table.item(r, 0).text()) for r in range(n_cand)]
    assert listed == [int(s) for s in table["star_id"][:n_cand]]
    truth = Table.read(night / "truth/light_0001.ecsv")
    for kind in ("eclipsing", "outburst"):
        star = truth[truth["kind"] == kind][0]
        sep = angular_separation_deg(table["ra"], table["dec"], star["ra"], star["dec"]) * 3600
        rank = int(np.argmin(sep))
        assert sep[rank] < 2.0 and rank < 3 and table["candidate"][rank], (kind, rank)
    qtbot.waitUntil(lambda: panel.star is not None, timeout=30_000)
    assert panel.star.star_id == int(table["star_id"][0])
    assert len(panel.star.mag) >= config.n_frames - 2
    # A top candidate's variation is in its curve: far above its noise.
    assert np.ptp(panel.star.mag_detrended) > 10 * np.median(panel.star.mag_err)

    # Clicking a star of the rms plot shows that star.
    point = next(p for p in scatter.points() if int(p.data()) != panel.star.star_id)
    panel._on_star_point(scatter, [point])
    qtbot.waitUntil(lambda: panel.star.star_id == int(point.data()), timeout=30_000)
    assert panel.tabs.currentWidget() is panel.star_plots
    # A row of the candidates list too.
    panel.table.selectRow(0)
    qtbot.waitUntil(lambda: panel.star.star_id == int(table["star_id"][0]), timeout=30_000)

    # Clicking a point of the light curve shows its light.
    curve = next(i for i in panel.curve_item.items
                 if getattr(i, "name", lambda: "")() == "detrended")  # fmt: skip
    pick = curve.points()[3]
    with qtbot.waitSignal(panel.session.current_changed, timeout=10_000):
        panel._on_curve_point(curve, [pick])
    seq = panel.session.sequence
    i = int(pick.data())
    assert seq[panel.session.current].path.name == panel.star.files[i]
    # Marked on that light: the candidates and the chosen star where it was measured.
    overlays = panel.image_view.overlays
    assert overlays.count("sources") == n_cand and overlays.count("targets") == 1
    marker = overlays.items("targets")[0]
    mx, my = marker.getData()
    assert mx[0] == pytest.approx(panel.star.x[i]) and my[0] == pytest.approx(panel.star.y[i])

    # Export: the two tables fluxion field writes.
    out = tmp_path / "field"
    assert panel.export(out) is not None
    qtbot.waitUntil(lambda: "Exported" in panel.result_label.text(), timeout=60_000)
    assert len(Table.read(out / "field_lightcurves.ecsv")) == len(lc)
    assert len(Table.read(out / "variability.ecsv")) == n_stars

    # A second run cancelled keeps the finished one.
    kept = panel.field
    task = panel.run_all()
    cancelled = []
    task.cancelled.connect(lambda: cancelled.append(True))
    panel.cancel_run()
    qtbot.waitUntil(lambda: bool(cancelled), timeout=120_000)
    assert panel.result_label.text() == "Cancelled." and panel.field is kept

    # The run is kept in the project: a panel opened on it later shows it again.
    again = open_field_panel()
    qtbot.waitUntil(lambda: again.field is not None, timeout=60_000)
    assert list(again.field.variability["star_id"]) == list(table["star_id"])
    assert again.table.rowCount() == n_cand and "candidate" in again.result_label.text()
    qtbot.waitUntil(lambda: again.star is not None, timeout=30_000)
    assert again.star.star_id == int(table["star_id"][0])


def test_panel_without_a_project_says_what_to_do(qtbot):
    import fluxion.widgets  # noqa: F401
    from fluxion.app.panels.field import FieldPanel
    from fluxion.app.session import Session
    from fluxion.app.workers import WorkerPool

    workers = WorkerPool()
    panel = FieldPanel(Session(workers))
    try:
        assert panel.run_all() is None
        assert "Open a night first" in panel.result_label.text()
        assert panel.select_star(1) is None and panel.export(Path("unused")) is None
    finally:
        workers.shutdown(wait=True)
        panel.close()
        panel.deleteLater()
