"""A frame's WCS crosses processes whole: every card, every number and every position the same."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS, WCSHDO_P17, DistortionLookupTable, FITSFixedWarning, Sip, WCSHDO_all

from fluxion.core.chain.wcs_state import wcs_from_state, wcs_state

XY = np.random.default_rng(7).uniform(-20, 1044, (2000, 2))


def _solution(cd: bool = True) -> WCS:
    """A TAN-SIP solution as the solver fits it: every number a full double."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval = [310.12345678912345 + 1 / 3e9, 40.98765432198765 - 1 / 7e9]
    w.wcs.crpix = [512.25 + 1 / 3, 511.75 - 1 / 7]
    m = np.array([[-2.7e-4 * (1 + 1 / 3e5), 1.1e-6 / 3], [0.9e-6 / 7, 2.7e-4 * (1 - 1 / 7e5)]])
    if cd:
        w.wcs.cd = m
    else:
        w.wcs.pc = m / 2.7e-4
        w.wcs.cdelt = [2.7e-4, 2.7e-4]
    rng = np.random.default_rng(3)
    a, b, ap, bp = (np.triu(rng.normal(0, 1e-7, (4, 4))[::-1])[::-1] for _ in range(4))
    for c in (a, b, ap, bp):
        c[0, 0] = c[0, 1] = c[1, 0] = 0.0
    w.sip = Sip(a, b, ap, bp, w.wcs.crpix)
    w.wcs.radesys = "ICRS"
    w.wcs.dateobs = "2024-08-14T22:31:07.125"
    w.wcs.mjdobs = 60536.93827690972
    w.pixel_shape = (1024, 1024)
    w.pixel_bounds = [(0, 1023), (0, 1023)]
    w.wcs.set()
    return w


def _tables(w: WCS) -> WCS:
    """``w`` with the distortion paper's lookup tables (pixel and detector corrections)."""
    rng = np.random.default_rng(5)

    def table() -> DistortionLookupTable:
        data = rng.normal(0, 0.05, (33, 33)).astype(np.float32)
        return DistortionLookupTable(data, (17.0, 17.0), (512.0, 512.0), (32.0, 32.0))

    w.cpdis1, w.cpdis2, w.det2im1, w.det2im2 = table(), table(), table(), table()
    return w


def _header_wcs() -> WCS:
    """A camera's header WCS (no SIP, an alternate description, units kept as written)."""
    h = fits.Header()
    h["NAXIS"], h["NAXIS1"], h["NAXIS2"] = 2, 2048, 1536
    for key in ("", "A"):
        h[f"CTYPE1{key}"], h[f"CTYPE2{key}"] = "RA---TAN", "DEC--TAN"
        h[f"CRVAL1{key}"], h[f"CRVAL2{key}"] = 83.63321234567891, 22.01451234567891
        h[f"CRPIX1{key}"], h[f"CRPIX2{key}"] = 1024.5, 768.5
        h[f"CDELT1{key}"], h[f"CDELT2{key}"] = -1.2345678901234567, 1.2345678901234567
        h[f"CUNIT1{key}"], h[f"CUNIT2{key}"] = "arcsec", "arcsec"
        h[f"PC1_1{key}"], h[f"PC1_2{key}"] = 0.9999999876543211, 1.5707963267948966e-4
        h[f"PC2_1{key}"], h[f"PC2_2{key}"] = -1.5707963267948966e-4, 0.9999999876543211
        h[f"EQUINOX{key}"] = 2000.0
    h["DATE-OBS"] = "2024-01-02T03:04:05.5"
    with warnings.catch_warnings():  # MJD-OBS set from DATE-OBS: as when a header is read
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(h, key="A", preserve_units=True)


def _cross(w: WCS) -> WCS:
    return wcs_from_state(pickle.loads(pickle.dumps(wcs_state(w))))


def _assert_same(w: WCS, back: WCS) -> None:
    assert type(back) is WCS and back is not w
    # Every card, written at full precision (not only the 14 digits of to_header).
    full = fits.Header.fromstring(w.wcs.to_header(WCSHDO_all | WCSHDO_P17))
    assert fits.Header.fromstring(back.wcs.to_header(WCSHDO_all | WCSHDO_P17)) == full
    assert back.to_header_string(relax=True) == w.to_header_string(relax=True)
    for name in ("crval", "crpix", "get_cdelt", "get_pc"):
        mine, theirs = getattr(w.wcs, name), getattr(back.wcs, name)
        assert np.array_equal(
            theirs() if callable(theirs) else theirs, mine() if callable(mine) else mine
        ), name
    assert list(back.wcs.cunit) == list(w.wcs.cunit) and back.wcs.alt == w.wcs.alt
    assert back.pixel_shape == w.pixel_shape and back.pixel_bounds == w.pixel_bounds
    assert (back.sip is None) == (w.sip is None)
    if w.sip is not None:
        for name in ("a", "b", "ap", "bp", "crpix"):
            assert np.array_equal(getattr(back.sip, name), getattr(w.sip, name)), name
    for name in ("cpdis1", "cpdis2", "det2im1", "det2im2"):
        mine, theirs = getattr(w, name), getattr(back, name)
        assert (theirs is None) == (mine is None), name
        if mine is not None:
            assert np.array_equal(theirs.data, mine.data)
            for part in ("crpix", "crval", "cdelt"):
                assert np.array_equal(getattr(theirs, part), getattr(mine, part)), part
    world = w.all_pix2world(XY, 0)
    assert np.array_equal(back.all_pix2world(XY, 0), world)
    assert np.array_equal(back.wcs_pix2world(XY, 0), w.wcs_pix2world(XY, 0))
    sky = w.pixel_to_world(XY[:, 0], XY[:, 1])
    again = back.pixel_to_world(XY[:, 0], XY[:, 1])
    # NaN outside the pixel bounds, in both.
    assert np.array_equal(again.ra.deg, sky.ra.deg, equal_nan=True)
    assert np.array_equal(again.dec.deg, sky.dec.deg, equal_nan=True)
    assert again.frame.name == sky.frame.name
    if w.sip is None or w.sip.ap is not None:  # all_world2pix iterates without AP/BP
        assert np.array_equal(back.all_world2pix(world, 0), w.all_world2pix(world, 0))


@pytest.mark.parametrize("cd", [True, False])
def test_a_sip_solution_crosses_bit_for_bit(cd: bool) -> None:
    w = _solution(cd)
    _assert_same(w, _cross(w))


def test_lookup_table_distortions_cross_with_their_arrays() -> None:
    w = _tables(_solution())
    _assert_same(w, _cross(w))


def test_a_header_wcs_with_an_alternate_key_and_its_own_units_crosses_whole() -> None:
    w = _header_wcs()
    back = _cross(w)
    _assert_same(w, back)
    assert back.wcs.alt == "A" and list(back.wcs.cunit) == ["arcsec", "arcsec"]
    assert back.wcs.dateobs == w.wcs.dateobs and back.wcs.equinox == 2000.0


def test_the_header_text_would_not_have_crossed_exactly() -> None:
    # What the crossing replaces: the 14 digits of to_header move the solution's numbers.
    w = _solution()
    text = WCS(w.to_header_string(relax=True), relax=True)
    assert not np.array_equal(text.wcs.crval, w.wcs.crval)
    assert np.array_equal(_cross(w).wcs.crval, w.wcs.crval)


def test_what_the_text_cannot_carry_goes_as_astropy_pickles_it() -> None:
    class Mine(WCS):
        pass

    w = Mine(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    assert wcs_state(w) is w and wcs_state(None) is None
    assert wcs_from_state(w) is w and wcs_from_state(None) is None
