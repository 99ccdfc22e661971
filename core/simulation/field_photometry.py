"""Aperture photometry of every star of a simulated night, without drawing the frames.

A field's light curves need many stars in many frames; drawing hundreds of
1k x 1k frames to test magnitude fitting and detrending would cost minutes
where the photometry's statistics are known in closed form. This module
gives what forced aperture photometry of a calibrated frame measures: each
star's light inside a circular aperture (a Moffat's enclosed fraction at the
frame's seeing), its noise from the CCD equation (photon, sky, read noise,
the sky level's own error) and scintillation (Young's formula), and, on
request, the systematics real nights add and magnitude fitting, EPD and TFA
must remove:

* ``colour_extinction``: second-order extinction, k'' (B - V) X magnitudes;
* ``flat_error`` with the night's ``drift``: a residual flat field (a smooth
  random map, rms ``flat_error``, correlation length ``flat_scale`` px) that
  each star crosses as the field drifts;
* ``fwhm_term``: each star's flux changes with the seeing by its own amount
  (a neighbour's light leaking into the aperture, an aperture correction that
  differs across the field), relative change per unit of relative FWHM;
* ``subpixel``: intra-pixel sensitivity, a cosine in each axis of the star's
  sub-pixel position;
* ``shared_trends``: a few smooth trends in time that every star shows in
  its own mixture (what TFA's template stars are for: trends the field
  shares that depend on properties no frame fit knows).

The stars, the variables, the times, the airmass and the seeing are the
:class:`~fluxion.core.simulation.night.Night`'s own, so a test can
compare a table-level night with the same night drawn as frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.ndimage import gaussian_filter

from ..field.data import FieldData
from ..photometry.flags import PhotometryFlag
from ..photometry.scintillation import scintillation
from .night import Night
from .psf import moffat_alpha

__all__ = ["Systematics", "SimulatedField", "simulate_field_photometry"]


@dataclass(frozen=True)
class Systematics:
    """Systematics to add to a night's photometry (all zero: none)."""

    colour_extinction: float = 0.0
    """k'' (mag per airmass per mag of B - V)."""
    flat_error: float = 0.0
    """Rms of the residual flat field (relative)."""
    flat_scale: float = 30.0
    """Correlation length of the residual flat (px)."""
    fwhm_term: float = 0.0
    """Rms over stars of the relative flux change per relative change of FWHM."""
    subpixel: float = 0.0
    """Amplitude of the intra-pixel sensitivity (relative)."""
    shared_trends: float = 0.0
    """Rms (mag) of each star's mixture of the night's shared trends."""
    n_trends: int = 3
    """Number of shared trends."""


@dataclass
class SimulatedField:
    """A simulated night's field photometry and its truth.

    Attributes
    ----------
    data : FieldData
        What the photometry measured (catalogue V as ``catalog_mag``,
        catalogue B - V as ``colour``).
    expected_flux : ndarray (n_frames, n_stars)
        The aperture flux without noise or systematics (e-), variables included.
    sigma : ndarray (n_frames, n_stars)
        The true relative rms of each point: CCD equation and scintillation.
    systematic : ndarray (n_frames, n_stars)
        The systematics added (mag).
    kind : ndarray of str (n_stars,)
        'star', 'eclipsing' or 'transit'.
    relative_flux : ndarray (n_frames, n_stars)
        Each star's light relative to its mean (1 for constant stars).
    """

    data: FieldData
    expected_flux: np.ndarray
    sigma: np.ndarray
    systematic: np.ndarray
    kind: np.ndarray
    relative_flux: np.ndarray


def _enclosed(radius: float, fwhm: np.ndarray, beta: float) -> np.ndarray:
    """Fraction of a Moffat's light within ``radius``: 1 - (1 + r^2/alpha^2)^(1 - beta)."""
    alpha = np.asarray([moffat_alpha(f, beta) for f in np.ravel(fwhm)]).reshape(np.shape(fwhm))
    return 1.0 - (1.0 + (radius / alpha) ** 2) ** (1.0 - beta)


def _flat_map(shape: tuple[int, int], rms: float, scale: float, rng) -> np.ndarray:
    """A smooth random relative flat error of rms ``rms`` and correlation length ``scale``."""
    ny, nx = shape
    noise = gaussian_filter(rng.standard_normal((ny, nx)), scale / 2.0, mode="wrap")
    return rms * noise / np.std(noise)


