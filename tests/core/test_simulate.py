"""The simulated night against its own stated truth.

Every later step is scored against this simulator, so these tests check the
images against the truth in the units the truth is stated in: electrons and
sigma of the noise for fluxes, pixels for positions, the configured values for
the camera and the pointing.
"""

from __future__ import annotations

import re

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.utils import iers
from astropy.wcs import WCS
from photutils.aperture import CircularAperture, aperture_photometry
from scipy.integrate import dblquad

from fluxion.core.runtime.pipeline import Cancelled, StepState
from fluxion.core.simulation.psf import moffat_alpha, psf_stamp
from fluxion.core.simulation.simulate import (
    ASTEROID_ID,
    NightConfig,
    make_night,
    read_truth_wcs,
    simulate_night,
)
from fluxion.core.simulation.variables import (
    eclipsing_relative_flux,
    rotation_magnitude_offset,
    transit_relative_flux,
)

SMALL = dict(shape=(256, 256), n_frames=4, n_bias=3, n_dark=3, n_flat=3)


@pytest.fixture(scope="module")
def night():
    return make_night(NightConfig(**SMALL))


def calibrated_electrons(night, data: np.ndarray) -> np.ndarray:
    """A perfectly calibrated frame: known bias and dark removed, divided by the flat."""
    c = night.config
    e = (data.astype(float) - night.bias_level) * night.gain - night.dark_current * c.exptime
    return e / night.flat_field


def inside(truth: Table, shape: tuple[int, int], margin: float) -> np.ndarray:
    ny, nx = shape
    x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
    return (x > margin) & (x < nx - 1 - margin) & (y > margin) & (y < ny - 1 - margin)


# -- determinism ---------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_pixels(tmp_path) -> None:
    config = NightConfig(shape=(96, 128), n_frames=2, n_bias=1, n_dark=1, n_flat=1)
    a = simulate_night(tmp_path / "a", config)
    b = simulate_night(tmp_path / "b", config)
    files_a = sorted(p.relative_to(a.outdir) for p in a.outdir.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b.outdir) for p in b.outdir.rglob("*") if p.is_file())
    # lights with their truth table and WCS, bias/dark/flat, catalog, night.json
    # and the marker that keeps a scan of the night out of truth/
    assert files_a == files_b and len(files_a) == 2 * 3 + 3 + 2 + 1
    for rel in files_a:
        assert (a.outdir / rel).read_bytes() == (b.outdir / rel).read_bytes(), rel
    same = fits.getdata(a.lights[1])
    # A frame drawn alone, in another order, is the frame written in parallel.
    alone, _, _ = make_night(config).light(1)
    assert alone.tobytes() == same.tobytes()
    other, _, _ = make_night(NightConfig(shape=(96, 128), n_frames=2, seed=1)).light(1)
    assert np.mean(other != same) > 0.5


def test_cancel_stops_the_writing_and_leaves_no_temporary_files(tmp_path) -> None:
    state = StepState(lambda fraction, message: state.cancel() if fraction > 0.1 else None)
    with pytest.raises(Cancelled):
        simulate_night(tmp_path, NightConfig(shape=(64, 64), n_frames=20), state=state)
    assert not list(tmp_path.rglob("*.tmp"))
    assert not (tmp_path / "truth" / "night.json").exists()


# -- pixel-integrated PSF ------------------------------------------------------------------


@pytest.mark.parametrize("psf", ["moffat", "gaussian"])
@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.37, -0.21)])
def test_psf_is_integrated_over_pixels_and_sums_to_one(psf: str, offset) -> None:
    fwhm, beta = 2.4, 3.0
    x0, y0 = offset
    dx = np.arange(-60, 61) - x0
    dy = np.arange(-60, 61) - y0
    stamp = psf_stamp(dx, dy, fwhm, psf, beta)
    assert stamp.sum() == pytest.approx(1.0, abs=1e-4)
    if psf == "moffat":
        a = moffat_alpha(fwhm, beta)

        def profile(y, x):
            return (beta - 1) / (np.pi * a * a) * (1 + (x * x + y * y) / (a * a)) ** -beta
    else:
        s = fwhm / 2.3548200450309493

        def profile(y, x):
            return np.exp(-(x * x + y * y) / (2 * s * s)) / (2 * np.pi * s * s)

    for j, i in [(60, 60), (61, 60), (60, 62), (59, 61)]:
        exact = dblquad(profile, dx[i] - 0.5, dx[i] + 0.5, dy[j] - 0.5, dy[j] + 0.5)[0]
        assert stamp[j, i] == pytest.approx(exact, rel=1e-5)
    # Sampling at pixel centres instead would overestimate the peak by percents.
    centre_sample = profile(dy[60], dx[60])
    assert centre_sample / stamp[60, 60] - 1 > 0.02


