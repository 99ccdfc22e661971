"""Light curve panel on a colour camera's night: each colour channel measured on its own pixels.

The user picks the channels; the panel measures the target and its comparison
stars on the red, green (both greens) or blue pixels through the photometry
step's colour path (as ``fluxion run`` does), the green curve shown and every
channel's in the table. A monochrome night offers no such choice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.app.panels.lightcurve_channels import ChannelPhotometry
from fluxion.app.panels.lightcurve_model import table_to_keep
from fluxion.app.panels.lightcurve_run_stars import run_curve_description
from fluxion.core.lightcurve.run import LightCurveParams
from fluxion.core.simulation.simulate import NightConfig, simulate_night

#: The aperture's light outside the radius differs from star to star by where each
#: falls on a channel's two-pixel grid; at two FWHM (8 px, FWHM 4 px) well under 1%.
SAMPLING = 0.01


@pytest.fixture(scope="module")
def colour_night(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("colour_night")
    config = NightConfig(
        n_frames=3, shape=(256, 256), n_bias=0, n_dark=0, n_flat=0, bayer_pattern="BGGR",
        asteroid=False, star_density=2.0, fwhm=4.0,
    )  # fmt: skip
    simulate_night(folder, config)
    return folder


def _bright_stars(night: Path, light: int, n: int = 6) -> Table:
    truth = Table.read(night / f"truth/light_{light:04d}.ecsv")
    inside = (truth["x"] > 40) & (truth["x"] < 216) & (truth["y"] > 40) & (truth["y"] < 216)
    stars = truth[inside & (truth["kind"] == "star")]
    return stars[np.argsort(-np.asarray(stars["flux"]))][:n]


def test_each_channels_flux_ratios_are_the_truths(colour_night) -> None:
    files = sorted(colour_night.glob("light_*.fits"))
    gain = float(fits.getheader(files[0])["GAIN"])
    ids = _bright_stars(colour_night, 1)["id"]
    rows = []
    for k in range(len(files)):
        truth = Table.read(colour_night / f"truth/light_{k + 1:04d}.ecsv")
        rows.append(truth[[int(np.flatnonzero(truth["id"] == i)[0]) for i in ids]])
    xy = np.array([np.column_stack([r["x"], r["y"]]) for r in rows], float)
    measure = ChannelPhotometry("BGGR", ("G", "R", "B"))
    params = LightCurveParams(aperture_radius=8.0, annulus_inner=12.0, annulus_outer=20.0)
    first = measure(lambda i: fits.getdata(files[i]).astype(float) * gain, xy[:, 0], xy[:, 1:],
                    params)  # fmt: skip
    assert first is measure.by_channel["G"] and measure.annulus == (12.0, 20.0)
    for c, m in measure.by_channel.items():
        assert np.all(m.target_flags == 0) and np.all(m.star_flags == 0)
        ratio = m.target_flux[:, None] / m.star_flux
        rel = np.hypot(m.target_err[:, None] / m.target_flux[:, None], m.star_err / m.star_flux)
        true = np.array([r[f"flux_{c}"][0] / np.asarray(r[f"flux_{c}"][1:]) for r in rows])
        # Each channel's own light: the red, green and blue ratios differ with the stars' colours.
        pull = (ratio / true - 1.0) / np.hypot(rel, SAMPLING)
        assert np.all(np.abs(pull) < 4.0), (c, pull)
    # The test can tell channels apart: the stars' red-to-blue ratios differ (a mixed or
    # a wrong channel would give the other channel's ratios, many sigma away).
    x = rows[0]
    red_blue = (x["flux_R"][0] / x["flux_R"][1:]) / (x["flux_B"][0] / x["flux_B"][1:])
    assert np.max(np.abs(np.log(np.asarray(red_blue, float)))) > 0.4


def test_the_panel_measures_the_channels_picked(open_panel, qtbot, colour_night) -> None:
    star = _bright_stars(colour_night, 1, n=3)[2]
    panel = open_panel(LightCurvePanel, colour_night, show=True)
    assert not panel.channel_row.isHidden()
    panel.channel_box.setCurrentText("Red, green and blue (a curve each)")
    assert panel.chosen_channels() == ("G", "R", "B")
    panel.session.project.targets = [
        {"name": "star", "kind": "fixed",
         "clicks": [{"frame": 0, "x": float(star["x"]), "y": float(star["y"])}]}
    ]  # fmt: skip
    panel.refresh_targets()
    assert panel.run_all() is not None
    qtbot.waitUntil(lambda: panel.run is not None, timeout=60_000)
    said = panel.result_label.text()
    assert said.startswith("Measured here"), said
    assert "Colour camera (BGGR): G, R, B channels, G shown, not calibrated." in said
    assert "measured on the G, R, B pixels" not in said  # the details: in the tooltip
    tip = panel.result_label.toolTip()
    assert tip.startswith("Colour camera (BGGR): measured on the G, R, B pixels"), tip
    assert "mag_R, mag_B are in the table" in tip
    lc = panel.run.table
    assert lc.meta["channels"] == ["G", "R", "B"] and lc.meta["filter"] == "TG"
    np.testing.assert_array_equal(lc["mag"], lc["mag_G"])
    # A constant star in every channel: each channel's curve is flat within its errors.
    for c in ("R", "G", "B"):
        mag, err = np.asarray(lc[f"mag_{c}"], float), np.asarray(lc[f"mag_err_{c}"], float)
        assert np.all(np.isfinite(mag)) and np.all(err > 0)
        assert np.all(np.abs(mag - np.median(mag)) < 4 * np.hypot(err, np.median(err))), c
    assert "fwhm" not in lc.colnames  # no seeing measured on the channels
    # Shown again from the project: the choice and the words follow the kept curve.
    kept = table_to_keep(panel.run, "star", panel.params().aperture_radius)
    panel.channel_box.setCurrentIndex(0)
    panel.show_curve_channels(kept)
    assert panel.chosen_channels() == ("G", "R", "B")
    assert "measured in the window on the G pixels" in run_curve_description(kept, False)


def test_a_monochrome_night_offers_no_channels(open_panel, tmp_path) -> None:
    night = tmp_path / "mono"
    simulate_night(night, NightConfig(n_frames=2, shape=(128, 128), n_bias=0, n_dark=0,
                                      n_flat=0, asteroid=False))  # fmt: skip
    panel = open_panel(LightCurvePanel, night, show=True)
    assert panel.channel_row.isHidden() and panel.chosen_channels() == ()
    assert panel.channel_photometry(panel.colour_pattern()) is None


def test_the_channel_choice_is_kept_with_the_form(open_panel, colour_night, tmp_path) -> None:
    """The choice goes into the project with the form's settings and comes back with
    them when the project is opened again (it came back only from a kept curve's meta)."""
    from fluxion.app.panels.lightcurve_channel_box import CHANNELS_KEY

    panel = open_panel(LightCurvePanel, colour_night)
    panel.channel_box.setCurrentText("Blue")
    form = panel.form.params()
    panel.form.set_params(LightCurveParams(**{**vars(form), "aperture_radius": 7.5}))
    panel.form.params_changed.emit(panel.form.params())
    kept = panel.session.project.steps["lightcurve"]
    assert kept[CHANNELS_KEY] == "Blue" and kept["aperture_radius"] == 7.5
    # A form change keeps the choice, and ``fluxion run`` reads the form's settings as before.
    assert panel.session.project.step_params("lightcurve", LightCurveParams).aperture_radius == 7.5
    saved = panel.session.project.save(tmp_path / "project")
    again = open_panel(LightCurvePanel, colour_night, project=saved)
    assert again.chosen_channels() == ("B",) and again.params().aperture_radius == 7.5
    # A project that keeps no choice (made before it was kept) opens on the mosaic.
    fresh = open_panel(LightCurvePanel, colour_night)
    assert fresh.chosen_channels() == ()
