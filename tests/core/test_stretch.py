"""Display limits and stretches against analytic truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from fluxion.core.display.stretch import (
    Limits,
    apply_stretch,
    block_preview,
    compute_limits,
    display_histogram,
    percentile_limits,
    stretch_curve,
    subsample,
    zscale_limits,
)

SKY, SIGMA = 1000.0, 10.0


@pytest.fixture(scope="module")
def sky() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.normal(SKY, SIGMA, (512, 512)).astype(np.float32)


def test_subsample_is_bounded_and_drops_nan(sky: np.ndarray) -> None:
    data = sky.copy()
    data[::2, :] = np.nan
    s = subsample(data, max_pixels=10_000)
    assert s.size <= 10_000
    assert np.isfinite(s).all()
    assert s.size > 1_000


def test_percentile_limits_match_the_normal_quantiles(sky: np.ndarray) -> None:
    lim = percentile_limits(sky, 0.25, 99.75)
    z = norm.ppf(0.9975)
    # Quantiles of 65k pixels are good to a few percent of sigma.
    assert abs(lim.vmin - (SKY - z * SIGMA)) < 0.2 * SIGMA
    assert abs(lim.vmax - (SKY + z * SIGMA)) < 0.2 * SIGMA
    central = compute_limits(sky, "95%")
    assert abs(central.vmax - (SKY + norm.ppf(0.975) * SIGMA)) < 0.1 * SIGMA
    mm = compute_limits(sky, "minmax", max_pixels=sky.size)
    assert mm.vmin == pytest.approx(float(sky.min()))
    assert mm.vmax == pytest.approx(float(sky.max()))


def test_zscale_brackets_the_sky_and_ignores_stars(sky: np.ndarray) -> None:
    data = sky.copy()
    data[100:110, 100:110] = 60_000.0  # a saturated star must not stretch the display
    lim = zscale_limits(data)
    assert lim.vmin < SKY < lim.vmax
    # zscale on pure noise spans a few sigma each side of the sky.
    assert 1.0 * SIGMA < SKY - lim.vmin < 6 * SIGMA
    assert 1.0 * SIGMA < lim.vmax - SKY < 6 * SIGMA


def test_flat_frame_and_bad_input() -> None:
    lim = compute_limits(np.full((64, 64), 5.0), "zscale")
    assert lim.vmin < 5.0 < lim.vmax
    with pytest.raises(ValueError, match="no finite pixels"):
        zscale_limits(np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="unknown limits method"):
        compute_limits(np.zeros((8, 8)), "median")
    with pytest.raises(ValueError, match="2-d"):
        subsample(np.zeros(10))
    with pytest.raises(ValueError, match="finite"):
        Limits(0.0, float("inf"))


def test_stretch_curves_at_known_points() -> None:
    n = 5  # t = 0, .25, .5, .75, 1
    t = np.linspace(0, 1, n)
    np.testing.assert_allclose(stretch_curve("linear", n), t)
    np.testing.assert_allclose(stretch_curve("sqrt", n), np.sqrt(t))
    np.testing.assert_allclose(stretch_curve("log", n), np.log10(1000 * t + 1) / np.log10(1001))
    np.testing.assert_allclose(stretch_curve("asinh", n), np.arcsinh(t / 0.1) / np.arcsinh(10))
    # DS9 contrast 2 about bias 0.5: a quarter of the range is black, three quarters white.
    np.testing.assert_allclose(stretch_curve("linear", n, contrast=2.0), [0, 0, 0.5, 1, 1])
    # Bias 0.25 brightens: the value at t=0.25 is shown as mid-grey.
    assert stretch_curve("linear", n, bias=0.25)[1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown stretch"):
        stretch_curve("gamma")


def test_apply_stretch_agrees_with_the_curve(sky: np.ndarray) -> None:
    lim = Limits(980.0, 1020.0)
    out = apply_stretch(sky, lim, "sqrt")
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    i, j = 10, 20
    t = np.clip((sky[i, j] - 980.0) / 40.0, 0, 1)
    assert out[i, j] == pytest.approx(np.sqrt(t), abs=1e-5)


def test_histogram_counts_the_sample(sky: np.ndarray) -> None:
    lim = Limits(SKY - 3 * SIGMA, SKY + 3 * SIGMA)
    edges, counts = display_histogram(sky, lim, bins=60)
    assert edges[0] == pytest.approx(SKY - 6 * SIGMA)
    centre = counts[np.argmax(counts)]
    peak = 0.5 * (edges[np.argmax(counts)] + edges[np.argmax(counts) + 1])
    assert abs(peak - SKY) < SIGMA
    assert centre > 0


def test_block_preview_averages_blocks() -> None:
    data = np.arange(40 * 30, dtype=np.float32).reshape(30, 40)
    preview, factor = block_preview(data, max_side=16)
    assert factor == 3
    assert preview.shape == (10, 13)  # the partial last column block is dropped
    assert preview[1, 2] == pytest.approx(data[3:6, 6:9].mean())
    assert block_preview(data, max_side=64) == (None, 1)
