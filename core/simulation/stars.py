"""The stars of a simulated night: the catalog, its realisations and the sky around it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table, vstack

from . import field as _field
from .camera_frames import _S_CATALOG, _rng
from .colour import ColourCamera, cousins_r

if TYPE_CHECKING:
    from astropy.time import Time
    from astropy.wcs import WCS

    from .simulate import NightConfig

__all__ = ["NightStars"]

_CATALOG_MARGIN = 30.0  # px of sky around the frame that carries stars too


class NightStars:
    """The catalog part of :class:`~fluxion.core.simulation.night.Night`."""

    config: NightConfig
    reference_wcs: WCS
    colour: ColourCamera | None
    times: Time
    _reach: float

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
        self._true_v = v
        self._true_b = b
        if self.colour is not None:
            # Cousins R for the red channel, drawn from a stream of its own so
            # that a colour night has the monochrome night's stars and B, V.
            r_err = _field.catalog_errors(cousins_r(v, b), c.mag_faint - 0.3)
            noise = _rng(c.seed, _S_CATALOG, 2).standard_normal(len(cat))
            cat["R"] = cousins_r(v, b) + r_err * noise
            cat["R_err"] = r_err
            cat["R"].unit = cat["R_err"].unit = u.mag
        self.catalog = cat
        self._kind = np.array(kinds)
        self.eclipsing_id = int(cat["id"][-2])
        self.transit_id = int(cat["id"][-1])

        # Where the variable events fall: inside the night so that they show.
        jd = self.times.jd
        t_first, t_last = jd[0], jd[-1]
        span = max(t_last - t_first, c.exptime / 86400.0)
        self.transit_mid = t_first + c.transit_phase * span
        self.eclipse_min = t_first + c.eclipse_phase * span
        self.asteroid_t0 = t_first - rng.uniform(0, c.asteroid_period / 24.0)
        if c.asteroid_epoch > 0:  # the draw above is made anyway: the other draws stay
            self.asteroid_t0 = float(c.asteroid_epoch)
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
        bands = [("V", self._true_v), ("B", self._true_b)]
        if "R" in cat.colnames:
            bands.append(("R", cousins_r(self._true_v, self._true_b)))
        for band, true in bands:
            err = np.asarray(cat[f"{band}_err"], dtype=float)
            cat[band] = true + err * rng.standard_normal(len(cat))
            cat[band].unit = u.mag
        return cat

    def true_magnitudes(self) -> Table:
        """The catalog stars' true (error-free) id, V and B (and Cousins R on a colour night)."""
        t = Table({"id": np.asarray(self.catalog["id"]), "V": self._true_v, "B": self._true_b})
        if self.colour is not None:
            t["R"] = cousins_r(self._true_v, self._true_b)
        return t
