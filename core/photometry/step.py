"""The photometry step: ``Photometry(params)(image, ...) -> Table``.

One configured object measures a frame by aperture, PSF or crowded-field
photometry. The table always starts with x, y, flux, flux_err, flags (x, y
0-based, x along columns; fluxes in electrons when the gain is known, else
ADU) and gets ra, dec when a WCS is given. :meth:`Photometry.run` also returns
the diagnostics a panel shows (curve of growth, PSF, model and residual).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from ..runtime.pipeline import StepState
from .annulus import SkyMemo
from .aperture import measure_apertures, neighbour_sky_mask
from .detect import (
    FrameSky,
    add_significance,
    detected_sky,
    detected_stars,
    find_stars,
    frame_sky,
    measure_fwhm,
)
from .growth import CurveOfGrowth, curve_of_growth
from .inputs import FrameInputs
from .noise import NoiseModel
from .params import METHODS, PSF_VARIATIONS, PhotometryParams
from .sampling import add_sampling_error

if TYPE_CHECKING:
    from astropy.wcs import WCS

    from ..detection.background import SkyBackground

__all__ = ["Photometry", "PhotometryResult", "PhotometryError"]

log = logging.getLogger(__name__)

_FIRST_COLUMNS = ("x", "y", "flux", "flux_err", "flags")
_DEFAULT_FWHM = 3.0


class PhotometryError(ValueError):
    """Input the step cannot measure (wrong shape, nothing finite); message for the user."""


@dataclass(frozen=True)
class PhotometryResult:
    """A measured frame and what the panel shows about it."""

    table: Table
    method: str
    fwhm: float
    """Seeing used (px)."""
    unit: str
    """``'electron'`` when the gain was known, else ``'adu'``."""
    sky: np.ndarray
    """Sky map in the table's unit per pixel."""
    aperture_radius: float | None = None
    annulus: tuple[float, float] | None = None
    curve_of_growth: CurveOfGrowth | None = None
    psf: object | None = None
    """The PSF used (:class:`fluxion.core.photometry.epsf.EffectivePSF`)."""
    model: np.ndarray | None = None
    """Model image of the fitted stars plus sky (PSF and crowded methods), in ``unit``."""
    residual: np.ndarray | None = None
    """Image minus model, in ``unit``."""
    extra: dict = field(default_factory=dict)


