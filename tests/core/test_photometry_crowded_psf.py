"""The scene fitter's PSF refit: blended PSF stars are found and left out."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.scene.psf_update import blend_scores, refit_psf
from fluxion.core.photometry.scene.records import NoisyImage
from fluxion.core.photometry.scene.sky import mesh_sky
from fluxion.core.photometry.synthetic import MoffatProfile

SKY, RN = 100.0, 5.0


@pytest.fixture(scope="module")
def psf_stars():
    """64 bright stars on a 25 px grid, 14 of them with an unresolved companion.

    The companion (25-40% of the flux, 1.2-1.8 px away) is what the scene
    cannot separate; the position given is the blend's light centroid, as
    the scene would have fitted it.
    """
    rng = np.random.default_rng(5)
    prof = MoffatProfile(3.5, 3.0)
    n_side, step, size = 8, 25, 31
    shape = (n_side * step + 20, n_side * step + 20)
    model = np.zeros(shape)
    xs, ys, blend = [], [], []
    half = size // 2
    for k in range(n_side * n_side):
        xc = 20 + step * (k % n_side) + rng.uniform(-0.5, 0.5)
        yc = 20 + step * (k // n_side) + rng.uniform(-0.5, 0.5)
        flux = 10 ** rng.uniform(4.3, 5.0)
        parts = [(xc, yc, flux)]
        is_blend = k % 9 == 4 or k % 9 == 7
        if is_blend:
            a, r = rng.uniform(0, 2 * np.pi), rng.uniform(1.2, 1.8)
            parts.append((xc + r * np.cos(a), yc + r * np.sin(a), flux * rng.uniform(0.25, 0.4)))
        for px, py, f in parts:
            ix, iy = int(round(px)), int(round(py))
            stamp = prof.stamp(size, px - ix, py - iy)
            model[iy - half : iy + half + 1, ix - half : ix + half + 1] += f * stamp
        w = np.array([p[2] for p in parts])
        xs.append(np.dot(w, [p[0] for p in parts]) / w.sum())
        ys.append(np.dot(w, [p[1] for p in parts]) / w.sum())
        blend.append(is_blend)
    image = rng.poisson(model + SKY) + rng.normal(0.0, RN, shape) - SKY
    variance = model + SKY + RN**2
    return image, variance, np.array(xs), np.array(ys), np.array(blend)


def test_blends_score_above_single_stars(psf_stars):
    image, variance, x, y, blend = psf_stars
    # A start 5% wide, as after the first pass: the common mismatch must
    # not hide the blends nor flag the brightest single stars.
    score = blend_scores(
        image, variance, x, y, analytic_psf("moffat", 3.675), np.zeros(image.shape, bool)
    )
    assert blend.sum() == 14
    assert np.median(score[~blend]) == pytest.approx(1.0, abs=0.15)
    # Two blends, the faintest companions, pass for single stars.
    assert np.sum(score[blend] > np.percentile(score[~blend], 95)) >= 12


def test_refit_without_blends_recovers_the_true_moffat(psf_stars):
    image, variance, x, y, _ = psf_stars
    mask = np.zeros(image.shape, bool)
    start = analytic_psf("moffat", 3.6)
    isolated = NoisyImage(image, variance, mask)
    with_blends = refit_psf(isolated, np.c_[x, y], start, kind="moffat", drop_blends=False)
    # Two refits, as on two passes of the scene: each tests the stars
    # against the PSF of the one before.
    clean = start
    for _ in range(2):
        clean = refit_psf(isolated, np.c_[x, y], clean, kind="moffat")
    # The blends widen the PSF by 1.5% (fluxes of 50000 e- stars +0.5
    # sigma); without them the FWHM is right to 0.4%.
    assert with_blends.fwhm > 3.5 * 1.012
    assert clean.fwhm == pytest.approx(3.5, rel=0.004)
    assert clean.moffat_beta == pytest.approx(3.0, rel=0.01)


def test_mesh_sky_is_the_clipped_mean_and_ignores_masked_pixels():
    rng = np.random.default_rng(3)
    img = rng.poisson(100.0, (400, 400)) + rng.normal(0.0, RN, (400, 400))
    img[:, 200:] += 20.0  # a step the 20 px mesh follows
    stars = rng.random(img.shape) < 0.01
    img[stars] += 500.0  # star residuals: clipped
    mask = np.zeros(img.shape, bool)
    mask[100:140, 100:140] = True
    img[mask] = 1e6  # under the mask: ignored
    sky = mesh_sky(img, mask, 20)
    # The Poisson mean (100), not its median (~99.7); 400 px per cell.
    assert np.mean(sky[:, 20:180]) == pytest.approx(100.0, abs=0.15)
    assert np.mean(sky[:, 220:380]) == pytest.approx(120.0, abs=0.15)
    assert np.all(np.abs(sky[100:140, 100:140] - 100.0) < 1.5)
