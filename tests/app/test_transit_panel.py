"""Transit panel: fits the Light curve panel's curve in a worker, draws, links frames, exports."""

from __future__ import annotations

import json

import numpy as np
from astropy.table import Table

from fluxion.app.panels import PANELS
from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.app.panels.transit import TransitPanel
from fluxion.core.simulation.transit_lightcurve import simulate_transit_light_curve


def _curve():
    table, truth = simulate_transit_light_curve(seed=31)
    table["file"] = [f"light_{i:04d}.fits" for i in range(len(table))]
    return table, truth


def test_transit_panel_is_registered_after_the_light_curve() -> None:
    assert PANELS.index(TransitPanel) == PANELS.index(LightCurvePanel) + 1


def test_window_links_the_transit_panel_to_the_light_curve(window) -> None:
    transit = next(p for p in window.panels if isinstance(p, TransitPanel))
    curve = next(p for p in window.panels if isinstance(p, LightCurvePanel))
    assert transit.source is not None and transit.source() is None  # nothing measured yet
    assert transit.run_all() is None
    assert "Light curve panel first" in transit.result_label.text()
    assert curve.run is None


def test_fit_in_a_worker_draws_links_frames_and_exports(window, qtbot, tmp_path) -> None:
    panel = next(p for p in window.panels if isinstance(p, TransitPanel))
    table, truth = _curve()
    rows = np.arange(100, 100 + len(table))
    panel.set_source(lambda: (table, rows))
    panel.period.setValue(truth["period"])
    panel.t0.setValue(2455489.66026)
    panel.form.set_params(panel.params_type(filter="V", mcmc_steps=600, mcmc_burn=200))
    task = panel.run_all()
    assert task is not None and panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: panel.fit is not None, timeout=120_000)
    data, result, tables = panel.fit
    assert abs(result.values["tmid"] - truth["tmid"]) < 3 * result.errors["tmid"]
    assert "Tc = 2456095.6" in panel.result_label.text()
    assert len(panel.curve_item.items) > 3 and len(panel.resid_item.items) > 1
    # A click on a point shows its frame: the row's file, through the source's rows.
    went = []
    panel.session.go_to = went.append
    scatter = next(i for i in panel.curve_item.items if hasattr(i, "points") and len(i.points()))
    point = scatter.points()[5]
    panel._on_point(scatter, [point])
    assert went == [100 + int(point.data())]
    # Export: what fluxion transit writes.
    export = panel.export(tmp_path / "out")
    qtbot.waitUntil(lambda: (tmp_path / "out" / "transit.json").is_file(), timeout=30_000)
    qtbot.waitUntil(lambda: "Exported" in panel.result_label.text(), timeout=30_000)
    assert export is not None
    summary = json.loads((tmp_path / "out" / "transit.json").read_text())
    assert summary["tmid_bjd_tdb"] == result.values["tmid"]
    assert (tmp_path / "out" / "plots" / "lightcurve.png").is_file()
    assert Table.read(tmp_path / "out" / "transit_model.ecsv")["file"][0] == table["file"][0]


def test_fit_can_be_cancelled(window, qtbot) -> None:
    panel = next(p for p in window.panels if isinstance(p, TransitPanel))
    table, truth = _curve()
    panel.set_source(lambda: (table, np.arange(len(table))))
    panel.period.setValue(truth["period"])
    panel.t0.setValue(2455489.66026)
    panel.form.set_params(panel.params_type(mcmc_steps=50000, mcmc_burn=100))
    task = panel.run_all()
    finished = []
    task.finished.connect(lambda: finished.append(True))
    qtbot.wait(300)
    panel.cancel_fit()
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    assert panel.fit is None and "Cancelled" in panel.result_label.text()


def test_offline_lookup_says_what_to_type_in_the_window(
    window, qtbot, no_network, tmp_path, monkeypatch
) -> None:
    from fluxion.core.transit import archive

    monkeypatch.setattr(archive, "default_cache_dir", lambda: tmp_path / "cache")
    transit = next(p for p in window.panels if isinstance(p, TransitPanel))
    transit.planet.setText("TrES-1 b")
    task = transit.look_up()
    assert task is not None
    qtbot.waitUntil(lambda: task.done, timeout=60_000)
    text = transit.result_label.text()
    assert text.startswith("The archive lookup failed: ")
    assert "give the period and T0 by hand" in text
    # The window's own words: no command-line options, the failure said once.
    assert "--" not in text and "Looking up TrES-1 b failed" not in text, text
