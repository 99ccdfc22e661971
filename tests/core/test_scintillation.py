"""Scintillation: the formula, the aperture from the headers, the simulator's twinkling, and
bright stars' differential light-curve errors with and without the term.

A simulated night whose stars twinkle (``scintillation_aperture``) is measured
as :func:`~fluxion.core.lightcurve.run.measure_frames` measures a light curve;
each bright star against the ensemble of the others must scatter as its
``mag_err`` says (chi2/N 0.8-1.2) when the frames' scintillation is in the
errors, and well above that when it is not: with 10 s exposures through a
100 mm aperture the stars twinkle by ~0.8 %, three times the photon noise of
the V < 14 stars. The same for the calibrated magnitudes of ``fluxion run``
(the photometry step, then the zero point with the frame's term): 2.2 without,
1.1 with. Only isolated stars count: with neighbours within 12 px the bright
stars scattered 1.4x their errors with the term, the neighbours' wings
following the seeing.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.io.frames import frame_info
from fluxion.core.io.headers import normalise_header
from fluxion.core.lightcurve.differential import differential_magnitudes
from fluxion.core.lightcurve.run import LightCurveParams, measure_frames
from fluxion.core.lightcurve.scintillation import frame_scintillation, site_height
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.photometry.params import PhotometryParams
from fluxion.core.photometry.scintillation import Scintillation, add_scintillation, scintillation
from fluxion.core.photometry.step import Photometry
from fluxion.core.simulation.simulate import NightConfig, make_night
from fluxion.core.zeropoint import ZeroPoint, ZeroPointParams

SHAPE = (256, 256)
WIDE = (400, 400)
N_FRAMES = 16
APERTURE_MM = 100.0
EXPTIME = 10.0
WINDOW = (0.8, 1.2)


def test_young_formula_with_osborn_factor():
    # Young (1967): 0.09 D_cm^(-2/3) X^1.75 exp(-h/8000) (2t)^(-1/2); Osborn et al.'s
    # eq. 7 with C_Y = 1 is the same within 7 %, and C_Y scales it.
    young = 0.09 * 15.2 ** (-2 / 3) * 1.3**1.75 * np.exp(-20 / 8000) / np.sqrt(120.0)
    one = float(scintillation(0.152, 1.3, 60.0, 20.0, c_y=1.0))
    assert one == pytest.approx(young, rel=0.07)
    assert float(scintillation(0.152, 1.3, 60.0, 20.0)) == pytest.approx(1.5 * one)
    # Higher, longer, wider: less.
    assert scintillation(0.152, 1.3, 60.0, 2000.0) < scintillation(0.152, 1.3, 60.0, 0.0)
    assert scintillation(0.152, 1.3, 240.0) == pytest.approx(scintillation(0.152, 1.3, 60.0) / 2)
    assert scintillation(0.3, 2.0, 60.0) < scintillation(0.152, 2.0, 60.0)
    assert np.all(scintillation(None, [1.0, 2.0], 60.0) == 0.0)


def test_aperture_from_the_headers():
    def aperture(**cards):
        return normalise_header(fits.Header(cards)).aperture_mm

    assert aperture() is None
    assert aperture(APTAREA=np.pi * 100.0**2) == pytest.approx(200.0)
    assert aperture(APTDIA=152.0, APTAREA=np.pi * 100.0**2) == pytest.approx(152.0)
    facts = normalise_header(fits.Header({"APTDIA": "unknown", "APTAREA": np.pi * 50.0**2}))
    assert facts.aperture_mm == pytest.approx(100.0)
    assert facts.sources["aperture_mm"].startswith("APTAREA")


def test_left_out_and_said_so_when_the_aperture_is_unknown():
    airmass = np.array([1.2, 1.3, np.nan])
    none = Scintillation.for_night(None, airmass, 60.0, 100.0)
    assert not none.included and np.all(none.sigma == 0.0)
    assert "aperture is not known" in none.note
    assert none.meta()["scintillation_included"] is False
    some = Scintillation.for_night(0.2, airmass, 60.0, None, diameter_source="APTDIA")
    assert some.included and some.sigma[2] == 0.0
    assert some.sigma[1] == pytest.approx(float(scintillation(0.2, 1.3, 60.0, 0.0)))
    assert "200 mm (APTDIA)" in some.note and "(assumed)" in some.note
    assert "1 frame(s) without an airmass" in some.note
    err = add_scintillation(np.array([1e5, -5.0, np.nan]), np.array([300.0, 10.0, 1.0]), 0.004)
    assert err == pytest.approx([500.0, 10.0, 1.0])


def test_the_simulator_twinkles_only_when_asked():
    config = NightConfig(shape=SHAPE, n_frames=3, exptime=EXPTIME, seed=5, star_density=3.0)
    still = make_night(config)
    twinkling = make_night(
        NightConfig(shape=SHAPE, n_frames=3, exptime=EXPTIME, seed=5, star_density=3.0,
                    scintillation_aperture=APERTURE_MM)
    )  # fmt: skip
    assert still.truth(0).meta["scintillation"] == 0.0
    assert "APTDIA" not in still.light(0)[1]
    assert normalise_header(twinkling.light(0)[1]).aperture_mm == pytest.approx(APERTURE_MM)
    pulls = []
    for i in range(3):
        a, b = still.truth(i), twinkling.truth(i)
        sigma = b.meta["scintillation"]
        assert sigma == pytest.approx(
            float(scintillation(0.1, twinkling.airmass[i], EXPTIME, config.site_elev))
        )
        assert np.all(a["mag_V"] == b["mag_V"])  # the star's brightness does not twinkle
        stars = np.asarray(a["kind"]) == "star"
        pulls.append((np.asarray(b["flux"])[stars] / np.asarray(a["flux"])[stars] - 1) / sigma)
    pulls = np.concatenate(pulls)
    assert pulls.size > 300
    assert 0.9 < np.std(pulls) < 1.1 and abs(np.mean(pulls)) < 0.15


def _isolated_stars(
    truth, shape: tuple[int, int], margin: int, v_max: float = 14.0
) -> tuple[np.ndarray, np.ndarray]:
    """Ids and V of the unsaturated constant stars with no other source within 12 px.

    A neighbour's wings in the aperture follow the seeing: that is crowding's
    error, not scintillation's.
    """
    x, y = np.asarray(truth["x"], float), np.asarray(truth["y"], float)
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(d, np.inf)
    ny, nx = shape
    v = np.asarray(truth["mag_V"], float)
    ok = (x > margin) & (x < nx - margin - 1) & (y > margin) & (y < ny - margin - 1)
    ok &= ~np.asarray(truth["saturated"], bool) & (np.asarray(truth["kind"]) == "star")
    ok &= (d.min(axis=1) > 12) & (v < v_max)
    return np.asarray(truth["id"])[ok], v[ok]


@pytest.fixture(scope="module")
def twinkling_night():
    """Bright isolated stars of a twinkling night, measured in every light."""
    night = make_night(
        NightConfig(shape=SHAPE, n_frames=N_FRAMES, exptime=EXPTIME, interval=60.0,
                    star_density=4.0, mag_bright=11.0, mag_faint=15.0, seed=7,
                    scintillation_aperture=APERTURE_MM)
    )  # fmt: skip
    truths = [night.truth(i) for i in range(N_FRAMES)]
    ids, _ = _isolated_stars(truths[0], SHAPE, 25)
    xy = np.array(
        [[(t["x"][t["id"] == k][0], t["y"][t["id"] == k][0]) for k in ids] for t in truths]
    )
    facts = normalise_header(night.light(0)[1])
    scint = Scintillation.for_night(
        facts.aperture_mm / 1000.0, night.airmass, EXPTIME, night.config.site_elev,
        diameter_source="APTDIA",
    )  # fmt: skip
    dark = night.dark_current * EXPTIME

    def image(i: int) -> np.ndarray:
        adu = night.light(i)[0].astype(float)
        return ((adu - night.bias_level) * night.gain - dark) / night.flat_field

    images = [image(i) for i in range(N_FRAMES)]
    params = LightCurveParams(aperture_radius=6.0, annulus_inner=10.0, annulus_outer=16.0)
    noise = NoiseModel(read_noise=night.read_noise)
    measured = {
        with_term: measure_frames(
            images.__getitem__,
            xy[:, 0],
            xy,
            params,
            noise=noise,
            scintillation=scint.sigma if with_term else None,
        )  # fmt: skip
        for with_term in (False, True)
    }
    return scint, measured


def _chi2_against_the_others(m) -> tuple[float, int]:
    """Each star against the ensemble of all the others, its constant offset fitted."""
    flux, err = m.star_flux, m.star_err
    n = flux.shape[1]
    chi2, dof = 0.0, 0
    for j in range(n):
        others = [k for k in range(n) if k != j]
        diff = differential_magnitudes(flux[:, j], err[:, j], flux[:, others], err[:, others])
        w = 1.0 / diff.mag_err**2
        r = diff.mag - np.sum(w * diff.mag) / np.sum(w)
        chi2 += float(np.sum(w * r**2))
        dof += len(r) - 1
    return chi2 / dof, dof


def test_bright_stars_errors_are_honest_with_scintillation(twinkling_night):
    scint, measured = twinkling_night
    assert scint.included and np.median(scint.sigma) > 0.005
    with_term, dof = _chi2_against_the_others(measured[True])
    without, _ = _chi2_against_the_others(measured[False])
    assert dof >= 150
    print(f"chi2/N with the term {with_term:.2f}, without {without:.2f}, dof {dof}")
    assert WINDOW[0] < with_term < WINDOW[1], (with_term, without)
    # Photon noise alone: the stars scatter several times their errors.
    assert without > 2.0, without


def test_a_frames_scintillation_from_its_header(tmp_path):
    night = make_night(
        NightConfig(shape=SHAPE, n_frames=1, exptime=EXPTIME, scintillation_aperture=APERTURE_MM)
    )
    data, header, truth = night.light(0)
    path = tmp_path / "light.fits"
    fits.PrimaryHDU(data, header).writeto(path)
    scint = frame_scintillation(frame_info(path), None)  # the header's AIRMASS
    assert scint.included and "APTDIA" in scint.note
    assert scint.sigma[0] == pytest.approx(truth.meta["scintillation"], rel=1e-3)
    del header["APTDIA"]
    fits.PrimaryHDU(data, header).writeto(path, overwrite=True)
    left_out = frame_scintillation(frame_info(path), None)
    assert not left_out.included and left_out.sigma[0] == 0.0


@pytest.fixture(scope="module")
def calibrated_twinkling_night():
    """Bright stars' calibrated magnitudes, the zero point fitted with and without the term."""
    night = make_night(
        NightConfig(shape=WIDE, n_frames=N_FRAMES, exptime=EXPTIME, interval=60.0,
                    star_density=3.0, mag_bright=11.0, mag_faint=15.5, seed=9,
                    scintillation_aperture=APERTURE_MM)
    )  # fmt: skip
    truths = [night.truth(i) for i in range(N_FRAMES)]
    ids, v = _isolated_stars(truths[0], WIDE, 20, v_max=np.inf)
    catalog = night.catalog_realisation(np.random.default_rng(3))
    photometry = Photometry(PhotometryParams(method="aperture"))
    zero_point = ZeroPoint(ZeroPointParams())
    dark = night.dark_current * EXPTIME
    mags = {False: np.full((N_FRAMES, len(ids), 2), np.nan), True: None}
    mags[True] = mags[False].copy()
    for i, t in enumerate(truths):
        xy = np.array([(t["x"][t["id"] == k][0], t["y"][t["id"] == k][0]) for k in ids])
        adu = night.light(i)[0].astype(float)
        image = ((adu - night.bias_level) * night.gain - dark) / night.flat_field
        table = photometry.run(image, xy, gain=1.0, read_noise=night.read_noise).table
        table["ra"], table["dec"] = night.wcs(i).wcs_pix2world(
            np.asarray(table["x"]), table["y"], 0
        )
        for with_term in (False, True):
            z = zero_point(table, catalog, filter="V", image_shape=WIDE, exptime=EXPTIME,
                           scintillation=t.meta["scintillation"] if with_term else 0.0)  # fmt: skip
            assert z.calibrated
            mags[with_term][i, :, 0] = z.sources["mag"]
            mags[with_term][i, :, 1] = z.sources["mag_err"]
    return v, mags


