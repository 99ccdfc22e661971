"""The Light curve panel's lights prepared before Astrometry solved them.

A fixed target given by RA/Dec is placed on the lights through their
solutions. Lights the panel prepared before they were solved (a comparison
star clicked early) are prepared again once they are: before, the panel kept
the unsolved lights and the target could not be placed.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from astropy.table import Table

pytestmark = pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")


def test_lights_prepared_before_solving_are_prepared_again(
    open_panel, unpointed_night, qtbot
) -> None:
    from fluxion.app.panels.astrometry import AstrometryPanel
    from fluxion.app.panels.lightcurve import LightCurvePanel
    from fluxion.app.panels.target_model import Target
    from fluxion.core.astrometry import SolveParams

    panel = open_panel(LightCurvePanel, unpointed_night)
    session = panel.session
    panel._prepare_frames()  # as a comparison star clicked before solving does
    qtbot.waitUntil(lambda: panel.frames is not None, timeout=60_000)
    assert panel.frames.wcs is None
    # The target by RA/Dec (Astrometry searches near it: the headers give no pointing).
    truth = [Table.read(unpointed_night / f"truth/light_{k:04d}.ecsv") for k in (1, 2)]
    star = truth[0][np.argmin(np.hypot(truth[0]["x"] - 128.0, truth[0]["y"] - 128.0))]
    target = Target("star", "fixed", ra=float(star["ra"]), dec=float(star["dec"]))
    session.project.targets = [target.to_dict()]

    solver = AstrometryPanel(session, panel.image_view)
    try:
        solver.form.set_params(
            replace(
                SolveParams(),
                catalog="Local file",
                offline=True,
                use_solve_field=False,
                catalog_file=str(unpointed_night / "truth" / "reference_catalog.ecsv"),
            )  # fmt: skip
        )
        with qtbot.waitSignal(solver.step_finished, timeout=300_000):
            solver.run_all()
        assert all(r.solved for r in solver.results.values())
    finally:
        solver.close()
        solver.deleteLater()
    assert panel.frames is None  # the unsolved lights are not used again

    panel.refresh_targets()
    with qtbot.waitSignal(panel.step_finished, timeout=300_000):
        panel.run_all()
    assert panel.frames is not None and panel.frames.wcs is not None
    lc = panel.run.table
    for k, light in enumerate(truth):
        row = light[light["id"] == star["id"]][0]
        # Placed where the simulator has the star (the solution's error is ~0.1 px).
        assert np.hypot(lc["x"][k] - row["x"], lc["y"][k] - row["y"]) < 0.3
    assert np.all(np.isfinite(np.asarray(lc["mag"], float)))
    # The target's aperture is labelled with its name on the image.
    session.go_to(panel.frames.indices[0])
    qtbot.waitUntil(lambda: session.current == panel.frames.indices[0], timeout=5_000)
    panel.redraw_overlays()
    group = panel.image_view.overlays._group("labels")
    texts = [item.textItem.toPlainText() for item in group.childItems()]
    assert texts[0] == "star" and "C1" in texts