# -- fluxes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("psf", ["moffat", "gaussian"])
@pytest.mark.parametrize("field_varying_psf", [False, True])
def test_star_light_in_the_frame_equals_the_truth_flux(psf: str, field_varying_psf: bool) -> None:
    # Only the variables (eclipsing, transit, the dwarf nova), the nova and the
    # asteroid, all far from the edges.
    config = NightConfig(
        **SMALL,
        star_density=0.0,
        psf=psf,
        field_varying_psf=field_varying_psf,
        cosmic_ray_rate=0.0,
    )
    night = make_night(config)
    for i in (0, 3):
        data, _, truth = night.light(i)
        assert len(truth) == 5
        stars = night.light_expected_electrons(i) - night.sky_electrons(i)
        assert stars.sum() == pytest.approx(truth["flux"].sum(), rel=2e-4)
        # The noisy frame, calibrated with the known camera, in units of its noise.
        measured = calibrated_electrons(night, data) - night.sky_electrons(i)
        raw = night.light_expected_electrons(i, raw=True)
        variance = (raw + config.read_noise**2 + config.gain**2 / 12) / night.flat_field**2
        assert abs(measured.sum() - truth["flux"].sum()) < 4 * np.sqrt(variance.sum())
    truth = night.truth(0)
    r2 = ((truth["x"] - 127.5) ** 2 + (truth["y"] - 127.5) ** 2) / (2 * 127.5**2)
    growth = 1 + config.field_psf_variation * r2 if field_varying_psf else 1.0
    np.testing.assert_allclose(truth["fwhm"], night.fwhm[0] * growth, rtol=1e-12)


def test_summed_star_flux_matches_within_the_noise() -> None:
    night = make_night(NightConfig(**SMALL, cosmic_ray_rate=0.0))
    c = night.config
    for i in range(night.n_frames):
        data, _, truth = night.light(i)
        assert not truth["saturated"].any()
        raw = night.light_expected_electrons(i, raw=True)
        stars_raw = raw - night.flat_field * night.sky_electrons(i) - night.dark_current * c.exptime
        measured = (data - night.bias_level) * c.gain - (raw - stars_raw)
        # Poisson + read noise + rounding to whole ADU, in electrons.
        sigma = np.sqrt(raw.sum() + data.size * (c.read_noise**2 + c.gain**2 / 12))
        assert abs(measured.sum() - stars_raw.sum()) < 4 * sigma
        assert stars_raw.sum() > 30 * sigma  # the test can see a 10% flux error


def test_aperture_sums_of_isolated_bright_stars_match_truth(night) -> None:
    c = night.config
    errors = []
    for i in range(night.n_frames):
        data, _, truth = night.light(i)
        image = calibrated_electrons(night, data) - night.sky_electrons(i)
        x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
        sep = np.hypot(x[:, None] - x, y[:, None] - y) + np.eye(len(truth)) * 1e9
        isolated = sep.min(axis=1) > 25
        pick = isolated & inside(truth, c.shape, 20) & (truth["flux"] > 2e5) & ~truth["saturated"]
        r = 5 * night.fwhm[i]
        alpha = moffat_alpha(night.fwhm[i], c.moffat_beta)
        enclosed = 1 - (1 + r**2 / alpha**2) ** (1 - c.moffat_beta)
        ap = CircularAperture(np.column_stack([x[pick], y[pick]]), r=r)
        got = np.asarray(aperture_photometry(image, ap)["aperture_sum"])
        want = np.asarray(truth["flux"][pick]) * enclosed
        sigma = np.sqrt(want + ap.area * (night.sky_electrons(i).mean() + c.read_noise**2))
        assert np.all(np.abs(got - want) < 4 * sigma)
        errors += list(got / want - 1)
    assert len(errors) >= 4
    assert np.max(np.abs(errors)) < 0.01


