"""Edge bands the mesh background cannot follow: no row of detections along them.

The band is built into a simulated frame as the asteroid night's STL-1001E
shows it (tests/real/test_real_edge_band.py): the outermost row and column get
11 % less light, the next lines a response rising to +1.3 % at the edge, in
proportion to the sky; one column at the far side is an overscan (the bias
level, no noise).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from fluxion.core.detection.edges import level_edges
from fluxion.core.detection.extract import Detection, measure_background
from fluxion.core.photometry.synthetic import star_field

SHAPE = (320, 320)
SKY = 4000.0  # e-, gain 1: a pixel's noise is about 63
BAND = 10  # px from each edge counted as the band


def response(n: int) -> np.ndarray:
    """Relative response of the lines from one edge inwards (the real night's shape)."""
    k = np.arange(n, dtype=float)
    r = 1.0 + 0.013 * np.exp(-(k - 1.0) / 5.0)
    r[k > 20] = 1.0
    r[0] = 0.89
    return r


def banded(image: np.ndarray, overscan: bool = True) -> np.ndarray:
    """``image`` seen through an edge response on all four sides (sky-proportional)."""
    ny, nx = image.shape
    rows = response(ny) * response(ny)[::-1]
    cols = response(nx) * response(nx)[::-1]
    out = image * rows[:, None] * cols[None, :]
    if overscan:
        out[:, -1] = 1000.0  # the bias level: no light, no noise
    return out.astype(np.float32)


@pytest.fixture(scope="module")
def field():
    return star_field(SHAPE, 60, sky=SKY, read_noise=8.0, flux_range=(3e3, 1e5), seed=7)


def near_edge(x, y, width: int = BAND) -> np.ndarray:
    x, y = np.asarray(x, float), np.asarray(y, float)
    ny, nx = SHAPE
    return (x < width) | (y < width) | (x > nx - 1 - width) | (y > ny - 1 - width)


def spurious(sources, truth, radius: float = 2.0) -> np.ndarray:
    """Detections with no true star within ``radius``."""
    tree = cKDTree(np.column_stack([truth["x"], truth["y"]]))
    dist, _ = tree.query(np.column_stack([sources["x"], sources["y"]]))
    return dist > radius


def found(sources, truth, radius: float = 1.5) -> np.ndarray:
    tree = cKDTree(np.column_stack([sources["x"], sources["y"]]))
    dist, _ = tree.query(np.column_stack([truth["x"], truth["y"]]))
    return dist < radius


def test_no_detections_along_an_edge_band_and_its_stars_still_found(field):
    clean = Detection()(field.image, gain=1.0)
    band = Detection()(banded(field.image), gain=1.0)
    s, t = band.sources, field.truth
    # Nothing but true stars near the edges (the clean frame has none either;
    # unlevelled, the overscan's step makes a negative source in a corner).
    assert not np.any(spurious(s, t) & near_edge(s["x"], s["y"]))
    # The true stars in the band (away from the overscan column) are found as
    # on the clean frame.
    inside = near_edge(t["x"], t["y"]) & (np.asarray(t["x"]) < SHAPE[1] - 4)
    assert inside.sum() >= 5
    assert found(s, t)[inside].sum() >= found(clean.sources, t)[inside].sum() - 1
    # Nothing on the overscan column; the reason is in the table.
    assert not np.any(np.asarray(s["x"]) > SHAPE[1] - 2)
    text = s.meta["edge_bands"]
    assert "right 1 columns masked (no sky" in text
    assert "top" in text and "bottom" in text and "levelled" in text


def test_a_frame_without_a_band_is_left_as_it_is(field):
    data = field.image.astype(np.float32) - np.float32(np.median(field.image))
    before = data.copy()
    bad = np.zeros(data.shape, bool)
    bands = level_edges(data, bad, float(np.sqrt(SKY + 64.0)), 32)
    assert not bands.any
    assert bands.describe() == ""
    np.testing.assert_array_equal(data, before)
    assert not bad.any()


def test_the_band_is_measured_as_built(field):
    image = banded(field.image, overscan=False)
    # As detection sees it: minus the mesh background (the stars' wings are in it).
    data = image - measure_background(image).back
    bad = np.zeros(data.shape, bool)
    noise = float(np.sqrt(SKY + 64.0))
    bands = level_edges(data, bad, noise, 32)
    # Lines offset by more than five times a line median's error are levelled:
    # at least the outer two (-11 %, +1.3 %), never beyond where the built
    # offset falls below five times the pixel noise's share of the error
    # (faint stars' wings and the mesh's misfit widen it further).
    truth = SKY * (response(32) - 1.0)
    reach = np.flatnonzero(np.abs(truth) > 5 * 1.2533 * noise / np.sqrt(SHAPE[0]))[-1] + 1
    for side in ("bottom", "top", "left", "right"):
        width = bands.levelled[side]
        assert 2 <= width <= reach, (side, width, reach)
        got = np.asarray(bands.offsets[side])
        # Each levelled line within its median's error (plus the crossing
        # line's share of the perpendicular band and the mesh's misfit).
        done = got != 0.0
        np.testing.assert_allclose(got[done], truth[:width][done], atol=25.0)
    assert not bad.any()
