"""The stacked Moffat fit against the injected profile and against scipy's solver."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.detection import fwhm as fwhm_module
from fluxion.core.detection.fwhm import fit_stacked_moffat
from fluxion.core.simulation.psf import psf_stamp

SKY = 300.0  # e-
READ_NOISE = 6.0  # e-
N_FIELDS = 24


def moffat_field(seed: int, n_stars: int = 40, size: int = 320):
    """Pixel-integrated Moffat stars of one FWHM and beta on a noisy flat sky (gain 1).

    Returns the background-subtracted image, the true positions, fluxes, FWHM and beta.
    """
    rng = np.random.default_rng(seed)
    fwhm = rng.uniform(2.0, 5.0)
    beta = rng.uniform(2.5, 4.5)
    # On a grid with jitter: isolated stars, as the frame's FWHM stars are.
    step = size // 7
    gx, gy = np.meshgrid(np.arange(1, 7) * step, np.arange(1, 7) * step)
    pick = rng.choice(gx.size, n_stars if n_stars <= gx.size else gx.size, replace=False)
    x = gx.ravel()[pick] + rng.uniform(-3, 3, pick.size)
    y = gy.ravel()[pick] + rng.uniform(-3, 3, pick.size)
    flux = 10 ** rng.uniform(4.0, 5.3, pick.size)
    image = np.full((size, size), SKY)
    half = 20
    grid = np.arange(-half, half + 1, dtype=np.float64)
    for xi, yi, fi in zip(x, y, flux, strict=True):
        cx, cy = int(np.floor(xi + 0.5)), int(np.floor(yi + 0.5))
        stamp = psf_stamp(grid + cx - xi, grid + cy - yi, fwhm, "moffat", beta)
        image[cy - half : cy + half + 1, cx - half : cx + half + 1] += fi * stamp
    noisy = rng.poisson(image).astype(np.float64) + rng.normal(0, READ_NOISE, image.shape)
    return (noisy - SKY).astype(np.float32), x, y, flux, fwhm, beta


@pytest.fixture(scope="module")
def fits():
    """Each field fitted by the written-out solver and by scipy's, and its truth."""
    out = []
    for seed in range(N_FIELDS):
        data, x, y, flux, fwhm, beta = moffat_field(seed)
        # The guess of the detection's stars: their half-light diameter, 20-35 % wide.
        guess = 1.25 * fwhm
        own = fit_stacked_moffat(data, x, y, flux, guess)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fwhm_module, "_levenberg_marquardt", lambda *a: None)
            ref = fit_stacked_moffat(data, x, y, flux, guess)
        assert own is not None and ref is not None
        out.append((own, ref, fwhm, beta))
    return out


def test_fit_recovers_the_injected_fwhm_and_beta(fits):
    rel = np.array([own.fwhm / fwhm - 1.0 for own, _, fwhm, _ in fits])
    dbeta = np.array([own.beta - beta for own, _, _, beta in fits])
    # 3 x 3 sub-pixel integration is good to ~0.5 % in the FWHM; the noise of
    # 40 bright stars adds a few 1e-3.
    assert np.all(np.abs(rel) < 0.015)
    assert abs(rel.mean()) < 0.006
    assert np.all(np.abs(dbeta) < 0.1 * np.array([b for *_, b in fits]))


def test_written_out_solver_finds_scipys_minimum(fits):
    own = np.array([(f.fwhm, f.beta, f.amplitude) for f, _, _, _ in fits])
    ref = np.array([(f.fwhm, f.beta, f.amplitude) for _, f, _, _ in fits])
    fwhm, beta = (np.array([t[i] for t in fits]) for i in (2, 3))
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    truth = np.column_stack([fwhm, beta, (beta - 1.0) / (np.pi * alpha**2)])
    # Each parameter's own error, from the fields' scatter about the truth.
    sigma = np.std(own / truth - 1.0, axis=0)
    assert np.all(sigma > 0)
    # Both minimise the same cost to the same tolerance: they differ by far
    # less than the error.
    assert np.all(np.abs(own / ref - 1.0) < 0.02 * sigma)
    assert [f.n_stars for f, _, _, _ in fits] == [f.n_stars for _, f, _, _ in fits]


def test_solver_refuses_a_start_outside_the_box():
    data, x, y, flux, fwhm, _ = moffat_field(99)
    guess = 1.25 * fwhm
    amp0 = 2.0 / (np.pi * (guess / 1.0) ** 2)
    half = int(min(max(np.ceil(2.0 * guess), 3), 20))
    dx = np.arange(-half, half + 1, dtype=np.float64)
    model = fwhm_module._StackedMoffat(dx, np.zeros_like(dx), np.ones_like(dx))
    # On the lower bound of beta: the caller's scipy fit takes it from there.
    assert fwhm_module._levenberg_marquardt(model, np.array([amp0, 2.0, 1.01]), 0.1) is None
