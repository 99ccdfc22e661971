"""The stars' light beyond their stamps, as the sky must not take it."""

from __future__ import annotations

import numpy as np

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.scene.design import build_design, psf_tables
from fluxion.core.photometry.scene.records import STAMP_SIZES
from fluxion.core.photometry.scene.wings import beyond_stamps


def test_wings_are_the_whole_stars_minus_their_stamps():
    tables = psf_tables(analytic_psf("moffat", 3.5, beta=3.0), STAMP_SIZES)
    rng = np.random.default_rng(1)
    n, shape = 2000, (512, 512)
    x, y = rng.uniform(0, 511, n), rng.uniform(0, 511, n)
    flux = 10 ** rng.uniform(2, 5, n)
    sizes = rng.choice(np.array(STAMP_SIZES), n)

    def draw(s):
        d = build_design(tables, x, y, s, shape, derivatives=False)
        coef = np.zeros(d.n_columns)
        coef[d.col_of_star[:, 0]] = flux
        return d.image(coef)

    exact = draw(np.full(n, 63)) - draw(sizes)
    wings = beyond_stamps(shape, x, y, flux, sizes, tables[63].p[8, 8])
    # What the sky sees, with each star at its nearest pixel (the light
    # beyond an 11 px box changes with the star's place in its pixel): the
    # total within 3%, 64 px cells within 10%.
    assert exact.mean() > 0.5  # e-/px: several times a faint star's flux error per px
    assert abs(wings.mean() / exact.mean() - 1) < 0.03
    cells = [a.reshape(8, 64, 8, 64).mean(axis=(1, 3)) for a in (exact, wings)]
    np.testing.assert_allclose(cells[1], cells[0], rtol=0.1)
    # Nothing inside the stamps: where every star's stamp is 63 px, no wings.
    assert np.abs(beyond_stamps(shape, x, y, flux, np.full(n, 63), tables[63].p[8, 8])).max() < 1e-9
