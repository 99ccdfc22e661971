"""The run's per-frame table (``frames.ecsv``): what came out of each light, and why not.

One row a light: its time, seeing, sky, sources, whether it was solved and
how well, its zero point, and its status ("ok", or every step's error in
words), so that a night's failures are read frame by frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from astropy.table import Table

from ..io.frames import FrameInfo
from .worker import FrameReport

__all__ = ["FRAME_COLUMNS", "frames_table"]

FRAME_COLUMNS = (
    "file", "jd_utc", "fwhm", "sky", "n_sources", "wcs_ok", "astrometric_rms_arcsec",
    "zero_point", "zero_point_err", "status",
)  # fmt: skip


def frames_table(lights: Sequence[FrameInfo], reports: Sequence[FrameReport]) -> Table:
    """One row a light of :data:`FRAME_COLUMNS` from its report (``status``: "ok" or its errors)."""
    rows = []
    for f, r in zip(lights, reports, strict=True):
        facts = r.facts
        rows.append(
            (
                r.frame,
                f.jd if f.jd is not None else math.nan,
                float(facts.get("fwhm", math.nan)),
                float(facts.get("sky", math.nan)),
                int(facts.get("n_sources", 0)),
                bool(facts.get("wcs_ok", False)),
                float(facts.get("astrometric_rms_arcsec", math.nan)),
                float(facts.get("zero_point", math.nan)),
                float(facts.get("zero_point_err", math.nan)),
                "; ".join(r.errors) or "ok",
            )
        )
    dtypes = (str, float, float, float, int, bool, float, float, float, str)
    t = Table(rows=rows or None, names=FRAME_COLUMNS, dtype=dtypes)
    t["fwhm"].unit = "pix"
    t["astrometric_rms_arcsec"].unit = "arcsec"
    t["zero_point"].unit = t["zero_point_err"].unit = "mag"
    return t