def _check_image(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(image)
    if data.ndim != 2:
        raise PhotometryError(f"expected a 2-D image, got {data.ndim} dimensions")
    if not np.issubdtype(data.dtype, np.number):
        raise PhotometryError(f"image pixels must be numbers, got {data.dtype}")
    if min(data.shape) < 16:
        raise PhotometryError(f"image {data.shape} is too small to measure")
    bad = ~np.isfinite(data)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != data.shape:
            raise PhotometryError(f"mask shape {mask.shape} differs from image {data.shape}")
        bad |= mask
    if bad.all():
        raise PhotometryError("every pixel is masked or not finite")
    return data, bad


class Photometry:
    """Measure the stars of a frame.

    Parameters
    ----------
    params : PhotometryParams, optional
        The configuration; defaults to aperture photometry with a
        curve-of-growth radius.

    Examples
    --------
    >>> step = Photometry(PhotometryParams(method="psf"))       # doctest: +SKIP
    >>> table = step(image, gain=1.4, read_noise=9.0)            # doctest: +SKIP
    """

    def __init__(self, params: PhotometryParams | None = None) -> None:
        self.params = params or PhotometryParams()
        if self.params.method not in METHODS:
            raise PhotometryError(f"unknown method {self.params.method!r}; use one of {METHODS}")
        if self.params.psf_variation not in PSF_VARIATIONS:
            raise PhotometryError(
                f"unknown PSF variation {self.params.psf_variation!r}; use one of {PSF_VARIATIONS}"
            )

    def __call__(self, image: np.ndarray, positions: np.ndarray | None = None, **kw) -> Table:
        """Measure and return the table only; see :meth:`run`."""
        return self.run(image, positions, **kw).table

    def run(
        self,
        image: np.ndarray,
        positions: np.ndarray | None = None,
        *,
        mask: np.ndarray | None = None,
        error: np.ndarray | None = None,
        gain: float | None = None,
        read_noise: float = 0.0,
        saturation: float | None = None,
        target: tuple[float, float] | None = None,
        wcs: WCS | None = None,
        fwhm: float | None = None,
        cfa: str | None = None,
        sharpness_limit: float | None = None,
        sources: Table | None = None,
        background: SkyBackground | None = None,
        state: StepState | None = None,
    ) -> PhotometryResult:
        """Measure a frame.

        Parameters
        ----------
        image : ndarray
            The frame in ADU (calibrated). Never modified.
        positions : ndarray, shape (N, 2), optional
            (x, y) of the stars to measure (forced photometry at these
            positions for the PSF method); detected when not given.
        mask : ndarray of bool, optional
            True for bad pixels.
        error : ndarray, optional
            Per-pixel 1-sigma noise in ADU, replacing the noise model.
        gain : float, optional
            e-/ADU; when None fluxes stay in ADU.
        read_noise : float
            Read noise in electrons.
        saturation : float, optional
            Saturation level in ADU.
        target : (float, float), optional
            The target's position: its curve of growth joins the field's.
        wcs : astropy.wcs.WCS, optional
            Adds ra, dec columns (degrees).
        fwhm : float, optional
            The frame's seeing (px) when already measured (detection's
            stacked Moffat fit): not measured again. The parameters' own FWHM,
            when set, comes first.
        cfa : str, optional
            Bayer pattern of a colour frame's pixels: each colour channel is
            measured on its own pixels (``params.channels``; see
            :mod:`.channels`) and the table gets a ``channel`` column.
        sharpness_limit : float, optional
            The star finder's sharpness test (:func:`~.detect.find_stars`);
            a colour channel's grid, sampled every second pixel, makes its
            stars sharper than a pixel-integrated star of their FWHM.
        sources : Table, optional
            The frame's sources as detection found them in these pixels
            (x, y, flux and peak in the image's units, flags): the aperture
            method's stars (curve of growth, neighbours) are these instead of
            a second search of the frame (:func:`~.detect.detected_stars`).
            The PSF and crowded methods and colour channels find their own.
        background : SkyBackground, optional
            Detection's sep background of these pixels in ADU, with its maps,
            made with the same mask (``mask`` less the saturated pixels it
            keeps): the sky map is taken from it (times the gain) instead of
            measured again, when it was made on this step's mesh
            (:func:`~.detect.detected_sky`).
        state : StepState, optional
            Progress and cancellation.
        """
        state = state or StepState()
        p = self.params
        if cfa is not None and p.channels != "mono":
            from .channels import measure_channels

            _check_image(image, mask)
            return measure_channels(
                self, image, cfa, positions, mask=mask, error=error, gain=gain,
                read_noise=read_noise, saturation=saturation, target=target, wcs=wcs,
                fwhm=fwhm, state=state,
            )  # fmt: skip
        data, bad = _check_image(image, mask)
        try:
            noise = NoiseModel(gain if gain is not None else 1.0, float(read_noise))
        except ValueError as exc:
            raise PhotometryError(str(exc)) from exc
        g = noise.gain
        img = noise.to_electrons(data)
        img[bad] = 0.0
        if saturation is None:
            saturation = _clipped_level(data, bad)
        sat = saturation * g if saturation is not None else None
        variance = None
        if error is not None:
            err = np.asarray(error, dtype=np.float64)
            if err.shape != data.shape:
                raise PhotometryError(f"error shape {err.shape} differs from image {data.shape}")
            variance = (err * g) ** 2
        if positions is not None:
            positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        state.progress(0.02, "sky")
        sky = detected_sky(background, img.shape, g)
        if sky is None:
            sky = frame_sky(img, bad, clean=True)
        if gain is None:
            noise, img, sky = _effective_noise(data, bad, sky)
            g = noise.gain
            sat = saturation * g if saturation is not None else None
            if error is not None:
                variance = (np.asarray(error, dtype=np.float64) * g) ** 2
        known = p.fwhm if p.fwhm > 0 else fwhm if fwhm is not None and fwhm > 0 else None
        guess = known if known is not None else _DEFAULT_FWHM
        sharp = {} if sharpness_limit is None else {"sharpness_limit": sharpness_limit}
        found = sources if p.method == "aperture" else None
        if found is not None:
            stars = detected_stars(found, g)
        else:
            stars = find_stars(
                img, sky, threshold=p.detection_threshold, mask=bad, fwhm=guess, **sharp
            )
        fwhm = known if known is not None else measure_fwhm(img, sky, stars, saturation=sat)
        if not np.isfinite(fwhm):
            log.warning("no star to measure the FWHM on; assuming %.1f px", _DEFAULT_FWHM)
            fwhm = _DEFAULT_FWHM
        if found is not None:
            add_significance(stars, img, sky, bad, fwhm)
        elif abs(fwhm - guess) > 0.2 * guess:
            # The matched filter is best with the frame's own seeing.
            stars = find_stars(
                img, sky, threshold=p.detection_threshold, mask=bad, fwhm=fwhm, **sharp
            )
        state.progress(0.1, f"FWHM {fwhm:.2f} px, {len(stars)} stars")
        inputs = FrameInputs(img, bad, sky, stars, fwhm, noise, sat, variance, positions, target)
        sub = state.sub(0.1, 0.95)
        if p.method == "aperture":
            result = self._aperture(inputs, sub, data)
        elif p.method == "psf":
            from .psf_step import run_psf

            result = run_psf(p, inputs, sub)
        else:
            from .scene.step import run_crowded

            result = run_crowded(p, inputs, sub)
        table = result.pop("table")
        unit = "electron" if gain is not None else "adu"
        if gain is None and g != 1.0:
            # Back to ADU: the effective gain only shaped the noise model.
            for name in ("flux", "flux_err", "sky", "sky_err"):
                if name in table.colnames:
                    table[name] = np.asarray(table[name]) / g
            for name in ("model", "residual"):
                if result.get(name) is not None:
                    result[name] = result[name] / g
            sky = FrameSky(sky.level / g, sky.rms / g, sky.global_level / g, sky.global_rms / g)
        table = _finish_table(table, wcs)
        table.meta.update(method=p.method, fwhm=fwhm, flux_unit=unit)
        if gain is None:
            table.meta.update(effective_gain=g, read_noise_adu=noise.read_noise / g)
        state.progress(1.0, f"{len(table)} stars measured")
        sky_map = result.pop("sky", None)
        if sky_map is None:
            sky_map = sky.level
        elif gain is None:
            sky_map = sky_map / g
        return PhotometryResult(
            table=table, method=p.method, fwhm=fwhm, unit=unit, sky=sky_map, **result
        )

    # -- aperture ---------------------------------------------------------
    def _aperture(self, inputs: FrameInputs, state: StepState, data: np.ndarray) -> dict:
        """Aperture photometry; ``data`` is the frame ``inputs.img`` was made of (in ADU)."""
        img, bad, sky, stars, fwhm, noise, sat, variance, positions, target = inputs
        p = self.params
        annulus = (p.annulus_inner * fwhm, max(p.annulus_outer, p.annulus_inner + 1) * fwhm)
        field = np.c_[stars["x"], stars["y"]] if len(stars) else np.zeros((0, 2))
        if positions is None:
            positions = field
        radius = p.aperture_radius or p.aperture_radius_fwhm * fwhm
        sky_mask = None
        if len(stars):
            sky_mask = neighbour_sky_mask(
                img.shape,
                np.asarray(stars["x"]),
                np.asarray(stars["y"]),
                np.asarray(stars["flux"]),
                fwhm,
                float(sky.global_rms),
                max_radius=0.8 * annulus[0],
            )
        cog = None
        # The curve's stars are mostly the measured ones: their skies once.
        memo = SkyMemo()
        # The frame is already finite and 0 at its bad pixels: no cleaned copy of it.
        # The calibrated frame's float32 ADU sort faster than their electrons (annulus_sky).
        memo.prepared(img, bad, sky_mask, source=data, scale=noise.gain)
        if radius <= 0 or p.aperture_correction:
            radii = np.linspace(0.5 * fwhm, 0.95 * annulus[0], 20)
            try:
                cog = curve_of_growth(
                    img,
                    field,
                    radii,
                    annulus,
                    target_position=target,
                    noise=noise,
                    mask=bad,
                    saturation=sat,
                    min_fraction=p.growth_min_fraction,
                    max_difference=p.growth_max_difference,
                    sky_mask=sky_mask,
                    neighbours=positions,
                    field_snr=_white_noise_snr(stars),
                    sky_memo=memo,
                )
            except ValueError as exc:
                log.warning("curve of growth not measured: %s", exc)
        state.progress(0.5, "curve of growth")
        if radius <= 0:
            radius = cog.optimum_radius if cog is not None else 1.5 * fwhm
        if radius >= annulus[0]:
            annulus = (radius + fwhm, radius + fwhm + (annulus[1] - annulus[0]))
        table = measure_apertures(
            img,
            positions,
            radius,
            annulus,
            noise=noise,
            mask=bad,
            saturation=sat,
            neighbours=field,
            variance=variance,
            sky_mask=sky_mask,
            sky_memo=memo,
        )
        # Where each star falls within its pixel changes its sum from one
        # exposure to the next (see sampling.py): its own error, not the frame's.
        table.meta["aperture_sampling_err"] = add_sampling_error(table, fwhm, radius)
        if p.aperture_correction and cog is not None:
            corr, corr_err = cog.aperture_correction_with_error(radius)
            if np.isfinite(corr):
                # The correction's own error is common to all stars of the
                # frame; it goes into flux_err (a zero point from many stars
                # cannot average it down) and, alone, into the meta.
                corr_err = corr_err if np.isfinite(corr_err) else 0.0
                flux = np.asarray(table["flux"], dtype=np.float64)
                err = np.asarray(table["flux_err"], dtype=np.float64)
                table["flux"] = flux * corr
                table["flux_err"] = np.hypot(err * corr, flux * corr_err)
                table.meta["aperture_correction"] = corr
                table.meta["aperture_correction_err"] = corr_err
        table.meta["aperture_radius"] = radius
        return dict(table=table, aperture_radius=radius, annulus=annulus, curve_of_growth=cog)


def _white_noise_snr(stars: Table) -> np.ndarray | None:
    """The found stars' matched-filter S/N against white noise of the sky map's variance.

    :func:`find_stars` divides the significance by the sky's own scatter
    when correlated structure widens it (``noise_scale`` >= 1); undone here,
    so that the S/N is never below the star's true one.
    """
    if "significance" not in stars.colnames:
        return None
    scale = float(stars.meta.get("noise_scale", 1.0))
    offset = float(stars.meta.get("significance_offset", 0.0))
    return np.asarray(stars["significance"], dtype=np.float64) * scale + offset


def _clipped_level(data: np.ndarray, bad: np.ndarray) -> float | None:
    """The frame's maximum when many pixels sit exactly on it (a clipped, saturated frame)."""
    good = data[~bad]
    if good.size == 0:
        return None
    top = float(good.max())
    n_top = int(np.count_nonzero(good == top))
    if n_top >= 5 and top > float(np.median(good)):
        log.info("%d pixels at the maximum %.6g: taken as the saturation level", n_top, top)
        return top
    return None


def _effective_noise(
    data: np.ndarray, bad: np.ndarray, sky: FrameSky
) -> tuple[NoiseModel, np.ndarray, FrameSky]:
    """A noise model for a frame of unknown gain, from its sky level and noise.

    A Poisson sky of level L (ADU) and noise s (ADU) implies a gain L / s^2;
    the frame is scaled by it so that the e- noise model holds. A sky at or
    below zero (sky-subtracted frames) or an implausible gain leaves the gain
    at 1 and takes the sky noise as read noise.
    """
    level, rms = sky.global_level, sky.global_rms
    g = level / rms**2 if rms > 0 and level > 0 else 0.0
    if 0.01 < g < 1000 and level > 3 * rms:
        noise = NoiseModel(g, 0.0)
    else:
        noise = NoiseModel(1.0, float(rms) if rms > 0 else 1.0)
        g = 1.0
    img = noise.to_electrons(data)
    img[bad] = 0.0
    scaled = FrameSky(sky.level * g, sky.rms * g, level * g, rms * g)
    return noise, img, scaled


def _finish_table(table: Table, wcs: WCS | None) -> Table:
    """Put the agreed columns first and add ra, dec from the WCS."""
    rest = [c for c in table.colnames if c not in _FIRST_COLUMNS]
    table = table[list(_FIRST_COLUMNS) + rest]
    table["flags"] = np.asarray(table["flags"], dtype=np.int32)
    if wcs is not None and len(table):
        ra, dec = wcs.pixel_to_world_values(np.asarray(table["x"]), np.asarray(table["y"]))
        table["ra"] = np.asarray(ra, dtype=np.float64)
        table["dec"] = np.asarray(dec, dtype=np.float64)
    return table
