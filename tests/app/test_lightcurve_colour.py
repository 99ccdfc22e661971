"""Light curve panel on a colour camera's night: measured on the mosaic, and said so.

The panel measures the stored pixels; on a Bayer mosaic an aperture holds red,
green and blue pixels together, a broad band unlike the green channel
``fluxion run``'s curve follows: the panel says so beside the curve. Each
colour's sky level is taken out first, so the annulus does not take the
commonest colour's sky for all (the target's flux came out negative).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.core.simulation.simulate import NightConfig, simulate_night


def _night(folder: Path, pattern: str | None) -> Path:
    config = NightConfig(
        n_frames=3, shape=(256, 256), n_bias=0, n_dark=0, n_flat=0, bayer_pattern=pattern or "none",
        asteroid=False, star_density=2.0, fwhm=4.0,
    )  # fmt: skip
    simulate_night(folder, config)
    return folder


@pytest.mark.parametrize("pattern", ["BGGR", None])
def test_a_colour_nights_curve_says_it_sums_the_mosaics_colours(
    open_panel, qtbot, tmp_path, pattern
) -> None:
    night = _night(tmp_path / "night", pattern)
    truth = Table.read(night / "truth/light_0001.ecsv")
    inside = (truth["x"] > 60) & (truth["x"] < 196) & (truth["y"] > 60) & (truth["y"] < 196)
    star = truth[inside & (truth["kind"] == "star")]
    star = star[np.argsort(star["mag_V"])[len(star) // 3]]
    panel = open_panel(LightCurvePanel, night)
    assert (panel.session.sequence[0].cfa or None) == pattern
    panel.session.project.targets = [
        {"name": "star", "kind": "fixed",
         "clicks": [{"frame": 0, "x": float(star["x"]), "y": float(star["y"])}]}
    ]  # fmt: skip
    panel.refresh_targets()
    task = panel.run_all()
    assert task is not None
    qtbot.waitUntil(lambda: panel.run is not None, timeout=60_000)
    said = panel.result_label.text()
    assert said.startswith("Measured here"), said
    # Every light measured, the target's flux positive: each colour's sky was taken out
    # before the annulus (its median on a mosaic is the commonest colour's: -12000 e-).
    lc = panel.run.table
    assert f"{len(lc)} lights, {len(lc)} measured" in said
    flux, err = np.asarray(lc["flux"], float), np.asarray(lc["flux_err"], float)
    assert np.all(flux > 5 * err), (flux, err)
    # A constant star: its differential magnitudes agree within their errors.
    mag, mag_err = np.asarray(lc["mag"], float), np.asarray(lc["mag_err"], float)
    assert np.all(np.abs(mag - np.median(mag)) < 4 * np.hypot(mag_err, np.median(mag_err)))
    if pattern:
        # A few words in the label (the whole note ran to 5 lines), the note in its tooltip.
        assert f"Colour camera ({pattern}): all pixels together (the mosaic)." in said
        assert "measured on its mosaic" not in said
        tip = panel.result_label.toolTip()
        assert tip.startswith(f"Colour camera ({pattern}): measured on its mosaic"), tip
    else:
        assert "Colour camera" not in said and panel.result_label.toolTip() == ""
