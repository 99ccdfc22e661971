"""The chain's step functions on a small simulated night: truth, reuse, staleness, cancel."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core import chain
from fluxion.core.astrometry import SolveParams
from fluxion.core.detection.extract import DetectionParams
from fluxion.core.io.sequence import scan
from fluxion.core.project.products import ProductStore
from fluxion.core.runtime.pipeline import Cancelled, StepState
from fluxion.core.simulation.simulate import NightConfig, read_truth_wcs, simulate_night
from fluxion.core.zeropoint import ZeroPointParams

CONFIG = NightConfig(n_frames=3, shape=(320, 320), n_bias=3, n_dark=3, n_flat=3)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("chain_night")
    simulate_night(out, CONFIG)
    return out


def _lights(frames):
    return [f for f in frames if f.type == "light"]


def _solve_params(night: Path) -> SolveParams:
    catalog = night / "truth/reference_catalog.ecsv"
    return SolveParams(catalog="Local file", catalog_file=str(catalog))


def test_chain_matches_truth_and_reuses_products(night, tmp_path):
    store = ProductStore(tmp_path)
    frames = scan(night)
    catalog = Table.read(night / "truth/reference_catalog.ecsv")
    outcomes = chain.calibrate_frames(store, frames)
    assert [o.status for o in outcomes] == ["done"] * CONFIG.n_frames
    for f in _lights(frames):
        image = chain.frame_image(store, f)
        assert image.calibrated and image.mask is not None
        found = chain.detect_frame(store, f)
        assert abs(found.fwhm - CONFIG.fwhm) < 0.5  # px, Moffat of 3 px
        solution = chain.solve_frame(store, f, _solve_params(night))
        assert solution.solved
        # The solution against the exact WCS over the field (1.2 arcsec/px), in arcsec;
        # the few stars of a small frame leave the corners' distortion less known.
        truth = read_truth_wcs(night / "truth" / f"{f.path.stem}.wcs.fits")
        gx, gy = np.meshgrid(np.linspace(30, 290, 5), np.linspace(30, 290, 5))
        a = solution.wcs.pixel_to_world(gx.ravel(), gy.ravel())
        err = a.separation(truth.pixel_to_world(gx.ravel(), gy.ravel())).arcsec
        assert np.median(err) < 0.5 and np.max(err) < 1.5
        chain.photometry_frame(store, f)
        zp = chain.zeropoint_frame(store, f, ZeroPointParams(), catalog)
        assert zp.calibrated
        # Simulator: 22 mag gives 1 e-/s above the atmosphere, 0.2 mag/airmass.
        expected = CONFIG.zero_point - CONFIG.extinction * f.airmass
        assert abs(zp.zero_point - expected) < max(5 * zp.zero_point_err, 0.06)
    # Everything current: nothing is rewritten.
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    stamps = {p: p.stat().st_mtime_ns for p in files}
    outcomes = chain.calibrate_frames(store, frames)
    assert [o.status for o in outcomes] == ["current"] * CONFIG.n_frames
    for f in _lights(frames):
        chain.detect_frame(store, f)
        chain.solve_frame(store, f, _solve_params(night))
        chain.photometry_frame(store, f)
        again = chain.zeropoint_frame(store, f, ZeroPointParams(), catalog)
        assert again.calibrated and np.isfinite(again.zero_point)
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    # A loaded product equals the computed one.
    f = _lights(frames)[0]
    assert chain.load_zeropoint(store, f).zero_point == pytest.approx(
        chain.load_magnitudes(store, f).meta["zero_point"]
    )


def test_new_parameters_redo_the_step_and_what_follows(night, tmp_path):
    store = ProductStore(tmp_path)
    frames = scan(night)
    f = _lights(frames)[0]
    chain.detect_frame(store, f)
    chain.solve_frame(store, f, _solve_params(night))
    before = store.fingerprint_of("astrometry", f.path)
    strict = DetectionParams(snr_threshold=25.0)
    fewer = chain.detect_frame(store, f, strict)
    assert fewer.n_sources < chain.detect_frame(store, f).n_sources
    chain.solve_frame(store, f, _solve_params(night), detection=strict)
    assert store.fingerprint_of("astrometry", f.path) != before


def test_raw_file_changed_makes_calibrated_frame_stale(night, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for p in night.glob("*.fits"):
        (raw / p.name).write_bytes(p.read_bytes())
    store = ProductStore(tmp_path / "project")
    frames = scan(raw)
    chain.calibrate_frames(store, frames)
    light = _lights(frames)[0]
    assert chain.frame_image(store, light).calibrated
    # Its pixels changed in place (same size, same time: only the content says so).
    st = light.path.stat()
    data = bytearray(light.path.read_bytes())
    data[-3000] ^= 0xFF
    light.path.write_bytes(bytes(data))
    os.utime(light.path, ns=(st.st_atime_ns, st.st_mtime_ns))
    image = chain.frame_image(store, light)
    assert not image.calibrated and image.mask is None
    again = chain.calibrate_frames(store, frames)
    assert [o.status for o in again] == ["done", "current", "current"]


def test_cancel_keeps_finished_frames(night, tmp_path):
    store = ProductStore(tmp_path)
    frames = scan(night)
    seen = []

    def progress(fraction: float, message: str) -> None:
        seen.append(message)
        if message.startswith("calibrated 1/"):
            state.cancel()

    state = StepState(progress)
    with pytest.raises(Cancelled):
        chain.calibrate_frames(store, frames, state=state)
    assert len(store.frames_done("calibration")) == 1
    outcomes = chain.calibrate_frames(store, frames)
    assert sorted(o.status for o in outcomes) == ["current", "done", "done"]
