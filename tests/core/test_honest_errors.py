"""Every reported uncertainty against the simulator's truth.

Each error Fluxion reports (aperture and PSF fluxes, click centroids, the
track's positions, zero points, the light curve's ``mag_err``) is compared with
the truth over many draws, and its reduced chi-square (the mean squared pull,
pull = (measured - truth) / reported error) must lie in 0.8-1.2.

How many draws: the mean of N squared unit pulls scatters by sqrt(2 / N), so
for the 0.8-1.2 window to be at least four of those standard deviations wide
on either side each test pools N >= 800 pulls (sqrt(2/800) = 0.05); where the
pulls of one draw are correlated (a track's frames, a frame's stars through
its ensemble), more are pooled. Draws are independent noise realisations of
the simulator's frames (Poisson photons and read noise drawn by its camera),
so the truth is exact and a frame is rendered once.

The night is the one of the reported case: 60 s exposures, the asteroid at
V ~ 15.2-15.8, 24 lights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from astropy.table import Table
from photutils.aperture import CircularAperture, aperture_photometry

from fluxion.core.lightcurve.differential import differential_magnitudes
from fluxion.core.lightcurve.run import LightCurveParams, measure_frames
from fluxion.core.photometry.aperture import measure_apertures
from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.photometry.psf import fit_psf_photometry
from fluxion.core.simulation.camera import read_out
from fluxion.core.simulation.psf import add_sources
from fluxion.core.simulation.simulate import NightConfig, make_night
from fluxion.core.targets.tracking import Click, Track, fit_track, refine_click
from fluxion.core.zeropoint import ZeroPoint, ZeroPointParams

SHAPE = (512, 512)
N_FRAMES = 24
EXPTIME = 60.0
WINDOW = (0.8, 1.2)


@pytest.fixture(scope="module")
def night():
    return make_night(
        NightConfig(shape=SHAPE, n_frames=N_FRAMES, exptime=EXPTIME, star_density=2.5)
    )


@pytest.fixture(scope="module")
def frame0(night):
    """Light 0's truth, its noiseless raw expectation and its stars alone (e-)."""
    truth = night.truth(0)
    calibrated = night.light_expected_electrons(0)
    raw = night.light_expected_electrons(0, raw=True)
    return truth, raw, calibrated - night.sky_electrons(0)


def _draw(night, raw_expected, seed):
    """One exposure (ADU, as the camera writes it) and its perfect calibration (e-)."""
    adu = read_out(raw_expected, night.camera, np.random.default_rng(seed)).astype(float)
    e = (adu - night.bias_level) * night.gain - night.dark_current * night.config.exptime
    return adu, e / night.flat_field


def _isolated(truth, margin=25.0, radius=20.0):
    """Stars inside the frame, unsaturated, with no other source within ``radius`` px."""
    x, y = np.asarray(truth["x"], float), np.asarray(truth["y"], float)
    ny, nx = SHAPE
    ok = (x > margin) & (x < nx - 1 - margin) & (y > margin) & (y < ny - 1 - margin)
    ok &= ~np.asarray(truth["saturated"], bool) & (np.asarray(truth["kind"]) == "star")
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(d, np.inf)
    return ok & (d.min(axis=1) > radius)


def _chi2(pulls) -> float:
    p = np.concatenate([np.ravel(q) for q in pulls])
    return float(np.mean(p**2))


# -- aperture photometry -------------------------------------------------------

N_APERTURE_DRAWS = 20  # x ~50 isolated stars: ~1000 pulls per frame kind


