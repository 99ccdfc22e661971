"""Several apertures from one read of each frame: the same measurements as one radius at a time."""

from __future__ import annotations

import numpy as np

from fluxion.core.lightcurve.run import LightCurveParams, measure_frames, measure_frames_each
from fluxion.core.photometry.noise import NoiseModel

SHAPE = (96, 96)


def _frames(n: int = 4, seed: int = 3):
    """Gaussian stars (FWHM ~3 px) drifting by a pixel a frame on a noisy sky, in electrons."""
    rng = np.random.default_rng(seed)
    xy0 = np.array([[30.3, 40.1], [60.7, 25.4], [45.2, 70.8], [70.5, 66.2]])
    flux = np.array([2e4, 4e4, 1e4, 3e4])
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    images, where = [], []
    for i in range(n):
        xy = xy0 + [1.0 * i, 0.5 * i]
        image = np.full(SHAPE, 200.0)
        for (x, y), f in zip(xy, flux, strict=True):
            image += f / (2 * np.pi * 1.3**2) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 3.38)
        images.append(rng.poisson(image) + rng.normal(0, 5.0, SHAPE))
        where.append(xy)
    return images, np.array(where)


def test_each_radius_is_what_measure_frames_gives_and_each_frame_is_read_once():
    images, xy = _frames()
    reads: list[int] = []

    def load(i: int) -> np.ndarray:
        reads.append(i)
        return images[i]

    every = [
        LightCurveParams(aperture_radius=r, annulus_inner=14.0, annulus_outer=20.0)
        for r in (2.0, 3.5, 5.0)
    ]
    noise = NoiseModel(read_noise=5.0)
    scint = np.full(len(images), 0.002)
    together = measure_frames_each(load, xy[:, 0], xy[:, 1:], every, noise=noise,
                                   scintillation=scint)  # fmt: skip
    assert reads == list(range(len(images)))
    for p, m in zip(every, together, strict=True):
        alone = measure_frames(lambda i: images[i], xy[:, 0], xy[:, 1:], p, noise=noise,
                               scintillation=scint)  # fmt: skip
        for name in ("target_flux", "target_err", "target_flags", "star_flux", "star_err",
                     "star_flags", "target_sky", "fwhm", "contamination"):  # fmt: skip
            np.testing.assert_array_equal(getattr(m, name), getattr(alone, name), err_msg=name)
    # Larger apertures hold more of a star's light: the radii were each applied.
    flux = np.array([m.target_flux for m in together])
    assert np.all(np.diff(flux, axis=0) > 0)
