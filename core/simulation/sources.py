"""What a simulated light shows: the truth table of its sources and their noiseless image.

The catalogue stars (with the variables' flux at that moment), the
transients the catalogue does not list (nova, supernova), and the asteroid
as a trail of sub-exposures; then all of them, and the galaxies, rendered
through the light's PSF onto its sky.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.table import Table

from ..photometry.scintillation import scintillation
from .camera_frames import _rng
from .colour import FRACTION, ColourCamera
from .psf import add_sources

if TYPE_CHECKING:
    from collections.abc import Callable

    from astropy.time import Time
    from astropy.wcs import WCS

    from .psf import FieldPSF
    from .simulate import NightConfig

__all__ = ["ASTEROID_ID", "NightSources"]

ASTEROID_ID = -1
_ASTEROID_BV = 0.85  # an S-type colour
_NEW_SOURCE_BV = 0.1  # a nova's or young supernova's blue colour
_GALAXY_BV = 0.8
_S_SCINTILLATION = 33  # the twinkling's own random stream


class NightSources:
    """The truth tables and noiseless images of :class:`~fluxion.core.simulation.night.Night`."""

    config: NightConfig
    catalog: Table
    colour: ColourCamera | None
    times: Time
    start_times: Time
    airmass: np.ndarray
    fwhm: np.ndarray
    cloud_loss: np.ndarray
    if TYPE_CHECKING:  # CameraFrames' property

        @property
        def filter_card(self) -> str | None: ...

    _wcs: list[WCS]
    _kind: np.ndarray
    _true_v: np.ndarray
    _true_b: np.ndarray
    # Provided by Night and its other parts:
    variable_relative_flux: Callable[..., dict[str, np.ndarray]]
    asteroid_position: Callable
    new_point_sources: Callable
    add_galaxies: Callable
    sky_electrons: Callable[[int], np.ndarray]
    sky_factor: Callable[[int], float]
    _electron_rate: Callable[[np.ndarray, np.ndarray], np.ndarray]
    _channel_rates: Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]
    _transmission: Callable[[int], float]
    _shape_at: Callable
    _field_psf: Callable[[int], FieldPSF | None]
    _with_saturation: Callable[[int, Table, list], Table]

    def _sources(self, i: int) -> tuple[Table, list[tuple[np.ndarray, np.ndarray, float]]]:
        """Truth table of light ``i`` (without ``saturated``) and the asteroid trail."""
        c = self.config
        w = self._wcs[i]
        jd = self.times[i].jd
        rel = self.variable_relative_flux(jd)
        factor = np.ones(len(self.catalog))
        factor[self._kind == "eclipsing"] = rel["eclipsing"]
        factor[self._kind == "transit"] = rel["transit"]
        factor[self._kind == "outburst"] = rel["outburst"]
        ra = np.asarray(self.catalog["ra"], float)
        dec = np.asarray(self.catalog["dec"], float)
        x, y = w.all_world2pix(ra, dec, 0, tolerance=1e-9, maxiter=100)
        scale = c.exptime * self._transmission(i)
        # The light that reaches the detector twinkles; the star's brightness (mag_V) does not.
        twinkle = self.twinkle(i)
        flux = self._electron_rate(self._true_v, self._true_b) * scale * factor * twinkle
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
        if self.colour is not None:
            for k, r in self._channel_rates(self._true_v, self._true_b).items():
                rows[f"flux_{k}"] = r * scale * factor * twinkle
        for source_id, kind, sky, mag_v in self.new_point_sources(jd):
            # The nova and the supernova: point sources the catalogue does not list.
            sx, sy = w.all_world2pix(sky.ra.deg, sky.dec.deg, 0, tolerance=1e-9, maxiter=100)
            bv = _NEW_SOURCE_BV
            values = {
                "id": source_id, "kind": kind, "x": sx, "y": sy, "ra": sky.ra.deg,
                "dec": sky.dec.deg, "mag_V": mag_v,
                "flux": float(self._electron_rate(np.array(mag_v), np.array(mag_v + bv)) * scale),
            }  # fmt: skip
            if self.colour is not None:
                for k, r in self._channel_rates(np.array(mag_v), np.array(mag_v + bv)).items():
                    values[f"flux_{k}"] = float(r * scale)
            for key, value in values.items():
                rows[key] = np.append(rows[key], value)
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
                *(
                    (f"flux_{k}", float(r * scale))
                    for k, r in (
                        {}
                        if self.colour is None
                        else self._channel_rates(mag_v, mag_v + _ASTEROID_BV)
                    ).items()
                ),
            ):
                rows[key] = np.append(rows[key], value)
        truth = Table(rows)
        fwhm, ell, theta = self._shape_at(i, truth["x"], truth["y"])
        truth["fwhm"] = fwhm
        truth["ellipticity"] = ell
        truth["theta"] = np.rad2deg(theta)
        for col, unit in (
            ("x", u.pix),
            ("y", u.pix),
            ("ra", u.deg),
            ("dec", u.deg),
            ("flux", u.electron),
            ("mag_V", u.mag),
            ("fwhm", u.pix),
            ("theta", u.deg),
            *((f"flux_{k}", u.electron) for k in ("R", "G", "B") if self.colour is not None),
        ):
            truth[col].unit = unit
        truth.meta = {
            "frame": i,
            "jd_mid": float(jd),
            "airmass": float(self.airmass[i]),
            "fwhm": float(self.fwhm[i]),
            "cloud_loss": float(self.cloud_loss[i]),
            "scintillation": self.scintillation_sigma(i),
            "sky_factor": self.sky_factor(i),
            "filter": self.filter_card,
            **({} if self.colour is None else {"bayer_pattern": self.colour.pattern}),
        }
        return truth, trail

    def scintillation_sigma(self, i: int) -> float:
        """Relative flux rms of scintillation in light ``i`` (0 unless simulated)."""
        c = self.config
        if c.scintillation_aperture <= 0:
            return 0.0
        return float(
            scintillation(
                c.scintillation_aperture / 1000.0, self.airmass[i], c.exptime, c.site_elev
            )  # fmt: skip
        )

    def twinkle(self, i: int) -> np.ndarray:
        """Each catalogue star's scintillation factor in light ``i`` (ones when not simulated).

        Stars of a field are further apart than the aperture's footprint on the
        turbulent layer, so each twinkles on its own: independent draws, from
        the light's own stream (a night without scintillation draws nothing).
        """
        sigma = self.scintillation_sigma(i)
        if sigma <= 0:
            return np.ones(len(self.catalog))
        rng = _rng(self.config.seed, _S_SCINTILLATION, i)
        return np.clip(1.0 + sigma * rng.standard_normal(len(self.catalog)), 0.0, None)

    def _render(self, i: int) -> tuple[Table, np.ndarray]:
        """Truth table and the noiseless calibrated image (e-) of light ``i``."""
        truth, trail = self._sources(i)
        image = self.sky_electrons(i)
        w = self._wcs[i]
        scale = self.config.exptime * self._transmission(i)
        if self.colour is None:
            self._add_light(i, image, truth, trail, np.asarray(truth["flux"]))
            self.add_galaxies(i, image, w, scale, lambda v: self._electron_rate(v, v + _GALAXY_BV))
        else:
            # Each channel's pixels see the stars through its own filter.
            channels = {}
            for k in ("R", "G", "B"):
                channels[k] = np.zeros(self.config.shape)
                full = np.asarray(truth[f"flux_{k}"]) / FRACTION[k]
                self._add_light(i, channels[k], truth, trail, full)
                self.add_galaxies(
                    i, channels[k], w, scale,
                    lambda v, k=k: self.colour.full_rates(v, v + _GALAXY_BV)[k],
                )  # fmt: skip
            image += self.colour.mosaic(channels, self.config.shape)
        return self._with_saturation(i, truth, trail), image

    def _add_light(
        self, i: int, image: np.ndarray, truth: Table, trail: list, flux: np.ndarray
    ) -> None:
        """Add the sources of ``truth`` with fluxes ``flux`` (e-) to ``image``."""
        c = self.config
        stars = truth["kind"] != "asteroid"
        add_sources(
            image,
            truth["x"][stars],
            truth["y"][stars],
            flux[stars],
            truth["fwhm"][stars],
            c.psf,
            c.moffat_beta,
            truth["ellipticity"][stars],
            np.deg2rad(truth["theta"][stars]),
        )
        for sx, sy, f in trail:
            # The trail's share of this image's flux for the asteroid.
            ratio = float(flux[~stars][0] / truth["flux"][~stars][0])
            fwhm, ell, theta = self._shape_at(i, sx, sy)
            add_sources(image, sx, sy, f * ratio, fwhm, c.psf, c.moffat_beta, ell, theta)
