"""Report formats for light curves and astrometry.

* :mod:`.table` - light curves and track positions as CSV or ECSV.
* :mod:`.alcdef` - ALCDEF, the Asteroid Lightcurve Data Exchange Format.
* :mod:`.aavso` - AAVSO Extended File Format for variable-star photometry.
* :mod:`.mpc` - MPC 80-column and ADES PSV astrometry of a tracked target.

Every writer is atomic (temporary file beside the destination, then
``os.replace``) and raises :class:`ExportError` with a user-facing message
when a required value is missing.
"""

from __future__ import annotations

__all__ = ["ExportError"]


class ExportError(ValueError):
    """A report cannot be written; the message says which value is missing."""
