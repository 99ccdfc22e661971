"""A first ``fluxion run FOLDER`` without a target says how to get the light curve.

A new user's first run of a night (TrES-1's folder, as it comes) names no
target: the run measured every light and ended without a word about a light
curve, while its filter note said "Calibration, astrometry, photometry and
the light curve (uncalibrated, instrumental magnitudes) are done". It now
says there is none, why, and the options that name the target; run again
with them, the night's steps are current and the curve is made. A target
that was given but could not be placed (``--target`` with lights left
unsolved, as the asteroid night offline) is said as such, with what still
works, not as no target.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from astropy.table import Table
from night_helpers import edited_copy, run_args, slot_named, step_counts

from fluxion.app.cli import main
from fluxion.core.chain import targets
from fluxion.core.chain.lightcurve import NO_TARGET_NOTE
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=4, shape=(300, 300), n_bias=1, n_dark=1, n_flat=1)


def _run(args: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(args)
    return out.getvalue()


def _without_target(args: list[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in ("--ra", "--dec"):
            skip = True
        else:
            out.append(a)
    return out


def test_a_run_without_a_target_says_how_to_get_its_light_curve(tmp_path: Path) -> None:
    simulate_night(tmp_path / "named", CONFIG)
    night, project = tmp_path / "night", tmp_path / "project"
    edited_copy(tmp_path / "named", night, slot_named)
    with_target = run_args(night, project)
    said = _run(_without_target(with_target))
    lines = said.splitlines()
    assert NO_TARGET_NOTE in lines
    assert "--ra RA --dec DEC" in NO_TARGET_NOTE and "--target NAME" in NO_TARGET_NOTE
    (band,) = [x for x in lines if x.startswith("zero points: filter 'Filter 2'")]
    assert band.endswith("Calibration, astrometry, photometry (instrumental) are done")
    assert not (project / "lightcurve.ecsv").exists()
    # Named, the curve is made and the night's calibration and detection are kept.
    again = _run(with_target)
    counts = step_counts(again)
    assert counts["calibration"] == (0, CONFIG.n_frames)
    assert counts["detection"] == (0, CONFIG.n_frames)
    assert NO_TARGET_NOTE not in again.splitlines()
    assert len(Table.read(project / "lightcurve.ecsv")) == CONFIG.n_frames


def test_a_target_that_cannot_be_placed_is_not_called_missing(tmp_path: Path, monkeypatch):
    simulate_night(tmp_path / "night", CONFIG)
    lights = sorted((tmp_path / "night").glob("light_*.fits"))
    # An asteroid's ephemeris with a light left unsolved: refused before any look-up.
    with pytest.raises(ValueError, match="1 of 2 were not") as refused:
        targets.ephemeris_target("2713")(lights[:2], [object(), None])
    assert "--positions FILE" in str(refused.value) and "click the target" in str(refused.value)

    def unsolved(name: str, observatory_code: str | None = None):
        def locate(lights, wcs):
            raise ValueError(str(refused.value))

        return locate

    monkeypatch.setattr(targets, "ephemeris_target", unsolved)
    args = [*_without_target(run_args(tmp_path / "night", tmp_path / "p")), "--target", "2713"]
    lines = _run(args).splitlines()
    assert f"no light curve: {refused.value}" in lines
    assert NO_TARGET_NOTE not in lines
