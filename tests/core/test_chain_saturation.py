"""Saturation through calibration: the calibrated frame's own level, and photometry's flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from scipy.spatial import cKDTree

from fluxion.core import chain
from fluxion.core.calibration import MaskBits
from fluxion.core.io.fitsio import read_image
from fluxion.core.io.sequence import scan
from fluxion.core.photometry import PhotometryFlag
from fluxion.core.project.products import ProductStore
from fluxion.core.simulation.simulate import NightConfig, simulate_night

# A low raw saturation (bias 1000 ADU) and a dense field: about ten saturated stars.
CONFIG = NightConfig(
    n_frames=1,
    shape=(256, 256),
    n_bias=3,
    n_dark=3,
    n_flat=3,
    saturation=5000.0,
    star_density=4.0,
    asteroid=False,
    seed=7,
)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, ProductStore, object]:
    night = tmp_path_factory.mktemp("saturation_night")
    simulate_night(night, CONFIG)
    store = ProductStore(tmp_path_factory.mktemp("saturation_project"))
    frames = scan(night)
    assert [o.status for o in chain.calibrate_frames(store, frames)] == ["done"]
    light = next(f for f in frames if f.type == "light")
    return night, store, light


def test_calibrated_header_carries_the_calibrated_saturation(project):
    night, store, light = project
    image = chain.frame_image(store, light)
    assert image.calibrated
    masters = chain.load_masters(store)
    dark = masters.darks[0]
    flat = masters.flats[0].data.astype(np.float64)
    # Independently, in float64: the raw level through bias, scaled dark and flat.
    level = (
        CONFIG.saturation
        - masters.bias.data
        - (CONFIG.exptime / dark.exptime) * dark.data.astype(np.float64)
    ) / flat
    usable = (image.mask & (MaskBits.HOT | MaskBits.COLD | MaskBits.NAN)) == 0
    expected = float(np.min(level[usable]))
    assert image.header["SATURATE"] == pytest.approx(expected, rel=1e-5)
    assert image.saturation == pytest.approx(expected, rel=1e-5)
    assert image.header["FLXSATRW"] == CONFIG.saturation
    # Far below the raw level: bias alone takes 1000 ADU off.
    assert image.saturation < CONFIG.saturation - 900
    # Every raw pixel that clipped is at or above the level in the calibrated frame.
    raw = read_image(light.path)
    clipped = (raw >= CONFIG.saturation) & usable
    assert clipped.sum() >= 20
    assert np.all(image.data[clipped] >= image.saturation)
    assert np.all((image.mask[clipped] & MaskBits.SATURATED) != 0)


def test_photometry_flags_the_saturated_stars_of_a_calibrated_frame(project):
    night, store, light = project
    table = chain.photometry_frame(store, light)
    assert table.meta["calibrated"]
    truth = Table.read(night / "truth" / f"{light.path.stem}.ecsv")
    dist, index = cKDTree(np.c_[table["x"], table["y"]]).query(np.c_[truth["x"], truth["y"]])
    found = dist < 1.5
    saturated = np.asarray(truth["saturated"], bool)
    flags = np.asarray(table["flags"])[index]
    is_flagged = (flags & PhotometryFlag.SATURATED) != 0
    assert (found & saturated).sum() >= 8
    # Every saturated star is flagged saturated (not merely masked).
    assert np.all(is_flagged[found & saturated])
    # No star at half the flux of the faintest saturated one is flagged.
    flux = np.asarray(truth["flux"])
    faint = found & ~saturated & (flux < 0.5 * flux[found & saturated].min())
    assert faint.sum() >= 50
    assert not np.any(is_flagged[faint])


def test_frames_calibrated_before_the_level_was_written_keep_saturated_pixels_masked(
    project, tmp_path
):
    _, store, light = project
    path = store.path("calibration", light.path, ".fits")
    original = path.read_bytes()
    try:
        with fits.open(path) as hdul:
            hdul[0].header["SATURATE"] = CONFIG.saturation  # the raw level, as before
            del hdul[0].header["FLXSATRW"]
            hdul.writeto(tmp_path / "old.fits")
        path.write_bytes((tmp_path / "old.fits").read_bytes())
        image = chain.frame_image(store, light)
        assert image.calibrated and image.saturation is None
        saturated = (image.mask & MaskBits.SATURATED) != 0
        assert saturated.any() and np.all(image.bad[saturated])
    finally:
        path.write_bytes(original)
    image = chain.frame_image(store, light)
    saturated = (image.mask & MaskBits.SATURATED) != 0
    # A current frame keeps them for the saturation test, other flags stay bad.
    assert not np.any(image.bad[saturated & (image.mask == MaskBits.SATURATED)])
    assert np.array_equal(image.bad, (image.mask & ~np.uint8(MaskBits.SATURATED)) != 0)


def test_masters_read_without_their_statistics_calibrate_a_light_the_same(project):
    # A worker process reads the masters without their statistics (the window's facts).
    from fluxion.core.calibration import Calibration, CalibrationParams
    from fluxion.core.chain.calibrate import calibrate_light

    night, store, light = project
    whole, lean = chain.load_masters(store), chain.load_masters(store, stats=False)
    flat = whole.flats[0]
    # The flat is normalised to mean 1; its pixel response scatter is the simulator's.
    assert flat.stats["mean"] == pytest.approx(1.0, abs=1e-3)
    assert 0 < flat.stats["std"] < 0.2
    assert all(m.stats == {} for m in lean.biases + lean.darks + lean.flats)
    a = calibrate_light(Calibration(CalibrationParams(), whole), light)
    b = calibrate_light(Calibration(CalibrationParams(), lean), light)
    assert np.array_equal(a.data, b.data, equal_nan=True) and np.array_equal(a.mask, b.mask)
    assert a.saturation == b.saturation and a.applied == b.applied
    assert a.header.tostring() == b.header.tostring()
