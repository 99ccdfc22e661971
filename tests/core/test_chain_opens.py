"""One run of the chain opens each of a frame's files at most once.

Every way the engine has of opening a FITS file ends in astropy's
``HDUList.fromfile`` (``fits.open``, ``getheader``, ``getval``, ``getdata``),
and Fluxion's own readers in :mod:`fluxion.core.io.fitsio` open through it;
both are counted, by file, over a night run as ``fluxion run`` runs it (masters,
every light through every step, registration, the target, the light curve),
and over the folder scan that comes before it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.io.fits import HDUList
from astropy.table import Table

from fluxion.core.astrometry import SolveParams
from fluxion.core.calibration.masters import make_master_bias
from fluxion.core.calibration.raw import RawFrame
from fluxion.core.chain.night import NightParams, run_night
from fluxion.core.chain.targets import Locator, fixed_target
from fluxion.core.io import fitsio
from fluxion.core.io.frames import frame_info
from fluxion.core.io.sequence import scan
from fluxion.core.project.document import Project
from fluxion.core.project.products import ProductStore
from fluxion.core.simulation.simulate import NightConfig, simulate_night
from fluxion.core.transit.photometry import RADII_FWHM

CONFIG = NightConfig(n_frames=3, shape=(288, 288), n_bias=2, n_dark=2, n_flat=2, seed=21)
# Fluxion's readers that take a path and open it.
READERS = (
    "read_frame",
    "read_header",
    "read_image",
    "truncation_problem",
    "image_hdu_count",
    "open_image",
)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("opens_night")
    simulate_night(out, CONFIG)
    return out


class Opens:
    """Counts, by resolved path, astropy's opens and Fluxion's reader calls."""

    def __init__(self) -> None:
        self.astropy: Counter = Counter()
        self.readers: Counter = Counter()
        self.on = False  # counting only during the run

    def clear(self) -> None:
        self.astropy.clear()
        self.readers.clear()


@pytest.fixture
def opens(monkeypatch) -> Opens:
    counts = Opens()
    original = HDUList.fromfile.__func__

    def counting(cls, fileobj, *args, **kwargs):
        if counts.on and isinstance(fileobj, str | os.PathLike):  # not a writer's file object
            counts.astropy[Path(fileobj).resolve()] += 1
        return original(cls, fileobj, *args, **kwargs)

    monkeypatch.setattr(HDUList, "fromfile", classmethod(counting))
    # fits.open itself (the name modules call), in case it is ever not fromfile.
    fits_open = fits.open

    def open_counting(name, *args, **kwargs):
        return fits_open(name, *args, **kwargs)

    monkeypatch.setattr(fits, "open", open_counting)

    # A reader that calls another (read_header opens through open_image) is one open.
    inside = threading.local()

    def wrap(function):
        def reading(path, *args, **kwargs):
            depth = getattr(inside, "depth", 0)
            if counts.on and depth == 0:
                counts.readers[Path(path).resolve()] += 1
            inside.depth = depth + 1
            try:
                return function(path, *args, **kwargs)
            finally:
                inside.depth = depth

        return reading

    # Every Fluxion module that bound a reader by name (``from ..io.fitsio import read_frame``).
    for name in READERS:
        function = getattr(fitsio, name, None)
        if function is None:  # a reader this version does not have
            continue
        wrapped = wrap(function)
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("fluxion.") and (
                getattr(module, name, None) is function
            ):
                monkeypatch.setattr(module, name, wrapped)
    return counts


def _run(night: Path, folder: Path, opens: Opens, executor=None, target=None, **options):
    frames = scan(night)
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    target = target if target is not None else fixed_target(star["ra"], star["dec"])
    catalog_file = night / "truth/reference_catalog.ecsv"
    params = NightParams(
        astrometry=SolveParams(catalog="Local file", catalog_file=str(catalog_file))
    )
    catalog = Table.read(catalog_file)
    project = Project.load(folder) if (folder / "project.json").exists() else None
    if project is None:
        project = Project.from_inputs([night])
        project.save(folder)
    opens.clear()
    opens.on = True
    try:
        run = run_night(
            project, frames, params, catalog=catalog, target=target, executor=executor,
            **options,
        )  # fmt: skip
    finally:
        opens.on = False
    return frames, run


def _files_of_lights(night: Path, folder: Path, frames) -> list[Path]:
    store = ProductStore(folder)
    lights = [f for f in frames if f.type == "light"]
    return [f.path.resolve() for f in lights] + [
        store.path("calibration", f.path, ".fits").resolve() for f in lights
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_opens_each_file_of_a_light_at_most_once(night, tmp_path, opens, workers):
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        frames, run = _run(night, tmp_path / "p", opens, pool)
    finally:
        if pool is not None:
            pool.shutdown()
    assert list(run.frames["status"]) == ["ok"] * CONFIG.n_frames
    assert run.light_curve is not None and len(run.light_curve) == CONFIG.n_frames
    files = _files_of_lights(night, tmp_path / "p", frames)
    for path in files:
        assert opens.astropy[path] <= 1, (path.name, opens.astropy[path])
        assert opens.readers[path] <= 1, (path.name, opens.readers[path])
    # Counted at all: the raw lights are read (once each), their products written, not read.
    lights = files[: CONFIG.n_frames]
    assert all(opens.astropy[p] == 1 for p in lights)
    assert all(opens.readers[p] == 1 for p in lights)


def test_a_rerun_opens_each_calibrated_light_once_and_no_raw_light(night, tmp_path, opens):
    folder = tmp_path / "p"
    frames, first = _run(night, folder, opens)
    frames, again = _run(night, folder, opens)
    for step in ("calibration", "detection", "astrometry", "photometry", "zeropoint"):
        assert again.counts[step]["current"] == CONFIG.n_frames, step
    files = _files_of_lights(night, folder, frames)
    raw, products = files[: CONFIG.n_frames], files[CONFIG.n_frames :]
    assert all(opens.astropy[p] == 0 for p in raw), [opens.astropy[p] for p in raw]
    assert all(opens.astropy[p] == 1 for p in products), [opens.astropy[p] for p in products]
    assert list(again.frames["status"]) == list(first.frames["status"])


def test_a_target_only_the_night_places_reads_each_product_once(night, tmp_path, opens):
    # A locator without sky positions (a fitted track): the lights are measured
    # after the night's solutions, from their calibrated products, read once.
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    where = (float(star["x"]), float(star["y"]))
    track = Locator(lambda lights, wcs: [where] * len(lights), {"kind": "moving"})
    frames, run = _run(night, tmp_path / "p", opens, target=track)
    assert list(run.frames["status"]) == ["ok"] * CONFIG.n_frames
    assert np.all(np.isfinite(np.asarray(run.light_curve["mag"], float)))
    files = _files_of_lights(night, tmp_path / "p", frames)
    raw, products = files[: CONFIG.n_frames], files[CONFIG.n_frames :]
    assert [opens.astropy[p] for p in raw] == [1] * CONFIG.n_frames
    assert [opens.astropy[p] for p in products] == [1] * CONFIG.n_frames


def test_a_scan_opens_each_file_once(night, opens):
    # The header, the truncation check and the pixel checks share one open.
    opens.on = True
    try:
        frames = scan(night)
    finally:
        opens.on = False
    kinds = Counter(f.type for f in frames)
    assert kinds == {"light": 3, "bias": 2, "dark": 2, "flat": 2}, kinds
    files = [f.path.resolve() for f in frames]
    assert [opens.astropy[p] for p in files] == [1] * len(files)
    assert [opens.readers[p] for p in files] == [1] * len(files)


def test_building_masters_reads_no_calibration_header_again(night, tmp_path, opens):
    # The masters take each frame's size and sections from the scan. Screening
    # reads a row and combining one band (these small frames fit one): each an
    # open of its own, which keeps combining's memory to one band of every frame
    # however many frames a night has. A flat's pixels, read for its level, are
    # kept for combining when the stack fits the memory budget (these do).
    frames, run = _run(night, tmp_path / "p", opens)
    assert list(run.frames["status"]) == ["ok"] * CONFIG.n_frames
    expected = {"bias": 2, "dark": 2, "flat": 2}
    calibration = [f for f in frames if f.type in expected]
    assert len(calibration) == CONFIG.n_bias + CONFIG.n_dark + CONFIG.n_flat
    for f in calibration:
        path = f.path.resolve()
        assert opens.astropy[path] == expected[f.type], (path.name, opens.astropy[path])
        assert opens.readers[path] == 0, (path.name, opens.readers[path])


def test_a_bias_from_the_scan_trims_as_from_its_header(tmp_path, opens):
    # Overscan columns at the right, a trimmed image: the sections the scan
    # kept give the master the header's own overscan and trim, unopened.
    rng = np.random.default_rng(3)
    ny, nx, over = 30, 40, 6
    header = fits.Header()
    header["IMAGETYP"] = "Bias Frame"
    header["BIASSEC"] = f"[{nx + 1}:{nx + over},1:{ny}]"
    header["TRIMSEC"] = f"[1:{nx},1:{ny}]"
    infos = []
    for k in range(3):
        raw = 500.0 + np.linspace(0, 9, ny)[:, None] + rng.normal(0, 2, (ny, nx + over))
        raw[:, :nx] += 20.0
        path = tmp_path / f"bias_{k}.fits"
        fits.writeto(path, raw.astype(np.float32), header)
        infos.append(frame_info(path))
    assert [i.type for i in infos] == ["bias"] * 3
    opens.on = True
    try:
        scanned = [RawFrame.from_info(i) for i in infos]
    finally:
        opens.on = False
    assert sum(opens.astropy.values()) == 0 and sum(opens.readers.values()) == 0
    read = [RawFrame.from_info(dataclasses.replace(i, sections=None)) for i in infos]
    assert [f.overscan() for f in scanned] == [f.overscan() for f in read]
    a, b = make_master_bias(scanned), make_master_bias(read)
    assert a.shape == (ny, nx)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_allclose(np.median(a.data), 20.0, atol=1.0)


def test_the_comparison_curve_reads_each_calibrated_light_once_for_all_its_apertures(
    night, tmp_path, opens
):
    # The ensemble is chosen on the night's stored photometry, so its apertures need the
    # pixels again after the last light: one more read of each calibrated light, whatever
    # the number of radii tried.
    frames, run = _run(night, tmp_path / "p", opens, comparison="on")
    meta = run.light_curve.meta
    assert meta["comparison_stars"], meta
    assert len(meta["apertures_tried"]) == len(RADII_FWHM) + 1
    files = _files_of_lights(night, tmp_path / "p", frames)
    raw, products = files[: CONFIG.n_frames], files[CONFIG.n_frames :]
    assert [opens.astropy[p] for p in raw] == [1] * CONFIG.n_frames
    assert [opens.astropy[p] for p in products] == [1] * CONFIG.n_frames
