"""Hinted plate solving of simulated and real frames, scored against the truth WCS."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.wcs import WCS

from fluxion.core.astrometry import PlateSolver, ScaleGuess, SolveHint, SolveParams
from fluxion.core.detection.extract import Detection
from fluxion.core.simulation.simulate import NightConfig, make_night

SCALE = 1.2  # arcsec/px of the simulated camera
PARAMS = SolveParams(mag_limit=20.0, search_radius=15.0, sip_order=3)


def _night(**kw):
    config = dict(
        shape=(448, 448),
        n_frames=1,
        star_density=3.0,
        rotation=37.0,
        pointing_error=600.0,  # a 10 arcmin mount error
        asteroid=False,
        seed=7,
    )
    config.update(kw)
    return make_night(NightConfig(**config))


@pytest.fixture(scope="module")
def night():
    return _night()


# How a camera can be mounted: the image as the simulator draws it, turned by a
# quarter, or mirrored. Each maps the new image's pixels back to the drawn ones.
def _identity(data):
    return data, lambda x, y: (x, y)


def _quarter_turn(data):
    n = data.shape[0]
    return np.rot90(data), lambda x, y: (n - 1 - y, x)


def _mirrored(data):
    n = data.shape[1]
    return data[:, ::-1], lambda x, y: (n - 1 - x, y)


def _field_error_px(fitted: WCS, truth: WCS, shape, to_drawn) -> float:
    """RMS sky distance (px) between the solution and the truth over the whole frame."""
    ny, nx = shape
    gx, gy = np.meshgrid(np.linspace(0, nx - 1, 20), np.linspace(0, ny - 1, 20))
    gx, gy = gx.ravel(), gy.ravel()
    r1, d1 = truth.all_pix2world(*to_drawn(gx, gy), 0)
    r2, d2 = fitted.all_pix2world(gx, gy, 0)
    sep = SkyCoord(r1, d1, unit="deg").separation(SkyCoord(r2, d2, unit="deg")).arcsec
    return float(np.sqrt(np.mean(sep**2)) / SCALE)


def _solve(data, night, scale_factor=1.0, params=PARAMS, catalog=None):
    sources = Detection()(data.astype(np.float32)).sources
    hint_centre = night.pointing(0)
    hint = SolveHint(
        hint_centre.ra.deg, hint_centre.dec.deg, ScaleGuess(SCALE * scale_factor, 0.05, "user")
    )
    solver = PlateSolver(params, catalog=catalog if catalog is not None else night.catalog)
    return solver(sources, data.shape, hint)


@pytest.mark.parametrize(
    "mount,scale_factor,flip",
    [(_identity, 1.05, False), (_quarter_turn, 0.95, False), (_mirrored, 1.0, True)],
    ids=["scale+5%", "quarter-turn-scale-5%", "mirrored"],
)
def test_simulated_frames_solve_to_the_truth(night, mount, scale_factor, flip):
    """SIP-distorted frames, hint 10 arcmin off, scale guess 5 % off, any mounting."""
    drawn, _, _ = night.light(0)
    data, to_drawn = mount(drawn)
    result = _solve(data, night, scale_factor)
    assert result.solved, result.reason
    assert result.method == "hinted" and result.verdict == "good"
    assert result.flipped == flip
    assert result.n_matched >= 40
    assert result.pixel_scale == pytest.approx(SCALE, rel=2e-3)
    assert result.rms_arcsec == pytest.approx(result.rms_px * SCALE, rel=0.01)
    # The solution reproduces the true SIP-distorted WCS over the whole field.
    assert _field_error_px(result.wcs, night.wcs(0), data.shape, to_drawn) < 0.05


def test_noise_frame_is_not_solved(night):
    rng = np.random.default_rng(5)
    noise = rng.normal(1000.0, 10.0, (448, 448)).astype(np.float32)
    result = _solve(noise, night)
    assert not result.solved and result.wcs is None
    assert result.verdict == "not solved" and result.reason


def test_three_star_field_is_not_solved(night):
    yy, xx = np.mgrid[0:448, 0:448]
    image = np.random.default_rng(6).normal(1000.0, 10.0, (448, 448))
    for x0, y0 in ((100, 120), (300, 310), (200, 50)):
        image += 5000.0 * np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 1.5**2))
    result = _solve(image.astype(np.float32), night)
    assert not result.solved and result.wcs is None
    assert "only 3 usable sources" in result.reason


def test_wrong_pointing_by_five_degrees_is_refused():
    night = _night(pointing_error=5 * 3600.0)
    data, _, _ = night.light(0)
    # The catalog around the wrong pointing: real-looking stars, just not these.
    centre = night.pointing(0)
    rng = np.random.default_rng(8)
    n = 600
    decoy = Table(
        {
            "ra": centre.ra.deg + rng.uniform(-0.35, 0.35, n) / np.cos(centre.dec.rad),
            "dec": centre.dec.deg + rng.uniform(-0.35, 0.35, n),
            "V": rng.uniform(10, 19.5, n),
        }
    )
    result = _solve(data, night, catalog=decoy)
    assert not result.solved and result.wcs is None
    assert result.reason
    # With the simulator's catalog, which has no star there at all, the reason says so.
    empty = _solve(data, night)
    assert not empty.solved and "only 0 stars in the field" in empty.reason


# The real EY UMa thumbnail is solved in test_astrometry_undersampled.py (through solve_files).
