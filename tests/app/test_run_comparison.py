"""``fluxion run`` measures against comparison stars when its zero points cannot carry the curve.

The truth is the simulator's: the eclipsing binary's V magnitude in every
light. Its copy with FILTER 'Filter 2' (a filter slot's name, no band) has no
zero points, so the target's instrumental magnitudes carry the simulated
extinction (0.2 mag per airmass); the run then divides it by an ensemble of
the night's stars, which must follow the truth up to a constant, with
errors the residuals agree with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from night_helpers import edited_copy, run_args

from fluxion.app.cli import main
from fluxion.core.chain.comparison_curve import comparison_reason
from fluxion.core.simulation.simulate import NightConfig, simulate_night
from fluxion.core.transit.data import transit_data_from_table

CONFIG = NightConfig(n_frames=16, shape=(320, 320), n_bias=3, n_dark=3, n_flat=3)


@pytest.fixture(scope="module")
def slot_night(tmp_path_factory) -> Path:
    named = tmp_path_factory.mktemp("named")
    simulate_night(named, CONFIG)
    slot = tmp_path_factory.mktemp("slot") / "night"
    edited_copy(named, slot, _slot_named)
    return slot


def _slot_named(header: fits.Header) -> bool:
    if "FILTER" not in header:
        return False
    header["FILTER"] = "Filter 2"
    return True


def _truth(night: Path) -> np.ndarray:
    return np.array(
        [
            float((t := Table.read(night / f"truth/light_{k:04d}.ecsv"))[t["kind"] == "eclipsing"][
                "mag_V"
            ][0])
            for k in range(1, CONFIG.n_frames + 1)
        ]
    )  # fmt: skip


def test_an_uncalibrated_night_is_measured_against_comparison_stars(slot_night, tmp_path, capsys):
    project = tmp_path / "p"
    assert main(run_args(slot_night, project)) == 1  # no zero points: frames not fully done
    said = capsys.readouterr().out
    line = next(x for x in said.splitlines() if x.startswith("light curve: against "))
    assert "because only 0 of the 16 lights that measured the target have a zero point" in line
    lc = Table.read(project / "lightcurve.ecsv")
    n_comp = len(lc.meta["comparison_stars"])
    assert n_comp >= 3 and np.all(np.asarray(lc["n_comparison"]) == n_comp)
    assert lc.meta["comparison_reason"].startswith("only 0 of the 16 lights")

    truth = _truth(slot_night)
    mag, err = np.asarray(lc["mag"], float), np.asarray(lc["mag_err"], float)
    assert np.all(np.isfinite(mag)) and np.all(err > 0)
    resid = mag - truth
    resid -= np.median(resid)
    # The eclipse and the extinction are both in the frames; only the truth's shape is left.
    assert np.ptp(truth) > 10 * np.median(err)
    chi2 = float(np.mean(((resid - np.mean(resid)) / err) ** 2))
    # 16 points: chi2/N is known to about +-0.36 (sqrt(2/15)); 3 sigma about 1.
    assert 0.25 < chi2 < 2.1, chi2
    assert np.max(np.abs(resid)) < 5 * np.median(err)

    # The instrumental curve the run had before it carried the extinction the ensemble took out.
    assert main([*run_args(slot_night, project), "--comparison", "off"]) == 1
    said = capsys.readouterr().out
    assert "light curve: against " not in said
    raw = Table.read(project / "lightcurve.ecsv")
    assert "comparison_stars" not in raw.meta
    raw_resid = np.asarray(raw["mag"], float) - truth
    assert np.ptp(raw_resid) > np.ptp(resid)

    # The transit fit reads the comparison curve as differential magnitudes.
    data = transit_data_from_table(lc, "the run's curve")
    assert data.source.startswith("mag (differential") and len(data) >= 15
    assert "comp_flux" in data.columns


def test_the_path_is_chosen_by_the_calibrated_share():
    def curve(calibrated):
        n = len(calibrated)
        return Table({"flux": np.ones(n), "calibrated": np.array(calibrated, bool)})

    assert comparison_reason(curve([True] * 10), "auto") == ""
    assert comparison_reason(curve([True] * 5 + [False] * 5), "auto") == ""
    assert "only 4 of the 10" in comparison_reason(curve([True] * 4 + [False] * 6), "auto")
    assert comparison_reason(curve([True] * 10), "on") == "asked for (--comparison on)"
    assert comparison_reason(curve([False] * 10), "off") == ""
    with pytest.raises(ValueError, match="use one of auto, on, off"):
        comparison_reason(curve([True]), "sometimes")
