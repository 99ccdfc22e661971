"""Solutions go into the project's calibrated frames, never into the inputs."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from fluxion.core import chain
from fluxion.core.astrometry import SolveParams
from fluxion.core.io.sequence import scan
from fluxion.core.project.products import ProductStore
from fluxion.core.runtime.quiet import quiet
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=2, shape=(256, 256), n_bias=1, n_dark=1, n_flat=1, write_wcs=False)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("solved_night")
    simulate_night(out, CONFIG)
    return out


def _wcs(header: fits.Header) -> WCS:
    with quiet():  # DATE-OBS -> MJD-OBS notes from astropy
        return WCS(header)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_solution_is_written_into_the_calibrated_frame_only(night, tmp_path):
    store = ProductStore(tmp_path)
    frames = scan(night)
    lights = [f for f in frames if f.type == "light"]
    raw_digests = {p: _digest(p) for p in night.rglob("*.fits")}
    chain.calibrate_frames(store, frames)
    params = SolveParams(
        catalog="Local file", catalog_file=str(night / "truth/reference_catalog.ecsv")
    )
    for f in lights:
        product = store.path("calibration", f.path, ".fits")
        with fits.open(product) as hdul:
            pixels, mask = hdul[0].data.copy(), hdul["MASK"].data.copy()
        image_fp = chain.image_fingerprint(store, f)
        solution = chain.solve_frame(store, f, params)
        assert solution.solved, solution.reason
        detection_fp = store.fingerprint_of("detection", f.path)

        header = fits.getheader(product)
        assert header["FLXWCSFP"] == store.fingerprint_of("astrometry", f.path)
        assert header["FLXSOLV"] == "hinted" and header["FLXNSTAR"] == solution.n_matched
        written = _wcs(header)
        assert written.has_distortion == solution.wcs.has_distortion
        gx, gy = np.meshgrid(np.linspace(0, 255, 6), np.linspace(0, 255, 6))
        a = written.pixel_to_world(gx.ravel(), gy.ravel())
        b = solution.wcs.pixel_to_world(gx.ravel(), gy.ravel())
        assert a.separation(b).arcsec.max() < 1e-6
        # Pixels, mask and the calibration's record untouched: nothing downstream is redone.
        with fits.open(product) as hdul:
            assert np.array_equal(hdul[0].data, pixels)
            assert np.array_equal(hdul["MASK"].data, mask)
        assert chain.image_fingerprint(store, f) == image_fp
        assert chain.frame_image(store, f).calibrated
        chain.detect_frame(store, f)
        assert store.fingerprint_of("detection", f.path) == detection_fp
        # The frame WCS a later step reads from the calibrated header is the solution.
        seen = chain.frame_wcs(None, f, header=header).pixel_to_world(gx.ravel(), gy.ravel())
        assert seen.separation(b).arcsec.max() < 1e-6

        # Solved again with the same inputs: the calibrated frame is not rewritten.
        stamp = product.stat().st_mtime_ns
        chain.solve_frame(store, f, params)
        assert product.stat().st_mtime_ns == stamp

    # The inputs are byte for byte what they were, and carry no WCS.
    assert {p: _digest(p) for p in night.rglob("*.fits")} == raw_digests
    assert not _wcs(fits.getheader(lights[0].path)).has_celestial


def test_a_frame_no_longer_solved_loses_the_old_solution(night, tmp_path):
    store = ProductStore(tmp_path)
    frames = scan(night)
    f = next(f for f in frames if f.type == "light")
    chain.calibrate_frames(store, frames)
    product = store.path("calibration", f.path, ".fits")
    good = SolveParams(
        catalog="Local file", catalog_file=str(night / "truth/reference_catalog.ecsv")
    )
    assert chain.solve_frame(store, f, good).solved
    assert _wcs(fits.getheader(product)).has_celestial
    # 500 stars needed: refused; the calibrated frame keeps no stale solution.
    refused = chain.solve_frame(store, f, replace(good, min_matches=500))
    assert not refused.solved
    header = fits.getheader(product)
    assert not _wcs(header).has_celestial
    assert "FLXSOLV" not in header
    assert header["FLXRAWFP"] == chain.raw_fingerprint(f)
    assert chain.frame_image(store, f).calibrated


def test_without_a_calibrated_frame_nothing_is_written(night, tmp_path):
    store = ProductStore(tmp_path)
    f = next(f for f in scan(night) if f.type == "light")
    before = _digest(f.path)
    params = SolveParams(
        catalog="Local file", catalog_file=str(night / "truth/reference_catalog.ecsv")
    )
    assert chain.solve_frame(store, f, params).solved
    assert not store.path("calibration", f.path, ".fits").exists()
    assert _digest(f.path) == before
