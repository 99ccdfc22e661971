"""The comparison curve's aperture, chosen as EXOTIC chooses it: the target's smallest scatter.

The photometry step measures every star at the curve of growth's radius,
which is best for one star's signal to noise (about 0.9 FWHM) but on a
night with a drifting field and unflattened frames leaves the pixel
sampling's error in every bright star (TrES-1: 6.4 ppt rms at 2.1 px, 4.7 at
2.9). EXOTIC measures the target and its comparison stars at a few radii
(multiples of the FWHM) and keeps the one whose target curve scatters least;
AstroImageJ's users do the same by hand. Here the ensemble chosen on the
stored photometry is measured again on the calibrated lights at
:data:`~fluxion.core.transit.photometry.RADII_FWHM` times the night's FWHM
(one sky annulus outside the largest, so that only the radius changes), and
the radius whose differential curve has the smallest point-to-point scatter
(:func:`~fluxion.core.lightcurve.ensemble.point_scatter`) wins. The stored
photometry's curve is kept unless a radius beats its scatter by more than the
scatter's own uncertainty, 2/sqrt(2n) for n lights: on a night of 16 lights
with a 0.7 mag eclipse the scatter is the eclipse's, and radii differ by
chance (0.5 %).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..io.frames import FrameInfo
from ..lightcurve.differential import Differential, differential_magnitudes
from ..lightcurve.ensemble import point_scatter
from ..lightcurve.run import LightCurveParams, Measurement, measure_frames_each
from ..photometry.noise import NoiseModel
from ..project.products import ProductStore
from ..transit.photometry import RADII_FWHM
from .calibrate import frame_image

__all__ = ["ApertureChoice", "best_aperture", "differential"]


@dataclass(frozen=True)
class ApertureChoice:
    """The differential curve at the chosen aperture, and every radius tried.

    Attributes
    ----------
    curve : Differential
        The target against the ensemble at the chosen radius.
    measurement : Measurement
        The target's and the ensemble's photometry at that radius.
    radius : float or None
        The chosen radius (px); None: the photometry step's.
    tried : list of (float or None, float)
        Each radius (None: the photometry step's) and its scatter (relative).
    """

    curve: Differential
    measurement: Measurement
    radius: float | None
    tried: list[tuple[float | None, float]]

    def note(self, stored_radius: float | None) -> str:
        """The choice in words."""
        best = min((s for _, s in self.tried if np.isfinite(s)), default=np.nan)
        stored = next(s for r, s in self.tried if r is None)
        step = "the photometry step's" + (f" {stored_radius:.1f} px" if stored_radius else "")
        n = len(self.tried) - 1
        if self.radius is None:
            return (f"aperture: {step} ({stored * 1e3:.2f} ppt point-to-point scatter of the "
                    f"target); none of {n} other radii (1-3 FWHM) scatters less by more than "
                    "chance")  # fmt: skip
        return (f"aperture {self.radius:.1f} px of {n} tried (1-3 FWHM) and {step}: the target's "
                f"smallest point-to-point scatter, {best * 1e3:.2f} ppt ({stored * 1e3:.2f} at "
                f"{step})")  # fmt: skip


def differential(m: Measurement, comp: Sequence[int]) -> tuple[Differential, float]:
    """The target against the stars ``comp`` of ``m``, and the curve's point-to-point scatter."""
    usable = (m.star_flags == 0) & np.isfinite(m.star_flux)
    fc = np.where(usable, m.star_flux, np.nan)[:, list(comp)]
    diff = differential_magnitudes(m.target_flux, m.target_err, fc, m.star_err[:, list(comp)])
    rel = 10.0 ** (-0.4 * (np.asarray(diff.mag, float) - np.nanmedian(diff.mag)))
    return diff, point_scatter(rel)


def best_aperture(
    store: ProductStore,
    lights: Sequence[FrameInfo],
    stored: Measurement,
    comp: Sequence[int],
    seeing: float,
    scintillation: np.ndarray,
    read_already: Mapping[int, np.ndarray] | None = None,
) -> ApertureChoice:
    """The ensemble's differential curve at the radius that makes the target's scatter smallest.

    Parameters
    ----------
    store : ProductStore
        The project's products (the calibrated lights).
    lights : sequence of FrameInfo
        The lights, in the measurement's order (their gain and read noise).
    stored : Measurement
        The stored photometry's measurement, with each star's position in
        each light (:func:`~fluxion.core.lightcurve.ensemble.stored_measurement`).
    comp : sequence of int
        The ensemble (columns of ``stored``).
    seeing : float
        The night's median FWHM (px): the radii are its multiples.
    scintillation : ndarray
        Each light's relative scintillation, in every flux error.
    read_already : mapping of int to ndarray, optional
        Images of some lights (by index) the caller has read: each file of a
        frame is opened once in a run.

    Returns
    -------
    ApertureChoice
        The stored photometry's curve when no light can be measured again
        (a position missing, a calibrated light gone) or when it scatters least.
    """
    curve, scatter = differential(stored, comp)
    tried: list[tuple[float | None, float]] = [(None, scatter)]
    best = ApertureChoice(curve, stored, None, tried)
    # Another radius must beat the stored one by more than the scatter's own uncertainty
    # (2/sqrt(2n), as the ensemble's stars are dropped): else the choice chases noise, and a
    # target that varies more than its noise (an eclipse) would pick any radius by chance.
    n = int(np.isfinite(np.asarray(curve.mag, float)).sum())
    lowest = scatter * (1.0 - 2.0 / np.sqrt(2.0 * max(n, 1))) if np.isfinite(scatter) else np.inf
    target_xy = np.asarray(stored.target_xy, float)
    star_xy = np.asarray(stored.star_xy, float)[:, list(comp)]
    # Where a light missed a member (the ensemble keeps stars missing from a few lights) its
    # position is NaN and the remeasure leaves it out of that light, as the stored curve did.
    used = (stored.star_flags == 0) & np.isfinite(stored.star_flux)
    used = used[:, list(comp)]
    if not (np.all(np.isfinite(target_xy)) and np.all(np.isfinite(star_xy[used]))):
        return best
    star_xy = np.where(used[..., None], star_xy, np.nan)
    if not np.isfinite(seeing) or seeing <= 0:
        return best
    gains = [float(f.gain) if f.gain else 1.0 for f in lights]
    read = float(np.nanmedian([f.read_noise or 0.0 for f in lights]))

    kept = dict(read_already or {})

    def electrons(i: int) -> np.ndarray:
        data = kept.pop(i) if i in kept else frame_image(store, lights[i]).data
        return np.asarray(data, np.float32) * gains[i]

    outer = max(RADII_FWHM) * seeing
    every = [
        LightCurveParams(
            aperture_radius=float(rf * seeing),
            annulus_inner=outer + 1.5 * seeing,
            annulus_outer=outer + 4.0 * seeing,
        )
        for rf in RADII_FWHM
    ]
    # Every radius from one read of each light: a night's lights need not fit in memory
    # at once, and a light is not read again for each radius.
    measured = measure_frames_each(
        electrons, target_xy, star_xy, every, noise=NoiseModel(read_noise=read),
        scintillation=np.asarray(scintillation, float),
    )  # fmt: skip
    ones = list(range(len(comp)))
    for params, m in zip(every, measured, strict=True):
        if not np.all(((m.star_flags == 0) & np.isfinite(m.star_flux))[used]):
            # A member flagged at this radius (an edge, a bad pixel, saturation) in a light
            # where the ensemble was chosen unflagged: this radius is not tried.
            tried.append((params.aperture_radius, float("nan")))
            continue
        curve, scatter = differential(m, ones)
        tried.append((params.aperture_radius, scatter))
        if np.isfinite(scatter) and scatter < lowest:
            lowest = scatter
            best = ApertureChoice(curve, m, params.aperture_radius, tried)
    return ApertureChoice(best.curve, best.measurement, best.radius, tried)
