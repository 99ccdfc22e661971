"""Solving with wrong headers: the scale-free search and the wide pointing search.

A representative subset of the header faults; the many-seed sweep over every
fault, rotation and parity is ``tests/benchmarks/bench_astrometry.py faults``.
"""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table

from fluxion.core.astrometry import (
    FrameToSolve,
    PlateSolver,
    ScaleGuess,
    SolveHint,
    SolveParams,
    solve_sequence,
)
from fluxion.core.astrometry.search import hex_tiles, mag_limit_for_cone, scale_bands
from fluxion.core.detection.extract import Detection
from fluxion.core.simulation.simulate import NightConfig, make_night

SCALE = 1.2
PARAMS = SolveParams(mag_limit=20.0, sip_order=3)


def _night(seed: int, rotation: float, n_frames: int = 1):
    return make_night(
        NightConfig(
            shape=(448, 448),
            n_frames=n_frames,
            star_density=3.0,
            rotation=rotation,
            pointing_error=60.0,
            asteroid=False,
            seed=seed,
        )
    )


def _field_error_px(fitted, truth, shape, mirrored: bool) -> float:
    ny, nx = shape
    gx, gy = np.meshgrid(np.linspace(0, nx - 1, 20), np.linspace(0, ny - 1, 20))
    gx, gy = gx.ravel(), gy.ravel()
    r1, d1 = truth.all_pix2world(nx - 1 - gx if mirrored else gx, gy, 0)
    r2, d2 = fitted.all_pix2world(gx, gy, 0)
    sep = SkyCoord(r1, d1, unit="deg").separation(SkyCoord(r2, d2, unit="deg")).arcsec
    return float(np.sqrt(np.mean(sep**2)) / SCALE)


@pytest.fixture(scope="module")
def frame():
    """A SIP-distorted frame mirrored on the sensor, and the sky 1 degree around it."""
    night = _night(seed=11, rotation=131.0)
    data, _, _ = night.light(0)
    data = data[:, ::-1]
    sources = Detection()(data.astype(np.float32)).sources
    return night, data.shape, sources, night.surrounding_catalog(1.0, seed=11)


@pytest.mark.parametrize(
    "scale,factor",
    [
        (ScaleGuess(SCALE * 0.63, 0.10, "focal length and pixel size"), 1 / 0.63),
        (ScaleGuess(SCALE / 16, 0.02, "header WCS"), 16.0),
        (ScaleGuess(SCALE * 1000, 0.05, "header plate scale"), 1e-3),
        (None, math.nan),
    ],
    ids=["reducer-x0.63", "thumbnail-x1/16", "unit-x1000", "no-optics"],
)
def test_wrong_scale_is_found_and_reported(frame, scale, factor):
    night, shape, sources, sky = frame
    c = night.pointing(0)
    result = PlateSolver(PARAMS, catalog=sky)(sources, shape, SolveHint(c.ra.deg, c.dec.deg, scale))
    assert result.solved, result.reason
    assert result.method == "search" and "scale" in result.search
    assert result.flipped
    assert result.pixel_scale == pytest.approx(SCALE, rel=2e-3)
    # Measured 0.012 px over the field: the search's field solved again at full depth.
    assert _field_error_px(result.wcs, night.wcs(0), shape, mirrored=True) < 0.05
    if scale is None:
        assert math.isnan(result.scale_factor)
        assert any("no hint" in m for m in result.messages)
    else:
        assert result.scale_factor == pytest.approx(factor, rel=5e-3)
        assert any(f"off by a factor {factor:.3g}" in m for m in result.messages)
        assert any(m.startswith("hinted:") for m in result.messages)


