"""Registration of real nights: an alt-azimuth colour camera, a drifting transit night, an asteroid.

Each night is registered on its own stars to its first light; the numbers
asserted are the matched stars and the residual of each light, and on
TrES-1 the registered positions of the author's region-file stars against
the centroids measured in every later light.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.registration import cfa_pattern, register_frames
from fluxion.core.targets.tracking import refine_click


def _images(paths: list[Path]) -> list[np.ndarray]:
    out = []
    for p in paths:
        with fits.open(p) as hdul:
            hdu = next(h for h in hdul if h.data is not None)
            out.append(np.asarray(hdu.data, dtype=float))
    return out


def test_seestar_colour_frames_register_on_their_superpixels(shared_data):
    paths = sorted((shared_data / "seestar-osc").glob("Light_*.fit"))
    assert len(paths) == 8
    cfa = cfa_pattern(fits.getheader(paths[0]))
    assert cfa == "GRBG"
    images = _images(paths)
    reg = register_frames(lambda i: images[i], len(images), cfa=cfa)
    assert reg.failed == [], reg.summary()
    t = reg.table()
    # ~30 stars over 43' x 77' in 10 s; the residual is in full-frame pixels
    # (2.4"/px), for stars of ~2 px FWHM measured on 2x2 super-pixels.
    # An affine transform has 6 parameters: 10 matched stars over-determine it
    # with room for the sigma clipping (the count itself moves with the detector's
    # settings, 14-35 here).
    assert np.all(t["reg_n_matched"][1:] >= 10), list(t["reg_n_matched"])
    assert np.all(t["reg_rms"][1:] < 0.5), list(t["reg_rms"])
    # Two minutes of an alt-azimuth mount: a drift of a few pixels and a
    # rotation of a few hundredths of a degree, at scale 1 and unmirrored.
    assert np.all(np.hypot(t["reg_dx"], t["reg_dy"]) < 30)
    assert np.all(np.abs(t["reg_rotation"]) < 0.5)
    assert np.allclose(t["reg_scale"], 1.0, atol=1e-3)
    assert not np.any(t["reg_flipped"])


def _region_stars(path: Path) -> np.ndarray:
    """Circle centres of a DS9 region file (physical = 1-based) as 0-based pixels."""
    found = (
        re.match(r"circle\(([\d.]+),([\d.]+),", ln.strip()) for ln in path.read_text().splitlines()
    )
    return np.array([(float(m[1]) - 1.0, float(m[2]) - 1.0) for m in found if m])


@pytest.fixture(scope="module")
def tres1(shared_data):
    folder = shared_data / "tres1-oscaar"
    lights = sorted(p for p in folder.glob("tres1-*.fit.fz") if not p.name.endswith("d.fit.fz"))
    assert len(lights) == 70
    images = _images(lights)
    return images, register_frames(lambda i: images[i], len(images)), folder


def test_tres1_night_drifts_and_every_light_registers(tres1):
    _, reg, _ = tres1
    assert reg.failed == [], reg.summary()
    t = reg.table()
    # The field walks ~190 px over the night, turning by < 0.1 degree.
    assert np.max(np.hypot(t["reg_dx"], t["reg_dy"])) > 150
    assert np.ptp(t["reg_rotation"]) < 0.2
    assert np.all(t["reg_n_matched"][1:] >= 100), np.min(t["reg_n_matched"][1:])
    assert np.all(t["reg_rms"][1:] < 0.2), np.max(t["reg_rms"][1:])


def test_tres1_region_stars_land_on_their_centroids(tres1):
    images, reg, folder = tres1
    stars = _region_stars(folder / "stars2.reg")
    assert len(stars) >= 15
    first = np.array([(r.x, r.y) for r in (refine_click(images[0], x, y) for x, y in stars)])
    misses = []
    for i in range(1, len(images), 3):
        ny, nx = images[i].shape
        for x, y in reg.to_frame(i, first):
            if not (10 < x < nx - 10 and 10 < y < ny - 10):
                continue
            r = refine_click(images[i], x, y, box_size=9, min_snr=20.0)
            if r.found:
                misses.append(np.hypot(r.x - x, r.y - y))
    misses = np.array(misses)
    assert len(misses) > 200
    # The bright region stars' centroids are good to a few hundredths of a
    # pixel; the registration places them to about that.
    assert np.median(misses) < 0.1, np.median(misses)
    assert np.percentile(misses, 95) < 0.3, np.percentile(misses, 95)


def test_asteroid_night_registers_to_the_dawn_frame(shared_data):
    lights = sorted((shared_data / "asteroid2713-night1").glob("*Light*.fit"))
    assert len(lights) == 25
    images = _images(lights)
    reg = register_frames(lambda i: images[i], len(images))
    assert reg.failed == [], reg.summary()
    t = reg.table()
    # Clear frames: about a hundred stars (fewer through the passing cloud of
    # lights 9-10), residual ~0.1 px.
    assert np.all(t["reg_n_matched"][1:20] >= 25), list(t["reg_n_matched"])
    assert np.median(t["reg_n_matched"][1:20]) >= 80, list(t["reg_n_matched"])
    assert np.all(t["reg_rms"][1:20] < 0.2)
    # The last light (dawn) shows a couple of stars: a shift from its
    # neighbour, said so, instead of a transform it cannot support.
    assert t["reg_status"][24].startswith("shift only")
    assert np.max(np.hypot(t["reg_dx"], t["reg_dy"])) > 15
