"""``fluxion transit``: a light curve in, transit.json, reports and plots out."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.reports.aavso_exoplanet import check_aavso_exoplanet, parse_aavso_exoplanet
from fluxion.core.simulation.transit_lightcurve import simulate_transit_light_curve

TRES1 = ["--period", "3.0300689", "--t0", "2455489.66026", "--t0-err", "0.00044"]


@pytest.fixture(scope="module")
def light_curve(tmp_path_factory):
    table, truth = simulate_transit_light_curve(seed=21)
    path = tmp_path_factory.mktemp("lc") / "sim.ecsv"
    table.write(path, format="ascii.ecsv")
    return path, truth


def test_transit_command_writes_every_product(light_curve, tmp_path, capsys):
    path, truth = light_curve
    out = tmp_path / "fit"
    rc = main(["transit", str(path), "--out", str(out), *TRES1, "--filter", "V", "--teff",
               "5230", "--logg", "4.6", "--mcmc-steps", "1500", "--burn", "500", "--obscode",
               "ABC", "--name", "TrES-1 b"])  # fmt: skip
    assert rc == 0
    summary = json.loads((out / "transit.json").read_text())
    for key in ("tmid_bjd_tdb", "tmid_err", "rp_rs", "rp_rs_err", "a_rs", "inc_deg", "depth",
                "residual_rms", "beta", "detrending", "bic"):  # fmt: skip
        assert key in summary, key
    assert abs(summary["tmid_bjd_tdb"] - truth["tmid"]) < 3 * summary["tmid_err"]
    assert abs(summary["rp_rs"] - truth["rp_rs"]) < 3 * summary["rp_rs_err"]
    assert summary["method"] == "emcee" and summary["detrending"] == ["airmass"]
    assert summary["timing"]["epoch"] == 200
    # The residual rms is the simulated noise (3 ppt) to within its scatter.
    assert summary["residual_rms"] == pytest.approx(truth["noise"], rel=0.15)
    assert summary["aavso_report_problems"] == []
    # No geometry given: the notes say how to give it, offline too.
    (said,) = [n for n in summary["notes"] if n.startswith("no a/Rs or inclination known")]
    assert "--a-rs A+-ERR" in said and "--planet NAME" in said
    text = (out / "aavso_exoplanet_report.txt").read_text()
    params, header, rows = parse_aavso_exoplanet(text)
    assert params["EXOPLANET_NAME"] == "TrES-1 b" and params["STAR_NAME"] == "TrES-1"
    assert params["DETREND_PARAMETERS"] == "AIRMASS" and header[-1] == "DETREND_1"
    assert len(rows) == summary["n_points"]
    model = Table.read(out / "transit_model.ecsv")
    assert len(model) == len(Table.read(path)) and "detrended" in model.colnames
    assert "Mid-time (BJD_TDB)" in (out / "exoclock.txt").read_text()
    for name in ("lightcurve", "binned", "systematics", "rms_vs_bin"):
        assert (out / "plots" / f"{name}.ecsv").is_file()
        # Qt is installed with the app: the PNGs are drawn off screen.
    assert (out / "plots" / "lightcurve.png").stat().st_size > 5000
    assert "mid-transit" in capsys.readouterr().out


def test_a_bare_light_curve_of_time_flux_and_error_fits(tmp_path, light_curve):
    path, truth = light_curve
    t = Table.read(path)
    bare = Table(
        {"bjd_tdb": t["bjd_tdb"], "flux": 1000 * t["flux"], "flux_err": 1000 * t["flux_err"]}
    )
    bare.write(tmp_path / "bare.csv", format="ascii.csv")
    out = tmp_path / "fit"
    rc = main(["transit", str(tmp_path / "bare.csv"), "--out", str(out), *TRES1,
               "--mcmc-steps", "0", "--no-png"])  # fmt: skip
    assert rc == 0
    summary = json.loads((out / "transit.json").read_text())
    # No airmass column: the trend is taken by the time polynomial instead.
    assert set(summary["detrending"]) <= {"time", "time2"} and summary["detrending"]
    assert abs(summary["tmid_bjd_tdb"] - truth["tmid"]) < 3 * summary["tmid_err"]
    assert not (out / "plots" / "lightcurve.png").exists()
    # Without an observer code and a known filter the report is kept and its gaps named.
    problems = summary["aavso_report_problems"]
    assert "#OBSCODE= is empty" in problems and any("FILTER" in p for p in problems)


def test_bad_inputs_say_what_is_wrong(tmp_path, light_curve, capsys):
    path, _ = light_curve
    assert main(["transit", str(tmp_path / "none.ecsv"), "--out", str(tmp_path / "o"), *TRES1]) == 2
    assert "none.ecsv: no such file" in capsys.readouterr().err
    assert main(["transit", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "give --period and --t0, or --planet" in capsys.readouterr().err
    rc = main(["transit", str(path), "--out", str(tmp_path / "o"), "--period", "3.0300689",
               "--t0", "2455489.0"])  # fmt: skip
    assert rc == 2
    assert "not in the light curve" in capsys.readouterr().err


def test_aavso_checker_finds_each_departure():
    good = (
        "#TYPE=EXOPLANET\n#OBSCODE=ABC\n#SOFTWARE=x\n#DELIM=,\n#DATE_TYPE=BJD_TDB\n#OBSTYPE=CCD\n"
        "#STAR_NAME=TrES-1\n#EXOPLANET_NAME=TrES-1 b\n#BINNING=1x1\n#EXPOSURE_TIME=60\n"
        "#FILTER=V\n#DETREND_PARAMETERS=AIRMASS\n#MEASUREMENT_TYPE=Rnflux\n"
        "#DATE,DIFF,ERR,DETREND_1\n2456095.6,1.0,0.003,1.2\n2456095.61,0.99,0.003,1.19\n"
    )
    assert check_aavso_exoplanet(good) == []
    assert "#FILTER=Q is not an AAVSO filter code" in check_aavso_exoplanet(
        good.replace("#FILTER=V", "#FILTER=Q"))  # fmt: skip
    assert "missing required parameter #OBSCODE=" in check_aavso_exoplanet(
        good.replace("#OBSCODE=ABC\n", ""))  # fmt: skip
    assert any("dates must increase" in p for p in check_aavso_exoplanet(
        good.replace("2456095.61", "2456095.59")))  # fmt: skip
    assert any("not a full BJD" in p for p in check_aavso_exoplanet(
        good.replace("2456095.6,", "56095.6,")))  # fmt: skip
    assert any(
        "DETREND column" in p
        for p in check_aavso_exoplanet(
            good.replace("#DETREND_PARAMETERS=AIRMASS", "#DETREND_PARAMETERS=AIRMASS,FWHM")
        )
    )
    assert np.any(["error must be positive" in p for p in check_aavso_exoplanet(
        good.replace(",0.003,1.2", ",0,1.2"))])  # fmt: skip


def test_the_geometry_given_is_held_or_a_prior(light_curve, tmp_path, capsys):
    path, truth = light_curve
    base = ["transit", str(path), *TRES1, "--filter", "V", "--mcmc-steps", "0", "--no-png"]
    held = tmp_path / "held"
    assert main([*base, "--out", str(held), "--a-rs", f"{truth['a_rs']}",
                 "--inclination", f"{truth['inc_deg']}"]) == 0  # fmt: skip
    fit = json.loads((held / "transit.json").read_text())
    assert "a_rs" not in fit["free_parameters"] and "b" not in fit["free_parameters"]
    assert fit["a_rs"] == pytest.approx(truth["a_rs"]) and fit["b"] == pytest.approx(truth["b"])
    assert abs(fit["rp_rs"] - truth["rp_rs"]) < 3 * fit["rp_rs_err"]
    assert "(held)" in capsys.readouterr().out
    prior = tmp_path / "prior"
    assert main([*base, "--out", str(prior), "--a-rs", f"{truth['a_rs']}+-0.3",
                 "--impact", f"{truth['b']}+-0.05"]) == 0  # fmt: skip
    fit = json.loads((prior / "transit.json").read_text())
    assert fit["priors"]["a_rs"] == {"mean": pytest.approx(truth["a_rs"]), "sigma": 0.3}
    assert fit["priors"]["b"]["mean"] == pytest.approx(truth["b"])
    assert fit["priors"]["b"]["sigma"] == pytest.approx(0.05)
    assert abs(fit["rp_rs"] - truth["rp_rs"]) < 3 * fit["rp_rs_err"]
    # The period is the user's; the priors are said to come from the command line.
    assert (
        "a/Rs (prior 10.500 +/- 0.300, a/Rs and impact parameter from the command line)"
        in (fit["notes"][0])
    )
    assert "held: period 3.0300689 d (user)" in fit["notes"][0]
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "x"), "--a-rs", "10+-1", "--inclination",
                 "88"]) == 2  # fmt: skip
    assert "errors on a/Rs only" in capsys.readouterr().err
