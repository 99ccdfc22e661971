"""Artefacts told from stars by their shape: an outlier test in the frame's own shape space.

A point source has the frame's PSF: its width, roundness and concentration are
those of the frame's stars, whatever its brightness. Cosmic rays and hot
pixels are sharper and more concentrated, galaxies and other extended objects
wider and less concentrated, satellite trails and blends elongated. STDWeb
rejects them with an isolation forest in SExtractor's shape parameters; here
the same idea is a Mahalanobis distance from the stars' locus, with each
parameter's scatter modelled as a function of the source's S/N (a faint star's
shape is measured noisily, a bright one's precisely), so the test is as strict
at S/N 8 as at S/N 300. scikit-learn (its IsolationForest or MinCovDet) is not
a dependency, and in three dimensions a clipped robust distance needs no more.

Shape parameters (from :class:`fluxion.core.detection.extract.Detection`'s table):

* ``log_width``: log of ``fwhm`` over the frame's FWHM;
* ``elongation``: 1 - b/a of the isophotal ellipse;
* ``log_peakiness``: log of peak * FWHM^2 / flux, the share of the flux in the
  brightest pixel (a cosmic ray puts most of its charge there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.stats import mad_std
from astropy.table import Table
from scipy.stats import chi2

__all__ = ["ShapeModel", "fit_shape_model", "shape_features", "SHAPE_FEATURES"]

#: Names of the shape parameters, in the order of :func:`shape_features`' columns.
SHAPE_FEATURES = ("log_width", "elongation", "log_peakiness")

# Stars used to learn the locus: bright enough that their shapes are precise,
# faint enough not to saturate (flags are checked separately).
_TRAIN_MIN_SNR = 20.0
_MIN_TRAINING_STARS = 8


def shape_features(sources: Table, frame_fwhm: float) -> np.ndarray:
    """The shape parameters of each source, shape (N, 3); NaN where not measured.

    Parameters
    ----------
    sources : Table
        A detection table (``fwhm``, ``a``, ``b``, ``peak``, ``flux``).
    frame_fwhm : float
        The frame's FWHM (px), the scale of ``log_width``.
    """
    fwhm = np.asarray(sources["fwhm"], dtype=float)
    a = np.asarray(sources["a"], dtype=float)
    b = np.asarray(sources["b"], dtype=float)
    peak = np.asarray(sources["peak"], dtype=float)
    flux = np.asarray(sources["flux"], dtype=float)
    scale = frame_fwhm if math.isfinite(frame_fwhm) and frame_fwhm > 0 else np.nanmedian(fwhm)
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.log(fwhm / scale)
        elong = np.where(a > 0, 1.0 - b / a, np.nan)
        peaky = np.log(np.where((peak > 0) & (flux > 0), peak * scale**2 / flux, np.nan))
    out = np.column_stack([width, elong, peaky])
    out[~np.isfinite(out)] = np.nan
    return out


@dataclass(frozen=True)
class ShapeModel:
    """The stars' locus in shape space and how its scatter grows at low S/N.

    The scatter of parameter ``k`` for a source of signal-to-noise ``s`` is
    ``sqrt(floor[k]^2 + (noise[k] / s)^2)``: the stars' intrinsic spread
    (seeing across the field, pixel phase) plus measurement noise.
    """

    centre: np.ndarray
    floor: np.ndarray
    noise: np.ndarray
    n_stars: int

    def distance(self, features: np.ndarray, snr: np.ndarray) -> np.ndarray:
        """Each source's distance from the locus in units of its expected scatter.

        Distances follow a chi distribution with 3 degrees of freedom for
        stars; NaN features count as on the locus (not measured, not evidence).
        """
        s = np.maximum(np.asarray(snr, dtype=float), 1.0)[:, None]
        sigma = np.sqrt(self.floor**2 + (self.noise / s) ** 2)
        z = (np.asarray(features, dtype=float) - self.centre) / sigma
        z = np.where(np.isfinite(z), z, 0.0)
        return np.sqrt(np.sum(z**2, axis=1))


def fit_shape_model(
    features: np.ndarray, snr: np.ndarray, usable: np.ndarray, *, clip: float = 4.0
) -> ShapeModel | None:
    """Learn the stars' shape locus from a frame's own sources.

    Parameters
    ----------
    features : ndarray (N, 3)
        :func:`shape_features` of the frame's sources.
    snr : ndarray (N,)
        Their signal-to-noise.
    usable : ndarray of bool (N,)
        Sources allowed to teach (unflagged ones); most must be stars, as in
        any star field.
    clip : float
        Sources beyond this many sigma in any parameter are left out of the
        locus while it is learnt (iterated until stable).

    Returns
    -------
    ShapeModel or None
        None when there are too few stars to learn from.
    """
    snr = np.asarray(snr, dtype=float)
    ok = np.asarray(usable, bool) & np.all(np.isfinite(features), axis=1) & np.isfinite(snr)
    bright = ok & (snr >= _TRAIN_MIN_SNR)
    if bright.sum() < _MIN_TRAINING_STARS:
        return None
    keep = bright.copy()
    for _ in range(10):
        centre = np.median(features[keep], axis=0)
        floor = np.maximum(mad_std(features[keep], axis=0), 1e-3)
        z = np.abs(features - centre) / floor
        new = bright & np.all(z < clip, axis=1)
        if new.sum() < _MIN_TRAINING_STARS or np.array_equal(new, keep):
            break
        keep = new
    # Measurement noise: the scatter of fainter sources about the locus, beyond
    # the floor, grows as 1/S/N. For a normal deviate the median of dev^2 is
    # 0.455 sigma^2, so median((dev * snr)^2) / 0.455 estimates
    # floor^2 * snr^2 + noise^2 robustly against the artefacts among them.
    dev = np.abs(features - centre)
    faint = ok & (snr < _TRAIN_MIN_SNR) & (snr > 3.0)
    noise = np.zeros(features.shape[1])
    if faint.sum() >= _MIN_TRAINING_STARS:
        s2 = float(np.median(snr[faint] ** 2))
        for k in range(features.shape[1]):
            total = float(np.median((dev[faint, k] * snr[faint]) ** 2)) / 0.455
            noise[k] = math.sqrt(max(total - floor[k] ** 2 * s2, 0.0))
    return ShapeModel(centre, floor, noise, int(keep.sum()))


def outlier_threshold(p_false: float = 1e-3, dof: int = len(SHAPE_FEATURES)) -> float:
    """The distance a star exceeds with probability ``p_false`` (chi with ``dof``)."""
    return float(math.sqrt(chi2.isf(p_false, dof)))
