"""An amplifier extension is calibrated on its own sections, not the primary's.

A raw LCO Sinistro frame keeps the whole detector's TRIMSEC [1:1024,1:1024]
in its primary header and each amplifier's DATASEC and BIASSEC in its
extension. Completed by the primary's cards, the 544x522 amplifier took that
TRIMSEC and every light failed ("lies outside the image"). An extension
naming any section of its own now takes none of the primary's: its light is
its DATASEC, less its own overscan, row by row. On a simulated four-amplifier
file (its true bias and sky known) and on the real LCO frame.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from fluxion.core.calibration import Calibration, CalibrationParams
from fluxion.core.calibration.raw import RawFrame
from fluxion.core.io.fitsio import read_header
from fluxion.core.io.sequence import scan

NY, NX, OVER, EXTRA = 40, 48, 8, 3  # an amplifier's light, overscan columns, spare rows
READ_NOISE = 5.0  # ADU
BIAS = (1000.0, 1100.0, 950.0, 1200.0)  # ADU, each amplifier's
DRIFT = 0.5  # ADU a row: the bias follows the readout


def _amplifier_file(path, rng) -> tuple[np.ndarray, np.ndarray]:
    """Four amplifiers of one 80x96 detector, the primary's sections the detector's.

    Returns HDU 1's raw pixels and its true bias per raw row.
    """
    primary = fits.PrimaryHDU()
    primary.header.update(
        {"TRIMSEC": f"[1:{2 * NX},1:{2 * NY}]", "DATASEC": f"[1:{2 * NX + 20},1:{2 * NY + 10}]",
         "BIASSEC": "UNKNOWN", "DETSIZE": f"[1:{2 * NX},1:{2 * NY}]", "OBSTYPE": "EXPOSE",
         "OBJECT": "field", "EXPTIME": 30.0, "DATE-OBS": "2021-10-08T01:55:17", "GAIN": 0.0}
    )  # fmt: skip
    exts, first = [], None
    for k, bias in enumerate(BIAS):
        rows = np.arange(NY + EXTRA, dtype=float)[:, None]
        level = bias + DRIFT * rows
        sky = 300.0 + 2.0 * np.arange(NX)[None, :] + rng.normal(0, READ_NOISE, (NY + EXTRA, NX))
        over = rng.normal(0, READ_NOISE, (NY + EXTRA, OVER))
        raw = np.hstack([sky, np.zeros((NY + EXTRA, 4)), over]) + level
        ext = fits.ImageHDU(raw.astype(np.float32), name="SCI")
        x0, y0 = (k % 2) * NX, (k // 2) * NY
        ext.header.update(
            {"DATASEC": f"[1:{NX},1:{NY}]", "BIASSEC": f"[{NX + 5}:{NX + 4 + OVER},1:{NY}]",
             "DETSEC": f"[{x0 + 1}:{x0 + NX},{y0 + 1}:{y0 + NY}]", "GAIN": 2.0 + 0.1 * k}
        )  # fmt: skip
        exts.append(ext)
        if first is None:
            first = (raw, level[:, 0])
    fits.HDUList([primary, *exts]).writeto(path)
    assert first is not None
    return first


def test_a_simulated_amplifier_is_calibrated_on_its_own_sections(tmp_path):
    raw, true_bias = _amplifier_file(tmp_path / "mef.fits", np.random.default_rng(3))
    header, hdu = read_header(tmp_path / "mef.fits")
    assert hdu == 1 and "TRIMSEC" not in header and header["DATASEC"] == f"[1:{NX},1:{NY}]"
    assert header["EXPTIME"] == 30.0  # the observation's facts are still the primary's
    (info,) = scan([tmp_path / "mef.fits"])
    assert info.usable and info.gain == 2.0
    assert "calibrated on its own sections (DATASEC [1:48,1:40], BIASSEC [53:60,1:40])" in (
        " ".join(info.problems)
    )
    cal = Calibration(CalibrationParams(find_cosmic_rays=False))(RawFrame.from_info(info))
    assert "overscan" in cal.applied and cal.data.shape == (NY, NX)
    # The light less its true bias, against the calibrated one: the overscan's
    # row levels (median of 8 pixels of 5 ADU noise) miss the true bias by
    # 1.25 * 5 / sqrt(8) = 2.2 ADU a row.
    error = (raw[:NY, :NX] - true_bias[:NY, None]) - cal.data
    per_row = error[:, 0]
    assert np.allclose(error, per_row[:, None], atol=1e-3)  # one level a row
    sigma = 1.2533 * READ_NOISE / np.sqrt(OVER)
    assert np.abs(per_row).max() < 5 * sigma, per_row
    assert abs(per_row.mean()) < 5 * sigma / np.sqrt(NY), per_row.mean()


def test_the_lco_frames_amplifier_is_calibrated_on_its_own_sections(shared_data):
    path = shared_data / "neoexchange/neoexchange/photometrics/tests/mef_raw_test_frame.fits"
    (info,) = scan([path])
    assert info.usable and info.hdu == 1 and info.gain == 6.42
    said = " ".join(info.problems)
    assert "calibrated on its own sections (DATASEC [1:512,1:512], BIASSEC [520:540,1:512])" in (
        said
    )
    cal = Calibration(CalibrationParams(find_cosmic_rays=False))(RawFrame.from_info(info))
    assert "overscan" in cal.applied and cal.data.shape == (512, 512)
    with fits.open(path) as hdul:
        raw = hdul[1].data.astype(np.float64)
    # Each row less the median of its own overscan (BIASSEC columns 520-540).
    expected = raw[:512, :512] - np.median(raw[:512, 519:540], axis=1)[:, None]
    assert np.allclose(cal.data, expected, atol=0.01)
    # The amplifier's overscan is its bias: the sky above it is the light's, positive.
    assert np.median(cal.data) > 0
