"""Calibrating a light frame with the masters, and its mask.

    calibrated = (raw - overscan - bias - (t_light / t_dark) * dark) / (flat / mean(flat))

(AutoWISP's formula; the master flat already has mean 1). Each term is
skipped when its master is missing, and the frame records which were applied.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..io.atomic import atomic_write_image
from ..io.cards import fits_text
from ..io.cfa import set_cfa_cards
from ..runtime.pipeline import StepState
from .cards import MISSING_CARD, RAW_SATURATION_CARD, missing_from_header
from .levels import LowestLevels, ScaledDark, calibrated_saturation, remove_instrument
from .masks import (
    MaskBits,
    WarmPixels,
    bad_pixels_from_masters,
    cosmic_rays,
    cosmic_rays_by_channel,
    grow_saturated,
    pixel_noise,
)
from .masters import CalibrationError, MasterFrame, check_compatible
from .pairing import CalibrationMasters
from .params import CalibrationParams
from .raw import RawFrame

__all__ = [
    "CalibrationParams",
    "CalibrationMasters",
    "CalibratedFrame",
    "Calibration",
    "calibrated_hdulist",
    "write_calibrated_product",
    "MISSING_CARD",
    "missing_from_header",
    "RAW_SATURATION_CARD",
    "calibrated_saturation",
]

log = logging.getLogger(__name__)

# Cards of the header profiles that give a raw saturation level.
RAW_SATURATION = ("SATURATE", "SATLEVEL", "MAXLIN", "SATURATN")


@dataclass(frozen=True)
class CalibratedFrame:
    """A calibrated light.

    Attributes
    ----------
    name : str
        The raw file's base name.
    data : ndarray
        float32, ADU (overscan, bias, dark removed; flat-fielded).
    mask : ndarray
        uint8 :class:`MaskBits`.
    header : astropy.io.fits.Header
        The raw header plus cards saying what was done.
    applied : tuple of str
        Steps applied, among 'overscan', 'bias', 'dark', 'flat', 'cosmic rays'.
    warnings : tuple of str
    saturation : float or None
        ADU: every pixel that saturated in the raw frame is at or above this
        level here (also the header's ``SATURATE``); None when unknown.
    missing : dict of str to str
        Steps the parameters asked for but no master allowed ('bias', 'dark',
        'flat'), each with the reason (see :meth:`CalibrationMasters.select`).
    """

    name: str
    data: np.ndarray = field(repr=False)
    mask: np.ndarray = field(repr=False)
    header: fits.Header = field(repr=False)
    applied: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    saturation: float | None = None
    missing: dict[str, str] = field(default_factory=dict)

    def to_hdulist(self) -> fits.HDUList:
        """Primary HDU with the image, ``MASK`` image extension with the mask."""
        return calibrated_hdulist(self.data, self.mask, self.header)


def _mask_extensions(mask: np.ndarray | None) -> list[fits.ImageHDU]:
    """The calibrated product's extensions: its ``MASK`` (when any)."""
    if mask is None:
        return []
    ext = fits.ImageHDU(mask, name="MASK")
    ext.header["COMMENT"] = "bits: 1 saturated, 2 hot, 4 cold, 8 cosmic ray, 16 NaN"
    return [ext]


def calibrated_hdulist(
    data: np.ndarray, mask: np.ndarray | None, header: fits.Header
) -> fits.HDUList:
    """A calibrated light as its product holds it: the image, then its ``MASK`` (when any)."""
    return fits.HDUList([fits.PrimaryHDU(data, header=header), *_mask_extensions(mask)])


def write_calibrated_product(
    path: str | os.PathLike[str], data: np.ndarray, mask: np.ndarray | None, header: fits.Header
) -> Path:
    """Write :func:`calibrated_hdulist`'s file atomically (``header`` not copied)."""
    return atomic_write_image(path, data, header, _mask_extensions(mask))


class Calibration:
    """Calibrate light frames with a set of masters.

    Parameters
    ----------
    params : CalibrationParams, optional
    masters : CalibrationMasters, optional
        Missing masters skip their step.
    """

    def __init__(
        self, params: CalibrationParams | None = None, masters: CalibrationMasters | None = None
    ) -> None:
        self.params = params if params is not None else CalibrationParams()
        self.masters = masters if masters is not None else CalibrationMasters()
        self._bad_pixels: dict[int, np.ndarray] = {}
        # Each master dark's candidate hot pixels (with the dark, so that its id stays its own).
        self._warm: dict[int, tuple[MasterFrame, WarmPixels]] = {}
        # The lowest calibrated saturation levels of each set of terms (see LowestLevels).
        self._lowest: dict[tuple, LowestLevels] = {}

    def bad_pixels(
        self, dark: MasterFrame | None, flat: MasterFrame | None, hot_floor: float = 0.0
    ) -> np.ndarray | None:
        """Hot/cold mask of a dark and flat pair; ``hot_floor`` as for
        :func:`bad_pixels_from_masters` (the cold pixels are computed once, then cached)."""
        ref = dark if dark is not None else flat
        if ref is None:
            return None
        p = self.params
        key = id(flat)
        if flat is not None and key not in self._bad_pixels:
            self._bad_pixels[key] = bad_pixels_from_masters(None, flat.data, cold_flat=p.cold_flat)
        mask = np.zeros(ref.data.shape, np.uint8)
        if flat is not None:
            mask |= self._bad_pixels[key]
        if dark is not None:
            warm = self._warm.get(id(dark))
            if warm is None or warm[0] is not dark:
                warm = self._warm[id(dark)] = (dark, WarmPixels(dark.data, p.hot_sigma))
            mask.ravel()[warm[1].hot(hot_floor)] |= np.uint8(MaskBits.HOT)
        return mask

    def __call__(self, frame: RawFrame, *, state: StepState | None = None) -> CalibratedFrame:
        """Calibrate one light.

        Raises
        ------
        CalibrationError
            The frame does not fit the masters (shape, binning) or has no valid pixel.
        """
        p, m = self.params, self.masters
        state = state if state is not None else StepState()
        state.progress(0.0, f"calibrating {frame.name}")
        raw = frame.read()
        overscan = frame.overscan() if p.subtract_overscan else None
        applied: list[str] = []
        warnings: list[str] = []
        if not np.isfinite(raw).any():
            raise CalibrationError(f"{frame.name}: no valid pixel (all NaN)")
        level = self._saturation_level(frame, raw)
        clipped = raw >= level  # the clipped pixels themselves, before growing
        saturated = grow_saturated(clipped.copy())  # saturation_mask(raw, level)
        # The terms calibration removes (overscan per row, bias and scaled dark
        # maps, flat), gathered first and then applied by remove_instrument,
        # to the pixels here and to the raw saturation level below.
        overscan_rows = bias = dark_term = flat_data = None
        if overscan is not None and overscan.active:
            r0, r1 = overscan.row_range(raw.shape[0])
            overscan_rows = overscan.row_levels(raw[r0:r1], r0)
            data = np.array(overscan.trim(raw), dtype=np.float32, order="C")
            saturated = overscan.trim(saturated)
            clipped = overscan.trim(clipped)
            applied.append("overscan")
        else:
            data = raw
        shape = data.shape
        what = f"light {frame.name}"
        # The masters of this frame's binning, shape, exposure and filter; a
        # step asked for without one is said, with the reason, in ``missing``.
        choice = m.select(frame.binning, shape, frame.exptime, frame.filter)
        asked = {"bias": p.subtract_bias, "dark": p.subtract_dark, "flat": p.divide_flat}
        missing = {k: why for k, why in choice.missing.items() if asked[k]}
        if p.subtract_bias and choice.bias is not None:
            check_compatible(choice.bias, shape, frame.binning, what)
            bias = choice.bias.data
            applied.append("bias")
        dark = choice.dark if p.subtract_dark else None
        if dark is not None:
            check_compatible(dark, shape, frame.binning, what)
            if frame.exptime is None:
                warnings.append("light has no exposure time; dark not scaled")
                ratio = 1.0
            elif not dark.exptime or dark.exptime <= 0:
                warnings.append("master dark has no exposure time; dark not scaled")
                ratio = 1.0
            else:
                ratio = frame.exptime / dark.exptime
            dark_term = ScaledDark(dark.data, ratio)
            applied.append("dark")
        flat = choice.flat if p.divide_flat else None
        if flat is not None:
            warnings.extend(choice.warnings)
            check_compatible(flat, shape, frame.binning, what)
            flat_data = flat.data
            applied.append("flat")
        remove_instrument(data, overscan_rows, bias, dark_term, flat_data)
        state.progress(0.4, "mask")
        mask = np.where(saturated, np.uint8(MaskBits.SATURATED), np.uint8(0))
        hot_floor = 0.0
        if dark is not None and p.hot_sky > 0:
            # The light's own noise says which warm pixels matter (CalibrationParams.hot_sky);
            # the floor is in the master dark's units, at the dark's exposure.
            noise = pixel_noise(data)
            if np.isfinite(noise) and ratio > 0:
                hot_floor = p.hot_sky * noise / ratio
        bad = self.bad_pixels(dark, flat, hot_floor)
        if bad is not None:
            mask |= bad
        nan = ~np.isfinite(data)
        mask[nan] |= np.uint8(MaskBits.NAN)
        if p.find_cosmic_rays:
            state.progress(0.5, "cosmic rays")
            gain = frame.gain or 1.0
            rn = frame.read_noise if frame.read_noise is not None else 5.0
            # Saturation in the calibrated frame's electrons: the faintest pixel that
            # clipped in the raw frame (bias, dark and flat moved the raw level).
            sat_e = float(np.min(data[clipped])) * gain if clipped.any() else np.inf
            pattern = frame.trimmed_cfa()
            search = (
                cosmic_rays
                if pattern is None
                else functools.partial(cosmic_rays_by_channel, pattern=pattern)
            )
            hits = search(
                data,
                gain=gain,
                read_noise=rn,
                saturation=sat_e,
                sigma_clip=p.cosmic_sigma,
                sigma_frac=p.cosmic_neighbour_fraction,
                object_limit=p.cosmic_object_limit,
                iterations=p.cosmic_iterations,
                ignore=mask != 0,
            )
            mask[hits] |= np.uint8(MaskBits.COSMIC_RAY)
            applied.append("cosmic rays")
        for w in warnings:
            log.warning("%s: %s", frame.name, w)
        saturation = self._calibrated_saturation(
            level, overscan_rows, bias, dark_term, flat_data, mask
        )
        header = self._header(frame, applied, warnings, dark, flat, mask, level, saturation)
        for step, why in missing.items():
            header.add_history(f"no {step}: {why}")
        if missing:
            # Whole, for a program to read back (HISTORY wraps at 72 characters);
            # no comment, which a value of 50-68 characters would not leave room for.
            header[MISSING_CARD] = json.dumps(missing)
        state.progress(1.0, f"calibrated {frame.name}")
        return CalibratedFrame(
            frame.name, data, mask, header, tuple(applied), tuple(warnings), saturation, missing
        )

    def _calibrated_saturation(
        self,
        raw_level: float,
        overscan_rows: np.ndarray | None,
        bias: np.ndarray | None,
        dark_term: ScaledDark | None,
        flat: np.ndarray | None,
        mask: np.ndarray,
    ) -> float | None:
        """:func:`calibrated_saturation`, from the night's lowest levels when its terms are fixed.

        Without an overscan the levels depend on the masters and the dark's
        scale only, the same for every light of a night: they are computed
        once and each light looks for its lowest usable one among them.
        """
        if overscan_rows is not None or not np.isfinite(raw_level):
            return calibrated_saturation(raw_level, overscan_rows, bias, dark_term, flat, mask)
        dark = None if dark_term is None else dark_term.dark
        ratio = None if dark_term is None else float(dark_term.ratio)
        # The arrays are the masters' own (held by self.masters): their ids stay theirs.
        key = (float(raw_level), id(bias), id(dark), ratio, id(flat), mask.shape)
        lowest = self._lowest.get(key)
        if lowest is None:
            lowest = LowestLevels.of(raw_level, bias, dark_term, flat, mask.shape)
            if len(self._lowest) >= 8:
                self._lowest.clear()
            self._lowest[key] = lowest
        level = lowest.first_usable(mask)
        if level is None:  # every one of the lowest masked: the whole frame's minimum
            return calibrated_saturation(raw_level, overscan_rows, bias, dark_term, flat, mask)
        return level

    def _saturation_level(self, frame: RawFrame, raw: np.ndarray) -> float:
        if self.params.saturation > 0:
            return self.params.saturation
        if frame.saturation:
            return float(frame.saturation)
        # Without a header value, a 16-bit ADC clips at its largest code.
        return 65535.0 if float(np.nanmax(raw)) <= 65535.0 else np.inf

    def _header(
        self, frame, applied, warnings, dark, flat, mask, raw_level, saturation
    ) -> fits.Header:
        h = fits.Header() if frame.header is None else frame.header.copy()
        # The raw saturation cards no longer describe these pixels.
        for key in ("BZERO", "BSCALE", "BLANK", "BIASSEC", "TRIMSEC", "DATASEC", *RAW_SATURATION):
            h.remove(key, ignore_missing=True, remove_all=True)
        h["BUNIT"] = ("adu", "calibrated, flat-fielded ADU")
        # The pattern of these pixels (trimmed, or set by the user), said so that
        # any reader of the header finds it whatever the raw file's cards were.
        set_cfa_cards(h, frame.trimmed_cfa(), mask.shape[0])
        h["CALSTEPS"] = (",".join(applied) or "none", "calibration steps applied")
        if dark is not None:
            h["DARKEXP"] = (dark.exptime, "[s] exposure of the master dark used")
        if flat is not None:
            h["FLATFILT"] = (str(flat.filter), "filter of the master flat used")
        h["NMASKED"] = (int(np.count_nonzero(mask)), "pixels flagged in the MASK extension")
        if saturation is not None:
            h["SATURATE"] = (saturation, "[adu] lowest level a saturated pixel has here")
        if np.isfinite(raw_level):
            h[RAW_SATURATION_CARD] = (float(raw_level), "[adu] raw saturation level")
        h.add_history(
            f"Fluxion calibration of {fits_text(frame.name)}: {', '.join(applied) or 'nothing'}"
        )
        for w in warnings:
            h.add_history(f"warning: {w}")
        return h
