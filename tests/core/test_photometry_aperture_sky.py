"""The aperture method's sky: annuli shared by the curve and the apertures, neighbour disks."""

from __future__ import annotations

import numpy as np

from fluxion.core.photometry.annulus import SkyMemo, annulus_sky
from fluxion.core.photometry.aperture import measure_apertures


def _frame():
    rng = np.random.default_rng(9)
    image = rng.normal(500.0, 20.0, (300, 400))
    bad = rng.random(image.shape) < 0.02
    # Inside, near and off the edges.
    pos = np.column_stack([rng.uniform(-10, 410, 120), rng.uniform(-10, 310, 120)])
    return image, bad, pos


def test_memo_gives_each_star_the_sky_it_would_get_alone():
    image, bad, pos = _frame()
    memo = SkyMemo()
    first = memo.sky(image, bad, pos[:80], 8.0, 14.0)
    # Half of these were measured by the first call.
    second = memo.sky(image, bad, pos[40:], 8.0, 14.0)
    for got, at in ((first, pos[:80]), (second, pos[40:])):
        alone = annulus_sky(image, bad, at, 8.0, 14.0)
        np.testing.assert_array_equal(got.median, alone.median)
        np.testing.assert_array_equal(got.std, alone.std)
        np.testing.assert_array_equal(got.n_pixels, alone.n_pixels)
    # Other radii are other annuli: measured, not taken.
    other = memo.sky(image, bad, pos[:10], 6.0, 14.0)
    np.testing.assert_array_equal(other.median, annulus_sky(image, bad, pos[:10], 6.0, 14.0).median)
    assert memo.sky(image, bad, np.zeros((0, 2)), 8.0, 14.0).median.shape == (0,)


def test_apertures_with_a_memo_are_the_apertures_without():
    image, bad, pos = _frame()
    memo = SkyMemo()
    # A few stars in a corner: the apertures cut that part of the frame out.
    corner = pos[(pos[:, 0] < 120) & (pos[:, 1] < 90)]
    for at in (pos, corner, pos[::2]):
        with_memo = measure_apertures(image, at, 4.0, (8.0, 14.0), mask=bad, sky_memo=memo)
        alone = measure_apertures(image, at, 4.0, (8.0, 14.0), mask=bad)
        for name in alone.colnames:
            np.testing.assert_array_equal(with_memo[name], alone[name])


def test_annuli_sorted_from_a_float32_source_are_those_of_its_electrons():
    rng = np.random.default_rng(11)
    adu = rng.normal(500.0, 20.0, (300, 400)).astype(np.float32)
    adu[rng.random(adu.shape) < 0.001] = np.nan
    adu[5, 5] = np.inf
    gain = 1.37
    image = adu.astype(np.float64) * gain
    bad = ~np.isfinite(image) | (rng.random(image.shape) < 0.02)
    image[bad] = 0.0
    pos = np.column_stack([rng.uniform(-10, 410, 150), rng.uniform(-10, 310, 150)])
    alone = annulus_sky(image, bad, pos, 8.0, 14.0)
    fast = annulus_sky(image, bad, pos, 8.0, 14.0, source=adu, scale=gain)
    np.testing.assert_array_equal(fast.median, alone.median)
    np.testing.assert_array_equal(fast.std, alone.std)
    np.testing.assert_array_equal(fast.n_pixels, alone.n_pixels)
    assert np.isfinite(alone.median).sum() > 100
    # The whole aperture table alike, through a memo that knows the source.
    memo = SkyMemo()
    memo.prepared(image, bad, source=adu, scale=gain)
    with_source = measure_apertures(image, pos, 4.0, (8.0, 14.0), mask=bad, sky_memo=memo)
    without = measure_apertures(image, pos, 4.0, (8.0, 14.0), mask=bad)
    for name in without.colnames:
        np.testing.assert_array_equal(with_source[name], without[name])


def test_neighbour_disks_reach_where_the_wings_fall_to_a_fifth_of_the_sky_noise():
    from fluxion.core.photometry.aperture import neighbour_sky_mask

    rng = np.random.default_rng(4)
    x, y = rng.uniform(-5, 205, 40), rng.uniform(-5, 155, 40)
    flux = 10 ** rng.uniform(2, 7, 40)
    fwhm, rms, top = 3.0, 30.0, 12.0
    mask = neighbour_sky_mask((150, 200), x, y, flux, fwhm, rms, max_radius=top)
    # The rule, pixel by pixel over the whole frame: a beta = 3 Moffat's surface
    # brightness 2 F / (pi alpha^2) (1 + r^2 / alpha^2)^-3 down to 0.2 rms,
    # the disk at least 1.5 FWHM and at most the largest radius.
    alpha = fwhm / (2 * np.sqrt(2 ** (1 / 3) - 1))
    reach = alpha * np.sqrt(
        np.maximum((2 * flux / (np.pi * alpha**2) / (0.2 * rms)) ** (1 / 3) - 1, 0)
    )
    radius = np.clip(reach, 1.5 * fwhm, top)
    yy, xx = np.mgrid[0:150, 0:200]
    expected = np.zeros((150, 200), bool)
    for xc, yc, rc in zip(x, y, radius, strict=True):
        expected |= (xx - xc) ** 2 + (yy - yc) ** 2 <= rc * rc
    np.testing.assert_array_equal(mask, expected)


def test_saturated_pixels_found_on_the_float32_source_are_those_of_the_electrons():
    from fluxion.core.photometry.annulus import FramePixels

    rng = np.random.default_rng(5)
    gain = 1.37
    adu = rng.normal(1000.0, 300.0, (200, 300)).astype(np.float32)
    adu[rng.random(adu.shape) < 0.001] = np.nan
    image = adu.astype(np.float64) * gain
    bad = ~np.isfinite(image) | (rng.random(image.shape) < 0.05)
    image[bad] = 0.0
    plain = FramePixels(image, bad, bad)
    screened = FramePixels(image, bad, bad, adu, gain)
    # Levels at pixels' own electrons (ties), between them, and at or below 0.
    for level in (*np.sort(image[~bad])[-40::7], 1500.0 * gain, 0.0, -5.0):
        expected = plain.at_or_above(float(level))
        got = screened.at_or_above(float(level))
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
    assert plain.at_or_above(1500.0 * gain)[0].size > 10