def test_aperture_flux_errors_on_calibrated_and_raw_frames(night, frame0):
    """The case of the report: ``fluxion lightcurve`` measures raw lights.

    A raw frame still holds its bias (1000 ADU = 1500 e-): counted as photons
    by a noise model of the pixel values, it made a sky-limited star's error
    1.6x too large (chi2/N 0.41 over the asteroid's 24 frames; 0.40 here).
    The error now takes the background's noise measured in the annulus.
    """
    truth, raw_expected, stars = frame0
    keep = _isolated(truth)
    xy = np.column_stack([truth["x"][keep], truth["y"][keep]])
    r, annulus = 5.0, (10.0, 16.0)
    expected_cal = np.asarray(aperture_photometry(stars, CircularAperture(xy, r))["aperture_sum"])
    flat_stars = stars * night.flat_field
    expected_raw = np.asarray(
        aperture_photometry(flat_stars, CircularAperture(xy, r))["aperture_sum"]
    )
    # A raw frame's hot pixels are no noise an error could describe: apertures
    # holding one are left out of the raw comparison (calibration removes them).
    hot = night.camera.hot_pixels.astype(float)
    clean = np.asarray(aperture_photometry(hot, CircularAperture(xy, r + 1))["aperture_sum"]) == 0
    noise = NoiseModel(read_noise=night.read_noise)
    pulls = {"calibrated": [], "raw": []}
    for k in range(N_APERTURE_DRAWS):
        adu, cal = _draw(night, raw_expected, seed=100 + k)
        t = measure_apertures(cal, xy, r, annulus, noise=noise)
        pulls["calibrated"].append((t["flux"] - expected_cal) / t["flux_err"])
        # As `fluxion lightcurve` reads them: ADU times the gain, bias and all.
        t = measure_apertures(adu * night.gain, xy[clean], r, annulus, noise=NoiseModel())
        pulls["raw"].append((t["flux"] - expected_raw[clean]) / t["flux_err"])
    assert len(xy) >= 40 and clean.sum() >= 0.9 * len(xy)
    for kind, p in pulls.items():
        assert WINDOW[0] < _chi2(p) < WINDOW[1], (kind, _chi2(p))
        assert abs(np.mean(np.concatenate(p))) < 0.15, kind  # and unbiased


# -- click centroids -------------------------------------------------------------

N_CENTROID_DRAWS = 12  # x ~40 stars found x 2 axes: ~900 pulls


def test_click_centroid_errors_of_isolated_stars(night, frame0):
    truth, raw_expected, _ = frame0
    # No other source within 15 px (the 11 px box and its wings); peak S/N >~ 5.
    keep = _isolated(truth, radius=15.0) & (np.asarray(truth["flux"]) > 1500.0)
    xy = np.column_stack([truth["x"][keep], truth["y"][keep]])
    pulls, blended = [], 0
    for k in range(N_CENTROID_DRAWS):
        adu, cal = _draw(night, raw_expected, seed=200 + k)
        for x, y in xy:
            # A click 0.7 px off, as a hand makes it; the frame in electrons.
            r = refine_click(cal, x + 0.6, y - 0.4, gain=1.0)
            if r.found:
                pulls.append(((r.x - x) / r.sigma, (r.y - y) / r.sigma))
                blended += r.blended
    assert len(pulls) >= 400
    assert blended == 0  # an isolated star is never called a blend
    assert WINDOW[0] < _chi2(pulls) < WINDOW[1], _chi2(pulls)


def _pair_image(rng, target_xy, sep, angle, ratio, sky=500.0, flux=20000.0, fwhm=3.0):
    """A target and a neighbour ``ratio`` times brighter ``sep`` px away, drawn by the simulator."""
    image = np.full((64, 64), sky)
    x = np.array([target_xy[0], target_xy[0] + sep * np.cos(angle)])
    y = np.array([target_xy[1], target_xy[1] + sep * np.sin(angle)])
    add_sources(image, x, y, np.array([flux, ratio * flux]), np.full(2, fwhm), "moffat", 3.0)
    return rng.poisson(image) + rng.normal(0.0, 7.0, image.shape)


