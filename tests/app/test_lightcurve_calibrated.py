"""After the zero point, the light curve is on the catalogue scale by default, and its
AAVSO and ALCDEF reports name the comparison and check stars with their magnitudes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.app.panels.targets import TargetsPanel
from fluxion.app.panels.zeropoint import ZeroPointPanel
from fluxion.core.reports.alcdef import check_alcdef, parse_alcdef
from fluxion.core.simulation.simulate import NightConfig, simulate_night

# No calibration frames to make: the raw lights are the calibrated ones.
CLEAN_CAMERA = dict(
    n_bias=0, n_dark=0, n_flat=0, bias_level=0.0, bias_column_rms=0.0, dark_current=0.0,
    hot_pixel_fraction=0.0, vignetting=0.0, n_dust=0, prnu=0.0, cosmic_ray_rate=0.0,
)  # fmt: skip
CONFIG = NightConfig(n_frames=6, shape=(384, 384), write_wcs=True, seed=8, **CLEAN_CAMERA)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("calibrated_night") / "night"
    simulate_night(out, CONFIG)
    return out


def _truth(night: Path) -> tuple[np.ndarray, tuple[float, float]]:
    """The eclipsing binary's true V magnitude in each light, and its RA, Dec."""
    mags = []
    for k in range(1, CONFIG.n_frames + 1):
        t = Table.read(night / "truth" / f"light_{k:04d}.ecsv")
        mags.append(float(t[t["kind"] == "eclipsing"]["mag_V"][0]))
    t = Table.read(night / "truth" / "light_0001.ecsv")
    eb = t[t["kind"] == "eclipsing"][0]
    sky = WCS(fits.getheader(night / "light_0001.fits")).pixel_to_world(eb["x"], eb["y"])
    return np.array(mags), (float(sky.ra.deg), float(sky.dec.deg))


def _panel(window, cls):
    return next(p for p in window.panels if isinstance(p, cls))


def test_light_curve_is_calibrated_after_the_zero_point_and_reports_name_the_stars(
    window, qtbot, open_and_wait, night, tmp_path
) -> None:
    truth, (ra, dec) = _truth(night)
    open_and_wait(window, night)
    window.session.project.save(tmp_path / "project")
    zp = _panel(window, ZeroPointPanel)
    zp.set_catalog_file(night / "truth" / "reference_catalog.ecsv")
    with qtbot.waitSignal(zp.step_finished, timeout=120_000):
        zp.run_all()
    assert sum(r.result.calibrated for r in zp.results.values()) == CONFIG.n_frames

    targets = _panel(window, TargetsPanel)
    assert targets.prepare_frames() is not None
    qtbot.waitUntil(lambda: targets.frames is not None, timeout=20_000)
    targets.add_by_coordinates(f"{ra} {dec}", name="EB")
    panel = _panel(window, LightCurvePanel)
    panel.refresh_targets()
    assert panel.auto_box.isChecked()  # nothing clicked: the default choice
    with qtbot.waitSignal(panel.step_finished, timeout=60_000):
        panel.run_all()
    run = panel.run
    lc = run.table
    assert run.calibrated and "calibrated V magnitudes" in panel.result_label.text()
    comps = [r for r in lc.meta["comparison_records"] if r["role"].startswith("C")]
    check = next(r for r in lc.meta["comparison_records"] if r["role"] == "K")
    assert len(comps) == len(run.choice.comparison) >= 2
    # The catalogue's own stars: named by its id column, with its magnitudes.
    catalogue = Table.read(night / "truth" / "reference_catalog.ecsv")
    by_id = {str(i): float(v) for i, v in zip(catalogue["id"], catalogue["V"], strict=True)}
    for r in [*comps, check]:
        assert r["mag"] == pytest.approx(by_id[r["name"]], abs=1e-9)
    # On the V scale: the truth within the point's error, the ensemble's catalogue
    # error and the catalogue-to-truth difference of the simulated catalogue.
    mag, err = np.asarray(lc["mag"], float), np.asarray(lc["mag_err"], float)
    scale_err = float(lc.meta["magnitude_scale_err"])
    assert 0 < scale_err < 0.05
    resid = mag - truth
    assert np.all(np.abs(resid) < 5 * np.hypot(err, scale_err) + 0.02), (resid, err, scale_err)
    # The per-frame scatter about the offset is the stated noise (chi2/N of a few points).
    w = 1 / err**2
    offset = np.sum(w * resid) / np.sum(w)
    assert np.sum(w * (resid - offset) ** 2) / (len(resid) - 1) < 4.0

    panel.export("aavso", tmp_path / "eb_aavso.txt", {"object": "EB Sim", "aavso_code": "XYZ"})
    qtbot.waitUntil(lambda: (tmp_path / "eb_aavso.txt").exists(), timeout=10_000)
    rows = [
        ln.split(",")
        for ln in (tmp_path / "eb_aavso.txt").read_text().splitlines()
        if not ln.startswith("#")
    ]
    assert len(rows) == CONFIG.n_frames
    row = rows[0]
    assert row[6] == "STD" and row[7] == "ENSEMBLE" and row[8] == "na"
    # A standard magnitude's error: the point's noise and the ensemble's catalogue error.
    assert float(row[3]) == pytest.approx(np.hypot(err[0], scale_err), abs=6e-4)
    assert row[9] == check["name"] and float(row[10]) == pytest.approx(lc["check_mag"][0], abs=1e-3)
    notes = dict(kv.split("=") for kv in row[14].split("|")[1:])
    # VPhot's ensemble keys: MAG = VMAGINS - CMAGINS + CREFMAG; the check star's reference.
    assert float(row[2]) == pytest.approx(
        float(notes["VMAGINS"]) - float(notes["CMAGINS"]) + float(notes["CREFMAG"]), abs=2e-3
    )
    assert float(notes["KREFMAG"]) == pytest.approx(check["mag"], abs=1e-3)

    meta = {
        "number": "2713", "observers": "A. Observer", "contact_name": "A. Observer",
        "contact_info": "a@example.org", "object": "Sim",
    }  # fmt: skip
    panel.export("alcdef", tmp_path / "eb.alcdef", meta)
    qtbot.waitUntil(lambda: (tmp_path / "eb.alcdef").exists(), timeout=10_000)
    text = (tmp_path / "eb.alcdef").read_text()
    assert check_alcdef(text) == []
    header, data = parse_alcdef(text)[0]
    assert header["DIFFERMAGS"] == "FALSE" and header["MAGBAND"] == "V"
    assert header["COMPNAME1"] == comps[0]["name"]
    assert float(header["COMPMAG1"]) == pytest.approx(comps[0]["mag"], abs=1e-3)
    assert len(data) == CONFIG.n_frames
