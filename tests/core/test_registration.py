"""Frame-to-frame registration against the simulator's truth: drift, rotation, lost frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fluxion.core.registration import (
    FrameTransform,
    RegistrationParams,
    RegistrationSources,
    fit_affine,
    register_frames,
    register_sources,
)
from fluxion.core.simulation.simulate import NightConfig, make_night

N = 16
# A night whose field runs ~375 px across a 512 px frame (the last frames do
# not overlap the first at all) while turning by 4 degrees.
DRIFTING = NightConfig(
    seed=3, n_frames=N, shape=(512, 512), drift=25.0, field_rotation=4.0, sip=False,
    n_bias=0, n_dark=0, n_flat=0, star_density=2.0, asteroid=False,
)  # fmt: skip


def test_transform_algebra():
    t = FrameTransform(np.array([[0.99, -0.05], [0.05, 0.99]]), np.array([12.0, -7.0]))
    xy = np.array([[10.0, 20.0], [300.0, -40.0]])
    assert np.allclose(t.inverse().apply(t.apply(xy)), xy)
    u = FrameTransform.shift(3.0, 4.0)
    assert np.allclose(t.then(u).apply(xy), u.apply(t.apply(xy)))
    assert t.rotation == pytest.approx(math.degrees(math.atan2(0.05, 0.99)))
    assert t.scale == pytest.approx(math.hypot(0.99, 0.05))
    assert not t.flipped
    mirror = FrameTransform(np.diag([1.0, -1.0]) @ t.matrix, t.offset)
    assert mirror.flipped and mirror.scale == pytest.approx(t.scale)
    with pytest.raises(ValueError, match="invertible"):
        FrameTransform(np.zeros((2, 2)), np.zeros(2))


@pytest.mark.parametrize("similarity", [False, True])
def test_least_squares_recovers_an_exact_transform(similarity):
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 500, (20, 2))
    angle = math.radians(2.5)
    m = 1.001 * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    for flip in (False, True):
        mm = m @ np.diag([1.0, -1.0]) if flip else m
        t = FrameTransform(mm, np.array([-150.0, 220.0]))
        fit = fit_affine(src, t.apply(src), similarity=similarity)
        assert np.allclose(fit.apply(src), t.apply(src), atol=1e-9)
        assert fit.flipped == flip


@pytest.fixture(scope="module")
def drifting():
    night = make_night(DRIFTING)
    images = [night.light(i)[0].astype(float) for i in range(N)]
    return night, images, register_frames(lambda i: images[i], N)


def _truth_errors(night, reg):
    """Per frame: rms error per axis (px) of the transform at the listed stars inside it."""
    ref = night.wcs(0)
    out = []
    for i in range(1, N):
        xy = reg.stars
        true = np.column_stack(night.wcs(i).world_to_pixel(ref.pixel_to_world(*xy.T)))
        inside = np.all((true > 0) & (true < 511), axis=1)
        err = reg.to_frame(i, xy[inside]) - true[inside]
        out.append(float(np.sqrt(np.mean(err**2))))
    return np.array(out)


def test_a_drifting_rotating_night_registers_to_the_truth(drifting):
    night, _, reg = drifting
    assert reg.failed == []
    table = reg.table()
    shift = np.hypot(table["reg_dx"], table["reg_dy"])
    assert np.max(shift) > 350  # the field left the reference frame
    # Rotation as simulated: 4 degrees over the night (plus the meridians'
    # convergence across the 7.5' the pointing moved), scale 1.
    turn = np.asarray(table["reg_rotation"])
    assert abs(np.ptp(turn) - 4.0) < 0.05
    grid = np.stack(np.meshgrid(np.linspace(0, 511, 5), np.linspace(0, 511, 5)), -1)
    grid = grid.reshape(-1, 2)
    ref = night.wcs(0)
    for i in range(1, N):
        true = np.column_stack(night.wcs(i).world_to_pixel(ref.pixel_to_world(*grid.T)))
        # A rotation error moves stars by angle x lever arm (~150 px rms on
        # a 512 px frame): it is bounded by the transform's position error.
        tol = math.degrees(4.0 * table["reg_sigma"][i] / 150.0)
        assert turn[i] == pytest.approx(fit_affine(grid, true).rotation, abs=tol)
    assert np.allclose(table["reg_scale"], 1.0, atol=2e-4)
    assert not np.any(table["reg_flipped"])
    assert np.all(table["reg_n_matched"][1:] >= 30)
    # The residual of the matched stars is their centroid noise (~0.04-0.08 px
    # per star at these S/N), far below the 0.5 px a wrong transform would leave.
    assert np.all(table["reg_rms"][1:] < 0.15)
    err = _truth_errors(night, reg)
    # The transform averages ~60 centroids: its error is a few thousandths of
    # a pixel, and the reported uncertainty says how much (chained frames
    # carry the error of the stars their neighbours added).
    assert np.max(err) < 0.05, err
    sigma = np.asarray(table["reg_sigma"][1:])
    chi2 = float(np.mean((err / sigma) ** 2))
    assert 0.6 < chi2 < 1.6, (chi2, err, sigma)


def test_a_lost_frame_is_named_and_the_chain_goes_round_it(drifting):
    night, images, _ = drifting
    blank = np.full_like(images[0], np.median(images[0]))
    frames = [blank if i == 5 else im for i, im in enumerate(images)]
    reg = register_frames(lambda i: frames[i], N)
    assert reg.failed == [5]
    assert "stars detected" in reg.frames[5].status
    assert np.all(np.isnan(reg.to_frame(5, [[100.0, 100.0]])))
    assert reg.frames[6].via == "neighbour 4"
    assert np.max(_truth_errors(night, reg)[np.arange(1, N) != 5]) < 0.05
    assert "not registered: 5" in reg.summary()
    # Named by their files in a run's notes (indexes meant nothing to a user).
    named = [f"light_{i + 1:04d}.fits" for i in range(N)]
    assert "not registered: light_0006.fits (" in reg.summary(named)


def test_a_mirrored_frame_is_registered_and_says_so():
    rng = np.random.default_rng(4)
    xy = rng.uniform(20, 480, (60, 2))
    flux = rng.uniform(1e3, 1e5, 60)
    order = np.argsort(-flux)
    ref = RegistrationSources(xy[order], flux[order], np.full(60, 0.02))
    mirror = FrameTransform(np.diag([-1.0, 1.0]), np.array([505.0, 3.0]))
    other = RegistrationSources(mirror.apply(ref.xy), ref.flux, ref.sigma)
    reg = register_sources([ref, other], (500, 500), RegistrationParams())
    assert reg.frames[1].ok and reg.frames[1].transform.flipped
    assert np.allclose(reg.frames[1].transform.apply(ref.xy), other.xy, atol=1e-6)
    assert bool(reg.table()["reg_flipped"][1])


def test_unrelated_frames_are_not_registered():
    rng = np.random.default_rng(5)
    ref, other = (
        RegistrationSources(rng.uniform(0, 500, (40, 2)), np.arange(40.0, 0, -1), np.full(40, 0.02))
        for _ in range(2)
    )
    reg = register_sources([ref, other], (500, 500))
    assert reg.failed == [1] and reg.frames[1].status.startswith("no match")
