"""A job's reference catalogue crosses to worker processes whole, and is rebuilt once a process."""

from __future__ import annotations

import pickle

import numpy as np
from astropy import units as u
from astropy.table import Table

from fluxion.core.astrometry.params import SolveParams
from fluxion.core.calibration import CalibrationParams
from fluxion.core.chain.catalog_state import catalog_from_state, catalog_state
from fluxion.core.chain.worker import FrameJob
from fluxion.core.detection.params import DetectionParams
from fluxion.core.photometry import PhotometryParams
from fluxion.core.zeropoint import ZeroPointParams


def _catalog(seed: int) -> Table:
    rng = np.random.default_rng(seed)
    t = Table({"ra": rng.uniform(309, 311, 300), "dec": rng.uniform(39, 41, 300)})
    t["ra"].unit = t["dec"].unit = u.deg
    t["V"] = rng.uniform(8, 16, 300) * u.mag
    t.meta["catalog"] = f"test {seed}"
    return t


def _job(catalog: Table | None) -> FrameJob:
    return FrameJob(
        "/tmp/project", CalibrationParams(), "masters", DetectionParams(), SolveParams(),
        PhotometryParams(), ZeroPointParams(), catalog,
    )  # fmt: skip


def test_a_job_crosses_with_its_catalogue_rebuilt_once() -> None:
    job = _job(_catalog(1))
    first = pickle.loads(pickle.dumps(job))
    second = pickle.loads(pickle.dumps(job))
    for name in ("folder", "calibration", "masters_fp", "detection", "astrometry", "names"):
        assert getattr(first, name) == getattr(second, name) == getattr(job, name), name
    assert first.photometry == job.photometry and first.zeropoint == job.zeropoint
    for back in (first, second):
        assert (
            back.catalog.colnames == job.catalog.colnames and back.catalog.meta == job.catalog.meta
        )
        for name in job.catalog.colnames:
            assert np.array_equal(back.catalog[name], job.catalog[name])
            assert back.catalog[name].unit == job.catalog[name].unit
    # The second frame's job shares the Table the first rebuilt, as threads share the job's.
    assert second.catalog is first.catalog and first.catalog is not job.catalog
    # Another night's catalogue is its own Table.
    other = pickle.loads(pickle.dumps(_job(_catalog(2))))
    assert other.catalog is not first.catalog and other.catalog.meta["catalog"] == "test 2"
    assert not np.array_equal(other.catalog["ra"], first.catalog["ra"])


def test_no_catalogue_stays_none() -> None:
    assert pickle.loads(pickle.dumps(_job(None))).catalog is None
    assert catalog_state(None) is None and catalog_from_state(None) is None
