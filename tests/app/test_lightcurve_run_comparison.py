"""Light curve panel: ``fluxion run``'s curve against comparison stars, shown as the run made it.

The run keeps in the curve's meta which stars it measured the target
against and at which aperture. Opened in the window, the panel says so
(the number of stars, the radius, why), draws those stars on every light
where the simulator put them, at the run's radius, and does not replace the
run's curve by one of its own unless the user agrees.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.panels import lightcurve_stored
from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.app.panels.lightcurve_backup import RUN_CURVE_KEY
from fluxion.app.panels.lightcurve_run_stars import is_run_comparison_curve, run_curve_description
from fluxion.core.chain.night import LIGHT_CURVE_FILE

simulate = pytest.importorskip("fluxion.core.simulation.simulate")

CONFIG = dict(n_frames=6, shape=(300, 300), n_bias=1, n_dark=1, n_flat=1, star_density=3.0)


@pytest.fixture(scope="module")
def comparison_project(tmp_path_factory) -> tuple[Path, Path]:
    """A simulated night and the project ``fluxion run --comparison on`` made of it."""
    from fluxion.app.cli import main

    night = tmp_path_factory.mktemp("comparison_night")
    simulate.simulate_night(night, simulate.NightConfig(**CONFIG))
    first = Table.read(night / "truth/light_0001.ecsv")
    inside = (first["x"] > 60) & (first["x"] < 240) & (first["y"] > 60) & (first["y"] < 240)
    stars = first[inside & (first["kind"] == "star")]
    star = stars[np.argsort(stars["mag_V"])[len(stars) // 3]]  # a star of middling brightness
    folder = tmp_path_factory.mktemp("comparison_project") / "project"
    args = [
        "run", str(night), "--project", str(folder),
        "--ra", repr(float(star["ra"])), "--dec", repr(float(star["dec"])),
        "--catalog", str(night / "truth/reference_catalog.ecsv"), "--comparison", "on",
        "--workers", "1", "--no-cosmic-rays", "--no-report",
    ]  # fmt: skip
    assert main(args) == 0
    return night, folder


def test_the_runs_comparison_curve_is_named_and_its_stars_drawn(
    window, qtbot, open_and_wait, comparison_project, monkeypatch, tmp_path
) -> None:
    night, folder = comparison_project
    kept = Table.read(folder / LIGHT_CURVE_FILE)
    n = len(kept.meta["comparison_stars"])
    # The radius the curve was measured at: its own, or the photometry step's it kept.
    radius = kept.meta.get("aperture_radius") or np.median(
        [
            Table.read(p).meta["aperture_radius"]
            for p in (folder / "magnitudes").glob("light_????.ecsv")
        ]
    )
    assert n >= 2 and "n_comparison" in kept.colnames
    panel = next(p for p in window.panels if isinstance(p, LightCurvePanel))
    open_and_wait(window, folder / "project.json")
    qtbot.waitUntil(lambda: panel.run is not None, timeout=30_000)
    text = panel.result_label.text()
    assert f"the run's curve against {n} comparison stars" in text
    assert f"aperture {radius:.1f} px" in text
    assert "Comparison stars because" in text  # the run's reason, in the window
    assert panel.curve.plot.getAxis("left").labelText == "differential magnitude"
    # The run's stars in every light, each on one and the same simulated star all night
    # (within half a seeing FWHM: the centroid of a star near others moves by less).
    xy = panel.run.stars_xy
    assert xy.shape == (len(kept), n, 2) and np.all(np.isfinite(xy))
    half_fwhm = 0.5 * float(np.nanmedian(kept["fwhm"]))
    ids = []
    for light in range(len(kept)):
        truth = Table.read(night / f"truth/light_{light + 1:04d}.ecsv")
        txy = np.column_stack([np.asarray(truth["x"], float), np.asarray(truth["y"], float)])
        d = np.hypot(*(xy[light][:, None, :] - txy[None, :, :]).transpose(2, 0, 1))
        assert np.all(d.min(axis=1) < half_fwhm), d.min(axis=1)
        ids.append(np.asarray(truth["id"])[np.argmin(d, axis=1)])
    assert all(np.array_equal(ids[0], other) for other in ids[1:])
    # Drawn on the viewer at the run's radius, labelled C1..Cn, next to the target.
    window.raise_step(panel.title)
    qtbot.waitUntil(lambda: panel.in_front, timeout=5_000)
    window.session.go_to(int(panel.rows[2]))
    qtbot.waitUntil(lambda: window.image_view.overlays.count("labels") == n + 1, timeout=10_000)
    labels = {
        item.toPlainText(): (item.pos().x(), item.pos().y())
        for item in window.image_view.overlays.items("labels")
    }
    assert {f"C{k + 1}" for k in range(n)} <= set(labels)
    assert panel.shown_radius(panel.params().aperture_radius) == pytest.approx(radius)
    # The label begins one aperture radius right of its star, off the aperture.
    np.testing.assert_allclose(labels["C1"], xy[2, 0] + (radius, 0.0), atol=1e-6)

    # Differential against the ensemble although its lights had zero points: no AAVSO
    # report of standard magnitudes from it, and the reason is the run's.
    assert bool(np.all(kept["calibrated"])) and not panel.run.calibrated
    assert kept.meta["comparison_reason"] in panel.export_problem("aavso")
    # An export says what it wrote under the statement of which curve it is.
    out = tmp_path / "table.csv"
    panel.export("table", out)
    qtbot.waitUntil(lambda: "Exported: " in panel.result_label.text(), timeout=10_000)
    assert f"the run's curve against {n} comparison stars" in panel.result_label.text()
    assert "its mag column holds differential magnitudes" in panel.result_label.text()
    assert len(Table.read(out, format="ascii.csv")) == len(kept)
    # Beside the CSV, what the curve is: differential, no band, its stars and aperture.
    about = (tmp_path / "table.about.txt").read_text()
    assert "table.about.txt" in panel.result_label.text()
    assert "mag, mag_err: differential magnitudes" in about
    assert "These are not standard magnitudes" in about and "Band: none" in about
    assert f"Comparison stars: {n}, at x, y px in the first light: C1 (" in about
    assert f"C{n} (" in about and f"C{n + 1} (" not in about
    assert kept.meta.get("aperture_radius") is None or f"radius: {radius:.2f} px" in about
    assert f"Comparison stars because {kept.meta['comparison_reason']}" in about
    # ALCDEF is for asteroids: not offered for the run's fixed target.
    assert panel._target_doc()["kind"] == "fixed"
    assert "ALCDEF is the asteroid light-curve format" in panel.export_problem("alcdef")
    assert panel.export_problem("table") == ""

    # With the window's own comparison stars, "Measure" asks first; Cancel keeps the
    # run's curve untouched, nothing measured.
    panel.run_stars_box.setChecked(False)
    assert "comparison stars chosen here" in panel.run_diff_label.text()
    asked: list[str] = []
    monkeypatch.setattr(
        lightcurve_stored, "ask_to_replace", lambda _parent, said: asked.append(said) or False
    )
    before = (folder / LIGHT_CURVE_FILE).read_bytes()
    assert panel.run_all() is None
    assert len(asked) == 1 and f"{n} comparison stars" in asked[0]
    assert panel.result_label.text().startswith("Not measured: the run's curve is kept")
    assert panel.run is not None and panel.run.stored
    assert (folder / LIGHT_CURVE_FILE).read_bytes() == before
    # Agreed: the panel measures its own curve and says it is measured here.
    monkeypatch.setattr(lightcurve_stored, "ask_to_replace", lambda _parent, _said: True)
    task = panel.run_all()
    assert task is not None
    qtbot.waitUntil(lambda: panel.run is not None and not panel.run.stored, timeout=60_000)
    said = panel.result_label.text()
    assert said.startswith(f"Measured here, aperture {panel.params().aperture_radius:.1f} px")
    assert "Kept in the project" in said
    # Read back, the window's curve is not taken for the run's (it names its stars too).
    again = Table.read(folder / LIGHT_CURVE_FILE)
    assert again.meta.get("comparison_stars") and not is_run_comparison_curve(again)
    assert run_curve_description(again, False).startswith("a curve measured in the window")
    _the_runs_curve_is_kept_and_restored(window, qtbot, panel, folder, before)


def _the_runs_curve_is_kept_and_restored(window, qtbot, panel, folder: Path, before: bytes) -> None:
    """After "Yes" the run's curve is kept beside the new one, the Run tab says the curve
    shown is no longer the run's, and "Restore the run's curve" brings it back."""
    backup = folder / "lightcurve.run.ecsv"
    assert backup.read_bytes() == before
    doc = panel._target_doc()
    assert doc is not None and doc[RUN_CURVE_KEY] == backup.name
    assert not panel.restore_button.isHidden()
    notes = window.run_notes.toPlainText()
    assert f"The light curve of {doc['name']} shown is no longer the run's" in notes
    assert f"kept in {backup.name}" in notes
    saved = json.loads((folder / "project.json").read_text())["targets"]
    assert saved[0][RUN_CURVE_KEY] == backup.name
    # The window's curve exported: its description says so, with the form's aperture.
    out = folder.parent / "window.csv"
    panel.export("table", out)
    qtbot.waitUntil(lambda: (folder.parent / "window.about.txt").exists(), timeout=10_000)
    about = (folder.parent / "window.about.txt").read_text()
    assert "a curve measured in the window against comparison stars" in about
    assert f"Aperture radius: {panel.params().aperture_radius:.2f} px." in about
    assert panel.restore_run_curve() is not None
    qtbot.waitUntil(lambda: panel.run is not None and panel.run.stored, timeout=30_000)
    assert (folder / LIGHT_CURVE_FILE).read_bytes() == before and not backup.exists()
    assert is_run_comparison_curve(panel.run.table) and panel.restore_button.isHidden()
    assert "no longer the run's" not in window.run_notes.toPlainText()
    assert panel.result_label.text().startswith(f"{doc['name']}: the run's curve against")
    saved = json.loads((folder / "project.json").read_text())["targets"]
    assert RUN_CURVE_KEY not in saved[0]