# -- geometry --------------------------------------------------------------------------------


def test_written_wcs_maps_truth_sky_to_truth_pixels(tmp_path) -> None:
    config = NightConfig(shape=(200, 240), n_frames=2, n_bias=0, n_dark=0, n_flat=0)
    out = simulate_night(tmp_path, config)
    for table, wcs_file in zip(out.truth_tables, out.wcs_files, strict=True):
        truth = Table.read(table)
        w = read_truth_wcs(wcs_file)
        assert w.sip is not None and w.pixel_shape == (240, 200)
        x, y = w.all_world2pix(truth["ra"], truth["dec"], 0)
        assert np.max(np.hypot(x - truth["x"], y - truth["y"])) < 0.01
        back = SkyCoord(*w.all_pix2world(truth["x"], truth["y"], 0), unit="deg")
        sky = SkyCoord(truth["ra"], truth["dec"], unit="deg")
        assert np.max(back.separation(sky).arcsec) < 0.01 * config.pixel_scale


def test_sip_moves_the_corners_by_the_configured_amount() -> None:
    bent = make_night(NightConfig(**SMALL, sip=True, sip_corner_shift=2.0))
    flat = make_night(NightConfig(**SMALL, sip=False))
    assert flat.wcs(0).sip is None
    corner = SkyCoord(*bent.wcs(0).all_pix2world(0, 0, 0), unit="deg")
    x, y = flat.wcs(0).all_world2pix(corner.ra.deg, corner.dec.deg, 0)
    assert 1.5 < np.hypot(x, y) < 2.5
    # The inverse terms (AP, BP) that non-iterating tools use agree to < 0.01 px.
    w = bent.wcs(0)
    x, y = np.meshgrid(np.linspace(0, 255, 30), np.linspace(0, 255, 30))
    fx, fy = w.wcs_world2pix(*w.all_pix2world(x.ravel(), y.ravel(), 0), 0)
    cx, cy = w.wcs.crpix - 1
    fu, fv = fx - cx, fy - cy
    n = w.sip.ap.shape[0]
    du = sum(w.sip.ap[p, q] * fu**p * fv**q for p in range(n) for q in range(n))
    dv = sum(w.sip.bp[p, q] * fu**p * fv**q for p in range(n) for q in range(n))
    assert np.max(np.hypot(fu + du + cx - x.ravel(), fv + dv + cy - y.ravel())) < 0.01
    centre = SkyCoord(*bent.wcs(0).all_pix2world(127.5, 127.5, 0), unit="deg")
    x, y = flat.wcs(0).all_world2pix(centre.ra.deg, centre.dec.deg, 0)
    assert np.hypot(x - 127.5, y - 127.5) < 1e-6


def test_headers_carry_no_wcs_unless_asked_and_then_the_exact_one() -> None:
    with_wcs = make_night(NightConfig(**SMALL, write_wcs=True))
    _, h, truth = with_wcs.light(2)
    x, y = WCS(h).all_world2pix(truth["ra"], truth["dec"], 0)
    assert np.max(np.hypot(x - truth["x"], y - truth["y"])) < 0.01
    _, h, _ = make_night(NightConfig(**SMALL)).light(2)
    assert not any(k.startswith(("CTYPE", "CRVAL", "CD1_", "A_", "PC1_")) for k in h)


