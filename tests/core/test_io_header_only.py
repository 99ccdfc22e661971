"""Header-only FITS files written from their cards: astropy's own bytes."""

from __future__ import annotations

import io

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from fluxion.core.io.atomic import atomic_write_header


def _astropy_bytes(header: fits.Header) -> bytes:
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(header=header)]).writeto(buf)
    return buf.getvalue()


def _sip_header() -> fits.Header:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval = [309.98, 39.978]
    w.wcs.crpix = [512.5, 512.5]
    w.wcs.cd = np.array([[-3.3331e-4, 3.49e-6], [3.49e-6, 3.3331e-4]])
    from astropy.wcs import Sip

    a = np.zeros((4, 4))
    b = np.zeros((4, 4))
    a[2, 0], b[0, 2], a[1, 1] = 1.3e-7, -2.1e-7, 4.4e-8
    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    h = w.to_header(relax=True)
    h["FLXSOLV"] = ("hinted", "Fluxion astrometry: how the WCS was found")
    h["FLXRMS"] = (0.1169, "[arcsec] RMS of the WCS fit")
    return h


def test_a_solution_is_written_as_astropy_writes_it(tmp_path) -> None:
    h = _sip_header()
    out = atomic_write_header(tmp_path / "a.wcs.fits", h)
    assert out.read_bytes() == _astropy_bytes(h)
    back = fits.getheader(out)
    assert back["FLXSOLV"] == "hinted" and back["A_2_0"] == 1.3e-7
    # A list of cards is the same file.
    atomic_write_header(tmp_path / "b.wcs.fits", list(h.cards))
    assert (tmp_path / "b.wcs.fits").read_bytes() == out.read_bytes()


def test_long_values_and_comments_as_astropy_writes_them(tmp_path) -> None:
    h = fits.Header()
    h["FLXSOLV"] = ("none", "Fluxion astrometry: not solved")
    h["FLXREASN"] = ("only 3 stars match the catalog; " * 40, "why not solved")  # CONTINUE cards
    h["FLXCAT"] = ("a" * 60, "a comment far too long to fit in the card beside its value")
    out = atomic_write_header(tmp_path / "n.wcs.fits", h)
    assert out.read_bytes() == _astropy_bytes(h)
    assert fits.getheader(out)["FLXREASN"] == h["FLXREASN"]


def test_structural_cards_are_left_to_astropy(tmp_path) -> None:
    h = fits.Header([("NAXIS", 0), ("OBJECT", "M13")])
    out = atomic_write_header(tmp_path / "s.fits", h)
    back = fits.getheader(out)
    assert back["OBJECT"] == "M13" and back["NAXIS"] == 0 and back["SIMPLE"] is True
    assert out.stat().st_size % 2880 == 0