def test_calibrated_bright_stars_errors_are_honest_with_scintillation(calibrated_twinkling_night):
    v, mags = calibrated_twinkling_night
    bright = np.flatnonzero(v < 14.0)
    assert len(bright) >= 10

    def chi2(m: np.ndarray) -> float:
        total, dof = 0.0, 0
        for j in bright:
            mag, err = m[:, j, 0], m[:, j, 1]
            w = 1.0 / err**2
            r = mag - np.sum(w * mag) / np.sum(w)  # the catalogue's offset, common to the night
            total += float(np.sum(w * r**2))
            dof += len(r) - 1
        return total / dof

    with_term, without = chi2(mags[True]), chi2(mags[False])
    print(f"calibrated chi2/N with the term {with_term:.2f}, without {without:.2f}")
    assert WINDOW[0] < with_term < WINDOW[1], (with_term, without)
    assert without > 2.0, without


def test_a_defaulted_site_height_counts_as_unknown(tmp_path):
    night = make_night(NightConfig(shape=SHAPE, n_frames=1, scintillation_aperture=APERTURE_MM))
    data, header, _ = night.light(0)
    path = tmp_path / "light.fits"
    fits.PrimaryHDU(data, header).writeto(path)
    assert site_height(frame_info(path)) == pytest.approx(night.config.site_elev)
    del header["SITEELEV"]
    fits.PrimaryHDU(data, header).writeto(path, overwrite=True)
    frame = frame_info(path)
    assert frame.site is not None and site_height(frame) is None
    scint = frame_scintillation(frame, None)
    assert "site 0 m (assumed)" in scint.note
