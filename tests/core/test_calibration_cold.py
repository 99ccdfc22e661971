"""Cold pixels of a master flat: the dead pixels found, vignetting and dust not, the same bits
as interpolating the whole local flat."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from fluxion.core.calibration import cold as cold_module
from fluxion.core.calibration.cold import cold_pixels
from fluxion.core.calibration.masks import MaskBits, bad_pixels_from_masters


def _whole(flat: np.ndarray, cold_flat: float) -> np.ndarray:
    """The definition: the coarse median interpolated to every pixel, then compared."""
    coarse = ndimage.median_filter(flat[::8, ::8], size=5, mode="nearest")
    local = ndimage.zoom(coarse, 8, order=1, mode="nearest", grid_mode=True)
    local = local[: flat.shape[0], : flat.shape[1]]
    with np.errstate(invalid="ignore"):
        return ~(flat > cold_flat * local)


def _flat(rng: np.random.Generator, ny: int, nx: int) -> np.ndarray:
    """Vignetting (0.6 in the corners), a dust donut, 1 % pixel response scatter."""
    y, x = np.mgrid[0:ny, 0:nx]
    r2 = ((x - nx / 2) ** 2 + (y - ny / 2) ** 2) / ((nx / 2) ** 2 + (ny / 2) ** 2)
    flat = 1.0 - 0.4 * r2
    d = np.hypot(x - 0.3 * nx, y - 0.6 * ny)
    flat *= 1.0 - 0.3 * np.exp(-0.5 * ((d - 12) / 4) ** 2)  # a 30 % deep dust donut
    flat *= rng.normal(1.0, 0.01, (ny, nx))
    return (flat / flat.mean()).astype(np.float32)


def test_dead_pixels_are_found_and_vignetting_and_dust_are_not() -> None:
    rng = np.random.default_rng(21)
    flat = _flat(rng, 1000, 1200)
    dead = rng.choice(flat.size, 150, replace=False)
    flat.ravel()[dead] *= rng.uniform(0.05, 0.4, dead.size).astype(np.float32)
    found = cold_pixels(flat, 0.5)
    truth = np.zeros(flat.shape, bool)
    truth.ravel()[dead] = True
    assert found[truth].all()  # every pixel below 40 % of its neighbours
    assert not found[~truth].any()  # the 40 % vignetting and the 30 % donut are not cold
    mask = bad_pixels_from_masters(None, flat, cold_flat=0.5)
    assert np.array_equal(mask == MaskBits.COLD, truth)


@pytest.mark.parametrize("seed", range(12))
def test_the_tiles_give_the_whole_interpolation_s_bits(seed: int, monkeypatch) -> None:
    rng = np.random.default_rng(seed)
    ny, nx = (int(v) for v in rng.integers(70, 420, 2))  # rarely a multiple of 8
    flat = _flat(rng, ny, nx)
    if seed % 3 == 1:
        flat = flat.astype(np.float64)
    n = int(rng.integers(1, 30))
    where = rng.choice(flat.size, n, replace=False)
    # Dead pixels, and pixels just around the threshold (the comparison's last bits).
    flat.ravel()[where[: n // 2]] *= 0.2
    flat.ravel()[where[n // 2 :]] *= rng.uniform(0.45, 0.55, n - n // 2)
    if seed % 4 == 2:
        flat[: int(rng.integers(1, 4)), :] = -0.5  # a dead first row or three
    if seed % 4 == 3:
        flat.ravel()[rng.choice(flat.size, 3, replace=False)] = np.nan
    cold_flat = float(rng.choice([0.3, 0.5, 0.8]))

    def whole_frame(*args):
        raise AssertionError("the whole frame was interpolated")

    monkeypatch.setattr(cold_module, "_MOST_TILES", 1.0)
    monkeypatch.setattr(cold_module, "_local_flat", whole_frame)
    assert np.array_equal(cold_pixels(flat, cold_flat), _whole(flat, cold_flat))


def test_many_candidate_tiles_interpolate_the_whole_frame_with_the_same_result() -> None:
    rng = np.random.default_rng(3)
    flat = _flat(rng, 256, 320)
    flat[100:, :] = np.nan  # a NaN half: every tile near it is looked at
    flat.ravel()[rng.choice(flat.size, 2000, replace=False)] *= 0.2
    assert np.array_equal(cold_pixels(flat, 0.5), _whole(flat, 0.5))
    assert cold_pixels(flat, 0.5)[150:, :].all()  # NaN is cold, as before
    assert not cold_pixels(np.ones((64, 64), np.float32), 0.5).any()
