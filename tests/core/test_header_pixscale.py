"""The header's pixel-scale hint: plate-scale cards times the binning, optics, WCS."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.astrometry.files import hint_for_file
from fluxion.core.astrometry.params import SolveParams
from fluxion.core.astrometry.step import hint_for_frame
from fluxion.core.io.frames import frame_info
from fluxion.core.io.headers import normalise_header
from fluxion.core.io.pixscale import pixel_scale_hint


def _header(*cards: tuple) -> fits.Header:
    h = fits.Header()
    h["NAXIS"] = 2
    h["NAXIS1"] = 300
    h["NAXIS2"] = 200
    h["EXPTIME"] = 30.0
    for card in cards:
        h[card[0]] = card[1:] if len(card) > 2 else card[1]
    return h


def test_unbinned_plate_scale_is_multiplied_by_ccdsum() -> None:
    """Before, the PIXSCAL card of the unbinned detector was not read at all."""
    h = _header(("PIXSCAL", 0.40, "[arcsec/px] unbinned pixel scale"), ("CCDSUM", "3 3"))
    facts = normalise_header(h)
    assert facts.binning == (3, 3)
    assert facts.pixel_scale.arcsec_per_px == pytest.approx(1.20)
    assert facts.sources["pixel_scale"] == "PIXSCAL 0.4 unbinned x binning 3"
    assert facts.pixel_scale.tolerance == pytest.approx(0.05)


def test_binned_plate_scale_is_taken_as_is() -> None:
    # LCO's PIXSCALE is the binned frame's (0.778 with CCDSUM 2 2 on a Sinistro).
    h = _header(
        ("ORIGIN", "LCOGT"),
        ("PIXSCALE", 0.778, "[arcsec/pixel] Nominal pixel scale on sky"),
        ("CCDSUM", "2 2"),
    )
    facts = normalise_header(h)
    assert facts.profile == "lco"
    assert facts.pixel_scale.arcsec_per_px == pytest.approx(0.778)
    said = _header(("SECPIX", 0.8, "arcsec per binned pixel"), ("XBINNING", 2))
    assert normalise_header(said).pixel_scale.arcsec_per_px == pytest.approx(0.8)


def test_optics_decide_what_the_plate_scale_counts() -> None:
    # 0.4"/px unbinned x 2 = 0.8"/px; 9 um binned pixels (XPIXSZ after binning) at
    # 2320 mm give 0.80"/px: the card counts unbinned pixels.
    h = _header(
        ("SECPIX", 0.4),
        ("XBINNING", 2),
        ("YBINNING", 2),
        ("FOCALLEN", 2320.0),
        ("XPIXSZ", 9.0, "[um] pixel size after binning"),
    )
    hint = normalise_header(h).pixel_scale
    assert hint.arcsec_per_px == pytest.approx(0.8)
    assert "unbinned x binning 2" in hint.source


def test_nobody_says_and_no_optics_gives_a_range() -> None:
    h = _header(("SCALE", 0.5), ("BINNING", "2x2"))
    hint = normalise_header(h).pixel_scale
    assert hint.low == pytest.approx(0.5)
    assert hint.high == pytest.approx(1.0)
    assert "binned or unbinned not said" in hint.source


@pytest.mark.parametrize(
    "comment, binning, expected",
    [
        ("pixel size in microns (with binning)", 1, 2.39267),  # Seestar S50
        ("Pixel Width in microns (after binning)", 2, 2.39267),  # MaxIm DL
        ("SBIGFITSEXT Pixel width in microns after binnin", 2, 2.39267),  # TheSkyX, cut
        ("[um] unbinned pixel size", 2, 4.78534),
    ],
)
def test_optics_pixel_size_reading(comment, binning, expected) -> None:
    h = _header(("FOCALLEN", 250.0), ("XPIXSZ", 2.9, comment), ("XBINNING", binning))
    assert normalise_header(h).pixel_scale.arcsec_per_px == pytest.approx(expected, rel=1e-5)


def test_wcs_wins_and_nothing_gives_none() -> None:
    h = _header(
        ("CTYPE1", "RA---TAN"),
        ("CTYPE2", "DEC--TAN"),
        ("CRVAL1", 10.0),
        ("CRVAL2", 20.0),
        ("CRPIX1", 150.0),
        ("CRPIX2", 100.0),
        ("CD1_1", -2.0 / 3600),
        ("CD1_2", 0.0),
        ("CD2_1", 0.0),
        ("CD2_2", 2.0 / 3600),
        ("PIXSCALE", 0.5),
    )
    hint = pixel_scale_hint(h)
    assert (hint.arcsec_per_px, hint.source) == (pytest.approx(2.0), "header WCS")
    # tres1-oscaar: FOCALLEN = 0 and no card: no scale, not a made-up one.
    assert pixel_scale_hint(_header(("FOCALLEN", 0.0), ("XPIXSZ", 13.6))) is None


def test_astrometry_uses_the_header_hint(tmp_path) -> None:
    h = _header(("PIXSCAL", 0.40, "[arcsec/px] unbinned pixel scale"), ("CCDSUM", "3 3"))
    guess = hint_for_file(h).scale
    assert guess.arcsec_per_px == pytest.approx(1.2)
    assert guess.source == "PIXSCAL 0.4 unbinned x binning 3"
    path = tmp_path / "f.fits"
    fits.PrimaryHDU(data=np.zeros((200, 300), np.uint16), header=h).writeto(path)
    frame = frame_info(path)
    assert frame.to_json_dict()["pixel_scale"] == pytest.approx(1.2)
    assert hint_for_frame(frame, SolveParams()).scale.arcsec_per_px == pytest.approx(1.2)
