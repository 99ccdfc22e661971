"""Asteroid rotation periods over several nights against the simulator's truth.

Two nights five days apart of a rotating asteroid (the simulator's double-
peaked shape, its rotation seen light time late, its brightness following
r, delta and the phase angle): the period search must give the period
within 1 % and beat the cycle-count aliases; geometry comes from JPL
Horizons replayed on 127.0.0.1; ALCDEF says the corrections made.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.time import Time
from replay_server import replay_server, trust_replay_server  # noqa: F401

from fluxion.core.reports.alcdef import AlcdefSession, check_alcdef, parse_alcdef
from fluxion.core.rotation import period_search, session_from_table, session_geometry
from fluxion.core.rotation.phase import hg_phase_magnitude, phase_correction
from fluxion.core.rotation.report import rotation_alcdef, write_period_outputs
from fluxion.core.rotation.sessions import LIGHT_TIME_DAYS_PER_AU, Session
from fluxion.core.simulation.asteroid_sessions import rotation_session
from fluxion.core.simulation.simulate import NightConfig, make_night

PERIOD_H = 2.7
EPOCH = Time("2024-09-01T00:00:00", scale="utc").jd
GEOMETRY = [
    ("2024-09-10T20:00:00", 2.30, 1.35, 12.0),  # start, r, delta (au), phase (deg)
    ("2024-09-15T20:30:00", 2.31, 1.39, 13.5),
]


def _sessions(seed: int = 0, h_mag: float = 12.5) -> list[Session]:
    out = []
    for n, (start, r, delta, phase) in enumerate(GEOMETRY):
        table = rotation_session(
            NightConfig(n_frames=100, start=start), period_h=PERIOD_H, amplitude=0.3,
            epoch_jd=EPOCH, h_mag=h_mag, r=r, delta=delta, phase_deg=phase, seed=seed + n,
        )  # fmt: skip
        out.append(session_from_table(table, f"night {n + 1}"))
    return out


def test_two_nights_give_the_period_and_the_right_alias():
    sessions = _sessions()
    result = period_search(sessions, 1.0, 10.0)
    assert abs(result.period / PERIOD_H - 1.0) < 0.01
    assert abs(result.period - PERIOD_H) < 4 * result.period_err
    assert result.period_err < 0.001
    # The cycle-count aliases across the five-day gap (+-1 rotation) are beaten
    # by far, and the single-peaked half period too.
    counted = [a for a in result.aliases if a["kind"].startswith("cycle count")]
    assert counted and min(a["delta_chi2"] for a in counted) > 25
    assert abs(result.fit.amplitude - 0.3) < 0.03
    assert 0.7 < result.reduced_chi2 < 1.3
    # The zero points: reduced to unit distances, the nights differ by the
    # phase function's change between 12 and 13.5 degrees only.
    dz = result.fit.zero_points[1] - result.fit.zero_points[0]
    assert abs(dz - (hg_phase_magnitude(13.5) - hg_phase_magnitude(12.0))) < 0.01


def test_tied_zero_points_with_the_phase_angle_reduced():
    """Calibrated sessions share one zero point once reduced to one phase angle (H-G):
    the fit is as good as with free zero points; without the reduction the
    nights' 0.06 mag phase difference spoils it."""
    sessions = _sessions()
    free = period_search(sessions, 2.0, 4.0, orders=(2,))
    reference = 12.75
    tied = period_search(sessions, 2.0, 4.0, orders=(2,), tie_zero_points=True,
                         phase_reference=reference)  # fmt: skip
    assert abs(tied.period - PERIOD_H) < 4 * tied.period_err
    assert tied.reduced_chi2 < 1.3 and tied.tied
    assert np.allclose(tied.fit.zero_points, tied.fit.zero_points[0])
    # The shared zero point is the mean reduced magnitude at the reference
    # phase: H + the phase term (the sessions are reduced to unit distances).
    assert tied.fit.zero_points[0] == pytest.approx(12.5 + hg_phase_magnitude(reference), abs=0.01)
    unreduced = period_search(sessions, 2.0, 4.0, orders=(2,), tie_zero_points=True)
    assert unreduced.reduced_chi2 > tied.reduced_chi2 + 2
    assert free.reduced_chi2 < 1.3
    assert phase_correction(12.0, 12.0) == pytest.approx(0.0)
    mixed = [sessions[0], Session("bare", sessions[1].jd, sessions[1].mag, sessions[1].mag_err)]
    assert any("no light-time correction) for bare" in n
               for n in period_search(mixed, 2.0, 4.0, orders=(2,)).notes)  # fmt: skip
    with pytest.raises(ValueError, match="no phase angle"):
        period_search([Session("x", s.jd, s.mag, s.mag_err) for s in sessions], 2.0, 4.0,
                      phase_reference=10.0)  # fmt: skip


