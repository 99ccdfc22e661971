"""The posterior of a faint star's position: calibrated against the truth, and the cut it makes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial import cKDTree

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.photometry.scene.design import build_design, psf_tables
from fluxion.core.photometry.scene.fitter import SceneSettings, fit_scene
from fluxion.core.photometry.scene.located import position_probability
from fluxion.core.photometry.scene.records import STAMP_SIZES, NoisyImage, PlacedStars

SHAPE = (512, 512)
SKY, RN, FLUX = 100.0, 5.0, 500.0  # S/N ~ 5.8 for the Moffat below: 0.4 px per axis
PSF = analytic_psf("moffat", 3.5, beta=3.0)
TABLES = psf_tables(PSF, STAMP_SIZES)
NOISE = NoiseModel(1.0, RN)


def _frame(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """625 isolated faint stars on a 20 px grid (random sub-pixel places) and their noisy frame."""
    rng = np.random.default_rng(seed)
    g = np.arange(12.0, 500.0, 20.0)
    x, y = (v.ravel() + rng.uniform(-0.5, 0.5, v.size) for v in np.meshgrid(g, g))
    d = build_design(TABLES, x, y, np.full(len(x), 31), SHAPE, derivatives=False)
    coef = np.zeros(d.n_columns)
    coef[d.col_of_star[:, 0]] = FLUX
    truth = SKY + d.image(coef)
    return x, y, truth + rng.normal(size=SHAPE) * np.sqrt(truth + RN**2)


def _fitted_flux(t) -> np.ndarray:
    """The forced pass's fluxes (the model's): the reported ones are debiased by err^2 / flux."""
    f, e = np.asarray(t["flux"], dtype=np.float64), np.asarray(t["flux_err"], dtype=np.float64)
    return 0.5 * (f + np.sqrt(f * f + 4.0 * e * e))


def _probability(result) -> np.ndarray:
    t = result.table
    stars = PlacedStars(
        np.asarray(t["x"], dtype=np.float64),
        np.asarray(t["y"], dtype=np.float64),
        _fitted_flux(t),
        np.asarray(t["stamp"]),
    )
    residual = NoisyImage(
        result.residual, NOISE.variance(result.model), np.zeros(result.residual.shape, bool)
    )
    return position_probability(residual, TABLES, stars, radius=1.0)


@pytest.fixture(scope="module")
def fits():
    """Per frame: the truth, the scene without the cut, and with it."""
    out = []
    for seed in range(3):
        x, y, img = _frame(seed)
        runs = [
            fit_scene(
                img,
                noise=NOISE,
                psf=PSF,
                settings=replace(SceneSettings(), psf_refit=False, located_probability=p),
            )
            for p in (0.0, 0.75)
        ]
        out.append(((x, y), *runs))
    return out


def test_the_position_posterior_is_calibrated(fits):
    dist, prob = [], []
    for (x, y), all_stars, _ in fits:
        t = all_stars.table
        dist.append(cKDTree(np.c_[x, y]).query(np.c_[t["x"], t["y"]])[0])
        prob.append(_probability(all_stars))
    d, p = np.concatenate(dist), np.concatenate(prob)
    off = d > 1.0
    expected = float(np.sum(1.0 - p))
    # The stars found more than 1 px from their true place (99 of 1740)
    # are about as many as the posterior says (140: it is wider than the
    # Cramér-Rao error, which alone predicts ~75); a posterior off by more
    # than a factor of two would be no guide.
    assert expected / 2.0 < off.sum() < 2.0 * expected
    # And it tells which they are: among the stars it gives less than
    # 0.75, misplaced ones are several times more common (30 % of 44
    # against 5 %).
    low = p < 0.75
    assert low.sum() > 30
    assert off[low].mean() > 3.0 * off[~low].mean()


def test_the_cut_leaves_out_exactly_the_unlikely_stars(fits):
    for _, all_stars, cut in fits:
        t_all, t_cut = all_stars.table, cut.table
        p = _probability(all_stars)
        snr = _fitted_flux(t_all) / np.asarray(t_all["flux_err"])
        # Stars above S/N 3 FWHM / radius are not tested (their position
        # is certain to far better than 1e-4).
        dropped = (p < 0.75) & (snr < 3.0 * PSF.fwhm)
        assert len(t_cut) == len(t_all) - dropped.sum()
        kept = np.c_[t_all["x"], t_all["y"]][~dropped]
        d, i = cKDTree(kept).query(np.c_[t_cut["x"], t_cut["y"]])
        assert np.all(d < 1e-6)
        # The model is the same: the kept stars' fluxes do not change.
        flux_kept = np.asarray(t_all["flux"])[~dropped][i]
        np.testing.assert_allclose(np.asarray(t_cut["flux"]), flux_kept, rtol=1e-9)


def test_in_a_crowded_field_the_stars_left_out_are_mostly_misplaced():
    # Case B's density (5000 stars per 1024^2) on a quarter of its area:
    # ~980 reported stars a frame, ~12 of them more than 1 px from any
    # true star (the true PSF given).
    from fluxion.core.photometry.synthetic import star_field

    misplaced, unlikely = [], []
    for seed in (11, 12, 13):
        field = star_field((512, 512), 1250, sky=SKY, read_noise=RN, seed=seed)
        result = fit_scene(
            field.image,
            noise=NOISE,
            psf=PSF,
            settings=replace(SceneSettings(), psf_refit=False, located_probability=0.0),
        )
        t = result.table
        truth = np.c_[field.truth["x"], field.truth["y"]]
        misplaced.append(cKDTree(truth).query(np.c_[t["x"], t["y"]])[0] > 1.0)
        snr = _fitted_flux(t) / np.asarray(t["flux_err"])
        unlikely.append((_probability(result) < 0.75) & (snr < 3.0 * PSF.fwhm))
    off, low = np.concatenate(misplaced), np.concatenate(unlikely)
    # The cut takes out a small part of the table (15 of 2936 stars, 5 of
    # them misplaced), and the stars it leaves out are misplaced many
    # times more often (1 in 3) than those it keeps (1 in 94).
    assert low.sum() < 0.02 * len(low)
    assert off[low].mean() > 5.0 * off[~low].mean()


def test_the_posterior_equals_drawing_the_star_at_every_trial_position():
    """The phase-stamp sums give each trial's chi-square drop as drawing its own stamp does.

    Stars of zero flux: the residual holds their light, so the posterior
    is that of each star's position alone, computed directly here in
    double precision, one 11 px stamp per trial position.
    """
    x, y, img = _frame(7)
    rng = np.random.default_rng(8)
    pick = rng.choice(len(x), 40, replace=False)
    # Fitted positions up to 1.5 px from the truth: probabilities across [0, 1].
    fx, fy = x[pick] + rng.uniform(-1.5, 1.5, 40), y[pick] + rng.uniform(-1.5, 1.5, 40)
    var = NOISE.variance(np.clip(img, 0.0, None))
    residual = NoisyImage(img - SKY, var, np.zeros(SHAPE, bool))
    stars = PlacedStars(fx, fy, np.zeros(40), np.full(40, 19))
    got = position_probability(residual, TABLES, stars, radius=1.0)
    g = np.arange(-2.5, 2.5 + 1.0 / 6.0, 1.0 / 3.0)
    gx, gy = (a.ravel() for a in np.meshgrid(g, g))
    inner = np.clip((1.0 - np.hypot(gx, gy)) * 3.0 + 0.5, 0.0, 1.0)
    table, d = TABLES[11].p.astype(np.float64), np.arange(-5, 6)
    want = np.empty(40)
    for i in range(40):
        tx, ty = fx[i] + gx, fy[i] + gy
        xi, yi = np.floor(tx + 0.5).astype(int), np.floor(ty + 0.5).astype(int)
        mx = np.clip(np.floor((tx - xi + 0.5) * 16), 0, 15).astype(int)
        my = np.clip(np.floor((ty - yi + 0.5) * 16), 0, 15).astype(int)
        logp = np.empty(len(gx))
        for k in range(len(gx)):
            rows, cols = np.ix_(yi[k] + d, xi[k] + d)
            a, w = table[my[k], mx[k]], residual.weight[rows, cols]
            awa, awd = np.sum(a * a * w), np.sum(a * w * residual.image[rows, cols])
            logp[k] = 0.5 * max(awd, 0.0) ** 2 / awa - 0.5 * np.log(awa)
        post = np.exp(logp - logp.max())
        want[i] = post @ inner / post.sum()
    assert want.min() < 0.1 and want.max() > 0.9
    np.testing.assert_allclose(got, want, atol=1e-5)