def test_header_pointing_is_off_by_the_configured_error() -> None:
    night = make_night(NightConfig(**SMALL, pointing_error=300.0))
    for i in range(night.n_frames):
        _, h, _ = night.light(i)
        centre = SkyCoord(*night.wcs(i).all_pix2world(127.5, 127.5, 0), unit="deg")
        hint = SkyCoord(h["RA"], h["DEC"], unit="deg")
        assert centre.separation(hint).arcsec == pytest.approx(300.0, abs=0.05)
        sexagesimal = SkyCoord(h["OBJCTRA"], h["OBJCTDEC"], unit=(u.hourangle, u.deg))
        assert sexagesimal.separation(hint).arcsec < 0.2


def test_pointing_drifts_a_little_between_frames(night) -> None:
    c0 = SkyCoord(*night.wcs(0).wcs.crval, unit="deg")
    c3 = SkyCoord(*night.wcs(3).wcs.crval, unit="deg")
    shift_px = c0.separation(c3).arcsec / night.config.pixel_scale
    assert 0.1 < shift_px < 5.0


# -- camera ----------------------------------------------------------------------------------


def test_bias_frames_follow_the_bias_level_and_read_noise(night) -> None:
    c = night.config
    bias = np.stack([night.bias(j)[0].astype(float) for j in range(c.n_bias)])
    residual = bias - night.bias_level
    sigma_adu = c.read_noise / c.gain
    assert abs(residual.mean()) < 5 * np.hypot(sigma_adu, 0.29) / np.sqrt(residual.size)
    assert residual.std() == pytest.approx(np.hypot(sigma_adu, 1 / np.sqrt(12)), rel=0.02)
    # The column pattern is real structure: the mean of each column follows it.
    col = bias.mean(axis=(0, 1)) - c.bias_level
    truth_col = night.bias_level.mean(axis=0) - c.bias_level
    assert np.corrcoef(col, truth_col)[0, 1] > 0.9
    assert night.bias(0)[1]["IMAGETYP"] == "Bias Frame"


def test_darks_give_the_dark_current_and_the_hot_pixels(night) -> None:
    c = night.config
    bias = np.mean([night.bias(j)[0] for j in range(c.n_bias)], axis=0)
    darks = np.stack([night.dark(j)[0].astype(float) for j in range(c.n_dark)])
    rate = (np.median(darks, axis=0) - bias) * c.gain / c.exptime
    hot = night.camera.hot_pixels
    assert hot.sum() >= 3
    # Hot pixels above ~10 e-/s stand out by > 10 sigma of the read noise.
    bright = hot & (night.dark_current > 2.0)
    np.testing.assert_allclose(rate[bright], night.dark_current[bright], rtol=0.15)
    cold = ~hot
    sigma = c.read_noise * np.sqrt(1.0 / c.n_bias + np.pi / 2 / c.n_dark) / c.exptime
    assert (
        abs(np.mean(rate[cold]) - np.mean(night.dark_current[cold]))
        < 5 * sigma / np.sqrt(cold.sum()) + 0.002
    )
    assert night.dark(0)[1]["IMAGETYP"] == "Dark Frame"
    assert night.dark(0)[1]["EXPTIME"] == c.exptime


def test_flats_show_the_vignetting_profile(night) -> None:
    c = night.config
    bias = np.mean([night.bias(j)[0] for j in range(c.n_bias)], axis=0)
    flats = [night.flat(j)[0] - bias for j in range(c.n_flat)]
    master = np.mean([f / np.mean(f) for f in flats], axis=0)
    np.testing.assert_allclose(np.mean(master), 1.0, atol=1e-3)
    centre = master[118:138, 118:138].mean()
    corner = np.mean([master[:12, :12].mean(), master[-12:, -12:].mean()])
    assert corner / centre == pytest.approx(
        night.flat_field[:12, :12].mean() / night.flat_field[118:138, 118:138].mean(), abs=0.004
    )
    assert 1 - corner / centre == pytest.approx(c.vignetting, abs=0.03)
    h = night.flat(0)[1]
    assert h["IMAGETYP"] == "Flat Field" and h["FILTER"] == "V"


