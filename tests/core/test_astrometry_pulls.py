"""Honest position errors for plate solving, and no single bad star bending the fit.

Pulls (measured minus true position over the reported error) of detected
stars on simulated frames must have widths 0.8-1.2: round and elongated,
jittered stars, with the blends the catalog predicts (:func:`blend_shift_px`).
A heavily weighted star moved by a blend must not bend a cubic distortion
fit onto itself in a sparse corner (:func:`fit_wcs` judges stars by their
residual from the fit without them).
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from scipy.spatial import cKDTree

from fluxion.core.astrometry.sources import blend_shift_px, prepare_sources
from fluxion.core.astrometry.wcsfit import fit_wcs
from fluxion.core.detection.extract import Detection
from fluxion.core.simulation.field import tan_wcs
from fluxion.core.simulation.simulate import NightConfig, make_night


def _pulls(config: NightConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis pulls of the detected stars against the truth, and their SNRs."""
    night = make_night(config)
    data, _, _ = night.light(0)
    prepared = prepare_sources(Detection()(data.astype(np.float32)).sources, 1000, 8)
    cat = night.catalog
    tx, ty = night.wcs(0).world_to_pixel(SkyCoord(cat["ra"], cat["dec"], unit="deg"))
    truth = np.column_stack([tx, ty])
    blend = blend_shift_px(truth, np.asarray(cat["V"], float), prepared.fwhm)
    d, k = cKDTree(truth).query(prepared.xy)
    hit = d < 1.5
    sigma = np.hypot(prepared.sigma[hit], blend[k[hit]])
    pulls = (prepared.xy[hit] - truth[k[hit]]) / sigma[:, None]
    return pulls, np.asarray(prepared.table["snr"], float)[hit]


@pytest.mark.parametrize(
    "extra",
    [
        {},
        # Elongated stars (ellipticity up to 0.3 across the field) and a wider
        # pointing jitter.
        {"field_varying_psf": True, "jitter": 1.0, "fwhm": 3.5},
    ],
    ids=["round", "elongated"],
)
def test_centroid_errors_are_honest(extra):
    pulls, snr = [], []
    for seed, rotation in ((1016, 82.0), (1003, 200.0), (1011, 310.0)):
        config = NightConfig(
            shape=(448, 448), n_frames=1, star_density=3.0, asteroid=False, seed=seed,
            rotation=rotation, **extra,
        )  # fmt: skip
        p, s = _pulls(config)
        pulls.append(p)
        snr.append(s)
    pulls, snr = np.vstack(pulls), np.concatenate(snr)
    assert len(pulls) > 400
    for axis in (0, 1):
        p = pulls[:, axis]
        # Robust width (cosmic rays hit a few stars), and the spread of the
        # rest; the brighter stars (SNR > 20) on their own, where the errors
        # are the floor and the blends.
        assert 0.8 <= 1.4826 * np.median(np.abs(p)) <= 1.2
        assert 0.8 <= np.std(p[np.abs(p) < 5]) <= 1.2
        assert np.mean(np.abs(p) > 5) < 0.02
        bright = p[snr > 20]
        assert len(bright) > 60
        assert 0.8 <= np.std(bright[np.abs(bright) < 5]) <= 1.2


def test_blend_shift_is_the_flux_weighted_pull():
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [50.0, 50.0]])
    mag = np.array([14.0, 14.0 + 2.5 * np.log10(2.0), 12.0])  # the second: half the flux
    shift = blend_shift_px(xy, mag, 3.0)
    fade = np.exp(-1.0 / (2 * 3.0**2))
    assert shift[0] == pytest.approx(1.0 / 3.0 * fade)
    assert shift[1] == pytest.approx(2.0 / 3.0 * fade)
    assert shift[2] == 0.0
    # Unknown FWHM or magnitudes: nothing said.
    assert not blend_shift_px(xy, mag, float("nan")).any()
    assert blend_shift_px(xy, np.array([14.0, np.nan, 12.0]), 3.0)[0] == 0.0


def test_a_heavy_bad_star_does_not_bend_a_cubic_fit():
    rng = np.random.default_rng(3)
    shape = (448, 448)
    truth = tan_wcs(shape, SkyCoord(310.0, 40.0, unit="deg"), 1.2, 30.0)
    # A crowded frame but for a sparse corner of ten stars.
    xy = rng.uniform(0, 447, (400, 2))
    corner = (xy[:, 0] > 320) & (xy[:, 1] < 128)
    xy = np.vstack([xy[~corner], rng.uniform([320, 0], [447, 128], (10, 2))])
    sigma = np.full(len(xy), 0.1)
    ra, dec = truth.all_pix2world(xy[:, 0], xy[:, 1], 0)
    measured = xy + rng.normal(0.0, 0.1, xy.shape)
    # The corner's brightest star, moved 0.37 px by a blend it cannot see.
    bad = len(xy) - 1
    measured[bad] += [0.19, -0.32]
    sigma[bad] = 0.005
    fit = fit_wcs(measured, ra, dec, image_shape=shape, sip_order=3, sigma=sigma)
    assert not fit.used[bad]
    assert fit.used[:-1].mean() > 0.97
    gx, gy = np.meshgrid(np.linspace(320, 447, 8), np.linspace(0, 128, 8))
    r_fit, d_fit = fit.wcs.all_pix2world(gx.ravel(), gy.ravel(), 0)
    px, py = truth.all_world2pix(r_fit, d_fit, 0)
    corner_error = np.hypot(px - gx.ravel(), py - gy.ravel())
    assert np.sqrt(np.mean(corner_error**2)) < 0.1