def test_a_damaged_curve_is_named_with_its_cause(
    window, qtbot, open_and_wait, comparison_project, tmp_path
) -> None:
    import shutil

    _, folder = comparison_project
    copy = tmp_path / "project"
    shutil.copytree(folder, copy)
    (copy / LIGHT_CURVE_FILE).write_text("# %ECSV 1.0\n# ---\nnot a table\n")
    panel = next(p for p in window.panels if isinstance(p, LightCurvePanel))
    open_and_wait(window, copy / "project.json")
    qtbot.waitUntil(lambda: "cannot be read" in panel.result_label.text(), timeout=30_000)
    text = panel.result_label.text()
    assert str(copy / LIGHT_CURVE_FILE) in text and "measures a new one" in text
    assert panel.run is None


def test_the_form_holds_the_runs_settings_and_measures_its_curve_again(
    window, qtbot, open_and_wait, comparison_project, monkeypatch, tmp_path
) -> None:
    """Beside the run's curve the form shows the run's aperture and stars; Measure with them
    gives the run's curve (the file untouched, nothing asked); a changed radius is said to
    differ, and the curve it makes replaces the run's only once agreed."""
    import shutil

    _, original = comparison_project
    folder = tmp_path / "project"
    shutil.copytree(original, folder)
    kept = Table.read(folder / LIGHT_CURVE_FILE)
    n = len(kept.meta["comparison_stars"])
    panel = next(p for p in window.panels if isinstance(p, LightCurvePanel))
    open_and_wait(window, folder / "project.json")
    qtbot.waitUntil(lambda: panel.run is not None and panel.run.stored, timeout=30_000)
    radius = panel.shown_radius(0.0)
    assert radius > 0.0
    assert panel.params().aperture_radius == pytest.approx(radius, abs=5e-4)
    assert panel.params().n_comparison == n
    assert not panel.run_stars_box.isHidden() and panel.run_stars_box.isChecked()
    said = panel.run_diff_label.text()
    assert said.startswith("The run's settings") and "measures the run's curve again" in said
    assert not panel.auto_box.isEnabled()  # the run's stars, not the window's choice

    asked: list[str] = []
    monkeypatch.setattr(
        lightcurve_stored, "ask_to_replace", lambda _parent, text: asked.append(text) or True
    )
    before = (folder / LIGHT_CURVE_FILE).read_bytes()
    task = panel.run_all()
    assert task is not None
    qtbot.waitUntil(lambda: "with the run's settings" in panel.result_label.text(), timeout=60_000)
    assert asked == [] and (folder / LIGHT_CURVE_FILE).read_bytes() == before
    again = panel.run.table
    # The same fluxes through the same arithmetic: equal far below the curve's own noise.
    err = float(np.nanmedian(kept["mag_err"]))
    np.testing.assert_allclose(again["mag"], kept["mag"], rtol=0, atol=1e-6 * err)
    np.testing.assert_allclose(again["mag_err"], kept["mag_err"], rtol=1e-6)
    assert panel.run.stored and is_run_comparison_curve(again)

    # A changed radius is said to differ, and so are the window's own stars.
    panel.form.editor("aperture_radius").setValue(radius + 1.0)
    said = panel.run_diff_label.text()
    assert said.startswith("Differs from the run's curve: aperture")
    assert f"(the run's: {radius:.1f} px)" in said and "asks before replacing" in said
    panel.run_stars_box.setChecked(False)
    assert "comparison stars chosen here" in panel.run_diff_label.text()
    panel.run_stars_box.setChecked(True)
    task = panel.run_all()
    assert task is not None and len(asked) == 1 and f"(the run's: {radius:.1f} px)" in asked[0]
    qtbot.waitUntil(
        lambda: "measured here against the run's" in panel.result_label.text(), timeout=60_000
    )
    written = Table.read(folder / LIGHT_CURVE_FILE)
    assert written.meta["aperture_radius"] == pytest.approx(radius + 1.0, abs=5e-4)
    assert not is_run_comparison_curve(written)  # read back as the window's curve
    assert (folder / "lightcurve.run.ecsv").read_bytes() == before
    # The same stars of a simulated night at another radius: every light measured, and the
    # two curves agree within their noise (the simulated stars do not vary).
    d = np.asarray(written["mag"], float) - np.asarray(kept["mag"], float)
    assert np.all(np.isfinite(d))
    both = np.hypot(np.asarray(written["mag_err"], float), np.asarray(kept["mag_err"], float))
    assert np.all(np.abs(d - np.median(d)) < 5 * both)
    assert panel.run_stars_box.isHidden()  # the curve shown is no longer the run's


def test_a_colour_runs_curve_is_not_offered_as_measured_again(comparison_project) -> None:
    """A colour run's curve follows one channel of the mosaic: the form does not claim to
    measure it again (the panel measures the whole mosaic)."""
    from fluxion.app.panels.lightcurve_run_measure import run_settings

    _, folder = comparison_project
    kept = Table.read(folder / LIGHT_CURVE_FILE)
    assert run_settings(kept, 3.0) is not None
    kept.meta["channel"] = "G"
    assert run_settings(kept, 3.0) is None