def test_saturated_stars_clip_at_saturate() -> None:
    night = make_night(NightConfig(**dict(SMALL, n_frames=1), mag_bright=7.0, star_density=4.0))
    data, h, truth = night.light(0)
    assert data.max() == h["SATURATE"] == night.config.saturation
    sat = truth[truth["saturated"] & inside(truth, night.config.shape, 0)]
    assert len(sat) >= 1
    assert np.array_equal(truth["saturated"], night.truth(0)["saturated"])
    sat = sat[sat["flux"] > 3 * sat["flux"].min()]  # well above the limit, not at it
    for x, y in zip(sat["x"], sat["y"], strict=True):
        assert data[int(round(y)), int(round(x))] == h["SATURATE"]


def test_cosmic_rays_hit_lights_and_darks() -> None:
    config = NightConfig(**dict(SMALL, n_frames=1), cosmic_ray_rate=600.0)
    night = make_night(config)
    quiet = make_night(NightConfig(**dict(SMALL, n_frames=1), cosmic_ray_rate=0.0))
    for with_cr, without in (
        (night.dark(0)[0], quiet.dark(0)[0]),
        (night.light(0)[0], quiet.light(0)[0]),
    ):
        jump = (with_cr.astype(float) - without) * config.gain
        # 600 /Mpx/min over 0.066 Mpx for 2 min ~ 79 hits, ~2000 e- each.
        assert 40 < np.sum(jump > 200) < 2000


# -- time, airmass, variables ------------------------------------------------------------------


def test_airmass_is_the_site_geometry_and_extinction_follows_it(night) -> None:
    c = night.config
    with iers.conf.set_temp("auto_download", False):
        lst = night.times.sidereal_time("mean", longitude=c.site_lon * u.deg).rad
    ha = lst - np.deg2rad(c.ra)
    lat, dec = np.deg2rad(c.site_lat), np.deg2rad(c.dec)
    cos_z = np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(ha)
    np.testing.assert_allclose(night.airmass, 1 / cos_z, rtol=0.01)
    assert np.all(np.diff(night.airmass) > 0)  # the default field is setting
    t0, t3 = night.truth(0), night.truth(3)
    star = np.flatnonzero(t0["kind"] == "star")[0]
    ratio = t3["flux"][star] / t0["flux"][star]
    want = 10 ** (-0.4 * c.extinction * (night.airmass[3] - night.airmass[0]))
    assert ratio == pytest.approx(want, rel=1e-12)


def test_asteroid_moves_at_the_configured_rate() -> None:
    night = make_night(NightConfig(**dict(SMALL, n_frames=10), asteroid_rate=2.0))
    rows = [night.truth(i) for i in range(night.n_frames)]
    ast = [r[r["kind"] == "asteroid"][0] for r in rows]
    sky = SkyCoord([a["ra"] for a in ast], [a["dec"] for a in ast], unit="deg")
    step = sky[:-1].separation(sky[1:]).arcsec / (night.config.interval / 60.0)
    np.testing.assert_allclose(step, 2.0, rtol=0.01)
    # On the detector, relative to a star (the pointing jitters between frames).
    star = [r[r["kind"] == "transit"][0] for r in rows]
    x = np.array([a["x"] - s["x"] for a, s in zip(ast, star, strict=True)])
    y = np.array([a["y"] - s["y"] for a, s in zip(ast, star, strict=True)])
    px_per_frame = np.hypot(np.diff(x), np.diff(y))
    np.testing.assert_allclose(px_per_frame, 2.0 * 3 / 1.2, rtol=0.01)  # 3 min at 1.2"/px
    assert all(a["id"] == ASTEROID_ID for a in ast)


def test_asteroid_image_is_centred_on_its_truth_position() -> None:
    config = dict(SMALL, star_density=0.0, n_frames=2)
    night = make_night(NightConfig(**config))
    without = make_night(NightConfig(**config, asteroid=False))
    for i in range(2):
        truth = night.truth(i)
        a = truth[truth["kind"] == "asteroid"][0]
        image = night.light_expected_electrons(i) - without.light_expected_electrons(i)
        assert image.sum() == pytest.approx(a["flux"], rel=1e-3)
        yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
        xc, yc = (image * xx).sum() / image.sum(), (image * yy).sum() / image.sum()
        assert np.hypot(xc - a["x"], yc - a["y"]) < 0.02


