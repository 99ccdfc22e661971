"""A varying PSF's shape refitted on every bright star's own neighbour-free stamp."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_photometry_field_psf import flux_scale

from fluxion.core.photometry.scene.design import build_design, psf_tables
from fluxion.core.photometry.scene.psf_update import refit_field_on_stamps, select_psf_stars
from fluxion.core.photometry.scene.records import NoisyImage, PlacedStars, SceneStars
from fluxion.core.photometry.synthetic import field_shape_of, star_field
from fluxion.core.simulation.psf import FieldPSF

SHAPE = (512, 512)


@pytest.fixture(scope="module")
def crowded():
    # Case FB's density (5000 stars in 1024^2) and PSF (FWHM 2.5 -> 4.5 px, e 0 -> 0.3).
    return star_field(SHAPE, 1250, seed=31, field_psf=FieldPSF(SHAPE))


def test_every_bright_star_shapes_the_field_psf(crowded):
    f = crowded
    truth = field_shape_of(FieldPSF(SHAPE))
    # The scene's PSF before the refit: beta 0.1 low, FWHM 3 % wide.
    start_shape = dataclasses.replace(truth, beta=2.9, fwhm=truth.fwhm * 1.03)
    start = start_shape.to_field(SHAPE)
    start.meta["shape"] = start_shape
    tx, ty, tf = (np.asarray(f.truth[c], dtype=np.float64) for c in ("x", "y", "flux"))
    sizes = np.full(len(tx), 31)
    image = f.image * f.gain - f.sky
    var = f.sky + f.read_noise**2 + np.maximum(image, 0)

    def refit(psf):
        # Every star subtracted at its true place and flux with the scene's PSF.
        tables = psf_tables(psf, (11, 19, 31, 63))
        model = build_design(tables, tx, ty, sizes, SHAPE, derivatives=False).image(tf)
        resid = NoisyImage(image - model, var, np.zeros(SHAPE, bool))
        placed = PlacedStars(tx[chosen], ty[chosen], tf[chosen], sizes[chosen])
        return refit_field_on_stamps(resid, placed, psf, tables)

    noise = np.sqrt(f.sky + f.read_noise**2 + tf * 0.02)
    stars = SceneStars.new(tx, ty, tf, False)
    stars.snr = tf / (3 * noise)
    own = np.ones(len(tx))
    bad = np.zeros(len(tx), bool)
    chosen = select_psf_stars(stars, own, bad, SHAPE, max_stars=5000, alone=0.0, apart=False)
    apart = select_psf_stars(stars, own, bad, SHAPE, max_stars=5000)
    # Most bright stars of a crowded frame have another within a stamp.
    assert len(chosen) > 2 * len(apart)
    # As the scene's passes: the neighbours drawn again with each refit's PSF.
    first = refit(start)
    assert first is not start and first.n_stars > 0.8 * len(chosen)
    new = refit(first)
    assert new.moffat_beta == pytest.approx(3.0, abs=0.02)
    # A 3e4 e- star's flux with the refitted PSF, per region, in units of its noise.
    before = flux_scale(f, start, 3e4)
    after = flux_scale(f, new, 3e4)
    assert np.abs(before).min() > 0.5
    # One frame's PSF from ~500 stars: its own noise is a few 0.01 sigma.
    assert np.abs(after).max() < 0.2
    assert np.abs(after).mean() < 0.15
