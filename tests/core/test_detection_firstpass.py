"""The matched filter's first pass on three bands of rows, against the truth and the whole frame."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fluxion.core.detection import firstpass
from fluxion.core.detection.background import native_float32, sep_background, split_mask
from fluxion.core.detection.extract import Detection, DetectionParams
from fluxion.core.detection.measure import fwhm_stars
from fluxion.core.simulation.psf import psf_stamp

SKY = 300.0  # e-
READ_NOISE = 6.0  # e-
SIZE = 1024


def moffat_frame(seed: int, n_stars: int, fwhm: float, beta: float) -> np.ndarray:
    """Pixel-integrated Moffat stars at random places on a noisy flat sky (gain 1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(25, SIZE - 25, n_stars)
    y = rng.uniform(25, SIZE - 25, n_stars)
    flux = 10 ** rng.uniform(2.5, 5.3, n_stars)
    image = np.full((SIZE, SIZE), SKY)
    half = 20
    grid = np.arange(-half, half + 1, dtype=np.float64)
    for xi, yi, fi in zip(x, y, flux, strict=True):
        cx, cy = int(np.floor(xi + 0.5)), int(np.floor(yi + 0.5))
        stamp = psf_stamp(grid + cx - xi, grid + cy - yi, fwhm, "moffat", beta)
        image[cy - half : cy + half + 1, cx - half : cx + half + 1] += fi * stamp
    return (rng.poisson(image) + rng.normal(0, READ_NOISE, image.shape)).astype(np.float32)


def prepared(image: np.ndarray, p: DetectionParams):
    """The background-subtracted frame, its bad pixels and noise, as Detection makes them."""
    data = native_float32(image)
    bad, _ = split_mask(data, None)
    sky, bkg = sep_background(data, bad, p.mesh_size, p.filter_size, False)
    bkg.subfrom(data)
    data[bad] = 0.0
    return data, bad, sky.noise


@pytest.mark.parametrize(("seed", "fwhm", "beta"), [(1, 2.6, 2.8), (2, 3.4, 3.5), (3, 4.6, 4.2)])
def test_bands_give_the_whole_frames_candidates_and_the_stars_fwhm(seed, fwhm, beta):
    p = DetectionParams()
    data, bad, noise = prepared(moffat_frame(seed, 700, fwhm, beta), p)
    bands = firstpass._bands(SIZE)
    assert bands is not None and sum(b.stop - b.start for b in bands) <= SIZE // 3 + 3
    band = firstpass._band_candidates(data, bad, noise, p, bands)
    whole = firstpass._candidates(data, bad, noise, p)
    used = fwhm_stars(band, p)
    assert used.sum() >= firstpass._MIN_STARS
    # Each band star is the whole frame's star at the same place, measured alike:
    # the same pixels (none of another band's), in frame coordinates.
    wx, wy = np.asarray(whole["x"]), np.asarray(whole["y"])
    for row in band[used]:
        d = np.hypot(wx - row["x"], wy - row["y"])
        j = int(np.argmin(d))
        assert d[j] < 1e-3
        assert row["fwhm"] == pytest.approx(whole["fwhm"][j], rel=1e-4)
        assert row["flux"] == pytest.approx(whole["flux"][j], rel=1e-4)
        # Inside a band, and away from the edges inside the frame by the isolation margin.
        margin = p.isolation_radius + 3.0
        assert any(
            (b.start == 0 or row["y_iso"] >= b.start + margin)
            and (b.stop == SIZE or row["y_iso"] <= b.stop - 1 - margin)
            and b.start <= row["y_iso"] < b.stop
            for b in bands
        )
    # The kernel's FWHM from the bands: within 2 % of the injected FWHM, as the
    # whole frame's (a 5 % error would cost the matched filter 0.1 % of its S/N).
    got, profile = firstpass.first_pass_profile(data, bad, noise, p)
    assert profile is not None and profile.fwhm == pytest.approx(got, rel=1e-9)
    assert got == pytest.approx(fwhm, rel=0.02)
    full = firstpass.frame_profile(data, bad, whole, p)
    assert full is not None and got == pytest.approx(full.fwhm, rel=0.02)


def test_too_few_stars_in_the_bands_or_a_small_frame_search_the_whole_frame(monkeypatch):
    p = DetectionParams()
    data, bad, noise = prepared(moffat_frame(4, 30, 3.0, 3.0), p)
    band = firstpass._band_candidates(data, bad, noise, p, firstpass._bands(SIZE))
    assert fwhm_stars(band, p).sum() < firstpass._MIN_STARS
    whole = firstpass._candidates(data, bad, noise, p)
    expected = firstpass.frame_profile(data, bad, whole, p)
    assert expected is not None
    assert firstpass.first_pass_profile(data, bad, noise, p)[1] == expected
    assert firstpass._bands(384) is None
    assert firstpass._bands(575) is None and firstpass._bands(576) is not None


def test_detection_with_a_noise_map_uses_the_bands(monkeypatch):
    """The local noise map is stacked with the bands; the frame's FWHM is the stars'."""
    image = moffat_frame(5, 700, 3.2, 3.0)
    calls = []
    original = firstpass._band_candidates

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append(int(fwhm_stars(out, args[3]).sum()))
        return out

    monkeypatch.setattr(firstpass, "_band_candidates", spy)
    result = Detection(DetectionParams(noise="local"))(image, gain=1.0)
    assert len(calls) == 1 and calls[0] >= firstpass._MIN_STARS
    assert result.filter_fwhm == pytest.approx(3.2, rel=0.02)
    assert result.fwhm == pytest.approx(3.2, rel=0.02)
    assert math.isfinite(result.sources.meta["moffat_beta"])
