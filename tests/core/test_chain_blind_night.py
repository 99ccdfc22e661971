"""A night whose headers give no pointing: a few blind searches, not one a light.

The lights of the real TrES-1 night have neither RA/DEC nor a focal length;
searching every light blind with solve-field cost up to its time limit (60 s)
on each of the 70 lights. Here a simulated night with its pointing cards
removed runs through ``fluxion run`` with solve-field stood in for (a counter
that fails, or that solves the n-th light it is given as solve-field would):
the first light solved blind points the others (solved near it against the
catalog, the lights searched in vain too, each counted once), three lights
searched in vain stop the search for the rest with a note saying what to give,
and a fixed target's --ra/--dec points lights that have no pointing of their own.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from fluxion.app.cli import main
from fluxion.core.astrometry import fallbacks, step
from fluxion.core.astrometry.result import SolveResult, not_solved
from fluxion.core.simulation.simulate import NightConfig, make_night, simulate_night

CONFIG = NightConfig(
    shape=(256, 256), n_frames=4, n_bias=0, n_dark=0, n_flat=0, star_density=3.0,
    cosmic_ray_rate=0.0, seed=5,
)  # fmt: skip
POINTING = ("RA", "DEC", "OBJCTRA", "OBJCTDEC", "FOCALLEN")
# .wcs files are header-only (NAXIS = 0) as astrometry.net's are; astropy remarks on it.
pytestmark = pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """The simulated lights, their pointing cards removed (as MaxIm DL writes without a mount)."""
    raw = tmp_path_factory.mktemp("blind_night")
    simulate_night(raw, CONFIG)
    for path in sorted(raw.glob("light_*.fits")):
        with fits.open(path, mode="update") as hdul:
            for key in POINTING:
                hdul[0].header.remove(key, ignore_missing=True)
    return raw


class FakeSolveField:
    """solve-field's place in the solver: counts its calls, fails or solves as told."""

    def __init__(self, solves: int | None, light: int = 0):
        self.solves = solves  # the call that solves (1: the first), None: none does
        self.light = light  # the light that call is given
        self.hints: list = []
        self.truth = make_night(CONFIG)

    def __call__(self, sources, image_shape, hint, *, state=None):
        self.hints.append(hint)
        if len(self.hints) != self.solves:
            return not_solved("solve-field", "no solution within 60 s")
        # What solve-field returns for that light: its WCS (the solver then
        # verifies it against the catalog as a tight hint).
        return SolveResult(True, "solve-field", wcs=self.truth.wcs(self.light), n_matched=20)


def _run(night, tmp_path, monkeypatch, fake, *extra, catalog=None):
    monkeypatch.setattr(step, "solve_field_available", lambda: True)
    monkeypatch.setattr(fallbacks.SolveField, "__call__", lambda _self, *a, **kw: fake(*a, **kw))
    project = tmp_path / "project"
    args = [
        "run", str(night), "--project", str(project), "--catalog",
        str(catalog or night / "truth" / "reference_catalog.ecsv"), "--offline", "--no-report",
        "--no-cosmic-rays", "--workers", "1", *extra,
    ]  # fmt: skip
    rc = main(args)
    return rc, project


def _methods(project) -> list[str]:
    return [
        fits.getheader(p)["FLXSOLV"] for p in sorted((project / "wcs").glob("light_*.wcs.fits"))
    ]


def _counted_once(out: str) -> None:
    """Each step of the run's summary counts every light once (done or current)."""
    for name in ("calibration", "detection", "astrometry", "photometry"):
        line = next(t for t in out.splitlines() if t.startswith(name))
        done, current = (int(w) for w in line.replace(",", " ").split() if w.isdigit())
        assert done + current == CONFIG.n_frames, line


