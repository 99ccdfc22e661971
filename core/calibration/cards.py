"""The cards a calibrated frame carries about its calibration, and reading them back.

Apart from :mod:`.apply` (which imports the masks, cosmic rays and scipy), so
that a process that only reads calibrated products' headers (the main process
of a run on worker processes) does not import the calibration.
"""

from __future__ import annotations

import json

from astropy.io import fits

__all__ = ["MISSING_CARD", "RAW_SATURATION_CARD", "missing_from_header"]

#: Card of a calibrated frame keeping the raw saturation level (ADU). Its
#: presence also says that ``SATURATE`` is the calibrated level (frames
#: calibrated before it was written kept the raw ``SATURATE``).
RAW_SATURATION_CARD = "FLXSATRW"
#: Card of a calibrated frame listing, as JSON, the steps no master allowed and why.
MISSING_CARD = "FLXMISS"


def missing_from_header(header: fits.Header) -> dict[str, str]:
    """The steps a calibrated frame went without and why (its ``FLXMISS`` card; {} if none)."""
    try:
        missing = json.loads(str(header[MISSING_CARD]))
    except (KeyError, ValueError):
        return {}
    return {str(k): str(v) for k, v in missing.items()} if isinstance(missing, dict) else {}
