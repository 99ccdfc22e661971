"""Raw frames of the simulated camera that carry no sky: bias, dark, twilight flat."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypedDict

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.time import Time

from . import camera as _camera
from .headers import frame_header

if TYPE_CHECKING:
    from .colour import ColourCamera
    from .simulate import NightConfig

__all__ = ["CameraFrames", "READOUT_S"]


class TimeCards(TypedDict):
    """How :func:`~.headers.frame_header` writes the time (its keyword arguments)."""

    utc_offset_h: float
    mjd_decimals: int


# Each product draws from its own random stream keyed by (seed, stream, index),
# so any frame can be drawn alone, in any order, in any thread.
_S_CATALOG, _S_CAMERA, _S_NIGHT, _S_LIGHT, _S_BIAS, _S_DARK, _S_FLAT = range(1, 8)
READOUT_S = 2.5  # seconds from the end of an exposure to the file on disk (DATE)


def _rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, index])


class CameraFrames:
    """Bias, dark and flat frames and the camera's header cards.

    A base of :class:`~fluxion.core.simulation.night.Night`, kept apart
    because these frames depend only on the camera and the clock.
    """

    config: NightConfig
    camera: _camera.Camera
    start_times: Time
    colour: ColourCamera | None
    _raw_expectation: Callable[[np.ndarray, float], np.ndarray]

    def camera_facts(self) -> dict[str, tuple]:
        """Header cards describing the camera, optics and site."""
        c = self.config
        focal = 206.264806 * c.pixel_size / c.pixel_scale
        b = c.binning
        facts: dict[str, tuple] = {
            "XBINNING": (b, "binning along x"),
            "YBINNING": (b, "binning along y"),
        }
        if b > 1:
            # Observatory pipelines' convention: the scale of the unbinned detector.
            facts["CCDSUM"] = (f"{b} {b}", "on-chip binning x y")
            facts["PIXSCAL"] = (c.pixel_scale / b, "[arcsec/px] unbinned detector pixel scale")
        if c.gain_card == "ZWO setting":
            # ZWO capture programs: GAIN is the setting, no EGAIN anywhere.
            gain: dict[str, tuple[float, str]] = {"GAIN": (int(c.gain_setting), "Gain Value")}
        else:
            gain = {"GAIN": (c.gain, "[e-/ADU] conversion gain")}
        if c.scintillation_aperture > 0:
            # Only a night whose stars twinkle says its aperture: a reader that
            # finds APTDIA adds scintillation to the errors.
            facts["APTDIA"] = (c.scintillation_aperture, "[mm] telescope aperture diameter")
        if self.colour is not None:
            facts["BAYERPAT"] = (self.colour.pattern, "Bayer pattern of the stored rows")
        return facts | {
            "XPIXSZ": (c.pixel_size, "[um] pixel width, binning included"),
            "YPIXSZ": (c.pixel_size, "[um] pixel height, binning included"),
            **gain,
            "RDNOISE": (c.read_noise, "[e-] read noise"),
            "SATURATE": (c.saturation, "[ADU] saturation level"),
            "CCD-TEMP": (c.ccd_temp, "[C] sensor temperature"),
            "SET-TEMP": (c.ccd_temp, "[C] sensor set point"),
            "FOCALLEN": (round(focal, 2), "[mm] focal length"),
            "SITELAT": (c.site_lat, "[deg] site latitude, north positive"),
            "SITELONG": (c.site_lon, "[deg] site longitude, east positive"),
            "SITEELEV": (c.site_elev, "[m] site elevation"),
            "TELESCOP": ("Fluxion Sim 20cm", "telescope"),
            "INSTRUME": (
                ("ZWO ASI462MC" if self.colour else "ZWO ASI462MM")
                if c.gain_card == "ZWO setting"
                else ("Fluxion SimCam 1C" if self.colour else "Fluxion SimCam 1"),
                "camera",
            ),
            "SWCREATE": ("fluxion.core.simulation.simulate", "software that wrote the file"),
        }

    @property
    def filter_card(self) -> str | None:
        """FILTER of lights and flats: none behind a colour-filter array (its channels are)."""
        return None if self.colour is not None else self.config.filter

    def time_cards(self) -> TimeCards:
        """How frame_header writes the time: DATE-OBS offset and MJD-OBS decimals."""
        c = self.config
        return {"utc_offset_h": c.date_obs_utc_offset, "mjd_decimals": c.mjd_obs_decimals}

    def _cosmic_rays(self, exptime: float, rng: np.random.Generator) -> np.ndarray:
        ny, nx = self.config.shape
        n = rng.poisson(self.config.cosmic_ray_rate * nx * ny / 1e6 * exptime / 60.0)
        return _camera.cosmic_ray_electrons(self.config.shape, int(n), rng)

    def calibration_start(self, kind: str, j: int) -> Time:
        """Start of calibration frame ``j`` of ``kind``: flats at dusk, darks and bias after."""
        c = self.config
        end = self.start_times[-1] + (c.exptime + 60.0) * u.s
        if kind == "flat":  # evening twilight, before the lights
            return self.start_times[0] - (3600.0 - j * (c.flat_exptime + 10.0)) * u.s
        if kind == "dark":  # after the lights, shutter closed
            return end + j * (c.exptime + READOUT_S) * u.s
        return end + (c.n_dark * (c.exptime + READOUT_S) + j * 3.0) * u.s

    def _check_calibration(self, kind: str, j: int, n: int) -> None:
        if not 0 <= int(j) < n:
            raise IndexError(f"{kind} frame {j} out of range 0..{n - 1}")

    def bias(self, j: int) -> tuple[np.ndarray, fits.Header]:
        """Bias frame ``j``: ADU (uint16) and header."""
        c = self.config
        self._check_calibration("bias", j, c.n_bias)
        rng = _rng(c.seed, _S_BIAS, j)
        data = _camera.read_out(np.zeros(c.shape), self.camera, rng)
        header = frame_header(
            "bias",
            start=self.calibration_start("bias", j),
            exptime=0.0,
            readout=READOUT_S,
            filter_name=None,
            camera_facts=self.camera_facts(),
            **self.time_cards(),
        )
        return data, header

    def dark(self, j: int) -> tuple[np.ndarray, fits.Header]:
        """Dark frame ``j`` at the lights' exposure time: ADU (uint16) and header."""
        c = self.config
        self._check_calibration("dark", j, c.n_dark)
        rng = _rng(c.seed, _S_DARK, j)
        cosmics = self._cosmic_rays(c.exptime, rng)
        data = _camera.read_out(self.camera.dark_current * c.exptime, self.camera, rng, cosmics)
        header = frame_header(
            "dark",
            start=self.calibration_start("dark", j),
            exptime=c.exptime,
            readout=READOUT_S,
            filter_name=None,
            camera_facts=self.camera_facts(),
            **self.time_cards(),
        )
        return data, header

    def flat_level_electrons(self, j: int) -> float:
        """Mean illumination (e-) of twilight flat ``j``: the sky fades between flats."""
        c = self.config
        return c.flat_level * c.gain * (1.0 - 0.06 * j)

    def flat(self, j: int) -> tuple[np.ndarray, fits.Header]:
        """Twilight flat ``j`` in the lights' filter: ADU (uint16) and header."""
        c = self.config
        self._check_calibration("flat", j, c.n_flat)
        rng = _rng(c.seed, _S_FLAT, j)
        light = np.full(c.shape, self.flat_level_electrons(j))
        if self.colour is not None:
            # Twilight reaches each channel through its own filter, redder as it fades.
            light *= self.colour.flat_illumination(c.shape, j)
        expected = self._raw_expectation(light, c.flat_exptime)
        data = _camera.read_out(expected, self.camera, rng)
        header = frame_header(
            "flat",
            start=self.calibration_start("flat", j),
            exptime=c.flat_exptime,
            readout=READOUT_S,
            filter_name=self.filter_card,
            camera_facts=self.camera_facts(),
            **self.time_cards(),
        )
        return data, header
