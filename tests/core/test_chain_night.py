"""A night through the chain: stopped midway and resumed; on a dask cluster as on threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.astrometry import SolveParams
from fluxion.core.calibration import CalibrationParams
from fluxion.core.chain.night import NightParams, run_night
from fluxion.core.chain.targets import fixed_target
from fluxion.core.io.sequence import scan
from fluxion.core.photometry import PhotometryParams
from fluxion.core.project.document import Project
from fluxion.core.project.products import ProductStore
from fluxion.core.runtime.pipeline import Cancelled, StepState
from fluxion.core.runtime.processes import WorkerPool
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=4, shape=(288, 288), n_bias=2, n_dark=2, n_flat=2)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("chain_night_run")
    simulate_night(out, CONFIG)
    return out


def _setup(night: Path, folder: Path):
    catalog_file = night / "truth/reference_catalog.ecsv"
    params = NightParams(
        calibration=CalibrationParams(find_cosmic_rays=False),
        astrometry=SolveParams(catalog="Local file", catalog_file=str(catalog_file)),
        photometry=PhotometryParams(aperture_radius=5.0, aperture_correction=False),
    )
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    project = Project.from_inputs([night])
    project.save(folder)
    return project, params, Table.read(catalog_file), fixed_target(star["ra"], star["dec"])


def test_stopped_midway_then_resumed_redoes_nothing_finished(night, tmp_path):
    project, params, catalog, target = _setup(night, tmp_path / "p")
    frames = scan(night)

    def stop_after_two(fraction: float, message: str) -> None:
        if message.startswith("processed 2/"):
            state.cancel()

    state = StepState(stop_after_two)
    with pytest.raises(Cancelled):
        run_night(project, frames, params, catalog=catalog, target=target, state=state)
    # Each light goes through every step in one pass: the two finished are whole.
    store = ProductStore(tmp_path / "p")
    for step in ("calibration", "detection", "astrometry", "photometry", "zeropoint"):
        assert len(store.frames_done(step)) == 2, step
    products = (tmp_path / "p/wcs").glob("*.wcs.fits"), (tmp_path / "p/calibrated").glob("*.fits")
    stamps = {p: p.stat().st_mtime_ns for found in products for p in found}
    assert len(stamps) == 2 + 2  # two solutions, two calibrated lights
    project = Project.load(tmp_path / "p")
    resumed = run_night(project, frames, params, catalog=catalog, target=target)
    assert resumed.counts["calibration"] == {"done": 2, "current": 2, "failed": 0}
    assert resumed.counts["astrometry"] == {"done": 2, "current": 2, "failed": 0}
    assert resumed.counts["zeropoint"] == {"done": 2, "current": 2, "failed": 0}
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert list(resumed.frames["status"]) == ["ok"] * 4
    assert np.all(np.isfinite(np.asarray(resumed.light_curve["mag"])))
    # Nothing left half-written: no temporary file anywhere in the project.
    assert not [p for p in (tmp_path / "p").rglob("*") if p.name.startswith(".")]
    assert set(Project.load(tmp_path / "p").results) >= {"calibration", "zeropoint", "lightcurve"}


def test_dask_cluster_gives_the_threaded_results(night, tmp_path):
    distributed = pytest.importorskip("distributed")
    project, params, catalog, target = _setup(night, tmp_path / "threads")
    frames = scan(night)
    with ThreadPoolExecutor(2) as pool:
        threaded = run_night(project, frames, params, catalog=catalog, target=target, executor=pool)
    project, *_ = _setup(night, tmp_path / "dask")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = run_night(
            project,
            frames,
            params,
            catalog=catalog,
            target=target,
            executor=client.get_executor(pure=False),
        )
    assert on_dask.counts == threaded.counts
    for name in ("fwhm", "n_sources", "zero_point", "zero_point_err", "astrometric_rms_arcsec"):
        np.testing.assert_allclose(on_dask.frames[name], threaded.frames[name], rtol=1e-9)
    np.testing.assert_allclose(on_dask.light_curve["mag"], threaded.light_curve["mag"], rtol=1e-9)
    assert list(on_dask.frames["status"]) == ["ok"] * 4


def test_process_workers_give_the_threaded_results_masters_made_on_threads(
    night, tmp_path, monkeypatch
):
    import fluxion.core.chain.night as night_module

    pools = []
    prepare = night_module.prepare_masters

    def recording(store, frames, params, fp, executor, state):
        pools.append(executor)
        return prepare(store, frames, params, fp, executor, state)

    monkeypatch.setattr(night_module, "prepare_masters", recording)
    project, params, catalog, target = _setup(night, tmp_path / "threads")
    frames = scan(night)
    with ThreadPoolExecutor(2) as pool:
        threaded = run_night(project, frames, params, catalog=catalog, target=target, executor=pool)
    project, *_ = _setup(night, tmp_path / "processes")
    # The command line's workers: started by a forkserver, not forked from pytest.
    with WorkerPool(2) as pool:
        on_processes = run_night(
            project, frames, params, catalog=catalog, target=target, executor=pool
        )
    # The masters are combined on two threads beside the process pool, not on one.
    assert [type(p) for p in pools] == [ThreadPoolExecutor, ThreadPoolExecutor]
    assert pools[1]._max_workers == 2
    assert on_processes.counts == threaded.counts
    for name in ("fwhm", "n_sources", "zero_point", "zero_point_err", "astrometric_rms_arcsec"):
        np.testing.assert_allclose(on_processes.frames[name], threaded.frames[name], rtol=1e-9)
    # The registration, made on a worker beside the light curve, is the one made here.
    assert list(on_processes.frames["reg_status"]) == list(threaded.frames["reg_status"])
    assert list(threaded.frames["reg_status"]).count("ok") >= 3
    for name in ("reg_dx", "reg_dy", "reg_rotation", "reg_scale", "reg_rms"):
        np.testing.assert_allclose(on_processes.frames[name], threaded.frames[name], rtol=1e-9)
    assert [n for n in on_processes.notes if n.startswith("registration")] == [
        n for n in threaded.notes if n.startswith("registration")
    ]
    assert "registration (worker)" in on_processes.cpu.phases
    curve = np.asarray(on_processes.light_curve["mag"])
    np.testing.assert_allclose(curve, threaded.light_curve["mag"], rtol=1e-9)
    assert list(on_processes.frames["status"]) == ["ok"] * 4
    # Every star's product is the same, whichever kind of worker made it.
    stars = sorted((tmp_path / "threads/magnitudes").glob("light_????.ecsv"))
    assert len(stars) == 4
    for made_on_threads in stars:
        a = Table.read(made_on_threads)
        b = Table.read(tmp_path / "processes/magnitudes" / made_on_threads.name)
        assert len(a) == len(b) > 20
        for column in ("x", "y", "flux", "flux_err", "mag", "mag_err"):
            np.testing.assert_allclose(b[column], a[column], rtol=1e-9, err_msg=column)
    # Both runs account for their CPU time: the workers' frames and the serial rest.
    for run in (threaded, on_processes):
        assert run.cpu.workers > 0 and set(run.cpu.phases) >= {"masters", "frames", "registration"}
        assert 0 < run.cpu.serial_fraction < 1
