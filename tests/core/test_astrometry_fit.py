"""Triangle matching and TAN-SIP fits against exact synthetic truth (no images)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS, Sip

from fluxion.core.astrometry import (
    MatchError,
    WcsFitError,
    fit_wcs,
    gnomonic,
    inverse_gnomonic,
    match_sources,
)
from fluxion.core.astrometry.sip_order import choose_sip_order

SHAPE = (512, 512)


def _truth_wcs(rotation=30.0, scale=1.2, corner_shift=1.5) -> WCS:
    """A TAN-SIP WCS with cubic barrel distortion moving the corners by ``corner_shift`` px."""
    ny, nx = SHAPE
    w = WCS(naxis=2)
    w.wcs.crpix = [(nx + 1) / 2, (ny + 1) / 2]
    w.wcs.crval = [310.0, 40.0]
    s, th = scale / 3600, math.radians(rotation)
    w.wcs.cd = [[-s * math.cos(th), s * math.sin(th)], [s * math.sin(th), s * math.cos(th)]]
    rc = math.hypot(nx / 2, ny / 2)
    k = corner_shift / rc**3
    a, b = np.zeros((4, 4)), np.zeros((4, 4))
    a[3, 0] = a[1, 2] = b[2, 1] = b[0, 3] = k
    a[2, 0] = 0.15 * corner_shift / rc**2
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.pixel_shape = (nx, ny)
    w.wcs.set()
    return w


def _grid_error_px(fitted: WCS, truth: WCS, scale=1.2) -> tuple[float, float]:
    """RMS and max sky distance between two WCS over the frame, in pixels."""
    gx, gy = np.meshgrid(np.linspace(0, SHAPE[1] - 1, 25), np.linspace(0, SHAPE[0] - 1, 25))
    r1, d1 = truth.all_pix2world(gx.ravel(), gy.ravel(), 0)
    r2, d2 = fitted.all_pix2world(gx.ravel(), gy.ravel(), 0)
    sep = SkyCoord(r1, d1, unit="deg").separation(SkyCoord(r2, d2, unit="deg")).arcsec / scale
    return float(np.sqrt(np.mean(sep**2))), float(sep.max())


def test_gnomonic_round_trip():
    rng = np.random.default_rng(3)
    ra = 359.9 + rng.uniform(-1, 1, 100)
    dec = 88.5 + rng.uniform(-1, 1, 100)
    xi, eta = gnomonic(ra, dec, 0.05, 88.7)
    ra2, dec2 = inverse_gnomonic(xi, eta, 0.05, 88.7)
    sep = SkyCoord(ra, dec, unit="deg").separation(SkyCoord(ra2, dec2, unit="deg")).arcsec
    assert sep.max() < 1e-6


def test_sip_fit_recovers_truth_and_rejects_outliers():
    rng = np.random.default_rng(1)
    truth = _truth_wcs()
    n = 200
    xy = rng.uniform(0, 511, (n, 2))
    ra, dec = truth.all_pix2world(xy[:, 0], xy[:, 1], 0)
    measured = xy + rng.normal(0, 0.05, (n, 2))
    measured[:10] += rng.choice([-1, 1], (10, 2)) * rng.uniform(1.0, 5.0, (10, 2))  # blends
    fit = fit_wcs(measured, ra, dec, image_shape=SHAPE, sip_order=3)
    assert not fit.used[:10].any()  # every injected outlier rejected
    assert fit.used[10:].mean() > 0.97  # and few good stars lost
    assert fit.sip_order == 3
    # Radial RMS of 0.05 px per axis is 0.0707 px.
    assert fit.rms_px == pytest.approx(0.0707, rel=0.15)
    assert fit.pixel_scale == pytest.approx(1.2, rel=1e-3)
    # 190 stars at 0.05 px fix 10 terms per axis to ~0.05 * sqrt(10 / 190) = 0.011 px.
    rms, worst = _grid_error_px(fit.wcs, truth)
    assert rms < 0.03 and worst < 0.1
    # The inverse SIP (AP/BP) written for other tools agrees with the iterative inverse.
    gx, gy = np.meshgrid(np.linspace(0, 511, 12), np.linspace(0, 511, 12))
    foc = fit.wcs.sip_pix2foc(np.column_stack([gx.ravel(), gy.ravel()]), 0)
    back = fit.wcs.sip_foc2pix(foc, 0)
    assert np.abs(back - np.column_stack([gx.ravel(), gy.ravel()])).max() < 0.01


def test_tan_fit_without_distortion_and_too_few_stars():
    truth = _truth_wcs(rotation=-120, corner_shift=0.0)
    xy = np.array([[10.0, 10], [500, 20], [250, 260], [30, 480], [470, 490], [100, 300]])
    ra, dec = truth.all_pix2world(xy[:, 0], xy[:, 1], 0)
    fit = fit_wcs(xy, ra, dec, image_shape=SHAPE, sip_order=3)
    assert fit.sip_order == 1  # six stars cannot carry a cubic
    assert _grid_error_px(fit.wcs, truth)[1] < 1e-4
    with pytest.raises(WcsFitError, match="at least 4"):
        fit_wcs(xy[:3], ra[:3], dec[:3], image_shape=SHAPE)


def _centre_offset_arcsec(fit, truth) -> tuple[float, float]:
    """Fitted minus true sky position of the image centre (RA cos Dec, Dec), arcsec."""
    c = (SHAPE[1] - 1) / 2.0
    r1, d1 = fit.wcs.all_pix2world(c, c, 0)
    r0, d0 = truth.all_pix2world(c, c, 0)
    return (float(r1 - r0) * math.cos(math.radians(float(d0))) * 3600, float(d1 - d0) * 3600)


def test_centre_uncertainty_matches_the_scatter_and_weighting_shrinks_it():
    """30 stars whose centroid errors span 0.03-0.6 px, 300 noise draws.

    The reported centre sigma must match the scatter of the fitted centres
    (within 15%), and weighting by the errors must beat an unweighted fit.
    """
    rng = np.random.default_rng(5)
    truth = _truth_wcs(rotation=20, corner_shift=0.0)
    n = 30
    xy = rng.uniform(0, 511, (n, 2))
    ra, dec = truth.all_pix2world(xy[:, 0], xy[:, 1], 0)
    sigma = np.geomspace(0.03, 0.6, n)
    offsets, reported, unweighted = [], [], []
    for _ in range(300):
        measured = xy + rng.normal(0, 1, (n, 2)) * sigma[:, None]
        fit = fit_wcs(measured, ra, dec, image_shape=SHAPE, sip_order=1, sigma=sigma)
        offsets.append(_centre_offset_arcsec(fit, truth))
        reported.append(fit.centre_sigma)
        plain = fit_wcs(measured, ra, dec, image_shape=SHAPE, sip_order=1, clip_sigma=0)
        unweighted.append(_centre_offset_arcsec(plain, truth))
    scatter = np.std(np.asarray(offsets), axis=0)  # per axis, arcsec
    assert np.all(np.abs(np.mean(offsets, axis=0)) < 3 * scatter / np.sqrt(300))  # unbiased
    assert np.median(reported) == pytest.approx(np.mean(scatter), rel=0.15)
    assert np.all(np.std(np.asarray(unweighted), axis=0) > 1.5 * scatter)


def test_sip_order_is_chosen_on_held_out_stars():
    """A distorted field keeps its cubic; an undistorted one falls back to TAN."""
    rng = np.random.default_rng(8)
    xy = rng.uniform(0, 511, (120, 2))
    noisy = xy + rng.normal(0, 0.05, xy.shape)
    distorted = _truth_wcs(corner_shift=1.5)
    ra, dec = distorted.all_pix2world(xy[:, 0], xy[:, 1], 0)
    order, scores = choose_sip_order(noisy, ra, dec, image_shape=SHAPE, max_order=3)
    # Held-out chi^2 per star (two axes) is ~2 for the true order; the 1.5 px
    # barrel shows plainly in the lower orders.
    assert order == 3 and scores[3] == pytest.approx(2.0, rel=0.3) and scores[1] > 3 * scores[3]
    flat = _truth_wcs(corner_shift=0.0)
    ra, dec = flat.all_pix2world(xy[:30, 0], xy[:30, 1], 0)
    order, scores = choose_sip_order(noisy[:30], ra, dec, image_shape=SHAPE, max_order=3)
    assert order == 1 and scores[2] > scores[1]


def _scene(rng, *, rotation, scale, flip, n_cat=150, keep=0.7, spurious=0.3, noise=0.1):
    """Catalog stars on a plane, and the image a camera would see of part of them."""
    plane = rng.uniform(-350, 350, (n_cat, 2))
    th = math.radians(rotation)
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    m = rot * scale
    if flip:
        m = m @ np.diag([-1.0, 1.0])
    xy = (plane - [20.0, -35.0]) @ np.linalg.inv(m).T + [256.0, 256.0]
    inside = np.all((xy > 0) & (xy < 511), axis=1)
    idx = np.nonzero(inside)[0]
    idx = idx[rng.random(len(idx)) < keep]
    img = xy[idx] + rng.normal(0, noise, (len(idx), 2))
    n_fake = int(spurious * len(idx) / (1 - spurious))
    img = np.vstack([img, rng.uniform(0, 511, (n_fake, 2))])
    truth = np.concatenate([idx, np.full(n_fake, -1)])
    order = rng.permutation(len(img))  # brightness order unrelated to anything
    return img[order], plane, truth[order]


@pytest.mark.parametrize(
    "rotation,scale,flip",
    [(0.0, 1.0, False), (73.0, 1.05, False), (181.0, 0.95, True), (-47.0, 1.03, True)],
)
def test_matching_is_robust_to_rotation_flip_scale_and_spurious_stars(rotation, scale, flip):
    rng = np.random.default_rng(int(rotation) % 97 + 7)
    img, plane, truth = _scene(rng, rotation=rotation, scale=scale, flip=flip)
    m = match_sources(img, plane, image_size=(512, 512), scale_tolerance=0.06)
    assert m.flipped == flip
    assert m.scale == pytest.approx(scale, rel=0.002)
    right = truth[m.source_index] == m.catalog_index
    assert right.all()  # no wrong pair
    real = (truth >= 0).sum()
    assert m.n_matched >= 0.95 * real  # 30 % spurious and 30 % missing stars
    assert m.log10_false_alarm < -20


def test_matching_refuses_unrelated_stars():
    rng = np.random.default_rng(11)
    plane = rng.uniform(-350, 350, (150, 2))
    img = rng.uniform(0, 511, (60, 2))
    with pytest.raises(MatchError):
        match_sources(img, plane, image_size=(512, 512), scale_tolerance=0.05)


def test_matching_refuses_three_stars():
    rng = np.random.default_rng(12)
    img, plane, _ = _scene(rng, rotation=10, scale=1.0, flip=False)
    with pytest.raises(MatchError, match="at least 6 needed"):
        match_sources(img[:3], plane, image_size=(512, 512))


def test_extending_stops_when_the_fit_finds_its_own_pairs_and_a_refit_would_not_move(
    monkeypatch,
):
    """fit_and_extend does not refit a fit that re-matches its own pairs: such a refit
    (from the fit's CRVAL) gives the same WCS to far below the stars' 0.05 px errors."""
    from astropy.table import Table

    from fluxion.core.astrometry import extend
    from fluxion.core.astrometry.matching import Match

    fitted: list[int] = []

    def counted(xy, *args, **kw):
        fitted.append(len(xy))
        return fit_wcs(xy, *args, **kw)

    monkeypatch.setattr(extend, "fit_wcs", counted)

    truth = _truth_wcs()
    rng = np.random.default_rng(11)
    n = 150
    xy_true = rng.uniform(5, SHAPE[1] - 6, (n, 2))
    ra, dec = truth.all_pix2world(xy_true[:, 0], xy_true[:, 1], 0)
    xy = xy_true + rng.normal(0.0, 0.05, (n, 2))
    cat = Table({"ra": ra, "dec": dec})
    # The matcher's pairs: two thirds of the stars, in its own order.
    first = rng.permutation(n)[: 2 * n // 3]
    match = Match(first, first, np.zeros((2, 3)), 1.0, 0.0, False, 0.1, -50.0, 1)
    sigma, cat_sigma = np.full(n, 0.05), np.zeros(n)
    fit, src_i, cat_i = extend.fit_and_extend(xy, sigma, cat_sigma, cat, match, SHAPE, 3, 3)
    assert len(src_i) == n and np.array_equal(src_i, cat_i)  # every star found again
    # The matcher's 100 pairs, then all 150; the second re-match finds the same 150.
    assert fitted == [2 * n // 3, n]
    # 20 terms on 150 stars of 0.05 px: ~0.05 sqrt(20 / 150) = 0.018 px over the field.
    assert _grid_error_px(fit.wcs, truth)[0] < 0.04
    crval = tuple(float(c) for c in fit.wcs.wcs.crval)
    again = fit_wcs(
        xy[src_i], ra[cat_i], dec[cat_i], image_shape=SHAPE, sip_order=fit.sip_order,
        sigma=np.hypot(sigma[src_i], cat_sigma[cat_i]), crval=crval,
    )  # fmt: skip
    assert again.n_used == fit.n_used
    assert _grid_error_px(again.wcs, fit.wcs)[1] < 1e-6
