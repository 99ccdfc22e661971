"""``fluxion run --transit``: the simulated transit night measured and fitted in one command.

The transit lesson's night (``fluxion demo --kind transit``, seed 21: a 1.23 %
limb-darkened transit of 59 minutes, 8-minute ingress, period 3 d) is run
with the planet's ephemeris and its geometry held at the simulator's (a/Rs
and b from the contacts, ``transit_geometry``). The run ends with the fit:
its products in PROJECT/transit and its result in the notes. Measured: Rp/Rs
0.1013 +- 0.0053 (truth 0.1043), depth 1.18 +- 0.13 % (truth 1.23 %), chi2/N
0.94 before the errors were scaled (0.44 while the points' errors held the
frame's aperture-correction error); with a/Rs and b free (no geometry given)
the same night gave a grazing Rp/Rs 0.20 +- 0.13 and depth 1.40 +- 0.12 %.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table
from transit_helpers import written_transit

from fluxion.app.cli import main
from fluxion.core.simulation.variables import transit_relative_flux


@pytest.fixture(scope="module")
def transit_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run-transit")
    night, project = root / "night", root / "project"
    assert main(["demo", str(night), "--kind", "transit", "--size", "512", "512",
                 "--seed", "21"]) == 0  # fmt: skip
    tr = written_transit(night)
    config, host, k, a_rs, b = tr.config, tr.host, tr.k, tr.a_rs, tr.b
    import contextlib
    import io

    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        rc = main(["run", str(night), "--project", str(project), "--ra", str(host["ra"]),
                   "--dec", str(host["dec"]), "--no-report", "--transit",
                   "--period", str(config["transit_period"]), "--t0", f"{host['mid_jd']:.5f}",
                   "--a-rs", f"{a_rs:.4f}", "--impact", f"{b:.4f}", "--filter", "V",
                   "--mcmc-steps", "2500", "--burn", "800", "--name", "Lesson b"])  # fmt: skip
    assert rc == 0
    truth = {"rp_rs": k, "a_rs": a_rs, "b": b, "depth": config["transit_depth"],
             "mid_jd_utc": host["mid_jd"], "config": config}  # fmt: skip
    return project, said.getvalue(), truth


def test_the_run_fits_the_transit_and_recovers_the_injected_depth(transit_run):
    project, said, truth = transit_run
    fit = json.loads((project / "transit" / "transit.json").read_text())
    assert fit["method"] == "emcee" and fit["planet"] == "Lesson b"
    # The geometry was held at the simulator's: the depth is measured, within its error.
    assert "a_rs" not in fit["free_parameters"]
    assert fit["a_rs"] == pytest.approx(truth["a_rs"], rel=1e-3)
    assert abs(fit["depth"] - truth["depth"]) < 2 * fit["depth_err"]
    assert fit["depth_err"] < 0.002
    assert abs(fit["rp_rs"] - truth["rp_rs"]) < 2 * fit["rp_rs_err"]
    # The mid-time: the truth is in JD UTC, the curve in BJD_TDB (minutes apart).
    lc = Table.read(project / "lightcurve.ecsv")
    to_bjd = float(np.median(np.asarray(lc["bjd_tdb"]) - np.asarray(lc["jd_utc"])))
    assert abs(fit["tmid_bjd_tdb"] - (truth["mid_jd_utc"] + to_bjd)) < 3 * fit["tmid_err"]
    for name in ("transit_model.ecsv", "aavso_exoplanet_report.txt", "exoclock.txt"):
        assert (project / "transit" / name).is_file(), name
    # The notes say the result.
    (line,) = [x for x in said.splitlines() if x.startswith("transit: Rp/Rs")]
    assert f"depth {fit['depth'] * 100:.2f} +/- {fit['depth_err'] * 100:.2f} %" in line
    assert f"chi2/N {fit['noise_scale'] ** 2:.2f}" in line and "mid-time" in line
    assert "(held)" in said
    # Honest point errors: the fit's chi2/N before scaling is near 1 (30 points: +-0.26);
    # with the frame's aperture-correction error in each point it was 0.44.
    assert 0.5 < fit["noise_scale"] ** 2 < 1.6


def test_a_transit_without_its_planet_is_refused_before_the_night(tmp_path, capsys):
    night = tmp_path / "night"
    night.mkdir()
    (night / "x.fits").write_bytes(b"")
    rc = main(["run", str(night), "--project", str(tmp_path / "p"), "--ra", "10", "--dec",
               "20", "--transit"])  # fmt: skip
    assert rc == 2
    assert "--transit needs the planet" in capsys.readouterr().err
    rc = main(["run", str(night), "--project", str(tmp_path / "p"), "--ra", "10", "--dec",
               "20", "--period", "3", "--t0", "2460000.5", "--a-rs", "10+-1",
               "--inclination", "88"])  # fmt: skip
    assert rc == 2
    assert "errors on a/Rs only" in capsys.readouterr().err
    assert not (tmp_path / "p" / "project.json").exists()


def test_a_curve_without_the_transit_says_why_it_was_not_fitted(transit_run, tmp_path):
    import argparse

    from fluxion.app.commands.run_transit import run_transit_fit
    from fluxion.core.transit.ephemeris import Ephemeris

    project, _, _ = transit_run
    lc = Table.read(project / "lightcurve.ecsv")
    args = argparse.Namespace(
        transit_ephemeris=(Ephemeris(period=3.0, t0=2460001.5), "auto"), teff=None, logg=None,
        feh=None, filter="V", planet=None, limb_darkening="prior", max_regressors=3,
        mcmc_steps=0, burn=0, seed=1, no_report=True,
    )  # fmt: skip
    (line,) = run_transit_fit(args, lc, tmp_path)
    assert line.startswith("transit: not fitted: the light curve: the predicted transit")
    assert run_transit_fit(args, None, tmp_path) == [
        "transit: not fitted: the run made no light curve (see the notes above)"
    ]


def test_the_calibrated_curve_errors_are_its_scatter_against_the_truth(transit_run):
    """The points' errors are honest: pulls against the injected transit are 0.8-1.2 wide.

    The curve's flux is the target's counts, its baseline the night's extinction
    (a line in airmass and time, as the fit's detrending): the frame's
    aperture-correction error, common to every source of the frame, is not in
    the points' errors. Counted there it gave pull width 0.66 (chi2/N 0.47).
    """
    project, _, truth = transit_run
    config = truth["config"]
    lc = Table.read(project / "lightcurve.ecsv")
    model = transit_relative_flux(
        np.asarray(lc["jd_utc"], float), truth["mid_jd_utc"], config["transit_duration"] / 1440,
        config["transit_ingress"] / 1440, config["transit_depth"],
        (config["transit_u1"], config["transit_u2"]), config["transit_period"],
    )  # fmt: skip
    flux, err = np.asarray(lc["flux"], float), np.asarray(lc["flux_err"], float)
    ok = np.isfinite(flux) & np.isfinite(err) & (err > 0) & np.asarray(lc["calibrated"], bool)
    assert ok.sum() >= 25
    jd, airmass = np.asarray(lc["jd_utc"], float)[ok], np.asarray(lc["airmass"], float)[ok]
    base = np.column_stack([np.ones(ok.sum()), airmass, jd - jd.mean()])
    weight = model[ok] / err[ok]
    y = flux[ok] / model[ok]
    coef, *_ = np.linalg.lstsq(base * weight[:, None], y * weight, rcond=None)
    pulls = (y - base @ coef) * weight
    width = float(np.sqrt(np.sum(pulls**2) / (ok.sum() - base.shape[1])))
    assert 0.8 < width < 1.2, width


def test_a_rerun_fits_the_kept_planet_again(transit_run):
    """The ephemeris and geometry stay in project.json: the next run fits without --transit."""
    import contextlib
    import io

    from fluxion.core.project.document import Project

    project, _, truth = transit_run
    kept = Project.load(project).results["run"].summary["transit"]
    assert kept["ephemeris"]["name"] == "Lesson b" and kept["geometry"] == "fixed"
    (project / "transit" / "transit.json").unlink()
    host = json.loads((project.parent / "night" / "truth" / "lesson.json").read_text())
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        rc = main(["run", str(project.parent / "night"), "--project", str(project),
                   "--ra", str(host["targets"][0]["ra"]), "--dec", str(host["targets"][0]["dec"]),
                   "--no-report", "--mcmc-steps", "600", "--burn", "200"])  # fmt: skip
    assert rc == 0
    assert any(x.startswith("transit: Rp/Rs") for x in said.getvalue().splitlines())
    fit = json.loads((project / "transit" / "transit.json").read_text())
    assert fit["planet"] == "Lesson b" and "a_rs" not in fit["free_parameters"]
    assert fit["a_rs"] == pytest.approx(truth["a_rs"], rel=1e-3)
