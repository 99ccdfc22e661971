"""Stand-alone launchers of one panel (manual use, ``python -m fluxion.app.panels.x``)."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QWidget

from fluxion.widgets.image_view import ImageView

from ..session import Session

if TYPE_CHECKING:
    from .base import StepPanel

log = logging.getLogger("fluxion.app.panels")


def run_standalone(panel_cls: type[StepPanel], argv: list[str] | None = None) -> int:
    """Open one panel beside a viewer on the demo sequence (``python -m fluxion.app.panels.x``)."""
    from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter

    from fluxion.core.simulation.simulate import NightConfig

    from ..demo import demo_inputs, generate_demo
    from ..workers import WorkerPool

    logging.basicConfig(level=logging.INFO)
    app = QApplication.instance() or QApplication(argv or sys.argv)
    workers = WorkerPool()
    session = Session(workers)
    view = ImageView()
    panel = panel_cls(session, view)
    session.frame_ready.connect(
        lambda f: view.set_image(
            f.data,
            limits=f.limits,
            wcs=f.wcs,
            histogram=f.histogram,
            colour=f.colour,
            pattern=f.pattern,
        )
    )
    workers.error.connect(lambda info: log.error(info.text()))
    window = QMainWindow()
    split = QSplitter()
    split.addWidget(view)
    split.addWidget(panel)
    window.setCentralWidget(split)
    window.setWindowTitle(f"Fluxion - {panel_cls.title}")
    task = workers.submit(
        generate_demo, None, NightConfig(n_frames=10, shape=(512, 512)), name="Simulating the demo"
    )
    task.result.connect(lambda folder: session.open_paths(demo_inputs(folder)))
    return exec_shown(app, window, workers, (1300, 800))


def exec_shown(app: Any, widget: QWidget, workers: Any, size: tuple[int, int]) -> int:
    """Show ``widget`` at ``size``, run the event loop, then stop the workers and free it.

    The tail of every stand-alone panel launcher (manual use).
    """
    widget.resize(*size)
    widget.show()
    try:
        return app.exec()
    finally:
        workers.shutdown(wait=True)
        widget.close()
        widget.deleteLater()
