"""The design's stamps of a varying PSF hold each star's own wings, out to the largest stamp."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.photometry.scene.design import build_design, psf_tables
from fluxion.core.photometry.synthetic import field_shape_of
from fluxion.core.simulation.psf import FieldPSF

SHAPE = (1024, 1024)
SIZE = 63


@pytest.fixture(scope="module")
def field():
    # Case FB's PSF: FWHM 2.5 px at the centre to 4.5 px in the corners, beta 3.
    true = FieldPSF(SHAPE)
    psf = field_shape_of(true).to_field(SHAPE)
    return true, psf_tables(psf, (11, 19, 31, SIZE))


@pytest.mark.parametrize("x, y", [(511.3, 512.6), (60.4, 61.7), (963.2, 60.6), (300.5, 700.2)])
def test_wings_beyond_15_px_are_the_stars_own(field, x, y):
    true, tables = field
    h = SIZE // 2
    drawn = build_design(
        tables, np.array([x]), np.array([y]), np.array([SIZE]), SHAPE, derivatives=False
    )
    c = np.zeros(drawn.n_columns)
    c[drawn.col_of_star[:, 0]] = 1.0
    image = np.pad(drawn.image(c), h)
    cx, cy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
    model = image[cy : cy + SIZE, cx : cx + SIZE]
    sim = true.stamp(SIZE, x, y, cx, cy)
    d = np.arange(-h, h + 1)
    r = np.hypot(d[None, :] + cx - x, d[:, None] + cy - y)
    far = r >= 15
    # The simulator holds 0.0007 (centre) to 0.0044 (corners) of the flux
    # there. A wing off by 1e-3 of every star's flux (the field's mean PSF
    # drawn for all) shifts a crowded frame's sky by 0.03-0.06 e-/px, one
    # sign over most of it; 1e-4 is a tenth of that.
    assert model[far].sum() == pytest.approx(sim[far].sum(), abs=1e-4)
    assert model.sum() == pytest.approx(sim.sum(), abs=1e-4)
    # Within 15 px, the encircled energy at 3, 5 and 8 px as the simulator's.
    for radius in (3, 5, 8):
        assert model[r < radius].sum() == pytest.approx(sim[r < radius].sum(), abs=1e-3)
