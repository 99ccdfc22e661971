"""Why C3 - C1 is 1.44 mag on the asteroid-2713 night, not the catalogue's 1.72.

The author's comparison stars (C1 (230, 856) = 12.2, C2 (257, 747) = 13.01,
C3 (611, 272) = 13.92 mag, 0-based numpy column/row; magnitudes from VizieR,
band not stated) measured in the 20 clear lights, calibrated with master bias
and dark, 5 px aperture. Each suspect is measured and ruled in or out:

* Aperture and positions: ruled out. Both stars are isolated (no source
  within 75 px of C1) and the centroids are within 2 px of the author's
  integer positions; C3 - C1 changes by 0.03 mag from r = 4 to 12 px.
* Illumination: real, but 0.06 mag. A twilight sky flat (make_sky_flat on
  the 4 dawn lights) shows centred vignetting, 8 % between centre and
  corners; C3 sits 5.5-6 % brighter in illumination than C1. The night-sky
  flat from the 20 dark-sky lights agrees within 0.3 %. Flat-fielded,
  C3 - C1 = 1.50.
* Linearity: ruled out. C1 peaks at 31-35k ADU (raw <= 40k with sky, far
  below the ADC's 65535 and the KAF-1001E's well at 2.07 e-/ADU); frames
  where seeing drops its peak to 17-25k ADU give the same C3 - C1 within
  0.01 mag.
* What is left (0.22 mag) belongs to C1: C2 - C1 falls short of the
  catalogue by as much (0.27 mag) while C3 - C2 agrees with it (0.96 against
  0.91). C1 is either of another colour than C2 and C3 (an unfiltered CCD
  against a catalogue band) or its catalogue magnitude is off; neither can be
  settled without the catalogue row.
"""

from __future__ import annotations

import numpy as np
import pytest
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture
from photutils.centroids import centroid_2dg

from fluxion.core.calibration import (
    Calibration,
    CalibrationMasters,
    CalibrationParams,
    RawFrame,
    make_master_bias,
    make_master_dark,
    make_sky_flat,
)
from fluxion.core.detection.extract import Detection
from fluxion.core.io.sequence import group_frames, scan

AUTHOR_XY = np.array([[230.0, 856.0], [257.0, 747.0], [611.0, 272.0]])  # C1, C2, C3
CATALOGUE = np.array([12.2, 13.01, 13.92])
CLEAR = 20  # lights after the 20th are in dawn twilight (sky 9,400-14,800 ADU)
RADII = (4.0, 5.0, 6.0, 8.0, 10.0, 12.0)


def _centroid(image: np.ndarray, x: float, y: float, half: int = 7) -> tuple[float, float]:
    xi, yi = int(round(x)), int(round(y))
    cut = image[yi - half : yi + half + 1, xi - half : xi + half + 1]
    sky = np.median(image[yi - 30 : yi + 31, xi - 30 : xi + 31])
    cx, cy = centroid_2dg(cut - sky)
    return xi - half + float(cx), yi - half + float(cy)


def _fluxes(image: np.ndarray, xy: np.ndarray, r: float) -> np.ndarray:
    sky = ApertureStats(image, CircularAnnulus(xy, 14.0, 22.0)).median
    return CircularAperture(xy, r).do_photometry(image)[0] - sky * np.pi * r * r


@pytest.fixture(scope="module")
def night(shared_data):
    folder = shared_data / "asteroid2713-night1"
    if not folder.is_dir():
        pytest.skip("asteroid2713-night1 not in the shared data")
    groups = group_frames(scan(sorted(folder.glob("*.fit"))))
    bias = make_master_bias([RawFrame.from_info(f) for f in groups.bias])
    ((_, darks),) = groups.darks.items()
    dark = make_master_dark([RawFrame.from_info(f) for f in darks], bias)
    ((_, infos),) = groups.lights.items()
    lights = [RawFrame.from_info(f) for f in sorted(infos, key=lambda f: f.path.name)]
    assert len(lights) == 25
    calibrate = Calibration(
        CalibrationParams(divide_flat=False, find_cosmic_rays=False),
        CalibrationMasters(bias=bias, darks=(dark,)),
    )
    images = [calibrate(f).data for f in lights[:CLEAR]]
    # The field drifts 23 px over the night, ~1 px per light: each light's
    # centroid starts from the previous one's (as the author did).
    xy, start = [], AUTHOR_XY
    for im in images:
        start = np.array([_centroid(im, x, y) for x, y in start])
        xy.append(start)
    twilight = make_sky_flat(lights[CLEAR : CLEAR + 4], bias, dark).data
    night_sky = make_sky_flat(lights[:CLEAR:2], bias, dark).data
    flux = {
        (r, flat): np.array([_fluxes(im / f, p, r) for im, p in zip(images, xy, strict=True)])
        for r in RADII
        for flat, f in (("none", 1.0), ("twilight", twilight))
    }
    c1 = [p[0].round().astype(int) for p in xy]
    peak = np.array(
        [im[y - 2 : y + 3, x - 2 : x + 3].max() for im, (x, y) in zip(images, c1, strict=True)]
    )
    return {"images": images, "xy": np.array(xy), "flux": flux, "twilight": twilight,
            "night_sky": night_sky, "peak": peak}  # fmt: skip


