"""Light-curve panel: the eclipsing binary's curve against the simulator's truth, linked frames,
exclusion, periodogram and reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from fluxion.app.panels import PANELS
from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.app.panels.lightcurve_model import fold, period_verdict, periodogram
from fluxion.app.panels.targets import TargetsPanel
from fluxion.core.reports.alcdef import check_alcdef, parse_alcdef
from fluxion.core.simulation.simulate import NightConfig, make_night, simulate_night

CONFIG = NightConfig(
    n_frames=8, shape=(384, 384), write_wcs=True, n_bias=0, n_dark=0, n_flat=0, seed=8
)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> tuple[Path, np.ndarray, tuple[float, float]]:
    """Eight lights; the binary's true relative flux per light and its RA, Dec."""
    out = tmp_path_factory.mktemp("lightcurve_night")
    simulate_night(out, CONFIG)
    jd = [f["jd_mid"] for f in json.loads((out / "truth" / "night.json").read_text())["frames"]]
    rel = make_night(CONFIG).variable_relative_flux(np.array(jd))["eclipsing"]
    truth0 = Table.read(out / "truth" / "light_0001.ecsv")
    eb = truth0[truth0["kind"] == "eclipsing"][0]
    sky = WCS(fits.getheader(out / "light_0001.fits")).pixel_to_world(eb["x"], eb["y"])
    return out, rel, (float(sky.ra.deg), float(sky.dec.deg))


def _panels(window, qtbot) -> tuple[TargetsPanel, LightCurvePanel]:
    targets = next(p for p in window.panels if isinstance(p, TargetsPanel))
    panel = next(p for p in window.panels if isinstance(p, LightCurvePanel))
    assert targets.prepare_frames() is not None  # prepared when first needed, not on opening
    qtbot.waitUntil(lambda: targets.frames is not None, timeout=20_000)
    dock = window.panel_docks[window.panels.index(panel)]
    dock.show()
    dock.raise_()
    qtbot.waitUntil(panel.isVisible, timeout=5_000)
    return targets, panel


def _measure(qtbot, panel) -> None:
    old = panel.run
    task = panel.run_all()
    assert task is not None
    qtbot.waitUntil(lambda: panel.run is not old, timeout=30_000)


def test_light_curve_panel_is_registered() -> None:
    assert LightCurvePanel in PANELS


