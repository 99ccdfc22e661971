"""A header's unusable section card is named: which card, and what it holds.

``fluxion run`` on the stellarphot folder said "calibration: not a FITS
section: '[4096:4109]'" for five files, leaving the user to search their
headers: the card is BIASSEC (a one-dimensional range, as some software
writes it) beside TRIMSEC '[1:4096, :]'.
"""

from __future__ import annotations

import pytest
from astropy.io import fits

from fluxion.core.calibration.overscan import OverscanError, overscan_from_header


def test_the_card_that_cannot_be_used_is_named(shared_data):
    found = sorted((shared_data / "stellarphot").rglob("center_cutout_1.fits"))
    if not found:
        pytest.skip("the stellarphot cutouts are not in the shared data")
    header = fits.getheader(found[0])
    assert header["BIASSEC"] == "[4096:4109]"
    with pytest.raises(OverscanError, match=r"^header card BIASSEC: not a FITS section: '\[4096"):
        overscan_from_header(header, (header["NAXIS2"], header["NAXIS1"]))
    header["BIASSEC"] = "[1:2,1:2]"
    with pytest.raises(OverscanError, match=r"^header card TRIMSEC: not a FITS section"):
        overscan_from_header(header, (header["NAXIS2"], header["NAXIS1"]))
