"""Light-curve models of the simulated variable sources.

Each returns the flux relative to the source's reference (catalog) brightness,
so that the truth flux of a frame is ``reference_flux * model(t)``. They are
public so that tests and teaching material compare measurements against the
very same curves the images were made from.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "transit_relative_flux",
    "transit_geometry",
    "eclipsing_relative_flux",
    "rotation_magnitude_offset",
]


def transit_relative_flux(
    t: np.ndarray,
    t_mid: float,
    duration: float,
    ingress: float,
    depth: float,
    limb_darkening: tuple[float, float] | None = None,
    period: float = 3.0,
) -> np.ndarray:
    """Planetary transit: trapezoidal, or limb-darkened like a real one.

    Parameters
    ----------
    t : array_like
        Times (days, or any unit when ``limb_darkening`` is None).
    t_mid : float
        Mid-transit time.
    duration : float
        First to fourth contact.
    ingress : float
        First to second contact (equal to third to fourth).
    depth : float
        Fractional flux loss at mid-transit (0.01 for a 1% transit).
    limb_darkening : (u1, u2), optional
        Quadratic limb darkening of the star. None: a trapezoid (flat
        bottom, straight ingress). Given: batman's transit of the planet
        whose radius ratio, impact parameter and a/Rs give exactly these
        contacts and this central depth for a circular orbit of ``period``
        days (:func:`transit_geometry`), as real transits look: a rounded
        bottom and curved ingress.
    period : float
        Orbital period (days) of the limb-darkened transit's orbit.
    """
    if limb_darkening is not None:
        from ..transit.model import TransitCurve, TransitShape

        k, a_rs, b = transit_geometry(duration, ingress, depth, limb_darkening, period)
        shape = TransitShape(t_mid, k, a_rs, b, *limb_darkening, period)
        return TransitCurve(np.atleast_1d(np.asarray(t, float))).flux(shape).reshape(np.shape(t))
    dt = np.abs(np.asarray(t, float) - t_mid)
    half = duration / 2.0
    # 1 in the flat bottom, 0 outside, linear in between.
    ramp = np.clip((half - dt) / max(ingress, 1e-12), 0.0, 1.0)
    return 1.0 - depth * ramp


def transit_geometry(
    duration: float,
    ingress: float,
    depth: float,
    limb_darkening: tuple[float, float],
    period: float = 3.0,
) -> tuple[float, float, float]:
    """Radius ratio, a/Rs and impact parameter of a transit's contacts and depth.

    Seager & Mallen-Ornelas (2003, eqs. 3 and 7) give b and a/Rs from the
    total and flat durations for a radius ratio k; k follows from the central
    depth k^2 I(mu)/<I> of the quadratic law at that b, so the two are iterated.
    All times in days.
    """
    u1, u2 = limb_darkening
    mean_intensity = 1.0 - u1 / 3.0 - u2 / 6.0
    s14 = np.sin(np.pi * duration / period) ** 2
    s23 = np.sin(np.pi * max(duration - 2.0 * ingress, 0.0) / period) ** 2
    k, b2 = float(np.sqrt(depth)), 0.0
    for _ in range(50):
        ratio = s23 / s14
        b2 = max(((1 - k) ** 2 - ratio * (1 + k) ** 2) / (1 - ratio), 0.0)
        mu = np.sqrt(max(1.0 - b2, 0.0))
        centre = (1.0 - u1 * (1 - mu) - u2 * (1 - mu) ** 2) / mean_intensity
        k = float(np.sqrt(depth / centre))
    a_rs = float(np.sqrt(((1 + k) ** 2 - b2 * (1 - s14)) / s14))
    return k, a_rs, float(np.sqrt(b2))


def _eclipse_profile(phase: np.ndarray, half_width: float) -> np.ndarray:
    """Eclipse shape in phase: 1 at minimum, 0 beyond ``half_width``.

    A cosine bell, a smooth stand-in for the overlap area of two limb-darkened
    discs (which is V-shaped with a rounded bottom).
    """
    x = np.clip(np.abs(phase) / half_width, 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


def eclipsing_relative_flux(
    t: np.ndarray,
    t_min: float,
    period: float,
    primary_depth: float,
    secondary_depth: float,
    duration: float,
    ellipsoidal: float = 0.02,
) -> np.ndarray:
    """Detached eclipsing binary: primary and secondary eclipses plus ellipsoidal light.

    Parameters
    ----------
    t : array_like
        Times.
    t_min : float
        Time of a primary minimum.
    period : float
        Orbital period (same unit as ``t``).
    primary_depth, secondary_depth : float
        Fractional flux loss at the centre of each eclipse.
    duration : float
        Full eclipse duration (same unit as ``t``).
    ellipsoidal : float
        Peak-to-peak fractional amplitude of the ellipsoidal variation
        (tidally distorted stars, two maxima per orbit).
    """
    phase = ((np.asarray(t, float) - t_min) / period + 0.5) % 1.0 - 0.5  # -0.5..0.5
    half = 0.5 * duration / period
    primary = primary_depth * _eclipse_profile(phase, half)
    secondary = secondary_depth * _eclipse_profile(np.abs(phase) - 0.5, half)
    ellip = 0.5 * ellipsoidal * (1.0 - np.cos(4.0 * np.pi * phase)) - 0.5 * ellipsoidal
    return (1.0 - primary - secondary) * (1.0 + ellip)


def rotation_magnitude_offset(
    t: np.ndarray, t0: float, period: float, amplitude: float
) -> np.ndarray:
    """Rotational light curve of an asteroid, in magnitudes about the mean.

    Double-peaked (an elongated body shows two maxima per rotation) with the
    two halves slightly unequal, as real light curves are.

    Parameters
    ----------
    t : array_like
        Times.
    t0 : float
        Time of zero rotational phase.
    period : float
        Rotation period (same unit as ``t``).
    amplitude : float
        Peak-to-peak amplitude (mag).
    """
    ph = 2.0 * np.pi * (np.asarray(t, float) - t0) / period
    return amplitude * _rotation_shape(ph) / _ROTATION_PTP


def _rotation_shape(ph: np.ndarray) -> np.ndarray:
    return 0.9 * np.cos(2.0 * ph) + 0.1 * np.cos(ph)


# Peak-to-peak of the shape above, so that ``amplitude`` is the true peak-to-peak.
_ROTATION_PTP = float(np.ptp(_rotation_shape(np.linspace(0.0, 2.0 * np.pi, 100001))))
