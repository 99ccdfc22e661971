"""Click refinement and spline tracks against known positions."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

from fluxion.core.targets.tracking import (
    Click,
    Track,
    TrackError,
    fit_track,
    refine_click,
    spline_layout,
)

NOISE = 10.0
SKY = 500.0


def _gaussian_frame(x0, y0, flux=20000.0, sigma=1.5, shape=(64, 64), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.indices(shape)
    star = (
        flux / (2 * np.pi * sigma**2) * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))
    )
    return SKY + star + rng.normal(0, NOISE, shape)


def test_refine_click_recovers_centroid_within_its_error():
    errors = []
    sigmas = []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        x0, y0 = 30 + rng.uniform(-0.5, 0.5), 33 + rng.uniform(-0.5, 0.5)
        img = _gaussian_frame(x0, y0, flux=1500.0, seed=seed)
        r = refine_click(img, x0 + 2.6, y0 - 2.2)  # a sloppy click, 3.4 px off
        assert r.found
        errors.append(np.hypot(r.x - x0, r.y - y0))
        sigmas.append(r.sigma)
    errors = np.array(errors)
    assert errors.max() < 0.2
    # The stated sigma is per axis: radial rms should be within 2x of sqrt(2)*sigma.
    radial_rms = np.sqrt(np.mean(errors**2))
    stated = np.sqrt(2) * np.mean(sigmas)
    assert 0.5 * stated < radial_rms < 2.0 * stated


def test_click_on_empty_sky_is_kept_as_clicked():
    img = _gaussian_frame(10, 10)
    r = refine_click(img, 45.0, 50.0)
    assert not r.found
    assert (r.x, r.y) == (45.0, 50.0)
    assert "kept as clicked" in r.message


def test_click_outside_image_is_a_clear_error():
    with pytest.raises(TrackError, match="outside"):
        refine_click(np.zeros((20, 20)), 25.0, 3.0)


def test_spline_layout_grows_with_clicks_and_never_has_as_many_terms():
    assert spline_layout(1) == (0, 0)
    assert spline_layout(2) == (1, 0)  # a line through two clicks: nothing left to check it
    assert spline_layout(3) == (1, 0)
    assert spline_layout(4) == (2, 0)
    assert spline_layout(5) == (3, 0)
    for n in range(3, 200):
        degree, interior = spline_layout(n)
        assert degree + 1 + interior <= n - 1, n  # residuals exist
    degree, interior = spline_layout(30)
    assert degree == 3 and 30 - (degree + 1 + interior) >= 10  # spare freedom to smooth


def test_second_click_in_same_frame_replaces_first_and_removal_works():
    t = Track().with_click(Click(3, 1.0, 10, 10)).with_click(Click(3, 1.0, 12, 11))
    assert len(t.clicks) == 1 and t.click_in(3).x == 12
    t = t.with_click(Click(0, 0.5, 1, 1))
    assert t.frames == (0, 3)
    assert t.without_click(3).frames == (0,)
    with pytest.raises(TrackError, match="no clicks"):
        fit_track(Track())


def _curved_path(jd):
    # A path with visible curvature over the night (px).
    t = jd - jd[0]
    return 100 + 400 * t + 300 * t**2, 80 + 250 * t - 150 * t**2


def _clicks(jd, x, y, frames, sigma, seed):
    rng = np.random.default_rng(seed)
    track = Track()
    for i in frames:
        track = track.with_click(
            Click(i, jd[i], x[i] + rng.normal(0, sigma), y[i] + rng.normal(0, sigma), sigma=sigma)
        )
    return track


def test_four_clicks_predict_curved_path_in_pixels():
    jd = 2460000.5 + np.linspace(0, 0.25, 30)
    x, y = _curved_path(jd)
    track = _clicks(jd, x, y, (0, 10, 20, 29), 0.05, seed=1)
    fit = fit_track(track)
    assert fit.frame_type == "pixel" and fit.degree == 2 and fit.dof == 2
    pred = fit.predict(jd, clicked=track.frames)
    err = np.hypot(pred["x"] - x, pred["y"] - y)
    assert err.max() < 0.3
    assert pred["clicked"].sum() == 4
    # The stated uncertainty is honest: errors within 4 sigma (radial, 2 axes).
    assert np.all(err < 4 * np.sqrt(2) * pred["sigma_px"] + 1e-3)
    assert "rms" in fit.describe(4) and "undefined" not in fit.describe(4)


def test_three_clicks_are_a_line_that_says_when_the_path_curves():
    # Three clicks never make a parabola through all three (rms 0, nothing
    # checked): a line, whose residuals show this path's curvature, and
    # uncertainties scaled up by them so that they still cover the path.
    jd = 2460000.5 + np.linspace(0, 0.25, 30)
    x, y = _curved_path(jd)
    fit = fit_track(_clicks(jd, x, y, (0, 14, 29), 0.05, seed=1))
    assert fit.degree == 1 and fit.dof == 2 and fit.rms > 1.0 and fit.scale > 100
    assert "scatter" in fit.describe(3)
    pred = fit.predict(jd)
    err = np.hypot(pred["x"] - x, pred["y"] - y)
    assert err.max() > 2.0  # a line cannot follow this curve...
    assert np.all(err < 4 * np.sqrt(2) * pred["sigma_px"])  # ...and says so
    # On a straight path the same three clicks agree within their errors:
    # the line keeps the clicks' own errors (no scaling by a chance chi-square).
    xs, ys = 100 + 400 * (jd - jd[0]), 80 + 250 * (jd - jd[0])
    line = fit_track(_clicks(jd, xs, ys, (0, 14, 29), 0.05, seed=3))
    assert line.scale == 1.0 and line.rms < 0.2
    # Two clicks: a line with nothing to check it; the rms is undefined, not 0.
    two = fit_track(_clicks(jd, xs, ys, (0, 29), 0.05, seed=3))
    assert two.dof == 0 and np.isnan(two.rms) and "rms undefined" in two.describe(2)


def test_two_clicks_give_a_line_and_many_clicks_smooth_the_noise():
    jd = 2460000.5 + np.linspace(0, 0.2, 40)
    x = 50 + 300 * (jd - jd[0])
    y = 60 - 100 * (jd - jd[0])
    fit = fit_track(Track().with_click(Click(0, jd[0], x[0], y[0])).with_click(
        Click(39, jd[39], x[39], y[39])))  # fmt: skip
    pred = fit.predict(jd)
    assert fit.degree == 1
    assert np.max(np.hypot(pred["x"] - x, pred["y"] - y)) < 1e-6
    # 40 clicks with 0.3 px scatter: the smoothed track is well inside the scatter.
    rng = np.random.default_rng(2)
    track = Track()
    for i in range(40):
        track = track.with_click(
            Click(i, jd[i], x[i] + rng.normal(0, 0.3), y[i] + rng.normal(0, 0.3), sigma=0.3)
        )
    pred = fit_track(track).predict(jd)
    rms = np.sqrt(np.mean((pred["x"] - x) ** 2 + (pred["y"] - y) ** 2))
    assert rms < 0.6 * 0.3 * np.sqrt(2)


def _wcs(crval_ra, crval_dec, rot_deg=0.0, scale=1.0 / 3600):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crpix = [256, 256]
    w.wcs.crval = [crval_ra, crval_dec]
    c, s = np.cos(np.radians(rot_deg)), np.sin(np.radians(rot_deg))
    w.wcs.cd = scale * np.array([[-c, s], [s, c]])
    return w


def test_sky_track_follows_target_across_pointing_drift():
    # The telescope drifts 3 arcsec/frame and rotates slightly: a pixel fit
    # would be wrong, the sky fit is right.
    n = 20
    jd = 2460000.5 + np.linspace(0, 0.1, n)
    wcs = [_wcs(150.0 + 0.0008 * i, 20.0 + 0.0005 * i, rot_deg=0.05 * i) for i in range(n)]
    ra = 150.01 + 0.05 * (jd - jd[0])
    dec = 20.005 - 0.03 * (jd - jd[0])
    truth = [w.world_to_pixel_values(r, d) for w, r, d in zip(wcs, ra, dec, strict=True)]
    truth = np.array(truth)
    track = Track()
    for i in (0, 9, 19):
        track = track.with_click(Click(i, jd[i], *truth[i], sigma=0.05))
    fit = fit_track(track, wcs)
    assert fit.frame_type == "sky"
    pred = fit.predict(jd, wcs)
    err = np.hypot(pred["x"] - truth[:, 0], pred["y"] - truth[:, 1])
    assert err.max() < 0.05
    assert np.max(np.abs(pred["ra"] - ra)) * 3600 < 0.05
    # One frame without WCS: the track falls back to pixels, clearly labelled.
    wcs_missing = list(wcs)
    wcs_missing[5] = None
    assert fit_track(track, wcs_missing).frame_type == "pixel"
    with pytest.raises(TrackError, match="WCS"):
        fit.predict(jd, wcs_missing)


def test_click_in_a_blank_region_and_clicks_without_time_are_clear():
    # Outside the data of an aligned frame (NaN): kept as clicked, not a numpy warning.
    image = _gaussian_frame(30, 30)
    image[:, :20] = np.nan
    r = refine_click(image, 5.0, 30.0)
    assert not r.found and (r.x, r.y) == (5.0, 30.0) and "no valid pixel" in r.message
    track = Track()
    for frame, jd in enumerate((2460000.50, float("nan"), 2460000.60)):
        track = track.with_click(Click(frame, jd, 10.0 + frame, 20.0))
    with pytest.raises(TrackError, match=r"frame\(s\) \[1\] have no observation time"):
        fit_track(track)
