"""Undersampled frames: the solver's centroids from a pixel-integrated Gaussian fit.

Both checks go through the real solve paths: ``solve_files`` (what ``fluxion
solve`` runs) for the real EY UMa thumbnail, ``chain.solve_frame`` (the
project's) for a simulated night with a 0.9 px FWHM.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import mad_std
from astropy.table import Table
from astropy.wcs import WCS
from photutils.psf import GaussianPRF

from fluxion.core import chain
from fluxion.core.astrometry import PlateSolver, SolveParams
from fluxion.core.astrometry.centroids import (
    centroid_method,
    centroids_for_solving,
    prf_centroids,
)
from fluxion.core.astrometry.files import solve_files
from fluxion.core.astrometry.noise import gain_from_sky, noise_map
from fluxion.core.catalogs import LocalCatalog
from fluxion.core.io.sequence import scan
from fluxion.core.project.products import ProductStore
from fluxion.core.runtime.quiet import quiet
from fluxion.core.simulation.simulate import NightConfig, simulate_night

SCALE = 3.0  # arcsec/px: a 0.9 px FWHM is 2.7 arcsec seeing
CONFIG = NightConfig(
    n_frames=2,
    shape=(256, 256),
    fwhm=0.9,
    pixel_scale=SCALE,
    star_density=1.5,
    rotation=20.0,
    pointing_error=120.0,
    asteroid=False,
    n_bias=1,
    n_dark=1,
    n_flat=1,
    seed=7,
)


def test_auto_chooses_prf_below_one_and_a_half_pixels():
    assert centroid_method("auto", 0.9) == "prf"
    assert centroid_method("auto", 2.0) == "detected"
    assert centroid_method("auto", float("nan")) == "detected"
    assert centroid_method("prf", 3.0) == "prf"
    with pytest.raises(ValueError, match="auto, detected, prf"):
        centroid_method("windowed", 1.0)
    # Without an image there is nothing to fit: the detected centroids stay, and it says why.
    sources = Table({"x": [1.0], "y": [2.0]}, meta={"fwhm": 0.8})
    kept = centroids_for_solving(None, sources, "auto")
    assert kept.meta["centroids"] == "detected" and "no image" in kept.meta["centroids_note"]


def test_frame_prf_recovers_an_elongated_psf_and_honest_errors():
    """Elongated undersampled stars (0.6 x 0.9 px FWHM at 30 deg) with known positions.

    The frame's PRF shape comes back within 5%, the fixed-shape centroids
    scatter about the truth as their reported errors say (robust pull width
    0.91; a few stars sharing their box with a neighbour are off by more),
    and 4.6 times less than per-star circular fits (0.030 against 0.136 px).
    """
    rng = np.random.default_rng(11)
    shape, n = (160, 160), 60
    truth = GaussianPRF(x_fwhm=0.6, y_fwhm=0.9, theta=30.0)
    x = rng.uniform(6, shape[1] - 7, n)
    y = rng.uniform(6, shape[0] - 7, n)
    flux = np.geomspace(20000, 1500, n)
    image = np.zeros(shape)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for xi, yi, fi in zip(x, y, flux, strict=True):
        image += truth.evaluate(xx, yy, fi, xi, yi, 0.6, 0.9, 30.0)
    noise = np.sqrt(image + 100.0 + 5.0**2)  # photon noise on a sky of 100, read noise 5
    image = rng.poisson(image + 100.0).astype(float) + rng.normal(0, 5, shape)
    # Detection's windowed centroids of such stars are off by ~0.1-0.2 px.
    x0 = x + rng.normal(0, 0.15, n)
    y0 = y + rng.normal(0, 0.15, n)
    start = Table({"x": x0, "y": y0, "flux": flux, "fwhm": np.full(n, 0.8)})

    fitted = prf_centroids(image, start, fwhm=0.8, error=noise)
    prf = fitted.meta["prf"]
    widths = sorted((prf.x_fwhm, prf.y_fwhm))
    assert widths[0] == pytest.approx(0.6, rel=0.05) and widths[1] == pytest.approx(0.9, rel=0.05)
    ok = np.isfinite(np.asarray(fitted["x_err"], float))
    assert ok.mean() > 0.95
    dx = np.asarray(fitted["x"], float)[ok] - x[ok]
    dy = np.asarray(fitted["y"], float)[ok] - y[ok]
    pulls = np.concatenate([dx / fitted["x_err"][ok], dy / fitted["y_err"][ok]])
    assert mad_std(pulls) == pytest.approx(1.0, rel=0.25)

    # Per-star circular widths (the shape pass given no star to learn from).
    circular = prf_centroids(image, start, fwhm=0.8, n_shape=0, error=noise)
    assert circular.meta["prf"] is None
    cx = np.asarray(circular["x"], float) - x
    cy = np.asarray(circular["y"], float) - y
    assert np.sqrt(np.mean(dx**2 + dy**2)) < 0.35 * np.sqrt(np.mean(cx[ok] ** 2 + cy[ok] ** 2))


def test_noise_map_terms():
    model = np.array([[-5.0, 0.0], [40.0, 4000.0]])
    # Negative model (a fit's ringing) adds no photon noise; 4000 ADU at 2 e-/ADU adds 2000 ADU^2.
    assert noise_map(model, 3.0, 2.0) == pytest.approx(np.sqrt([[9, 9], [29, 2009]]))
    assert noise_map(model, 3.0, None) == pytest.approx(np.full((2, 2), 3.0))
    assert gain_from_sky(300.0, np.sqrt(150.0)) == pytest.approx(2.0)
    assert gain_from_sky(0.0, 3.0) is None and gain_from_sky(300.0, float("nan")) is None


def test_noise_map_makes_bright_stars_centroid_errors_honest():
    """Without a noise map given, one is made: sky rms plus the stars' photon noise.

    0.6 x 0.9 px stars of 1500-60000 ADU at a gain of 2 e-/ADU on a sky of
    300 ADU. The gain estimated from the sky (level / rms^2, 1.81 with the
    read noise in the rms) or given: the centroids' pulls about the truth
    have a robust width of 1.07-1.12, 0.94-0.98 for the stars above 20000
    ADU (0.98-1.02 and 0.88-0.91 over four other noise draws). An
    unweighted fit, errors scaled by the box's residuals, gave 2.65 for
    those: bright stars' errors three times too small.
    """
    rng = np.random.default_rng(3)
    shape, n, gain, sky, read_noise = (160, 160), 60, 2.0, 300.0, 8.0
    truth = GaussianPRF(x_fwhm=0.6, y_fwhm=0.9, theta=30.0)
    x = rng.uniform(6, shape[1] - 7, n)
    y = rng.uniform(6, shape[0] - 7, n)
    flux = np.geomspace(60000, 1500, n)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    stars = np.zeros(shape)
    for xi, yi, fi in zip(x, y, flux, strict=True):
        stars += truth.evaluate(xx, yy, fi, xi, yi, 0.6, 0.9, 30.0)
    electrons = rng.poisson((stars + sky) * gain) + rng.normal(0, read_noise, shape)
    image = electrons / gain
    sky_rms = np.sqrt(sky / gain + (read_noise / gain) ** 2)
    start = Table(
        {"x": x + rng.normal(0, 0.15, n), "y": y + rng.normal(0, 0.15, n), "flux": flux},
        meta={"sky": sky, "sky_noise": sky_rms},
    )
    bright = flux > 20000
    for given in (None, gain):
        fitted = prf_centroids(image, start, fwhm=0.8, gain=given)
        assert fitted.meta["gain"] == pytest.approx(gain, rel=0.12)
        assert fitted.meta["gain_from_sky"] is (given is None)
        ok = np.isfinite(np.asarray(fitted["x_err"], float))
        assert ok.mean() > 0.95
        px = (np.asarray(fitted["x"], float) - x) / np.asarray(fitted["x_err"], float)
        py = (np.asarray(fitted["y"], float) - y) / np.asarray(fitted["y_err"], float)
        assert mad_std(np.concatenate([px[ok], py[ok]])) == pytest.approx(1.0, abs=0.15)
        sel = ok & bright
        assert mad_std(np.concatenate([px[sel], py[sel]])) == pytest.approx(1.0, abs=0.25)


@pytest.fixture(scope="module")
def undersampled_night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("undersampled_night")
    simulate_night(out, CONFIG)
    return out


def _field_error_px(fitted: WCS, truth: WCS) -> float:
    """RMS sky distance (px) between two WCS over a 15 x 15 grid of the frame."""
    g = np.linspace(0, CONFIG.shape[0] - 1, 15)
    gx, gy = (a.ravel() for a in np.meshgrid(g, g))
    sep = truth.pixel_to_world(gx, gy).separation(fitted.pixel_to_world(gx, gy)).arcsec
    return float(np.sqrt(np.mean(sep**2)) / SCALE)


def test_simulated_undersampled_night_solves_closer_to_the_truth_with_prf(
    undersampled_night, tmp_path
):
    """0.9 px FWHM: fitted centroids cut the WCS error over the field three- to fourfold."""
    lights = [f for f in scan(undersampled_night) if f.type == "light"]
    catalog = str(undersampled_night / "truth/reference_catalog.ecsv")
    errors: dict[str, list[float]] = {}
    for choice in ("detected", "auto"):
        store = ProductStore(tmp_path / choice)
        params = SolveParams(
            catalog="Local file", catalog_file=catalog, pixel_scale=SCALE, centroids=choice
        )
        for f in lights:
            result = chain.solve_frame(store, f, params)
            assert result.solved, result.reason
            assert result.centroids == ("prf" if choice == "auto" else "detected")
            truth_file = undersampled_night / "truth" / f"{f.path.stem}.wcs.fits"
            with quiet():
                truth = WCS(fits.getheader(truth_file))
            errors.setdefault(choice, []).append(_field_error_px(result.wcs, truth))
    detected, prf = np.array(errors["detected"]), np.array(errors["auto"])
    # Measured: detected 0.085 and 0.107 px, prf 0.025 and 0.026 px.
    assert np.all(detected > 0.07)
    assert np.all(prf < 0.045)
    assert np.all(prf < 0.4 * detected)


# The recorded solution is a header-only file (NAXIS = 0), which astropy remarks on.
@pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")
def test_real_ey_uma_thumbnail_through_solve_files(shared_data, tmp_path):
    """The 256 x 256 EY UMa thumbnail (FWHM ~0.6 px, 9 arcsec/px) through ``solve_files``.

    "auto" fits the frame's elliptical pixel-integrated PSF (0.53 x 0.60 px)
    with a noise map (sky rms 2.6 ADU; no GAIN in the header, so the gain
    from the sky: 415 e-/unit): the TAN fit's RMS falls from 0.35-0.36 px
    (detected centroids) to 0.110-0.119 px over 30 of 30 (RefCat2) and 27
    of 27 (APASS) stars, each weighted by its centroid and catalog errors.
    SIP order 3 is allowed, but the stars left out of the fit are predicted
    best by a plain TAN. The centre then agrees with the recorded
    astrometry.net solution (index 5206, 50 stars, SIP 2, simplexy
    centroids) to 0.35 arcsec (RefCat2) and 0.43 arcsec (APASS), mostly in
    Dec (+0.36, +0.46); the fit's 1-sigma uncertainty of the centre is
    0.17-0.19 arcsec per axis, which a bootstrap over the stars confirms
    (0.22 / 0.19 and 0.26 / 0.22 in RA / Dec; see bench_astrometry.py
    ey-uma). The recorded solution's own error is not recorded. The two
    catalogs' centres agree to 0.1 arcsec.
    """
    base = shared_data / "astroquery" / "astrometry_net"
    cats = shared_data / "stellarphot" / "stellarphot" / "tests" / "data"
    image = base / "thumbnail-image.fit.gz"
    recorded = WCS(fits.getheader(base / "wcs-sol-from-thumbnail-image-index-5200.fit"))
    centres = []
    for name, epoch, limit in (
        ("all_refcat2_ey_uma.ecsv", 2015.5, 0.42),
        ("all_apass_ey_uma.ecsv", 2000.0, 0.52),
    ):
        rms = {}
        for choice in ("detected", "auto"):
            params = SolveParams(sip_order=3, min_matches=6, max_rms=0.6, centroids=choice)
            solver = PlateSolver(params, catalog=LocalCatalog(cats / name, epoch=epoch))
            out = tmp_path / f"{name}-{choice}"
            # OBJCTRA/OBJCTDEC of the header as the pointing; 9 arcsec/px typed.
            table = solve_files([image], solver, out, ra=135.58333, dec=49.82194, scale=9.0)
            row = table[0]
            assert row["solved"], row["reason"]
            assert row["centroids"] == ("prf" if choice == "auto" else "detected")
            assert row["n_matched"] >= (26 if choice == "auto" else 20)
            assert row["pixel_scale"] == pytest.approx(9.0, rel=0.01)
            rms[choice] = row["rms_arcsec"] / row["pixel_scale"]
        # The fitted centroids are three times as precise as the detected ones.
        assert rms["auto"] < 0.12 < 0.3 < rms["detected"]
        header = fits.getheader(out / "thumbnail-image.wcs")
        ours = WCS(header)
        assert ours.wcs.ctype[0] == "RA---TAN"  # chosen on held-out stars, not asked
        # The centre's 1-sigma error per axis, measured 0.174 (RefCat2) and 0.191 (APASS).
        assert 0.15 < row["center_err"] < 0.22 and header["FLXCERR"] == pytest.approx(
            row["center_err"], abs=1e-4
        )
        theirs = recorded.pixel_to_world(127.5, 127.5)  # CRPIX of the recorded solution
        centre = ours.pixel_to_world(127.5, 127.5)
        assert centre.separation(theirs).arcsec < limit
        centres.append(centre)
    assert centres[0].separation(centres[1]).arcsec < 0.15
