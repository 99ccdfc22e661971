"""``fluxion stack`` on a simulated night written to disk."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.simulation.simulate import ASTEROID_ID, NightConfig, simulate_night

N = 6


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    out = tmp_path_factory.mktemp("night")
    config = NightConfig(shape=(200, 200), n_frames=N, n_bias=0, n_dark=0, n_flat=0,
                         write_wcs=True)  # fmt: skip
    simulate_night(out, config)
    truths = [Table.read(out / "truth" / f"light_{i + 1:04d}.ecsv") for i in range(N)]
    return out, truths


def _peak_near(image, x, y, half=4):
    ix, iy = int(round(x)), int(round(y))
    box = image[iy - half : iy + half + 1, ix - half : ix + half + 1]
    dy, dx = np.unravel_index(np.nanargmax(box), box.shape)
    return ix - half + dx, iy - half + dy, float(np.nanmax(box))


def test_stack_on_the_stars_and_on_the_target(night, tmp_path, capsys):
    folder, truths = night
    ref = N // 2
    ast = [t[t["id"] == ASTEROID_ID][0] for t in truths]
    stars_out, target_out = tmp_path / "stars.fits", tmp_path / "target.fits"
    assert main(["stack", str(folder), "--method", "average", "-o", str(stars_out)]) == 0
    assert "on the stars (WCS" in capsys.readouterr().out
    clicks = []
    for i in (0, N - 1):
        clicks += ["--click", f"{i},{ast[i]['x']:.2f},{ast[i]['y']:.2f}"]
    rc = main(["stack", str(folder), "--on", "target", *clicks, "--name", "2713",
               "--method", "average", "-o", str(target_out)])  # fmt: skip
    assert rc == 0
    with fits.open(stars_out) as s, fits.open(target_out) as t:
        stars, target = s[0].data, t[0].data
        assert s[0].header["NCOMBINE"] == N and s[0].header["STACKON"] == "stars"
        assert t[0].header["STACKTGT"] == "2713" and t[0].header["STACKON"] == "target"
    # The asteroid is a sharp peak where it was in the reference light in
    # the target stack, and much fainter (smeared) in the star stack.
    x, y = ast[ref]["x"], ast[ref]["y"]
    px, py, peak = _peak_near(target, x, y)
    assert abs(px - x) <= 1 and abs(py - y) <= 1
    sky = np.nanmedian(target)
    assert peak - sky > 1.8 * (_peak_near(stars, x, y)[2] - np.nanmedian(stars))
    # The brightest unsaturated star sits at its reference position in the star stack.
    t = truths[ref]
    inside = (t["x"] > 20) & (t["x"] < 180) & (t["y"] > 20) & (t["y"] < 180)
    inside &= (t["kind"] == "star") & ~t["saturated"]
    star = t[inside][np.argmax(t["flux"][inside])]
    px, py, _ = _peak_near(stars, star["x"], star["y"])
    assert abs(px - star["x"]) <= 1 and abs(py - star["y"]) <= 1


def test_bad_requests_are_one_line_errors(night, tmp_path, capsys):
    folder, _ = night
    out = tmp_path / "s.fits"
    assert main(["stack", str(folder), "--on", "target", "-o", str(out)]) == 2
    assert "needs the track" in capsys.readouterr().err
    assert main(["stack", str(folder), "--reference", "99", "-o", str(out)]) == 2
    assert "--reference 99" in capsys.readouterr().err
    assert main(["stack", str(folder), "-o", str(tmp_path / "s.csv")]) == 2
    assert ".fits" in capsys.readouterr().err
    assert main(["stack", str(tmp_path / "nowhere"), "-o", str(out)]) == 2
    assert not out.exists()


def test_target_stack_gets_its_photometry_beside_it(night, tmp_path, capsys):
    folder, truths = night
    ast = [t[t["id"] == ASTEROID_ID][0] for t in truths]
    clicks = []
    for i in (0, N - 1):
        clicks += ["--click", f"{i},{ast[i]['x']:.2f},{ast[i]['y']:.2f}"]
    out = tmp_path / "target.fits"
    assert main(["stack", str(folder), "--on", "target", *clicks, "-o", str(out)]) == 0
    assert "photometry:" in capsys.readouterr().out
    table = Table.read(tmp_path / "target.phot.ecsv")
    row = table[table["is_target"]][0]
    # The stack's noise: N frames of the headers' gain (1.5 e-/ADU) as one exposure.
    assert table.meta["n_frames"] == N and table.meta["effective_gain"] == pytest.approx(N * 1.5)
    # The target is measured where it was in the reference light (the flux itself
    # is checked against the truth in tests/core/test_stack.py: this 200 px field
    # puts trailed stars in its aperture).
    ref = ast[N // 2]
    assert np.hypot(row["x"] - ref["x"], row["y"] - ref["y"]) < 1.0
    # A star stack has no photometry unless asked.
    stars = tmp_path / "stars.fits"
    assert main(["stack", str(folder), "-o", str(stars)]) == 0
    assert not (tmp_path / "stars.phot.ecsv").exists()
