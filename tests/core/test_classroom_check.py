"""Check my answer: right answers pass, typical mistakes are found and named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.classroom.answers import Answer, read_answers, write_answers
from fluxion.core.classroom.check import check_project
from fluxion.core.classroom.check_answers import _expected
from fluxion.core.classroom.truth import TruthError, load_truth
from fluxion.core.project.document import Project
from fluxion.core.simulation.lessons import simulate_lesson

SMALL = {"shape": (256, 256), "n_bias": 1, "n_dark": 1, "n_flat": 1}


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """A small mixed night (asteroid, transit, eclipsing binary) and its truth."""
    folder = tmp_path_factory.mktemp("night")
    simulate_lesson(folder, "mixed", "normal", seed=4, **SMALL)
    return load_truth(folder)


def _project(tmp_path, truth, targets=(), answers=None, frames=None):
    project = Project.from_inputs([truth.folder])
    project.targets = [dict(t) for t in targets]
    project.save(tmp_path / "project")
    if answers is not None:
        write_answers(tmp_path / "project", answers)
    if frames is not None:
        frames.write(tmp_path / "project" / "frames.ecsv", format="ascii.ecsv")
    return tmp_path / "project"


def _by_name(report):
    return {f.name: f for f in report.findings}


def _clicks(truth, rng, sigma, wrong=()):
    out = []
    for i, file in enumerate(truth.files):
        x, y = truth.asteroid_xy(i)
        dx, dy = rng.normal(0, sigma, 2)
        if i in wrong:
            dx += 40.0
        out.append({"frame": i, "file": file, "x": x + dx, "y": y + dy, "sigma": sigma})
    return out


def test_a_careful_track_is_good_and_a_wrong_click_is_named(tmp_path, night):
    rng = np.random.default_rng(1)
    from fluxion.core.classroom.check_data import _centroid_error

    sigma = _centroid_error(night, "asteroid") / np.sqrt(2)
    good = {"name": "ast", "kind": "moving", "clicks": _clicks(night, rng, sigma)}
    f = _by_name(check_project(_project(tmp_path / "a", night, [good])))
    assert f["track_rms_px"].verdict == "good"
    assert f["track_rms_px"].measured < 3 * f["track_rms_px"].expected_error
    assert f["track_rms_arcsec"].measured == pytest.approx(1.2 * f["track_rms_px"].measured)

    bad = {"name": "ast", "kind": "moving", "clicks": _clicks(night, rng, sigma, wrong=(5,))}
    f = _by_name(check_project(_project(tmp_path / "b", night, [bad])))
    assert f["track_rms_px"].verdict == "off"
    text = " ".join(f["track_rms_px"].explanation)
    assert "not on the asteroid" in text and night.files[5] in text


def _curve(truth, kind, rng, sigma, extra=None, xy=None):
    jd = np.asarray(truth.night.times.jd)
    mag = truth.true_magnitudes(kind, jd) + 0.37 + rng.normal(0, sigma, len(jd))
    if extra is not None:
        mag = mag + extra
    t = Table({"file": truth.files, "jd_utc": jd, "mag": mag, "mag_err": np.full(len(jd), sigma)})
    if xy is not None:
        t["x"], t["y"] = xy
    t["calibrated"] = np.zeros(len(jd), bool)
    return t


def _with_curve(tmp_path, truth, target, table):
    folder = _project(tmp_path, truth, [{**target, "light_curve": "lc.ecsv"}])
    table.write(folder / "lc.ecsv", format="ascii.ecsv")
    return _by_name(check_project(folder))


def test_an_honest_light_curve_is_good(tmp_path, night):
    ra, dec = night.variable_sources()["transit"]
    sigma = 1.0857 / night.target("transit")["snr_median"]
    table = _curve(night, "transit", np.random.default_rng(2), sigma)
    f = _with_curve(tmp_path, night, {"name": "host", "kind": "fixed", "ra": ra, "dec": dec}, table)
    assert f["transit_lightcurve_chi2"].verdict == "good"
    assert f["transit_lightcurve_scatter"].verdict == "good"
    assert "transit_magnitude" not in f  # differential: no zero point to check


def test_a_variable_comparison_star_is_found(tmp_path, night):
    ra, dec = night.variable_sources()["transit"]
    jd = np.asarray(night.night.times.jd)
    binary = night.true_magnitudes("eclipsing", jd)
    # A fifth of the ensemble's light from the eclipsing binary: the target
    # seems to brighten as the binary fades.
    extra = -0.2 * (binary - binary.mean())
    table = _curve(night, "transit", np.random.default_rng(3), 0.003, extra=extra)
    f = _with_curve(tmp_path, night, {"name": "host", "kind": "fixed", "ra": ra, "dec": dec}, table)
    chi2 = f["transit_lightcurve_chi2"]
    assert chi2.verdict == "off"
    text = " ".join(chi2.explanation)
    assert "variable star" in text and "eclipsing binary" in text


def test_no_flat_and_a_cosmic_ray_are_found(tmp_path, night):
    n = len(night.files)
    x = np.array([night.asteroid_xy(i)[0] for i in range(n)])
    y = np.array([night.asteroid_xy(i)[1] for i in range(n)])
    flat = night.night.flat_field
    xi, yi = np.clip(np.round(x).astype(int), 0, 255), np.clip(np.round(y).astype(int), 0, 255)
    unflat = -2.5 * np.log10(flat[yi, xi])
    assert np.ptp(unflat) > 0.01  # the path crosses the flat's structure
    table = _curve(night, "asteroid", np.random.default_rng(4), 0.001, extra=unflat, xy=(x, y))
    f = _with_curve(tmp_path / "a", night, {"name": "ast", "kind": "moving"}, table)
    assert "flat field" in " ".join(f["asteroid_lightcurve_chi2"].explanation)

    hit = np.zeros(n)
    hit[7] = -0.3  # a cosmic ray in the aperture: far too bright once
    table = _curve(night, "asteroid", np.random.default_rng(5), 0.01, extra=hit, xy=(x, y))
    f = _with_curve(tmp_path / "b", night, {"name": "ast", "kind": "moving"}, table)
    text = " ".join(f["asteroid_lightcurve_chi2"].explanation)
    assert "cosmic ray" in text and night.files[7] in text
    assert "flat field" not in text


def test_answers_right_and_wrong(tmp_path, night):
    rng = np.random.default_rng(6)
    names = ("transit_mid_bjd", "transit_depth", "eclipse_min_bjd", "asteroid_amplitude_mag",
             "asteroid_period_h")  # fmt: skip
    right = {}
    for name in names:
        true, err = _expected(night, name)
        right[name] = Answer(true + 0.5 * err * rng.standard_normal(), err)
    ra, dec = night.variable_sources()["eclipsing"]
    right["variable_ra"], right["variable_dec"] = Answer(ra + 1e-5), Answer(dec)
    f = _by_name(check_project(_project(tmp_path / "a", night, answers=right)))
    for name in (*names, "variable_identity"):
        assert f[name].verdict == "good", f[name].line()

    # One eclipse in a 90-minute night does not give the binary's period.
    assert _expected(night, "eclipsing_period_d") is None
    true_mid, err_mid = _expected(night, "transit_mid_bjd")
    star = night.night.catalog[0]
    wrong = {
        "transit_mid_bjd": Answer(true_mid + 10 / 1440, 2 / 1440),
        "variable_ra": Answer(float(star["ra"])),
        "variable_dec": Answer(float(star["dec"])),
    }
    f = _by_name(check_project(_project(tmp_path / "b", night, answers=wrong)))
    assert f["transit_mid_bjd"].verdict == "off"
    assert "+10 min" in " ".join(f["transit_mid_bjd"].explanation)
    assert "too small" in " ".join(f["transit_mid_bjd"].explanation)
    assert f["variable_identity"].verdict == "off"
    assert "constant" in " ".join(f["variable_identity"].explanation)
    # The time as JD (UTC), not BJD_TDB: said.
    mid_utc = night.target("transit")["mid_jd"]
    f = _by_name(check_project(_project(tmp_path / "d", night, answers={
        "transit_mid_bjd": Answer(mid_utc, err_mid)})))  # fmt: skip
    assert f["transit_mid_bjd"].verdict == "off"
    assert "JD (UTC)" in " ".join(f["transit_mid_bjd"].explanation)
    # An honest but loose answer is fair, not off.
    loose = {"transit_depth": Answer(_expected(night, "transit_depth")[0] * 1.5, 0.01)}
    f = _by_name(check_project(_project(tmp_path / "c", night, answers=loose)))
    assert f["transit_depth"].verdict == "fair"


def test_zero_points(tmp_path, night):
    zp = np.array([night.zero_point(i) for i in range(len(night.files))])
    rng = np.random.default_rng(7)
    frames = Table({"file": night.files, "zero_point": zp + rng.normal(0, 0.01, len(zp)),
                    "zero_point_err": np.full(len(zp), 0.01)})  # fmt: skip
    f = _by_name(check_project(_project(tmp_path / "a", night, frames=frames)))
    assert f["zero_point"].verdict == "good"
    frames["zero_point"] += 0.2
    f = _by_name(check_project(_project(tmp_path / "b", night, frames=frames)))
    assert f["zero_point"].verdict == "off"


def test_check_command_json_and_messages(tmp_path, night, capsys):
    ra, dec = night.variable_sources()["eclipsing"]
    folder = _project(tmp_path, night, answers={"variable_ra": Answer(ra),
                                                "variable_dec": Answer(dec)})  # fmt: skip
    assert main(["check", str(folder), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    entry = doc["quantities"][0]
    assert {"name", "measured", "true", "error", "expected_error", "verdict"} <= set(entry)
    assert entry["verdict"] == "good" and doc["lesson"]["kind"] == "mixed"
    assert main(["check", str(folder)]) == 0
    assert "1 good, 0 fair, 0 off" in capsys.readouterr().out
    # Not a simulated night: said, with the cause.
    plain = tmp_path / "plain"
    plain.mkdir()
    Project.from_inputs([plain]).save(tmp_path / "other")
    assert main(["check", str(tmp_path / "other")]) == 2
    assert "not made from a simulated night" in capsys.readouterr().err
    with pytest.raises(TruthError, match="not a simulated night"):
        load_truth(plain)
    (folder / "classroom.json").write_text("{not json")
    with pytest.raises(ValueError, match="classroom.json"):
        read_answers(folder)


def test_supernova_position_and_brightness(tmp_path):
    folder = tmp_path / "night"
    simulate_lesson(folder, "supernova", "normal", seed=2, n_frames=3, **SMALL)
    truth = load_truth(folder)
    sn = truth.target("supernova")
    right = {"supernova_ra": Answer(sn["ra"]), "supernova_dec": Answer(sn["dec"]),
             "supernova_mag": Answer(sn["mag_V"] + 0.01, 0.02)}  # fmt: skip
    f = _by_name(check_project(_project(tmp_path / "a", truth, answers=right)))
    assert f["supernova_position"].verdict == "good" and f["supernova_mag"].verdict == "good"
    # The galaxy's nucleus, and the galaxy's light in the aperture.
    wrong = {"supernova_ra": Answer(sn["host_ra"]), "supernova_dec": Answer(sn["host_dec"]),
             "supernova_mag": Answer(sn["mag_V"] - 0.6, 0.02)}  # fmt: skip
    f = _by_name(check_project(_project(tmp_path / "b", truth, answers=wrong)))
    assert f["supernova_position"].verdict == "off"
    assert "nucleus" in " ".join(f["supernova_position"].explanation)
    assert f["supernova_mag"].verdict == "off"
    assert "galaxy's light" in " ".join(f["supernova_mag"].explanation)


def test_the_binary_period_from_one_long_night(tmp_path):
    folder = tmp_path / "night"
    simulate_lesson(folder, "variable", "normal", seed=5, **SMALL)
    truth = load_truth(folder)
    true_p, err_p = _expected(truth, "eclipsing_period_d")
    true_t, err_t = _expected(truth, "eclipse_min_bjd")
    # Both eclipses in the night: the period to a fraction of a percent.
    assert err_p < 0.01 * true_p and err_t < 2 / 1440
    right = {"eclipsing_period_d": Answer(true_p + err_p, 2 * err_p),
             "eclipse_min_bjd": Answer(true_t - err_t, 2 * err_t)}  # fmt: skip
    f = _by_name(check_project(_project(tmp_path / "a", truth, answers=right)))
    assert f["eclipsing_period_d"].verdict == "good" and f["eclipse_min_bjd"].verdict == "good"
    # Primary to secondary taken for the whole period.
    half = {"eclipsing_period_d": Answer(true_p / 2, err_p)}
    f = _by_name(check_project(_project(tmp_path / "b", truth, answers=half)))
    assert f["eclipsing_period_d"].verdict == "off"
    assert "factor of two" in " ".join(f["eclipsing_period_d"].explanation)


def test_a_class_summary_from_a_folder_of_projects(tmp_path, night, capsys):
    ra, dec = night.variable_sources()["eclipsing"]
    star = night.night.catalog[0]
    klass = tmp_path / "class"
    _project(klass / "ada", night, answers={"variable_ra": Answer(ra),
                                            "variable_dec": Answer(dec)})  # fmt: skip
    wrong = {"variable_ra": Answer(float(star["ra"])), "variable_dec": Answer(float(star["dec"]))}
    _project(klass / "bob", night, answers=wrong)
    for name in ("ada", "bob"):  # one folder per student
        (klass / name / "project").rename(klass / f"{name}-project")
        (klass / name).rmdir()
    (klass / "notes").mkdir()  # not a project: ignored
    out = tmp_path / "sheet"
    assert main(["check", str(klass), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ada-project: 1 good, 0 fair, 0 off" in printed
    assert "bob-project: 0 good, 0 fair, 1 off" in printed
    table = Table.read(out / "class_summary.ecsv")
    assert list(table["student"]) == ["ada-project", "bob-project"]
    assert list(table["verdict"]) == ["good", "off"] and table["sigma"][1] > 3
    assert (out / "class_summary.csv").read_text().startswith("student,seed,difficulty")
