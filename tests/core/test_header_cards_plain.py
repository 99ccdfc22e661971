"""The quick path of header repair: a card is passed by its text only when astropy agrees."""

from __future__ import annotations

import warnings

import pytest
from astropy.io import fits

from fluxion.core.io.cards import _plainly_valid, clean_header


def _image(text: str) -> str:
    return text.ljust(80)[:80]


def _astropy_ok(image: str) -> bool:
    card = fits.Card.fromstring(image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            card.value  # noqa: B018 - parsing is the check
            card.comment  # noqa: B018
            card.verify("exception")
        except Exception:  # noqa: BLE001
            return False
    return True


PLAIN = [
    "SIMPLE  =                    T / conforms to FITS standard",
    "NAXIS1  =                 1024",
    "EXPTIME =                 30.0 / [s]",
    "EXPTIME =              3.0E+01",
    "CCD-TEMP=             -20.125D0",
    "GAIN    =                 .85/e-/ADU",
    "OBJECT  = 'M 13    '           / target",
    "OBSERVER= 'O''Brien'",
    "DATE-OBS= '2024-03-01T21:04:05.123'",
    "HISTORY calibrated with flats",
    "COMMENT   FITS (Flexible Image Transport System) format",
]

NOT_PLAIN = [
    "EXPTIME = 12.0.0",  # two dots
    "OBJECT  = 'unterminated",
    "AIRMASS =                  NaN",
    "XPIXSZ  =                  INF",
    "exptime =                 30.0",  # lower-case keyword
    "OBJECT  = 'M13'x",  # text after a string
    "FOCUS   = (1.0, 2.0)",  # complex: astropy's to judge
    "CONTINUE  'more text'",
    "HIERARCH ESO DET CHIP TEMP = 150.0",
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_cards_pass_by_their_text_and_astropy_agrees(text):
    card = fits.Card.fromstring(_image(text))
    assert _plainly_valid(card)
    assert _astropy_ok(_image(text))


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_other_cards_are_left_to_astropy(text):
    assert not _plainly_valid(fits.Card.fromstring(_image(text)))


def test_control_character_is_not_plain():
    image = _image("OBJECT  = 'M13\x07'")
    assert not _plainly_valid(fits.Card.fromstring(image))


def test_a_card_changed_in_memory_is_left_to_astropy():
    header = fits.Header.fromstring("".join(_image(t) for t in PLAIN[:3]) + _image("END"))
    header["EXPTIME"] = 12.5
    assert not _plainly_valid(header.cards["EXPTIME"])
    assert _plainly_valid(header.cards["NAXIS1"])


def test_clean_header_still_repairs_the_bad_cards_among_plain_ones():
    text = "".join(_image(t) for t in [*PLAIN[:3], "EXPTIME2= 12.0.0", "AIRMASS =  NaN"])
    header = fits.Header.fromstring(text + _image("END"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = clean_header(header)
    assert len(clean.repairs) == 2
    assert clean["NAXIS1"] == 1024 and clean["EXPTIME"] == 30.0
