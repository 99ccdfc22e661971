"""Tracks and light curves on a simulated night, scored against its truth."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from fluxion.core.lightcurve.comparison import choose_comparison_stars
from fluxion.core.lightcurve.run import (
    LightCurveParams,
    assemble_light_curve,
    measure_frames,
)
from fluxion.core.photometry.flags import PhotometryFlag
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.simulation.simulate import ASTEROID_ID, NightConfig, make_night
from fluxion.core.targets.tracking import Click, Track, fit_track, refine_click

N_FRAMES = 30
SHAPE = (400, 400)


@pytest.fixture(scope="module")
def night():
    """30 calibrated frames (e-) with their truth tables and WCS."""
    n = make_night(NightConfig(shape=SHAPE, n_frames=N_FRAMES))
    frames, truths = [], []
    for i in range(N_FRAMES):
        data, _, truth = n.light(i)
        e = (data - n.bias_level) * n.gain - n.dark_current * n.config.exptime
        frames.append(e / n.flat_field)
        truths.append(truth)
    wcs = [n.wcs(i) for i in range(N_FRAMES)]
    return n, frames, truths, wcs


def _truth_xy(truths, source_id):
    rows = [t[t["id"] == source_id][0] for t in truths]
    return np.array([[r["x"], r["y"]] for r in rows])


def _asteroid_track(night, frames, truths, wcs, click_frames=(0, 14, 29)):
    n = night
    truth = _truth_xy(truths, ASTEROID_ID)
    track = Track(name="asteroid")
    errors = []
    for i in click_frames:
        # A sloppy click 1.5 px off, refined to the centroid.
        r = refine_click(frames[i], truth[i, 0] + 1.2, truth[i, 1] - 0.9)
        assert r.found
        errors.append(np.hypot(r.x - truth[i, 0], r.y - truth[i, 1]))
        track = track.with_click(Click(i, n.times[i].jd, r.x, r.y, r.sigma))
    return track, truth, np.array(errors)


def test_three_clicks_track_the_asteroid_within_0p3_px(night):
    n, frames, truths, wcs = night
    track, truth, click_err = _asteroid_track(n, frames, truths, wcs)
    assert click_err.max() < 0.15  # centroid refinement error (px)
    fit = fit_track(track, wcs)
    assert fit.frame_type == "sky"
    pred = fit.predict(n.times.jd, wcs, clicked=track.frames)
    err = np.hypot(pred["x"] - truth[:, 0], pred["y"] - truth[:, 1])
    assert err.max() < 0.3
    # Sky positions too: against the truth RA/Dec, in arcsec.
    sky_truth = n.asteroid_position(n.times.jd)
    sep = SkyCoord(pred["ra"] * u.deg, pred["dec"] * u.deg).separation(sky_truth).arcsec
    assert sep.max() < 0.3 * n.config.pixel_scale
    # A pixel fit cannot follow the telescope's drift and jitter as well.
    pixel_pred = fit_track(track).predict(n.times.jd)
    pixel_err = np.hypot(pixel_pred["x"] - truth[:, 0], pixel_pred["y"] - truth[:, 1])
    assert pixel_err.max() > err.max()


def _star_positions(n, wcs):
    """Catalogue stars projected into each frame (what a solved WCS gives)."""
    cat = n.catalog
    xy = np.array([np.column_stack(w.world_to_pixel_values(cat["ra"], cat["dec"])) for w in wcs])
    margin = 20
    inside = np.all(
        (xy[..., 0] > margin) & (xy[..., 0] < SHAPE[1] - margin)
        & (xy[..., 1] > margin) & (xy[..., 1] < SHAPE[0] - margin), axis=0,
    )  # fmt: skip
    return xy[:, inside], cat[inside]


def _light_curve(night, target_xy, target_mag, exclude_ids=(), radius=6.0):
    n, frames, truths, wcs = night
    star_xy, cat = _star_positions(n, wcs)
    # Candidates preselected from the catalogue: the 12 closest in V to the
    # target (as the app does before measuring), which keeps the test fast.
    near = np.argsort(np.abs(np.asarray(cat["V"]) - target_mag))[:12]
    keep = np.isin(np.arange(len(cat)), near) | np.isin(cat["id"], exclude_ids)
    star_xy, cat = star_xy[:, keep], cat[keep]
    params = LightCurveParams(aperture_radius=radius, annulus_inner=12, annulus_outer=18)
    with ThreadPoolExecutor(2) as pool:
        m = measure_frames(
            lambda i: frames[i], target_xy, star_xy, params,
            noise=NoiseModel(read_noise=n.read_noise), executor=pool,
        )  # fmt: skip
    exclude = [int(k) for k in np.flatnonzero(np.isin(cat["id"], exclude_ids))]
    choice = choose_comparison_stars(
        m.star_flux, m.star_err, star_xy[0], flags=m.star_flags,
        target_flux=float(np.nanmedian(m.target_flux)), exclude=exclude,
        colour=np.asarray(cat["B"] - cat["V"]), target_colour=0.65,
    )  # fmt: skip
    lc = assemble_light_curve(
        m, choice, n.times, target=n.center, location=n.location,
        comparison_mag=np.asarray(cat["V"]), comparison_mag_err=np.asarray(cat["V_err"]),
    )  # fmt: skip
    return lc, choice, cat


def _chi2_about_truth(mag, err, truth_mag):
    resid = np.asarray(mag) - truth_mag
    w = 1 / np.asarray(err) ** 2
    offset = np.sum(w * resid) / np.sum(w)
    return np.sum(w * (resid - offset) ** 2) / (len(resid) - 1), offset


def test_eclipsing_binary_depth_and_shape_within_errors(night):
    n, frames, truths, wcs = night
    eb_id = int(truths[0][truths[0]["kind"] == "eclipsing"]["id"][0])
    # The transiting star is a candidate too: the choice must refuse it.
    transit_id = int(truths[0][truths[0]["kind"] == "transit"]["id"][0])
    lc, choice, cat = _light_curve(night, _truth_xy(truths, eb_id), 12.8, exclude_ids=[eb_id])
    assert transit_id in set(cat["id"])
    transit_k = int(np.flatnonzero(cat["id"] == transit_id)[0])
    assert transit_k not in choice.comparison and "variable" in choice.rejected[transit_k]
    rel = n.variable_relative_flux(n.times.jd)["eclipsing"]
    truth_mag = -2.5 * np.log10(rel)
    chi2, offset = _chi2_about_truth(lc["mag"], lc["mag_err"], truth_mag)
    assert chi2 < 2.0
    # Calibrated scale: the offset is the catalogue V of the binary (12.8),
    # within the comparison magnitudes' error plus a few hundredths.
    assert abs(offset - n.config.eclipsing_mag) < 3 * lc.meta["magnitude_scale_err"] + 0.03
    # Depth: deepest frame against the first seven (out of eclipse).
    f = 10 ** (-0.4 * np.asarray(lc["mag"]))
    ferr = f * np.asarray(lc["mag_err"]) / 1.0857
    k = int(np.argmin(f))
    oot = f[:7].mean()
    depth = 1 - f[k] / oot
    depth_err = np.hypot(ferr[k] / oot, f[k] * ferr[:7].std() / oot**2)
    true_depth = 1 - rel[k] / rel[:7].mean()
    assert abs(depth - true_depth) < 3 * depth_err
    # The check star is flat: its scatter matches its errors.
    assert np.std(lc["check_mag"] - np.mean(lc["check_mag"])) < 2 * np.median(lc["check_mag_err"])


def test_transit_depth_within_errors(night):
    n, frames, truths, wcs = night
    tr_id = int(truths[0][truths[0]["kind"] == "transit"]["id"][0])
    lc, _, _ = _light_curve(night, _truth_xy(truths, tr_id), 12.5, exclude_ids=[tr_id], radius=7.0)
    rel = n.variable_relative_flux(n.times.jd)["transit"]
    f = 10 ** (-0.4 * np.asarray(lc["mag"]))
    ferr = f * np.asarray(lc["mag_err"]) / 1.0857
    inside, outside = rel < 0.9905, rel > 0.9999
    depth = 1 - f[inside].mean() / f[outside].mean()
    err_in = ferr[inside].mean() / np.sqrt(inside.sum())
    err_out = ferr[outside].mean() / np.sqrt(outside.sum())
    depth_err = np.hypot(err_in, err_out) / f[outside].mean()
    true_depth = 1 - rel[inside].mean() / rel[outside].mean()
    assert depth_err < 0.003  # the measurement can see a 1 % transit
    assert abs(depth - true_depth) < 3 * depth_err


def test_asteroid_rotation_light_curve_matches_truth(night):
    n, frames, truths, wcs = night
    track, truth, _ = _asteroid_track(n, frames, truths, wcs)
    pred = fit_track(track, wcs).predict(n.times.jd, wcs)
    target_xy = np.column_stack([pred["x"], pred["y"]])
    lc, _, _ = _light_curve(night, target_xy, 15.5, radius=6.0)
    assert np.all(np.isfinite(lc["bjd_tdb"]))
    rel = n.variable_relative_flux(n.times.jd)["asteroid"]
    clean = (np.asarray(lc["flags"]) & PhotometryFlag.CONTAMINATED) == 0
    assert clean.sum() >= 20
    chi2, _ = _chi2_about_truth(lc["mag"][clean], lc["mag_err"][clean], -2.5 * np.log10(rel[clean]))
    assert chi2 < 2.5
    # Amplitude of the rotation: the slope of measured against true magnitude
    # is 1 within its error.
    x = -2.5 * np.log10(rel[clean])
    w = 1 / np.asarray(lc["mag_err"][clean]) ** 2
    design = np.column_stack([np.ones_like(x), x])
    cov = np.linalg.inv(design.T @ (design * w[:, None]))
    a, b = cov @ (design.T @ (w * np.asarray(lc["mag"][clean])))
    assert abs(b - 1) < 3 * np.sqrt(cov[1, 1]) and np.sqrt(cov[1, 1]) < 0.1
