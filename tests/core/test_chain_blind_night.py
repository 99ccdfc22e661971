"""A night whose headers give no pointing: one blind search, not one a light.

The lights of the real TrES-1 night have neither RA/DEC nor a focal length;
solve-field cannot solve their 0.7 deg field from the Tycho-2 index files, and
searching every light blind cost its time limit (60 s) seventy times. Here a
simulated night with its pointing cards removed runs through ``fluxion run``
with solve-field stood in for (a counter that fails, or that solves the first
light as solve-field would): the blind search runs once, a solved first light
points the others (solved near it against the catalog), an unsolved one stops
the search for the rest with a note saying what to give, and a fixed target's
--ra/--dec points lights that have no pointing of their own.
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
    shape=(256, 256), n_frames=3, n_bias=0, n_dark=0, n_flat=0, star_density=3.0,
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

    def __init__(self, solves: bool):
        self.solves = solves
        self.hints: list = []
        self.truth = make_night(CONFIG)

    def __call__(self, sources, image_shape, hint, *, state=None):
        self.hints.append(hint)
        if not self.solves:
            return not_solved("solve-field", "no solution within 60 s")
        # What solve-field returns for the first light: its WCS (the solver then
        # verifies it against the catalog as a tight hint).
        return SolveResult(True, "solve-field", wcs=self.truth.wcs(0), n_matched=20)


def _run(night, tmp_path, monkeypatch, fake, *extra):
    monkeypatch.setattr(step, "solve_field_available", lambda: True)
    monkeypatch.setattr(fallbacks.SolveField, "__call__", lambda _self, *a, **kw: fake(*a, **kw))
    project = tmp_path / "project"
    args = [
        "run", str(night), "--project", str(project), "--catalog",
        str(night / "truth" / "reference_catalog.ecsv"), "--offline", "--no-report",
        "--no-cosmic-rays", "--workers", "1", *extra,
    ]  # fmt: skip
    rc = main(args)
    return rc, project


def _methods(project) -> list[str]:
    return [
        fits.getheader(p)["FLXSOLV"] for p in sorted((project / "wcs").glob("light_*.wcs.fits"))
    ]


def test_a_first_light_solved_blind_points_the_others(night, tmp_path, monkeypatch, capsys):
    fake = FakeSolveField(solves=True)
    rc, project = _run(night, tmp_path, monkeypatch, fake)
    assert len(fake.hints) == 1 and fake.hints[0].ra is None  # one blind search
    frames = Table.read(project / "frames.ecsv")
    assert rc == 0 and bool(np.all(frames["wcs_ok"]))
    methods = _methods(project)
    assert len(methods) == CONFIG.n_frames and methods[1:] == ["hinted"] * (CONFIG.n_frames - 1)
    # Every light's solution against the simulator's WCS over the frame (a
    # 256 px frame's few stars leave ~1" in a corner; a wrong solution is arcmin off).
    truth = make_night(CONFIG)
    gy, gx = np.mgrid[0:256:32, 0:256:32]
    for i, path in enumerate(sorted((project / "wcs").glob("light_*.wcs.fits"))):
        a = WCS(fits.getheader(path)).pixel_to_world(gx.ravel(), gy.ravel())
        b = truth.wcs(i).pixel_to_world(gx.ravel(), gy.ravel())
        rms = float(np.sqrt(np.mean(a.separation(b).arcsec ** 2)))
        assert rms < 0.5, f"{path.name}: {rms:.2f} arcsec rms"


def test_a_first_light_not_solved_blind_stops_the_search(night, tmp_path, monkeypatch, capsys):
    fake = FakeSolveField(solves=False)
    _run(night, tmp_path, monkeypatch, fake)
    out = capsys.readouterr().out
    assert len(fake.hints) == 1
    assert "could not be solved blind" in out and "--ra/--dec" in out
    frames = Table.read(tmp_path / "project" / "frames.ecsv")
    assert not np.any(frames["wcs_ok"])


def test_a_fixed_target_points_lights_without_a_pointing(night, tmp_path, monkeypatch, capsys):
    truth = Table.read(night / "truth" / "light_0001.ecsv")
    star = truth[np.argmax(np.asarray(truth["flux"]))]
    fake = FakeSolveField(solves=False)
    rc, project = _run(
        night, tmp_path, monkeypatch, fake, "--ra", str(star["ra"]), "--dec", str(star["dec"])
    )
    assert "searched near the target" in capsys.readouterr().out
    assert fake.hints == []  # solved near the target, never blind
    frames = Table.read(project / "frames.ecsv")
    assert bool(np.all(frames["wcs_ok"]))
    assert set(_methods(project)) <= {"hinted", "search"}  # the catalog, near the target
