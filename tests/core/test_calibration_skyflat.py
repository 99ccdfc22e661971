"""Sky flat from light frames: the illumination is recovered under moving stars."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.calibration import CalibrationError, RawFrame, SkyFlatParams, make_sky_flat


def _vignetting(shape: tuple[int, int]) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r2 = ((xx - 140.0) ** 2 + (yy - 120.0) ** 2) / 256.0**2
    v = 1.0 - 0.15 * r2
    return v / v.mean()


def _lights(n: int, shape=(256, 256), seed=1) -> list[RawFrame]:
    rng = np.random.default_rng(seed)
    vig = _vignetting(shape)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    frames = []
    for k in range(n):
        sky = 8000.0 + 3000.0 * k  # twilight brightening
        stars = np.zeros(shape)
        for x, y, f in zip(rng.uniform(0, shape[1], 60), rng.uniform(0, shape[0], 60),
                           10 ** rng.uniform(3.5, 5.5, 60), strict=True):  # fmt: skip
            stars += f / (2 * np.pi * 2.0**2) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0)
        image = rng.poisson((sky + stars) * vig).astype(np.float32)
        frames.append(RawFrame.from_array(image, name=f"dawn{k}", exptime=180.0, filter="Open"))
    return frames


def test_sky_flat_recovers_the_vignetting_within_half_a_percent():
    flat = make_sky_flat(_lights(4), None, None, SkyFlatParams(box_size=16))
    truth = _vignetting((256, 256))
    inner = (slice(16, -16), slice(16, -16))
    assert flat.kind == "flat" and flat.filter == "Open" and abs(flat.data.mean() - 1) < 1e-5
    # 15 % of structure recovered to 0.5 % inside; the outer half box holds
    # the edge value, 2 % off in the corners.
    assert np.max(np.abs(flat.data[inner] / truth[inner] - 1)) < 0.005
    assert np.max(np.abs(flat.data / truth - 1)) < 0.025
    assert "sky flat" in str(flat.header["HISTORY"])


def test_sky_flat_refuses_too_few_or_mixed_lights():
    with pytest.raises(CalibrationError, match="at least 3"):
        make_sky_flat(_lights(2), None, None)
    mixed = _lights(3)
    mixed[1] = RawFrame.from_array(mixed[1].read(), name="r", exptime=180.0, filter="R")
    with pytest.raises(CalibrationError, match="different filters"):
        make_sky_flat(mixed, None, None)