def test_pointing_half_a_degree_off_is_found(frame):
    night, shape, sources, sky = frame
    hint_at = night.pointing(0).directional_offset_by(200 * u.deg, 30 * u.arcmin)
    hint = SolveHint(hint_at.ra.deg, hint_at.dec.deg, ScaleGuess(SCALE, 0.1, "header"))
    result = PlateSolver(PARAMS, catalog=sky)(sources, shape, hint)
    assert result.solved, result.reason
    assert result.search == "pointing" and result.scale_factor == pytest.approx(1.0, abs=0.01)
    assert any("arcmin from the pointing hint" in m for m in result.messages)
    assert _field_error_px(result.wcs, night.wcs(0), shape, mirrored=True) < 0.05


def test_wrong_field_and_noise_are_not_solved_with_the_reason(frame):
    night, shape, sources, _ = frame
    c = night.pointing(0)
    rng = np.random.default_rng(3)
    n = 4000
    # Real-looking stars of the right density, but not these: 1.5 deg around the hint.
    decoy = Table(
        {
            "ra": c.ra.deg + rng.uniform(-1.5, 1.5, n) / np.cos(c.dec.rad),
            "dec": c.dec.deg + rng.uniform(-1.5, 1.5, n),
            "V": rng.uniform(9, 17, n),
        }
    )
    params = SolveParams(mag_limit=20.0, sip_order=3, search_radius_max=1.0, time_limit=20.0)
    hint = SolveHint(c.ra.deg, c.dec.deg, ScaleGuess(SCALE / 2, 0.1, "header"))
    result = PlateSolver(params, catalog=decoy)(sources, shape, hint)
    assert not result.solved and result.wcs is None
    assert "search: no verified match at 0.1-30 arcsec/px" in result.reason
    noise = np.random.default_rng(5).normal(1000.0, 10.0, shape).astype(np.float32)
    result = PlateSolver(params, catalog=decoy)(Detection()(noise).sources, shape, hint)
    assert not result.solved and "usable sources" in result.reason


def test_sequence_reuses_the_scale_found_on_its_first_frame():
    night = _night(seed=4, rotation=20.0, n_frames=3)
    hint_scale = ScaleGuess(SCALE / 2, 0.10, "focal length and pixel size")  # binning left out
    frames = []
    for i in range(3):
        data, _, _ = night.light(i)
        c = night.pointing(i)
        frames.append(
            FrameToSolve(
                f"f{i}",
                Detection()(data.astype(np.float32)).sources,
                data.shape,
                SolveHint(c.ra.deg, c.dec.deg, hint_scale),
            )
        )
    results = solve_sequence(frames, PlateSolver(PARAMS, catalog=night.catalog))
    assert [r.solved for r in results] == [True] * 3
    assert results[0].method == "search"
    # The next frames start from the first one's solution: no search again.
    assert [r.method for r in results[1:]] == ["hinted", "hinted"]
    for i, r in enumerate(results):
        assert r.scale_factor == pytest.approx(2.0, rel=5e-3)
        assert _field_error_px(r.wcs, night.wcs(i), r.wcs.pixel_shape[::-1], False) < 0.05


def test_search_geometry():
    bands = scale_bands(0.1, 30.0, 0.2, around=1.2)
    # The bands tile the range without gaps, nearest the hint first.
    assert bands[0].low <= 1.2 <= bands[0].high
    lows = sorted(b.low for b in bands)
    highs = sorted(b.high for b in bands)
    assert lows[0] == pytest.approx(0.1) and highs[-1] == pytest.approx(30.0)
    assert np.allclose(lows[1:], highs[:-1])
    # Discs of radius spacing / sqrt(3) about the grid points cover the whole disc.
    spacing = 0.1
    pts = hex_tiles(1.0, spacing)
    probe = np.random.default_rng(1).uniform(-1, 1, (5000, 2))
    probe = probe[np.hypot(*probe.T) <= 1.0]
    d = np.min(np.hypot(*(probe[:, None, :] - pts[None, :, :]).transpose(2, 0, 1)), axis=1)
    assert d.max() <= spacing / math.sqrt(3) + 1e-9
    assert mag_limit_for_cone(5.0, 18.0, 20000) < mag_limit_for_cone(0.5, 18.0, 20000) <= 18.0
