"""A real night filed in sub-folders: frames found and paired, masters as numpy makes them.

The 2713 Luxembourg night (MIT Wallace, SBIG STL-1001E) linked into a
``LIGHT/ BIAS/ DARK/`` tree as capture programs file it: opening the top
folder finds the 25 lights, 10 bias and 5 darks; every light is paired with
the master bias and the 180 s master dark of its 1x1 binning and 1024x1024
size; the night has no flats, and the run says so for every light.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluxion.app.cli import main
from fluxion.core.io.sequence import group_frames, scan

SET = "asteroid2713-night1"
KINDS = {"LIGHT": "Light", "BIAS": "Bias", "DARK": "Dark"}


@pytest.fixture(scope="module")
def tree(shared_data: Path, tmp_path_factory) -> Path:
    source = shared_data / SET
    if not source.is_dir():
        pytest.skip(f"{SET} not in the real-data folder")
    night = tmp_path_factory.mktemp("real_tree") / "night"
    for folder, word in KINDS.items():
        (night / folder).mkdir(parents=True)
        for f in sorted(source.glob(f"*.{word}.*.fit")):
            (night / folder / f.name).symlink_to(f)
    return night


def test_the_tree_is_found_and_grouped(tree: Path) -> None:
    frames = scan(tree)
    g = group_frames(frames)
    assert g.counts() == {"bias": 10, "dark": 5, "flat": 0, "light": 25, "unknown": 0}
    assert list(g.darks) == [180.0]
    for f in frames:
        assert f.path.parent.name == {"light": "LIGHT", "bias": "BIAS", "dark": "DARK"}[f.type]
        assert f.binning == (1, 1) and f.shape == (1024, 1024)


def test_calibrate_pairs_every_light_with_the_bias_and_dark(tree: Path, tmp_path, capsys) -> None:
    out = tmp_path / "cal"
    rc = main(["calibrate", str(tree), "--out", str(out), "--no-cosmic-rays", "--workers", "2"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "found 25 lights, 10 bias, 5 darks, 0 flats; 25 of 25 lights calibrated" in text
    assert text.count(": bias, dark;") == 25
    assert "missing  not flat-fielded, 25 lights" in text and "the night has no flat frames" in text

    # The masters are numpy's pixel-wise medians of the paired frames (the
    # dark less the master bias); float32 rounding is far below the noise.
    def cube(folder: str) -> np.ndarray:
        files = sorted((tree / folder).iterdir())
        return np.array([fits.getdata(p).astype(np.float64) for p in files])

    bias = np.median(cube("BIAS"), axis=0)
    dark = np.median(cube("DARK") - bias, axis=0)
    master_bias = fits.getdata(out / "masters" / "master_bias.fits")
    master_dark = fits.getdata(out / "masters" / "master_dark_180s.fits")
    assert np.max(np.abs(master_bias - bias)) < 0.01
    assert np.max(np.abs(master_dark - dark)) < 0.01
    light = sorted((tree / "LIGHT").iterdir())[0]
    raw = fits.getdata(light).astype(np.float64)
    with fits.open(out / light.name) as hdul:
        assert hdul[0].header["CALSTEPS"] == "bias,dark"
        assert hdul[0].header["DARKEXP"] == 180.0
        calibrated = hdul[0].data.astype(np.float64)
    assert np.max(np.abs(calibrated - (raw - bias - dark))) < 0.02
