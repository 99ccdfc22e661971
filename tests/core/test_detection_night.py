"""Detection at DEFAULT parameters on a default simulated night, scored against its truth.

The frame is calibrated with the simulated camera's own bias, dark and flat (so the
test is about detection, not calibration), hot pixels and saturated pixels are
masked from the camera truth and cosmic rays by the pipeline's L.A.Cosmic.

Each truth star's S/N is the optimal (PSF-weighted) one, ``F * sqrt(sum p_i^2 /
var_i)`` over the pixel-integrated PSF ``p`` with sky, dark, read noise, the
flat field and the star's own light in the variance: what a PSF fit at the
known position achieves, and what a matched-filter detection can reach.

The helpers here are also used by tests/benchmarks/bench_detection_completeness.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from astropy.table import Table
from scipy.spatial import cKDTree

from fluxion.core.calibration.masks import MaskBits, cosmic_rays, saturation_mask
from fluxion.core.detection.extract import Detection, DetectionParams, DetectionResult, SourceFlags
from fluxion.core.simulation.night import Night
from fluxion.core.simulation.psf import psf_stamp
from fluxion.core.simulation.simulate import NightConfig, make_night

MATCH_RADIUS = 1.5  # px, truth to detection
REAL_SNR = 3.0  # a detection within MATCH_RADIUS of a truth source this bright is real
EDGE = 4  # px; stars closer to the edge are not counted for completeness


@dataclass
class CalibratedLight:
    """One calibrated light (e-), its mask and its truth with optimal S/N."""

    image: np.ndarray
    mask: np.ndarray
    truth: Table
    snr: np.ndarray  # optimal S/N of every truth row
    isolated: np.ndarray  # no neighbour within 2 FWHM brighter than a quarter of the star
    inside: np.ndarray  # centre at least EDGE px inside the frame, not a moving object


def calibrated_light(night: Night, i: int) -> CalibratedLight:
    """Light ``i`` calibrated with the camera truth, masked, with its scored truth."""
    cam, c = night.camera, night.config
    raw, _, truth = night.light(i)
    image = ((raw - cam.bias_level) * cam.gain - cam.dark_current * c.exptime) / cam.flat
    image = image.astype(np.float32)
    saturated = saturation_mask(raw, cam.saturation)
    mask = np.zeros(image.shape, np.uint8)
    mask[cam.hot_pixels] |= np.uint8(MaskBits.HOT)
    mask[saturated] |= np.uint8(MaskBits.SATURATED)
    crs = cosmic_rays(image, gain=1.0, read_noise=cam.read_noise, ignore=cam.hot_pixels | saturated)
    mask[crs] |= np.uint8(MaskBits.COSMIC_RAY)

    # Variance (calibrated e-^2) of every pixel from the noiseless expectation.
    expected = night.light_expected_electrons(i)
    var = (cam.flat * expected + cam.dark_current * c.exptime + cam.read_noise**2) / cam.flat**2
    ny, nx = image.shape
    x, y = np.asarray(truth["x"], float), np.asarray(truth["y"], float)
    flux, fwhm = np.asarray(truth["flux"], float), np.asarray(truth["fwhm"], float)
    snr = np.zeros(len(truth))
    for k in range(len(truth)):
        half = int(math.ceil(3.0 * fwhm[k]))
        cx, cy = int(round(x[k])), int(round(y[k]))
        x0, x1 = max(cx - half, 0), min(cx + half + 1, nx)
        y0, y1 = max(cy - half, 0), min(cy + half + 1, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        p = psf_stamp(
            np.arange(x0, x1) - x[k], np.arange(y0, y1) - y[k], fwhm[k], c.psf, c.moffat_beta
        )
        snr[k] = flux[k] * math.sqrt(float(np.sum(p**2 / var[y0:y1, x0:x1])))

    tree = cKDTree(np.column_stack([x, y]))
    isolated = np.ones(len(truth), bool)
    for a, b in tree.query_pairs(2.0 * float(np.max(fwhm))):
        if flux[b] > 0.25 * flux[a]:
            isolated[a] = False
        if flux[a] > 0.25 * flux[b]:
            isolated[b] = False
    inside = (
        (x >= EDGE)
        & (x <= nx - 1 - EDGE)
        & (y >= EDGE)
        & (y <= ny - 1 - EDGE)
        & (np.asarray(truth["kind"]) != "asteroid")
    )
    return CalibratedLight(image, mask, truth, snr, isolated, inside)


@dataclass
class Score:
    """Detections scored against the truth of one frame."""

    found: np.ndarray  # per truth row: a detection within MATCH_RADIUS
    offset: np.ndarray  # per truth row: distance to that detection (px), inf if none
    match: np.ndarray  # per truth row: index of that detection
    false: np.ndarray  # per detection: no truth source with S/N > REAL_SNR within MATCH_RADIUS
    n_detections: int  # at least EDGE px inside the frame


def score(light: CalibratedLight, result: DetectionResult) -> Score:
    """Match truth and detections both ways."""
    s = result.sources
    det = np.column_stack([np.asarray(s["x"], float), np.asarray(s["y"], float)])
    truth_xy = np.column_stack([light.truth["x"], light.truth["y"]])
    if len(det) == 0:
        n = len(light.truth)
        return Score(np.zeros(n, bool), np.full(n, np.inf), np.zeros(n, int), np.zeros(0, bool), 0)
    dist, idx = cKDTree(det).query(truth_xy, distance_upper_bound=MATCH_RADIUS)
    real_xy = truth_xy[light.snr > REAL_SNR]
    # A star cut by the frame edge has its centroid pulled inward by more than
    # MATCH_RADIUS: it is real, so the edge strip is left out of the false count.
    ny, nx = light.image.shape
    inner = (det[:, 0] >= EDGE) & (det[:, 0] <= nx - 1 - EDGE)
    inner &= (det[:, 1] >= EDGE) & (det[:, 1] <= ny - 1 - EDGE)
    d_real, _ = cKDTree(real_xy).query(det[inner], distance_upper_bound=MATCH_RADIUS)
    return Score(np.isfinite(dist), dist, idx, ~np.isfinite(d_real), int(inner.sum()))


def detect(light: CalibratedLight, params: DetectionParams | None = None) -> DetectionResult:
    """Detection as the chain runs it on a calibrated frame in electrons."""
    return Detection(params)(light.image, light.mask, gain=1.0)


@pytest.fixture(scope="module")
def light() -> CalibratedLight:
    return calibrated_light(make_night(NightConfig(n_frames=1, shape=(384, 384))), 0)


@pytest.fixture(scope="module")
def scored(light) -> tuple[DetectionResult, Score]:
    result = detect(light)
    return result, score(light, result)


def test_default_parameters_find_95_percent_of_isolated_stars_above_snr_10(light, scored):
    _, sc = scored
    wanted = light.inside & light.isolated & (light.snr > 10)
    assert wanted.sum() >= 30
    missed = wanted & ~sc.found
    assert sc.found[wanted].mean() >= 0.95, f"missed S/N {np.round(light.snr[missed], 1)}"


def test_default_parameters_give_few_false_detections(scored):
    _, sc = scored
    assert sc.n_detections >= 30
    # Stated rate: below 2% of the detections (see the benchmark's table).
    assert sc.false.sum() <= max(1, int(0.02 * sc.n_detections))


def test_bright_star_positions_within_a_tenth_of_a_pixel(light, scored):
    result, sc = scored
    flags = np.asarray(result.sources["flags"])
    bright = light.inside & light.isolated & (light.snr > 50) & sc.found
    bright &= ~np.asarray(light.truth["saturated"], bool)
    clean = bright.copy()
    clean[bright] = flags[sc.match[bright]] & (SourceFlags.SATURATED | SourceFlags.CROWDED) == 0
    assert clean.sum() >= 10
    rms = math.sqrt(float(np.mean(sc.offset[clean] ** 2)))
    assert rms < 0.1


def test_matched_filter_follows_the_frame_fwhm(light, scored):
    result, _ = scored
    true_fwhm = float(light.truth.meta["fwhm"])
    assert result.fwhm == pytest.approx(true_fwhm, rel=0.05)
    assert result.sources.meta["filter_fwhm"] == pytest.approx(true_fwhm, rel=0.1)


def test_wide_stars_with_masked_pixels_keep_their_windowed_centroid(monkeypatch):
    # At 5 px seeing a bright star's window often holds a masked cosmic ray
    # or hot pixel; its windowed centroid stays (the masked pixels filled by
    # their mirror image), where the isophotal fallback was off by up to 2 px.
    light = calibrated_light(make_night(NightConfig(n_frames=1, fwhm=5.0)), 0)
    result = detect(light)
    # A faint star's centroid scatters by FWHM / S/N: a wider match, as the benchmark's.
    monkeypatch.setitem(globals(), "MATCH_RADIUS", 2.5)
    sc = score(light, result)
    flags = np.asarray(result.sources["flags"])
    bright = light.inside & light.isolated & (light.snr > 50) & sc.found
    bright &= ~np.asarray(light.truth["saturated"], bool)
    bright[bright] = flags[sc.match[bright]] & (SourceFlags.SATURATED | SourceFlags.CROWDED) == 0
    masked = bright.copy()
    masked[bright] = flags[sc.match[bright]] & SourceFlags.APERTURE_MASKED != 0
    assert bright.sum() >= 20 and masked.sum() >= 3
    assert not np.any(flags[sc.match[bright]] & SourceFlags.CENTROID_ISOPHOTAL)
    assert math.sqrt(float(np.mean(sc.offset[bright] ** 2))) < 0.15
    assert np.max(sc.offset[masked]) < 0.4
