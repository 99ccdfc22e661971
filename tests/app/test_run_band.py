"""``fluxion run --band``: a night whose FILTER names no band is calibrated to the band given.

The truth is the same simulated night with its FILTER 'V': renamed 'Filter 2'
(a filter wheel's slot name, as on a real SBIG camera) the run cannot tell the
band and says so; with ``--band V`` its zero points must be the named night's
(the same frames against the same catalog band, so the same numbers), and
both must follow the simulator's zero point less its extinction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from night_helpers import edited_copy, run_args, slot_named

from fluxion.app.cli import main
from fluxion.core.project.document import Project
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=4, shape=(320, 320), n_bias=3, n_dark=3, n_flat=3)
SLOT = "Filter 2"


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> tuple[Path, Path]:
    """The simulated night (FILTER 'V'), and a copy whose lights and flats say 'Filter 2'."""
    named = tmp_path_factory.mktemp("named")
    simulate_night(named, CONFIG)
    slot = tmp_path_factory.mktemp("slot") / "night"
    renamed = edited_copy(named, slot, slot_named)
    assert renamed == CONFIG.n_frames + 3  # the lights and the flats
    return named, slot


def _counts(printed: str, step: str) -> tuple[int, int]:
    line = next(x for x in printed.splitlines() if x.startswith(f"{step} "))
    words = line.split()
    return int(words[1]), int(words[3])  # "zeropoint  4 done,  0 current"


def test_the_band_given_calibrates_as_the_filter_named(nights, tmp_path, capsys):
    named, slot = nights
    assert main(run_args(named, tmp_path / "named")) == 0
    truth = Table.read(tmp_path / "named/frames.ecsv")
    capsys.readouterr()

    # Without the band: photometry and the light curve, no zero points, and why.
    assert main(run_args(slot, tmp_path / "p")) == 1
    said = capsys.readouterr().out
    line = next(x for x in said.splitlines() if x.startswith("zero points: "))
    assert f"filter '{SLOT}' of 4 lights (light_0001.fits" in line
    assert "--band BAND" in line and "Zero point step's Band" in line
    bare = Table.read(tmp_path / "p/frames.ecsv")
    assert not np.any(np.isfinite(np.asarray(bare["zero_point"], float)))
    # The curve was measured against comparison stars, and the note says so.
    n_comp = len(Table.read(tmp_path / "p/lightcurve.ecsv").meta["comparison_stars"])
    assert f"light curve (differential magnitudes against {n_comp} comparison stars" in line

    # With --band V: the named night's zero points, redone alone.
    assert main(run_args(slot, tmp_path / "p", "--band", "V")) == 0
    said = capsys.readouterr().out
    assert _counts(said, "zeropoint") == (4, 0)
    assert _counts(said, "photometry") == (0, 4)
    assert "zero points: " not in said
    given = Table.read(tmp_path / "p/frames.ecsv")
    zp, zp_named = np.asarray(given["zero_point"]), np.asarray(truth["zero_point"])
    # The same stars, apertures and catalog band: the same fit, far inside its error.
    assert np.all(np.abs(zp - zp_named) < 0.01 * np.asarray(truth["zero_point_err"]))
    # And the simulator's: 22 - 0.2 X, less the ~10 % a 5 px aperture misses.
    airmass = [Table.read(slot / f"truth/light_{k:04d}.ecsv").meta["airmass"] for k in (1, 2, 3, 4)]
    offset = zp - (CONFIG.zero_point - CONFIG.extinction * np.array(airmass))
    assert np.all((offset < 0) & (offset > -0.15))
    assert Project.load(tmp_path / "p").steps["zeropoint"]["band"] == "V"

    # Kept in the project: a re-run without --band uses it and redoes nothing.
    assert main(run_args(slot, tmp_path / "p")) == 0
    assert _counts(capsys.readouterr().out, "zeropoint") == (0, 4)
    # A changed band redoes the zero points, not the photometry.
    assert main(run_args(slot, tmp_path / "p", "--band", "B")) == 0
    said = capsys.readouterr().out
    assert _counts(said, "zeropoint") == (4, 0) and _counts(said, "photometry") == (0, 4)
    # 'auto' goes back to the FILTER, which names no band.
    assert main(run_args(slot, tmp_path / "p", "--band", "auto")) == 1
    assert Project.load(tmp_path / "p").steps["zeropoint"]["band"] == "auto"


def test_an_unknown_band_is_a_one_line_error(nights, tmp_path, capsys):
    _, slot = nights
    assert main(run_args(slot, tmp_path / "p", "--band", "Filter 2")) == 2
    err = capsys.readouterr().err
    assert "--band 'Filter 2' is not a known band" in err
    assert "auto, U, B, V, R, I, u, g, r, i, z, G" in err
    assert not (tmp_path / "p").exists()
