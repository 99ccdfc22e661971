"""The joint position step of the scene fitter (scene.centroids.joint_positions)."""

from __future__ import annotations

import numpy as np

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.photometry.scene.centroids import joint_positions
from fluxion.core.photometry.scene.design import build_design, psf_tables
from fluxion.core.photometry.scene.records import STAMP_SIZES, PlacedStars, SceneFrame

SHAPE = (48, 48)
SKY, RN = 100.0, 5.0
TABLES = psf_tables(analytic_psf("moffat", 3.5, beta=3.0), STAMP_SIZES)
# Two bright stars 2.2 px apart (0.6 FWHM): their light overlaps in the core.
X = np.array([22.3, 24.45])
Y = np.array([24.1, 24.55])
FLUX = np.array([30000.0, 20000.0])
SIZES = np.full(2, 31)


def _columns(x: np.ndarray, y: np.ndarray, derivatives: bool) -> np.ndarray:
    """Dense (pixels, columns) design of the stars: PSFs, then (with derivatives) d/dx, d/dy."""
    d = build_design(TABLES, x, y, SIZES, SHAPE, derivatives=derivatives)
    out = np.zeros((SHAPE[0] * SHAPE[1], d.n_columns))
    for c in range(d.n_columns):
        sl = slice(d.indptr[c], d.indptr[c + 1])
        np.add.at(out[:, c], d.rows[sl], d.vals[sl])
    cols = d.col_of_star
    order = list(cols[:, 0]) + (list(cols[:, 1]) + list(cols[:, 2]) if derivatives else [])
    return out[:, order]


def _image(x: np.ndarray, y: np.ndarray, flux: np.ndarray) -> np.ndarray:
    return (_columns(x, y, False) @ flux).reshape(SHAPE)


def _bounds(var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cramér-Rao bounds of both stars' x and flux with all six parameters free."""
    a = _columns(X, Y, True)
    a[:, 2:] *= np.r_[FLUX, FLUX][None, :]  # d model / d x0 = flux * d psf / d x0
    fisher = a.T @ (a / var.ravel()[:, None])
    cov = np.linalg.inv(fisher)
    sd = np.sqrt(np.diag(cov))
    return sd[2:4], sd[:2]


def test_a_blended_bright_pair_moves_to_its_place_at_the_bound():
    truth = _image(X, Y, FLUX)
    var = SKY + RN**2 + truth
    sigma_x, sigma_f = _bounds(var)
    frame_noise = NoiseModel(1.0, RN)
    background = np.full(SHAPE, SKY)
    rng = np.random.default_rng(5)
    dx, df = [], []
    for _ in range(60):
        img = SKY + truth + rng.normal(size=SHAPE) * np.sqrt(var)
        frame = SceneFrame.of(img, frame_noise, None, None, 1e-8)
        # Each star starts 0.15 px from its place, pushed apart.
        x, y = X + np.array([-0.15, 0.15]), Y.copy()
        for _ in range(2):
            stars = PlacedStars(x, y, FLUX, SIZES)
            x, y = joint_positions(frame, background, var, TABLES, stars, np.ones(2, bool))
        a = _columns(x, y, False)
        w = 1.0 / var.ravel()
        flux = np.linalg.solve(a.T @ (a * w[:, None]), a.T @ (w * (img - SKY).ravel()))
        dx.append(x - X)
        df.append(flux - FLUX)
    # The position and flux errors are those of the joint fit's optimum:
    # their scatter that of the bound, their mean far below it.
    for err, bound in ((np.array(dx), sigma_x), (np.array(df), sigma_f)):
        width = err.std(axis=0) / bound
        assert np.all((width > 0.75) & (width < 1.25)), width
        assert np.all(np.abs(err.mean(axis=0)) < 0.4 * bound), err.mean(axis=0) / bound


def test_stars_not_moving_keep_their_places():
    truth = _image(X, Y, FLUX)
    var = SKY + RN**2 + truth
    frame = SceneFrame.of(SKY + truth, NoiseModel(1.0, RN), None, None, 1e-8)
    x0, y0 = X + 0.2, Y - 0.1
    stars = PlacedStars(x0, y0, FLUX, SIZES)
    x, y = joint_positions(frame, np.full(SHAPE, SKY), var, TABLES, stars, np.array([True, False]))
    assert x[1] == x0[1] and y[1] == y0[1]
    # The moving star heads back to its place (a noiseless image).
    assert abs(x[0] - X[0]) < 0.5 * abs(x0[0] - X[0])
