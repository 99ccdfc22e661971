"""Detection on a synthetic star field with known truth: completeness, positions, FWHM, sky."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from astropy.stats import mad_std
from scipy.spatial import cKDTree

from fluxion.core.calibration.masks import MaskBits
from fluxion.core.detection.extract import (
    Detection,
    DetectionError,
    DetectionParams,
    SourceFlags,
    measure_background,
)
from fluxion.core.runtime.params import param_infos
from fluxion.core.runtime.pipeline import Cancelled, StepState

FWHM = 3.2
SKY = 400.0  # e-
READ_NOISE = 8.0  # e-


def star_field(seed: int = 1, shape=(384, 384), n_stars: int = 150):
    """Gaussian stars on a flat sky with Poisson and read noise (gain 1).

    Stars are integrated over each pixel (error functions), so the truth
    positions are exact for the pixel-sampled image.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    x = rng.uniform(8, nx - 8, n_stars)
    y = rng.uniform(8, ny - 8, n_stars)
    flux = 10 ** rng.uniform(2.3, 5.0, n_stars)
    sigma = FWHM / (2 * math.sqrt(2 * math.log(2)))
    image = np.full(shape, SKY)
    from scipy.special import erf

    edges_x = np.arange(nx + 1) - 0.5
    edges_y = np.arange(ny + 1) - 0.5
    for xi, yi, fi in zip(x, y, flux, strict=True):
        x0, x1 = int(xi) - 12, int(xi) + 13
        y0, y1 = int(yi) - 12, int(yi) + 13
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, nx), min(y1, ny)
        cx = np.diff(erf((edges_x[x0 : x1 + 1] - xi) / (math.sqrt(2) * sigma))) / 2
        cy = np.diff(erf((edges_y[y0 : y1 + 1] - yi) / (math.sqrt(2) * sigma))) / 2
        image[y0:y1, x0:x1] += fi * np.outer(cy, cx)
    noisy = rng.poisson(image).astype(np.float64) + rng.normal(0, READ_NOISE, shape)
    r = FWHM  # aperture radius of the nominal S/N
    snr = flux / np.sqrt(flux + math.pi * r**2 * (SKY + READ_NOISE**2))
    return noisy.astype(np.float32), x, y, flux, snr


@pytest.fixture(scope="module")
def field():
    return star_field()


@pytest.fixture(scope="module")
def result(field):
    image = field[0]
    return Detection()(image, gain=1.0)


def _match(result, x, y, radius=1.5):
    s = result.sources
    tree = cKDTree(np.column_stack([s["x"], s["y"]]))
    dist, idx = tree.query(np.column_stack([x, y]), distance_upper_bound=radius)
    return dist, idx


def test_completeness_of_stars_above_snr_10(field, result):
    _, x, y, _, snr = field
    dist, _ = _match(result, x, y)
    # Truth stars closer than 2 FWHM to a brighter one can be blended: not a detection failure.
    tree = cKDTree(np.column_stack([x, y]))
    pairs = tree.query_pairs(2 * FWHM)
    blended = np.zeros(len(x), bool)
    for i, j in pairs:
        blended[i] = blended[j] = True
    wanted = (snr > 10) & ~blended
    found = np.isfinite(dist[wanted])
    assert wanted.sum() > 60
    assert found.mean() >= 0.95


def test_positions_of_bright_stars_within_a_tenth_of_a_pixel(field, result):
    _, x, y, _, snr = field
    dist, idx = _match(result, x, y)
    s = result.sources
    bright = (snr > 50) & np.isfinite(dist)
    clean = np.zeros(len(x), bool)
    clean[bright] = np.asarray(s["flags"])[idx[bright]] & SourceFlags.CROWDED == 0
    rms = math.sqrt(np.mean(dist[clean] ** 2))
    assert clean.sum() > 20
    assert rms < 0.1


