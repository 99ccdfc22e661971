"""Hot pixels of a real camera: masked where they matter, dark-subtracted where they do not.

The asteroid night's SBIG STL-1001E (180 s darks) has a long tail of warm
pixels: 1.5 % of its pixels are 8 robust sigma above the master dark's
median, and masking them all flagged four in five detections as having a
masked pixel in their aperture. A pixel is masked HOT only where its excess
dark exceeds ``hot_sky`` times the light's noise per pixel; the warm pixels
below that are dark-subtracted as well as any other pixel, which the
calibrated light shows: their scatter about the local sky is the ordinary
pixels'.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from scipy import ndimage

from fluxion.app.cli import main
from fluxion.core.calibration.masks import MaskBits, dark_level, pixel_noise
from fluxion.core.detection.extract import SourceFlags

NIGHT = "asteroid2713-night1"
LIGHT = "lux-180.000secs.Light.Open.00000015.fit"


@pytest.fixture(scope="module")
def calibrated(shared_data, tmp_path_factory):
    night = shared_data / NIGHT
    if not (night / LIGHT).is_file():
        pytest.skip("the asteroid night is not in the shared data")
    out = tmp_path_factory.mktemp("hot_pixels")
    frames = [*sorted(night.glob("*Bias*")), *sorted(night.glob("*Dark*")), night / LIGHT]
    args = ["calibrate", *map(str, frames), "--out", str(out / "cal"), "--no-cosmic-rays"]
    assert main([*args, "--workers", "1"]) == 0
    assert (
        main(["detect", str(out / "cal" / LIGHT), "--out", str(out / "det"), "--workers", "1"]) == 0
    )
    return out


def _robust_std(a: np.ndarray) -> float:
    return 1.4826 * float(np.median(np.abs(a - np.median(a))))


def test_a_real_camera_masks_a_few_hot_pixels_and_its_warm_ones_are_dark_subtracted(calibrated):
    light = calibrated / "cal" / LIGHT
    data = fits.getdata(light).astype(float)
    mask = fits.getdata(light, "MASK")
    dark = fits.getdata(next((calibrated / "cal" / "masters").glob("master_dark*"))).astype(float)
    hot = (mask & MaskBits.HOT) != 0
    assert 1e-4 < hot.mean() < 1e-3, f"{hot.mean():.3%} of the pixels masked HOT"

    # Warm pixels (8 robust sigma above the dark's median) left unmasked: about 1.4 %.
    median, std = dark_level(dark)
    warm = (dark > median + 8 * std) & (mask == 0)
    assert warm.mean() > 0.01
    # Their scatter about the local sky, in units of the light's noise, is the
    # ordinary pixels' (dark subtraction removed them); the masked ones scatter more.
    resid = (data - ndimage.median_filter(data, 5)) / pixel_noise(data)
    ordinary = _robust_std(resid[mask == 0])
    assert _robust_std(resid[warm]) < 1.1 * ordinary
    assert _robust_std(resid[hot]) > 1.25 * ordinary


def test_most_real_detections_have_no_masked_pixel(calibrated):
    found = Table.read(calibrated / "det" / LIGHT.replace(".fit", ".ecsv"))
    masked = (np.asarray(found["flags"]) & int(SourceFlags.APERTURE_MASKED)) != 0
    assert len(found) > 300
    # 8 sigma of the dark: 362 of 463; about 550 hot pixels: one in six or fewer.
    assert masked.mean() < 0.2, f"{masked.sum()} of {len(found)} detections"
