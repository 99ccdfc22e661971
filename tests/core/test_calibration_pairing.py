"""Calibration frames pair with the lights by binning, shape, exposure and filter.

A night with a 1x1 and a 2x2 set of bias and darks and flats in two filters:
a master is made per geometry (per exposure for darks, per filter for flats),
and each light takes the masters of its own binning and size, the dark of
its exposure and the flat of its filter. A light no master fits is
calibrated without it and says why.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.calibration import Calibration, CalibrationMasters, CalibrationParams, RawFrame
from fluxion.core.calibration.apply import missing_from_header
from fluxion.core.calibration.pairing import missing_summary, unmatched
from fluxion.core.calibration.run import build_masters

RNG = np.random.default_rng(7)
NOISE = 5.0  # ADU read noise of every frame
# Bias level and dark rate (ADU/s) of the two binnings: a 2x2 pixel sums four
# pixels' dark current, and the camera's offset differs between modes.
LEVEL = {1: 1000.0, 2: 1200.0}
DARK_RATE = {1: 0.5, 2: 2.0}
SHAPE = {1: (64, 64), 2: (32, 32)}
N = 9  # frames per master


def _frame(kind: str, b: int, i: int, exptime: float, flt: str | None = None, signal=0.0):
    level = LEVEL[b] + DARK_RATE[b] * exptime + signal
    data = level + RNG.normal(0.0, NOISE, SHAPE[b])
    return RawFrame.from_array(
        data, name=f"{kind}_{b}x{b}_{i}.fits", binning=(b, b), exptime=exptime, filter=flt
    )


@pytest.fixture(scope="module")
def masters():
    bias = [_frame("bias", b, i, 0.0) for b in (1, 2) for i in range(N)]
    darks = {60.0: [_frame("dark", b, i, 60.0) for b in (1, 2) for i in range(N)]}
    # Flats: 1x1 only, in V and R, lit to 20000 ADU.
    flats = {
        f: [_frame("flat", 1, i, 2.0, f, signal=20000.0) for i in range(N)] for f in ("V", "R")
    }
    return build_masters(bias, darks, flats)


def test_a_master_per_geometry_exposure_and_filter(masters):
    assert not masters.problems
    m = masters.masters
    assert sorted((b.binning, b.shape) for b in m.biases) == [
        ((1, 1), (64, 64)),
        ((2, 2), (32, 32)),
    ]
    assert sorted((d.binning, d.exptime) for d in m.darks) == [((1, 1), 60.0), ((2, 2), 60.0)]
    assert sorted(f.filter for f in m.flats) == ["R", "V"]
    # Each master holds its own geometry's level (the bias of each mode, the
    # dark current of each binning, bias removed) to its noise / sqrt(N).
    for b in m.biases:
        assert b.stats["median"] == pytest.approx(LEVEL[b.binning[0]], abs=4 * NOISE / N**0.5)
    for d in m.darks:
        expected = DARK_RATE[d.binning[0]] * 60.0
        assert d.stats["median"] == pytest.approx(expected, abs=4 * NOISE * (2 / N) ** 0.5)


def test_each_light_takes_the_masters_of_its_binning_exposure_and_filter(masters):
    step = Calibration(CalibrationParams(find_cosmic_rays=False), masters.masters)
    signal = 500.0
    binned = step(_frame("light", 2, 0, 60.0, "V", signal=signal))
    # 2x2: its own bias and dark, no flat of that binning.
    assert binned.applied == ("bias", "dark")
    assert binned.missing == {
        "flat": "no master flat for 2x2 binning, 32x32 px (only for R, 1x1 binning, 64x64 px; "
        "V, 1x1 binning, 64x64 px)"
    }
    # The sky left is the light's own signal: the 2x2 bias level and dark were removed.
    sem = NOISE * (1 + 2 / N) ** 0.5 / np.sqrt(binned.data.size)
    assert float(np.mean(binned.data)) == pytest.approx(signal, abs=5 * sem)
    # 1x1, 30 s: the 60 s dark scaled by the exposures; the V flat.
    short = step(_frame("light", 1, 1, 30.0, "V", signal=signal))
    assert short.applied == ("bias", "dark", "flat") and not short.missing
    assert short.header["DARKEXP"] == 60.0 and short.header["FLATFILT"] == "V"
    assert float(np.mean(short.data)) == pytest.approx(signal, rel=0.01)
    # A filter with no flat is not flat-fielded with another filter's.
    other = step(_frame("light", 1, 2, 60.0, "B", signal=signal))
    assert other.applied == ("bias", "dark")
    assert other.missing["flat"] == (
        "no master flat in filter 'B' for 1x1 binning, 64x64 px (flats in R, V)"
    )
    # The reasons travel with the calibrated frame, whole (HISTORY would wrap them).
    assert missing_from_header(binned.header) == binned.missing
    assert unmatched(binned.missing) == [f"no flat: {binned.missing['flat']}"]
    assert unmatched({"flat": "the night has no flat frames"}) == []  # the night's, not the frame's
    lines = missing_summary([("a.fits", binned.missing), ("b.fits", other.missing)])
    assert lines == [
        f"not flat-fielded, 1 light (a.fits): {binned.missing['flat']}",
        f"not flat-fielded, 1 light (b.fits): {other.missing['flat']}",
    ]


@pytest.mark.parametrize("flats", [False, True])
def test_the_reasons_are_written_into_the_calibrated_file(masters, tmp_path, flats):
    m = masters.masters
    # Without flats the reason is short (one card); with them it needs CONTINUE cards.
    chosen = CalibrationMasters(biases=m.biases, darks=m.darks, flats=m.flats if flats else ())
    out = Calibration(CalibrationParams(find_cosmic_rays=False), chosen)(
        _frame("light", 2, 3, 60.0, "V")
    )
    path = tmp_path / "light.fits"
    out.to_hdulist().writeto(path)  # no warning: the test run turns them into errors
    assert missing_from_header(fits.getheader(path)) == out.missing
    assert (len(json.dumps(out.missing)) > 68) == flats  # 68: a card's longest string


def test_master_files_say_their_geometry_when_a_night_has_several(masters, tmp_path):
    from fluxion.core.calibration.run import master_file_name

    names = sorted(master_file_name(m, geometry=True) for m in masters.masters.all())
    assert names == [
        "master_bias_1x1_64x64.fits", "master_bias_2x2_32x32.fits",
        "master_dark_60s_1x1_64x64.fits", "master_dark_60s_2x2_32x32.fits",
        "master_flat_R_1x1_64x64.fits", "master_flat_V_1x1_64x64.fits",
    ]  # fmt: skip
    written = build_masters(
        [_frame("bias", b, i, 0.0) for b in (1, 2) for i in range(3)], {}, {}, folder=tmp_path
    )
    assert sorted(p.name for p in written.files) == [
        "master_bias_1x1_64x64.fits",
        "master_bias_2x2_32x32.fits",
    ]
