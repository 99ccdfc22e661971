"""The calibrated frame's saturation level: the raw level carried through the calibration."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.calibration import (
    Calibration,
    CalibrationMasters,
    CalibrationParams,
    MaskBits,
    MasterFrame,
    RawFrame,
)
from fluxion.core.io.headers import normalise_header

NY, NX, OVER = 96, 120, 10
SATURATE = 40000.0
EXPTIME, DARK_EXPTIME = 60.0, 120.0


def _frame_and_masters(seed: int = 3):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:NY, :NX]
    drift = np.linspace(480.0, 530.0, NY)[:, None]  # overscan level along the readout
    bias = (20.0 + rng.normal(0, 3, (NY, NX))).astype(np.float32)
    dark = rng.gamma(2.0, 5.0, (NY, NX)).astype(np.float32)  # over DARK_EXPTIME
    r = np.hypot(yy - NY / 2, xx - NX / 2) / np.hypot(NY / 2, NX / 2)
    flat = (1.0 - 0.25 * r**2) * (1 + rng.normal(0, 0.01, (NY, NX)))
    flat = (flat / flat.mean()).astype(np.float32)
    sky = 2000.0 * flat
    image = np.zeros((NY, NX + OVER))
    image[:, :NX] = sky + bias + dark * (EXPTIME / DARK_EXPTIME)
    # Saturated stars, one where the flat is high (centre) and one in a corner.
    for x0, y0 in ((60, 48), (12, 10), (100, 80)):
        image[:, :NX] += 2e5 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / 8.0)
    image += drift
    raw = np.minimum(np.round(image + rng.normal(0, 5, image.shape)), SATURATE)
    header = fits.Header(
        {
            "BIASSEC": f"[{NX + 1}:{NX + OVER},1:{NY}]",
            "TRIMSEC": f"[1:{NX},1:{NY}]",
            "SATURATE": SATURATE,
            "SATLEVEL": SATURATE,
            "EXPTIME": EXPTIME,
        }
    )
    frame = RawFrame.from_array(
        raw, header, name="light.fits", exptime=EXPTIME, saturation=SATURATE
    )
    masters = CalibrationMasters(
        MasterFrame("bias", bias, 9),
        (MasterFrame("dark", dark, 9, exptime=DARK_EXPTIME),),
        (MasterFrame("flat", flat, 9, filter=None),),
    )
    return frame, raw, masters, drift


def test_saturation_level_is_the_lowest_calibrated_clip_level():
    frame, raw, masters, drift = _frame_and_masters()
    params = CalibrationParams(find_cosmic_rays=False, saturation=0.0)
    out = Calibration(params, masters)(frame)
    assert out.applied == ("overscan", "bias", "dark", "flat")
    # In float64: (raw level - overscan - bias - scaled dark) / flat, lowest usable pixel.
    measured = frame.overscan().row_levels(raw, 0)[:, None]
    usable = (out.mask & (MaskBits.HOT | MaskBits.COLD | MaskBits.NAN)) == 0

    def lowest(overscan):
        dark = (EXPTIME / DARK_EXPTIME) * masters.darks[0].data.astype(np.float64)
        level = (SATURATE - overscan - masters.bias.data - dark) / masters.flats[0].data
        return float(np.min(level[usable]))

    assert out.saturation == pytest.approx(lowest(measured), rel=1e-6)
    # The overscan measured row by row (median of 10 px of 5 ADU noise) is near the truth.
    assert abs(out.saturation - lowest(drift)) < 6.0
    # Every clipped pixel is at or above it, exactly (same float32 operations).
    clipped = (raw[:, :NX] >= SATURATE) & usable
    assert clipped.sum() >= 30
    assert np.all(out.data[clipped] >= out.saturation)
    # Well below the raw level.
    assert out.saturation < SATURATE - 500
    h = out.header
    assert h["SATURATE"] == out.saturation and h["FLXSATRW"] == SATURATE
    assert "SATLEVEL" not in h
    # Header readers see the calibrated level.
    assert normalise_header(h).saturation == pytest.approx(out.saturation)
    assert fits.PrimaryHDU(out.data, header=h).header["SATURATE"] == out.saturation


def test_unknown_saturation_writes_no_level():
    frame, raw, masters, _ = _frame_and_masters()
    header = frame.header.copy()
    for key in ("SATURATE", "SATLEVEL"):
        del header[key]
    # Float data above the 16-bit range: no level can be guessed.
    data = raw.astype(np.float32) * 4.0
    frame = RawFrame.from_array(data, header, name="light.fits", exptime=EXPTIME)
    out = Calibration(CalibrationParams(find_cosmic_rays=False), masters)(frame)
    assert out.saturation is None
    assert "SATURATE" not in out.header and "FLXSATRW" not in out.header
    assert not np.any(out.mask & MaskBits.SATURATED)


def test_dark_without_exposure_time_is_used_unscaled_with_a_warning():
    frame, raw, masters, _ = _frame_and_masters()
    dark = masters.darks[0]
    undated = CalibrationMasters(
        masters.bias, (MasterFrame("dark", dark.data, 9, exptime=None),), masters.flats
    )
    params = CalibrationParams(find_cosmic_rays=False)
    out = Calibration(params, undated)(frame)
    assert "master dark has no exposure time; dark not scaled" in out.warnings
    # Unscaled: twice the dark of the scaled calibration (60 s light, 120 s dark), over the flat.
    scaled = Calibration(params, masters)(frame)
    diff = (scaled.data - out.data) * masters.flats[0].data
    np.testing.assert_allclose(diff, 0.5 * dark.data, rtol=1e-4, atol=0.05)


def test_lights_of_a_night_each_get_their_own_lowest_usable_level():
    """Without an overscan every light shares its levels; each takes its own usable lowest."""
    frame, raw, masters, drift = _frame_and_masters()
    header = frame.header.copy()
    for key in ("BIASSEC", "TRIMSEC"):
        del header[key]
    raw = raw[:, :NX] - np.round(drift)  # as if the camera had no overscan
    step = Calibration(CalibrationParams(find_cosmic_rays=False, saturation=0.0), masters)
    dark = (EXPTIME / DARK_EXPTIME) * masters.darks[0].data.astype(np.float64)
    level = (SATURATE - masters.bias.data - dark) / masters.flats[0].data
    # The second light has NaN where the levels are lowest (half its pixels,
    # more than the levels kept aside), the last everywhere but one pixel.
    holed = raw.copy()
    holed[level <= np.quantile(level, 0.5)] = np.nan
    single = np.full_like(raw, np.nan)
    single[5, 7] = raw[5, 7]
    for data in (raw, holed, raw, single):
        light = RawFrame.from_array(
            data, header, name="light.fits", exptime=EXPTIME, saturation=SATURATE
        )
        out = step(light)
        assert out.applied == ("bias", "dark", "flat")
        usable = (out.mask & (MaskBits.HOT | MaskBits.COLD | MaskBits.NAN)) == 0
        assert out.saturation == pytest.approx(float(np.min(level[usable])), rel=1e-6)
        clipped = (data >= SATURATE) & usable
        assert np.all(out.data[clipped] >= out.saturation)
