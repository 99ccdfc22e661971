"""The chain's photometry and zero point: header-WCS fallback, full results, kept trajectory."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table

from fluxion.core import chain
from fluxion.core.astrometry import SolveParams
from fluxion.core.io.sequence import scan
from fluxion.core.photometry import PhotometryParams
from fluxion.core.project.products import ProductStore
from fluxion.core.simulation.simulate import NightConfig, read_truth_wcs, simulate_night
from fluxion.core.zeropoint import ZeroPointParams

# Lights only, with the exact WCS in their headers (as some camera software writes one).
CONFIG = NightConfig(
    n_frames=1, shape=(320, 320), n_bias=0, n_dark=0, n_flat=0, write_wcs=True, seed=5
)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("measure_night")
    simulate_night(out, CONFIG)
    return out


def _light(folder: Path):
    return next(f for f in scan(folder) if f.type == "light")


def _truth(night: Path, frame):
    return read_truth_wcs(night / "truth" / f"{frame.path.stem}.wcs.fits")


def _sky_error_arcsec(wcs, truth) -> np.ndarray:
    gx, gy = np.meshgrid(np.linspace(20, 300, 5), np.linspace(20, 300, 5))
    a = wcs.pixel_to_world(gx.ravel(), gy.ravel())
    return a.separation(truth.pixel_to_world(gx.ravel(), gy.ravel())).arcsec


def test_unsolved_frame_is_calibrated_through_its_header_wcs(night, tmp_path):
    store = ProductStore(tmp_path)
    frame = _light(night)
    truth = _truth(night, frame)
    assert chain.load_solution(store, frame) is None
    wcs = chain.frame_wcs(store, frame)
    assert wcs is not None and np.max(_sky_error_arcsec(wcs, truth)) < 0.01
    table = chain.photometry_frame(store, frame)
    # Sky positions of the measured stars are the truth WCS's at their pixels (arcsec).
    measured = SkyCoord(table["ra"], table["dec"], unit="deg")
    expected = truth.pixel_to_world(np.asarray(table["x"]), np.asarray(table["y"]))
    assert np.nanmax(measured.separation(expected).arcsec) < 0.01
    assert table.meta["pixel_scale"] == pytest.approx(CONFIG.pixel_scale, rel=0.01)
    catalog = Table.read(night / "truth/reference_catalog.ecsv")
    zp = chain.zeropoint_frame(store, frame, ZeroPointParams(), catalog)
    assert zp.calibrated, zp.reason
    expected_zp = CONFIG.zero_point - CONFIG.extinction * frame.airmass
    assert abs(zp.zero_point - expected_zp) < max(5 * zp.zero_point_err, 0.06)


def test_solution_is_preferred_to_the_header_wcs(night, tmp_path):
    # A copy of the light whose header WCS is 30 arcsec off (inputs are never modified).
    folder = tmp_path / "night"
    folder.mkdir()
    original = _light(night)
    shutil.copy(original.path, folder / original.path.name)
    with fits.open(folder / original.path.name, mode="update") as hdul:
        hdul[0].header["CRVAL2"] = hdul[0].header["CRVAL2"] + 30 / 3600
    frame = _light(folder)
    truth = _truth(night, original)
    store = ProductStore(tmp_path / "project")
    off = _sky_error_arcsec(chain.frame_wcs(store, frame), truth)
    assert np.median(off) == pytest.approx(30, abs=1)
    catalog = night / "truth/reference_catalog.ecsv"
    params = SolveParams(catalog="Local file", catalog_file=str(catalog))
    assert chain.solve_frame(store, frame, params).solved
    assert np.median(_sky_error_arcsec(chain.frame_wcs(store, frame), truth)) < 0.5
    # Without the project, the header's own WCS.
    assert np.median(_sky_error_arcsec(chain.frame_wcs(None, frame), truth)) > 29


def test_measure_photometry_keeps_diagnostics_and_stores_the_chain_table(night, tmp_path):
    store = ProductStore(tmp_path)
    frame = _light(night)
    params = PhotometryParams()
    result = chain.measure_photometry(store, frame, params)
    assert result.curve_of_growth is not None and result.aperture_radius is not None
    # The stored table is current for the chain: photometry_frame reads it back as is.
    stored = chain.photometry_frame(store, frame, params)
    assert len(stored) == len(result.table) > 20
    np.testing.assert_allclose(stored["flux"], result.table["flux"], rtol=1e-6)
    # Without a project nothing is written next to the input files.
    before = sorted(p.name for p in night.rglob("*"))
    loose = chain.measure_photometry(None, frame, params)
    np.testing.assert_allclose(loose.table["flux"], result.table["flux"], rtol=1e-6)
    assert sorted(p.name for p in night.rglob("*")) == before


def test_zero_point_trajectory_is_kept_with_the_product(night, tmp_path):
    store = ProductStore(tmp_path)
    frame = _light(night)
    catalog = Table.read(night / "truth/reference_catalog.ecsv")
    chain.photometry_frame(store, frame)
    fitted = chain.zeropoint_frame(store, frame, ZeroPointParams(), catalog)
    assert fitted.calibrated and len(fitted.trajectory) > 1
    loaded = chain.load_zeropoint(store, frame)
    np.testing.assert_allclose(
        loaded.trajectory["zero_point"], fitted.trajectory["zero_point"], rtol=1e-9
    )
    assert list(loaded.trajectory["chosen"]) == list(fitted.trajectory["chosen"])
    # A product made before the trajectory was kept is fitted again, to the same numbers.
    store.path("zeropoint", frame.path, ".trajectory.ecsv").unlink()
    again = chain.zeropoint_frame(store, frame, ZeroPointParams(), catalog)
    assert len(again.trajectory) == len(fitted.trajectory)
    assert again.zero_point == pytest.approx(fitted.zero_point, abs=1e-9)
    assert store.path("zeropoint", frame.path, ".trajectory.ecsv").exists()


def test_photometry_of_given_positions_is_stored_under_their_fingerprint(night, tmp_path):
    store = ProductStore(tmp_path)
    frame = _light(night)
    params = PhotometryParams()
    truth = Table.read(night / "truth" / f"{frame.path.stem}.ecsv")
    xy = np.column_stack([truth["x"], truth["y"]])[:30]
    table = chain.photometry_frame(store, frame, params, xy)
    np.testing.assert_allclose(table["x"], xy[:, 0], atol=1e-9)
    # The fingerprint made once for the current-product check is the stored one.
    fp = chain.photometry_fingerprint(store, frame, params, xy)
    assert store.fingerprint_of("photometry", frame.path) == fp
    assert store.is_current("photometry", frame.path, fp)
    # Other positions are another measurement.
    moved = xy + 0.5
    assert chain.photometry_fingerprint(store, frame, params, moved) != fp
    again = chain.photometry_frame(store, frame, params, moved)
    np.testing.assert_allclose(again["x"], moved[:, 0], atol=1e-9)
    assert store.fingerprint_of("photometry", frame.path) == chain.photometry_fingerprint(
        store, frame, params, moved
    )
