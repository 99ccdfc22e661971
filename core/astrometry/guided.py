"""A match guided by a known WCS: the frames of a night are solved near each other.

Frames taken one after another through the same optics differ by the
tracking drift and a little rotation. The catalog stars seen through the
last frame's verified solution then land within a shift of their sources, so
the frame's match needs no triangle search (:mod:`.matching`, most of a
hinted solve's time): the shift is the most common offset between the
brightest sources and the stars predicted in the frame, and the pairs it
gives grow into a match as the triangle search's best transform does
(:func:`~fluxion.core.astrometry.matching.refined_match`: the same affine
refinement and the same false-alarm verification, the shifts tried counted
as its look-elsewhere). Nothing that does not verify is returned; the caller
then searches triangles as before.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from astropy.wcs import WCS
from scipy.spatial import cKDTree

from .matching import Match, MatchError, _mutual_nearest, refined_match

__all__ = ["match_through"]

# Brightest sources and predicted stars whose offsets vote for the shift:
# enough common stars for a clear peak, few enough to cost nothing.
_N_SOURCES = 30
_N_STARS = 60


def match_through(
    wcs: WCS,
    xy: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
    plane: np.ndarray,
    *,
    image_size: tuple[float, float],
    tolerance: float = 2.0,
    min_matches: int = 6,
    max_log10_false_alarm: float = -6.0,
    max_shift: float | None = None,
) -> Match | None:
    """The verified match of sources ``xy`` to the catalog, guided by a nearby frame's ``wcs``.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        A verified solution of a frame taken close to this one.
    xy : ndarray (N, 2)
        Source positions in pixels, brightest first.
    ra, dec : ndarray (M,)
        Catalog stars (degrees), brightest first.
    plane : ndarray (M, 2)
        The same stars on this frame's tangent plane, in pixels of the guessed
        scale (as :func:`~fluxion.core.astrometry.matching.match_sources` takes them).
    image_size : (width, height)
    tolerance : float
        Match radius in pixels.
    min_matches : int
    max_log10_false_alarm : float
        As the triangle search's.
    max_shift : float, optional
        Largest offset (px) searched between the two frames; a tenth of the
        frame's larger side by default.

    Returns
    -------
    Match or None
        None when the guide does not give a verified match (another field,
        a large jump, a rotated camera).
    """
    width, height = image_size
    if max_shift is None:
        max_shift = 0.1 * max(width, height)
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if len(xy) < max(min_matches, 3) or len(plane) < 3:
        return None
    px, py = wcs.all_world2pix(np.asarray(ra, float), np.asarray(dec, float), 0, quiet=True)
    predicted = np.column_stack([px, py])
    inside = (
        np.isfinite(px)
        & np.isfinite(py)
        & (px > -max_shift)
        & (px < width + max_shift)
        & (py > -max_shift)
        & (py < height + max_shift)
    )
    stars = np.flatnonzero(inside)
    if len(stars) < 3:
        return None
    # Every offset source - star of the brightest, voted into bins of the
    # match radius; the true shift collects one vote per common star.
    offsets = (xy[:_N_SOURCES, None, :] - predicted[stars[:_N_STARS]][None, :, :]).reshape(-1, 2)
    offsets = offsets[np.all(np.abs(offsets) <= max_shift, axis=1)]
    if len(offsets) == 0:
        return None
    bins = np.round(offsets / tolerance).astype(np.int64)
    # One integer a bin, in the order of (x, y) rows: a tenth of the time of
    # np.unique over rows (which sorts a structured view).
    low = bins.min(axis=0)
    width = int(bins[:, 1].max() - low[1]) + 1
    keys, counts = np.unique(
        (bins[:, 0] - low[0]) * width + (bins[:, 1] - low[1]), return_counts=True
    )
    best = int(np.argmax(counts))
    if counts[best] < 3:
        return None
    peak = np.array(divmod(int(keys[best]), width)) + low
    near = np.abs(bins - peak).max(axis=1) <= 1
    shift = np.median(offsets[near], axis=0)
    tree = cKDTree(predicted[stars])
    src_i, k = _mutual_nearest(xy - shift, tree, tolerance)
    cat_i = stars[k]
    # Every bin of the searched square was a chance, as every triangle transform is.
    n_tried = int(math.ceil(2.0 * max_shift / tolerance + 1.0) ** 2)
    try:
        match = refined_match(
            xy, plane, cKDTree(plane), src_i, cat_i, n_tried,
            image_size=image_size, tolerance=tolerance, min_matches=min_matches,
            max_log10_false_alarm=max_log10_false_alarm, rotation=0.0, flipped=False,
        )  # fmt: skip
    except MatchError:
        return None
    # The rotation and parity of the refined affine (the triangle search reports its
    # similarity's): pixels to the catalog plane, a mirror image when its determinant < 0.
    m = match.affine[:, :2]
    flipped = float(np.linalg.det(m)) < 0
    if flipped:
        rotation = math.degrees(math.atan2(m[1, 0] + m[0, 1], m[0, 0] - m[1, 1]))
    else:
        rotation = math.degrees(math.atan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1]))
    return replace(match, rotation=rotation, flipped=flipped)
