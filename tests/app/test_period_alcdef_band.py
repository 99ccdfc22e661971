"""``fluxion period``'s ALCDEF says the band the magnitudes are in, not an assumed V.

A curve against comparison stars (``fluxion run`` on an unfiltered night
without zero points) is differential and in the filter's own light: ALCDEF's
MAGBAND is then the filter's code (C for "Open", the Seestar's IRCUT) and
DIFFERMAGS is TRUE; a calibrated curve is in the catalogue band it names.
The curves here are a rotating asteroid's, written as ``fluxion run`` writes
them (columns and meta).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.cli import main

PERIOD_H = 3.58  # 2713 Luxembourg's, about


def _curve(path: Path, *, filter: str, differential: bool, band: str = "") -> Path:
    rng = np.random.default_rng(7)
    jd = 2458404.5 + np.arange(60) * 180.0 / 86400.0 * 1.2
    mag = 0.29 * np.sin(4 * np.pi * (jd - jd[0]) * 24 / PERIOD_H) + rng.normal(0, 0.01, jd.size)
    t = Table({"jd_utc": jd, "mag": mag - 8.0, "mag_err": np.full(jd.size, 0.01)})
    t["calibrated"] = np.full(jd.size, not differential)
    t.meta["filter"] = filter
    if differential:
        t.meta["magnitude_scale"] = "differential: the target's instrumental magnitude"
    if band:
        t.meta["band"] = band
    t.write(path)
    return path


def _alcdef(curve: Path, out: Path, *extra: str) -> dict[str, str]:
    args = [
        "period", str(curve), "--out", str(out), "--min", "2", "--max", "6",
        "--number", "2713", "--contact-name", "A. Observer", "--contact-info", "a@example.org",
        "--observers", "A. Observer", "--obscode", "W12", *extra,
    ]  # fmt: skip
    assert main(args) == 0
    lines = (out / "alcdef.txt").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("DATA"))


@pytest.mark.parametrize("filter, code", [("Open", "C"), ("IRCUT", "C"), ("R", "R")])
def test_a_differential_curve_is_in_its_filters_band(tmp_path, filter, code):
    fields = _alcdef(_curve(tmp_path / "lc.ecsv", filter=filter, differential=True), tmp_path / "o")
    assert fields["MAGBAND"] == code
    assert fields["FILTER"] == code
    assert fields["DIFFERMAGS"] == "TRUE"


def test_a_calibrated_curve_is_in_its_catalogue_band(tmp_path):
    curve = _curve(tmp_path / "lc.ecsv", filter="Open", differential=False, band="R")
    fields = _alcdef(curve, tmp_path / "o")
    assert (fields["MAGBAND"], fields["FILTER"], fields["DIFFERMAGS"]) == ("R", "C", "FALSE")
    # The option still wins.
    fields = _alcdef(curve, tmp_path / "o2", "--band", "V")
    assert fields["MAGBAND"] == "V"
