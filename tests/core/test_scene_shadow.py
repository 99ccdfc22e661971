"""The scene fitter's final significance test: a star's S/N with brighter neighbours free."""

from __future__ import annotations

import numpy as np

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.scene.design import build_design, psf_tables
from fluxion.core.photometry.scene.records import STAMP_SIZES
from fluxion.core.photometry.scene.shadow import shadow_factor

SHAPE = (64, 64)
SKY, RN = 100.0, 5.0


def _factor(dx: float, faint: float = 300.0, bright: float = 3e4) -> float:
    psf = analytic_psf("moffat", 3.5, beta=3.0)
    tables = psf_tables(psf, STAMP_SIZES)
    x = np.array([31.3, 31.3 + dx])
    y = np.array([30.6, 30.6 + 0.4 * dx])
    flux = np.array([bright, faint])
    sizes = np.array([31, 19])
    sqrt_w = np.full(SHAPE, 1.0 / np.sqrt(SKY + RN**2))
    return float(shadow_factor(tables, x, y, flux, sizes, sqrt_w, radius=7.0)[1])


def _dense_factor(dx: float) -> float:
    """sqrt(1 - R^2) of the faint star's column on the bright one's flux and shift columns."""
    psf = analytic_psf("moffat", 3.5, beta=3.0)
    tables = psf_tables(psf, STAMP_SIZES)
    x = np.array([31.3, 31.3 + dx])
    y = np.array([30.6, 30.6 + 0.4 * dx])
    d = build_design(tables, x, y, np.array([19, 19]), SHAPE, derivatives=np.array([True, False]))
    cols = []
    for c in (d.col_of_star[1, 0], *d.col_of_star[0]):
        coef = np.zeros(d.n_columns)
        coef[c] = 1.0
        cols.append(d.image(coef).ravel())
    a = np.array(cols).T
    target, others = a[:, 0], a[:, 1:]
    fit, *_ = np.linalg.lstsq(others, target, rcond=None)
    left = target - others @ fit
    return float(np.sqrt(left @ left / (target @ target)))


def test_split_beside_a_bright_star_loses_its_significance():
    # A "star" 1 px from one 100 times brighter is mostly the bright star's
    # shift: freeing it leaves a small fraction of the faint star's S/N.
    assert _factor(1.0) < 0.35
    # At 6 px the two are nearly independent.
    assert _factor(6.0) > 0.9


def test_factor_matches_a_dense_least_squares_projection():
    for dx in (1.0, 2.0, 4.0):
        assert abs(_factor(dx) - _dense_factor(dx)) < 0.03


def test_no_brighter_neighbour_keeps_the_isolated_snr():
    psf = analytic_psf("moffat", 3.5, beta=3.0)
    tables = psf_tables(psf, STAMP_SIZES)
    x, y = np.array([20.0, 44.0]), np.array([20.0, 40.0])
    sqrt_w = np.full(SHAPE, 0.1)
    flux, sizes = np.array([500.0, 800.0]), np.array([19, 19])
    f = shadow_factor(tables, x, y, flux, sizes, sqrt_w, radius=7.0)
    np.testing.assert_array_equal(f, 1.0)
    # The brighter of a pair is never tested against the fainter.
    f = shadow_factor(
        tables, np.array([30.0, 31.5]), np.array([30.0, 30.0]), np.array([300.0, 3e4]),
        np.array([19, 31]), sqrt_w, radius=7.0,
    )  # fmt: skip
    assert f[1] == 1.0 and f[0] < 0.5


def test_explained_leaves_out_a_split_not_a_lone_faint_star_nor_a_saturated_one():
    from astropy.table import Table

    from fluxion.core.photometry.flags import PhotometryFlag as F
    from fluxion.core.photometry.scene.records import NoisyImage
    from fluxion.core.photometry.scene.shadow import explained

    psf = analytic_psf("moffat", 3.5, beta=3.0)
    tables = psf_tables(psf, STAMP_SIZES)
    var = np.full(SHAPE, SKY + RN**2)
    noisy = NoisyImage(np.zeros(SHAPE), var, np.zeros(SHAPE, bool))
    # A 3e4 e- star, a 6-sigma "star" 1 px from it (its fitted isolated error
    # makes it one), a lone 6-sigma star 20 px away, and a split flagged saturated.
    err = 50.0
    t = Table(
        {
            "x": [31.3, 32.3, 12.0, 32.3],
            "y": [30.6, 31.0, 50.0, 29.5],
            "flux": [3e4, 6 * err, 6 * err, 6 * err],
            "flux_err": [200.0, err, err, err],
            "flags": [0, 0, 0, int(F.SATURATED)],
            "stamp": [31, 19, 19, 19],
        }
    )
    out = explained(t, noisy, tables, snr=4.5, radius=7.0)
    assert out.tolist() == [False, True, False, False]
    # 0 turns the test off.
    assert not explained(t, noisy, tables, snr=0.0, radius=7.0).any()
