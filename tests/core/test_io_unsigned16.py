"""16-bit unsigned frames (BZERO 32768) read by flipping the top bit: astropy's numbers."""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.io import fitsio
from fluxion.core.io.fitsio import read_frame


def _astropy(path: Path, hdu: int, dtype) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(fits.getdata(path, ext=hdu), dtype=dtype)


def _unsigned_taken(path: Path, hdu: int) -> bool:
    with fits.open(path, memmap=None) as hdul:
        return fitsio._unsigned16(hdul[hdu], np.float32) is not None


@pytest.fixture
def values() -> np.ndarray:
    rng = np.random.default_rng(3)
    v = rng.integers(0, 65536, (37, 53), dtype=np.uint16)
    v.flat[:6] = [0, 1, 32767, 32768, 32769, 65535]
    return v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unsigned_frames_are_astropys_numbers(tmp_path: Path, values, dtype) -> None:
    primary = tmp_path / "primary.fits"
    fits.PrimaryHDU(values).writeto(primary)
    extension = tmp_path / "extension.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(values[::-1].copy())]).writeto(extension)
    packed = tmp_path / "primary.fits.gz"
    packed.write_bytes(gzip.compress(primary.read_bytes()))
    for path, hdu in ((primary, 0), (extension, 1), (packed, 0)):
        assert fits.getheader(path, ext=hdu)["BZERO"] == 32768
        assert _unsigned_taken(path, hdu)
        data, _, index = read_frame(path, dtype=dtype)
        assert index == hdu and data.dtype == dtype and data.flags.c_contiguous
        expected = _astropy(path, hdu, dtype)
        assert np.array_equal(data, expected)
        assert data.min() == 0 and data.max() == 65535  # the extremes survive


def _write(path: Path, data: np.ndarray, **cards) -> Path:
    hdu = fits.PrimaryHDU(data)
    for key, value in cards.items():
        hdu.header[key] = value
    hdu.writeto(path)
    return path


def test_other_frames_go_through_astropy(tmp_path: Path, values) -> None:
    signed = values.astype(np.int32) - 32768
    cases = [
        _write(tmp_path / "signed.fits", signed.astype(np.int16)),
        _write(tmp_path / "float.fits", values.astype(np.float32)),
        _write(tmp_path / "int32.fits", signed),
    ]
    scaled = tmp_path / "scaled.fits"
    hdu = fits.PrimaryHDU(signed.astype(np.int16))
    hdu.header["BSCALE"] = 2.0
    hdu.header["BZERO"] = 32768
    hdu.writeto(scaled)
    blank = tmp_path / "blank.fits"
    hdu = fits.PrimaryHDU(values)
    hdu.header["BLANK"] = 0
    hdu.writeto(blank)
    cases += [scaled, blank]
    for path in cases:
        assert not _unsigned_taken(path, 0), path.name
        data = read_frame(path, dtype=np.float32)[0]
        assert np.array_equal(data, _astropy(path, 0, np.float32), equal_nan=True), path.name
    # Integers kept as they are: astropy's unsigned array, not floats.
    kept = read_frame(cases[0].parent / "signed.fits", dtype=None)[0]
    assert kept.dtype == np.int16


def test_real_unsigned_frames(shared_data: Path) -> None:
    files = sorted((shared_data / "asteroid2713-night1").glob("*.fit"))[:6]
    files += sorted((shared_data / "tres1-oscaar").rglob("*.fit*"))[:3]
    taken = 0
    for path in files:
        data, _, index = read_frame(path, dtype=np.float32)
        header = fits.getheader(path, ext=index)
        assert np.array_equal(data, _astropy(path, index, np.float32), equal_nan=True), path.name
        taken += header.get("BITPIX") == 16 and header.get("BZERO") == 32768
    if not files:
        pytest.skip("no real frames")
    assert taken >= 1
