"""Light-curve models of the simulated variable sources.

Each returns the flux relative to the source's reference (catalog) brightness,
so that the truth flux of a frame is ``reference_flux * model(t)``. They are
public so that tests and teaching material compare measurements against the
very same curves the images were made from.
"""

from __future__ import annotations

import numpy as np

__all__ = ["transit_relative_flux", "eclipsing_relative_flux", "rotation_magnitude_offset"]


def transit_relative_flux(
    t: np.ndarray, t_mid: float, duration: float, ingress: float, depth: float
) -> np.ndarray:
    """Trapezoidal planetary transit.

    Parameters
    ----------
    t : array_like
        Times (any unit, same as the other times).
    t_mid : float
        Mid-transit time.
    duration : float
        First to fourth contact.
    ingress : float
        First to second contact (equal to third to fourth).
    depth : float
        Fractional flux loss at the flat bottom (0.01 for a 1% transit).
    """
    dt = np.abs(np.asarray(t, float) - t_mid)
    half = duration / 2.0
    # 1 in the flat bottom, 0 outside, linear in between.
    shape = np.clip((half - dt) / max(ingress, 1e-12), 0.0, 1.0)
    return 1.0 - depth * shape


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
