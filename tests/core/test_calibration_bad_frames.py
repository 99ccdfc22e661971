"""One bad calibration frame is left out of its master, never costs the master."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.calibration import MasterParams, RawFrame
from fluxion.core.calibration.run import build_masters
from fluxion.core.io.sequence import group_frames, scan

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from malformed_corpus import _corrupt_fz  # noqa: E402

simulate = pytest.importorskip("fluxion.core.simulation.simulate")


def _masters(folder: Path):
    g = group_frames(scan(folder, measure_gain=False))

    def raw(group):
        return [RawFrame.from_info(f) for f in group]

    return build_masters(
        raw(g.bias),
        {t: raw(fs) for t, fs in g.darks.items()},
        {k: raw(fs) for k, fs in g.flats.items()},
        MasterParams(),
    )


def test_bad_bias_dark_and_flat_are_left_out_and_said(tmp_path) -> None:
    night = tmp_path / "night"
    simulate.simulate_night(
        night, simulate.NightConfig(n_frames=1, shape=(64, 64), n_bias=4, n_dark=4, n_flat=4)
    )
    good = _masters(night)
    assert not good.problems
    # A damaged compressed bias (its header reads, its pixels do not), a flat
    # with no light, a dark whose exposure time is unreadable.
    bias = (night / "bias_0001.fits").read_bytes()
    (night / "bias_0009.fits.fz").write_bytes(_corrupt_fz(bias, random.Random(3)))
    with fits.open(night / "flat_V_0001.fits") as hdul:
        header = hdul[0].header.copy()
        fits.PrimaryHDU(np.zeros_like(hdul[0].data), header).writeto(night / "flat_V_0009.fits")
    with fits.open(night / "dark_0001.fits") as hdul:
        header = hdul[0].header.copy()
        header["EXPTIME"] = header["EXPOSURE"] = -1.0
        fits.PrimaryHDU(hdul[0].data, header).writeto(night / "dark_0009.fits")

    mixed = _masters(night)
    said = "\n".join(mixed.problems)
    assert "bias_0009.fits.fz: the compressed image is damaged" in said
    assert "flat_V_0009.fits: no light" in said
    assert "dark_0009.fits: no exposure time" in said
    for kind in ("biases", "darks", "flats"):
        (a,), (b,) = getattr(good.masters, kind), getattr(mixed.masters, kind)
        assert b.n_frames == a.n_frames == 4
        # The same frames combined: the same master.
        np.testing.assert_allclose(b.data, a.data, rtol=1e-6, atol=1e-3)
        # (The dark without a time is grouped apart from the 120 s darks by scan.)
        assert len(b.rejected) == (0 if kind == "darks" else 1)
