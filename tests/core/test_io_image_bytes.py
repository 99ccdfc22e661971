"""Plain image lists are written byte for byte as astropy's writer writes them."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.calibration.apply import calibrated_hdulist, write_calibrated_product
from fluxion.core.io.atomic import atomic_write_hdulist
from fluxion.core.io.imagebytes import image_list_chunks, primary_chunks


def _astropy_bytes(hdulist: fits.HDUList, tmp_path: Path) -> bytes:
    path = tmp_path / "astropy.fits"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        hdulist.writeto(path, overwrite=True)
    return path.read_bytes()


def _plain(hdulist: fits.HDUList) -> bool:
    """Whether the plain path takes the list (a comment cut to fit warns, as astropy's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        return image_list_chunks(hdulist) is not None


def _written(make, tmp_path: Path) -> tuple[bytes, bytes, bool]:
    """astropy's bytes, atomic_write_hdulist's, and whether the plain path took the list."""
    plain = _plain(make())
    path = atomic_write_hdulist(tmp_path / "ours.fits", make())
    return _astropy_bytes(make(), tmp_path), path.read_bytes(), plain


def _raw_like_header() -> fits.Header:
    """A header as a raw frame's and calibration's cards make it: every kind of card."""
    h = fits.Header()
    h["SIMPLE"] = True
    h["BITPIX"] = 16
    h["NAXIS"] = 2
    h["NAXIS1"] = 40
    h["NAXIS2"] = 30
    h["EXTEND"] = True
    h["OBJECT"] = ("M 67", "target")
    h["DATE-OBS"] = ("2024-03-01T21:04:05.123", "start of exposure")
    h["EXPTIME"] = (120.0, "[s]")
    h["GAIN"] = 1.234567890123
    h["RDNOISE"] = 5e-20
    h["CCD-TEMP"] = -15.25
    h["XBINNING"] = 1
    h["FLAG"] = False
    h["NOTE"] = "a value long enough to need CONTINUE cards " * 3
    h["HIERARCH ESO DET CHIP TEMP"] = 173.2
    h["LONGCOMM"] = (1, "a comment much too long for the card it is on " * 3)
    h.add_history("bias subtracted")
    h.add_comment("flat fielded")
    h[""] = "a blank keyword's text"
    return h


def test_calibrated_light_is_astropy_bytes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(1000, 30, (30, 40)).astype(np.float32)
    data[3, 4] = np.nan
    mask = (rng.random((30, 40)) < 0.05).astype(np.uint8) * 8
    header = _raw_like_header()
    for _ in range(2):  # the cards unknown, then known from the first write
        a, b, plain = _written(lambda: calibrated_hdulist(data, mask, header.copy()), tmp_path)
        assert plain and a == b
    # Another frame of the night: new values, the rest already verified.
    header["DATE-OBS"] = "2024-03-01T21:06:05.500"
    header["EXPTIME"] = 60.5
    a, b, plain = _written(lambda: calibrated_hdulist(data * 2, mask, header.copy()), tmp_path)
    assert plain and a == b
    # Read back: the values and the header as astropy reads its own file.
    with fits.open(tmp_path / "ours.fits") as hdul:
        assert np.array_equal(hdul[0].data, data * 2, equal_nan=True)
        assert np.array_equal(hdul["MASK"].data, mask)
        assert hdul[0].header["EXPTIME"] == 60.5


@pytest.mark.parametrize(
    "dtype", [np.float32, np.float64, np.uint8, np.int16, np.int32, np.int64, ">f4", ">i2"]
)
def test_dtypes_shapes_and_layouts(tmp_path: Path, dtype) -> None:
    rng = np.random.default_rng(2)
    base = (rng.normal(0, 100, (7, 9, 11)) + 100).astype(dtype)
    cases = [
        base[0],  # 2-D
        base,  # 3-D
        base[0, :, ::2],  # not contiguous
        base[0].T,  # Fortran order
        base[0, 0],  # 1-D
    ]
    for image in cases:

        def make(image=image) -> fits.HDUList:
            hdul = fits.HDUList([fits.PrimaryHDU(image)])
            hdul.append(fits.ImageHDU(image[::-1].copy(), name="SECOND"))
            return hdul

        a, b, plain = _written(make, tmp_path)
        assert plain and a == b
        a, b, plain = _written(lambda image=image: fits.HDUList([fits.PrimaryHDU(image)]), tmp_path)
        assert plain and a == b


def _with_card(keyword: str, value, dtype=np.float32) -> fits.HDUList:
    h = fits.Header()
    h[keyword] = value
    return fits.HDUList([fits.PrimaryHDU(np.ones((4, 5), dtype), header=h)])


@pytest.mark.parametrize(
    "make",
    [
        lambda: fits.HDUList([fits.PrimaryHDU(np.arange(20, dtype=np.uint16).reshape(4, 5))]),
        lambda: fits.HDUList([fits.PrimaryHDU(np.arange(20, dtype=np.int8).reshape(4, 5))]),
        lambda: fits.HDUList([fits.PrimaryHDU()]),
        lambda: fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([])]),
        lambda: _with_card("CHECKSUM", "0000000000000000"),
        lambda: _with_card("BLANK", -32768, np.int16),
    ],
)
def test_what_astropy_must_decide_goes_through_astropy(tmp_path: Path, make) -> None:
    assert not _plain(make())
    a = _astropy_bytes(make(), tmp_path)
    assert atomic_write_hdulist(tmp_path / "ours.fits", make()).read_bytes() == a


