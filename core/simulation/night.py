"""The :class:`Night`: fixed facts of a simulated night and the frame factories."""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.io import fits
from astropy.table import Table, vstack
from astropy.time import Time
from astropy.wcs import WCS

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
from .headers import frame_header
from .psf import add_sources, psf_stamp

if TYPE_CHECKING:
    from .simulate import NightConfig

__all__ = ["ASTEROID_ID", "Night"]

ASTEROID_ID = -1
_CATALOG_MARGIN = 30.0  # px of sky around the frame that carries stars too
_ASTEROID_BV = 0.85  # an S-type colour
_SEEING_AIRMASS_POWER = 0.6  # seeing FWHM grows as airmass^0.6 (Kolmogorov)


class Night(CameraFrames):
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
        self._wcs = self._frame_wcs(rng)
        pa = rng.uniform(0, 2 * np.pi)
        self._pointing_offset = (c.pointing_error * np.sin(pa), c.pointing_error * np.cos(pa))
        self._sky_gradient_angle = rng.uniform(0, 2 * np.pi)

        self._make_stars(_rng(c.seed, _S_CATALOG))
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
        rho = 0.8
        e = np.empty(c.n_frames)
        e[0] = rng.standard_normal()
        for i in range(1, c.n_frames):
            e[i] = rho * e[i - 1] + np.sqrt(1 - rho**2) * rng.standard_normal()
        x_ref = float(np.min(self.airmass))
        fwhm = c.fwhm * (self.airmass / x_ref) ** _SEEING_AIRMASS_POWER
        return np.maximum(fwhm * np.exp(c.fwhm_variation * e), 0.8)

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

    def _make_stars(self, rng: np.random.Generator) -> None:
        c = self.config
        ny, nx = c.shape
        cat, v, b = _field.star_catalog(
            self.reference_wcs,
            c.shape,
            _CATALOG_MARGIN,
            c.star_density,
            c.mag_bright,
            c.mag_faint,
            c.lf_slope,
            rng,
        )
        # How far beyond the reference frame the catalog reaches (px).
        self._catalog_margin = _CATALOG_MARGIN
        if self._reach > _CATALOG_MARGIN / 2:
            # A field that drifts or turns far shows sky beyond the margin: the
            # catalog grows by a ring drawn from a stream of its own, so the
            # stars of a steady night stay the same stars.
            cat, v, b = self._wider_catalog(cat, v, b)
            self._catalog_margin = _CATALOG_MARGIN + self._reach
        # The two variables sit at fixed places inside the frame, away from the
        # edges, and no catalog star lies on top of them.
        specials = [
            ("eclipsing", 0.32, 0.62, c.eclipsing_mag),
            ("transit", 0.68, 0.38, c.transit_mag),
        ]
        sx = np.array([f * (nx - 1) for _, f, _, _ in specials])
        sy = np.array([f * (ny - 1) for _, _, f, _ in specials])
        x, y = self.reference_wcs.wcs_world2pix(cat["ra"], cat["dec"], 0)
        clear = np.all(np.hypot(x[:, None] - sx, y[:, None] - sy) > 12.0, axis=1)
        cat, v, b = cat[clear], v[clear], b[clear]
        kinds = ["star"] * len(cat)
        ra, dec = self.reference_wcs.wcs_pix2world(sx, sy, 0)
        for k, (kind, _, _, mag) in enumerate(specials):
            bv = 0.6
            v_err = float(_field.catalog_errors(mag, c.mag_faint))
            b_err = float(_field.catalog_errors(mag + bv, c.mag_faint + 0.5))
            cat.add_row(
                (
                    0,
                    ra[k],
                    dec[k],
                    mag + bv + b_err * rng.standard_normal(),
                    b_err,
                    mag + v_err * rng.standard_normal(),
                    v_err,
                )
            )
            v = np.append(v, mag)
            b = np.append(b, mag + bv)
            kinds.append(kind)
        cat["id"] = np.arange(1, len(cat) + 1, dtype=np.int64)
        self.catalog = cat
        self._true_v = v
        self._true_b = b
        self._kind = np.array(kinds)
        self.eclipsing_id = int(cat["id"][-2])
        self.transit_id = int(cat["id"][-1])

        # Where the variable events fall: inside the night so that they show.
        jd = self.times.jd
        t_first, t_last = jd[0], jd[-1]
        span = max(t_last - t_first, c.exptime / 86400.0)
        self.transit_mid = t_first + 0.45 * span
        self.eclipse_min = t_first + 0.65 * span
        self.asteroid_t0 = t_first - rng.uniform(0, c.asteroid_period / 24.0)
        self._asteroid_mid_jd = t_first + 0.5 * span
        self._asteroid_mid = self.reference_wcs.pixel_to_world(0.45 * (nx - 1), 0.55 * (ny - 1))

    def surrounding_catalog(self, radius: float, seed: int = 0) -> Table:
        """The night's catalog plus the sky around it out to ``radius`` degrees.

        Stars beyond the frame's catalog have the same density, luminosity
        function and catalog errors (:func:`~.field.star_catalog`), so a
        search far from the pointing meets a sky as crowded as a real
        catalog's, where a wrong field can look right by chance.
        """
        c = self.config
        n = int(np.ceil(2 * radius * 3600.0 / c.pixel_scale))
        rng = np.random.default_rng([seed, 0x5CA1E])
        centre = self.reference_wcs.pixel_to_world((c.shape[1] - 1) / 2, (c.shape[0] - 1) / 2)
        wide = _field.tan_wcs((n, n), centre, c.pixel_scale, c.rotation)
        sky, _, _ = _field.star_catalog(
            wide, (n, n), 0.0, c.star_density, c.mag_bright, c.mag_faint, c.lf_slope, rng
        )
        x, y = self.reference_wcs.wcs_world2pix(sky["ra"], sky["dec"], 0)
        ny, nx = c.shape
        m = self._catalog_margin
        inside = (x >= -m) & (x <= nx - 1 + m) & (y >= -m) & (y <= ny - 1 + m)
        far = centre.separation(SkyCoord(sky["ra"], sky["dec"], unit="deg")).deg <= radius
        sky = sky[~inside & far]
        sky["id"] = np.arange(len(sky), dtype=np.int64) + int(self.catalog["id"].max()) + 1
        return vstack([self.catalog, sky[self.catalog.colnames]], metadata_conflicts="silent")

    def _wider_catalog(
        self, cat: Table, v: np.ndarray, b: np.ndarray
    ) -> tuple[Table, np.ndarray, np.ndarray]:
        """``cat`` plus stars out to ``_reach`` + the margin beyond the reference frame."""
        c = self.config
        ny, nx = c.shape
        margin = _CATALOG_MARGIN + self._reach
        ring, rv, rb = _field.star_catalog(
            self.reference_wcs, c.shape, margin, c.star_density, c.mag_bright,
            c.mag_faint, c.lf_slope, _rng(c.seed, _S_CATALOG, 1),
        )  # fmt: skip
        x, y = self.reference_wcs.wcs_world2pix(ring["ra"], ring["dec"], 0)
        m = _CATALOG_MARGIN
        outside = (x < -m) | (x > nx - 1 + m) | (y < -m) | (y > ny - 1 + m)
        cat = vstack([cat, ring[outside]])
        return cat, np.concatenate([v, rv[outside]]), np.concatenate([b, rb[outside]])

    def catalog_realisation(self, rng: np.random.Generator) -> Table:
        """The reference catalog again with new catalog errors (same stars, same ``*_err``).

        A real catalog's errors are one draw, shared by every frame calibrated
        against it; tests that pool frames as independent draws of a zero
        point give each frame its own draw.
        """
        cat = self.catalog.copy()
        for band, true in (("V", self._true_v), ("B", self._true_b)):
            err = np.asarray(cat[f"{band}_err"], dtype=float)
            cat[band] = true + err * rng.standard_normal(len(cat))
            cat[band].unit = u.mag
        return cat

    def true_magnitudes(self) -> Table:
        """The catalog stars' true (error-free) id, V and B."""
        return Table({"id": np.asarray(self.catalog["id"]), "V": self._true_v, "B": self._true_b})

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
    def _electron_rate(self, v: np.ndarray, b: np.ndarray) -> np.ndarray:
        mag = v if self.config.filter == "V" else b
        return 10 ** (-0.4 * (np.asarray(mag) - self.config.zero_point))

    def _transmission(self, i: int) -> float:
        return 10 ** (-0.4 * self.config.extinction * self.airmass[i])

    def variable_relative_flux(self, jd: float | np.ndarray) -> dict[str, np.ndarray]:
        """Flux of each variable relative to its catalog brightness at ``jd``.

        Returns ``{"eclipsing": ..., "transit": ..., "asteroid": ...}``; the
        asteroid's is relative to ``config.asteroid_mag``.
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
                    jd, self.asteroid_t0, c.asteroid_period / 24.0, c.asteroid_amplitude
                )
            ),
        }

    def _fwhm_at(self, i: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        c = self.config
        fwhm = np.full(np.shape(x), self.fwhm[i])
        if c.field_varying_psf:
            ny, nx = c.shape
            cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
            r2 = ((x - cx) ** 2 + (y - cy) ** 2) / (cx**2 + cy**2)
            fwhm = fwhm * (1.0 + c.field_psf_variation * r2)
        return fwhm

    def sky_electrons(self, i: int) -> np.ndarray:
        """Noiseless sky (e-) of light ``i`` before the flat field: level and gradient."""
        i = self._index(i)
        c = self.config
        ny, nx = c.shape
        rate = 10 ** (-0.4 * (c.sky_brightness - c.zero_point)) * c.pixel_scale**2
        # The sky brightens toward the horizon, ~30% from zenith to airmass 2.
        level = rate * c.exptime * (1.0 + 0.3 * (self.airmass[i] - 1.0))
        a = self._sky_gradient_angle
        xs = (np.arange(nx) - (nx - 1) / 2.0) / max(nx, ny)
        ys = (np.arange(ny) - (ny - 1) / 2.0) / max(nx, ny)
        ramp = c.sky_gradient * (np.cos(a) * xs[None, :] + np.sin(a) * ys[:, None])
        return level * (1.0 + ramp)

    # -- truth and rendering ---------------------------------------------------
    def _sources(self, i: int) -> tuple[Table, list[tuple[np.ndarray, np.ndarray, float]]]:
        """Truth table of light ``i`` (without ``saturated``) and the asteroid trail."""
        c = self.config
        w = self._wcs[i]
        jd = self.times[i].jd
        rel = self.variable_relative_flux(jd)
        factor = np.ones(len(self.catalog))
        factor[self._kind == "eclipsing"] = rel["eclipsing"]
        factor[self._kind == "transit"] = rel["transit"]
        ra = np.asarray(self.catalog["ra"], float)
        dec = np.asarray(self.catalog["dec"], float)
        x, y = w.all_world2pix(ra, dec, 0, tolerance=1e-9, maxiter=100)
        scale = c.exptime * self._transmission(i)
        flux = self._electron_rate(self._true_v, self._true_b) * scale * factor
        rows = {
            "id": np.asarray(self.catalog["id"]),
            "kind": self._kind.astype("U9"),
            "x": x,
            "y": y,
            "ra": ra,
            "dec": dec,
            "flux": flux,
            "mag_V": self._true_v - 2.5 * np.log10(factor),
        }
        trail: list[tuple[np.ndarray, np.ndarray, float]] = []
        if c.asteroid:
            mag_v = c.asteroid_mag - 2.5 * np.log10(rel["asteroid"])
            f = float(self._electron_rate(mag_v, mag_v + _ASTEROID_BV) * scale)
            pos = self.asteroid_position(jd)
            ax, ay = w.all_world2pix(pos.ra.deg, pos.dec.deg, 0, tolerance=1e-9, maxiter=100)
            # The asteroid moves during the exposure: render it as a trail of
            # sub-exposures no more than 0.2 px apart.
            rate_px = c.asteroid_rate / 60.0 / c.pixel_scale
            n_sub = int(max(3, np.ceil(rate_px * c.exptime / 0.2)))
            t_sub = self.start_times[i].jd + (np.arange(n_sub) + 0.5) / n_sub * c.exptime / 86400
            sub = self.asteroid_position(t_sub)
            sx, sy = w.all_world2pix(sub.ra.deg, sub.dec.deg, 0, tolerance=1e-9, maxiter=100)
            trail.append((sx, sy, f / n_sub))
            for key, value in (
                ("id", ASTEROID_ID),
                ("kind", "asteroid"),
                ("x", ax),
                ("y", ay),
                ("ra", pos.ra.deg),
                ("dec", pos.dec.deg),
                ("flux", f),
                ("mag_V", mag_v),
            ):
                rows[key] = np.append(rows[key], value)
        truth = Table(rows)
        truth["fwhm"] = self._fwhm_at(i, truth["x"], truth["y"])
        for col, unit in (
            ("x", u.pix),
            ("y", u.pix),
            ("ra", u.deg),
            ("dec", u.deg),
            ("flux", u.electron),
            ("mag_V", u.mag),
            ("fwhm", u.pix),
        ):
            truth[col].unit = unit
        truth.meta = {
            "frame": i,
            "jd_mid": float(jd),
            "airmass": float(self.airmass[i]),
            "fwhm": float(self.fwhm[i]),
            "filter": c.filter,
        }
        return truth, trail

    def _render(self, i: int) -> tuple[Table, np.ndarray]:
        """Truth table and the noiseless calibrated image (e-) of light ``i``."""
        c = self.config
        truth, trail = self._sources(i)
        image = self.sky_electrons(i)
        stars = truth["kind"] != "asteroid"
        add_sources(
            image,
            truth["x"][stars],
            truth["y"][stars],
            truth["flux"][stars],
            truth["fwhm"][stars],
            c.psf,
            c.moffat_beta,
        )
        for sx, sy, f in trail:
            add_sources(image, sx, sy, f, self._fwhm_at(i, sx, sy), c.psf, c.moffat_beta)
        return self._with_saturation(i, truth, trail), image

    def _with_saturation(self, i: int, truth: Table, trail: list) -> Table:
        """Add ``saturated``: the expected ADU of the source's own peak pixel clips.

        Only the source's own light, the sky and the dark current count (not
        neighbours' wings), so that the flag is cheap and the same whether or
        not the frame is rendered.
        """
        c = self.config
        ny, nx = c.shape
        x, y = np.asarray(truth["x"]), np.asarray(truth["y"])
        px = np.floor(x + 0.5).astype(int)
        py = np.floor(y + 0.5).astype(int)
        inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
        own = np.zeros(len(truth))
        for k in np.flatnonzero(inside):
            if truth["kind"][k] == "asteroid" and trail:
                sx, sy, f = trail[0]
                parts = [
                    psf_stamp(
                        np.array([px[k] - a]),
                        np.array([py[k] - b]),
                        float(truth["fwhm"][k]),
                        c.psf,
                        c.moffat_beta,
                    )[0, 0]
                    for a, b in zip(sx, sy, strict=True)
                ]
                own[k] = f * float(np.sum(parts))
            else:
                frac = psf_stamp(
                    np.array([px[k] - x[k]]),
                    np.array([py[k] - y[k]]),
                    float(truth["fwhm"][k]),
                    c.psf,
                    c.moffat_beta,
                )[0, 0]
                own[k] = truth["flux"][k] * frac
        pyi, pxi = py[inside], px[inside]
        sky = self.sky_electrons(i)[pyi, pxi]
        raw = self.camera.flat[pyi, pxi] * (sky + own[inside])
        raw += self.camera.dark_current[pyi, pxi] * c.exptime
        peak = self.camera.bias_level[pyi, pxi] + raw / c.gain
        saturated = np.zeros(len(truth), bool)
        saturated[inside] = peak >= min(c.saturation, _camera.ADC_MAX)
        truth["saturated"] = saturated
        return truth

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
            filter_name=c.filter,
            camera_facts=self.camera_facts(),
            object_name=c.object_name,
            pointing=self.pointing(i),
            airmass=float(self.airmass[i]),
            **self.time_cards(),
        )
        if c.write_wcs:
            header.update(self._wcs[i].to_header(relax=True))
        return data, header, truth
