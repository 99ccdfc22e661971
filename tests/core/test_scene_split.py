"""Blends fitted as one star: the two-star test of the scene fitter (scene.split)."""

from __future__ import annotations

import numpy as np
from photometry_helpers import scene_image

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.scene.design import psf_tables
from fluxion.core.photometry.scene.records import STAMP_SIZES, NoisyImage, PlacedStars
from fluxion.core.photometry.scene.split import split_blends

SHAPE = (48, 48)
SKY, RN = 100.0, 5.0
TABLES = psf_tables(analytic_psf("moffat", 3.5, beta=3.0), STAMP_SIZES)


def _image(x, y, flux) -> np.ndarray:
    return scene_image(TABLES, x, y, flux, SHAPE)


def _draws(x, y, flux, n: int, seed: int):
    """``n`` noisy images of the stars (sky subtracted) and their one-star fit's residuals.

    The one star sits at the light centre with the total flux: what a fit of
    a single star to an unresolved pair converges to.
    """
    x, y, flux = (np.asarray(v, dtype=np.float64) for v in (x, y, flux))
    truth = _image(x, y, flux)
    var = SKY + RN**2 + truth
    cx, cy, total = (x @ flux) / flux.sum(), (y @ flux) / flux.sum(), flux.sum()
    one = _image(cx, cy, total)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        noisy = truth + rng.normal(size=SHAPE) * np.sqrt(var)
        residual = NoisyImage(noisy - one, var, np.zeros(SHAPE, bool))
        out.append(split_blends(residual, TABLES, PlacedStars([cx], [cy], [total])))
    return out


def test_a_pair_2_4_px_apart_is_split_near_both_stars():
    x, y = np.array([22.3, 24.5]), np.array([23.6, 24.56])  # 2.4 px apart
    flux = np.array([3000.0, 2000.0])  # S/N ~ 30 and 20
    results = _draws(x, y, flux, 30, seed=1)
    split = [r for r in results if len(r[0])]
    assert len(split) >= 27
    for _, x1, y1, x2, y2, f2 in split:
        # Starting points for the re-centring: each within 1 px of a
        # different true star (the merged one was 1.0 and 1.4 px from them).
        d1 = np.hypot(x - x1[0], y - y1[0])
        d2 = np.hypot(x - x2[0], y - y2[0])
        assert np.argmin(d1) != np.argmin(d2)
        assert d1.min() < 1.0 and d2.min() < 1.0
        assert 0.3 * 2000 < f2[0] < 2.0 * 3000


def test_a_single_star_is_not_split():
    results = _draws([23.3], [24.1], [5000.0], 40, seed=2)
    assert sum(len(r[0]) for r in results) <= 1


def test_a_pair_too_faint_to_tell_apart_is_kept_as_one():
    x, y = np.array([22.3, 24.5]), np.array([23.6, 24.56])
    results = _draws(x, y, np.array([150.0, 100.0]), 40, seed=3)
    assert sum(len(r[0]) for r in results) <= 2
