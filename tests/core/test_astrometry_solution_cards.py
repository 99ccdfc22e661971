"""A solution written into a calibrated header: astropy's strip-and-update, card for card."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS, Sip

from fluxion.core.astrometry.files import strip_wcs, write_solution_into
from fluxion.core.astrometry.result import SolveResult


def _result() -> SolveResult:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval = [310.0, 39.8]
    w.wcs.crpix = [512.5, 512.5]
    w.wcs.cd = np.array([[-3.3e-4, 1e-6], [2e-6, 3.3e-4]])
    rng = np.random.default_rng(3)
    a, b = (np.triu(rng.normal(0, 1e-7, (4, 4)))[:, ::-1].T for _ in range(2))
    w.sip = Sip(a, b, a * -1.01, b * -1.01, w.wcs.crpix)
    w.pixel_shape = (1024, 1024)
    return SolveResult(
        solved=True, method="hinted", wcs=w, n_matched=120, rms_arcsec=0.12, verdict="good",
        catalog="local table",
    )  # fmt: skip


def _header(kind: str) -> fits.Header:
    h = fits.Header()
    h["SIMPLE"], h["BITPIX"], h["NAXIS"] = True, -32, 2
    h["NAXIS1"], h["NAXIS2"] = 1024, 1024
    h["OBJECT"] = ("M 57", "target")
    h["DATE-OBS"] = "2024-09-10T23:01:00"
    h["CTYPE1"], h["CRVAL1"], h["A_ORDER"] = "RA---TAN", 1.0, 2  # an old solution
    h["FLXSOLV"] = "old"
    h["EQUINOX"] = 2000.0
    h.add_history("calibrated: bias, dark, flat")
    h.add_comment("a comment after it")
    if kind == "resolved":  # a solution written before left MJDREF, which it updates
        h.insert("OBJECT", ("MJDREF", 1.0, "old comment"))
    elif kind == "duplicates":
        h.insert("OBJECT", ("MJDREF", 2.0))
        with pytest.warns(AstropyUserWarning, match="duplicate"):
            h.insert("OBJECT", ("MJDREF", 3.0))
    elif kind == "blanks":  # trailing blank cards, which update() uses up
        h.append(fits.Card(), end=True)
        h.append(fits.Card(), end=True)
    elif kind == "no commentary":
        h.remove("HISTORY")
        h.remove("COMMENT")
    return h


@pytest.mark.parametrize("kind", ["plain", "resolved", "duplicates", "blanks", "no commentary"])
def test_solution_cards_are_astropys_update(kind):
    result = _result()
    header = _header(kind)
    before = header.tostring()
    expected = strip_wcs(header)
    expected.update(result.wcs_header())
    got = write_solution_into(header, result)
    assert got.tostring() == expected.tostring()
    assert [(c.keyword, c.value, c.comment) for c in got.cards] == [
        (c.keyword, c.value, c.comment) for c in expected.cards
    ]
    assert header.tostring() == before  # the input header is left as it was
    assert "A_ORDER" in got and got["CTYPE1"] == "RA---TAN-SIP" and got["FLXSOLV"] == "hinted"


def test_solution_header_is_a_new_header_each_time():
    result = _result()
    first = result.wcs_header()
    first["FLXSECS"] = 1.5
    first["CRVAL1"] = 0.0
    again = result.wcs_header()
    assert "FLXSECS" not in again and again["CRVAL1"] == 310.0
    assert again.tostring() == _result().wcs_header().tostring()  # as made afresh
