"""The AAVSO report of a project's light curve: the channel's code, calibrated frames only,
each magnitude's error with the scale's common error."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.reports import ExportError
from fluxion.core.reports.aavso import format_aavso_light_curve, standard_magnitude_err


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


def test_a_clear_filter_is_cv_or_cr_by_its_zero_point_and_an_unknown_one_is_refused():
    text = format_aavso_light_curve(_curve("Clear", [True]), "SS Cyg", obscode="x")
    assert ",CV," in text
    # A UV/IR-cut window is clear light; zero-pointed to R it is AAVSO's CR.
    ircut = _curve("IRCUT", [True])
    ircut.meta["band"] = "R"
    assert ",CR," in format_aavso_light_curve(ircut, "SS Cyg", obscode="x")
    with pytest.raises(ExportError, match="'Filter 2' has no AAVSO filter code"):
        format_aavso_light_curve(_curve("Filter 2", [True]), "SS Cyg", obscode="x")


def test_instrumental_magnitudes_are_never_reported():
    with pytest.raises(ExportError, match="instrumental"):
        format_aavso_light_curve(_curve("TG", [False, False], "G"), "SS Cyg", obscode="x")


def test_the_magnitude_scale_error_is_in_each_reported_error():
    curve = _curve("V", [True, True])
    assert standard_magnitude_err(curve) == pytest.approx([0.01, 0.01])
    # Against comparison stars of known magnitude: their catalogue error.
    curve.meta["magnitude_scale_err"] = 0.02
    assert standard_magnitude_err(curve) == pytest.approx(np.hypot(0.01, 0.02))
    # A calibrated night's common error as well.
    curve["mag_err_sys"] = [0.03, np.nan]
    expected = [np.sqrt(0.01**2 + 0.02**2 + 0.03**2), np.hypot(0.01, 0.02)]
    assert standard_magnitude_err(curve) == pytest.approx(expected)
    text = format_aavso_light_curve(curve, "SS Cyg", obscode="x")
    rows = [r.split(",") for r in text.splitlines() if not r.startswith("#")]
    assert [r[3] for r in rows] == [f"{e:.3f}" for e in expected]
