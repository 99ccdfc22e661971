"""A curve of growth's diagnostics file: astropy's own bytes, and the curve read back exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from fluxion.core.chain.curve_fits import curve_file_bytes, curve_tables, growth_hdus
from fluxion.core.photometry.growth import CurveOfGrowth, curve_from_tables


def _curve(n_stars: int, target: bool, seed: int = 5) -> CurveOfGrowth:
    rng = np.random.default_rng(seed)
    radii = np.linspace(1.6, 15.4, 20)
    frac = 1 - np.exp(-radii / 2.0)
    flux = rng.lognormal(8, 1, (n_stars, 20)) * frac
    flux[:, 3] = np.nan if n_stars else flux[:, 3]  # a radius no star could give
    return CurveOfGrowth(
        radii, frac, frac / frac.max(), frac if target else None, frac if target else None,
        n_stars, 3.080560923586652,
        "smallest radius at which the field (and target) curves pass 70% of their plateau "
        "and differ by less than 5%",
        flux, flux * 1.3, np.pi * radii**2 * np.ones((n_stars, 1)), rng.random(n_stars),
    )  # fmt: skip


def _astropy_bytes(curves, cards, stars, annulus) -> bytes:
    """The same file as astropy writes it: the PSF method's diagnostics' own HDUs."""
    primary = fits.PrimaryHDU()
    for card in annulus:
        primary.header.append(card)
    buf = io.BytesIO()
    fits.HDUList([primary, *growth_hdus(curves, cards, stars)]).writeto(buf, output_verify="ignore")
    return buf.getvalue()


@pytest.mark.parametrize(("n_stars", "target"), [(61, False), (7, True), (0, False)])
def test_curve_file_is_astropys_and_reads_back(n_stars: int, target: bool) -> None:
    curves, cards, stars = curve_tables(_curve(n_stars, target))
    annulus = [fits.Card("ANN_IN", 16.25851598559622, "sky annulus inner radius (px)")]
    blob = curve_file_bytes(curves, cards, stars, annulus)
    assert blob == _astropy_bytes(curves, cards, stars, annulus)
    assert len(blob) % 2880 == 0
    with fits.open(io.BytesIO(blob)) as hdul:
        assert hdul[0].header["ANN_IN"] == 16.25851598559622
        back = Table.read(hdul["GROWTH"])
        growth = hdul["GROWTH"].header
        back.meta = {"optimum_radius": growth["OPT_RAD"], "rule": growth["RULE"]}
        kept = Table.read(hdul["GROWTH_STARS"]) if "GROWTH_STARS" in hdul else None
    got = curve_from_tables(back, kept)
    want = _curve(n_stars, target)
    for name in ("radii", "field_fraction", "target_fraction", "star_flux", "star_sky_err"):
        a, b = getattr(got, name), getattr(want, name)
        if n_stars == 0 and name.startswith("star"):
            assert a is None
            continue
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
    assert got.optimum_radius == want.optimum_radius
