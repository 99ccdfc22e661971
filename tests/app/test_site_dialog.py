"""File > Observing site: typed, checked, given to the lights without one, kept in the project."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.io import fits
from astropy.time import Time

from fluxion.core.io.site import ObservingSite
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=3, shape=(160, 160), n_bias=0, n_dark=0, n_flat=0)


@pytest.fixture(scope="module")
def bare_night(tmp_path_factory) -> Path:
    """A simulated night whose first two lights lost their site cards."""
    out = tmp_path_factory.mktemp("bare_site")
    simulate_night(out, CONFIG)
    for name in ("light_0001.fits", "light_0002.fits"):
        with fits.open(out / name, mode="update") as hdul:
            for card in ("SITELAT", "SITELONG", "SITEELEV"):
                del hdul[0].header[card]
    return out


def _lights(window) -> dict[str, object]:
    return {f.path.name: f for f in window.session.sequence.frames if f.type == "light"}


def test_the_site_typed_fills_the_lights_without_one(window, qtbot, open_and_wait, bare_night):
    open_and_wait(window, bare_night)
    dialog = window.edit_site()
    assert "2 of 3 lights give no site" in dialog.intro_label.text()
    dialog.lon_edit.setText("-76.94")
    dialog.lat_edit.setText("95")
    dialog.accept()
    assert dialog.isVisible() and "-90..90" in dialog.problem_label.text()
    dialog.lat_edit.setText("38.99")
    dialog.height_edit.setText("40")
    dialog.name_edit.setText("College Park")
    with qtbot.waitSignal(window.session.site_changed, timeout=5_000):
        dialog.accept()
    assert not dialog.isVisible()
    lights = _lights(window)
    for name in ("light_0001.fits", "light_0002.fits"):
        assert lights[name].site == (-76.94, 38.99, 40.0)
        assert lights[name].sources["site"] == "project setting (College Park)"
    # The header's own site stays.
    assert lights["light_0003.fits"].site == (CONFIG.site_lon, CONFIG.site_lat, CONFIG.site_elev)
    assert window.session.project.site == ObservingSite(-76.94, 38.99, 40.0, "College Park")
    assert "College Park" in window.statusBar().currentMessage()


def test_the_light_curve_panel_prepares_its_lights_again(window, open_and_wait, bare_night):
    """Its prepared lights hold the site (their location): a new site drops them."""
    from fluxion.app.panels.lightcurve import LightCurvePanel

    open_and_wait(window, bare_night)
    panel = next(p for p in window.panels if isinstance(p, LightCurvePanel))
    panel.frames = object()  # lights prepared with the headers' sites only
    window.session.set_site(ObservingSite(8.5, 47.4))
    assert panel.frames is None


def test_the_site_is_kept_with_the_project(window, qtbot, open_and_wait, bare_night, tmp_path):
    open_and_wait(window, bare_night)
    window.session.set_site(ObservingSite(8.5, 47.4))
    folder = tmp_path / "project"
    window.save_project_as(folder)
    doc = json.loads((folder / "project.json").read_text())
    assert doc["site"] == {"longitude": 8.5, "latitude": 47.4}
    window.session.set_site(None)
    assert _lights(window)["light_0001.fits"].site is None
    window.session.set_site(ObservingSite(8.5, 47.4))
    window.save_project()
    open_and_wait(window, folder)
    lights = _lights(window)
    assert lights["light_0001.fits"].site == (8.5, 47.4, 0.0)
    assert lights["light_0001.fits"].sources["site"] == "project setting, height default 0 m"
    # Emptied fields: no site in the project.
    dialog = window.edit_site()
    assert "2 of 3 lights give no site in their headers: they take this one" in (
        dialog.intro_label.text()
    )
    assert dialog.lon_edit.text() == "8.500000"
    dialog.lon_edit.setText("")
    dialog.lat_edit.setText("")
    dialog.accept()
    assert window.session.project.site is None
    assert _lights(window)["light_0002.fits"].site is None


def test_a_curve_measured_before_a_site_change_says_so(
    window, qtbot, open_and_wait, demo_night, tmp_path
):
    """Its airmass and BJD are the old site's until it is measured again, which uses the new one."""
    from lightcurve_helpers import eclipsing_binary, measure, measure_eb
    from night_helpers import edited_copy, without_site

    from fluxion.app.panels.lightcurve import SITE_CHANGED_NOTE
    from fluxion.core.simulation.field import airmass

    bare = tmp_path / "night"
    assert edited_copy(demo_night, bare, without_site, "light_*.fits") == 5
    panel = measure_eb(window, qtbot, open_and_wait, bare, tmp_path / "project")
    assert np.all(np.isnan(np.asarray(panel.run.table["airmass"], float)))
    assert SITE_CHANGED_NOTE not in panel.result_label.text()
    # The site the demo night's headers had: the airmass their cards gave.
    window.session.set_site(ObservingSite(CONFIG.site_lon, CONFIG.site_lat, CONFIG.site_elev))
    assert panel.result_label.text().endswith(SITE_CHANGED_NOTE)
    window.session.set_site(ObservingSite(8.5, 47.4))
    assert panel.result_label.text().count(SITE_CHANGED_NOTE) == 1
    window.session.set_site(ObservingSite(CONFIG.site_lon, CONFIG.site_lat, CONFIG.site_elev))
    measure(qtbot, panel)
    assert SITE_CHANGED_NOTE not in panel.result_label.text()
    # Against the simulator's own sec z at the target and the lights' mid-exposure times:
    # the curve's airmass is Young's (1994), 4e-4 below sec z at airmass 1.1.
    lc = panel.run.table
    where = SkyCoord(*(float(v) for v in eclipsing_binary(demo_night).split()), unit="deg")
    site = EarthLocation.from_geodetic(CONFIG.site_lon, CONFIG.site_lat, CONFIG.site_elev)
    truth = airmass(where, Time(np.asarray(lc["jd_utc"], float), format="jd"), site)
    np.testing.assert_allclose(lc["airmass"], truth, rtol=1e-3)
