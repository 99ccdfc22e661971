"""Calibration of a one-shot-colour night in the mosaic: per-channel flats, cosmic rays, pattern."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from calibration_helpers import night_masters, raw_frame

from fluxion.core.calibration import (
    Calibration,
    CalibrationParams,
    MaskBits,
    RawFrame,
)
from fluxion.core.io.cfa import channel_mask, read_cfa
from fluxion.core.simulation.simulate import NightConfig, make_night

CONFIG = NightConfig(
    seed=19,
    n_frames=1,
    shape=(256, 256),
    n_bias=7,
    n_dark=5,
    n_flat=7,
    cosmic_ray_rate=600.0,
    bayer_pattern="GRBG",
)


@pytest.fixture(scope="module")
def night():
    return make_night(CONFIG)


@pytest.fixture(scope="module")
def masters(night):
    return night_masters(night)


@pytest.fixture(scope="module")
def calibrated(night, masters):
    data, header, _ = night.light(0)
    return Calibration(CalibrationParams(), masters)(
        raw_frame(night, data, header, "light_0001.fits")
    )


def test_raw_flats_differ_by_channel_and_change_colour(night):
    """The twilight's colour: what a flat normalised across channels would imprint."""
    levels = []
    for j in (0, CONFIG.n_flat - 1):
        data = night.flat(j)[0].astype(float) - CONFIG.bias_level
        levels.append(
            {c: np.median(data[channel_mask(CONFIG.shape, "GRBG", c)]) for c in ("R", "G", "B")}
        )
    assert levels[0]["R"] / levels[0]["G"] < 0.7 and levels[0]["B"] / levels[0]["G"] < 0.9
    # The sky reddens between the first and the last flat by a fifth.
    redder = (levels[1]["R"] / levels[1]["G"]) / (levels[0]["R"] / levels[0]["G"])
    assert redder > 1.15


def test_master_flat_is_the_response_with_mean_one_in_each_channel(night, masters):
    flat = masters.flats[0]
    for c in ("R", "G", "B"):
        on = channel_mask(CONFIG.shape, "GRBG", c)
        assert np.mean(flat.data[on]) == pytest.approx(1.0, abs=1e-5)
        truth = night.flat_field[on] / night.flat_field[on].mean()
        # 7 flats of 14 000-37 000 e- per channel: 0.3% per pixel at worst.
        assert np.std(flat.data[on] - truth) < 0.0045
    assert any("each colour channel" in h for h in flat.header["HISTORY"])


def test_each_channel_of_the_light_keeps_its_level(night, calibrated):
    """Sky and stars in every channel as a perfect calibration gives them (0.1% here).

    A flat normalised across channels would scale R by 1/0.7 and B by 1/1.1
    (the twilight's colour over its mean): tens of percent, not tenths.
    """
    truth = night.light_expected_electrons(0) / night.gain
    good = calibrated.mask == 0
    for c in ("R", "G", "B"):
        on = channel_mask(CONFIG.shape, "GRBG", c) & good
        ratio = np.median(calibrated.data[on]) / np.median(truth[on])
        assert ratio == pytest.approx(1.0, abs=0.003), c
    pull = (calibrated.data * night.gain - truth * night.gain)[good]
    pull /= np.sqrt(truth[good] * night.gain + night.read_noise**2)
    assert np.std(pull) == pytest.approx(1.0, abs=0.05)


def test_cosmic_rays_found_on_each_channel_and_no_star_core(night, calibrated):
    truth = night.light_expected_electrons(0)
    residual = (calibrated.data * night.gain - truth) / np.sqrt(truth + night.read_noise**2)
    cosmic = (calibrated.mask & MaskBits.COSMIC_RAY) != 0
    strong = residual > 10
    assert strong.sum() > 20
    caught = (cosmic | ((calibrated.mask & (MaskBits.HOT | MaskBits.SATURATED)) != 0))[strong]
    assert caught.mean() > 0.95
    # Star cores are checkerboards on the mosaic; none is taken for a hit.
    stars = night.truth(0)
    yy, xx = np.mgrid[: CONFIG.shape[0], : CONFIG.shape[1]]
    cores = np.zeros(CONFIG.shape, bool)
    for x, y in zip(stars["x"], stars["y"], strict=True):
        cores |= np.hypot(xx - x, yy - y) < 1.5
    assert cores.sum() > 150
    # On a channel's grid a star's core is as sharp as a hit; the light on
    # the pixels around it tells them apart (seeds 19 and 23: none flagged,
    # 98% of the hits caught; without that test 38 core pixels were flagged).
    assert not (cosmic & cores & (residual < 5)).any()


def test_calibrated_header_says_the_pattern_of_its_pixels(calibrated):
    assert read_cfa(calibrated.header).pattern == "GRBG"


@pytest.mark.parametrize("row_order", [None, "BOTTOM-UP"])
def test_trimming_from_an_odd_column_moves_the_pattern(row_order):
    data = np.full((10, 12), 1000, np.uint16)
    header = fits.Header({"BAYERPAT": "RGGB", "TRIMSEC": "[2:11,1:9]"})
    if row_order:
        header["ROWORDER"] = row_order
    frame = RawFrame.from_array(data, header, name="t", cfa=read_cfa(header, (10, 12)).pattern)
    out = Calibration(CalibrationParams(find_cosmic_rays=False))(frame)
    assert out.data.shape == (9, 10)
    # The kept pixels start one column into the mosaic.
    expected = {None: "GRBG", "BOTTOM-UP": "BGGR"}[row_order]
    assert frame.trimmed_cfa() == expected
    assert read_cfa(out.header, out.data.shape).pattern == expected
    assert "XBAYROFF" not in out.header
