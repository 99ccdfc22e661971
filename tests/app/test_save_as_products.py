"""Save project as carries the products into the new folder, never the input frames."""

from __future__ import annotations

from pathlib import Path

from fluxion.app.panels.calibration import CalibrationPanel
from fluxion.core.project.document import Project


def test_save_as_copies_the_products_and_reopens_with_them(
    window, qtbot, open_and_wait, demo_night: Path, tmp_path
) -> None:
    open_and_wait(window, demo_night)
    first = tmp_path / "first"
    window.save_project_as(first)
    panel = next(p for p in window.panels if isinstance(p, CalibrationPanel))
    with qtbot.waitSignal(panel.step_finished, timeout=120_000):
        panel.run_all()
    made = sorted(p.name for p in (first / "calibrated").glob("*.fits"))
    assert len(made) == 5
    second = tmp_path / "second"
    window.save_project_as(second)
    qtbot.waitUntil(lambda: not window.workers.running(include_quiet=True), timeout=60_000)
    assert sorted(p.name for p in (second / "calibrated").glob("*.fits")) == made
    assert (second / "masters").is_dir()
    assert not list(second.glob("*.fits"))  # the inputs stay where they are
    project = Project.load(second)
    assert project.folder == second.resolve() and "calibration" in project.results
    # The new project's products are current: nothing to redo.
    store = window.session.product_store()
    assert store.folder == second.resolve()
    frame = window.session.sequence[window.session.light_indices()[0]]
    assert store.fingerprint_of("calibration", frame.path) is not None
