"""Camera raw files (DNG through LibRaw) read as frames: mosaic, pattern, levels, EXIF facts."""

from __future__ import annotations

import datetime as dt
import os
import time

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time

from fluxion.core.io.fitsio import FitsReadError, read_frame, read_header
from fluxion.core.io.frames import frame_info
from fluxion.core.io.sequence import scan
from fluxion.core.photometry import Photometry, PhotometryParams
from fluxion.core.simulation.dng import write_dng
from fluxion.core.simulation.simulate import NightConfig, make_night

pytest.importorskip("rawpy")

CONFIG = NightConfig(
    seed=12, n_frames=1, shape=(256, 384), bayer_pattern="GBRG", star_density=3.0,
    mag_faint=16.5, asteroid=False, fwhm=4.0, exptime=60.0,
)  # fmt: skip
BLACK, WHITE, ISO = 1024, 60000, 800


@pytest.fixture(scope="module")
def light(tmp_path_factory):
    """A simulated colour light written twice: as the simulator's FITS and as a DNG."""
    night = make_night(CONFIG)
    image, header, truth = night.light(0)
    folder = tmp_path_factory.mktemp("raw_night")
    fits.writeto(folder / "light.fits", image, header)
    start = Time(header["DATE-OBS"]).to_datetime()
    # Cameras keep whole seconds: the DNG starts at the second the FITS does.
    assert start.microsecond == 0
    write_dng(
        folder / "IMG_0001.DNG", image, CONFIG.bayer_pattern, black_level=BLACK,
        white_level=WHITE, exptime=CONFIG.exptime, iso=ISO, start=start,
    )  # fmt: skip
    return folder, image, header, truth, night


def test_a_dng_is_a_frame_with_the_cameras_facts(light):
    folder, image, header, _, _ = light
    raw = frame_info(folder / "IMG_0001.DNG")
    ref = frame_info(folder / "light.fits")
    assert raw.problems == [] or not any("cannot" in p for p in raw.problems), raw.problems
    assert raw.type == "light"
    assert raw.shape == CONFIG.shape
    assert raw.cfa == CONFIG.bayer_pattern == ref.cfa
    assert raw.exptime == pytest.approx(CONFIG.exptime)
    assert raw.jd == pytest.approx(ref.jd, abs=1e-9)
    data, h, hdu = read_frame(folder / "IMG_0001.DNG", dtype=None)
    assert hdu == 0 and data.dtype == np.uint16
    np.testing.assert_array_equal(data, image)
    assert h["BLKLEVEL"] == BLACK and h["SATURATE"] == WHITE and h["ISOSPEED"] == ISO
    assert "UTC" in h.comments["DATE-OBS"]


def test_a_folder_scan_takes_raw_files(light):
    folder = light[0]
    names = sorted(f.path.name for f in scan(folder))
    assert names == ["IMG_0001.DNG", "light.fits"]


def test_the_time_does_not_depend_on_the_computers_time_zone(light):
    folder = light[0]
    want = read_header(folder / "IMG_0001.DNG")[0]["DATE-OBS"]
    old = os.environ.get("TZ")
    try:
        for zone in ("America/New_York", "Asia/Kolkata"):
            os.environ["TZ"] = zone
            time.tzset()
            assert read_header(folder / "IMG_0001.DNG")[0]["DATE-OBS"] == want, zone
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_channels_of_a_raw_file_are_measured_as_the_fits_ones(light):
    """The same photometry of the DNG and of the FITS, and each channel near its truth."""
    folder, _, _, truth, night = light
    ny, nx = CONFIG.shape
    x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
    inside = (x > 25) & (x < nx - 26) & (y > 25) & (y < ny - 26)
    stars = truth[inside & ~np.asarray(truth["saturated"])]
    # Apertures of 2 FWHM hold a known share of the simulator's Moffat stars.
    fwhm = float(night.fwhm[0])
    alpha = 1.0 / (2.0 * np.sqrt(2 ** (1 / CONFIG.moffat_beta) - 1))
    share = 1.0 - (1.0 + (2.0 / alpha) ** 2) ** (1.0 - CONFIG.moffat_beta)
    params = PhotometryParams(
        channels="RGB", fwhm=fwhm, aperture_radius=2 * fwhm, aperture_correction=False
    )
    step = Photometry(params)
    tables = []
    for name in ("IMG_0001.DNG", "light.fits"):
        frame = frame_info(folder / name)
        data = read_frame(folder / name)[0]
        # The raw light holds bias, dark and the flat's response: taken out here.
        electrons = (
            data - night.bias_level - night.dark_current * CONFIG.exptime
        ) / night.flat_field
        positions = np.c_[stars["x"], stars["y"]]
        tables.append(step.run(electrons, positions, gain=night.gain, cfa=frame.cfa).table)
    raw, ref = tables
    np.testing.assert_array_equal(raw["flux"], ref["flux"])
    for c in ("R", "G", "B"):
        rows = raw[raw["channel"] == c]
        snr = np.asarray(rows["flux"]) / np.asarray(rows["flux_err"])
        bright = (np.asarray(rows["flags"]) == 0) & (snr > 20)
        assert bright.sum() >= 8, c
        ratio = np.asarray(rows["flux"])[bright] / np.asarray(stars[f"flux_{c}"])[bright]
        assert np.median(ratio) == pytest.approx(share, abs=0.02), c


@pytest.mark.parametrize(
    ("content", "cause"),
    [(b"", "empty file"), (b"not a raw file at all" * 100, "not a raw file LibRaw can read")],
)
def test_a_bad_raw_file_is_named_with_its_cause(tmp_path, content, cause):
    path = tmp_path / "IMG_0002.CR2"
    path.write_bytes(content)
    with pytest.raises(FitsReadError, match=cause):
        read_header(path)
    info = frame_info(path)
    assert info.type == "unknown" and cause in info.problems[0]


def test_the_writer_refuses_a_pattern_that_is_not_bayer(tmp_path):
    with pytest.raises(ValueError, match="not a 2x2 Bayer pattern"):
        write_dng(
            tmp_path / "x.dng", np.zeros((8, 8)), "RGBX", black_level=0, white_level=1,
            exptime=1.0, iso=100, start=dt.datetime(2025, 1, 1),
        )  # fmt: skip


def test_calibration_reads_a_raw_files_rows(light):
    """Masters are combined band by band: a raw file gives the rows asked for."""
    from fluxion.core.calibration.raw import RawFrame

    folder, image, _, _, _ = light
    frame = RawFrame.from_info(frame_info(folder / "IMG_0001.DNG"))
    assert frame.raw_shape == CONFIG.shape and frame.cfa == CONFIG.bayer_pattern
    np.testing.assert_array_equal(frame.read_rows(17, 40), image[17:40])
    np.testing.assert_array_equal(frame.read(), image)