def test_eclipsing_binary_curve_matches_truth_and_links_frames(
    window, qtbot, open_and_wait, night, tmp_path
) -> None:
    folder, rel, (ra, dec) = night
    open_and_wait(window, folder)
    targets, panel = _panels(window, qtbot)
    targets.add_by_coordinates(f"{ra} {dec}", name="EB")
    panel.refresh_targets()
    assert panel.target_box.currentText() == "EB"
    _measure(qtbot, panel)
    lc = panel.run.table
    assert len(lc) == 8 and np.all(np.isfinite(lc["mag"]))
    assert len(panel.run.choice.comparison) >= 2 and panel.run.choice.check is not None
    # Differential magnitudes follow the eclipse: about the truth up to a constant,
    # the scatter consistent with the stated errors.
    resid = np.asarray(lc["mag"]) - (-2.5 * np.log10(rel))
    w = 1 / np.asarray(lc["mag_err"]) ** 2
    offset = np.sum(w * resid) / np.sum(w)
    chi2 = np.sum(w * (resid - offset) ** 2) / (len(resid) - 1)
    assert chi2 < 3.0, (chi2, resid - offset, lc["mag_err"])
    assert np.ptp(lc["mag"]) == pytest.approx(np.ptp(-2.5 * np.log10(rel)), abs=0.02)
    # The check star is flat within its errors.
    check = np.asarray(lc["check_mag"])
    assert np.std(check) < 3 * np.median(lc["check_mag_err"])

    # Clicking a point selects its frame; the current frame is marked on the curve.
    points = panel.curve.points.points()
    spot = next(s for s in points if s.data() == 5)
    with qtbot.waitSignal(window.session.current_changed, timeout=5_000):
        panel.curve.points.sigClicked.emit(panel.curve.points, [spot], None)
    assert window.session.current == 5
    mx, my = panel.curve.marker.getData()
    assert my[0] == pytest.approx(lc["mag"][5])
    # The frame shows the target's aperture and the comparison stars.
    assert window.image_view.overlays.count("apertures") == 1 + len(panel.run.choice.comparison) + 1
    # Behind another tab it leaves the shared overlays alone; in front it draws them again.
    n_apertures = window.image_view.overlays.count("apertures")
    window.raise_step("Targets")
    qtbot.waitUntil(lambda: not panel.in_front, timeout=5_000)
    window.image_view.overlays.clear("apertures")
    window.session.go_to(4)
    assert window.image_view.overlays.count("apertures") == 0
    window.raise_step(panel.title)
    qtbot.waitUntil(lambda: panel.in_front, timeout=5_000)
    assert window.image_view.overlays.count("apertures") == n_apertures
    window.session.go_to(5)

    # Excluding the current frame: hollow on the plot, kept in the project.
    panel.toggle_exclusion()
    assert panel.excluded()[5] and panel.excluded().sum() == 1
    assert window.session.project.targets[0]["excluded"] == ["light_0006.fits"]
    assert len(panel.curve.points.points()) == 7 and len(panel.curve.excluded.points()) == 1

    # Reports: the table (without the excluded frame) and ALCDEF, both parse back.
    task = panel.export("table", tmp_path / "eb.csv")
    qtbot.waitUntil(lambda: (tmp_path / "eb.csv").exists(), timeout=10_000)
    back = Table.read(tmp_path / "eb.csv", format="ascii.csv")
    assert len(back) == 7 and "light_0006.fits" not in list(back["file"])
    np.testing.assert_allclose(back["mag"], np.delete(np.asarray(lc["mag"]), 5), atol=1e-3)
    meta = {
        "number": "2713",
        "object": "Luxembourg",
        "observers": "A. Observer",
        "contact_name": "A. Observer",
        "contact_info": "a@example.org",
        "obscode": "J99",
    }
    panel.export("alcdef", tmp_path / "eb.alcdef", meta)
    qtbot.waitUntil(lambda: (tmp_path / "eb.alcdef").exists(), timeout=10_000)
    text = (tmp_path / "eb.alcdef").read_text()
    assert check_alcdef(text) == []
    ((header, data),) = parse_alcdef(text)
    assert header["OBJECTNUMBER"] == "2713" and data.shape[0] == 7
    assert window.session.project.targets[0]["report"]["obscode"] == "J99"
    # A report lacking its metadata: a clear error naming the field, no file.
    with qtbot.waitSignal(window.workers.error, timeout=10_000) as blocker:
        task = panel.export("aavso", tmp_path / "eb_aavso.txt", {"object": "EB"})
    assert "the AAVSO report needs your AAVSO observer code" in blocker.args[0].message
    assert not (tmp_path / "eb_aavso.txt").exists()
    del task


def test_periodogram_finds_a_sine_period_and_folds() -> None:
    rng = np.random.default_rng(1)
    jd = 2460000.5 + np.sort(rng.uniform(0, 0.4, 120))
    period_h = 2.7
    err = np.full(jd.size, 0.01)
    mag = 0.15 * np.sin(2 * np.pi * (jd - jd[0]) * 24 / period_h) + rng.normal(0, 0.01, jd.size)
    periods, power, best = periodogram(jd, mag, err)
    assert best == pytest.approx(period_h, rel=0.03)
    phase = fold(jd, best)
    assert phase.min() >= 0 and phase.max() < 1
    with pytest.raises(ValueError, match="at least five"):
        periodogram(jd[:3], mag[:3], err[:3])


def test_one_eclipse_in_a_short_night_gives_no_period() -> None:
    """1.45 h of data with one eclipse: a highest peak, but no period to claim."""
    rng = np.random.default_rng(3)
    jd = 2460000.5 + np.linspace(0, 1.45 / 24, 60)
    err = np.full(jd.size, 0.005)
    hours = (jd - jd[0]) * 24
    mag = 0.3 * np.exp(-0.5 * ((hours - 0.9) / 0.15) ** 2) + rng.normal(0, 0.005, jd.size)
    _, _, best = periodogram(jd, mag, err)
    found, text = period_verdict(jd, mag, err, best)
    assert not found and "No period can be given" in text and "1.45 h observed" in text
    # Four cycles of a 2.7 h sine in 0.4 d: the period is claimed.
    jd = 2460000.5 + np.sort(rng.uniform(0, 0.4, 120))
    mag = 0.15 * np.sin(2 * np.pi * (jd - jd[0]) * 24 / 2.7) + rng.normal(0, 0.01, jd.size)
    err = np.full(jd.size, 0.01)
    _, _, best = periodogram(jd, mag, err)
    found, text = period_verdict(jd, mag, err, best)
    assert found and best == pytest.approx(2.7, rel=0.03) and text.startswith("Best period")
