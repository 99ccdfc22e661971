"""Stars drawn into an image where a photometry test wants them.

``add_stars`` adds a profile's pixel-integrated stamps at sub-pixel positions,
cut at the image's edges, so that a test can place a pair, a trail or a star
on the border exactly where its truth says.
"""

from __future__ import annotations

import numpy as np

from fluxion.core.photometry.synthetic import MoffatProfile


def add_stars(image: np.ndarray, profile: MoffatProfile, x, y, flux, size: int = 31) -> None:
    """Add stars of ``profile`` (total ``flux`` each) at ``x, y`` to ``image`` in place.

    Each star is a ``size`` x ``size`` stamp centred on its pixel
    (``floor(x), floor(y)``) and shifted within it; the part beyond the
    image's edge is left out.
    """
    half = size // 2
    ny, nx = image.shape
    for xs, ys, f in zip(np.atleast_1d(x), np.atleast_1d(y), np.atleast_1d(flux), strict=True):
        xi, yi = int(np.floor(xs)), int(np.floor(ys))
        stamp = f * profile.stamp(size, xs - xi, ys - yi)
        x0, y0 = xi - half, yi - half
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x0 + size, nx), min(y0 + size, ny)
        if cx0 < cx1 and cy0 < cy1:
            image[cy0:cy1, cx0:cx1] += stamp[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]


def scene_image(tables, x, y, flux, shape: tuple[int, int]) -> np.ndarray:
    """Stars of total ``flux`` at ``x, y`` drawn through the scene fitter's own PSF tables.

    The noiseless image the crowded fitter's model makes of them (31 px stamps),
    so that a scene test's truth and its fit share one PSF to the last bit.
    """
    from fluxion.core.photometry.scene.design import build_design

    x, y, flux = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, y, flux))
    d = build_design(tables, x, y, np.full(len(x), 31), shape, derivatives=False)
    coef = np.zeros(d.n_columns)
    coef[d.col_of_star[:, 0]] = flux
    return d.image(coef)
