"""Banded combination, overscan sections, and masters from real frames."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.calibration import (
    MasterParams,
    Overscan,
    OverscanError,
    RawFrame,
    combine,
    cosmic_rays,
    make_master_bias,
    make_master_dark,
    parse_section,
)
from fluxion.core.calibration.combine import band_height
from fluxion.core.io.sequence import group_frames, scan


def _readers(stack):
    return [lambda y0, y1, a=a: a[y0:y1].astype(np.float32) for a in stack]


def test_banded_median_equals_numpy_whatever_the_band_height():
    rng = np.random.default_rng(0)
    stack = rng.normal(100, 5, (7, 97, 61)).astype(np.float32)
    expected = np.median(stack, axis=0)
    # A budget this small forces bands of a few rows.
    tiny = 7 * 61 * 4 * 3 * 5
    assert band_height(7, (97, 61), tiny) == 5
    out = combine(_readers(stack), (97, 61), memory_bytes=tiny)
    np.testing.assert_array_equal(out, expected)
    with ThreadPoolExecutor(2) as pool:
        parallel = combine(_readers(stack), (97, 61), memory_bytes=tiny, executor=pool)
    np.testing.assert_array_equal(parallel, expected)


def test_sigma_clipped_mean_rejects_outliers_and_beats_the_median():
    rng = np.random.default_rng(1)
    n, shape = 15, (64, 64)
    stack = rng.normal(0, 1, (n,) + shape).astype(np.float32)
    stack[3, 10:20, 10:20] = 500.0  # a satellite trail in one frame
    mean = combine(_readers(stack), shape, method="sigma-clipped mean", sigma=3.0)
    median = combine(_readers(stack), shape, method="median")
    assert np.max(np.abs(mean[10:20, 10:20])) < 1.5
    # The mean of Gaussian noise is sqrt(pi/2) less noisy than the median.
    assert np.std(mean) == pytest.approx(1 / np.sqrt(n), rel=0.1)
    assert np.std(median) / np.std(mean) == pytest.approx(np.sqrt(np.pi / 2), rel=0.1)
    with pytest.raises(ValueError, match="unknown combine method"):
        combine(_readers(stack), shape, method="mode")


def test_sections_are_one_based_inclusive_x_first():
    rows, cols = parse_section("[1025:1056,1:1024]", (1024, 1056))
    assert (rows, cols) == (slice(0, 1024), slice(1024, 1056))
    with pytest.raises(OverscanError, match="outside"):
        parse_section("[1:2000,1:10]", (100, 100))
    with pytest.raises(OverscanError, match="not a FITS section"):
        parse_section("1:10,1:10")


def test_overscan_row_by_row_and_trim():
    ny, nx, over = 40, 50, 8
    drift = np.linspace(500, 520, ny, dtype=np.float32)[:, None]
    raw = np.full((ny, nx + over), 0.0, np.float32) + drift
    raw[:, :nx] += 100.0
    header = fits.Header(
        {"BIASSEC": f"[{nx + 1}:{nx + over},1:{ny}]", "TRIMSEC": f"[1:{nx},1:{ny}]"}
    )
    frame = RawFrame.from_array(raw, header, name="o")
    scan_overscan = frame.overscan()
    assert isinstance(scan_overscan, Overscan)
    out = scan_overscan.apply(raw)
    assert out.shape == (ny, nx)
    np.testing.assert_allclose(out, 100.0, atol=1e-3)
    master = make_master_bias([frame, frame, frame])
    assert master.shape == (ny, nx)
    np.testing.assert_allclose(master.data, 100.0, atol=1e-3)


def test_cosmic_rays_spare_a_bright_star_and_catch_a_sharp_hit():
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:64, :64]
    sky = 200.0
    star = (
        40000 * np.exp(-0.5 * ((xx - 20.3) ** 2 + (yy - 30.7) ** 2) / 1.3**2) / (2 * np.pi * 1.69)
    )
    image = rng.poisson(sky + star).astype(np.float32)
    image[45, 50] += 3000.0
    image[46, 50] += 1500.0
    hits = cosmic_rays(image, read_noise=5.0)
    assert hits[45, 50] and hits[46, 50]
    assert not hits[25:37, 14:27].any()
    assert hits.sum() <= 4


def test_real_masters_of_the_asteroid_night(shared_data):
    folder = shared_data / "asteroid2713-night1"
    if not folder.is_dir():
        pytest.skip("asteroid2713-night1 not in the shared data")
    groups = group_frames(scan(sorted(folder.glob("*Bias*"))[:6] + sorted(folder.glob("*Dark*"))))
    bias_frames = [RawFrame.from_info(f) for f in groups.bias]
    assert len(bias_frames) == 6
    bias = make_master_bias(bias_frames, MasterParams(memory_mb=16))
    assert bias.shape == (1024, 1024)
    # One raw bias minus the master is read noise only: its rms, in ADU, over
    # sqrt(1 + pi/2/6) (the master's own median noise), is the camera's read noise.
    one = bias_frames[0].read()
    rms = np.std(one - bias.data)
    read_noise_adu = rms / np.sqrt(1 + np.pi / 2 / 6)
    assert 3 < read_noise_adu * 2.07 < 25  # e-, an STL-1001E reads 10-15 e-
    assert abs(np.median(one - bias.data)) < 1.0
    ((t, dark_infos),) = groups.darks.items()
    assert t == 180.0
    dark = make_master_dark([RawFrame.from_info(f) for f in dark_infos], bias)
    assert dark.exptime == 180.0
    # A cooled CCD at -20 C: under 1 e-/s typically, and hot pixels above it.
    dark_e_per_s = np.median(dark.data) * 2.07 / 180.0
    assert -0.05 < dark_e_per_s < 1.0
    assert np.percentile(dark.data, 99.99) > np.median(dark.data) + 50
    assert dark.header["NCOMBINE"] == 5 and "bias subtracted" in str(dark.header["HISTORY"])
