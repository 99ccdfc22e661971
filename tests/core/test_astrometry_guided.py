"""The match guided by a nearby frame's solution, against the triangle search and the truth."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS

from fluxion.core.astrometry import PlateSolver, ScaleGuess, SolveHint, SolveParams
from fluxion.core.astrometry import solve as solve_module
from fluxion.core.astrometry.guided import match_through
from fluxion.core.astrometry.matching import match_sources
from fluxion.core.astrometry.wcsfit import gnomonic
from fluxion.core.detection.extract import Detection
from fluxion.core.simulation.simulate import NightConfig, make_night

SCALE = 1.2
SHAPE = (384, 384)
PARAMS = SolveParams(mag_limit=20.0, search_radius=15.0, sip_order=3)


@pytest.fixture(scope="module")
def night():
    # A drifting mount (6 px a frame) and a field turning by 1 degree over the night.
    return make_night(
        NightConfig(
            shape=SHAPE,
            n_frames=3,
            star_density=3.0,
            pointing_error=300.0,
            seed=11,
            drift=6.0,
            field_rotation=1.0,
        )  # fmt: skip
    )


def _sources(data: np.ndarray):
    return Detection()(data.astype(np.float32)).sources


def _hint(night, i: int) -> SolveHint:
    c = night.pointing(i)
    return SolveHint(c.ra.deg, c.dec.deg, ScaleGuess(SCALE, 0.05, "user"))


def _field_error_px(fitted: WCS, truth: WCS, to_drawn=lambda x, y: (x, y)) -> float:
    gx, gy = np.meshgrid(np.linspace(0, SHAPE[1] - 1, 15), np.linspace(0, SHAPE[0] - 1, 15))
    a = truth.pixel_to_world(*to_drawn(gx.ravel(), gy.ravel()))
    b = fitted.pixel_to_world(gx.ravel(), gy.ravel())
    return float(np.sqrt(np.mean(a.separation(b).arcsec ** 2)) / SCALE)


def _plane(night, i: int):
    """The catalog on frame i's hinted tangent plane, as the solver gives it to the matcher."""
    cat = night.catalog
    hint = _hint(night, i)
    xi, eta = gnomonic(cat["ra"], cat["dec"], hint.ra, hint.dec)
    return cat, np.column_stack([-xi, eta]) * 3600.0 / SCALE


def test_guided_solution_is_the_triangle_search_solution(night, monkeypatch):
    """Through frame 0's true WCS, frame 2 (12 px and 1 degree away) solves as the search does."""
    sources = _sources(night.light(2)[0])
    searched = PlateSolver(PARAMS, catalog=night.catalog).solve_hinted(
        sources, SHAPE, _hint(night, 2)
    )

    def no_search(*args, **kwargs):
        raise AssertionError("the triangles were searched")

    monkeypatch.setattr(solve_module, "match_sources", no_search)
    solver = PlateSolver(PARAMS, catalog=night.catalog)
    solver._guide = night.wcs(0)
    guided = solver.solve_hinted(sources, SHAPE, _hint(night, 2))
    assert guided.solved and searched.solved
    assert guided.n_matched >= 40 and guided.log10_false_alarm < -20
    assert guided.flipped == searched.flipped is False
    # The same pairs, so the same fit to the last bit.
    for name in searched.matches.colnames:
        np.testing.assert_array_equal(guided.matches[name], searched.matches[name])
    assert repr(guided.wcs.to_header(relax=True)) == repr(searched.wcs.to_header(relax=True))
    assert _field_error_px(guided.wcs, night.wcs(2)) < 0.1


def test_guided_match_reports_the_turn_and_parity(night):
    sources = PlateSolver(PARAMS, catalog=night.catalog).prepare(_sources(night.light(2)[0]))
    cat, plane = _plane(night, 2)
    order = np.argsort(np.asarray(cat["V"], float), kind="stable")
    cat, plane = cat[order], plane[order]
    guided = match_through(night.wcs(0), sources.xy, cat["ra"], cat["dec"], plane, image_size=SHAPE)
    assert guided is not None and not guided.flipped
    # The simulated camera's position angle at frame 2, as the triangles find it.
    searched = match_sources(sources.xy, plane, image_size=SHAPE)
    assert guided.rotation == pytest.approx(searched.rotation, abs=0.2)


def test_a_night_solved_through_its_last_frame_matches_the_truth(night, monkeypatch):
    searches: list[int] = []

    def counted(*args, **kwargs):
        searches.append(1)
        return match_sources(*args, **kwargs)

    monkeypatch.setattr(solve_module, "match_sources", counted)
    solver = PlateSolver(PARAMS, catalog=night.catalog)
    for i in range(3):
        result = solver.solve_hinted(_sources(night.light(i)[0]), SHAPE, _hint(night, i))
        assert result.solved, result.reason
        assert _field_error_px(result.wcs, night.wcs(i)) < 0.1
        # The next frame is matched through this one's solution.
        assert solver._guide is result.wcs
    assert len(searches) == 1  # the first frame's triangles only


def test_a_guide_that_does_not_fit_is_not_used(night):
    """A mirrored camera, or another field, is searched by triangles as before."""
    drawn = night.light(1)[0]
    n = SHAPE[1]
    mirrored = _sources(drawn[:, ::-1])
    xy = np.column_stack([mirrored["x"], mirrored["y"]])
    cat, plane = _plane(night, 1)
    assert match_through(night.wcs(0), xy, cat["ra"], cat["dec"], plane, image_size=SHAPE) is None
    far = night.wcs(0).deepcopy()
    far.wcs.crval = far.wcs.crval + np.array([0.0, 0.3])
    normal = _sources(drawn)
    xy = np.column_stack([normal["x"], normal["y"]])
    assert match_through(far, xy, cat["ra"], cat["dec"], plane, image_size=SHAPE) is None
    # The solver with the unmirrored guide still solves the mirrored frame, by triangles.
    solver = PlateSolver(PARAMS, catalog=night.catalog)
    solver._guide = night.wcs(0)
    result = solver.solve_hinted(mirrored, SHAPE, _hint(night, 1))
    assert result.solved and result.flipped
    assert _field_error_px(result.wcs, night.wcs(1), lambda x, y: (n - 1 - x, y)) < 0.1
