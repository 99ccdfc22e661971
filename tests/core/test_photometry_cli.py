"""``fluxion photometry``: one ECSV per frame, named after the frame."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from scipy.spatial import cKDTree

from fluxion.app.cli import main
from fluxion.core.photometry.synthetic import star_field

GAIN = 2.0


def _write_frame(path, seed=1):
    f = star_field(
        (256, 256),
        30,
        seed=seed,
        gain=GAIN,
        read_noise=6.0,
        border=12,
        min_separation=35,
        flux_range=(3e3, 1e5),
    )
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [128.5, 128.5]
    wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
    hdr = wcs.to_header()
    hdr["GAIN"] = GAIN
    hdr["RDNOISE"] = 6.0
    hdr["SATURATE"] = 60000.0
    hdr["IMAGETYP"] = "Light Frame"
    fits.writeto(path, f.image.astype(np.float32), hdr)
    return f


@pytest.mark.parametrize("method", ["aperture", "psf", "crowded"])
def test_photometry_command_writes_one_table_per_frame(tmp_path, method, capsys):
    frames = [tmp_path / "night_001.fits", tmp_path / "night_002.fit"]
    frames = frames if method == "aperture" else frames[:1]  # PSF fits are slow
    fields = [_write_frame(p, seed=i) for i, p in enumerate(frames)]
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in frames]
    out = tmp_path / "phot"
    assert main(["photometry", *map(str, frames), "--method", method, "--out", str(out)]) == 0
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in frames] == before
    for path, field in zip(frames, fields, strict=True):
        t = Table.read(out / (path.stem + ".ecsv"))
        assert t.colnames[:5] == ["x", "y", "flux", "flux_err", "flags"]
        assert {"ra", "dec"} <= set(t.colnames)
        assert t.meta["flux_unit"] == "electron" and t.meta["method"] == method
        truth = field.truth
        d, i = cKDTree(np.c_[t["x"], t["y"]]).query(np.c_[truth["x"], truth["y"]])
        assert np.mean(d < 0.5) > 0.95  # 0-based pixel positions, x along columns
        ratio = np.median(t["flux"][i] / truth["flux"])
        assert ratio == pytest.approx(1.0, abs=0.02)  # electrons, total flux
        # ra, dec from the frame's WCS (0-based pixels).
        ra, dec = WCS(fits.getheader(path)).all_pix2world(t["x"], t["y"], 0)
        np.testing.assert_allclose(t["ra"], ra, atol=1e-9)
    assert f"{len(frames)} of {len(frames)} frames" in capsys.readouterr().out


def test_photometry_command_bad_input(tmp_path, capsys):
    bad = tmp_path / "broken.fits"
    bad.write_bytes(b"not a fits file at all" * 200)
    out = tmp_path / "phot"
    assert main(["photometry", str(bad), "--out", str(out)]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert not (out / "broken.ecsv").exists()
    assert main(["photometry", str(tmp_path / "nope.fits"), "--out", str(out)]) == 2


def test_psf_grid_written_and_read_back(tmp_path, capsys):
    """``--psf-grid`` writes the frame's PSF as a GriddedPSFModel file; ``--psf-file`` uses it."""
    from photutils.psf import GriddedPSFModel

    frame = tmp_path / "night_001.fits"
    field = _write_frame(frame)
    out = tmp_path / "phot"
    argv = ["photometry", str(frame), "--method", "psf", "--out", str(out)]
    assert main([*argv, "--psf-grid"]) == 0
    grid = out / "night_001.psf.fits"
    model = GriddedPSFModel.read(grid)
    assert model.data.shape[0] >= 1 and tuple(model.oversampling) == (4, 4)
    # The grid measures the frame again, as the frame's own PSF did.
    again = tmp_path / "again"
    argv = ["photometry", str(frame), "--method", "psf", "--out", str(again)]
    assert main([*argv, "--psf-file", str(grid)]) == 0
    t = Table.read(again / "night_001.ecsv")
    truth = field.truth
    d, i = cKDTree(np.c_[t["x"], t["y"]]).query(np.c_[truth["x"], truth["y"]])
    assert np.mean(d < 0.5) > 0.95
    assert np.median(t["flux"][i] / truth["flux"]) == pytest.approx(1.0, abs=0.02)
    missing = tmp_path / "none.fits"
    assert main([*argv, "--psf-file", str(missing)]) == 2
    assert "none.fits" in capsys.readouterr().err