def _check_solutions(project) -> None:
    # Every light's solution against the simulator's WCS over the frame (a
    # 256 px frame's few stars leave ~1" in a corner; a wrong solution is arcmin off).
    truth = make_night(CONFIG)
    gy, gx = np.mgrid[0:256:32, 0:256:32]
    paths = sorted((project / "wcs").glob("light_*.wcs.fits"))
    assert len(paths) == CONFIG.n_frames
    for i, path in enumerate(paths):
        a = WCS(fits.getheader(path)).pixel_to_world(gx.ravel(), gy.ravel())
        b = truth.wcs(i).pixel_to_world(gx.ravel(), gy.ravel())
        rms = float(np.sqrt(np.mean(a.separation(b).arcsec ** 2)))
        assert rms < 0.5, f"{path.name}: {rms:.2f} arcsec rms"


def test_a_first_light_solved_blind_points_the_others(night, tmp_path, monkeypatch, capsys):
    fake = FakeSolveField(solves=1, light=0)
    rc, project = _run(night, tmp_path, monkeypatch, fake)
    assert len(fake.hints) == 1 and fake.hints[0].ra is None  # one blind search
    frames = Table.read(project / "frames.ecsv")
    assert rc == 0 and bool(np.all(frames["wcs_ok"]))
    assert _methods(project)[1:] == ["hinted"] * (CONFIG.n_frames - 1)
    _check_solutions(project)
    _counted_once(capsys.readouterr().out)


def test_a_light_searched_in_vain_is_solved_near_the_next_one(night, tmp_path, monkeypatch, capsys):
    # The first light fails blind, the middle one (light 3 of 4) solves.
    fake = FakeSolveField(solves=2, light=2)
    rc, project = _run(night, tmp_path, monkeypatch, fake)
    assert len(fake.hints) == 2
    frames = Table.read(project / "frames.ecsv")
    assert rc == 0 and bool(np.all(frames["wcs_ok"])), list(frames["status"])
    methods = _methods(project)
    assert methods[0] == "hinted" and methods[3] == "hinted"
    _check_solutions(project)
    _counted_once(capsys.readouterr().out)


def test_a_first_light_not_solved_blind_stops_the_search(night, tmp_path, monkeypatch, capsys):
    fake = FakeSolveField(solves=None)
    _run(night, tmp_path, monkeypatch, fake)
    out = capsys.readouterr().out
    assert len(fake.hints) == 3  # the first, the middle and the last light; not the 4th
    assert "could not be solved blind, so the other 1 were not" in out and "--ra/--dec" in out
    frames = Table.read(tmp_path / "project" / "frames.ecsv")
    assert not np.any(frames["wcs_ok"])


def test_a_fixed_target_points_lights_without_a_pointing(night, tmp_path, monkeypatch, capsys):
    truth = Table.read(night / "truth" / "light_0001.ecsv")
    star = truth[np.argmax(np.asarray(truth["flux"]))]
    fake = FakeSolveField(solves=None)
    rc, project = _run(
        night, tmp_path, monkeypatch, fake, "--ra", str(star["ra"]), "--dec", str(star["dec"])
    )
    assert "searched near the target" in capsys.readouterr().out
    assert fake.hints == []  # solved near the target, never blind
    frames = Table.read(project / "frames.ecsv")
    assert bool(np.all(frames["wcs_ok"]))
    assert set(_methods(project)) <= {"hinted", "search"}  # the catalog, near the target


