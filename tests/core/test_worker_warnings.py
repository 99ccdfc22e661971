"""Code that runs on worker threads never swaps the process-wide warning filters itself.

``warnings.catch_warnings`` replaces the filter list for the whole process; two
threads doing it at once restore each other's filters in the wrong order. The
engine goes through :func:`fluxion.core.runtime.quiet.quiet` (one lock) or avoids the
warning altogether; these tests run the per-frame code on threads and check
both that and the numbers.
"""

from __future__ import annotations

import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from astropy.io import fits
from photutils.centroids import centroid_2dg

from fluxion.core.calibration import RawFrame, combine
from fluxion.core.detection.centroid import gaussian_centroid
from fluxion.core.lightcurve.comparison import ComparisonError, choose_comparison_stars
from fluxion.core.targets.tracking import refine_click


@pytest.fixture
def unguarded(monkeypatch) -> list[str]:
    """Modules of the engine that entered catch_warnings outside quiet()."""
    seen: list[str] = []
    original = warnings.catch_warnings

    class Watching(original):
        def __enter__(self):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith("fluxion.") and caller != "fluxion.core.runtime.quiet":
                seen.append(caller)
            return super().__enter__()

    monkeypatch.setattr(warnings, "catch_warnings", Watching)
    return seen


def _readers(stack):
    return [lambda y0, y1, a=a: a[y0:y1].astype(np.float32) for a in stack]


@pytest.mark.parametrize("method", ["median", "sigma-clipped mean"])
def test_pixels_nan_in_every_frame_stay_nan_on_threads(method, unguarded):
    rng = np.random.default_rng(2)
    stack = rng.normal(100, 5, (5, 40, 30)).astype(np.float32)
    stack[:, 7, 9] = np.nan  # dead in every frame
    stack[rng.random(stack.shape) < 0.05] = np.nan
    with ThreadPoolExecutor(2) as pool:
        out = combine(_readers(stack), (40, 30), method=method, memory_bytes=5 * 30 * 12 * 4,
                      executor=pool)  # fmt: skip
    assert np.isnan(out[7, 9]) and np.isfinite(np.delete(out.ravel(), 7 * 30 + 9)).all()
    if method == "median":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmedian(stack, axis=0)
        np.testing.assert_array_equal(out, expected)
    else:
        # Five N(100, 5) values with a few missing: the mean within its noise.
        good = np.isfinite(out)
        assert abs(np.mean(out[good]) - 100) < 0.3 and np.std(out[good]) < 5 / np.sqrt(3)
    assert unguarded == []


def test_raw_rows_read_on_threads_equal_the_whole_frame(tmp_path, unguarded):
    data = (np.arange(64 * 48).reshape(64, 48) * 17 % 60000).astype(np.uint16)
    path = tmp_path / "light.fits"
    fits.PrimaryHDU(data).writeto(path)  # uint16: BZERO 32768
    frame = RawFrame(name="light.fits", path=path, hdu=0, header=fits.getheader(path))
    with ThreadPoolExecutor(2) as pool:
        bands = list(pool.map(lambda y0: frame.read_rows(y0, y0 + 16), range(0, 64, 16)))
    np.testing.assert_array_equal(np.vstack(bands), data.astype(np.float32))
    assert unguarded == []


def _star(x0, y0, flux=1500.0, sigma=1.5, shape=(11, 11), noise=10.0, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.indices(shape)
    g = np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * sigma**2))
    return flux / (2 * np.pi * sigma**2) * g + rng.normal(0, noise, shape)


def test_gaussian_centroid_is_photutils_fit_and_says_when_it_fails(unguarded):
    rng = np.random.default_rng(5)
    for seed in range(10):
        x0, y0 = 5 + rng.uniform(-1, 1), 5 + rng.uniform(-1, 1)
        cut = _star(x0, y0, seed=seed)
        # Both minimise the same chi2 with different optimisers: they must agree far
        # below the centroid's noise (~0.1 px for flux 1500 over noise 10 per pixel),
        # not to the last bits of either optimiser's stopping point.
        np.testing.assert_allclose(gaussian_centroid(cut), centroid_2dg(cut), atol=0.01)
    # A trail: photutils only warns that its fit did not converge; here it is NaN.
    trail = np.zeros((11, 11))
    trail[5, :], trail[4, :] = 500.0, 200.0
    trail += np.random.default_rng(0).normal(0, 1, trail.shape)
    with pytest.warns(Warning, match="may not have converged"):
        centroid_2dg(trail)
    assert np.isnan(gaussian_centroid(trail)).all()
    # Two hot pixels on a zero background: photutils raises, here it is a centroid.
    hot = np.zeros((11, 11))
    hot[5, 5], hot[5, 6] = 1000.0, 900.0
    with pytest.raises(ValueError, match="outside of provided bounds"):
        centroid_2dg(hot)
    x, y = gaussian_centroid(hot)
    # The fit is degenerate (two pixels, no background): the science asks only for
    # a centre on their row, between them and nearer the brighter one; how close
    # to y = 5 the optimiser stops depends on the CPU's floating-point path.
    assert abs(y - 5) < 0.05 and 5 < x < 5.5
    assert unguarded == []


def test_click_on_a_trail_falls_back_to_the_first_moment_on_threads(unguarded):
    image = np.random.default_rng(1).normal(500, 10, (64, 64))
    image[30, 10:50] += 400.0  # a satellite trail along y = 30
    image[31, 10:50] += 150.0
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda x: refine_click(image, x, 30.0), (20.0, 30.0, 40.0)))
    for clicked, r in zip((20.0, 30.0, 40.0), results, strict=True):
        assert r.found
        # Across the trail: its flux-weighted row; along it the box centre stays.
        assert abs(r.y - 30.27) < 0.15 and abs(r.x - clicked) < 1.0
    assert unguarded == []


def test_comparison_choice_with_unmeasured_stars_and_odd_input(unguarded):
    rng = np.random.default_rng(0)
    flux = rng.normal(1000, 10, (6, 8))
    err = np.full_like(flux, 10.0)
    xy = rng.uniform(0, 500, (8, 2))
    flux[:, 2] = np.nan  # never measured
    choice = choose_comparison_stars(flux, err, xy)
    assert 2 not in choice.comparison and choice.rejected[2] == "not measured in every frame"
    assert len(choice.comparison) == 5
    with pytest.raises(ValueError, match=r"excluded star\(s\) \[20\] are not among the 8"):
        choose_comparison_stars(flux, err, xy, exclude=[20])
    # A negative index counts from the end, and the reason names the star.
    assert choose_comparison_stars(flux, err, xy, exclude=[-1]).rejected[7] == "excluded"
    with pytest.raises(ComparisonError, match="no candidate"):
        choose_comparison_stars(np.zeros((6, 0)), np.zeros((6, 0)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="n_comparison"):
        choose_comparison_stars(flux, err, xy, n_comparison=0)
    assert unguarded == []


def test_worker_modules_leave_the_warning_filters_to_quiet():
    # The network clients too (their replies are parsed on worker threads).
    import inspect

    from fluxion.core.calibration import combine as combine_module
    from fluxion.core.calibration import raw
    from fluxion.core.detection import centroid as gaussian_centroid
    from fluxion.core.lightcurve import comparison
    from fluxion.core.targets import ephemerides, tracking

    for module in (comparison, ephemerides, gaussian_centroid, tracking, combine_module, raw):
        source = inspect.getsource(module)
        for call in ("catch_warnings(", "simplefilter(", "filterwarnings("):
            assert call not in source, f"{module.__name__} calls warnings.{call}"
