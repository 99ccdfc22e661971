"""The viewer's colour picture of a Bayer mosaic (display only): interpolation and balance."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.display import debayer
from fluxion.core.display.debayer import colour_picture, debayer_preview
from fluxion.core.io.cfa import channel_mask
from fluxion.core.simulation.simulate import NightConfig, make_night

SKY = {"R": 800.0, "G": 1000.0, "B": 600.0}
NOISE = {"R": 8.0, "G": 10.0, "B": 5.0}


def _sky_mosaic(shape=(64, 96), pattern="GBRG", seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(shape)
    for c in "RGB":
        mask = channel_mask(shape, pattern, c)
        out[mask] = SKY[c] + NOISE[c] * rng.standard_normal(mask.sum())
    return out


def test_the_sky_becomes_grey_and_green_pixels_keep_their_values():
    mosaic = _sky_mosaic()
    rgb = debayer_preview(mosaic, "GBRG")
    assert rgb.shape == (*mosaic.shape, 3)
    for k in range(3):
        assert np.median(rgb[..., k]) == pytest.approx(SKY["G"], abs=1.5)
    green = channel_mask(mosaic.shape, "GBRG", "G")
    np.testing.assert_allclose(rgb[..., 1][green], mosaic[green], rtol=1e-6)
    # A linear ramp is interpolated exactly away from the edges (bilinear).
    ramp = np.add.outer(np.arange(64.0), 2.0 * np.arange(96.0))
    assert np.allclose(debayer_preview(ramp, "GBRG")[2:-2, 2:-2, 1], ramp[2:-2, 2:-2])


def test_a_red_star_is_red_and_a_blue_star_blue():
    night = make_night(
        NightConfig(seed=3, n_frames=1, shape=(200, 200), bayer_pattern="RGGB",
                    star_density=3.0, mag_faint=15.0, asteroid=False, fwhm=4.0)
    )  # fmt: skip
    image = night.light_expected_electrons(0)
    truth = night.truth(0)
    true = night.true_magnitudes()
    rgb = debayer_preview(image, "RGGB")
    sky = np.median(rgb, axis=(0, 1))
    x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
    inside = (x > 5) & (x < 194) & (y > 5) & (y < 194) & (truth["kind"] == "star")
    bv = np.interp(truth["id"], true["id"], true["B"] - true["V"])
    ratios, colours = [], []
    for k in np.flatnonzero(inside & (np.asarray(truth["flux"]) > 2e4)):
        peak = rgb[int(round(y[k])), int(round(x[k]))] - sky
        ratios.append(np.log(peak[0] / peak[2]))
        colours.append(bv[k])
    assert len(ratios) >= 5
    assert np.corrcoef(colours, ratios)[0, 1] > 0.8


def test_large_frames_get_one_colour_per_block(monkeypatch):
    mosaic = _sky_mosaic((40, 60))
    full, factor = colour_picture(mosaic, "GBRG")
    assert factor == 1 and full.shape == (40, 60, 3) and full.dtype == np.float16
    monkeypatch.setattr(debayer, "_FULL_RESOLUTION_PIXELS", 100)
    blocks, factor = colour_picture(mosaic, "GBRG")
    assert factor == 2 and blocks.shape == (20, 30, 3)
    assert np.median(blocks.astype(float), axis=(0, 1)) == pytest.approx([1000.0] * 3, abs=3)
