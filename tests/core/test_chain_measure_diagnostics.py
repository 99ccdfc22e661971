"""A frame's stored photometry keeps the curve of growth and the PSF the panel draws."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core import chain
from fluxion.core.chain.measure import load_photometry_diagnostics
from fluxion.core.io.sequence import scan
from fluxion.core.photometry import PhotometryParams
from fluxion.core.project.products import ProductStore
from fluxion.core.simulation.simulate import NightConfig, simulate_night

# A camera that needs no calibration, so that a PSF fit takes a second or two.
CONFIG = NightConfig(
    n_frames=1, shape=(256, 256), n_bias=0, n_dark=0, n_flat=0, bias_level=0.0,
    bias_column_rms=0.0, dark_current=0.0, hot_pixel_fraction=0.0, vignetting=0.0,
    n_dust=0, prnu=0.0, cosmic_ray_rate=0.0, seed=11,
)  # fmt: skip


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    out = tmp_path_factory.mktemp("diagnostics_night")
    simulate_night(out, CONFIG)
    return next(f for f in scan(out) if f.type == "light")


def _arrays_equal(a, b) -> None:
    assert (a is None) == (b is None)
    if a is not None:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_curve_of_growth_comes_back_exactly(frame, tmp_path: Path) -> None:
    store = ProductStore(tmp_path)
    result = chain.measure_photometry(store, frame, PhotometryParams())
    cog = result.curve_of_growth
    assert cog is not None and cog.star_flux is not None and len(cog.star_flux) >= 3
    kept = load_photometry_diagnostics(store, frame)
    assert kept is not None and kept.psf is None
    got = kept.curve_of_growth
    for name in (
        "radii", "field_fraction", "field_snr_fraction", "target_fraction",
        "target_snr_fraction", "star_flux", "star_variance", "star_area", "star_sky_err",
    ):  # fmt: skip
        _arrays_equal(getattr(got, name), getattr(cog, name))
    assert got.optimum_radius == cog.optimum_radius == result.aperture_radius
    assert (got.n_field_stars, got.rule) == (cog.n_field_stars, cog.rule)
    assert kept.annulus == pytest.approx(result.annulus, abs=0)
    # The aperture correction recomputed from the kept stars is the measured one.
    r = result.aperture_radius
    assert got.aperture_correction_with_error(r) == cog.aperture_correction_with_error(r)
    # The table is still current for the chain, and names the file by its digest.
    assert chain.photometry_frame(store, frame).meta["diagnostics"]["file"].endswith(".fits")


def test_psf_comes_back_exactly_and_a_stale_file_is_dropped(frame, tmp_path: Path) -> None:
    store = ProductStore(tmp_path)
    result = chain.measure_photometry(store, frame, replace(PhotometryParams(), method="psf"))
    psf = result.psf
    assert psf is not None
    kept = load_photometry_diagnostics(store, frame)
    assert kept.curve_of_growth is None
    np.testing.assert_array_equal(kept.psf.data, psf.data)
    assert kept.psf.data.dtype == np.float64
    assert (kept.psf.oversampling, kept.psf.fwhm, kept.psf.kind, kept.psf.n_stars) == (
        psf.oversampling, psf.fwhm, psf.kind, psf.n_stars,
    )  # fmt: skip
    np.testing.assert_equal(kept.psf.moffat_beta, psf.moffat_beta)
    # Apertures of a fixed radius measured after it: no PSF (nor curve), only their annulus.
    params = replace(PhotometryParams(), aperture_radius=5.0, aperture_correction=False)
    fixed = chain.measure_photometry(store, frame, params)
    again = load_photometry_diagnostics(store, frame)
    assert again.psf is None and again.curve_of_growth is None
    assert again.annulus == fixed.annulus


def test_a_file_not_written_with_the_table_is_not_read(frame, tmp_path: Path) -> None:
    store = ProductStore(tmp_path)
    chain.measure_photometry(store, frame, PhotometryParams())
    path = store.path("photometry", frame.path, ".diagnostics.fits")
    table = chain.load_photometry(store, frame)
    # As if a later run was stopped after its diagnostics and before its table.
    table.meta["diagnostics"]["sha256"] = "0" * 64
    fp = store.fingerprint_of("photometry", frame.path)
    store.write_table("photometry", frame.path, table, fp)
    assert path.exists() and load_photometry_diagnostics(store, frame) is None


def test_a_product_from_before_diagnostics_still_loads(frame, tmp_path: Path) -> None:
    store = ProductStore(tmp_path)
    result = chain.measure_photometry(store, frame, PhotometryParams())
    # The product as older versions wrote it: the table alone, without the reference.
    old = Table(result.table, copy=True)
    del old.meta["diagnostics"]
    store.write_table("photometry", frame.path, old, store.fingerprint_of("photometry", frame.path))
    store.path("photometry", frame.path, ".diagnostics.fits").unlink()
    table = chain.load_photometry(store, frame)
    assert len(table) == len(result.table)
    np.testing.assert_array_equal(table["flux"], result.table["flux"])
    assert load_photometry_diagnostics(store, frame) is None


def test_psf_grid_comes_back_as_its_grid(frame, tmp_path: Path) -> None:
    """A PSF that varies across the frame is kept as its grid (GriddedPSFModel layout)."""
    from fluxion.core.photometry.gridpsf import PSFField
    from fluxion.core.photometry.gridpsf.io import write_psf_grid
    from fluxion.core.photometry.synthetic import field_shape_of
    from fluxion.core.simulation.psf import FieldPSF

    grid = tmp_path / "grid.fits"
    shape = (256, 256)
    write_psf_grid(grid, field_shape_of(FieldPSF(shape, 3.0, 3.6)).to_field(shape, nodes=5))
    store = ProductStore(tmp_path / "project")
    params = replace(PhotometryParams(), method="psf", psf_file=str(grid))
    result = chain.measure_photometry(store, frame, params)
    assert isinstance(result.psf, PSFField) and result.psf.varies
    kept = load_photometry_diagnostics(store, frame)
    assert isinstance(kept.psf, PSFField)
    np.testing.assert_array_equal(kept.psf.xs, result.psf.xs)
    for x, y in [(0.0, 0.0), (255.0, 128.0), (100.0, 30.0)]:
        np.testing.assert_allclose(kept.psf.image_at(x, y), result.psf.image_at(x, y), atol=1e-12)
    # A new grid in the same file is a new measurement (its content is in the fingerprint).
    before = chain.photometry_fingerprint(store, frame, params)
    write_psf_grid(grid, field_shape_of(FieldPSF(shape, 3.0, 4.0)).to_field(shape, nodes=5))
    assert chain.photometry_fingerprint(store, frame, params) != before
