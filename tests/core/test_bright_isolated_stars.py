"""The bright isolated stars that targets and light curves start from."""

from __future__ import annotations

import numpy as np

from fluxion.core.targets.inputs import bright_isolated_stars


def _star(image: np.ndarray, x: float, y: float, flux: float, fwhm: float = 3.0) -> None:
    sigma = fwhm / 2.3548
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    r2 = (xx - x) ** 2 + (yy - y) ** 2
    image += flux / (2 * np.pi * sigma**2) * np.exp(-r2 / (2 * sigma**2))


def _frame(neighbour_fraction: float, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((200, 200), 100.0)
    _star(image, 60.0, 60.0, 2e5)
    _star(image, 140.0, 140.0, 2e5)
    # A neighbour 12 px from the first star, detected at S/N > 10 in every case.
    _star(image, 72.0, 60.0, neighbour_fraction * 2e5)
    return rng.poisson(image).astype(float)


def test_a_faint_neighbour_does_not_make_a_bright_star_crowded() -> None:
    # 0.5 % of the star's light: it cannot move its photometry by 0.01 mag.
    found = bright_isolated_stars(_frame(0.005))
    assert len(found) == 2
    assert np.min(np.hypot(*(found - [60.0, 60.0]).T)) < 0.5


def test_a_neighbour_that_matters_does() -> None:
    # 10 % of its light 12 px away: the first star is not isolated, the second is.
    found = bright_isolated_stars(_frame(0.1))
    assert len(found) == 1
    assert np.hypot(*(found[0] - [140.0, 140.0])) < 0.5
