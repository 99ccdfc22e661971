"""The chain's aperture photometry takes detection's sources, not a second search of the frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from scipy.spatial import cKDTree

from fluxion.core import chain
from fluxion.core.chain.record import FrameRecord
from fluxion.core.detection.extract import DetectionParams
from fluxion.core.io.sequence import scan
from fluxion.core.photometry import PhotometryParams
from fluxion.core.photometry import step as photometry_step
from fluxion.core.project.products import ProductStore
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=1, shape=(512, 512), n_bias=0, n_dark=0, n_flat=0, seed=11)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sources_night")
    simulate_night(out, CONFIG)
    return out


def _light(folder: Path):
    return next(f for f in scan(folder) if f.type == "light")


def _pulls(night: Path, frame, table: Table) -> np.ndarray:
    """(flux - true flux) / flux_err of clean, lonely, unsaturated stars matched within 1 px."""
    truth = Table.read(night / "truth" / f"{frame.path.stem}.ecsv")
    truth = truth[truth["kind"] == "star"]
    txy = np.c_[truth["x"], truth["y"]]
    d, k = cKDTree(txy).query(np.c_[table["x"], table["y"]])
    crowd, _ = cKDTree(txy).query(txy, k=2)
    ok = (d < 1) & (np.asarray(table["flags"]) == 0)
    ok &= (crowd[:, 1] > 8)[k] & ~np.asarray(truth["saturated"])[k]
    flux, err = np.asarray(table["flux"]), np.asarray(table["flux_err"])
    return (flux - np.asarray(truth["flux"])[k])[ok] / err[ok]


def _no_search(*_args, **_kw):
    raise AssertionError("the frame was searched for stars again")


def test_aperture_photometry_takes_the_detected_sources(night, tmp_path, monkeypatch):
    frame = _light(night)
    store = ProductStore(tmp_path)
    record = FrameRecord(frame)
    found = chain.detect_frame(store, frame, record=record)
    image = record.image(store)
    # Photometry's own search of the same pixels, with detection's FWHM (the same radii).
    alone = photometry_step.Photometry(PhotometryParams()).run(
        image.data, mask=image.bad, gain=frame.gain, read_noise=frame.read_noise or 0.0,
        saturation=image.saturation, fwhm=found.fwhm,
    )  # fmt: skip
    monkeypatch.setattr(photometry_step, "find_stars", _no_search)
    reused = chain.measure_photometry(store, frame, PhotometryParams(), record=record)
    # The same stars measured: detection's sources.
    assert len(reused.table) == len(found.sources)
    # The curve of growth from detection's stars gives the same aperture correction
    # well within its error (most field stars are the same ones).
    a, b = alone.table.meta, reused.table.meta
    assert b["aperture_radius"] == pytest.approx(a["aperture_radius"], rel=1e-9)
    assert reused.curve_of_growth is not None and reused.curve_of_growth.n_field_stars >= 20
    assert abs(b["aperture_correction"] - a["aperture_correction"]) < b["aperture_correction_err"]
    # Against the truth: as many clean stars, fluxes as unbiased and as scattered
    # as photometry's own (these raw lights' pulls are ~1.5 wide either way: no flat).
    pulls, pulls_alone = _pulls(night, frame, reused.table), _pulls(night, frame, alone.table)
    assert pulls.size >= 0.95 * pulls_alone.size and pulls.size > 50

    def width(v: np.ndarray) -> float:
        return float(1.4826 * np.median(np.abs(v - np.median(v))))

    assert abs(np.median(pulls)) < 0.3 and abs(np.median(pulls) - np.median(pulls_alone)) < 0.2
    assert width(pulls) < 1.1 * width(pulls_alone)
    # The stored table is current for the chain and read back, nothing measured.
    stored = chain.photometry_frame(store, frame, PhotometryParams(), record=record)
    np.testing.assert_allclose(stored["flux"], reused.table["flux"], rtol=1e-9)


def test_other_sources_make_another_measurement(night, tmp_path):
    frame = _light(night)
    store = ProductStore(tmp_path)
    chain.detect_frame(store, frame)
    params = PhotometryParams()
    first = chain.photometry_fingerprint(store, frame, params)
    chain.photometry_frame(store, frame, params)
    assert store.is_current("photometry", frame.path, first)
    # Sources found with another threshold: the photometry's stars changed.
    chain.detect_frame(store, frame, DetectionParams(snr_threshold=8.0))
    assert chain.photometry_fingerprint(store, frame, params) != first
