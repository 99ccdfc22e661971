"""A UV/IR-cut window (the Seestar's 'IRCUT') is clear light in the AAVSO report, as calibrated.

The calibration takes IRCUT for unfiltered light and zero-points it to its
clear band (R unless told); AAVSO's codes for clear are CV with a V zero
point and CR with an R one (AAVSO band codes, "Unfiltered with a V/Red
zeropoint"). The AAVSO export refused IRCUT ("no AAVSO filter code"). Here a
simulated night whose FILTER is IRCUT, run with its own catalog (B and V)
and --band V, so CV, and the real Seestar frames' own FILTER card.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from night_helpers import edited_copy, run_args

from fluxion.app.cli import main
from fluxion.core.reports.aavso_exoplanet import aavso_filter_code
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=3, shape=(256, 256), n_bias=2, n_dark=2, n_flat=2, asteroid=False)


def _ircut(header: fits.Header) -> bool:
    if "FILTER" not in header:
        return False
    header["FILTER"] = "IRCUT"
    return True


@pytest.fixture(scope="module")
def ircut_night(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ircut")
    simulate_night(root / "named", CONFIG)
    edited_copy(root / "named", root / "night", _ircut)
    return root / "night"


def test_an_ircut_night_is_reported_as_clear_with_its_zero_points_band(ircut_night, tmp_path):
    report = tmp_path / "aavso.txt"
    args = run_args(ircut_night, tmp_path / "p", "--band", "V", "--aavso", str(report),
                    "--aavso-code", "XYZ", "--object", "V0001 Cyg")  # fmt: skip
    assert main(args) == 0
    lc = Table.read(tmp_path / "p/lightcurve.ecsv")
    assert lc.meta["band"] == "V" and lc.meta["filter"] == "IRCUT"
    assert np.all(lc["calibrated"])
    rows = [r for r in report.read_text().splitlines() if not r.startswith("#")]
    assert len(rows) == CONFIG.n_frames
    assert all(r.split(",")[4] == "CV" for r in rows), rows


def test_clear_light_to_a_band_the_catalog_lacks_names_the_catalogs_bands(ircut_night, tmp_path):
    # Clear light is zero-pointed to R by default; the night's catalog has B and V only.
    assert main(run_args(ircut_night, tmp_path / "p")) == 1
    status = set(Table.read(tmp_path / "p/frames.ecsv")["status"])
    assert status == {
        "not calibrated: catalog unknown has no R magnitudes and no transformation to R "
        "from its bands (B, V)"
    }


def test_clear_filters_codes():
    assert aavso_filter_code("IRCUT", "V") == "CV"
    assert aavso_filter_code("UV/IR Cut", "R") == "CR"
    assert aavso_filter_code("Open", "R") == "CR"
    # Relative flux (an exoplanet report): no zero point, AAVSO's clear.
    assert aavso_filter_code("Clear") == "CV"
    # Clear light zero-pointed to B has no AAVSO code: the export says so.
    assert aavso_filter_code("IRCUT", "B") == ""
    assert aavso_filter_code("V", "V") == "V" and aavso_filter_code("r'") == "SR"


def test_the_seestars_own_filter_card_is_clear(shared_data):
    first = sorted((shared_data / "seestar-osc").glob("*.fit"))[0]
    name = fits.getheader(first)["FILTER"]
    assert name == "IRCUT"
    assert aavso_filter_code(name, "V") == "CV" and aavso_filter_code(name, "R") == "CR"