def test_a_card_astropy_refuses_is_still_repaired(tmp_path: Path) -> None:
    def make() -> fits.HDUList:
        h = fits.Header([fits.Card.fromstring("BADVAL  = 1.0.0 / not a number".ljust(80))])
        return fits.HDUList([fits.PrimaryHDU(np.ones((3, 3), np.float32), header=h)])

    assert not _plain(make())
    with pytest.raises(fits.VerifyError):
        make().writeto(tmp_path / "astropy.fits")
    path = atomic_write_hdulist(tmp_path / "ours.fits", make())
    with fits.open(path) as hdul:
        assert hdul[0].data.shape == (3, 3)


def test_real_frames_headers(shared_data: Path, tmp_path: Path) -> None:
    """Real raw headers (several cameras) in a calibrated light: astropy's bytes."""
    files = []
    for folder in ("asteroid2713-night1", "seestar-osc", "tres1-oscaar", "neoexchange"):
        files += sorted((shared_data / folder).rglob("*.fit*"))[:3]
    if not files:
        pytest.skip("no real FITS frames")
    plain = 0
    data = np.linspace(0, 1, 24 * 32, dtype=np.float32).reshape(24, 32)
    mask = np.zeros((24, 32), np.uint8)
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                header = fits.getheader(path)
            except Exception:  # noqa: BLE001 - not an image file
                continue

        def make(header=header) -> fits.HDUList:
            return calibrated_hdulist(data, mask, header.copy())

        try:
            a = _astropy_bytes(make(), tmp_path)
        except Exception:  # noqa: BLE001 - cards astropy refuses: its repair path, unchanged
            assert not _plain(make())
            continue
        plain += _plain(make())
        assert atomic_write_hdulist(tmp_path / "ours.fits", make()).read_bytes() == a, path
    assert plain >= 3


def _outcome(write) -> bytes | type:
    try:
        return write().read_bytes()
    except Exception as exc:  # noqa: BLE001 - the outcome compared is the error's type
        return type(exc)


def _calibrated_bytes(data, mask, header: fits.Header, tmp_path: Path) -> tuple:
    """The file (or error) of calibrated_hdulist through atomic_write_hdulist, that of
    write_calibrated_product, and whether the latter's plain path took it."""
    with warnings.catch_warnings():  # a comment cut to fit warns, as astropy's
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        before = header.tostring()
        extensions = calibrated_hdulist(data, mask, fits.Header())[1:]
        plain = primary_chunks(data, header, list(extensions)) is not None
        ours = _outcome(lambda: write_calibrated_product(tmp_path / "b.fits", data, mask, header))
        assert header.tostring() == before  # left as it was
        theirs = _outcome(
            lambda: atomic_write_hdulist(
                tmp_path / "a.fits", calibrated_hdulist(data, mask, header.copy())
            )
        )
    if isinstance(theirs, bytes):
        # The path before wrote what astropy's writer writes.
        assert theirs == _astropy_bytes(calibrated_hdulist(data, mask, header.copy()), tmp_path)
    return theirs, ours, plain


def test_calibrated_product_without_the_hdulist(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    data = rng.normal(1000, 30, (30, 40)).astype(np.float32)
    mask = (rng.random((30, 40)) < 0.05).astype(np.uint8)
    header = _raw_like_header()  # SIMPLE, BITPIX, NAXIS, NAXIS1, NAXIS2, EXTEND first
    for m in (mask, None):
        a, b, plain = _calibrated_bytes(data, m, header, tmp_path)
        assert plain and a == b
    # Structural cards elsewhere than first, or none at all: still stripped alike.
    moved = fits.Header([c for c in header.cards if c.keyword not in ("SIMPLE", "NAXIS1")])
    moved["NAXIS1"] = 40
    moved.insert(5, ("SIMPLE", True))
    for h in (moved, fits.Header([("OBJECT", "x")]), fits.Header()):
        a, b, plain = _calibrated_bytes(data, mask, h, tmp_path)
        assert plain and a == b


@pytest.mark.parametrize(
    "cards",
    [
        [("SIMPLE", True), ("SIMPLE", True)],  # astropy strips only the first
        [("NAXIS", 2), ("NAXIS1", 40), ("NAXIS2", 30), ("NAXIS3", 1)],
        [("NAXIS", 2), ("NAXIS1", 40), ("NAXIS1", 40), ("NAXIS2", 30)],
        [("TFIELDS", 0)],
        [("CHECKSUM", "0000000000000000")],
    ],
)
def test_calibrated_product_astropy_decides(tmp_path: Path, cards) -> None:
    data = np.arange(1200, dtype=np.float32).reshape(30, 40)
    header = fits.Header(cards)
    header["OBJECT"] = "x"
    a, b, plain = _calibrated_bytes(data, np.zeros((30, 40), np.uint8), header, tmp_path)
    assert not plain and a == b