def simulate_field_photometry(
    night: Night,
    *,
    aperture_radius: float = 6.0,
    annulus: tuple[float, float] = (12.0, 20.0),
    systematics: Systematics = Systematics(),  # noqa: B008 (frozen)
    diameter_m: float | None = 0.2,
    variables: bool = True,
    seed: int = 0,
) -> SimulatedField:
    """Aperture photometry of every catalogue star in every light of ``night``.

    Parameters
    ----------
    night : Night
    aperture_radius : float
        Fixed aperture radius (px).
    annulus : (float, float)
        Sky annulus radii (px): the number of sky pixels sets the sky level's error.
    systematics : Systematics
    diameter_m : float or None
        Telescope aperture for scintillation (None: none).
    variables : bool
        False makes the eclipsing binary and the transit host constant (a
        night with no variable).
    seed : int
        Noise and systematics stream (the night's own seed draws the stars).
    """
    c = night.config
    rng = np.random.default_rng([seed, c.seed, 0xF1E1D])
    n_f = night.n_frames
    truths = [night._sources(i)[0] for i in range(n_f)]
    first = truths[0]
    # Catalogued stars only: the asteroid, the nova and the supernova are not in
    # the field's star list.
    keep = np.isin(np.asarray(first["id"]), np.asarray(night.catalog["id"]))
    ids = np.asarray(first["id"])[keep]
    kind = np.asarray(first["kind"]).astype(str)[keep]
    ny, nx = c.shape
    x = np.array([np.asarray(t["x"])[keep] for t in truths])
    y = np.array([np.asarray(t["y"])[keep] for t in truths])
    inside = (x >= 0) & (x <= nx - 1) & (y >= 0) & (y <= ny - 1)
    # Stars seen in at least one frame make the list.
    seen = inside.any(axis=0)
    ids, kind, x, y, inside = ids[seen], kind[seen], x[:, seen], y[:, seen], inside[:, seen]
    flux_total = np.array([np.asarray(t["flux"])[keep][seen] for t in truths])
    fwhm_star = np.array([np.asarray(t["fwhm"])[keep][seen] for t in truths])
    rel = _relative_flux(night, kind)
    if not variables:
        flux_total = flux_total / rel
        rel = np.ones_like(rel)

    frac = _enclosed(aperture_radius, fwhm_star, c.moffat_beta) if c.psf == "moffat" else None
    if frac is None:
        sigma_px = fwhm_star / 2.3548
        frac = 1.0 - np.exp(-(aperture_radius**2) / (2 * sigma_px**2))
    expected = flux_total * frac
    sky = np.array([
        night.sky_electrons(i)[np.clip(np.rint(y[i]).astype(int), 0, ny - 1),
                               np.clip(np.rint(x[i]).astype(int), 0, nx - 1)]
        for i in range(n_f)
    ]) + c.dark_current * c.exptime  # fmt: skip
    area = np.pi * aperture_radius**2
    n_sky = np.pi * (annulus[1] ** 2 - annulus[0] ** 2)
    read = night.read_noise

    # Systematics (magnitudes), star by star.
    cat = night.catalog
    index = {int(s): k for k, s in enumerate(np.asarray(cat["id"]))}
    rows = np.array([index[int(s)] for s in ids])
    true_v = night._true_v[rows]
    true_bv = night._true_b[rows] - true_v
    s = systematics
    airmass = np.asarray(night.airmass, float)
    sys_mag = s.colour_extinction * true_bv[None, :] * airmass[:, None]
    if s.flat_error > 0:
        flat = _flat_map(c.shape, s.flat_error, s.flat_scale, rng)
        xi = np.clip(np.rint(x).astype(int), 0, nx - 1)
        yi = np.clip(np.rint(y).astype(int), 0, ny - 1)
        sys_mag += -2.5 * np.log10(1.0 + flat[yi, xi])
    if s.fwhm_term > 0:
        coeff = s.fwhm_term * rng.standard_normal(len(ids))
        f = np.asarray(night.fwhm, float)
        rel_fwhm = (f - f.mean()) / f.mean()
        sys_mag += -2.5 * np.log10(1.0 + coeff[None, :] * rel_fwhm[:, None])
    if s.subpixel > 0:
        phase = 0.5 * (np.cos(2 * np.pi * x) + np.cos(2 * np.pi * y))
        sys_mag += -2.5 * np.log10(1.0 + s.subpixel * phase)
    if s.shared_trends > 0:
        t = np.linspace(0.0, 1.0, n_f)
        # Smooth random curves: a few low-frequency sinusoids each, unit rms.
        trends = []
        for _ in range(s.n_trends):
            k = rng.uniform(0.5, 3.0, 3)
            phase = rng.uniform(0, 2 * np.pi, 3)
            curve = np.sum(np.sin(2 * np.pi * k[:, None] * t + phase[:, None]), axis=0)
            trends.append((curve - curve.mean()) / curve.std())
        mix = rng.standard_normal((s.n_trends, len(ids))) / np.sqrt(s.n_trends)
        sys_mag += s.shared_trends * np.array(trends).T @ mix
    measured_mean = expected * 10 ** (-0.4 * sys_mag)

    var = measured_mean + area * (sky + read**2) * (1.0 + area / n_sky)
    scint = scintillation(diameter_m, airmass, c.exptime, c.site_elev)
    sigma = np.sqrt(var / measured_mean**2 + scint[:, None] ** 2)
    flux = measured_mean * (1.0 + scint[:, None] * rng.standard_normal(var.shape))
    flux += np.sqrt(var) * rng.standard_normal(var.shape)
    # What a measurement reports: the CCD equation with the measured flux.
    flux_err = np.sqrt(np.maximum(flux, 0.0) + area * (sky + read**2) * (1.0 + area / n_sky))

    flags = np.zeros(flux.shape, dtype=np.int64)
    r = aperture_radius
    edge = (x < r) | (x > nx - 1 - r) | (y < r) | (y > ny - 1 - r)
    flags[edge] |= int(PhotometryFlag.NEAR_EDGE)
    alpha = np.vectorize(moffat_alpha)(fwhm_star, c.moffat_beta)
    peak = flux_total * (c.moffat_beta - 1.0) / (np.pi * alpha**2) + sky
    flags[peak / night.gain >= c.saturation - c.bias_level] |= int(PhotometryFlag.SATURATED)
    outside = ~inside
    flags[outside] = 1 << 8  # FieldFlag.OUTSIDE
    for a in (flux, flux_err):
        a[outside] = np.nan

    stars = Table()
    stars["star_id"] = ids.astype(np.int64)
    stars["ra"] = np.asarray(cat["ra"], float)[rows]
    stars["dec"] = np.asarray(cat["dec"], float)[rows]
    stars["x_ref"] = x[0]
    stars["y_ref"] = y[0]
    stars["catalog_mag"] = np.asarray(cat["V"], float)[rows]
    stars["colour"] = np.asarray(cat["B"], float)[rows] - np.asarray(cat["V"], float)[rows]
    frames = Table()
    frames["frame"] = np.arange(n_f, dtype=np.int64)
    frames["file"] = [f"light_{i + 1:04d}.fits" for i in range(n_f)]
    frames["jd_utc"] = night.times.jd
    frames["fwhm"] = np.asarray(night.fwhm, float)
    frames["airmass"] = airmass
    frames["exptime"] = np.full(n_f, c.exptime)
    meta = {
        "aperture_radius": aperture_radius, "aperture_area": area, "sky_pixels": n_sky,
        "gain": night.gain, "read_noise": read, "diameter_m": diameter_m or 0.0,
        "altitude_m": c.site_elev, "shape": list(c.shape),
    }  # fmt: skip
    data = FieldData(
        stars=stars, frames=frames, flux=flux, flux_err=flux_err, flags=flags, x=x, y=y,
        sky=sky, meta=meta,
    )  # fmt: skip
    return SimulatedField(data, expected, sigma, sys_mag, kind, rel)


def _relative_flux(night: Night, kind: np.ndarray) -> np.ndarray:
    """Each variable's relative flux in every light (1 for constant stars)."""
    rel = np.ones((night.n_frames, len(kind)))
    curves = night.variable_relative_flux(night.times.jd)
    for name in ("eclipsing", "transit", "outburst"):
        k = kind == name
        if k.any():
            rel[:, k] = curves[name][:, None]
    return rel
