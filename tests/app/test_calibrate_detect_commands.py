"""`fluxion calibrate` and `fluxion detect` on a simulated night written to disk."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from scipy.spatial import cKDTree

from fluxion.app.cli import build_parser, main
from fluxion.core.calibration import MaskBits
from fluxion.core.detection.extract import DetectionParams
from fluxion.core.io.folders import OUTPUT_MARKER
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(
    seed=21,
    n_frames=2,
    shape=(256, 256),
    n_bias=3,
    n_dark=3,
    n_flat=3,
    asteroid=False,
    star_density=6.0,
)


@pytest.fixture(scope="module")
def night_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("night")
    simulate_night(d, CONFIG)
    return d


@pytest.fixture(scope="module")
def calibrated(night_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("calibrated")
    before = {p.name: p.read_bytes() for p in night_dir.glob("*.fits")}
    assert main(["calibrate", str(night_dir), "--out", str(out), "--workers", "2"]) == 0
    after = {p.name: p.read_bytes() for p in night_dir.glob("*.fits")}
    assert before == after  # raw inputs untouched
    return out


def test_calibrate_writes_masters_and_one_frame_per_light(calibrated, capsys):
    masters = sorted(p.name for p in (calibrated / "masters").iterdir())
    assert masters == ["master_bias.fits", "master_dark_120s.fits", "master_flat_V.fits"]
    lights = sorted(p.name for p in calibrated.glob("*.fits"))
    assert lights == ["light_0001.fits", "light_0002.fits"]
    with fits.open(calibrated / "light_0001.fits") as hdul:
        assert hdul[0].header["CALSTEPS"] == "bias,dark,flat,cosmic rays"
        assert hdul[0].data.dtype.kind == "f"
        mask = hdul["MASK"].data
        assert mask.shape == CONFIG.shape
        assert np.count_nonzero(mask & MaskBits.COSMIC_RAY) > 0
    with fits.open(calibrated / "masters" / "master_flat_V.fits") as hdul:
        assert hdul[0].header["NCOMBINE"] == 3
        assert np.mean(hdul[0].data) == pytest.approx(1.0, abs=1e-5)


def test_detect_writes_an_ecsv_per_frame_that_matches_the_truth(calibrated, night_dir, tmp_path):
    out = tmp_path / "sources"
    assert main(["detect", str(calibrated), "--out", str(out), "--workers", "1"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.name != OUTPUT_MARKER) == [
        "light_0001.ecsv",
        "light_0002.ecsv",
    ]
    assert (out / OUTPUT_MARKER).is_file()  # a scan of a folder above it skips it
    table = Table.read(out / "light_0001.ecsv", format="ascii.ecsv")
    for column in ("x", "y", "flux", "flux_err", "fwhm", "flags", "a", "b", "theta", "peak"):
        assert column in table.colnames
    for key in ("fwhm", "fwhm_spread", "sky", "sky_noise", "n_sources"):
        assert key in table.meta
    truth = Table.read(night_dir / "truth" / "light_0001.ecsv", format="ascii.ecsv")
    inside = (truth["x"] > 5) & (truth["x"] < 250) & (truth["y"] > 5) & (truth["y"] < 250)
    bright = truth[inside & (truth["flux"] > 2e4) & ~truth["saturated"]]
    tree = cKDTree(np.column_stack([table["x"], table["y"]]))
    dist, _ = tree.query(np.column_stack([bright["x"], bright["y"]]))
    assert len(bright) >= 5
    # 0-based pixel coordinates, x along columns: bright stars land within 0.1 px RMS.
    assert np.sqrt(np.mean(dist**2)) < 0.1
    assert table.meta["fwhm"] == pytest.approx(float(np.median(truth["fwhm"])), rel=0.05)


def test_detect_defaults_are_the_detection_steps_own(tmp_path):
    # The command once carried its own threshold and area (3 sigma, 5 px) and
    # found half the sources the window and `fluxion run` find.
    args = build_parser().parse_args(["detect", str(tmp_path), "--out", str(tmp_path / "o")])
    d = DetectionParams()
    assert (args.threshold, args.min_area, args.mesh) == (d.snr_threshold, d.min_area, d.mesh_size)


def test_bad_frames_are_reported_and_the_others_processed(night_dir, tmp_path, capsys):
    raw = tmp_path / "raw"
    shutil.copytree(night_dir, raw, ignore=shutil.ignore_patterns("truth"))
    with fits.open(raw / "light_0002.fits") as hdul:
        header = hdul[0].header.copy()
        data = hdul[0].data
    header.remove("BZERO", ignore_missing=True)
    header.remove("BSCALE", ignore_missing=True)
    fits.writeto(raw / "light_small.fits", data[:128].astype(np.float32), header)
    fits.writeto(raw / "light_nan.fits", np.full(CONFIG.shape, np.nan, np.float32), header)
    out = tmp_path / "out"
    assert main(["calibrate", str(raw), "--out", str(out), "--no-cosmic-rays"]) == 0
    text = capsys.readouterr().out
    # A light no master fits is calibrated without them, and the run says why.
    assert "light    light_small.fits: nothing applied" in text
    assert (
        "missing  no bias subtracted, 1 light (light_small.fits): no master bias for 1x1 "
        "binning, 256x128 px (only for 1x1 binning, 256x256 px)"
    ) in text
    assert "skipped  light_nan.fits: all pixels are NaN" in text
    assert (out / "light_0001.fits").exists() and (out / "light_0002.fits").exists()
    # detect on the raw folder: the NaN frame is skipped with a message, the others work.
    assert main(["detect", str(raw), "--out", str(tmp_path / "det")]) == 0
    text = capsys.readouterr().out
    assert "skipped  light_nan.fits: all pixels are NaN" in text
    assert (tmp_path / "det" / "light_small.ecsv").exists()


def test_lights_without_masters_are_calibrated_with_nothing_applied(night_dir, tmp_path, capsys):
    raw = tmp_path / "lights"
    raw.mkdir()
    shutil.copy(night_dir / "light_0001.fits", raw)
    out = tmp_path / "out"
    assert main(["calibrate", str(raw), "--out", str(out), "--no-cosmic-rays"]) == 0
    assert "light_0001.fits: nothing applied" in capsys.readouterr().out


def test_clear_errors_for_bad_arguments(night_dir, tmp_path, capsys):
    assert main(["calibrate", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["calibrate", str(night_dir), "--out", str(night_dir)]) == 2
    assert "holds the raw frames" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["detect", str(empty), "--out", str(tmp_path / "d")]) == 2
