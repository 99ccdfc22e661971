"""Which stars of a field vary: indices, periodograms, candidates, known variables.

:func:`~fluxion.core.variability.search.variability_table` ranks every star of
a night's field light curves (``fluxion field``); :mod:`.periods` gives any
star's periodogram and phase-folded curve; :mod:`.vsx` marks the stars the
Variable Star indeX (VSX) already knows.
"""

from .indices import reduced_chi2, stetson_j
from .periods import Periodogram, fold, periodogram
from .search import VARIABILITY_COLUMNS, VariabilityParams, variability_table

__all__ = [
    "VARIABILITY_COLUMNS",
    "Periodogram",
    "VariabilityParams",
    "fold",
    "periodogram",
    "reduced_chi2",
    "stetson_j",
    "variability_table",
]
