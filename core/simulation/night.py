"""The :class:`Night`: fixed facts of a simulated night and the frame factories."""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS

from ..rotation.sessions import LIGHT_TIME_DAYS_PER_AU
from . import camera as _camera
from . import field as _field
from . import variables as _var
from .camera_frames import (
    _S_CAMERA,
    _S_CATALOG,
    _S_LIGHT,
    _S_NIGHT,
    READOUT_S,
    CameraFrames,
    _rng,
)
from .colour import FRACTION, ColourCamera
from .headers import frame_header
from .psf import FieldPSF
from .saturation import NightSaturation
from .sources import ASTEROID_ID, NightSources
from .stars import NightStars
from .transients import NightTransients

if TYPE_CHECKING:
    from .simulate import NightConfig

__all__ = ["ASTEROID_ID", "Night"]

_SEEING_AIRMASS_POWER = 0.6  # seeing FWHM grows as airmass^0.6 (Kolmogorov)
_S_CLOUDS = 21  # the clouds' own random stream: a clear night draws nothing from it


def _ar1_walk(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    """A unit-variance AR(1) series of ``n`` steps with lag-one correlation ``rho``."""
    e = np.empty(n)
    e[0] = rng.standard_normal()
    for i in range(1, n):
        e[i] = rho * e[i - 1] + np.sqrt(1 - rho**2) * rng.standard_normal()
    return e


class Night(CameraFrames, NightStars, NightTransients, NightSources, NightSaturation):
    """A simulated night: the truth, and the raw frames drawn from it.

    Build with :func:`fluxion.core.simulation.simulate.make_night`.

    Attributes
    ----------
    config : NightConfig
        The configuration.
    catalog : Table
        Reference catalog (id, ra, dec, B, B_err, V, V_err) over the frame and
        a 30 px margin; values carry catalog errors like a real one.
    times : Time
        Mid-exposure time of each light (UTC).
    start_times : Time
        Exposure start of each light (DATE-OBS).
    airmass : ndarray
        Airmass at mid-exposure of each light.
    fwhm : ndarray
        Seeing FWHM (px) of each light at the field centre.
    location : EarthLocation
        The observing site.
    camera : Camera
        Bias, dark current and flat maps, gain, read noise, saturation.
    """

    def __init__(self, config: NightConfig) -> None:
        self.config = c = config
        ny, nx = self.shape = c.shape
        self.location = EarthLocation.from_geodetic(
            c.site_lon * u.deg, c.site_lat * u.deg, c.site_elev * u.m
        )
        self.center = SkyCoord(c.ra * u.deg, c.dec * u.deg, frame="icrs")
        try:
            t0 = Time(c.start, scale="utc")
        except ValueError as exc:
            raise ValueError(f"start is not an ISO time: {c.start!r}") from exc
        self.start_times = t0 + np.arange(c.n_frames) * c.interval * u.s
        self.times = self.start_times + 0.5 * c.exptime * u.s
        self.airmass = _field.airmass(self.center, self.times, self.location)

        rng = _rng(c.seed, _S_NIGHT)
        self.fwhm = self._seeing(rng)
        self.cloud_loss = self._clouds()
        self._wcs = self._frame_wcs(rng)
        pa = rng.uniform(0, 2 * np.pi)
        self._pointing_offset = (c.pointing_error * np.sin(pa), c.pointing_error * np.cos(pa))
        self._sky_gradient_angle = rng.uniform(0, 2 * np.pi)

        self.colour = (
            None
            if c.bayer_pattern == "none"
            else ColourCamera(
                c.bayer_pattern,
                dict(zip("RGB", c.channel_zero_points, strict=True)),
                dict(zip("RGB", c.channel_colour_terms, strict=True)),
            )
        )
        self._make_stars(_rng(c.seed, _S_CATALOG))
        self._make_transients()
        self.camera = _camera.make_camera(
            c.shape,
            gain=c.gain,
            read_noise=c.read_noise,
            bias_level=c.bias_level,
            bias_column_rms=c.bias_column_rms,
            dark_current=c.dark_current,
            hot_pixel_fraction=c.hot_pixel_fraction,
            saturation=c.saturation,
            vignetting=c.vignetting,
            n_dust=c.n_dust,
            prnu=c.prnu,
            rng=_rng(c.seed, _S_CAMERA),
            full_well=c.full_well if c.full_well > 0 else np.inf,
            warm_pixel_fraction=c.warm_pixel_fraction,
            warm_pixel_rate=c.warm_pixel_rate,
        )

    # -- camera truth ---------------------------------------------------------
    @property
    def bias_level(self) -> np.ndarray:
        """Bias (ADU) of every pixel."""
        return self.camera.bias_level

    @property
    def dark_current(self) -> np.ndarray:
        """Dark current (e-/s) of every pixel."""
        return self.camera.dark_current

    @property
    def flat_field(self) -> np.ndarray:
        """Relative pixel response (mean 1) that multiplies sky and stars.

        (``flat(j)`` is the j-th twilight flat *frame*.)
        """
        return self.camera.flat

    @property
    def gain(self) -> float:
        """e-/ADU."""
        return self.camera.gain

    @property
    def read_noise(self) -> float:
        """e- rms."""
        return self.camera.read_noise

    @property
    def n_frames(self) -> int:
        """Number of lights."""
        return self.config.n_frames

    # -- construction ---------------------------------------------------------
    def _seeing(self, rng: np.random.Generator) -> np.ndarray:
        c = self.config
        # Seeing wanders: an AR(1) walk in log FWHM, correlated over ~5 frames.
        e = _ar1_walk(rng, c.n_frames, 0.8)
        x_ref = float(np.min(self.airmass))
        fwhm = c.fwhm * (self.airmass / x_ref) ** _SEEING_AIRMASS_POWER
        return np.maximum(fwhm * np.exp(c.fwhm_variation * e), 0.8)

    def _clouds(self) -> np.ndarray:
        """Magnitudes lost to clouds in each light (zeros on a clear night).

        Thin clouds drift through: a smooth random walk (correlated over ~3
        frames) of which only the positive part dims, so that some frames are
        clear and some lose up to a few times ``config.clouds``.
        """
        c = self.config
        if c.clouds <= 0:
            return np.zeros(c.n_frames)
        e = _ar1_walk(_rng(c.seed, _S_CLOUDS), c.n_frames, 0.7)
        return c.clouds * np.maximum(e, 0.0)

    def sky_factor(self, i: int) -> float:
        """How much brighter than the dark sky light ``i``'s sky is (dawn; 1 without)."""
        c = self.config
        if c.twilight <= 0:
            return 1.0
        # Twilight brightens the sky roughly exponentially in time (about a
        # magnitude every ten minutes near nautical dawn): in magnitudes,
        # ``twilight * exp((t - t_last) / tau)`` with tau a third of the duration.
        tau = c.twilight_duration / 3.0 / 1440.0
        dt = float(self.times[self._index(i)].jd - self.times[-1].jd)
        return float(10 ** (0.4 * c.twilight * np.exp(dt / tau)))

    def _frame_wcs(self, rng: np.random.Generator) -> list[WCS]:
        """One WCS per light: the pointing drifts (tracking) and jitters (guiding).

        With ``field_rotation`` the field also turns steadily about the frame
        centre (an alt-azimuth mount): the position angle of light ``i`` is
        ``rotation + field_rotation * (i / (n - 1) - 1/2)``, so the mid-night
        frame has the nominal one.
        """
        c = self.config
        angle = rng.uniform(0, 2 * np.pi)
        steps = np.arange(c.n_frames) - (c.n_frames - 1) / 2.0
        dx = c.drift * steps * np.cos(angle) + c.jitter * rng.standard_normal(c.n_frames)
        dy = c.drift * steps * np.sin(angle) + c.jitter * rng.standard_normal(c.n_frames)
        ref = _field.tan_wcs(c.shape, self.center, c.pixel_scale, c.rotation)
        ny, nx = c.shape
        ra, dec = ref.wcs_pix2world((nx - 1) / 2.0 + dx, (ny - 1) / 2.0 + dy, 0)
        corner = c.sip_corner_shift if c.sip else 0.0
        self.reference_wcs = ref
        self.position_angles = c.rotation + c.field_rotation * steps / max(c.n_frames - 1, 1)
        # How far the frames reach beyond the reference frame: the drift plus
        # the corners' swing under rotation; the catalog must cover it.
        swing = np.hypot(nx, ny) / 2.0 * np.deg2rad(abs(c.field_rotation) / 2.0)
        self._reach = float(np.max(np.hypot(dx, dy), initial=0.0) + swing)
        return [
            _field.tan_wcs(c.shape, SkyCoord(r * u.deg, d * u.deg), c.pixel_scale, pa, corner)
            for r, d, pa in zip(ra, dec, self.position_angles, strict=True)
        ]

    # -- geometry ---------------------------------------------------------------
    def wcs(self, i: int) -> WCS:
        """The exact WCS of light ``i`` (TAN, with SIP when enabled); a copy."""
        return self._wcs[self._index(i)].deepcopy()

    def pointing(self, i: int) -> SkyCoord:
        """The mount's idea of where light ``i`` points: the header RA/DEC.

        The true centre of the frame moved by ``config.pointing_error`` arcsec
        in a direction fixed for the night (a mount model error).
        """
        w = self._wcs[self._index(i)]
        centre = SkyCoord(*w.wcs.crval, unit="deg")
        east, north = self._pointing_offset
        return centre.spherical_offsets_by(east * u.arcsec, north * u.arcsec)

    def asteroid_position(self, jd: float | np.ndarray) -> SkyCoord:
        """Sky position of the asteroid at Julian date(s) ``jd`` (UTC)."""
        c = self.config
        dt_s = (np.asarray(jd, float) - self._asteroid_mid_jd) * 86400.0
        along = c.asteroid_rate / 60.0 * dt_s
        side = 0.5 * c.asteroid_curvature * (dt_s / 3600.0) ** 2
        pa = np.deg2rad(c.asteroid_pa)
        east = along * np.sin(pa) + side * np.cos(pa)
        north = along * np.cos(pa) - side * np.sin(pa)
        return self._asteroid_mid.spherical_offsets_by(east * u.arcsec, north * u.arcsec)

    def _index(self, i: int) -> int:
        if not 0 <= int(i) < self.config.n_frames:
            raise IndexError(f"light {i} out of range 0..{self.config.n_frames - 1}")
        return int(i)

    # -- photometric model ---------------------------------------------------
    def _channel_rates(self, v: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
        """e-/s the pixels of each colour channel collect from stars of true V and B."""
        assert self.colour is not None
        full = self.colour.full_rates(v, b)
        return {k: FRACTION[k] * r for k, r in full.items()}

    def _electron_rate(self, v: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.colour is not None:
            return np.asarray(sum(self._channel_rates(v, b).values()))
        mag = v if self.config.filter == "V" else b
        return 10 ** (-0.4 * (np.asarray(mag) - self.config.zero_point))

    def _transmission(self, i: int) -> float:
        return 10 ** (-0.4 * (self.config.extinction * self.airmass[i] + self.cloud_loss[i]))

    def variable_relative_flux(self, jd: float | np.ndarray) -> dict[str, np.ndarray]:
        """Flux of each variable relative to its catalog brightness at ``jd``.

        Returns ``{"eclipsing": ..., "transit": ..., "asteroid": ...,
        "outburst": ...}``; the asteroid's is relative to ``config.asteroid_mag``.
        """
        c = self.config
        jd = np.asarray(jd, float)
        return {
            "eclipsing": _var.eclipsing_relative_flux(
                jd,
                self.eclipse_min,
                c.eclipsing_period,
                c.eclipsing_depth,
                c.eclipsing_secondary,
                c.eclipsing_duration / 1440.0,
            ),
            "transit": _var.transit_relative_flux(
                jd,
                self.transit_mid,
                c.transit_duration / 1440.0,
                c.transit_ingress / 1440.0,
                c.transit_depth,
                limb_darkening=(c.transit_u1, c.transit_u2),
                period=c.transit_period,
            ),
            "asteroid": 10
            ** (
                -0.4
                * _var.rotation_magnitude_offset(
                    jd - c.asteroid_delta * LIGHT_TIME_DAYS_PER_AU,
                    self.asteroid_t0,
                    c.asteroid_period / 24.0,
                    c.asteroid_amplitude,
                )
            ),
            "outburst": self.outburst_factor(jd),
        }

    def _field_psf(self, i: int) -> FieldPSF | None:
        """Light ``i``'s PSF across the field, or None when it is the same everywhere."""
        c = self.config
        if not c.field_varying_psf:
            return None
        return FieldPSF(
            c.shape,
            fwhm_centre=float(self.fwhm[i]),
            fwhm_corner=float(self.fwhm[i]) * (1.0 + c.field_psf_variation),
            ellipticity_corner=c.field_psf_ellipticity,
            beta=c.moffat_beta,
            psf=c.psf,
        )

    def _shape_at(self, i: int, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """FWHM (px), ellipticity (1 - b/a) and major-axis angle (rad) of light ``i`` at (x, y)."""
        field = self._field_psf(i)
        if field is None:
            zero = np.zeros(np.shape(x))
            return np.full(np.shape(x), self.fwhm[i]), zero, zero
        return field.at(x, y)

    def sky_electrons(self, i: int) -> np.ndarray:
        """Noiseless sky (e-) of light ``i`` before the flat field: level and gradient."""
        i = self._index(i)
        c = self.config
        ny, nx = c.shape
        rate = 10 ** (-0.4 * (c.sky_brightness - c.zero_point)) * c.pixel_scale**2
        # The sky brightens toward the horizon, ~30% from zenith to airmass 2.
        level = rate * c.exptime * (1.0 + 0.3 * (self.airmass[i] - 1.0)) * self.sky_factor(i)
        a = self._sky_gradient_angle
        xs = (np.arange(nx) - (nx - 1) / 2.0) / max(nx, ny)
        ys = (np.arange(ny) - (ny - 1) / 2.0) / max(nx, ny)
        ramp = c.sky_gradient * (np.cos(a) * xs[None, :] + np.sin(a) * ys[:, None])
        if self.colour is not None:
            # Each pixel sees the sky through its channel's filter.
            per_px = {
                k: r * c.pixel_scale**2 for k, r in self.colour.sky_rates(c.sky_brightness).items()
            }
            level = level / rate * self.colour.mosaic(per_px, c.shape)
        return level * (1.0 + ramp)

    # -- truth ------------------------------------------------------------------
    def _raw_expectation(self, light_electrons: np.ndarray, exptime: float) -> np.ndarray:
        return self.camera.flat * light_electrons + self.camera.dark_current * exptime

    def truth(self, i: int) -> Table:
        """Truth table of light ``i`` (see :meth:`light`), without drawing the image."""
        i = self._index(i)
        truth, trail = self._sources(i)
        return self._with_saturation(i, truth, trail)

    def light_expected_electrons(self, i: int, raw: bool = False) -> np.ndarray:
        """Noiseless expectation of light ``i`` in electrons, for scoring.

        Parameters
        ----------
        i : int
            Light index.
        raw : bool
            False (default): sky and sources as a perfectly calibrated frame
            shows them (bias and dark removed, divided by the flat, times the
            gain). True: what the pixels collect before readout, i.e. the flat
            applied and dark current added (no bias, cosmic rays or noise).
        """
        image = self._render(self._index(i))[1]
        return self._raw_expectation(image, self.config.exptime) if raw else image

    # -- frames ---------------------------------------------------------------------
    def light(self, i: int) -> tuple[np.ndarray, fits.Header, Table]:
        """Raw light ``i``: ADU (uint16), header and truth table.

        The truth table has one row per source rendered (catalog stars over
        the frame and a 30 px margin, the variables, the asteroid): ``id``,
        ``kind`` ('star', 'eclipsing', 'transit', 'asteroid'), ``x``, ``y``
        (0-based px at mid-exposure), ``ra``, ``dec`` (deg), ``flux`` (e-,
        after extinction, before the flat), ``mag_V`` (true V at that time),
        ``fwhm`` (px) and ``saturated`` (the peak pixel clips). Filter on x, y
        for the sources inside the frame.
        """
        i = self._index(i)
        c = self.config
        truth, image = self._render(i)
        rng = _rng(c.seed, _S_LIGHT, i)
        cosmics = self._cosmic_rays(c.exptime, rng)
        data = _camera.read_out(self._raw_expectation(image, c.exptime), self.camera, rng, cosmics)
        header = frame_header(
            "light",
            start=self.start_times[i],
            exptime=c.exptime,
            readout=READOUT_S,
            filter_name=self.filter_card,
            camera_facts=self.camera_facts(),
            object_name=c.object_name,
            pointing=self.pointing(i),
            airmass=float(self.airmass[i]),
            **self.time_cards(),
        )
        if c.write_wcs:
            header.update(self._wcs[i].to_header(relax=True))
        return data, header, truth