def test_a_click_pulled_by_a_bright_neighbour_is_a_blend_with_an_honest_error():
    """The report: a centroid pulled ~5 px by a star 10x brighter, said +-0.02 px."""
    rng = np.random.default_rng(7)
    pulls = []
    for k in range(45):
        sep, ratio = (3.5, 5.0, 7.0)[k % 3], (3.0, 10.0, 30.0)[(k // 3) % 3]
        target = 30.0 + rng.uniform(-0.5, 0.5, 2)
        image = _pair_image(rng, target, sep, rng.uniform(0, 2 * np.pi), ratio)
        r = refine_click(image, target[0] + 0.5, target[1] - 0.3)
        assert r.found and r.blended, (sep, ratio, r.message)
        assert "blended: a second source" in r.message
        pulls.append(((r.x - target[0]) / r.sigma, (r.y - target[1]) / r.sigma))
    # The clicked source's own centre, within its stated error (90 pulls:
    # chi2/N scatters by 0.15, so only a gross misstatement shows here; the
    # isolated stars above hold the error's scale).
    assert 0.5 < _chi2(pulls) < 1.6, _chi2(pulls)
    assert np.max(np.abs(pulls)) < 4.5


# -- tracks ------------------------------------------------------------------------

N_TRACKS = 120  # x 24 frames x 2 axes; a quadratic per axis leaves ~3 independent
# pulls per axis and track, so ~700 independent pulls behind the chi2/N.


@pytest.fixture(scope="module")
def asteroid(night):
    """The asteroid's truth (x, y) in every light, and each click frame's cutout expectation."""
    xy = []
    for i in range(N_FRAMES):
        t = night.truth(i)
        row = t[t["kind"] == "asteroid"][0]
        xy.append((float(row["x"]), float(row["y"])))
    return np.array(xy), {}


def _click_cutout(night, asteroid, i, seed, half=24):
    """A noise draw of the 48 px box around the asteroid in light ``i``, calibrated (e-)."""
    xy, cache = asteroid
    x0, y0 = (int(round(v)) - half for v in xy[i])
    box = (slice(y0, y0 + 2 * half), slice(x0, x0 + 2 * half))
    if i not in cache:
        cache[i] = night.light_expected_electrons(i, raw=True)[box]
    rng = np.random.default_rng(seed)
    electrons = rng.poisson(cache[i]) + night.read_noise * rng.standard_normal(cache[i].shape)
    dark = night.dark_current[box] * night.config.exptime
    return (electrons - dark) / night.flat_field[box], (x0, y0)


def _track(night, asteroid, frames, seed):
    xy, _ = asteroid
    jd = night.times.jd
    track = Track()
    for i in frames:
        image, (x0, y0) = _click_cutout(night, asteroid, i, seed * 100 + i)
        r = refine_click(image, xy[i, 0] - x0 + 0.6, xy[i, 1] - y0 - 0.4, gain=1.0)
        assert r.found and not r.blended
        track = track.with_click(Click(i, jd[i], r.x + x0, r.y + y0, r.sigma))
    return track


def test_track_position_errors(night, asteroid):
    xy, _ = asteroid
    wcs = [night.wcs(i) for i in range(N_FRAMES)]
    jd = night.times.jd
    pulls = []
    for k in range(N_TRACKS):
        fit = fit_track(_track(night, asteroid, (0, 8, 16, 23), seed=k), wcs)
        assert fit.frame_type == "sky" and fit.degree == 2 and fit.dof == 2
        pred = fit.predict(jd, wcs)
        sigma = np.asarray(pred["sigma_px"])
        pulls.append((np.asarray(pred["x"]) - xy[:, 0]) / sigma)
        pulls.append((np.asarray(pred["y"]) - xy[:, 1]) / sigma)
    assert WINDOW[0] < _chi2(pulls) < WINDOW[1], _chi2(pulls)


def test_three_clicks_make_a_line_whose_errors_cover_the_curved_path(night, asteroid):
    """The report: three clicks were a parabola through all three, "rms 0.00"."""
    xy, _ = asteroid
    wcs = [night.wcs(i) for i in range(N_FRAMES)]
    jd = night.times.jd
    worst = []
    for k in range(20):
        fit = fit_track(_track(night, asteroid, (0, 12, 23), seed=1000 + k), wcs)
        assert fit.degree == 1 and fit.dof == 2 and np.isfinite(fit.rms)
        pred = fit.predict(jd, wcs)
        err = np.hypot(np.asarray(pred["x"]) - xy[:, 0], np.asarray(pred["y"]) - xy[:, 1])
        # Radial error over the per-axis sigma: a line cannot follow the
        # path's curvature (0.3 px over the night), and its errors say so.
        worst.append(np.max(err / (np.sqrt(2) * np.asarray(pred["sigma_px"]))))
    assert np.max(worst) < 3.5, np.round(worst, 2)


# -- light curves ------------------------------------------------------------------


@pytest.fixture(scope="module")
def lights(night):
    """Each light's noiseless raw expectation (e-) and the positions of its sources.

    ``stars``: constant stars of 12-18 mag with no other source within 10 px
    (a constant neighbour in the annulus does not change a light curve), in
    every light; the five brightest are the comparison ensemble.
    """
    truths = [night.truth(i) for i in range(N_FRAMES)]
    first = truths[0]
    mag = np.asarray(first["mag_V"])
    ok = _isolated(first, margin=40.0, radius=10.0) & (mag > 12.0) & (mag < 18.0)
    ids = np.asarray(first["id"])[ok]
    ids = ids[np.argsort(mag[ok])]  # brightest first: the ensemble
    xy = np.array(
        [[(t["x"][t["id"] == k][0], t["y"][t["id"] == k][0]) for k in ids] for t in truths]
    )
    asteroid = np.array([tuple(t[t["kind"] == "asteroid"][0]["x", "y"]) for t in truths])
    expected = [night.light_expected_electrons(i, raw=True) for i in range(N_FRAMES)]
    return expected, xy, asteroid


def _weighted_chi2(mag, err, truth=0.0):
    """Sum of squared pulls of a light curve about the truth, its mean offset fitted, and dof."""
    resid = np.asarray(mag) - truth
    w = 1.0 / np.asarray(err) ** 2
    offset = np.sum(w * resid) / np.sum(w)
    return float(np.sum(w * (resid - offset) ** 2)), len(resid) - 1


LC_PARAMS = LightCurveParams(aperture_radius=5.0, annulus_inner=10.0, annulus_outer=16.0)
N_ENSEMBLE = 5


def _light_curve_chi2(flux, err, ensemble, truth=0.0):
    """chi2 and dof of a light curve against the ensemble (a Measurement's first stars)."""
    ens = slice(0, N_ENSEMBLE)
    d = differential_magnitudes(flux, err, ensemble.star_flux[:, ens], ensemble.star_err[:, ens])
    return _weighted_chi2(d.mag, d.mag_err, truth)


def test_light_curve_mag_errors_of_constant_stars(night, lights):
    """``mag_err`` on raw lights, as ``fluxion lightcurve`` reads them.

    Each of ~45 constant stars is a target against the ensemble: ~1000
    degrees of freedom, the ensemble's noise shared by the stars of a frame
    (a fifth of a star's variance at most).
    """
    expected, xy, asteroid = lights
    # A raw frame's hot pixels are no noise: stars whose aperture meets one are left out.
    hot = night.camera.hot_pixels
    ix = np.rint(xy).astype(int)
    cold = [
        not any(hot[y - 6 : y + 7, x - 6 : x + 7].any() for x, y in ix[:, j])
        for j in range(xy.shape[1])
    ]
    # As `fluxion lightcurve` reads raw lights: ADU times the gain, bias and all.
    frames = [
        read_out(e, night.camera, np.random.default_rng(700 + i)) * night.gain
        for i, e in enumerate(expected)
    ]
    m = measure_frames(lambda i: frames[i], asteroid, xy, LC_PARAMS, noise=NoiseModel())
    chi2 = dof = 0
    for j in range(N_ENSEMBLE, xy.shape[1]):
        if cold[j]:
            c, n = _light_curve_chi2(m.star_flux[:, j], m.star_err[:, j], m)
            chi2, dof = chi2 + c, dof + n
    assert dof >= 800
    assert WINDOW[0] < chi2 / dof < WINDOW[1], chi2 / dof


N_ASTEROID_NIGHTS = 24  # x 23 degrees of freedom: 550 (chi2/N scatters by 0.06)


@dataclass
class _Apertures:
    star_flux: np.ndarray
    star_err: np.ndarray


def test_asteroid_light_curve_mag_errors(night, lights):
    """The report's case: the asteroid (V ~ 15.2-15.8, 60 s), whose chi2/N was 0.41.

    One night gives 23 degrees of freedom (chi2/N scatters by 0.3), so the
    night is observed 24 times over. Calibrated lights: on raw ones the
    asteroid crosses the flat field's dust and pixel-to-pixel structure,
    which no photometric error describes (the raw lights' noise is the
    stars' test above). Only the boxes around the asteroid and the ensemble
    get noise, and they are measured as measure_frames measures them
    (measure_apertures, then differential_magnitudes) without its per-frame
    seeing fit, which would be most of this test's time.
    """
    expected, xy, asteroid = lights
    ens = xy[:, :N_ENSEMBLE]
    rel = night.variable_relative_flux(night.times.jd)["asteroid"]
    rng = np.random.default_rng(11)
    dark = night.dark_current * EXPTIME
    r, annulus = LC_PARAMS.aperture_radius, (LC_PARAMS.annulus_inner, LC_PARAMS.annulus_outer)
    chi2 = dof = 0
    for _ in range(N_ASTEROID_NIGHTS):
        rows = []
        for i, e in enumerate(expected):
            positions = np.vstack([asteroid[i : i + 1], ens[i]])
            electrons = e.copy()
            for x, y in positions:
                box = (slice(int(y) - 20, int(y) + 21), slice(int(x) - 20, int(x) + 21))
                noise = night.read_noise * rng.standard_normal(e[box].shape)
                electrons[box] = rng.poisson(e[box]) + noise
            image = (electrons - dark) / night.flat_field
            t = measure_apertures(image, positions, r, annulus, noise=NoiseModel())
            rows.append((np.asarray(t["flux"]), np.asarray(t["flux_err"])))
        flux = np.array([f for f, _ in rows])
        err = np.array([e for _, e in rows])
        m = _Apertures(flux[:, 1:], err[:, 1:])
        c, n = _light_curve_chi2(flux[:, 0], err[:, 0], m, -2.5 * np.log10(rel))
        chi2, dof = chi2 + c, dof + n
    assert WINDOW[0] < chi2 / dof < WINDOW[1], chi2 / dof


# -- zero points -------------------------------------------------------------------

N_ZP_DRAWS = 300  # one zero point per draw: chi2/N scatters by 0.08


def test_zero_point_errors(night, frame0):
    """A frame's zero point against the one the same fit finds without noise.

    Each draw is a new exposure of light 0 and a new draw of the reference
    catalog's errors (a real catalog's errors are one draw shared by all the
    frames calibrated against it; here each frame needs its own so that the
    zero points are independent). The reference zero point is the same fit
    on the noiseless frame's fluxes against the true magnitudes, so what the
    pulls measure is the error the fit reports for the noise and the catalog,
    not the aperture's own systematics (its sky, the light beyond it), which
    the aperture test above holds.
    """
    truth, raw_expected, _ = frame0
    keep = _isolated(truth, margin=30.0, radius=16.0)
    keep &= np.asarray(truth["flux"]) > 3000.0  # the stars a zero point uses
    xy = np.column_stack([truth["x"][keep], truth["y"][keep]])
    r, annulus = 6.0, (10.0, 16.0)
    step = ZeroPoint(ZeroPointParams())

    def sources(image):
        t = measure_apertures(image, xy, r, annulus, noise=NoiseModel())
        return Table(
            {"x": xy[:, 0], "y": xy[:, 1], "ra": truth["ra"][keep], "dec": truth["dec"][keep],
             "flux": t["flux"], "flux_err": t["flux_err"], "flags": t["flags"]}
        )  # fmt: skip

    def zero_point(table, catalog):
        return step(table, catalog, filter="V", image_shape=SHAPE, exptime=EXPTIME)

    dark = night.dark_current * EXPTIME
    true_catalog = night.catalog.copy()
    for band in ("V", "B"):
        true_catalog[band] = night.true_magnitudes()[band]
    noiseless = sources((raw_expected - dark) / night.flat_field)
    rng = np.random.default_rng(5)
    boxes = [(slice(int(y) - 17, int(y) + 18), slice(int(x) - 17, int(x) + 18)) for x, y in xy]
    pulls, used, zp0 = [], [], None
    for _ in range(N_ZP_DRAWS):
        electrons = raw_expected.copy()
        for box in boxes:  # photometry reads only the boxes: only they get noise
            e = raw_expected[box]
            electrons[box] = rng.poisson(e) + night.read_noise * rng.standard_normal(e.shape)
        table = sources((electrons - dark) / night.flat_field)
        if zp0 is None:
            # The reference: noiseless fluxes weighted by a draw's errors (the
            # noiseless fluxes agree with each other to ~1 %, so other draws'
            # weights move it by far less than its error).
            reference = noiseless.copy()
            reference["flux_err"] = table["flux_err"]
            zp0 = zero_point(reference, true_catalog)
            assert zp0.calibrated
        zp = zero_point(table, night.catalog_realisation(rng))
        assert zp.calibrated
        pulls.append((zp.zero_point - zp0.zero_point) / zp.zero_point_err)
        used.append(zp.n_stars)
    assert np.median(used) >= 15
    assert WINDOW[0] < _chi2([pulls]) < WINDOW[1], _chi2([pulls])


# -- PSF photometry ------------------------------------------------------------------

N_PSF_DRAWS = 8  # x ~80 stars: ~600 flux pulls and ~1200 position pulls


def test_psf_flux_and_position_errors(night, frame0):
    """PSF fits' flux and position errors, with the simulator's own PSF and sky.

    The frame's PSF (a Moffat of power 3 and the frame's FWHM, pixel-
    integrated as the simulator draws it) and its noiseless sky are given, so
    that the pulls measure the errors the fit reports for the noise, not how
    well an empirical PSF or a sky mesh is made (the PSF step's own tests).
    """
    truth, raw_expected, _ = frame0
    keep = _isolated(truth, margin=15.0, radius=15.0) & (np.asarray(truth["flux"]) > 800.0)
    xy = np.column_stack([truth["x"][keep], truth["y"][keep]])
    flux = np.asarray(truth["flux"][keep])
    psf = analytic_psf("moffat", float(night.fwhm[0]), beta=night.config.moffat_beta)
    sky = night.sky_electrons(0)
    noise = NoiseModel(read_noise=night.read_noise)
    pulls = {"flux": [], "x": [], "y": []}
    for k in range(N_PSF_DRAWS):
        _, cal = _draw(night, raw_expected, seed=600 + k)
        start = xy + np.random.default_rng(k).normal(0.0, 0.3, xy.shape)  # detected positions
        t = fit_psf_photometry(
            cal, start, psf, sky=sky, noise=noise, fit_size=11, neighbour_subtraction=False
        ).table
        good = np.asarray(t["flags"]) == 0
        pulls["flux"].append(((np.asarray(t["flux"]) - flux) / np.asarray(t["flux_err"]))[good])
        for axis, col in ((0, "x"), (1, "y")):
            err = np.asarray(t[f"{col}_err"])
            pulls[col].append(((np.asarray(t[col]) - xy[:, axis]) / err)[good])
    assert len(np.concatenate(pulls["flux"])) >= 550
    for name, p in pulls.items():
        assert WINDOW[0] < _chi2(p) < WINDOW[1], (name, _chi2(p))
