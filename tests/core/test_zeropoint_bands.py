"""Filter-to-band mapping and the published system transformations, by hand."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.zeropoint.bands import (
    BandError,
    band_for_filter,
    catalog_magnitudes,
    catalog_name,
    colour_index_values,
    unknown_band_notes,
)


@pytest.mark.parametrize(
    ("filt", "band"),
    [("R", "R"), ("r", "r"), ("r'", "r"), ("rp", "r"), ("Rc", "R"), ("V", "V"), ("Clear", "R"),
     (None, "R"), ("ip", "i"), ("Johnson B", "B"),
     # A UV/IR-cut window is a luminance filter (the Seestar S50's FILTER 'IRCUT').
     ("IRCUT", "R"), ("UV/IR Cut", "R"), ("IR-cut", "R")],
)  # fmt: skip
def test_filter_names(filt, band):
    assert band_for_filter(filt)[0] == band


def test_clear_band_and_unknown_filter():
    assert band_for_filter("L", clear_band="V") == (
        "V",
        "filter 'L' is unfiltered: calibrated to V",
    )
    with pytest.raises(BandError, match="not a known band"):
        band_for_filter("Halpha")


def test_chonis_gaskell_from_apass_columns():
    cat = Table({"g'mag": [15.0], "e_g'mag": [0.02], "r'mag": [14.5], "e_r'mag": [0.03],
                 "i'mag": [14.2], "e_i'mag": [0.01], "Vmag": [14.7], "e_Vmag": [0.02]})  # fmt: skip
    assert catalog_name(cat) == "APASS"
    r = catalog_magnitudes(cat, "R")
    assert r.mag[0] == pytest.approx(14.5 - 0.272 * 0.3 - 0.159)
    # Propagated: d/dr = 1 - 0.272, d/di = 0.272, plus coefficient errors.
    var = (0.728 * 0.03) ** 2 + (0.272 * 0.01) ** 2 + 0.022**2 + (0.3 * 0.092) ** 2
    assert r.mag_err[0] == pytest.approx(np.sqrt(var))
    assert "Chonis & Gaskell" in r.how
    assert catalog_magnitudes(cat, "V").mag[0] == 14.7  # APASS has V itself
    assert catalog_magnitudes(cat, "I").mag[0] == pytest.approx(14.2 - 0.337 * 0.3 - 0.370)


def test_chonis_gaskell_colour_range():
    cat = Table({"r": [14.0, 14.0], "i": [13.9, 13.0], "r_err": [0.01] * 2, "i_err": [0.01] * 2})
    cat.meta["source"] = "SDSS"
    r = catalog_magnitudes(cat, "R")
    assert np.isfinite(r.mag[0]) and np.isnan(r.mag[1])  # r-i = 1.0 is outside 0.08..0.5


def test_tonry_from_refcat2():
    cat = Table({"gmag": [15.0], "e_gmag": [0.01], "rmag": [14.4], "e_rmag": [0.01],
                 "imag": [14.2], "e_imag": [0.01], "rcontrib": [1]})  # fmt: skip
    assert catalog_name(cat) == "ATLAS-RefCat2"
    x = 0.6
    assert catalog_magnitudes(cat, "R").mag[0] == pytest.approx(
        14.4 - 0.137 - 0.108 * x - 0.029 * x**2
    )
    assert catalog_magnitudes(cat, "B").mag[0] == pytest.approx(
        15.0 + 0.212 + 0.556 * x + 0.034 * x**2
    )
    # PS1 g is not SDSS g: the SDSS g comes through Tonry's PS1 -> SDSS relation.
    assert catalog_magnitudes(cat, "g").mag[0] == pytest.approx(
        15.0 + 0.013 + 0.145 * x + 0.019 * x**2
    )
    bv, _, how = colour_index_values(cat, "B-V")
    v = 15.0 + 0.005 - 0.536 * x + 0.011 * x**2
    assert bv[0] == pytest.approx(15.0 + 0.212 + 0.556 * x + 0.034 * x**2 - v)
    assert "Tonry" in how


def test_missing_band_is_a_clear_error():
    cat = Table({"G": [12.0]})
    cat.meta["source"] = "Gaia DR3"
    with pytest.raises(BandError, match="no V magnitudes"):
        catalog_magnitudes(cat, "V")


def test_unknown_band_notes_name_the_filter_its_files_and_the_choice():
    lights = [(f"f{k}.fit", "Filter 2") for k in range(5)] + [("v.fit", "V"), ("c.fit", None)]
    (line,) = unknown_band_notes(lights)
    assert "filter 'Filter 2' of 5 lights (f0.fit, f1.fit, f2.fit and 2 more)" in line
    assert "--band BAND" in line and "Zero point step's Band" in line
    assert "U B V R I u g r i z G" in line
    assert unknown_band_notes([("v.fit", "V"), ("c.fit", "")]) == []
    with pytest.raises(BandError, match="--band"):
        band_for_filter("Filter 2")
