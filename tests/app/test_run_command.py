"""``fluxion run`` on a simulated night: light curve against the truth, idle re-run, bad frame."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.project.document import Project
from fluxion.core.simulation.simulate import NightConfig, read_truth_wcs, simulate_night

CONFIG = NightConfig(n_frames=4, shape=(320, 320), n_bias=3, n_dark=3, n_flat=3)
STEPS = ("calibration", "detection", "astrometry", "photometry", "zeropoint", "lightcurve")


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run_night")
    simulate_night(out, CONFIG)
    return out


def _eclipsing(night: Path):
    first = Table.read(night / "truth/light_0001.ecsv")
    return first[first["kind"] == "eclipsing"][0]


def _truth_mags(night: Path, star_id: int) -> np.ndarray:
    mags = []
    for k in range(1, CONFIG.n_frames + 1):
        t = Table.read(night / f"truth/light_{k:04d}.ecsv")
        mags.append(float(t[t["id"] == star_id]["mag_V"][0]))
    return np.array(mags)


def _args(night: Path, project: Path, star) -> list[str]:
    return [
        "run", str(night), "--project", str(project),
        "--ra", repr(float(star["ra"])), "--dec", repr(float(star["dec"])),
        "--catalog", str(night / "truth/reference_catalog.ecsv"),
        "--workers", "2", "--aperture", "5", "--no-cosmic-rays", "--no-report",
    ]  # fmt: skip


def test_run_gives_the_eclipsing_binary_and_a_rerun_does_nothing(night, tmp_path, capsys):
    star = _eclipsing(night)
    project = tmp_path / "project"
    assert main(_args(night, project, star)) == 0
    lc = Table.read(project / "lightcurve.ecsv")
    truth = _truth_mags(night, int(star["id"]))
    frames = Table.read(project / "frames.ecsv")
    assert list(frames["status"]) == ["ok"] * CONFIG.n_frames
    # Each light's registration on its detected stars, to the first light:
    # the shift of the frame centre is the truth WCS's, to the centroid noise.
    assert list(frames["reg_status"]) == ["ok"] * CONFIG.n_frames
    assert np.all(frames["reg_n_matched"] >= 10) and np.all(frames["reg_rms"] < 0.2)
    w0 = read_truth_wcs(night / "truth/light_0001.wcs.fits")
    centre = w0.pixel_to_world(159.5, 159.5)
    for k in range(CONFIG.n_frames):
        wk = read_truth_wcs(night / f"truth/light_{k + 1:04d}.wcs.fits")
        dx, dy = np.asarray(wk.world_to_pixel(centre), float) - 159.5
        assert np.hypot(frames["reg_dx"][k] - dx, frames["reg_dy"][k] - dy) < 0.05
    # Calibrated magnitudes: the star's photon noise and the frame's zero-point error.
    sigma = np.hypot(np.asarray(lc["mag_err"]), np.asarray(frames["zero_point_err"]))
    pulls = (np.asarray(lc["mag"]) - truth) / sigma
    assert np.all(np.abs(pulls) < 4), pulls
    assert np.all(np.abs(np.asarray(lc["mag"]) - truth) < 0.05)
    # The eclipse is seen: the light curve follows the truth's changes.
    assert np.ptp(truth) > 0.03
    assert np.corrcoef(np.asarray(lc["mag"]), truth)[0, 1] > 0.9
    # Frame facts against the simulator: FWHM in px, zero point 22 - 0.2 X.
    assert np.all(np.abs(np.asarray(frames["fwhm"]) - CONFIG.fwhm) < 0.5)
    assert np.all(frames["wcs_ok"]) and np.all(np.asarray(frames["astrometric_rms_arcsec"]) < 0.5)
    truths = [Table.read(night / f"truth/light_{k:04d}.ecsv").meta for k in range(1, 5)]
    expected = np.array([CONFIG.zero_point - CONFIG.extinction * m["airmass"] for m in truths])
    # A fixed 5 px aperture (1.6 FWHM) misses ~10 % of a Moffat star's light, the
    # same fraction in every frame: the zero points follow the airmass below the truth.
    offset = np.asarray(frames["zero_point"]) - expected
    assert np.all((offset < 0) & (offset > -0.15)) and np.ptp(offset) < 0.04
    assert np.all(np.asarray(frames["n_sources"]) > 10)
    # The GUI's project: every step recorded, parameters as run.
    opened = Project.load(project)
    assert set(STEPS) <= set(opened.results)
    assert opened.steps["photometry"]["aperture_radius"] == 5.0
    assert opened.steps["astrometry"]["catalog"] == "Local file"
    capsys.readouterr()
    # Re-run: every step current, no product rewritten.
    products = [p for p in project.rglob("*") if p.is_file() and p.suffix in (".fits", ".ecsv")]
    products = [p for p in products if p.name not in ("frames.ecsv", "lightcurve.ecsv")]
    stamps = {p: p.stat().st_mtime_ns for p in products}
    assert main(_args(night, project, star)) == 0
    out = capsys.readouterr().out
    for step in ("calibration", "detection", "astrometry", "photometry", "zeropoint"):
        assert f"{step:12s}    0 done,    4 current" in out
    assert {p: p.stat().st_mtime_ns for p in products} == stamps
    again = Table.read(project / "lightcurve.ecsv")
    np.testing.assert_array_equal(np.asarray(again["mag"]), np.asarray(lc["mag"]))


def test_a_bad_frame_is_reported_and_the_others_go_on(night, tmp_path, capsys):
    raw = tmp_path / "raw"
    shutil.copytree(night, raw, ignore=shutil.ignore_patterns("truth"))
    # A light cut to another size: the masters do not fit it.
    with fits.open(raw / "light_0002.fits") as hdul:
        fits.PrimaryHDU(hdul[0].data[:200, :200], hdul[0].header).writeto(
            raw / "light_0002.fits", overwrite=True
        )
    star = _eclipsing(night)
    project = tmp_path / "project"
    args = _args(raw, project, star)
    args[args.index("--catalog") + 1] = str(night / "truth/reference_catalog.ecsv")
    assert main(args) == 1
    frames = Table.read(project / "frames.ecsv")
    status = dict(zip(frames["file"], frames["status"], strict=True))
    assert "master" in status["light_0002.fits"] and "px" in status["light_0002.fits"]
    assert [status[f"light_{k:04d}.fits"] for k in (1, 3, 4)] == ["ok"] * 3
    assert "light_0002.fits" in capsys.readouterr().out
    # Calibrated without the masters, which do not fit it: a re-run, finding its
    # product current, says the same.
    assert status["light_0002.fits"].startswith(
        "calibration: no bias: no master bias for 1x1 binning, 200x200 px"
    )
    assert main(args) == 1
    again = Table.read(project / "frames.ecsv")
    assert list(again["status"]) == list(frames["status"])


def test_bad_arguments_are_one_line_errors(night, tmp_path, capsys):
    assert main(["run", str(tmp_path / "none"), "--project", str(tmp_path / "p")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["run", str(night), "--project", str(tmp_path / "p"), "--ra", "10"]) == 2
    assert "--dec" in capsys.readouterr().err
    args = ["run", str(night), "--project", str(tmp_path / "p"), "--executor", "mpi"]
    assert main(args) == 2
    assert "--executor" in capsys.readouterr().err


def test_summary_page_has_the_frames_and_the_plots(tmp_path, qapp):
    from PySide6.QtGui import QImage

    from fluxion.app.report import write_report

    n = 5
    frames = Table(
        {
            "file": [f"light_{k}.fits" for k in range(n)],
            "jd_utc": 2460564.4 + 0.002 * np.arange(n),
            "fwhm": np.full(n, 3.1),
            "sky": np.full(n, 120.0),
            "n_sources": np.full(n, 40),
            "wcs_ok": [True] * n,
            "astrometric_rms_arcsec": np.full(n, 0.2),
            "zero_point": np.linspace(21.7, 21.8, n),
            "zero_point_err": np.full(n, 0.01),
            "status": ["ok"] * (n - 1) + ["not solved: too few stars"],
        }
    )
    lc = Table({"jd_utc": frames["jd_utc"], "mag": np.linspace(13.5, 13.6, n),
                "mag_err": np.full(n, 0.01)})  # fmt: skip
    page = write_report(tmp_path, frames, lc)
    text = page.read_text()
    assert text.count("<tr") == n + 1 and text.count('class="bad"') == 1
    assert "4 of 5 lights" in text and "too few stars" in text
    for name in ("lightcurve", "seeing", "sky", "sources", "astrometry", "zeropoint"):
        image = QImage(str(tmp_path / "report" / f"{name}.png"))
        assert image.width() == 640 and image.height() > 100
        assert f"{name}.png" in text
