"""Sequences, fallbacks (solve-field, nova.astrometry.net replayed) and ``fluxion solve``."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import replay_server as replay
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from fluxion.core.astrometry import (
    FrameToSolve,
    NovaAstrometryNet,
    PlateSolver,
    ScaleGuess,
    SolveField,
    SolveHint,
    SolveParams,
    solve_sequence,
)
from fluxion.core.detection.extract import Detection
from fluxion.core.simulation.simulate import NightConfig, make_night

# The replay server's fixtures, used by name below.
replay_server = replay.replay_server
trust_replay_server = replay.trust_replay_server

SCALE = 1.2
SHAPE = (384, 384)


@pytest.fixture(scope="module")
def night():
    return make_night(
        NightConfig(
            shape=SHAPE, n_frames=4, star_density=3.0, pointing_error=300.0, seed=11, drift=2.0
        )
    )


def _field_error_px(fitted: WCS, truth: WCS) -> float:
    gx, gy = np.meshgrid(np.linspace(0, SHAPE[1] - 1, 15), np.linspace(0, SHAPE[0] - 1, 15))
    a = truth.pixel_to_world(gx.ravel(), gy.ravel())
    b = fitted.pixel_to_world(gx.ravel(), gy.ravel())
    return float(np.sqrt(np.mean(a.separation(b).arcsec ** 2)) / SCALE)


def _frame(night, i, data=None, scale=SCALE):
    if data is None:
        data = night.light(i)[0]
    sources = Detection()(data.astype(np.float32)).sources
    c = night.pointing(i)
    return FrameToSolve(
        f"light_{i}",
        sources,
        SHAPE,
        SolveHint(c.ra.deg, c.dec.deg, ScaleGuess(scale, 0.05, "user")),
    )


def test_sequence_chains_hints_and_survives_a_bad_frame(night):
    noise = np.random.default_rng(2).normal(1000, 10, SHAPE).astype(np.float32)
    frames = [_frame(night, 0), _frame(night, 1, data=noise), _frame(night, 3)]  # clouds at 1
    solver = PlateSolver(SolveParams(mag_limit=20.0), catalog=night.catalog)
    ticks = []
    results = solve_sequence(frames, solver, state=_state(ticks))
    assert [r.solved for r in results] == [True, False, True]
    bad = results[1]
    # The bad frame was tried with the previous solution, its own hint, and wider.
    assert "previous frame:" in bad.reason and "own hint:" in bad.reason
    assert "wider search:" in bad.reason
    for k, i in ((0, 0), (2, 3)):
        assert _field_error_px(results[k].wcs, night.wcs(i)) < 0.05
    assert ticks[-1] == pytest.approx(1.0)


def _state(ticks):
    from fluxion.core.runtime.pipeline import StepState

    return StepState(lambda f, m: ticks.append(f))


def _index_for(catalog: Table, folder):
    """astrometry.net index files built from a catalog (the simulator's sky)."""
    if shutil.which("build-astrometry-index") is None:
        pytest.skip("astrometry.net (build-astrometry-index) not installed")
    cat = folder / "catalog.fits"
    Table(
        {"RA": np.asarray(catalog["ra"]), "DEC": np.asarray(catalog["dec"]), "MAG": catalog["V"]}
    ).write(cat)
    lines = [f"add_path {folder}"]
    for p in (0, 1):
        out = folder / f"index-95{p}.fits"
        subprocess.run(
            ["build-astrometry-index", "-i", str(cat), "-o", str(out), "-P", str(p),
             "-S", "MAG", "-A", "RA", "-D", "DEC", "-E", "-I", f"9500{p}"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        lines.append(f"index {out.stem}")
    cfg = folder / "astrometry.cfg"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def test_solve_field_fallback_solves_what_the_hint_cannot(night, tmp_path):
    if shutil.which("solve-field") is None:
        pytest.skip("astrometry.net (solve-field) not installed")
    cfg = _index_for(night.catalog, tmp_path)
    # A scale guess 30 % off: the hinted solve must refuse, solve-field (blind) solves
    # (the scale search, which would solve it first, is off here).
    frame = _frame(night, 0, scale=SCALE * 1.3)
    blind = SolveField(config=cfg, timeout=30, use_hint=False)
    params = SolveParams(mag_limit=20.0, search=False)
    solver = PlateSolver(params, catalog=night.catalog, fallbacks=[blind])
    result = solver(frame.sources, SHAPE, frame.hint)
    assert result.solved and result.method == "solve-field"
    assert any(m.startswith("hinted:") for m in result.messages)
    assert result.n_matched >= 10
    assert result.pixel_scale == pytest.approx(SCALE, rel=0.01)
    # solve-field fits a quadratic SIP to the simulator's cubic distortion.
    assert _field_error_px(result.wcs, night.wcs(0)) < 0.5


def test_frame_without_pointing_solved_blind_within_the_time_limit(night, tmp_path):
    """No RA/DEC, no scale: solve-field blind (the step's time limit), then our own fit."""
    if shutil.which("solve-field") is None:
        pytest.skip("astrometry.net (solve-field) not installed")
    cfg = _index_for(night.catalog, tmp_path)
    frame = _frame(night, 0)
    params = SolveParams(mag_limit=20.0, time_limit=30.0)
    solver = PlateSolver(
        params, catalog=night.catalog, fallbacks=[SolveField(config=cfg, timeout=params.time_limit)]
    )
    result = solver(frame.sources, SHAPE, SolveHint(None, None, None))
    assert result.solved and result.method == "solve-field" and result.search == "blind"
    assert any("no pointing" in m for m in result.messages)
    assert any("verified and refitted" in m for m in result.messages)
    # Refitted against the catalog with the chosen SIP order: as good as a hinted solve
    # (solve-field's own quadratic SIP: 0.2 px).
    assert _field_error_px(result.wcs, night.wcs(0)) < 0.05


def test_solve_field_missing_is_a_reason_not_a_crash(night):
    frame = _frame(night, 0, scale=SCALE * 1.3)
    absent = SolveField(executable="solve-field-that-does-not-exist")
    params = SolveParams(mag_limit=20.0, search=False)
    solver = PlateSolver(params, catalog=night.catalog, fallbacks=[absent])
    result = solver(frame.sources, SHAPE, frame.hint)
    assert not result.solved and result.wcs is None
    assert "hinted:" in result.reason and "solve-field is not installed" in result.reason


@pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")
def test_nova_fallback_replayed(shared_data, trust_replay_server):
    recorded = shared_data / "astroquery" / "astrometry_net"
    server = trust_replay_server
    js = "application/json"
    server.add("/api/login", json.dumps({"status": "success", "session": "s3ss10n"}),
               content_type=js)  # fmt: skip
    server.add("/api/url_upload", json.dumps({"status": "success", "subid": 42}), content_type=js)
    server.add("/api/submissions/42", json.dumps({"jobs": [7]}), content_type=js)
    server.add("/api/jobs/7/info", json.dumps({"status": "success"}), content_type=js)
    wcs_file = recorded / "wcs-sol-from-source-list-index-5200.fit"
    server.add("/wcs_file/7", wcs_file.read_bytes(), content_type="application/fits")
    sources = Table.read(recorded / "test-source-list.fit")
    sources.rename_columns(["X", "Y", "FLUX"], ["x", "y", "flux"])
    shape = (4096, 4109)
    hint = SolveHint(135.6, 49.8, ScaleGuess(0.56, 0.1, "user"))
    nova = NovaAstrometryNet("my-key", server=server.https_url, solve_timeout=20)
    result = nova(sources, shape, hint)

    assert result.solved and result.method == "nova.astrometry.net"
    truth = WCS(fits.getheader(wcs_file))
    assert np.allclose(result.wcs.wcs.crval, truth.wcs.crval)
    assert result.pixel_scale == pytest.approx(0.5627, rel=1e-3)
    login = next(r for r in server.requests if r.path == "/api/login")
    assert json.loads(login.form["request-json"][0]) == {"apikey": "my-key"}
    upload = json.loads(
        next(r for r in server.requests if r.path == "/api/url_upload").form["request-json"][0]
    )
    assert upload["session"] == "s3ss10n" and upload["publicly_visible"] == "n"
    assert upload["image_width"] == 4109 and upload["image_height"] == 4096
    brightest = int(np.argmax(sources["flux"]))
    assert upload["x"][0] == pytest.approx(sources["x"][brightest] + 1.0, abs=1e-3)
    assert upload["scale_lower"] < 0.56 < upload["scale_upper"]
    # The key was used for the call only, not left in astroquery's configuration.
    from astroquery.astrometry_net import conf

    assert conf.api_key != "my-key"


def test_nova_unreachable_is_a_reason(replay_server):
    nova = NovaAstrometryNet("k", server=replay_server.http_url, solve_timeout=5)
    replay_server.add("/api/login", b"oops", status=500)
    rng = np.random.default_rng(1)
    sources = Table({"x": rng.uniform(0, 100, 20), "y": rng.uniform(0, 100, 20)})
    result = nova(sources, (100, 100), SolveHint(None, None, None))
    assert not result.solved and result.method == "nova.astrometry.net" and result.reason


def test_sky_positions_of_solution_match_truth_table(night):
    """Solved WCS puts every bright truth star within 0.1 px of where it was drawn."""
    data, _, truth = night.light(1)
    frame = _frame(night, 1, data=data)
    result = PlateSolver(SolveParams(mag_limit=20.0), catalog=night.catalog)(
        frame.sources, SHAPE, frame.hint
    )
    inside = (truth["x"] > 5) & (truth["x"] < SHAPE[1] - 6) & (truth["y"] > 5)
    inside &= truth["y"] < SHAPE[0] - 6
    t = truth[inside]
    x, y = result.wcs.world_to_pixel(SkyCoord(t["ra"], t["dec"], unit="deg"))
    assert np.sqrt(np.mean((x - t["x"]) ** 2 + (y - t["y"]) ** 2)) < 0.05
