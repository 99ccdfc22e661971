"""Photometric calibration: zero points against reference catalogs.

Cross-matching (:mod:`.crossmatch`), band mapping and system transformations
(:mod:`.bands`), the weighted fit with colour and spatial terms, intrinsic
scatter and outlier rejection (:mod:`.fit`), solar-colour selection
(:mod:`.solar`), calibrated magnitudes for every source (:mod:`.apply`) and
the step that ties them together (:mod:`.step`).
"""

from typing import TYPE_CHECKING

from ..runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from .apply import calibrated_table, instrumental_magnitudes, zero_point_table
    from .bands import BandError, band_for_filter, catalog_magnitudes, colour_index_values
    from .crossmatch import Match, match_sources
    from .fit import FitError, ZeroPointFit, fit_zero_point
    from .params import ZeroPointParams
    from .solar import SolarSelection, select_solar
    from .step import ZeroPoint, ZeroPointResult

__all__ = [
    "BandError",
    "FitError",
    "Match",
    "SolarSelection",
    "ZeroPoint",
    "ZeroPointFit",
    "ZeroPointParams",
    "ZeroPointResult",
    "band_for_filter",
    "calibrated_table",
    "catalog_magnitudes",
    "colour_index_values",
    "fit_zero_point",
    "instrumental_magnitudes",
    "match_sources",
    "select_solar",
    "zero_point_table",
]

# The steps import scipy, photutils and astropy.modeling: a process that needs
# only the parameter classes (the main process of `fluxion run`) does not pay
# for them. Each name's submodule is imported on first access.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".apply": ("calibrated_table", "instrumental_magnitudes", "zero_point_table"),
        ".bands": ("BandError", "band_for_filter", "catalog_magnitudes", "colour_index_values"),
        ".crossmatch": ("Match", "match_sources"),
        ".fit": ("FitError", "ZeroPointFit", "fit_zero_point"),
        ".solar": ("SolarSelection", "select_solar"),
        ".params": ("ZeroPointParams",),
        ".step": ("ZeroPoint", "ZeroPointResult"),
    },
)
