"""Every star of a night: forced photometry into one long table, magnitude fitting,
EPD and TFA detrending, and the expected noise of each star.

The functions are pure functions of tables and arrays: per-frame photometry
tables in (:func:`~fluxion.core.field.data.field_from_frames`), a long-format
table out (:meth:`~fluxion.core.field.data.FieldData.to_table`), so that any
chain (``fluxion field``, the window's Field panel, a script) can call them.
"""

from .data import FIELD_COLUMNS, FieldData, field_from_frames, field_from_table
from .detrend import DetrendParams, DetrendResult, detrend
from .flags import FieldFlag
from .magfit import MagfitParams, MagfitResult, magnitude_fit
from .noise import NoiseCurve, scintillation

__all__ = [
    "FIELD_COLUMNS",
    "DetrendParams",
    "DetrendResult",
    "FieldData",
    "FieldFlag",
    "MagfitParams",
    "MagfitResult",
    "NoiseCurve",
    "detrend",
    "field_from_frames",
    "field_from_table",
    "magnitude_fit",
    "scintillation",
]