def test_lights_pointed_without_a_scale_are_searched_a_few_at_a_time(
    night, tmp_path, monkeypatch, capsys
):
    # The target's place points the lights, but nothing gives their scale and
    # the catalog holds no star of the field: only solve-field could solve them,
    # near the target at any scale, and it fails on the first, middle and last.
    truth = Table.read(night / "truth" / "light_0001.ecsv")
    star = truth[np.argmax(np.asarray(truth["flux"]))]
    elsewhere = Table.read(night / "truth" / "reference_catalog.ecsv")
    elsewhere["ra"] = np.asarray(elsewhere["ra"]) + 5.0
    catalog = tmp_path / "elsewhere.ecsv"
    elsewhere.write(catalog)
    fake = FakeSolveField(solves=None)
    _run(
        night, tmp_path, monkeypatch, fake, "--ra", str(star["ra"]), "--dec", str(star["dec"]),
        catalog=catalog,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert len(fake.hints) == 3
    assert all(h.ra == pytest.approx(star["ra"]) and h.scale is None for h in fake.hints)
    assert "so the other 1 were not searched blind" in out


def test_lights_no_catalog_answered_for_are_tried_in_full_a_few_at_a_time(
    tmp_path_factory, tmp_path, monkeypatch, capsys
):
    # Lights with their pointing and scale, but offline with nothing cached and
    # no index files: every light failed only after the search and solve-field
    # (the asteroid 2713 night: 25 lights, 17 minutes for nothing). The first,
    # middle and last are tried in full; the others only near their pointing.
    raw = tmp_path_factory.mktemp("uncatalogued_night")
    simulate_night(raw, CONFIG)
    monkeypatch.setenv("FLUXION_CACHE_DIR", str(tmp_path / "empty_cache"))
    monkeypatch.setattr(step, "find_index_files", lambda: [])
    fake = FakeSolveField(solves=None)
    _run(raw, tmp_path, monkeypatch, fake, catalog="Gaia DR3")
    out = capsys.readouterr().out
    assert len(fake.hints) == 3  # the first, the middle and the last light; not the 4th
    assert all(h.ra is not None and h.scale is not None for h in fake.hints)
    assert "no reference catalog answered" in out and "so the other 1 were tried only" in out
    frames = Table.read(tmp_path / "project" / "frames.ecsv")
    assert not np.any(frames["wcs_ok"])
    _counted_once(out)


def test_a_light_solved_without_a_catalog_points_the_others(
    tmp_path_factory, tmp_path, monkeypatch, capsys
):
    # The first light of an uncatalogued night solves by solve-field: the
    # others take its centre and scale, and solve-field is not run again.
    raw = tmp_path_factory.mktemp("uncatalogued_solved")
    simulate_night(raw, CONFIG)
    monkeypatch.setenv("FLUXION_CACHE_DIR", str(tmp_path / "empty_cache"))
    monkeypatch.setattr(step, "find_index_files", lambda: [])
    fake = FakeSolveField(solves=1, light=0)
    _run(raw, tmp_path, monkeypatch, fake, catalog="Gaia DR3")
    out = capsys.readouterr().out
    # Each other light once more, near the first one's solution and at its scale.
    assert len(fake.hints) == CONFIG.n_frames
    assert all(h.ra is not None and h.scale is not None for h in fake.hints)
    frames = Table.read(tmp_path / "project" / "frames.ecsv")
    assert bool(frames["wcs_ok"][0])
    _counted_once(out)


def test_a_night_of_three_lights_tried_in_full_speaks_of_no_others(
    tmp_path_factory, tmp_path, monkeypatch, capsys
):
    # Every light tried in full: the note said "so the other 0 were solved only near
    # their headers' pointing", of lights that do not exist and were not solved.
    raw = tmp_path_factory.mktemp("uncatalogued_three")
    simulate_night(raw, CONFIG)
    (raw / "light_0004.fits").unlink()
    monkeypatch.setenv("FLUXION_CACHE_DIR", str(tmp_path / "empty_cache"))
    monkeypatch.setattr(step, "find_index_files", lambda: [])
    fake = FakeSolveField(solves=None)
    _run(raw, tmp_path, monkeypatch, fake, catalog="Gaia DR3")
    out = capsys.readouterr().out
    assert len(fake.hints) == 3
    line = next(t for t in out.splitlines() if "no reference catalog answered" in t)
    assert "the other" not in line and "solved only" not in line, line
    assert "could not be solved against the astrometry.net index files alone; give a" in line