def test_period_errors_are_honest_over_draws():
    """The period's error is its scatter: pulls over 150 pairs of nights have unit width."""
    pulls = []
    for seed in range(150):
        r = period_search(_sessions(seed=10 * seed), 2.4, 3.0, orders=(2,))
        pulls.append((r.period - PERIOD_H) / r.period_err)
    pulls = np.asarray(pulls)
    # 150 draws: the width is known to +-0.06 and the mean to +-0.08 (1 sigma).
    assert 0.8 < np.std(pulls) < 1.2, np.std(pulls)
    assert abs(np.mean(pulls)) < 0.3, np.mean(pulls)
    assert np.all(np.abs(pulls) < 4.5), pulls


def test_a_monomodal_looking_curve_is_doubled_with_a_note():
    """Two equal halves per rotation: the half period fits as well as the true one;
    an asteroid of 0.3 mag amplitude is double-peaked, so twice that period is given."""
    rng = np.random.default_rng(5)
    sessions = []
    for n, (start, *_rest) in enumerate(GEOMETRY):
        jd = Time(start, scale="utc").jd + np.arange(100) * 180.0 / 86400.0
        mag = 15.0 + 0.15 * np.cos(4 * np.pi * (jd - EPOCH) * 24.0 / PERIOD_H)
        err = np.full(len(jd), 0.01)
        sessions.append(Session(f"night {n + 1}", jd, mag + err * rng.standard_normal(100), err))
    result = period_search(sessions, 1.0, 10.0)
    assert any("twice that period" in n for n in result.notes)
    assert abs(result.period / PERIOD_H - 1.0) < 0.001
    assert result.aliases[0]["kind"] == "half (single-peaked)"


def test_rendered_nights_share_the_rotation():
    """The simulator's asteroid keeps its rotation across nights given an epoch."""
    a = make_night(NightConfig(n_frames=3, shape=(64, 64), asteroid_epoch=EPOCH, seed=1))
    b = make_night(NightConfig(n_frames=3, shape=(64, 64), asteroid_epoch=EPOCH, seed=2,
                               start="2024-09-15T20:30:00", asteroid_delta=1.0))  # fmt: skip
    jd = np.array([2460569.3, 2460569.35])
    shift = LIGHT_TIME_DAYS_PER_AU
    assert np.allclose(a.variable_relative_flux(jd - shift)["asteroid"],
                       b.variable_relative_flux(jd)["asteroid"])  # fmt: skip