def test_variable_models() -> None:
    t = np.array([-1.0, -0.5 + 0.04, 0.0, 0.5 - 0.1, 0.5 - 0.02])
    flux = transit_relative_flux(t, t_mid=0.0, duration=1.0, ingress=0.08, depth=0.01)
    np.testing.assert_allclose(flux, [1.0, 0.995, 0.99, 0.99, 0.9975])
    # Limb-darkened like a real transit: the same contacts and central depth, a
    # rounded bottom (shallower away from the centre) and curved ingress.
    ld = transit_relative_flux(
        np.array([-0.5005, -0.4995, 0.0, 0.3]), 0.0, 1.0, 0.08, 0.01, (0.465, 0.256), 10.0
    )
    assert ld[0] == 1.0 and ld[1] < 1.0
    assert ld[2] == pytest.approx(0.99, abs=1e-4)
    assert 0.99 < ld[3] < 0.995
    eb = eclipsing_relative_flux(np.array([0.0, 0.5, 0.25]), 0.0, 1.0, 0.5, 0.1, 0.1, 0.0)
    np.testing.assert_allclose(eb, [0.5, 0.9, 1.0])
    # Double-peaked: two maxima per rotation, peak-to-peak amplitude as given.
    tt = np.linspace(0, 1, 2001)
    dm = rotation_magnitude_offset(tt, 0.0, 1.0, 0.3)
    assert np.ptp(dm) == pytest.approx(0.3, rel=0.02)
    minima = np.flatnonzero((dm[1:-1] < dm[:-2]) & (dm[1:-1] < dm[2:]))
    assert len(minima) == 2


def test_variable_truth_follows_the_models() -> None:
    night = make_night(NightConfig(shape=(160, 160), n_frames=30, n_bias=0))
    c = night.config
    tables = [night.truth(i) for i in range(c.n_frames)]
    jd = night.times.jd
    for kind, model in (
        (
            "transit",
            transit_relative_flux(
                jd,
                night.transit_mid,
                c.transit_duration / 1440,
                c.transit_ingress / 1440,
                c.transit_depth,
                (c.transit_u1, c.transit_u2),
                c.transit_period,
            ),
        ),
        (
            "eclipsing",
            eclipsing_relative_flux(
                jd,
                night.eclipse_min,
                c.eclipsing_period,
                c.eclipsing_depth,
                c.eclipsing_secondary,
                c.eclipsing_duration / 1440,
            ),
        ),
    ):
        flux = np.array([t["flux"][t["kind"] == kind][0] for t in tables])
        reference = np.array([t["flux"][t["kind"] == "star"][0] for t in tables])
        ratio = flux / reference
        # The comparison star removes extinction; what is left is the model.
        np.testing.assert_allclose(ratio / ratio.max() * model.max(), model, rtol=1e-9)
    transit = transit_relative_flux(
        jd, night.transit_mid, c.transit_duration / 1440, c.transit_ingress / 1440,
        c.transit_depth, (c.transit_u1, c.transit_u2), c.transit_period,
    )  # fmt: skip
    # Seen in the night: at mid-transit (sampled within 1.5 min) the full depth.
    assert transit.min() == pytest.approx(0.99, abs=5e-4) and transit.max() == 1.0


def test_transit_is_measurable_in_the_noisy_frames() -> None:
    night = make_night(
        NightConfig(
            shape=(128, 128), n_frames=30, star_density=0.0, asteroid=False, cosmic_ray_rate=0.0
        )
    )
    c = night.config
    measured, model = [], []
    for i in range(c.n_frames):
        data, _, truth = night.light(i)
        row = truth[truth["kind"] == "transit"][0]
        image = calibrated_electrons(night, data) - night.sky_electrons(i)
        ap = CircularAperture((row["x"], row["y"]), r=5 * night.fwhm[i])
        alpha = moffat_alpha(night.fwhm[i], c.moffat_beta)
        enclosed = 1 - (1 + (5 * night.fwhm[i]) ** 2 / alpha**2) ** (1 - c.moffat_beta)
        transmission = 10 ** (-0.4 * c.extinction * night.airmass[i])
        measured.append(aperture_photometry(image, ap)["aperture_sum"][0] / enclosed / transmission)
        model.append(row["flux"] / transmission)
    measured, model = np.array(measured), np.array(model)
    in_transit = model < model.max() * 0.995
    assert in_transit.sum() >= 5 and (~in_transit).sum() >= 5
    depth = 1 - measured[in_transit].mean() / measured[~in_transit].mean()
    assert depth == pytest.approx(c.transit_depth, abs=0.002)


