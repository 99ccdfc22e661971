"""A night through the chain does each thing once: every stored unit is one astropy knows."""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io.fits import HDUList
from astropy.table import Table

from fluxion.core.astrometry import SolveParams
from fluxion.core.chain.night import NightParams, run_night
from fluxion.core.chain.targets import fixed_target
from fluxion.core.io.sequence import scan
from fluxion.core.photometry import Photometry, PhotometryParams
from fluxion.core.project.document import Project
from fluxion.core.project.products import ProductStore
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=2, shape=(288, 288), n_bias=2, n_dark=2, n_flat=2)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("once_night")
    simulate_night(out, CONFIG)
    return out


@pytest.fixture(scope="module")
def project(night, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("once_project")
    catalog_file = night / "truth/reference_catalog.ecsv"
    params = NightParams(
        astrometry=SolveParams(catalog="Local file", catalog_file=str(catalog_file))
    )
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    project = Project.from_inputs([night])
    project.save(folder)
    run = run_night(
        project, scan(night), params, catalog=Table.read(catalog_file),
        target=fixed_target(star["ra"], star["dec"]),
    )  # fmt: skip
    assert list(run.frames["status"]) == ["ok"] * CONFIG.n_frames
    return folder


def test_every_stored_unit_parses(project):
    # An unknown unit string costs astropy's parser a "did you mean" search
    # (tens of ms) each time a column is made or a table read.
    tables = sorted(project.rglob("*.ecsv"))
    assert len(tables) >= 4 * CONFIG.n_frames
    units = set()
    for path in tables:
        for line in path.read_text().splitlines():
            if line.startswith("# - {name: ") and ", unit: " in line:
                units.add(line.split(", unit: ")[1].split(",")[0].strip())
    assert units, "no table carries a unit"
    for unit in sorted(units):
        u.Unit(unit, parse_strict="raise")  # raises on a unit astropy does not know


@pytest.fixture
def opens(monkeypatch) -> Counter:
    """File path -> number of times astropy opened it."""
    counts: Counter = Counter()
    original = HDUList.fromfile.__func__

    def counting(cls, fileobj, *args, **kwargs):
        if isinstance(fileobj, str | os.PathLike):  # not the writer's own file objects
            counts[Path(fileobj).resolve()] += 1
        return original(cls, fileobj, *args, **kwargs)

    monkeypatch.setattr(HDUList, "fromfile", classmethod(counting))
    return counts


def _params(night: Path) -> NightParams:
    catalog_file = night / "truth/reference_catalog.ecsv"
    return NightParams(astrometry=SolveParams(catalog="Local file", catalog_file=str(catalog_file)))


def test_each_light_is_read_once_and_measured_once(night, tmp_path, opens):
    frames = scan(night)
    lights = [f for f in frames if f.type == "light"]
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    project = Project.from_inputs([night])
    project.save(tmp_path / "p")
    catalog = Table.read(night / "truth/reference_catalog.ecsv")
    opens.clear()
    run = run_night(
        project, frames, _params(night), catalog=catalog,
        target=fixed_target(star["ra"], star["dec"]),
    )  # fmt: skip
    assert list(run.frames["status"]) == ["ok"] * len(lights)
    store = ProductStore(tmp_path / "p")
    for f in lights:
        # One read of the raw light; its calibrated product is written, never read back.
        assert opens[f.path.resolve()] == 1, f.path.name
        assert opens[store.path("calibration", f.path, ".fits").resolve()] == 0
    for step in ("calibration", "detection", "astrometry", "photometry", "zeropoint"):
        assert run.counts[step]["done"] == len(lights), step
    # The target measured where each light's own solution puts it, in the same pass.
    assert np.all(np.isfinite(np.asarray(run.light_curve["mag"], float)))


def test_a_target_placed_by_the_whole_night_is_measured_once_there(night, tmp_path, monkeypatch):
    # A locator without sky positions (as a fitted track): only the night places it,
    # here on a star (a positive flux in every light).
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    where = (float(star["x"]) + 0.25, float(star["y"]) - 0.25)
    calls = Counter()
    run_photometry = Photometry.run

    def counting(self, *args, **kwargs):
        calls["photometry"] += 1
        return run_photometry(self, *args, **kwargs)

    monkeypatch.setattr(Photometry, "run", counting)

    def locate(lights, wcs):
        assert all(w is not None for w in wcs)  # every light solved before it is asked
        return [where] * len(lights)

    locate.project_entry = {"kind": "moving"}
    project = Project.from_inputs([night])
    project.save(tmp_path / "p")
    catalog = Table.read(night / "truth/reference_catalog.ecsv")
    run = run_night(project, scan(night), _params(night), catalog=catalog, target=locate)
    n = CONFIG.n_frames
    assert run.counts["photometry"]["done"] == n and run.counts["zeropoint"]["done"] == n
    assert calls["photometry"] == n  # not once without the target, then again with it
    store = ProductStore(tmp_path / "p")
    for f in (f for f in scan(night) if f.type == "light"):
        table = store.read_table("photometry", f.path)
        d = np.hypot(np.asarray(table["x"]) - where[0], np.asarray(table["y"]) - where[1])
        assert np.sum(d < 0.01) == 1, f.path.name  # measured there, once
    curve = run.light_curve
    assert np.allclose(curve["x"], where[0]) and np.all(np.isfinite(curve["mag"]))


def test_a_rerun_redoes_what_changed_reading_each_light_once(night, tmp_path, opens):
    frames = scan(night)
    lights = [f for f in frames if f.type == "light"]
    catalog = Table.read(night / "truth/reference_catalog.ecsv")
    project = Project.from_inputs([night])
    project.save(tmp_path / "p")
    first = run_night(project, frames, _params(night), catalog=catalog)
    store = ProductStore(tmp_path / "p")
    before = {f.path.name: store.read_table("photometry", f.path) for f in lights}
    # The same night again: nothing redone, each calibrated light opened once
    # (header and mask, its pixels mapped), the raw lights not at all.
    opens.clear()
    again = run_night(Project.load(tmp_path / "p"), frames, _params(night), catalog=catalog)
    for step in ("calibration", "detection", "astrometry", "photometry", "zeropoint"):
        assert again.counts[step]["current"] == len(lights), step
    for f in lights:
        assert opens[f.path.resolve()] == 0, f.path.name
        assert opens[store.path("calibration", f.path, ".fits").resolve()] == 1, f.path.name
    assert list(again.frames["status"]) == list(first.frames["status"])
    # A fixed aperture: photometry and zero points redone from the same pixels,
    # read once; calibration, detection and astrometry stay.
    params = dataclasses.replace(
        _params(night), photometry=PhotometryParams(aperture_radius=4.0, aperture_correction=False)
    )
    opens.clear()
    changed = run_night(Project.load(tmp_path / "p"), frames, params, catalog=catalog)
    for step in ("calibration", "detection", "astrometry"):
        assert changed.counts[step]["current"] == len(lights), step
    for step in ("photometry", "zeropoint"):
        assert changed.counts[step]["done"] == len(lights), step
    for f in lights:
        assert opens[f.path.resolve()] == 0, f.path.name
        assert opens[store.path("calibration", f.path, ".fits").resolve()] == 1, f.path.name
        table = store.read_table("photometry", f.path)
        assert table.meta["aperture_radius"] == 4.0
        assert len(table) == len(before[f.path.name])  # the same stars, measured again