def test_geometry_from_horizons_replayed(shared_data, trust_replay_server, monkeypatch):  # noqa: F811
    from astroquery.jplhorizons import conf

    recorded = shared_data / "astroquery" / "jplhorizons" / "ceres_ephemerides_range.txt"
    monkeypatch.setattr(type(conf), "horizons_server",
                        trust_replay_server.https_url + "/api/horizons.api")  # fmt: skip
    trust_replay_server.add("/api/horizons.api", recorded, content_type="text/plain")
    from fluxion.core.targets.ephemerides import horizons_ephemeris

    times = Time(["2022-06-12T01:00:00", "2022-06-12T04:00:00"], scale="utc")
    eph = horizons_ephemeris("Ceres", times, observatory_code="568", step_minutes=14400)
    jd = np.linspace(times[0].jd, times[1].jd, 20)
    session = session_geometry(Session("Ceres", jd, np.full(20, 8.5), np.full(20, 0.01)), eph)
    t = np.asarray(eph.table["jd"], float)
    for name in ("r", "delta", "phase"):
        expected = np.interp(jd, t, np.asarray(eph.table[name], float))
        assert np.allclose(getattr(session, name), expected)
    # Ceres in June 2022, near conjunction: 2.6 au from the Sun, 3.5 au from us.
    assert 3.4 < session.delta[0] < 3.6 and 2.55 < session.r[0] < 2.65
    assert np.allclose(session.light_time, session.delta * 499.004784 / 86400)
    assert any("JPL Horizons" in n for n in session.notes)


def test_alcdef_says_the_corrections(tmp_path):
    sessions = _sessions()
    meta = AlcdefSession(object_number=99999, object_name="Simulated", contact_name="A. Observer",
                         contact_info="[a@example.org]", observers="A. Observer",
                         mpc_code="500", filter="V", magband="V")  # fmt: skip
    text = rotation_alcdef(sessions, meta)
    assert check_alcdef(text) == []
    parsed = parse_alcdef(text)
    assert len(parsed) == 2
    for (m, data), s, (_, r, delta, phase) in zip(parsed, sessions, GEOMETRY, strict=True):
        assert m["LTCAPP"] == "AVERAGE" and m["LTCTYPE"] == "LIGHTTIME"
        assert m["REDUCEDMAGS"] == "AVERAGE"
        assert float(m["LTCDAYS"]) == pytest.approx(-delta * LIGHT_TIME_DAYS_PER_AU, abs=1e-6)
        assert float(m["UCORMAG"]) == pytest.approx(-5 * np.log10(r * delta), abs=1e-3)
        assert float(m["PHASE"]) == pytest.approx(phase, abs=0.01)
        assert np.allclose(data[:, 0], s.jd - delta * LIGHT_TIME_DAYS_PER_AU, atol=2e-6)
    paths = write_period_outputs(tmp_path, period_search(sessions, 2.0, 4.0), sessions, meta)
    assert {p.name for p in paths.values()} == {"period.json", "phased.ecsv", "alcdef.txt"}


def test_period_command(tmp_path, capsys):
    from fluxion.app.cli import main

    paths = []
    for n, (start, r, delta, phase) in enumerate(GEOMETRY):
        table = rotation_session(
            NightConfig(n_frames=100, start=start), period_h=PERIOD_H, amplitude=0.3,
            epoch_jd=EPOCH, h_mag=12.5, r=r, delta=delta, phase_deg=phase, seed=40 + n,
        )  # fmt: skip
        del table["r"], table["delta"], table["phase"]  # as a night's light curve has it
        paths.append(tmp_path / f"night{n + 1}.ecsv")
        table.write(paths[-1])
    out = tmp_path / "period"
    assert main(["period", *map(str, paths), "--out", str(out), "--min", "2", "--max", "4"]) == 0
    printed = capsys.readouterr().out
    assert "P = 2.70" in printed and "no geometry" in printed
    assert (out / "period.json").is_file() and (out / "phased.ecsv").is_file()
    # Tied zero points without geometry: no phase reduction, said so.
    assert main(["period", *map(str, paths), "--out", str(out), "--min", "2", "--max", "4",
                 "--tie"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "one zero point for every session" in printed and "reduced to phase" not in printed
    assert main(["period", str(paths[0]), "--out", str(out), "--contact-name", "A"]) == 2
    assert "--number or --designation" in capsys.readouterr().err
