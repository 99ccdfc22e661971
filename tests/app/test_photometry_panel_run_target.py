"""The Photometry panel on a project ``fluxion run`` made: the target stays measured.

The run measures each light at its detected sources plus the light curve's
target. The panel measures at the same places, so it finds the run's tables
current and keeps the target's row; before, it measured the sources alone and
replaced the run's tables with ones the zero point and the light curve could
not find the target in.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.core.chain import load_photometry
from fluxion.core.chain.lightcurve import target_row
from fluxion.core.project.products import ProductStore


def test_panel_keeps_the_target_in_the_runs_photometry(run_project, open_panel, qtbot):
    from fluxion.app.panels.photometry import PhotometryPanel, measure_frame

    night, folder, _, config = run_project
    lc = Table.read(folder / "lightcurve.ecsv")
    panel = open_panel(PhotometryPanel, night, project=folder)
    store = panel.session.product_store()
    lights = [panel.session.sequence.frames[i] for i in panel.session.light_indices()]
    assert len(lights) == config.n_frames

    def place(f) -> tuple[float, float]:
        row = lc["file"] == f.path.name
        return float(lc["x"][row][0]), float(lc["y"][row][0])

    before = {f.path.name: store.fingerprint_of("photometry", f.path) for f in lights}
    for f in lights:
        assert target_row(load_photometry(store, f), place(f)) is not None  # the run's

    with qtbot.waitSignal(panel.step_finished, timeout=300_000):
        panel.run_all()
    assert len(panel.results) == config.n_frames
    after = ProductStore(folder, store.names)
    for f in lights:
        # The run's table is current for the panel: not replaced, the target in it.
        assert after.fingerprint_of("photometry", f.path) == before[f.path.name]
        shown = panel.results[panel.session.sequence.frames.index(f)].table
        row = target_row(shown, place(f))
        assert row is not None and np.isfinite(row["flux"]) and row["flux"] > 0
        assert target_row(load_photometry(after, f), place(f)) is not None

    # The same light measured as the panel did before (its sources only): the
    # target's row is gone from the kept table. This is what the panel must not
    # do; it shows the checks above can fail.
    f = lights[0]
    measure_frame(store, f, panel.params())
    assert store.fingerprint_of("photometry", f.path) != before[f.path.name]
    assert target_row(load_photometry(ProductStore(folder, store.names), f), place(f)) is None
