"""The pixel-sampling error of aperture sums against the simulator's pixel-integrated stars.

An exact-overlap aperture of about one FWHM sums a star differently as the
star's centre moves within its pixel (``core/photometry/sampling.py``). The
predicted rms is checked against stars the simulator integrates over each
pixel on its own (a different renderer, photutils' exact apertures), and the
photometry step's ``flux_err`` must carry it: bright stars at random
sub-pixel positions scatter by their stated errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from photutils.aperture import CircularAperture, aperture_photometry

from fluxion.core.photometry.params import PhotometryParams
from fluxion.core.photometry.sampling import aperture_sampling_error
from fluxion.core.photometry.step import Photometry
from fluxion.core.simulation.psf import add_sources, psf_stamp


def _simulated_rms(fwhm: float, radius: float, psf: str, beta: float, n: int = 300) -> float:
    """Relative rms of exact aperture sums of unit stars at random sub-pixel positions."""
    rng = np.random.default_rng(5)
    half = int(np.ceil(radius)) + 8
    offsets = np.arange(-half, half + 1, dtype=float)
    sums = []
    for px, py in rng.uniform(-0.5, 0.5, (n, 2)):
        stamp = psf_stamp(offsets - px, offsets - py, fwhm, psf, beta)
        aper = CircularAperture((half + px, half + py), r=radius)
        sums.append(float(aperture_photometry(stamp, aper, method="exact")["aperture_sum"][0]))
    sums = np.asarray(sums)
    return float(np.std(sums) / np.mean(sums))


@pytest.mark.parametrize("fwhm", [2.5, 4.0])
@pytest.mark.parametrize("ratio", [0.8, 1.0, 1.5])
def test_sampling_error_matches_pixel_integrated_moffat_stars(fwhm, ratio):
    # 300 random positions measure the rms to ~4 %.
    radius = ratio * fwhm
    measured = _simulated_rms(fwhm, radius, "moffat", 3.0)
    assert aperture_sampling_error(fwhm, radius) == pytest.approx(measured, rel=0.15)


@pytest.mark.parametrize(("psf", "beta"), [("moffat", 2.0), ("gaussian", 3.0)])
def test_sampling_error_holds_for_other_profiles(psf, beta):
    """The Moffat-3 prediction stands for other seeing profiles within ~35 %."""
    for fwhm, radius in ((3.0, 2.4), (3.0, 3.0), (4.0, 3.6)):
        measured = _simulated_rms(fwhm, radius, psf, beta, n=200)
        assert aperture_sampling_error(fwhm, radius) == pytest.approx(measured, rel=0.35)


def test_sampling_error_vanishes_for_wide_apertures_and_bad_input():
    assert aperture_sampling_error(3.0, 9.0) < 1e-4
    assert aperture_sampling_error(3.0, 2.4) > 10 * aperture_sampling_error(3.0, 6.0)
    for bad in ((np.nan, 3.0), (3.0, 0.0), (-1.0, 3.0), (None, 3.0)):
        assert aperture_sampling_error(*bad) == 0.0


def test_bright_star_flux_errors_carry_the_sampling_error():
    """Bright stars at random sub-pixel positions scatter by their flux_err.

    An aperture of 0.8 FWHM on stars of 4e6 e-: photon noise ~0.06 %, the
    sampling ~0.17 %. Without the sampling term the pulls were 3.0 wide.
    """
    rng = np.random.default_rng(7)
    fwhm, shape, sky = 3.5, (320, 320), 200.0
    gx, gy = np.meshgrid(np.arange(30, 300, 30.0), np.arange(30, 300, 30.0))
    pulls = []
    for _ in range(6):
        x = gx.ravel() + rng.uniform(-0.5, 0.5, gx.size)
        y = gy.ravel() + rng.uniform(-0.5, 0.5, gy.size)
        flux = np.full(x.size, 4e6)
        image = np.full(shape, sky)
        add_sources(image, x, y, flux, np.full(x.size, fwhm))
        image = rng.poisson(image).astype(float)
        params = PhotometryParams(
            method="aperture", aperture_radius=0.8 * fwhm, aperture_correction=False
        )
        t = Photometry(params).run(image, np.c_[x, y], gain=1.0, fwhm=fwhm).table
        ratio = np.asarray(t["flux"]) / flux
        err = np.asarray(t["flux_err"]) / flux
        # The frame's mean fraction (what a curve of growth corrects) is common.
        pulls.extend((ratio - np.mean(ratio)) / err * np.sqrt(len(ratio) / (len(ratio) - 1)))
    width = float(np.std(pulls))
    assert len(pulls) >= 400
    assert 0.8 < width < 1.2, width
