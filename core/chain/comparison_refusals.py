"""The run's comparison candidates that are no stars to compare with: galaxies and a track's stars.

The window's automatic choice refuses two kinds of candidate the
photometric tests let through (:func:`~fluxion.core.lightcurve.comparison.choose_comparison_stars`):

* extended sources: a galaxy's core (M94's on a Seestar night) is bright and
  constant, but seeing moves its light in and out of the aperture, so its
  curve follows the seeing; its half-light radius against the candidates'
  median says so (:mod:`fluxion.core.lightcurve.extended`);
* stars a moving target passes: in those lights the target's light is in
  their aperture or sky annulus, so every light's ensemble carries a bump.

The run's candidates are the stars of its stored photometry, each where each
light measured it (:func:`~fluxion.core.lightcurve.ensemble.stored_measurement`),
so both are measured here from that: the sizes on the light that found the
most of them, and the target's path carried into the reference light's
pixels by each light's affine map from its stars (the field drifts and, on
an alt-azimuth mount, rotates).
"""

from __future__ import annotations

import numpy as np

from ..lightcurve.extended import extended_sources, source_sizes
from ..lightcurve.run import Measurement

__all__ = ["MIN_SIZE_SNR", "best_covered_light", "extended_candidates", "track_in_reference"]

#: Candidates fainter than this signal to noise are not judged by their size.
MIN_SIZE_SNR = 20.0
#: A light's map to the reference light is fitted on at least this many common stars.
_MIN_MAP_STARS = 4


def best_covered_light(m: Measurement) -> int:
    """The light that measured the most of the candidates (the sizes are measured on it)."""
    found = np.all(np.isfinite(m.star_xy), axis=2).sum(axis=1)
    return int(np.argmax(found))


def extended_candidates(
    image: np.ndarray, xy: np.ndarray, snr: np.ndarray, rmax: float
) -> np.ndarray:
    """Which candidates at ``xy`` of ``image`` are extended sources, not stars.

    Only candidates measured at :data:`MIN_SIZE_SNR` or better are judged,
    and their median stands for the stars' size: a fainter detection's
    half-light radius is the sky noise's within ``rmax`` as much as its own
    (a Seestar light's stars at S/N 10-20 measure 2.1-2.9 px, 10th to 90th
    percentile, those at 20-30 1.8-2.2 px, against 1.9 for the brightest;
    below 10 about 6.5 px), and 150 candidates down to the faintest put the
    median at 4.0 px, above M94's core (4.9 px).

    Parameters
    ----------
    image : ndarray
        The light the candidates were measured in (any linear unit).
    xy : ndarray, shape (n, 2)
        The candidates' pixel positions in it (NaN: not measured there, not
        judged).
    snr : ndarray, shape (n,)
        Their signal to noise in that light.
    rmax : float
        Radius (px) inside which the half-light radius is measured: several
        stellar FWHM (see :func:`~fluxion.core.lightcurve.extended.source_sizes`).

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    sizes = np.full(len(xy), np.nan)
    judged = np.all(np.isfinite(xy), axis=1) & (np.asarray(snr, dtype=float) >= MIN_SIZE_SNR)
    if judged.any():
        sizes[judged] = source_sizes(image, xy[judged], rmax)
    return extended_sources(sizes)


def track_in_reference(m: Measurement, star_xy: np.ndarray, min_motion: float) -> np.ndarray | None:
    """The target's (x, y) in every light carried into the reference light's pixels.

    Each light's stars (``m.star_xy``) against their reference positions
    (``star_xy``) give that light's affine map (least squares: shift,
    rotation, scale, shear), which carries the target's position there.

    Parameters
    ----------
    m : Measurement
    star_xy : ndarray, shape (n_stars, 2)
        The candidates' positions in the reference light.
    min_motion : float
        A path whose points all stay within this many pixels of their median
        is a fixed target's (a star's neighbours are there in every light and
        cancel in its curve): None is returned.

    Returns
    -------
    ndarray, shape (n_lights, 2), or None
        The path (NaN in lights without a map or a target position), or None
        for a target that does not move.
    """
    ref = np.asarray(star_xy, dtype=float).reshape(-1, 2)
    target = np.asarray(m.target_xy, dtype=float).reshape(-1, 2)
    path = np.full(target.shape, np.nan)
    for i, here in enumerate(m.star_xy):
        common = np.all(np.isfinite(here), axis=1) & np.all(np.isfinite(ref), axis=1)
        if common.sum() < _MIN_MAP_STARS or not np.all(np.isfinite(target[i])):
            continue
        design = np.column_stack([here[common], np.ones(int(common.sum()))])
        coef, *_ = np.linalg.lstsq(design, ref[common], rcond=None)
        path[i] = np.append(target[i], 1.0) @ coef
    placed = path[np.all(np.isfinite(path), axis=1)]
    if len(placed) < 2:
        return None
    spread = np.hypot(*(placed - np.median(placed, axis=0)).T)
    return path if float(spread.max()) > min_motion else None
