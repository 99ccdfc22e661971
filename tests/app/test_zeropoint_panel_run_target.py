"""The Zero point panel on a project ``fluxion run`` made: it keeps the run's calibration.

The run keeps the light curve's target out of each light's zero point (its own
variation would move it). The panel calibrates with the same inputs, so it
finds the run's products current and shows the run's zero points; before, it
recalibrated with the target as one more calibration star and replaced them.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.core.chain import load_zeropoint
from fluxion.core.project.products import ProductStore


def _used_near(result, xy: tuple[float, float], radius: float = 1.0) -> int:
    """How many calibration stars used by ``result`` lie within ``radius`` px of ``xy``."""
    stars = result.stars
    used = np.asarray(stars["used"], bool)
    d = np.hypot(np.asarray(stars["x"], float) - xy[0], np.asarray(stars["y"], float) - xy[1])
    return int(np.count_nonzero(used & (d < radius)))


def test_panel_shows_and_keeps_the_runs_zero_points(run_project, open_panel, qtbot):
    from fluxion.app.panels.zeropoint import ZeroPointPanel, calibrate_frame

    night, folder, _, config = run_project
    lc = Table.read(folder / "lightcurve.ecsv")
    panel = open_panel(ZeroPointPanel, night, project=folder)
    store = panel.session.product_store()
    lights = [panel.session.sequence.frames[i] for i in panel.session.light_indices()]
    assert len(lights) == config.n_frames
    before = {f.path.name: store.fingerprint_of("zeropoint", f.path) for f in lights}
    run_zp = {f.path.name: load_zeropoint(store, f) for f in lights}
    for f in lights:
        xy = lc["x"][lc["file"] == f.path.name][0], lc["y"][lc["file"] == f.path.name][0]
        # The run kept its target out of the calibration stars.
        assert run_zp[f.path.name].calibrated
        assert _used_near(run_zp[f.path.name], xy) == 0

    panel.set_catalog_file(night / "truth" / "reference_catalog.ecsv")
    with qtbot.waitSignal(panel.step_finished, timeout=300_000):
        panel.run_all()
    assert len(panel.results) == config.n_frames
    after = ProductStore(folder, store.names)
    for f in lights:
        name = f.path.name
        # The run's product is current for the panel: not replaced, same zero point.
        assert after.fingerprint_of("zeropoint", f.path) == before[name]
        shown = panel.results[panel.session.sequence.frames.index(f)].result
        assert shown.zero_point == run_zp[name].zero_point
        assert shown.n_stars == run_zp[name].n_stars

    # The same frame calibrated as the panel did before (no target): the target
    # becomes a calibration star, and the product changes. This is what the
    # panel must not do; it shows the check above can fail.
    f = lights[0]
    xy = lc["x"][lc["file"] == f.path.name][0], lc["y"][lc["file"] == f.path.name][0]
    ctx = panel.run_context()
    old = calibrate_frame(store, f, panel.params(), ctx.photometry, ctx.catalog)
    assert _used_near(old.result, xy) == 1
    assert store.fingerprint_of("zeropoint", f.path) != before[f.path.name]
