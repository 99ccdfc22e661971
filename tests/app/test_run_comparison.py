"""``fluxion run`` measures against comparison stars when its zero points cannot carry the curve.

The truth is the simulator's: the eclipsing binary's V magnitude in every
light. Its copy with FILTER 'Filter 2' (a filter slot's name, no band) has no
zero points, so the target's instrumental magnitudes carry the simulated
extinction (0.2 mag per airmass); the run then divides it by an ensemble of
the night's stars, which must follow the truth up to a constant, with
errors the residuals agree with.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from night_helpers import edited_copy, run_args, slot_named

from fluxion.app.cli import main
from fluxion.core.chain.comparison_curve import comparison_reason
from fluxion.core.chain.weak_zeropoint import weak_note, weak_zero_point
from fluxion.core.project.document import Project
from fluxion.core.simulation.simulate import NightConfig, simulate_night
from fluxion.core.transit.data import transit_data_from_table
from fluxion.core.zeropoint import ZeroPointParams

CONFIG = NightConfig(n_frames=16, shape=(320, 320), n_bias=3, n_dark=3, n_flat=3)


@pytest.fixture(scope="module")
def named_night(tmp_path_factory) -> Path:
    named = tmp_path_factory.mktemp("named")
    simulate_night(named, CONFIG)
    return named


@pytest.fixture(scope="module")
def slot_night(named_night, tmp_path_factory) -> Path:
    slot = tmp_path_factory.mktemp("slot") / "night"
    edited_copy(named_night, slot, slot_named)
    return slot


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
    # The filter's note tells the same story as the curve's: differential, not instrumental.
    band = next(x for x in said.splitlines() if x.startswith("zero points: filter 'Filter 2'"))
    assert said.index(band) < said.index(line)
    assert "instrumental" not in band and "uncalibrated" not in band
    lc = Table.read(project / "lightcurve.ecsv")
    # The eclipse, not the noise, makes the scatter: no radius is better by more than chance.
    assert lc.meta["aperture_choice"].startswith("aperture: the photometry step's 5.0 px")
    assert len(lc.meta["apertures_tried"]) == 7 and "aperture_radius" not in lc.meta
    n_comp = len(lc.meta["comparison_stars"])
    assert n_comp >= 3 and np.all(np.asarray(lc["n_comparison"]) == n_comp)
    assert f"light curve (differential magnitudes against {n_comp} comparison stars" in band
    assert lc.meta["comparison_reason"].startswith("only 0 of the 16 lights")
    # The scale the meta names: the target's instrumental magnitude, each light's
    # transparency taken out (the ensemble against its night median, so ~0 at the median).
    assert lc.meta["magnitude_scale"].startswith("differential: the target's instrumental")
    own = np.asarray(lc["mag"], float) + 2.5 * np.log10(np.asarray(lc["flux"], float))
    assert abs(float(np.median(own))) < 0.05, own

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
    band = next(x for x in said.splitlines() if x.startswith("zero points: filter 'Filter 2'"))
    assert "the light curve (uncalibrated, instrumental magnitudes) are done" in band
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
        # The target's own error: 0.005 mag.
        return Table(
            {"flux": np.ones(n), "flux_err": np.full(n, 0.005 / 1.0857),
             "calibrated": np.array(calibrated, bool)}
        )  # fmt: skip

    assert comparison_reason(curve([True] * 10), "auto") == ""
    assert comparison_reason(curve([True] * 5 + [False] * 5), "auto") == ""
    assert "only 4 of the 10" in comparison_reason(curve([True] * 4 + [False] * 6), "auto")
    assert comparison_reason(curve([True] * 10), "on") == "asked for (--comparison on)"
    assert comparison_reason(curve([False] * 10), "off") == ""
    # Zero points far noisier than the target (TrES-1 against Tycho-2): comparison stars.
    noisy = comparison_reason(curve([True] * 10), "auto", np.full(10, 0.095))
    assert noisy.startswith("the zero points are uncertain by 0.095 mag (median), 19 times")
    # A night's many-star zero points, or noisy ones with a target as noisy: kept.
    assert comparison_reason(curve([True] * 10), "auto", np.full(10, 0.012)) == ""
    assert comparison_reason(curve([True] * 10), "auto", np.full(10, np.nan)) == ""
    with pytest.raises(ValueError, match="use one of auto, on, off"):
        comparison_reason(curve([True]), "sometimes")


def _four_star_catalog(catalog_file: Path, used: Table, dest: Path) -> Path:
    """The night's reference catalog with magnitudes for four of the stars a light calibrated on.

    Every star keeps its position, so the lights are solved as before; only
    four can calibrate, as in a field with a bright-star catalog's few.
    """
    catalog = Table.read(catalog_file)
    rows = [int(r) for r in used["catalog_row"][np.asarray(used["used"], bool)][:4]]
    assert len(set(rows)) == 4
    others = np.ones(len(catalog), bool)
    others[rows] = False
    for band in ("B", "V"):
        for column in (band, f"{band}_err"):
            catalog[column] = np.where(others, np.nan, np.asarray(catalog[column], float))
    path = dest / "four_stars.ecsv"
    catalog.write(path)
    return path


def test_zero_points_of_four_stars_are_weak_and_the_curve_takes_the_comparison_stars(
    named_night, tmp_path, capsys
):
    """Four catalog stars a frame: zero points are fitted but not counted as calibrated.

    The window's Minimum stars lowered to 3 lets the zero point be fitted on
    four; the run keeps that setting and the zero points, and calls them weak.
    """
    project = tmp_path / "p"
    args = run_args(named_night, project)
    assert main(args) == 0
    used = Table.read(project / "magnitudes/light_0001.stars.ecsv")
    catalog = _four_star_catalog(Path(args[args.index("--catalog") + 1]), used, tmp_path)
    kept = Project.load(project)
    zp_params = kept.step_params("zeropoint", ZeroPointParams)
    kept.set_step_params("zeropoint", dataclasses.replace(zp_params, min_stars=3))
    kept.save(project)
    args[args.index("--catalog") + 1] = str(catalog)
    capsys.readouterr()
    assert main(args) == 1
    said = capsys.readouterr().out
    frames = Table.read(project / "frames.ecsv")
    n_weak = sum("weak zero point: " in s for s in frames["status"])
    # Fitted, kept in the frames' table, and weak (4 stars, or fewer after rejection);
    # a light whose four stars did not all fall on it has none.
    assert n_weak >= 12
    for row in frames:
        if "weak zero point: " in row["status"]:
            assert np.isfinite(row["zero_point"])
            assert "catalog stars (fewer than 5)" in row["status"]
        else:
            assert "not calibrated: " in row["status"]
    line = next(x for x in said.splitlines() if "too weak to count as calibrated" in x)
    assert line.startswith(f"zero points: {n_weak} of 16 lights (light_00")
    lc = Table.read(project / "lightcurve.ecsv")
    assert np.sum(np.asarray(lc["calibrated"], bool)) <= 1
    assert (
        "of the 16 lights that measured the target have a zero point"
        in (lc.meta["comparison_reason"])
    )


def test_a_weak_zero_point_is_told_by_its_stars_and_its_error():
    assert weak_zero_point(3, 0.02) == "3 catalog stars (fewer than 5)"
    assert weak_zero_point(12, 0.15) == "error 0.150 mag (above 0.1)"
    assert weak_zero_point(2, 0.19).count(" and ") == 1
    assert (
        weak_zero_point(5, 0.1) == ""
        and weak_zero_point(40, 0.06) == ""
        and weak_zero_point(40, float("nan")) == ""
    )
    assert weak_note([], 10) == ""
    note = weak_note([(f"f{k}", "3 catalog stars (fewer than 5)") for k in range(5)], 9)
    assert note.startswith("zero points: 5 of 9 lights (f0, f1, f2 and 2 more)")
