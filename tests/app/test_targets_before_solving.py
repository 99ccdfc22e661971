"""A fixed target given by RA/Dec before the lights are solved (headers without a pointing).

The Targets panel says the target waits for the solutions (no failure shown);
Astrometry searches near it; once it has solved the lights, the Targets panel
prepares them again and places the target where the simulator has the star.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from astropy.table import Table

pytestmark = pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")


def test_target_by_coordinates_waits_for_the_solutions_then_is_placed(
    open_panel, unpointed_night, qtbot
) -> None:
    from fluxion.app.panels.astrometry import AstrometryPanel
    from fluxion.app.panels.targets import TargetsPanel
    from fluxion.core.astrometry import SolveParams

    panel = open_panel(TargetsPanel, unpointed_night)
    session = panel.session
    panel.set_in_front(True)
    qtbot.waitUntil(lambda: panel.frames is not None, timeout=60_000)
    assert panel.frames.wcs is None
    truth = [Table.read(unpointed_night / f"truth/light_{k:04d}.ecsv") for k in (1, 2)]
    star = truth[0][np.argmin(np.hypot(truth[0]["x"] - 128.0, truth[0]["y"] - 128.0))]
    target = panel.add_by_coordinates(f"{float(star['ra']):.7f} {float(star['dec']):.7f}", "star")
    assert target is not None
    assert "placed on the lights once they are solved" in panel.result_label.text()
    assert "star" not in panel.predictions
    assert panel._refit(target) is None  # no fit started to fail

    # Astrometry on the same window: the lights are searched near the target.
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
        # The Targets panel prepares the lights again and places the star.
        qtbot.waitUntil(lambda: "star" in panel.predictions, timeout=60_000)
    finally:
        solver.close()
        solver.deleteLater()
    table = panel.predictions["star"]
    for k, light in enumerate(truth):
        row = light[light["id"] == star["id"]][0]
        assert np.hypot(table["x"][k] - row["x"], table["y"][k] - row["y"]) < 0.3