def _mag(night, r=5.0, flat="none") -> np.ndarray:
    return -2.5 * np.log10(night["flux"][(r, flat)])


def test_the_positions_land_on_isolated_stars(night):
    first = night["xy"][0]
    assert np.all(np.hypot(*(first - AUTHOR_XY).T) < 2.0), first - AUTHOR_XY
    found = Detection()(night["images"][0]).sources
    sx, sy, sf = (np.asarray(found[k]) for k in ("x", "y", "flux"))
    # C1 and C3: nothing within 30 px brighter than 3 % of the star, no blend
    # in the aperture or the annulus. C2 has a neighbour at 13 px, outside its
    # 5 px aperture, 3.5 % of it in equal apertures (its Kron flux, which takes
    # in some of C2's wings, reads 5-7 %): far too faint to move it by 0.27 mag.
    for (x, y), limit in zip(first, (0.03, 0.08, 0.03), strict=True):
        d = np.hypot(sx - x, sy - y)
        near = (d > 3) & (d < 30)
        assert not np.any(sf[near] > limit * sf[np.argmin(d)]), (x, y)


def test_c3_minus_c1_barely_depends_on_the_aperture(night):
    d = {r: np.median(_mag(night, r)[:, 2] - _mag(night, r)[:, 0]) for r in RADII}
    assert abs(d[5.0] - 1.442) < 0.01
    assert np.std(_mag(night)[:, 2] - _mag(night)[:, 0]) < 0.015
    # The curve of growth of the difference is flat: 0.03 mag from 4 to 12 px,
    # far from the 0.28 mag missing.
    assert np.ptp(list(d.values())) < 0.035, d


def test_twilight_sky_flat_shows_the_vignetting_between_the_stars(night):
    flat, night_sky = night["twilight"], night["night_sky"]
    ny, nx = flat.shape
    centre = flat[ny // 2 - 32 : ny // 2 + 32, nx // 2 - 32 : nx // 2 + 32].mean()
    corners = np.mean([flat[:64, :64].mean(), flat[:64, -64:].mean(),
                       flat[-64:, :64].mean(), flat[-64:, -64:].mean()])  # fmt: skip
    assert 1.10 < centre / corners < 1.22  # ~16 % centre to corner
    (x1, y1), _, (x3, y3) = night["xy"][0].round().astype(int)
    illum = flat[y3, x3] / flat[y1, x1]
    assert 1.045 < illum < 1.07  # C3 is 5-6 % better lit than C1
    # The dark-sky lights give the same pattern: it is the optics, not a
    # twilight gradient.
    assert abs(night_sky[y3, x3] / night_sky[y1, x1] - illum) < 0.005
    raw = np.median(_mag(night)[:, 2] - _mag(night)[:, 0])
    flat_fielded = _mag(night, flat="twilight")
    d = np.median(flat_fielded[:, 2] - flat_fielded[:, 0])
    assert abs((d - raw) - 2.5 * np.log10(illum)) < 0.005
    assert abs(d - 1.497) < 0.01


def test_c1_is_linear_at_its_35k_adu_peak(night):
    d = _mag(night)[:, 2] - _mag(night)[:, 0]
    peak = night["peak"]
    high, low = peak > 30000, peak < 25000
    assert high.sum() >= 5 and low.sum() >= 8 and peak.max() < 36000
    # A saturating or non-linear C1 would be fainter where it peaks higher.
    assert abs(np.median(d[high]) - np.median(d[low])) < 0.015


def test_what_is_left_is_c1s_own(night):
    m = np.median(_mag(night, flat="twilight"), axis=0)
    short_c3 = (CATALOGUE[2] - CATALOGUE[0]) - (m[2] - m[0])
    short_c2 = (CATALOGUE[1] - CATALOGUE[0]) - (m[1] - m[0])
    assert 0.18 < short_c3 < 0.27 and 0.22 < short_c2 < 0.32
    # C2 and C3 agree with each other and the catalogue within 0.08 mag.
    assert abs((m[2] - m[1]) - (CATALOGUE[2] - CATALOGUE[1])) < 0.08
