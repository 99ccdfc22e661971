"""The flux errors' confusion term: honest pulls in a crowded frame, no change in a sparse one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from astropy.stats import biweight_scale
from scipy.spatial import cKDTree

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.photometry.scene.fitter import SceneSettings, fit_scene
from fluxion.core.photometry.synthetic import star_field

SKY, RN = 100.0, 5.0
PSF = analytic_psf("moffat", 3.5, beta=3.0)
NOISE = NoiseModel(1.0, RN)
BINS = ((300.0, 3e3), (3e3, 1e5))


def _scene(field, confusion: bool = True):
    settings = replace(SceneSettings(), psf_refit=False, confusion_errors=confusion)
    return fit_scene(field.image, noise=NOISE, psf=PSF, settings=settings)


def _fit(n_stars: int, seed: int):
    field = star_field((512, 512), n_stars, sky=SKY, read_noise=RN, seed=seed)
    res = _scene(field)
    t, tr = res.table, field.truth
    tf = np.asarray(tr["flux"], dtype=float)
    d, i = cKDTree(np.c_[t["x"], t["y"]]).query(np.c_[tr["x"], tr["y"]])
    found = d < 1.0
    flux = np.asarray(t["flux"])[i[found]]
    err = np.asarray(t["flux_err"])[i[found]]
    return field, tf[found], flux, err, found


@pytest.fixture(scope="module")
def crowded():
    """Case B's density (5000 stars per 1024^2) on a quarter of its area, two frames."""
    runs = [_fit(1250, seed) for seed in (21, 22)]
    return [np.concatenate(parts) for parts in zip(*(r[1:4] for r in runs), strict=True)]


def test_crowded_flux_pulls_are_near_one_in_every_bin(crowded):
    tf, flux, err = crowded
    pulls = (flux - tf) / err
    for lo, hi in BINS:
        s = (tf >= lo) & (tf < hi)
        assert s.sum() > 300
        # Seeds 21, 22: 1.145 and 1.116 without the confusion term, 1.097
        # and 1.082 with it (case B, 8 frames: 1.07-1.13 -> 1.04-1.09).
        assert 0.85 < biweight_scale(pulls[s]) < 1.15, (lo, biweight_scale(pulls[s]))


def test_only_the_flux_errors_change():
    field = star_field((512, 512), 1250, sky=SKY, read_noise=RN, seed=21)
    new, old = _scene(field), _scene(field, confusion=False)
    for c in ("x", "y", "flux", "x_err", "y_err"):
        np.testing.assert_array_equal(np.asarray(new.table[c]), np.asarray(old.table[c]))
    ratio = np.asarray(new.table["flux_err"]) / np.asarray(old.table["flux_err"])
    assert np.all(ratio >= 1.0)
    # Noise alone lifts about half the stars' chi-square above its
    # expectation; the term is no blanket factor.
    assert 0.2 < np.mean(ratio > 1.0) < 0.8
    assert np.median(ratio) < 1.05


def test_sparse_errors_stay_at_the_bound():
    field, tf, flux, err, found = _fit(125, 23)
    bound = np.asarray(field.bound(np.asarray(field.truth["flux"], dtype=float)).sigma_flux)
    ratio = err / bound[found]
    s = tf > 300
    assert s.sum() > 60
    # Alone, a star's error is its Cramer-Rao bound; the confusion term
    # must leave it (seed 23: median 1.001 without it, 1.006 with it;
    # noise alone lifts the chi-square of half the stars a little above
    # its expectation).
    assert 0.97 < np.median(ratio[s]) < 1.05, np.median(ratio[s])
    pulls = (flux[s] - tf[s]) / err[s]
    assert 0.8 < biweight_scale(pulls) < 1.15
