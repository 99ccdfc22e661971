"""How often the chain opens a frame's files: once per image read, once per solution written."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.fits import HDUList

from fluxion.core import chain
from fluxion.core.astrometry.solve import SolveResult
from fluxion.core.chain.solve import write_into_calibrated
from fluxion.core.io.fitsio import read_frame, read_header, read_image
from fluxion.core.io.sequence import scan
from fluxion.core.project.products import ProductStore
from fluxion.core.simulation.simulate import NightConfig, read_truth_wcs, simulate_night

CONFIG = NightConfig(n_frames=1, shape=(200, 200), n_bias=0, n_dark=0, n_flat=0, seed=9)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reads_night")
    simulate_night(out, CONFIG)
    return out


@pytest.fixture
def opens(monkeypatch) -> Counter:
    """File path -> number of times astropy opened it (fits.open, getval, getheader...)."""
    counts: Counter = Counter()
    original = HDUList.fromfile.__func__

    def counting(cls, fileobj, *args, **kwargs):
        if isinstance(fileobj, str | os.PathLike):  # not the writer's own file objects
            counts[Path(fileobj).resolve()] += 1
        return original(cls, fileobj, *args, **kwargs)

    monkeypatch.setattr(HDUList, "fromfile", classmethod(counting))
    return counts


def _light(night: Path):
    return next(f for f in scan(night) if f.type == "light")


def test_read_frame_is_read_header_and_read_image_together(night, tmp_path, opens):
    light = _light(night)
    opens.clear()
    data, header, hdu = read_frame(light.path)
    assert opens == {light.path.resolve(): 1}  # scaled integers too, scaled out of the map
    np.testing.assert_array_equal(data, read_image(light.path))
    assert data.dtype == np.float32 and hdu == 0
    assert header == read_header(light.path)[0]
    assert header["BZERO"] == 32768  # the camera's uint16, scaled by astropy
    # Floating-point data (a calibrated frame, a master): one open, memory-mapped.
    path = tmp_path / "float.fits"
    fits.PrimaryHDU(data).writeto(path)
    opens.clear()
    again, _, _ = read_frame(path)
    assert opens == {path.resolve(): 1}
    np.testing.assert_array_equal(again, data)


def test_frame_image_opens_each_file_once(night, tmp_path, opens):
    store = ProductStore(tmp_path)
    light = _light(night)
    opens.clear()
    raw = chain.frame_image(store, light)
    # The camera's uint16 (BZERO): header and pixels in one open (was three, then two).
    assert not raw.calibrated and opens == {light.path.resolve(): 1}
    chain.calibrate_frames(store, scan(night))
    product = store.path("calibration", light.path, ".fits")
    opens.clear()
    image = chain.frame_image(store, light)
    assert image.calibrated and image.mask is not None
    assert opens == {product.resolve(): 1}  # the raw file is not opened
    # The same pixels as the product's.
    with fits.open(product) as hdul:
        np.testing.assert_array_equal(image.data, hdul[0].data)
        np.testing.assert_array_equal(image.mask, hdul["MASK"].data)


def test_solution_goes_into_the_calibrated_frame_in_one_open(night, tmp_path, opens):
    store = ProductStore(tmp_path)
    light = _light(night)
    chain.calibrate_frames(store, scan(night))
    product = store.path("calibration", light.path, ".fits")
    before = chain.frame_image(store, light)
    truth = read_truth_wcs(night / "truth" / f"{light.path.stem}.wcs.fits")
    result = SolveResult(True, "test", truth, n_matched=40, rms_arcsec=0.1, verdict="good")
    opens.clear()
    assert write_into_calibrated(store, light, result, "fp-1")
    assert opens == {product.resolve(): 1}
    # The WCS written is the truth's (to 1 micro-arcsec); pixels and mask untouched.
    after = chain.frame_image(store, light)
    assert after.calibrated and after.header["FLXWCSFP"] == "fp-1"
    wcs = chain.frame_wcs(None, light, after.header)
    gx, gy = np.meshgrid(np.linspace(0, 199, 4), np.linspace(0, 199, 4))
    sep = wcs.pixel_to_world(gx.ravel(), gy.ravel()).separation(
        truth.pixel_to_world(gx.ravel(), gy.ravel())
    )
    assert np.max(sep.arcsec) < 1e-6
    np.testing.assert_array_equal(after.data, before.data)
    np.testing.assert_array_equal(after.mask, before.mask)
    assert after.header["FLXRAWFP"] == before.header["FLXRAWFP"]
    assert after.saturation == before.saturation
    # Current: one open of the header, nothing rewritten.
    stamp = product.stat().st_mtime_ns
    opens.clear()
    assert not write_into_calibrated(store, light, result, "fp-1")
    assert opens == {product.resolve(): 1} and product.stat().st_mtime_ns == stamp
