"""Annulus skies shared between the curve of growth and the apertures: the same numbers."""

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