def test_kron_fluxes_match_truth_within_their_errors(field, result):
    _, x, y, flux, snr = field
    dist, idx = _match(result, x, y)
    s = result.sources
    ok = np.isfinite(dist) & (snr > 20)
    ok[ok] &= np.asarray(s["flags"])[idx[ok]] == 0
    measured = np.asarray(s["flux"])[idx[ok]]
    err = np.asarray(s["flux_err"])[idx[ok]]
    pull = (measured - flux[ok]) / err
    assert ok.sum() > 30
    # 2.5 Kron radii hold a Gaussian star's light: no bias beyond noise.
    assert abs(np.median(pull)) < 0.3
    # Robust scatter in units of flux_err (Kron radius jitter adds a little).
    assert 0.7 < mad_std(pull) < 1.4


def test_frame_fwhm_sky_and_noise(result):
    assert result.fwhm == pytest.approx(FWHM, rel=0.03)
    assert result.fwhm_spread < 0.15 * FWHM
    assert result.n_fwhm_stars >= 20
    assert result.sky == pytest.approx(SKY, rel=0.01)
    assert result.sky_noise == pytest.approx(math.sqrt(SKY + READ_NOISE**2), rel=0.05)
    meta = result.sources.meta
    assert meta["fwhm"] == result.fwhm and meta["n_sources"] == len(result.sources)


def test_mask_bits_hide_pixels_and_flag_saturated_stars(field):
    image, x, y, flux, _ = field
    i = int(np.argmax(flux))
    mask = np.zeros(image.shape, np.uint8)
    xi, yi = int(round(x[i])), int(round(y[i]))
    mask[yi, xi] = MaskBits.SATURATED
    # A fake bright cosmic ray, masked: must not be detected.
    image = image.copy()
    image[50:52, 300:302] += 5000.0
    mask[50:52, 300:302] = MaskBits.COSMIC_RAY
    res = Detection()(image, mask=mask)
    s = res.sources
    near = np.hypot(s["x"] - x[i], s["y"] - y[i]) < 1.0
    assert near.sum() == 1
    assert s["flags"][near][0] & SourceFlags.SATURATED
    assert np.all(np.hypot(s["x"] - 300.5, s["y"] - 50.5) > 3)
    saturated_anywhere = (np.asarray(s["flags"]) & SourceFlags.SATURATED) != 0
    assert saturated_anywhere.sum() == 1


def test_saturation_level_flags_stars(field):
    image = field[0]
    level = float(np.percentile(image, 99.9))
    s = Detection()(image, saturation=level).sources
    flagged = (np.asarray(s["flags"]) & SourceFlags.SATURATED) != 0
    brightest = s["peak"] + 400 >= level
    assert flagged.sum() >= 1
    assert np.all(flagged[np.asarray(brightest)])


def test_nan_pixels_are_ignored_and_all_nan_is_a_clear_error(field):
    image = field[0].copy()
    image[:, :20] = np.nan
    res = Detection()(image)
    assert np.all(res.sources["x"] > 19)
    assert res.sky == pytest.approx(SKY, rel=0.01)
    with pytest.raises(DetectionError, match="no valid pixels"):
        Detection()(np.full((64, 64), np.nan, np.float32))
    with pytest.raises(DetectionError, match="shape"):
        Detection()(image, mask=np.zeros((3, 3), bool))


def test_big_endian_and_integer_input_give_the_same_sources(field):
    image = field[0]
    a = Detection()(image)
    b = Detection()(image.astype(">f4"))
    np.testing.assert_array_equal(a.sources["x"], b.sources["x"])


def test_background_maps_follow_a_gradient():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:256, :256]
    sky = 100 + 0.2 * xx
    image = rng.normal(sky, 5.0).astype(np.float32)
    bg = measure_background(image, mesh_size=32, filter_size=3)
    assert bg.back is not None and bg.rms is not None
    inner = (slice(32, -32), slice(32, -32))
    assert np.max(np.abs(bg.back[inner] - sky[inner])) < 1.5
    assert np.median(bg.rms) == pytest.approx(5.0, rel=0.05)


