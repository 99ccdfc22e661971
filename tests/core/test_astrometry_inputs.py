"""Messy frames: cosmic rays, hot pixels, bleeding stars and vignetting kept out of the solve."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from scipy.spatial import cKDTree

from fluxion.core.astrometry import PlateSolver, ScaleGuess, SolveHint, SolveParams
from fluxion.core.astrometry.centroids import centroids_for_solving, sources_fwhm
from fluxion.core.astrometry.inputs import star_like
from fluxion.core.detection.extract import Detection
from fluxion.core.simulation.camera import bleed_columns
from fluxion.core.simulation.simulate import NightConfig, make_night

SCALE = 1.1


def test_bleeding_conserves_charge_along_the_column():
    e = np.zeros((40, 5))
    e[20, 2] = 10_000.0
    e[21, 2] = 3_000.0
    out = bleed_columns(e, 1_000.0)
    assert out.max() <= 1_000.0 + 1e-9
    assert out.sum() == pytest.approx(e.sum())
    assert np.count_nonzero(out[:, 2]) == 14 and np.count_nonzero(out[:, [0, 1, 3, 4]]) == 0
    # Off the frame's edge the charge is lost, never more than there was.
    e[1, 0] = 5_000.0
    assert bleed_columns(e, 1_000.0).sum() < e.sum()


@pytest.fixture(scope="module")
def messy():
    """A long exposure of the kind that fooled the FWHM: 1.1 arcsec/px, FWHM 2 px.

    Cosmic rays at 500 per Mpx and minute, 0.2 % hot pixels, 60 % of the
    light lost in the corners, stars from V = 7.5 whose charge bleeds at a
    full well below the ADC's saturation, so nothing flags them.
    """
    config = NightConfig(
        shape=(520, 520), n_frames=1, pixel_scale=SCALE, fwhm=2.0, exptime=300.0,
        interval=300.0, star_density=3.0, mag_bright=7.5, vignetting=0.6,
        cosmic_ray_rate=500.0, hot_pixel_fraction=2e-3, full_well=70_000.0, rotation=30.0,
        pointing_error=60.0, asteroid=False, seed=1,
    )  # fmt: skip
    night = make_night(config)
    data, _, truth = night.light(0)
    image = data.astype(np.float32) - np.float32(config.bias_level)
    sources = Detection()(image).sources
    d, _ = cKDTree(np.column_stack([truth["x"], truth["y"]])).query(
        np.column_stack([sources["x"], sources["y"]])
    )
    return night, image, sources, d < 1.5


def test_impostors_do_not_set_the_fwhm_or_the_brightest_list(messy):
    night, image, sources, real = messy
    flags = np.asarray(sources["flags"])
    clean = (flags == 0) & (np.asarray(sources["snr"]) >= 20)
    width = np.asarray(sources["fwhm"])
    stars = float(np.median(width[clean & real]))
    # Half the clean bright sources are cosmic rays or hot pixels; stacked with
    # the stars they made the frame's FWHM 1.27 px for stars of 1.99 px.
    assert (clean & ~real).sum() > 0.3 * clean.sum()
    assert sources.meta["fwhm"] == pytest.approx(stars, rel=0.03)
    assert stars > 1.8  # the simulator's 2.0 px, not the impostors' 0.5
    assert sources_fwhm(sources) == pytest.approx(stars, rel=0.03)
    keep = star_like(sources)
    # Faint stars' widths scatter: 219 of 236 kept (measured), every bright one.
    assert (keep & real).sum() >= 0.9 * real.sum()
    bright = np.argsort(-np.asarray(sources["flux"]))[:60]
    assert (~keep[bright] & real[bright]).sum() <= 4  # bleeding stars (3 measured)
    # The brightest 60: the impostors (pieces of bleed columns, tracks) out, stars in.
    assert (keep[bright] & ~real[bright]).sum() <= 2
    assert (~keep[bright]).sum() >= 5


def test_messy_frame_solves_to_the_truth(messy):
    night, image, sources, _ = messy
    table = centroids_for_solving(image, sources, "auto", max_sources=200)
    assert table.meta["centroids"] == "detected"  # the stars are 1.7 px: not undersampled
    c = night.pointing(0)
    solver = PlateSolver(SolveParams(mag_limit=20.0, sip_order=3), catalog=night.catalog)
    result = solver(
        table, image.shape, SolveHint(c.ra.deg, c.dec.deg, ScaleGuess(SCALE, 0.05, "user"))
    )
    assert result.solved, result.reason
    ny, nx = image.shape
    gx, gy = (
        g.ravel() for g in np.meshgrid(np.linspace(0, nx - 1, 20), np.linspace(0, ny - 1, 20))
    )
    a = SkyCoord(*night.wcs(0).all_pix2world(gx, gy, 0), unit="deg")
    b = SkyCoord(*result.wcs.all_pix2world(gx, gy, 0), unit="deg")
    assert np.sqrt(np.mean(a.separation(b).arcsec ** 2)) / SCALE < 0.05