# -- headers and files ----------------------------------------------------------------------


def test_light_headers_look_like_capture_software_wrote_them(tmp_path) -> None:
    out = simulate_night(tmp_path, NightConfig(**dict(SMALL, n_frames=2)))
    with fits.open(out.lights[0], do_not_scale_image_data=True) as hdul:
        raw = hdul[0].header
        assert raw["BITPIX"] == 16 and raw["BZERO"] == 32768
    h = fits.getheader(out.lights[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", h["DATE-OBS"])
    for key in (
        "EXPTIME",
        "EXPOSURE",
        "FILTER",
        "IMAGETYP",
        "OBJECT",
        "RA",
        "DEC",
        "OBJCTRA",
        "OBJCTDEC",
        "GAIN",
        "RDNOISE",
        "SATURATE",
        "AIRMASS",
        "XBINNING",
        "YBINNING",
        "CCD-TEMP",
        "SITELAT",
        "SITELONG",
        "SITEELEV",
        "TELESCOP",
        "INSTRUME",
        "FOCALLEN",
        "XPIXSZ",
        "YPIXSZ",
        "DATE",
    ):
        assert key in h, key
    assert h["IMAGETYP"] == "Light Frame"
    scale = 206.264806 * h["XPIXSZ"] / h["FOCALLEN"]
    assert scale == pytest.approx(1.2, rel=1e-5)
    assert h["SITELONG"] == 8.0  # east positive
    assert fits.getdata(out.lights[0]).dtype == np.uint16
    names = sorted(p.name for p in out.outdir.glob("*.fits"))
    assert names[:3] == ["bias_0001.fits", "bias_0002.fits", "bias_0003.fits"]
    assert "flat_V_0003.fits" in names and "light_0002.fits" in names
    assert (out.outdir / "truth" / "night.json").is_file()
    assert out.catalog.is_file() and not list(out.outdir.rglob("*.tmp"))


def test_bad_configuration_is_a_clear_error(night) -> None:
    with pytest.raises(ValueError, match="shape"):
        NightConfig(shape=(8, 8))
    with pytest.raises(ValueError, match="psf"):
        NightConfig(psf="airy")
    with pytest.raises(IndexError, match="out of range"):
        night.light(99)


@pytest.mark.parametrize("rotation", [45.0, 90.0])
def test_star_count_does_not_depend_on_the_field_rotation(rotation: float) -> None:
    # The density is per unit sky area; a rotated field holds as many stars.
    base = make_night(NightConfig(n_frames=1, shape=(256, 256), rotation=0.0))
    turned = make_night(NightConfig(n_frames=1, shape=(256, 256), rotation=rotation))
    n0, n1 = len(base.catalog), len(turned.catalog)
    assert abs(n1 - n0) < 4 * np.sqrt(n0)


@pytest.mark.parametrize("density", [1.0, 6.0])
def test_new_sources_are_placed_clear_of_stars(density: float) -> None:
    """The nova and the dwarf nova sit apart from the field's stars, even in a crowded
    field, so that what is found of them is theirs alone."""
    night = make_night(NightConfig(**SMALL, star_density=density))
    truth, _ = night._sources(0)
    truth = truth[truth["kind"] != "asteroid"]  # it passes by; stars stay
    x, y = np.asarray(truth["x"], float), np.asarray(truth["y"], float)
    for kind in ("nova", "outburst"):
        k = int(np.flatnonzero(truth["kind"] == kind)[0])
        d = np.hypot(x - x[k], y - y[k])
        d[k] = np.inf
        assert d.min() > 12.0, (kind, d.min())