def test_parallel_map_and_cancel(field):
    image = field[0]
    step = Detection()
    frames = [(image, None), (image[::-1], None), (image[:, ::-1], None)]
    serial = step.map(frames)
    with ThreadPoolExecutor(2) as pool:
        parallel = step.map(frames, executor=pool)
    for one, other in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(one.sources["x"], other.sources["x"])
        assert one.fwhm == other.fwhm
    state = StepState(cancel_event=threading.Event())
    state.cancel()
    with pytest.raises(Cancelled):
        step(image, state=state)


def test_params_carry_gui_metadata():
    infos = {i.name: i for i in param_infos(DetectionParams)}
    assert infos["snr_threshold"].unit == "S/N"
    assert infos["noise"].choices == ("global", "local")
    assert all(i.label and i.help for i in infos.values())


def test_matched_filter_measures_the_fwhm_or_falls_back_on_a_starless_frame(field, result):
    # On the star field the filter is the stars' own FWHM.
    assert result.filter_fwhm == pytest.approx(FWHM, rel=0.05)
    assert result.sources.meta["filter_fwhm"] == result.filter_fwhm
    # Pure sky noise: no star to measure, the Filter FWHM is used.
    noise = np.random.default_rng(5).normal(100.0, 5.0, (128, 128)).astype(np.float32)
    params = DetectionParams(filter_fwhm=2.2)
    assert Detection(params)(noise).filter_fwhm == 2.2
    assert math.isnan(Detection(DetectionParams(detection_filter="pyramid"))(noise).filter_fwhm)
    with pytest.raises(ValueError, match="unknown detection filter"):
        Detection(DetectionParams(detection_filter="tophat"))


def test_first_pass_measures_its_fwhm_candidates_as_among_all_sources(field):
    """The matched filter's first pass measures only the sources that can be FWHM stars.

    Each of them (their crowding by sources left unmeasured included) must be
    the same to the bit as when every source is measured, and so must the
    profile fitted to them.
    """
    from fluxion.core.detection.background import native_float32, sep_background, split_mask
    from fluxion.core.detection.measure import (
        frame_profile,
        measure_fwhm_candidates,
        measure_sources,
    )
    from fluxion.core.detection.sepextract import extract_objects, pyramid_kernel

    # A wide isolation radius makes many candidates crowded by faint sources.
    p = DetectionParams(isolation_radius=12.0)
    data = native_float32(field[0])
    data[50, 60:64] = np.nan
    bad, _ = split_mask(data, None)
    sky, bkg = sep_background(data, bad, 64, 3, False)
    bkg.subfrom(data)
    data[bad] = 0.0
    objects, segmap = extract_objects(data, bad, sky.noise, 8.0, math.inf, 5, pyramid_kernel(), p)
    full = measure_sources(data, bad, sky.noise, None, objects, segmap, None, p)
    cand = measure_fwhm_candidates(data, bad, sky.noise, objects, segmap, p)
    assert 0 < len(cand) < len(full)
    rows = full[np.asarray(cand["id"]) - 1]
    for name in full.colnames:
        np.testing.assert_array_equal(np.asarray(cand[name]), np.asarray(rows[name]), err_msg=name)
    crowded = (np.asarray(cand["flags"]) & SourceFlags.CROWDED) != 0
    assert crowded.sum() >= 3 and (~crowded).sum() >= 10
    # Every source the FWHM could rest on is among the candidates.
    usable = (np.asarray(full["flags"]) == 0) & (np.asarray(full["snr"]) >= p.fwhm_min_snr)
    assert set(np.asarray(full["id"])[usable]) <= set(np.asarray(cand["id"]))
    assert frame_profile(data, bad, cand, p) == frame_profile(data, bad, full, p)
