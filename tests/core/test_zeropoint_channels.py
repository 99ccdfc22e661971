"""Zero points and colour terms of a colour camera's channels, against the simulator's truth.

The simulated colour camera (:mod:`fluxion.core.simulation.colour`) gives
each channel c a natural magnitude ``m_c = band_c + k_c (B - V)`` (R for
red, V for green, B for blue) and a zero point zp_c over a sensor covered by
its filter, of which the channel's pixels are the fraction f_c. So the
calibration ``band_c = m_inst + ZP_c + k'_c (B - V)`` of fluxes in e-/s
has the true ZP_c = zp_c + 2.5 log10 f_c - extinction * airmass and the
true k'_c = -k_c.
"""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.photometry import Photometry, PhotometryParams
from fluxion.core.simulation.colour import FRACTION
from fluxion.core.simulation.simulate import NightConfig, make_night
from fluxion.core.zeropoint import ZeroPoint, ZeroPointParams
from fluxion.core.zeropoint.channels import (
    aavso_channel_code,
    calibrate_channels,
    channel_band,
)

CONFIG = NightConfig(
    seed=7,
    n_frames=1,
    shape=(384, 384),
    bayer_pattern="GRBG",
    star_density=4.0,
    mag_bright=11.0,
    mag_faint=16.5,
    asteroid=False,
    fwhm=3.8,
)
N_DRAWS = 80  # x 3 channels: the pull width's statistical error is ~0.05


@pytest.fixture(scope="module")
def night():
    return make_night(CONFIG)


@pytest.fixture(scope="module")
def frame(night):
    """The noiseless light (e-) and its constant stars inside the frame."""
    truth = night.truth(0)
    x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
    ny, nx = CONFIG.shape
    keep = (x > 20) & (x < nx - 21) & (y > 20) & (y < ny - 21)
    keep &= ~np.asarray(truth["saturated"]) & (np.asarray(truth["kind"]) == "star")
    return night.light_expected_electrons(0), truth[keep]


def _truth(night, channel: str) -> tuple[float, float]:
    k = "RGB".index(channel)
    zp = CONFIG.channel_zero_points[k] + 2.5 * np.log10(FRACTION[channel])
    return zp - CONFIG.extinction * float(night.airmass[0]), -CONFIG.channel_colour_terms[k]


def _measure(step, image, stars, night):
    table = step.run(
        image,
        np.c_[stars["x"], stars["y"]],
        gain=1.0,
        read_noise=night.read_noise,
        cfa=CONFIG.bayer_pattern,
    ).table
    n = len(stars)
    assert list(table["channel"][::n]) == ["R", "G", "B"]
    table["ra"] = np.tile(np.asarray(stars["ra"]), 3)
    table["dec"] = np.tile(np.asarray(stars["dec"]), 3)
    return table


def _calibrate(table, catalog):
    return calibrate_channels(
        ZeroPoint(ZeroPointParams()),
        table,
        catalog,
        exptime=CONFIG.exptime,
        image_shape=CONFIG.shape,
    )


def test_channels_are_calibrated_to_their_bands():
    assert [channel_band(c) for c in ("R", "G", "B", "G1")] == ["R", "V", "B", "V"]
    assert [aavso_channel_code(c) for c in ("R", "G", "B")] == ["TR", "TG", "TB"]
    assert channel_band("L", "V") == "V" and aavso_channel_code("L", "V") == "CV"
    with pytest.raises(ValueError, match="unknown colour channel"):
        channel_band("X")


def _enclosed(radius_fwhm: float) -> float:
    """Fraction of the simulator's Moffat star inside an aperture of ``radius_fwhm`` FWHM."""
    beta = CONFIG.moffat_beta
    alpha = 1.0 / (2.0 * np.sqrt(2 ** (1 / beta) - 1))  # in FWHM
    return 1.0 - (1.0 + (radius_fwhm / alpha) ** 2) ** (1.0 - beta)


def test_zero_points_and_colour_terms_find_the_truth(night, frame):
    """One exposure against the catalog as it is, in apertures of 2 FWHM.

    The aperture holds a known share of each star (the simulator's Moffat),
    which the true zero point is given; no aperture correction, whose own
    error every star of a channel would share beyond the fit's error.
    """
    image, stars = frame
    rng = np.random.default_rng(11)
    noisy = rng.poisson(image) + night.read_noise * rng.standard_normal(image.shape)
    fwhm = float(night.fwhm[0])  # as the chain gives it (detection's stacked fit)
    step = Photometry(
        PhotometryParams(
            channels="RGB", fwhm=fwhm, aperture_radius=2 * fwhm, aperture_correction=False
        )
    )
    cal = _calibrate(_measure(step, noisy, stars, night), night.catalog)
    assert cal.primary == "G"
    for channel, result in cal.results.items():
        assert result.calibrated, result.reason
        assert result.band == {"R": "R", "G": "V", "B": "B"}[channel]
        assert result.colour_index == "B-V"
        assert result.n_stars >= 60
        zp, k = _truth(night, channel)
        zp += 2.5 * np.log10(_enclosed(2.0))
        assert abs(result.zero_point - zp) < 3 * result.zero_point_err, (channel, result)
        assert abs(result.colour_term - k) < 3 * result.colour_term_err, (channel, result)
        assert result.colour_term_err < 0.02
    rows = cal.sources[cal.sources["channel"] == "G"]
    assert np.isfinite(rows["mag"]).sum() > 0.9 * len(stars)


def test_zero_point_and_colour_term_errors_are_honest(night, frame):
    """Pulls of each channel's zero point and colour term over new exposures and catalog draws.

    The reference is the same fit on the noiseless frame against the true
    magnitudes, so that the pulls measure the errors the fit states for the
    noise of the stars and the catalog (a fixed aperture of 2 FWHM: the
    aperture's lost light is the same in every draw). The reference's own
    colour terms are the truth's.
    """
    image, stars = frame
    fwhm = float(night.fwhm[0])
    step = Photometry(
        PhotometryParams(
            channels="RGB", fwhm=fwhm, aperture_radius=2 * fwhm, aperture_correction=False
        )
    )
    true_catalog = night.catalog.copy()
    for band in ("B", "V", "R"):
        true_catalog[band] = night.true_magnitudes()[band]
    reference = _calibrate(_measure(step, image, stars, night), true_catalog).results
    for channel, result in reference.items():
        assert result.colour_term == pytest.approx(_truth(night, channel)[1], abs=0.01)
    rng = np.random.default_rng(5)
    pulls: dict[str, list[float]] = {"zero_point": [], "colour_term": []}
    for _ in range(N_DRAWS):
        noisy = rng.poisson(image) + night.read_noise * rng.standard_normal(image.shape)
        cal = _calibrate(_measure(step, noisy, stars, night), night.catalog_realisation(rng))
        for channel, result in cal.results.items():
            assert result.calibrated
            for key in pulls:
                got, want = getattr(result, key), getattr(reference[channel], key)
                pulls[key].append((got - want) / getattr(result, f"{key}_err"))
    for key, values in pulls.items():
        width = float(np.sqrt(np.mean(np.square(values))))
        print(f"{key}: pull rms {width:.3f}, mean {np.mean(values):+.3f} over {len(values)}")
        assert 0.8 < width < 1.2, (key, width)
        # The zero points sit ~0.5 sigma (~0.002 mag) below the noiseless
        # fit's: faint stars' magnitudes of noisy fluxes lean faint (-2.5 log
        # is convex), more so where weights follow the measured flux.
        assert abs(np.mean(values)) < 0.7, (key, np.mean(values))
