"""The H-G phase function: how an asteroid's brightness changes with the phase angle.

Sessions weeks apart see the asteroid at different phase angles; MPO Canopus
reduces their magnitudes to one phase angle with the IAU H-G system (Bowell
et al. 1989, in Asteroids II, 524) so that calibrated sessions can share one
zero point. The two-term approximation is four lines; sbpy has it too, but is
not a dependency for these.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_G", "hg_phase_magnitude", "phase_correction"]

#: The slope parameter assumed when none is known (Bowell et al. 1989).
DEFAULT_G = 0.15


def hg_phase_magnitude(phase_deg: np.ndarray | float, g: float = DEFAULT_G) -> np.ndarray:
    """The phase function's magnitude term, -2.5 log10((1 - G) Phi1 + G Phi2).

    Zero at zero phase; positive (fainter) as the phase angle grows.
    """
    tan = np.tan(np.radians(np.asarray(phase_deg, float)) / 2.0)
    phi1 = np.exp(-3.33 * tan**0.63)
    phi2 = np.exp(-1.87 * tan**1.22)
    return -2.5 * np.log10((1.0 - g) * phi1 + g * phi2)


def phase_correction(
    phase_deg: np.ndarray | float, reference_deg: float, g: float = DEFAULT_G
) -> np.ndarray:
    """What added to a magnitude at ``phase_deg`` gives its magnitude at ``reference_deg``."""
    return hg_phase_magnitude(reference_deg, g) - hg_phase_magnitude(phase_deg, g)
