"""The Photometry panel's view of the PSF across the field: the grid, its differences, the maps."""

from __future__ import annotations

import numpy as np
import pytest

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.app.panels.photometry_psfgrid import PsfGridView
from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.gridpsf.maps import psf_maps
from fluxion.core.photometry.synthetic import field_shape_of
from fluxion.core.simulation.psf import FieldPSF

SHAPE = (300, 400)


@pytest.fixture(scope="module")
def varying_maps():
    field = field_shape_of(FieldPSF(SHAPE)).to_field(SHAPE, nodes=5, size=25)
    field.meta["chosen"] = "degree 2"
    return psf_maps(field, SHAPE, nodes=3, mesh=5)


def test_maps_follow_the_true_field(varying_maps):
    m = varying_maps
    truth = FieldPSF(SHAPE)
    gx, gy = np.meshgrid(m.map_x, m.map_y)
    fwhm, ell, _ = truth.at(gx, gy)
    np.testing.assert_allclose(m.fwhm, fwhm, atol=0.03)
    np.testing.assert_allclose(m.ellipticity, ell, atol=0.01)
    # Tiles: 3 x 3 PSFs; the centre tile is the sharpest, so its difference from the
    # mean is positive at the core and the corners' negative.
    t = m.tile
    assert m.tiles.shape == (3 * t, 3 * t)
    c = t // 2
    assert m.deltas[t + c, t + c] > 0
    assert m.deltas[c, c] < 0
    assert m.varies and m.label.endswith("(degree 2)")


def test_view_draws_grid_differences_and_maps(qtbot, varying_maps):
    view = PsfGridView()
    qtbot.addWidget(view)
    view.set_maps(varying_maps)
    grid = view.grid_image.image.copy()
    assert grid.shape == varying_maps.tiles.shape
    view.deltas.setChecked(True)
    np.testing.assert_allclose(view.grid_image.image, varying_maps.deltas)
    assert not np.allclose(view.grid_image.image, grid)
    np.testing.assert_allclose(view.fwhm_image.image, varying_maps.fwhm)
    lo, hi = varying_maps.fwhm_range
    assert f"FWHM {lo:.2f}-{hi:.2f} px" in view.caption.text()
    assert "ellipticity 0.00-0.3" in view.caption.text()
    view.set_maps(None)
    assert view.grid_image.image is None
    assert "aperture" in view.caption.text()


def test_one_psf_shows_one_tile_and_says_so(qtbot):
    maps = psf_maps(analytic_psf("moffat", 3.0), SHAPE)
    assert not maps.varies and maps.tiles.shape == (maps.tile, maps.tile)
    assert maps.fwhm[0, 0] == pytest.approx(3.0, abs=0.02)
    view = PsfGridView()
    qtbot.addWidget(view)
    view.set_maps(maps)
    assert view.caption.text().startswith("One PSF for the frame")
