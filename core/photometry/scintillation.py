"""Scintillation: the atmosphere's twinkling as a relative flux error of every star in a frame.

Young's (1967) approximation with Osborn et al.'s (2015, MNRAS 452, 1707)
empirical factor C_Y (1.5 for a median site): a star's relative flux rms in
an exposure of ``t`` seconds through an aperture of diameter ``D`` at airmass
``X`` from a site ``h`` metres high is::

    sigma = C_Y sqrt(1e-5 D^(-4/3) t^(-1) X^3 exp(-2 h / H)),   H = 8000 m, D in m

(with C_Y = 1 it is Young's ``0.09 D_cm^(-2/3) X^1.75 exp(-h/H) (2 t)^(-1/2)``
within 7 %). It does not depend on the star's brightness, so it dominates
the error of bright stars, where photon noise is small. Stars further apart
than the aperture's footprint on the turbulent layer (a few arcseconds) twinkle
independently: it belongs to each star's own error of a frame, not to the
error common to a night's calibration.

The telescope's aperture comes from the headers (MaxIm DL's ``APTDIA`` in mm,
or ``APTAREA`` in mm^2: :attr:`~fluxion.core.io.frames.FrameInfo.aperture_mm`)
or from the observer; when it is unknown the term is left out and the
product says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Scintillation",
    "add_scintillation",
    "scintillation",
]

#: Scale height of the atmosphere's turbulence (m), Young (1967).
TURBULENCE_SCALE_HEIGHT = 8000.0
#: Osborn et al.'s (2015) median C_Y over their sites (1.27-1.67).
MEDIAN_SITE_FACTOR = 1.5


def scintillation(
    diameter_m: float | None,
    airmass: np.ndarray | float,
    exptime_s: float,
    altitude_m: float = 0.0,
    c_y: float = MEDIAN_SITE_FACTOR,
) -> np.ndarray:
    """Relative flux rms from scintillation (0 when the aperture is unknown).

    Osborn et al. (2015), eq. 7 (Young's approximation with their factor):
    ``sigma^2 = 1e-5 C_Y^2 D^(-4/3) t^(-1) X^3 exp(-2 h / H)`` with D in m,
    t in s, h the site's altitude in m and H = 8000 m.

    Parameters
    ----------
    diameter_m : float or None
        The telescope's aperture; None or 0 gives 0 (not known).
    airmass : array_like
    exptime_s : float
        Exposure time.
    altitude_m : float
        Site altitude.
    c_y : float
        Site factor: 1.5 is the median of Osborn et al.'s sites (1.27-1.67).
    """
    x = np.asarray(airmass, dtype=float)
    if not diameter_m or diameter_m <= 0 or not exptime_s or exptime_s <= 0:
        return np.zeros_like(x)
    var = (
        1e-5 * c_y**2 * diameter_m ** (-4.0 / 3.0) / exptime_s * x**3
        * np.exp(-2.0 * altitude_m / TURBULENCE_SCALE_HEIGHT)
    )  # fmt: skip
    return np.sqrt(var)


@dataclass(frozen=True)
class Scintillation:
    """What the scintillation term of a night's errors was made of, for a product's metadata.

    Attributes
    ----------
    sigma : ndarray
        Relative flux rms of each frame (0 where left out).
    included : bool
        Whether it was added to the errors.
    note : str
        Where the aperture and the site's altitude came from, or why it was left out.
    """

    sigma: np.ndarray
    included: bool
    note: str

    @classmethod
    def for_night(
        cls,
        diameter_m: float | None,
        airmass: np.ndarray,
        exptime_s: float | None,
        altitude_m: float | None,
        *,
        c_y: float = MEDIAN_SITE_FACTOR,
        diameter_source: str = "",
    ) -> Scintillation:
        """Each frame's scintillation, or a note of what is missing.

        Parameters
        ----------
        diameter_m : float or None
            The telescope's aperture; None: unknown (left out).
        airmass : ndarray
            Each frame's airmass; NaN frames get 0 and are named in the note.
        exptime_s : float or None
            Exposure time; None: unknown (left out).
        altitude_m : float or None
            The site's height; None counts as sea level (the most scintillation).
        c_y : float
            Osborn et al.'s site factor.
        diameter_source : str
            Where ``diameter_m`` came from (a header card, the observer).
        """
        x = np.asarray(airmass, dtype=float)
        zeros = np.zeros(x.shape)
        if not diameter_m or diameter_m <= 0:
            return cls(
                zeros, False, "scintillation left out: the telescope's aperture is not known"
            )
        if not exptime_s or exptime_s <= 0:
            return cls(zeros, False, "scintillation left out: the exposure time is not known")
        if not np.any(np.isfinite(x)):
            return cls(zeros, False, "scintillation left out: the airmass is not known")
        h = 0.0 if altitude_m is None or not np.isfinite(altitude_m) else float(altitude_m)
        sigma = np.where(np.isfinite(x), scintillation(diameter_m, np.nan_to_num(x), exptime_s, h,
                                                       c_y), 0.0)  # fmt: skip
        where = f" ({diameter_source})" if diameter_source else ""
        note = (
            f"scintillation included: aperture {diameter_m * 1000:.0f} mm{where}, "
            f"{exptime_s:g} s, site {h:.0f} m{'' if altitude_m is not None else ' (assumed)'}, "
            f"C_Y {c_y:g}; {np.median(sigma[np.isfinite(x)]) * 1e3:.2f} ppt at the median airmass"
        )
        if not np.all(np.isfinite(x)):
            note += f"; left out of {int(np.sum(~np.isfinite(x)))} frame(s) without an airmass"
        return cls(sigma, True, note)

    def meta(self) -> dict[str, object]:
        """The product's metadata entries."""
        return {
            "scintillation_included": bool(self.included),
            "scintillation_note": self.note,
            "scintillation_median": float(np.median(self.sigma)) if self.sigma.size else 0.0,
        }


def add_scintillation(
    flux: np.ndarray, flux_err: np.ndarray, sigma: np.ndarray | float
) -> np.ndarray:
    """Flux errors with the relative scintillation ``sigma`` added in quadrature.

    ``sigma`` broadcasts against ``flux`` (one value per frame: give it the
    frames' axis). The measured flux scales it: a star's scintillation is
    a fraction of its light; a non-positive or NaN flux keeps its error.
    """
    f = np.asarray(flux, dtype=float)
    e = np.asarray(flux_err, dtype=float)
    extra = np.where(np.isfinite(f) & (f > 0), f, 0.0) * np.asarray(sigma, dtype=float)
    return np.hypot(e, extra)
