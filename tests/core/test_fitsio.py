"""FITS reading and atomic writing, on files written to tmp_path."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from fluxion.core.io.fitsio import (
    FitsReadError,
    atomic_write_fits,
    atomic_write_text,
    is_fits_name,
    read_header,
    read_image,
    read_wcs,
    truncation_problem,
)

RNG = np.random.default_rng(42)


def _write(path: Path, hdus: list[fits.hdu.base._BaseHDU]) -> Path:
    fits.HDUList(hdus).writeto(path)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_uint16_bzero_values_are_exact(tmp_path: Path) -> None:
    values = np.array([[0, 1, 2, 32767], [32768, 32769, 65534, 65535]], dtype=np.uint16)
    path = _write(tmp_path / "u16.fits", [fits.PrimaryHDU(values)])
    header, hdu = read_header(path)
    assert (header["BITPIX"], header["BZERO"], hdu) == (16, 32768, 0)
    as_float = read_image(path)
    assert as_float.dtype == np.float32
    np.testing.assert_array_equal(as_float, values.astype(np.float64))
    raw = read_image(path, dtype=None)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, values)


def test_big_endian_data_comes_back_native(tmp_path: Path) -> None:
    values = RNG.normal(1000.0, 30.0, (32, 48)).astype(np.float32)
    path = _write(tmp_path / "f32.fits", [fits.PrimaryHDU(values)])
    with fits.open(path) as hdul:
        assert not hdul[0].data.dtype.isnative  # FITS stores big-endian
    for dtype in (None, np.float32, np.float64):
        img = read_image(path, dtype=dtype)
        assert img.dtype.isnative
        assert img.flags.c_contiguous
        np.testing.assert_array_equal(img, values)
    # sep refuses big-endian arrays; the native one is accepted.
    import sep

    bkg = sep.Background(read_image(path))
    assert abs(bkg.globalback - 1000.0) < 5.0


def test_tile_compressed_fz_is_read_from_its_extension(tmp_path: Path) -> None:
    values = RNG.integers(0, 30000, (64, 80)).astype(np.int32)
    h = fits.Header({"EXPTIME": 30.0, "OBJECT": "M 67"})
    path = _write(
        tmp_path / "frame.fits.fz",
        [fits.PrimaryHDU(), fits.CompImageHDU(values, header=h, compression_type="RICE_1")],
    )
    header, hdu = read_header(path)
    assert hdu == 1
    assert (header["NAXIS1"], header["NAXIS2"], header["EXPTIME"]) == (80, 64, 30.0)
    assert "ZIMAGE" not in header  # the image header, not the binary table's
    np.testing.assert_array_equal(read_image(path), values)


def test_tile_compressed_uint16_with_bzero_is_read(tmp_path: Path) -> None:
    # What fpack makes of a 16-bit camera's frame: BZERO 32768 inside the
    # compressed HDU, which astropy will not decompress from a memory map.
    values = RNG.integers(0, 65535, (48, 70)).astype(np.uint16)
    path = _write(
        tmp_path / "light.fit.fz",
        [fits.PrimaryHDU(), fits.CompImageHDU(values, compression_type="RICE_1")],
    )
    with fits.open(path) as hdul:
        assert hdul[1].header["BZERO"] == 32768
    for dtype in (None, np.float32):
        np.testing.assert_array_equal(read_image(path, dtype=dtype), values)


@pytest.mark.parametrize("suffix, opener", [(".fits.gz", gzip.open), (".fit.bz2", bz2.open)])
def test_gzip_and_bzip2_files(tmp_path: Path, suffix: str, opener) -> None:
    values = RNG.integers(0, 65535, (40, 30)).astype(np.uint16)
    plain = _write(tmp_path / "plain.fits", [fits.PrimaryHDU(values, fits.Header({"GAIN": 1.5}))])
    packed = tmp_path / f"frame{suffix}"
    with opener(packed, "wb") as fh:
        fh.write(plain.read_bytes())
    header, hdu = read_header(packed)
    assert (hdu, header["GAIN"]) == (0, 1.5)
    np.testing.assert_array_equal(read_image(packed), values)
    assert is_fits_name(packed) and is_fits_name("A.FTS") and not is_fits_name("x.ecsv")


def test_first_image_extension_inherits_primary_cards(tmp_path: Path) -> None:
    primary = fits.PrimaryHDU(header=fits.Header({"DATE-OBS": "2021-10-08T01:55:17", "GAIN": 0.0}))
    amp1 = fits.ImageHDU(np.ones((5, 6), np.float32), fits.Header({"GAIN": 6.42}))
    amp2 = fits.ImageHDU(np.ones((5, 6), np.float32), fits.Header({"GAIN": 6.23}))
    table = fits.BinTableHDU.from_columns([fits.Column("x", "E", array=np.zeros(3))])
    path = _write(tmp_path / "mef.fits", [primary, table, amp1, amp2])
    header, hdu = read_header(path)
    assert hdu == 2
    assert header["GAIN"] == 6.42  # the extension's own card wins
    assert header["DATE-OBS"] == "2021-10-08T01:55:17"  # inherited
    assert read_image(path).shape == (5, 6)


def test_string_valued_wcs_cards_are_coerced(tmp_path: Path) -> None:
    good = WCS(naxis=2)
    good.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    good.wcs.crval = [123.4, -45.6]
    good.wcs.crpix = [50.5, 40.5]
    good.wcs.cd = [[-2.0e-4, 1.0e-5], [1.0e-5, 2.0e-4]]
    header = good.to_header()
    as_text = header.copy()
    for key in ("CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CD1_1", "CD1_2", "CD2_1", "CD2_2"):
        if key in as_text:
            as_text[key] = str(header[key])
    # Cards PC/CDELT may be used instead of CD by to_header; coerce those too.
    for key in list(as_text):
        if key.startswith(("PC", "CDELT")):
            as_text[key] = str(header[key])
    wcs = read_wcs(as_text)
    assert wcs is not None
    pix = np.array([[0.0, 0.0], [99.0, 79.0], [12.3, 45.6]])
    sky_good = good.pixel_to_world(pix[:, 0], pix[:, 1])
    sky = wcs.pixel_to_world(pix[:, 0], pix[:, 1])
    assert np.max(sky.separation(sky_good).arcsec) < 1e-6


def test_read_wcs_none_without_celestial_axes() -> None:
    assert read_wcs(fits.Header({"NAXIS": 2, "NAXIS1": 10, "NAXIS2": 10})) is None
    blank = fits.Header({"CTYPE1": "", "CTYPE2": "", "CRVAL1": 1.0, "CDELT1": 1.0})
    assert read_wcs(blank) is None
    linear = fits.Header({"CTYPE1": "WAVE", "CTYPE2": "LINEAR", "CRVAL1": 5000.0})
    assert read_wcs(linear) is None


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.fits", b"", "empty file"),
        ("notes.fits", b"these are observing notes, not an image\n" * 100, "not a FITS file"),
    ],
)
def test_unreadable_files_raise_one_line(tmp_path: Path, name, content, message) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FitsReadError, match=message) as err:
        read_header(path)
    assert "\n" not in str(err.value)


def test_header_only_and_table_only_files(tmp_path: Path) -> None:
    empty = _write(tmp_path / "header_only.fits", [fits.PrimaryHDU()])
    with pytest.raises(FitsReadError, match="no image data"):
        read_header(empty)
    table = fits.BinTableHDU.from_columns([fits.Column("x", "E", array=np.zeros(3))])
    cat = _write(tmp_path / "catalog.fits", [fits.PrimaryHDU(), table])
    with pytest.raises(FitsReadError, match="table"):
        read_header(cat)


def test_cube_is_refused_by_read_image(tmp_path: Path) -> None:
    path = _write(tmp_path / "cube.fits", [fits.PrimaryHDU(np.zeros((3, 8, 9), np.float32))])
    header, hdu = read_header(path)
    assert header["NAXIS"] == 3
    with pytest.raises(FitsReadError, match="3 dimensions"):
        read_image(path)


def test_truncated_file_is_detected_from_its_size(tmp_path: Path) -> None:
    full = _write(tmp_path / "full.fits", [fits.PrimaryHDU(np.ones((100, 100), np.uint16))])
    cut = tmp_path / "cut.fits"
    cut.write_bytes(full.read_bytes()[:6000])
    assert truncation_problem(full, 0) is None
    msg = truncation_problem(cut, 0)
    assert msg is not None and "6000 bytes" in msg
    with pytest.raises(FitsReadError, match="truncated"):
        read_image(cut)


def test_reading_never_modifies_the_input(tmp_path: Path) -> None:
    values = np.arange(64, dtype=np.uint16).reshape(8, 8)
    path = _write(tmp_path / "in.fits", [fits.PrimaryHDU(values)])
    before, mtime = _digest(path), path.stat().st_mtime_ns
    img = read_image(path)
    img += 1  # the caller's copy is independent of the file
    read_header(path)
    assert (_digest(path), path.stat().st_mtime_ns) == (before, mtime)


def test_atomic_writes_replace_and_leave_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "products" / "master_bias.fits"
    data = RNG.normal(size=(16, 16)).astype(np.float32)
    atomic_write_fits(out, data, fits.Header({"NCOMBINE": 10}))
    atomic_write_fits(out, data * 2, fits.Header({"NCOMBINE": 12}))
    with fits.open(out) as hdul:
        np.testing.assert_array_equal(hdul[0].data, data * 2)
        assert hdul[0].header["NCOMBINE"] == 12
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)
    text = tmp_path / "lc.csv"
    atomic_write_text(text, "jd,mag\n1,12.5\n")
    atomic_write_text(text, "jd,mag\n2,12.6\n")
    assert text.read_text() == "jd,mag\n2,12.6\n"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "lc.csv",
        "master_bias.fits",
    ]


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "keep.fits"
    atomic_write_fits(out, np.zeros((4, 4), np.float32))
    before = _digest(out)
    with pytest.raises((TypeError, ValueError, KeyError)):
        atomic_write_fits(out, np.array([object(), object()]))
    assert _digest(out) == before
    assert os.listdir(tmp_path) == ["keep.fits"]
