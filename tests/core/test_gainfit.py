"""The gain measured from the frames (photon transfer) against the simulator's truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluxion.core.io.frames import frame_info
from fluxion.core.io.gainfit import GainFitError, gain_from_pairs
from fluxion.core.io.sequence import scan
from fluxion.core.simulation.simulate import NightConfig, make_night, simulate_night


def _zwo_night(folder: Path, **overrides) -> NightConfig:
    base = dict(
        seed=31,
        n_frames=2,
        shape=(512, 512),
        n_dark=0,
        gain_card="ZWO setting",
        gain_setting=80,
    )
    config = NightConfig(**(base | overrides))
    simulate_night(folder, config)
    return config


def _within(frames, truth: float) -> tuple[float, float]:
    gains = {f.gain for f in frames}
    assert len(gains) == 1
    source = frames[0].sources["gain"]
    value, error = (float(v) for v in source.split(": ")[-1].split(" e-/ADU")[0].split(" +- "))
    assert value == pytest.approx(frames[0].gain, rel=1e-3)
    # Within three of its own statistical errors of the truth.
    assert abs(frames[0].gain - truth) < 3 * error, (frames[0].gain, error, truth)
    return frames[0].gain, error


def test_zwo_gain_setting_night_is_measured_from_flat_pairs(tmp_path: Path) -> None:
    """Before, the GAIN setting (80) was taken as 80 e-/ADU."""
    config = _zwo_night(tmp_path, n_flat=4, n_bias=4)
    raw = frame_info(tmp_path / "light_0001.fits")
    assert raw.gain is None and raw.gain_setting == 80
    frames = scan(tmp_path)
    assert all(f.gain != 80 for f in frames)
    gain, error = _within(frames, config.gain)
    assert (
        frames[0]
        .sources["gain"]
        .startswith("measured from 2 flat pairs and 4 bias frames (photon transfer)")
    )
    # Flats at ~25000 ADU over 4 x 64 tiles: better than 0.5 %.
    assert error < 0.005 * gain


def test_zwo_night_without_flats_uses_the_sky_of_light_pairs(tmp_path: Path) -> None:
    config = _zwo_night(tmp_path / "bias", n_flat=0, n_bias=3)
    frames = scan(tmp_path / "bias")
    gain, error = _within(frames, config.gain)
    assert "1 light pair and 3 bias frames" in frames[0].sources["gain"]
    assert error < 0.01 * gain
    # Without bias frames the bias level is unknown: the slope of variance
    # against level across tiles (vignetting, sky gradient) gives the gain.
    config = _zwo_night(tmp_path / "none", n_flat=0, n_bias=0, n_frames=4)
    frames = scan(tmp_path / "none")
    gain, error = _within(frames, config.gain)
    assert "measured from 2 light pairs (photon transfer)" in frames[0].sources["gain"]
    assert error < 0.15 * gain


def test_gain_errors_are_honest_over_many_nights() -> None:
    """Pulls (measured - truth) / error over 50 simulated nights have width 0.8-1.2."""
    pulls: dict[str, list[float]] = {"flats": [], "lights": []}
    for seed in range(1000, 1050):
        night = make_night(
            NightConfig(seed=seed, n_frames=2, shape=(256, 256), n_flat=2, n_bias=2, n_dark=0)
        )

        def adu(frame) -> np.ndarray:
            return frame[0].astype(np.float64)

        b0, b1 = adu(night.bias(0)), adu(night.bias(1))
        bias = 0.5 * (b0 + b1)
        for kind, pair in (
            ("flats", (adu(night.flat(0)), adu(night.flat(1)))),
            ("lights", (adu(night.light(0)), adu(night.light(1)))),
        ):
            e = gain_from_pairs([pair], bias, (b0, b1))
            pulls[kind].append((e.gain - night.gain) / e.error)
    for kind, values in pulls.items():
        p = np.array(values)
        assert 0.8 < p.std(ddof=1) < 1.2, (kind, p.std(ddof=1))
        assert abs(p.mean()) < 3 * p.std(ddof=1) / np.sqrt(p.size), (kind, p.mean())


def test_frames_that_cannot_give_a_gain_say_why(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    flat = rng.poisson(1000.0, (256, 256)).astype(np.float64)
    flat2 = rng.poisson(1000.0, (256, 256)).astype(np.float64)
    # One level everywhere and no bias: shot and read noise cannot be told apart.
    with pytest.raises(GainFitError, match="too alike"):
        gain_from_pairs([(flat, flat2)])
    h = fits.Header()
    h["INSTRUME"] = "ZWO ASI462MM"
    h["GAIN"] = 80
    h["EXPTIME"] = 10.0
    h["IMAGETYP"] = "Light Frame"
    h["DATE-OBS"] = "2024-01-01T00:00:00"
    fits.PrimaryHDU(flat.astype(np.uint16), h).writeto(tmp_path / "only.fits")
    (frame,) = scan(tmp_path)
    assert frame.gain is None
    assert frame.problems == (
        "no gain (unknown: GAIN=80 is the camera's gain setting (zwo-asi)); measuring it "
        "from the frames failed: no two separate exposures with the same exposure time and filter",
    )
    # Products of one exposure (an image and its background map) are not a pair.
    fits.PrimaryHDU(flat2.astype(np.uint16), h).writeto(tmp_path / "only_background.fits")
    frames = scan(tmp_path)
    assert all(f.gain is None for f in frames)
    assert all("no two separate exposures" in f.problems[0] for f in frames)
