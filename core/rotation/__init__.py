"""An asteroid's rotation period from light curves of several nights (MPO Canopus' job).

Sessions (:mod:`.sessions`) are light curves of one object from one night or
project, corrected for light time and reduced to unit distances with the
geometry from JPL Horizons; :func:`~fluxion.core.rotation.fourier.period_search`
fits them with a Fourier series and one zero point per session and gives the
period with its error and the aliases it had to beat.
"""

from .fourier import FourierFit, PeriodResult, fourier_fit, period_search
from .sessions import Session, join_sessions, session_from_table, session_geometry

__all__ = [
    "FourierFit",
    "PeriodResult",
    "Session",
    "fourier_fit",
    "join_sessions",
    "period_search",
    "session_from_table",
    "session_geometry",
]
