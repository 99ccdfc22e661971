"""A colour night through the project chain: per-channel magnitudes, zero points, light curves."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core import chain
from fluxion.core.chain.lightcurve import light_curve_from_magnitudes
from fluxion.core.io.sequence import scan
from fluxion.core.project.products import ProductStore
from fluxion.core.simulation.simulate import NightConfig, simulate_night
from fluxion.core.zeropoint import ZeroPointParams

# Lights only, already calibrated in effect (no bias, dark or flat), with the exact WCS.
CONFIG = NightConfig(
    n_frames=2, shape=(320, 320), n_bias=0, n_dark=0, n_flat=0, write_wcs=True, seed=9,
    bayer_pattern="RGGB", star_density=3.0, mag_faint=17.0, asteroid=False, fwhm=4.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    out = tmp_path_factory.mktemp("colour_night")
    simulate_night(out / "night", CONFIG)
    store = ProductStore(out / "project")
    lights = [f for f in scan(out / "night") if f.type == "light"]
    catalog = Table.read(out / "night/truth/reference_catalog.ecsv")
    results = []
    for f in lights:
        chain.photometry_frame(store, f)
        results.append(chain.zeropoint_frame(store, f, ZeroPointParams(), catalog))
    return out / "night", store, lights, results


def test_each_channel_is_calibrated_to_its_band(measured):
    night, store, lights, results = measured
    truth = Table.read(night / "truth/reference_catalog.ecsv")
    assert all(r.calibrated for r in results), [r.reason for r in results]
    # The frame's calibration read back is the green channel's (calibrated to V).
    assert {r.band for r in results} == {"V"}
    table = chain.load_magnitudes(store, lights[0])
    facts = table.meta["channels"]
    assert table.meta["primary_channel"] == "G"
    assert {k: v["aavso_filter"] for k, v in facts.items()} == {"R": "TR", "G": "TG", "B": "TB"}
    assert {k: v["band"] for k, v in facts.items()} == {"R": "R", "G": "V", "B": "B"}
    stored = chain.load_zeropoint(store, lights[0])
    assert stored.zero_point == pytest.approx(facts["G"]["zero_point"])
    assert set(stored.stars["channel"]) == {"G"}
    # Every channel's calibrated magnitudes are its band's (catalog errors and
    # colour terms included): the median difference over the used stars.
    stars = Table.read(store.path("zeropoint", lights[0].path, ".stars.ecsv"))
    for channel in ("R", "G", "B"):
        used = stars[(stars["channel"] == channel) & stars["used"]]
        assert len(used) >= 20, channel
        rows = table[table["channel"] == channel]
        mag = np.asarray(rows["mag"])[np.asarray(used["source_row"])]
        assert np.median(mag - np.asarray(used["mag_catalog"])) == pytest.approx(0.0, abs=0.02)
        assert facts[channel]["n_stars"] == len(used)
    assert "V" in truth.colnames and "R" in truth.colnames


def test_light_curve_follows_a_channel_and_carries_them_all(measured):
    _, store, lights, _ = measured
    table = chain.load_magnitudes(store, lights[0])
    green = table[(table["channel"] == "G") & np.isfinite(table["mag"])]
    star = green[np.argsort(np.asarray(green["mag_err"]))[0]]
    # The star's position in each light (the frames move a little): its own rows.
    xy = []
    for f in lights:
        t = chain.load_magnitudes(store, f)
        g = t[t["channel"] == "G"]
        d = np.hypot(np.asarray(g["ra"]) - star["ra"], np.asarray(g["dec"]) - star["dec"])
        k = int(np.argmin(d))
        xy.append((float(g["x"][k]), float(g["y"][k])))
    lc = light_curve_from_magnitudes(store, lights, xy)
    assert lc.meta["channel"] == "G" and lc.meta["filter"] == "TG"
    for c in ("R", "G", "B"):
        assert np.isfinite(lc[f"mag_{c}"]).all()
    np.testing.assert_allclose(lc["mag"], lc["mag_G"])
    blue = light_curve_from_magnitudes(store, lights, xy, channel="B")
    assert blue.meta["filter"] == "TB"
    np.testing.assert_allclose(blue["mag"], lc["mag_B"])
    # A blue magnitude of the same star differs from its green by its colour.
    colour = np.abs(np.asarray(blue["mag"] - lc["mag"]))
    assert np.all(colour > 0) and np.all(colour < 2)
    with pytest.raises(ValueError, match="channel 'L' was not measured"):
        light_curve_from_magnitudes(store, lights, xy, channel="L")
