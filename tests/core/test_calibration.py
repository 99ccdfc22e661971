"""Calibration of a simulated night against the simulator's truth."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from astropy.io import fits
from calibration_helpers import night_masters, raw_frame

from fluxion.core.calibration import (
    Calibration,
    CalibrationError,
    CalibrationMasters,
    CalibrationParams,
    MaskBits,
    RawFrame,
    make_master_bias,
)
from fluxion.core.calibration.masters import check_same_geometry
from fluxion.core.io.fitsio import atomic_write_hdulist
from fluxion.core.runtime.pipeline import Cancelled, StepState
from fluxion.core.simulation.simulate import NightConfig, make_night

CONFIG = NightConfig(
    seed=11, n_frames=2, shape=(256, 256), n_bias=9, n_dark=7, n_flat=7, cosmic_ray_rate=600.0
)


@pytest.fixture(scope="module")
def night():
    return make_night(CONFIG)


@pytest.fixture(scope="module")
def masters(night):
    return night_masters(night)


def test_master_bias_is_the_bias_level_within_its_noise(night, masters):
    bias = masters.bias
    error = bias.data - night.bias_level
    # Median of n frames: sqrt(pi/2) x the mean's noise; plus 16-bit rounding.
    expected = math.sqrt(math.pi / 2) * math.hypot(night.read_noise / night.gain, 0.29)
    expected /= math.sqrt(CONFIG.n_bias)
    assert abs(np.mean(error)) < 0.1
    assert np.std(error) == pytest.approx(expected, rel=0.15)
    assert bias.header["NCOMBINE"] == CONFIG.n_bias and bias.header["FLXKIND"] == "BIAS"


def test_master_dark_is_the_dark_current_times_exposure(night, masters):
    dark = masters.darks[0]
    truth = night.dark_current * CONFIG.exptime / night.gain
    error = dark.data - truth
    assert dark.exptime == CONFIG.exptime
    # The median of nearly integer (16-bit) values of ~2 ADU is biased by up to ~0.3 ADU.
    assert abs(np.median(error)) < 0.5
    hot = truth > np.median(truth) + 50
    assert hot.sum() >= 3
    np.testing.assert_allclose(dark.data[hot], truth[hot], rtol=0.05, atol=3)


def test_master_flat_matches_the_response_and_has_mean_one(night, masters):
    flat = masters.flats[0]
    truth = night.flat_field / night.flat_field.mean()
    assert np.mean(flat.data) == pytest.approx(1.0, abs=1e-6)
    # 7 flats of ~37 000 e- each: 0.2% per pixel.
    assert np.std(flat.data - truth) < 0.003
    assert flat.filter == CONFIG.filter


@pytest.fixture(scope="module")
def calibrated(night, masters):
    data, header, _ = night.light(0)
    step = Calibration(CalibrationParams(), masters)
    return step(raw_frame(night, data, header, "light_0001.fits"))


def test_calibrated_light_matches_the_noiseless_truth_to_the_expected_noise(night, calibrated):
    assert calibrated.applied == ("bias", "dark", "flat", "cosmic rays")
    truth = night.light_expected_electrons(0)
    good = calibrated.mask == 0
    residual = calibrated.data * night.gain - truth
    pull = residual[good] / np.sqrt(truth[good] + night.read_noise**2)
    assert abs(np.mean(residual[good])) < 0.3  # e-, against a sky of ~1000 e-
    assert np.std(pull) == pytest.approx(1.0, abs=0.05)


def test_flat_removes_vignetting(night, calibrated):
    truth = night.light_expected_electrons(0) / night.gain  # a perfect calibration
    good = calibrated.mask == 0

    def block_ratio(image):
        ratio = np.where(good, image / truth, np.nan).reshape(8, 32, 8, 32)
        return np.nanmedian(ratio, axis=(1, 3))

    # In every 32x32 px block the sky is within 0.5% of the truth (noise: ~0.15%).
    assert np.max(np.abs(block_ratio(calibrated.data) - 1)) < 0.005
    # Without the flat, vignetting shows: the same test fails by far.
    step = Calibration(CalibrationParams(divide_flat=False, find_cosmic_rays=False))
    unflat = step(raw_frame(night, *night.light(0)[:2])).data
    unflat -= unflat.mean() - calibrated.data.mean()
    assert np.max(np.abs(block_ratio(unflat) - 1)) > 0.03


def test_mask_catches_cosmic_rays_and_spares_stars(night, calibrated):
    truth = night.light_expected_electrons(0)
    residual = (calibrated.data * night.gain - truth) / np.sqrt(truth + night.read_noise**2)
    cosmic = (calibrated.mask & MaskBits.COSMIC_RAY) != 0
    strong = residual > 10  # hits far above the noise
    assert strong.sum() > 20
    caught = (cosmic | ((calibrated.mask & (MaskBits.HOT | MaskBits.SATURATED)) != 0))[strong]
    assert caught.mean() > 0.9
    # Flagged pixels are hits, not star cores: nearly all sit well above the truth.
    # Grown edges of a hit are fainter, but still above the noise.
    assert np.median(residual[cosmic]) > 5
    assert np.mean(residual[cosmic] > 2) > 0.9
    assert calibrated.header["NMASKED"] == np.count_nonzero(calibrated.mask)


def test_no_star_core_is_taken_for_a_cosmic_ray(night, calibrated):
    truth = night.light_expected_electrons(0)
    residual = (calibrated.data * night.gain - truth) / np.sqrt(truth + night.read_noise**2)
    stars = night.truth(0)
    stars = stars[stars["kind"] != "asteroid"]
    yy, xx = np.mgrid[: CONFIG.shape[0], : CONFIG.shape[1]]
    cores = np.zeros(CONFIG.shape, bool)
    for x, y in zip(stars["x"], stars["y"], strict=True):
        cores |= np.hypot(xx - x, yy - y) < 1.5
    # Stars right at the frame edge are included: they are where a filter's
    # border handling makes a core look sharp.
    assert cores.sum() > 150
    assert (cores & (np.minimum(xx, yy) < 6)).any()
    cosmic = (calibrated.mask & MaskBits.COSMIC_RAY) != 0
    # A core pixel may be flagged only if a real hit landed on it (far above the noise).
    assert not (cosmic & cores & (residual < 5)).any()


def test_cosmic_rays_are_the_same_on_threads(night, masters):
    step = Calibration(CalibrationParams(), masters)
    frames = [raw_frame(night, *night.light(i)[:2], name=f"light_{i}") for i in range(2)]
    serial = [step(f).mask for f in frames]
    with ThreadPoolExecutor(2) as pool:
        for _ in range(2):
            parallel = list(pool.map(lambda f: step(f).mask, frames))
            for a, b in zip(serial, parallel, strict=True):
                np.testing.assert_array_equal(a, b)
    assert all(((m & MaskBits.COSMIC_RAY) != 0).sum() > 20 for m in serial)


def test_calibrated_product_is_replaced_whole_or_not_at_all(calibrated, tmp_path):
    path = tmp_path / "out" / "light_0001.fits"
    assert atomic_write_hdulist(path, calibrated.to_hdulist()) == path
    with fits.open(path) as hdul:
        np.testing.assert_array_equal(hdul["MASK"].data, calibrated.mask)
        np.testing.assert_array_equal(hdul[0].data, calibrated.data)

    class Broken(fits.HDUList):
        def writeto(self, fileobj, *args, **kwargs):
            fileobj.write(b"SIMPLE  =  half a file")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_hdulist(path, Broken([fits.PrimaryHDU(np.zeros((2, 2)))]))
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    with fits.open(path) as hdul:
        np.testing.assert_array_equal(hdul["MASK"].data, calibrated.mask)


def test_hot_pixels_are_masked(night, calibrated):
    hot_truth = night.dark_current * CONFIG.exptime > 200  # e- over the exposure
    flagged = (calibrated.mask & MaskBits.HOT) != 0
    assert hot_truth.sum() >= 3
    assert flagged[hot_truth].mean() > 0.8


def test_missing_masters_skip_their_steps_and_say_so(night, masters):
    data, header, _ = night.light(1)
    frame = raw_frame(night, data, header)
    only_bias = Calibration(
        CalibrationParams(find_cosmic_rays=False), CalibrationMasters(masters.bias)
    )
    out = only_bias(frame)
    assert out.applied == ("bias",)
    assert out.header["CALSTEPS"] == "bias"
    nothing = Calibration(CalibrationParams(find_cosmic_rays=False))(frame)
    assert nothing.applied == ()
    np.testing.assert_array_equal(nothing.data, data.astype(np.float32))


def test_flat_of_another_filter_is_not_used_and_the_light_says_why(night, masters):
    data, header, _ = night.light(1)
    header = header.copy()
    header["FILTER"] = "B"
    frame = raw_frame(night, data, header)
    out = Calibration(CalibrationParams(find_cosmic_rays=False), masters)(frame)
    assert out.applied == ("bias", "dark")
    assert out.missing == {"flat": "no master flat in filter 'B' for 1x1 binning, 256x256 px "
                           "(flats in V)"}  # fmt: skip
    assert any("no flat: no master flat in filter 'B'" in h for h in out.header["HISTORY"])
    # Filter names are compared without case or padding; an unknown filter takes
    # the only flat, with a warning.
    header["FILTER"] = " v "
    assert (
        "flat"
        in Calibration(CalibrationParams(find_cosmic_rays=False), masters)(
            raw_frame(night, data, header)
        ).applied
    )
    del header["FILTER"]
    out = Calibration(CalibrationParams(find_cosmic_rays=False), masters)(
        raw_frame(night, data, header)
    )
    assert "flat" in out.applied and any("not known" in w for w in out.warnings)


def test_frames_that_fit_no_master_are_calibrated_without_and_say_why(night, masters):
    step = Calibration(CalibrationParams(find_cosmic_rays=False), masters)
    data, header, _ = night.light(1)
    cut = step(raw_frame(night, data[:, :128], header))
    assert cut.applied == ()
    assert cut.missing["bias"] == (
        "no master bias for 1x1 binning, 128x256 px (only for 1x1 binning, 256x256 px)"
    )
    assert cut.missing["dark"].startswith("no master dark for 1x1 binning, 128x256 px")
    np.testing.assert_array_equal(cut.data, data[:, :128].astype(np.float32))
    binned = RawFrame.from_array(data, header, name="b", binning=(2, 2), exptime=120.0)
    assert set(step(binned).missing) == {"bias", "dark", "flat"}
    with pytest.raises(CalibrationError, match="all NaN"):
        step(RawFrame.from_array(np.full(data.shape, np.nan), header, name="nan"))


def test_masters_leave_out_a_frame_of_another_shape(night):
    a, a2 = raw_frame(night, *night.bias(0)), raw_frame(night, *night.bias(1))
    b = RawFrame.from_array(np.zeros((10, 10)), name="small")
    master = make_master_bias([a, b, a2])
    assert master.n_frames == 2 and master.shape == a.raw_shape
    assert len(master.rejected) == 1 and master.rejected[0].startswith("small: 10x10 px")
    with pytest.raises(CalibrationError, match="different shapes"):
        check_same_geometry([a, b], "bias")


def test_cancel_stops_a_master(night):
    state = StepState(cancel_event=threading.Event())
    state.cancel()
    with pytest.raises(Cancelled):
        make_master_bias([raw_frame(night, *night.bias(j)) for j in range(3)], state=state)
