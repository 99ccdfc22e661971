"""A moving target passing a bright star: its light in the aperture and annulus is flagged
and subtracted, checked against the truth of the same frames without that star.

The classroom demo's asteroid passes a star 16 times brighter at 9.8 px, between
its aperture (5 px) and its annulus (10-16 px), and came out 0.03-0.18 mag
bright, unflagged. Here every frame is rendered twice with the same noise, with
and without the star: the difference of the two measurements is the star's true
bias on the target, which the flag and the subtracted ``contamination`` must match.
"""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.lightcurve.run import LightCurveParams, measure_frames
from fluxion.core.photometry.contamination import neighbour_contamination
from fluxion.core.photometry.flags import PhotometryFlag
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.simulation.psf import add_sources

SHAPE = (140, 140)
FWHM = 3.3
SKY, READ_NOISE = 400.0, 7.0
TARGET_FLUX, STAR_FLUX = 20_000.0, 320_000.0  # V 15.4 and 12.4
STAR = np.array([70.0, 70.0])
COMPARISONS = np.array([[25.0, 25.0], [115.0, 30.0], [30.0, 115.0]])
# The target's track: from 30 px above the star to 2 px beside it, then away.
TRACK = np.column_stack([np.full(40, 64.0) + np.linspace(0, 4, 40), np.linspace(100.0, 40.0, 40)])


def _frames(seed: int = 5) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each frame with and without the bright star, with the same noise."""
    rng = np.random.default_rng(seed)
    with_star, without = [], []
    for x, y in TRACK:
        clean = np.full(SHAPE, SKY)
        add_sources(clean, np.r_[x, COMPARISONS[:, 0]], np.r_[y, COMPARISONS[:, 1]],
                    np.r_[TARGET_FLUX, 3 * [TARGET_FLUX * 2]], FWHM)  # fmt: skip
        star = np.zeros(SHAPE)
        add_sources(star, STAR[:1], STAR[1:], np.array([STAR_FLUX]), FWHM)
        noise_free = clean + star
        noise = rng.standard_normal(SHAPE)
        # Poisson noise of the lit frame applied to both: the same draw, scaled.
        sigma = np.sqrt(noise_free + READ_NOISE**2)
        without.append(clean + noise * sigma)
        with_star.append(noise_free + noise * sigma)
    return with_star, without


@pytest.fixture(scope="module")
def measured():
    with_star, without = _frames()
    p = LightCurveParams()
    stars = np.broadcast_to(COMPARISONS, (len(TRACK), *COMPARISONS.shape))
    noise = NoiseModel(read_noise=READ_NOISE)
    neighbours = [STAR[None, :]] * len(TRACK)
    m = measure_frames(with_star.__getitem__, TRACK, stars, p, noise=noise,
                       neighbours_xy=neighbours)  # fmt: skip
    raw = measure_frames(with_star.__getitem__, TRACK, stars, p, noise=noise)
    truth = measure_frames(without.__getitem__, TRACK, stars, p, noise=noise)
    return m, raw, truth


def test_the_star_s_bias_is_flagged_where_it_exceeds_half_the_error(measured):
    m, raw, truth = measured
    bias = (raw.target_flux - truth.target_flux) / truth.target_err  # the truth, in sigma
    flagged = (m.target_flags & PhotometryFlag.CONTAMINATED) != 0
    assert np.abs(bias).max() > 10  # the pass matters: up to tens of sigma
    assert flagged[np.abs(bias) > 1.0].all(), np.round(bias, 2)
    assert not flagged[np.abs(bias) < 0.25].any(), np.round(bias, 2)
    # Far from the star (beyond the annulus and its wings) nothing is flagged.
    far = np.hypot(*(TRACK - STAR).T) > 27
    assert far.sum() >= 2 and not flagged[far].any()


def test_the_subtracted_light_leaves_the_target_s_own_flux(measured):
    m, raw, truth = measured
    bias = raw.target_flux - truth.target_flux
    left = m.target_flux - truth.target_flux
    # The model's residual is a small part of the true bias, and within the stated error.
    assert np.all(np.abs(left) <= 0.25 * np.abs(bias) + 0.3 * truth.target_err), np.round(
        np.c_[bias, left] / truth.target_err[:, None], 2
    )
    assert np.all(np.abs(left) < m.target_err)
    np.testing.assert_allclose(m.contamination, bias, atol=np.max(0.25 * np.abs(bias)) + 1)


def test_no_neighbour_no_bias():
    pos = np.array([[50.0, 50.0]])
    assert neighbour_contamination(pos, 5.0, (10.0, 16.0), np.zeros((0, 2)), [], 3.0, 20.0) == 0
    # A star far beyond the annulus adds nothing.
    far = neighbour_contamination(pos, 5.0, (10.0, 16.0), np.array([[120.0, 50.0]]), [1e6],
                                  3.0, 20.0)  # fmt: skip
    assert far[0] == 0


def test_fluxion_run_s_curve_flags_the_lights_where_the_target_passes_the_star():
    """The chain's curve (``fluxion run``) is read from each light's photometry, whose sky
    leaves the neighbours' wings out: the star's light in the aperture alone is judged,
    against the truth of the star's rendered light in the aperture."""
    from astropy.table import Table

    from fluxion.core.chain.lightcurve import _flag_passing_stars
    from fluxion.core.photometry.sums import circle_sums

    radius, n = 5.0, len(TRACK)
    star = np.zeros(SHAPE)
    add_sources(star, STAR[:1], STAR[1:], np.array([STAR_FLUX]), FWHM)
    truth = circle_sums(star, TRACK, radius)  # the star's light in each aperture
    star_ap = float(circle_sums(star, STAR[None, :], radius)[0])
    err = np.full(n, np.sqrt(TARGET_FLUX + np.pi * radius**2 * (SKY + READ_NOISE**2)))
    tables = []
    for x, y in TRACK:
        t = Table({"x": [x, STAR[0]], "y": [y, STAR[1]], "flux": [TARGET_FLUX, star_ap]})
        t.meta.update(aperture_radius=radius, fwhm=FWHM, pixel_scale=1.2)
        tables.append(t)
    store = type("Store", (), {"read_table": lambda self, step, path: tables[int(path)]})()
    lights = [type("Light", (), {"path": str(k)})() for k in range(n)]
    ra, dec = 310 + TRACK[:, 0] * 1.2 / 3600, 40 + TRACK[:, 1] * 1.2 / 3600  # 1.2"/px
    out = Table({"x": TRACK[:, 0], "y": TRACK[:, 1], "ra": ra, "dec": dec, "flux_err": err,
                 "flags": np.zeros(n, np.int64)})  # fmt: skip
    _flag_passing_stars(store, lights, out)
    flagged = (np.asarray(out["flags"]) & PhotometryFlag.CONTAMINATED) != 0
    bias = truth / err
    assert bias.max() > 10
    assert flagged[bias > 0.7].all() and not flagged[bias < 0.35].any(), np.round(bias, 2)
    # A target that does not move is never flagged: its neighbour is in every light.
    out["flags"] = 0
    out["ra"], out["dec"] = 310.0, 40.0
    _flag_passing_stars(store, lights, out)
    assert not np.any(out["flags"])
