"""The simulator's one-shot-colour camera: mosaic, channel truths, sky colours, the demo."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.io.cfa import channel_mask
from fluxion.core.io.frames import frame_info
from fluxion.core.simulation.colour import cousins_r
from fluxion.core.simulation.simulate import NightConfig, make_night

# A sparse field of isolated stars (no nova or dwarf nova beside them).
CONFIG = NightConfig(
    seed=5, n_frames=1, shape=(256, 256), bayer_pattern="BGGR", star_density=0.4, mag_faint=17,
    nova=False, outburst=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def night():
    return make_night(CONFIG)


def test_each_channel_collects_its_truth_flux(night):
    """Around isolated stars, each channel's pixels of the noiseless frame sum to flux_<c>."""
    image = night.light_expected_electrons(0) - night.sky_electrons(0)
    truth = night.truth(0)
    ny, nx = CONFIG.shape
    x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
    inside = (x > 20) & (x < nx - 21) & (y > 20) & (y < ny - 21) & (truth["kind"] == "star")
    d = np.hypot(x[:, None] - x, y[:, None] - y) + np.eye(len(x)) * 1e9
    lone = np.flatnonzero(inside & (d.min(axis=1) > 40) & (np.asarray(truth["flux"]) > 5e3))
    assert len(lone) >= 3
    masks = {c: channel_mask(CONFIG.shape, "BGGR", c) for c in ("R", "G", "B")}
    for k in lone:
        box = (slice(int(y[k]) - 18, int(y[k]) + 19), slice(int(x[k]) - 18, int(x[k]) + 19))
        total = 0.0
        for c, mask in masks.items():
            got = image[box][mask[box]].sum()
            total += got
            # The 37 px box misses ~1% of a beta = 3 Moffat's wings.
            assert got == pytest.approx(truth[f"flux_{c}"][k], rel=0.015), c
        assert total == pytest.approx(truth["flux"][k], rel=0.015)
    assert np.allclose(
        truth["flux"], truth["flux_R"] + truth["flux_G"] + truth["flux_B"], rtol=1e-12
    )


def test_channels_see_the_star_colours_and_the_sky_colour(night):
    truth = night.truth(0)
    true = night.true_magnitudes()
    stars = truth[truth["kind"] == "star"]
    bv = np.interp(stars["id"], true["id"], true["B"] - true["V"])
    # Redder stars give more red light per green light, less blue.
    rg = np.log(stars["flux_R"] / stars["flux_G"])
    bg = np.log(stars["flux_B"] / stars["flux_G"])
    assert np.corrcoef(bv, rg)[0, 1] > 0.99 and np.corrcoef(bv, bg)[0, 1] < -0.99
    sky = night.sky_electrons(0)
    levels = {c: np.median(sky[channel_mask(CONFIG.shape, "BGGR", c)]) for c in ("R", "G", "B")}
    assert levels["B"] < 0.5 * levels["G"]
    assert np.allclose(true["R"], cousins_r(true["V"], true["B"]))
    assert {"R", "R_err"} <= set(night.catalog.colnames)


def test_monochrome_night_is_unchanged_by_the_colour_options():
    mono = make_night(NightConfig(seed=5, n_frames=1, shape=(64, 64)))
    colour = make_night(NightConfig(seed=5, n_frames=1, shape=(64, 64), bayer_pattern="RGGB"))
    for band in ("B", "V"):
        np.testing.assert_array_equal(mono.catalog[band], colour.catalog[band])
    assert "R" not in mono.catalog.colnames and "flux_R" not in mono.truth(0).colnames


def test_demo_writes_a_colour_night(tmp_path, capsys):
    out = tmp_path / "night"
    assert main(["demo", str(out), "--frames", "2", "--size", "96", "64", "--colour"]) == 0
    assert "colour RGGB" in capsys.readouterr().out
    light = frame_info(out / "light_0001.fits")
    flat = frame_info(out / "flat_0001.fits")
    assert light.cfa == flat.cfa == "RGGB" and light.filter is None and flat.filter is None
    assert fits.getheader(out / "light_0001.fits")["INSTRUME"] == "Fluxion SimCam 1C"
    truth = Table.read(out / "truth" / "light_0001.ecsv")
    assert {"flux_R", "flux_G", "flux_B"} <= set(truth.colnames)
    assert truth.meta["bayer_pattern"] == "RGGB"
    with pytest.raises(SystemExit):
        main(["demo", str(tmp_path / "x"), "--colour", "RGBW"])
    assert "invalid choice: 'RGBW'" in capsys.readouterr().err
