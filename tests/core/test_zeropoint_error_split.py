"""The split of a calibrated magnitude's error into per-frame noise and the night's common part.

A zero point that is the weighted mean of the calibration stars'
``m_cat - m_inst`` carries their measurement noise (new in every frame) and
their catalog errors (the same in every frame): ``mag_err`` must hold the
first, ``mag_err_sys`` the second, and together the whole model error.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.zeropoint.apply import calibrated_table, split_calibration_error
from fluxion.core.zeropoint.fit import fit_zero_point


def _frame(intrinsic: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = 30
    own = rng.uniform(0.002, 0.03, n)
    cat = rng.uniform(0.005, 0.03, n)
    delta = 25.0 + rng.normal(0.0, np.hypot(own, cat))
    fit = fit_zero_point(delta, np.hypot(own, cat), intrinsic_scatter=intrinsic,
                         rejection_sigma=10.0)  # fmt: skip
    x, y = rng.uniform(0, 500, n), rng.uniform(0, 500, n)
    stars = Table({"used": fit.used, "colour": np.zeros(n), "x": x, "y": y,
                   "mag_inst_err": own, "mag_catalog_err": cat})  # fmt: skip
    # Sources that are not calibration stars.
    sources = Table({"x": [10.0, 250.0, 490.0], "y": [20.0, 250.0, 480.0]})
    inst_err = np.array([0.001, 0.01, 0.05])
    table = calibrated_table(sources, np.array([-10.0, -8.0, -5.0]), inst_err, fit=fit)
    return fit, stars, table, own, cat, inst_err


def test_noise_share_is_the_weighted_mean_of_the_stars_noise():
    fit, stars, table, own, cat, inst_err = _frame(intrinsic=False)
    assert fit.used.all()
    total = np.asarray(table["mag_err"]).copy()
    split_calibration_error(table, stars, fit)
    w = 1.0 / (own**2 + cat**2)
    noise = np.sqrt(np.sum(w**2 * own**2)) / np.sum(w)
    common = np.sqrt(np.sum(w**2 * cat**2)) / np.sum(w)
    assert np.asarray(table["mag_err"]) == pytest.approx(np.hypot(inst_err, noise), rel=1e-9)
    assert np.asarray(table["mag_err_sys"]) == pytest.approx(np.full(3, common), rel=1e-9)
    # Nothing lost, nothing counted twice.
    whole = np.hypot(table["mag_err"], table["mag_err_sys"])
    assert np.asarray(whole) == pytest.approx(total, rel=1e-9)


def test_intrinsic_scatter_goes_to_the_common_part():
    fit, stars, table, own, cat, inst_err = _frame(intrinsic=True, seed=3)
    total = np.asarray(table["mag_err"]).copy()
    split_calibration_error(table, stars, fit)
    whole = np.hypot(table["mag_err"], table["mag_err_sys"])
    assert np.asarray(whole) == pytest.approx(total, rel=1e-9)
    assert np.all(np.asarray(table["mag_err"]) >= inst_err)
    assert np.all(np.asarray(table["mag_err_sys"]) > 0)


def test_uncalibrated_frame_has_no_common_part():
    table = calibrated_table(Table({"x": [1.0], "y": [2.0]}), np.array([-9.0]),
                             np.array([0.01]), fit=None, reason="no catalog")  # fmt: skip
    assert float(table["mag_err_sys"][0]) == 0.0
    assert float(table["mag_err"][0]) == pytest.approx(0.01)
