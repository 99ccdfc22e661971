"""A masked pixel in a star's aperture is replaced by its mirror through the star's centre.

A hot pixel 3.6 px from a bright star's centre took ~0.6 % of its light out
of its 5 px aperture and flagged it MASKED in every light of a night, so the
night's best comparison star was never used. With the pixel's mirror image in
its place (SExtractor's ``MASK_TYPE CORRECT``) the star's sum is its whole
light again, to within the two pixels' noise, and it is not flagged; a star
whose masked pixels have no good mirror (a masked core, the frame's edge)
is left out of the sum and flagged as before.
"""

from __future__ import annotations

import numpy as np
from photometry_helpers import add_stars

from fluxion.core.photometry import PhotometryFlag
from fluxion.core.photometry.aperture import measure_apertures
from fluxion.core.photometry.synthetic import MoffatProfile

SKY, RADIUS, ANNULUS = 200.0, 5.0, (8.0, 13.0)
#: The hot pixel's place relative to the star's pixel: 3.6 px out, in the wing.
HOT = (3, 2)


def _field(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """100 bright stars (2e5 e-) on a Poisson sky; the noiseless stars; positions; hot pixels."""
    rng = np.random.default_rng(seed)
    shape = (320, 320)
    centres = np.array([(20.0 + 30 * i, 20.0 + 30 * j) for i in range(10) for j in range(10)])
    pos = centres + rng.uniform(-0.5, 0.5, centres.shape)
    stars = np.zeros(shape)
    add_stars(stars, MoffatProfile(fwhm=3.3), pos[:, 0], pos[:, 1], np.full(len(pos), 2e5))
    image = rng.poisson(stars + SKY).astype(float)
    hot = np.zeros(shape, bool)
    px = np.rint(pos).astype(int)
    hot[px[:, 1] + HOT[1], px[:, 0] + HOT[0]] = True
    image[hot] += 5e4  # an uncorrectable hot pixel: masked
    return image, stars, pos, hot


def test_a_hot_pixel_in_the_wing_is_replaced_by_its_mirror():
    image, stars, pos, hot = _field(3)
    clean = image.copy()
    clean[hot] -= 5e4
    ref = measure_apertures(clean, pos, RADIUS, ANNULUS)
    mirrored = measure_apertures(image, pos, RADIUS, ANNULUS, mask=hot)
    dropped = measure_apertures(image, pos, RADIUS, ANNULUS, mask=hot, mirror_masked=False)
    f0 = np.asarray(ref["flux"])
    assert np.all(ref["flags"] == 0)
    # Mirrored: not flagged, and the whole light again.
    assert np.all(mirrored["flags"] == 0)
    d = (np.asarray(mirrored["flux"]) - f0) / f0
    # The interpolated mirror's error: rms 0.4 ppt here (the bilinear weights
    # overestimate a convex wing a little: +0.3 ppt on average), a fifth of
    # the star's own error and a tenth of the light the pixel holds.
    rms = float(np.sqrt(np.mean(d**2)))
    assert rms < 0.25 * float(np.median(ref["flux_err"] / f0))
    share = stars[hot] / 2e5
    assert rms < 0.15 * float(np.mean(share))
    # Left out: flagged, and short by the pixel's share of the star's light.
    assert np.all(np.asarray(dropped["flags"]) & PhotometryFlag.MASKED)
    lost = (f0 - np.asarray(dropped["flux"])) / f0
    assert float(np.mean(share)) > 3e-3
    assert 0.8 * share.mean() < float(np.mean(lost)) < 1.2 * share.mean()


def test_masked_pixels_without_a_good_mirror_stay_out_and_flagged():
    image, _, pos, _ = _field(4)
    mask = np.zeros(image.shape, bool)
    # A masked core: every masked pixel's mirror is masked too.
    x, y = np.rint(pos[0]).astype(int)
    mask[y - 1 : y + 2, x - 1 : x + 2] = True
    # A star near the frame's edge whose masked pixel (4.7 px out) mirrors off the frame.
    edge = np.array([[2.3, 160.0]])
    mask[160, 7] = True
    t = measure_apertures(image, np.vstack([pos[:1], edge, pos[1:2]]), RADIUS, ANNULUS, mask=mask)
    assert t["flags"][0] & PhotometryFlag.MASKED
    assert t["flags"][1] & PhotometryFlag.MASKED
    assert t["flags"][2] == 0
