"""The AAVSO report of a project's light curve: the channel's code, calibrated frames only."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.reports import ExportError
from fluxion.core.reports.aavso import format_aavso_light_curve


def _curve(filter_name: str, calibrated, channel: str | None = None) -> Table:
    n = len(calibrated)
    t = Table(
        {
            "jd_utc": 2460000.5 + np.arange(n) / 100,
            "mag": np.linspace(12.0, 12.2, n),
            "mag_err": np.full(n, 0.01),
            "calibrated": np.asarray(calibrated, bool),
            "airmass": np.full(n, 1.2),
        }
    )
    t.meta["filter"] = filter_name
    if channel:
        t.meta["channel"] = channel
    return t


def test_rows_of_calibrated_frames_with_the_channels_code():
    text = format_aavso_light_curve(_curve("TB", [True, False, True], "B"), "SS Cyg", obscode="x")
    rows = [r.split(",") for r in text.splitlines() if not r.startswith("#")]
    assert [r[4] for r in rows] == ["TB", "TB"]
    assert [r[2] for r in rows] == ["12.000", "12.200"]
    assert rows[0][-1] == "colour camera B channel" and rows[0][6] == "STD"


def test_a_clear_filter_is_cv_and_an_unknown_one_is_refused():
    text = format_aavso_light_curve(_curve("Clear", [True]), "SS Cyg", obscode="x")
    assert ",CV," in text
    with pytest.raises(ExportError, match="'IRCUT' has no AAVSO filter code"):
        format_aavso_light_curve(_curve("IRCUT", [True]), "SS Cyg", obscode="x")


def test_instrumental_magnitudes_are_never_reported():
    with pytest.raises(ExportError, match="instrumental"):
        format_aavso_light_curve(_curve("TG", [False, False], "G"), "SS Cyg", obscode="x")
