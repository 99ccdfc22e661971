"""Normalised header facts: one dataclass whatever software wrote the FITS file.

:func:`normalise_header` picks the instrument profile matching the header
(:mod:`fluxion.core.io.profiles`), reads each fact from the profile's cards in
order, applies the profile's conventions (longitude sign, RA hours or degrees,
exposure units), and records for every fact where it came from: the card name,
``'default'``, or ``'guessed from X'``, so the GUI can show which facts are
guesses. Problems (missing time, unparsable card) are collected as one-line
strings instead of raised: one odd card never stops a night's scan.

Numeric values stored as strings (``EXPTIME = '53.9'``) are coerced.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import astropy.units as u
import numpy as np
from astropy.coordinates import Angle, EarthLocation
from astropy.io import fits
from astropy.time import Time

from .cameras import match_camera, read_gain
from .cards import clean_header
from .cfa import read_cfa
from .fitsio import read_wcs
from .obstime import mid_exposure_time
from .pixscale import ARCSEC_PER_RADIAN, ScaleHint, pixel_scale_hint
from .profiles import Profile, match_profile

__all__ = ["HeaderFacts", "normalise_header", "pixel_scale_arcsec", "IMAGE_TYPES"]

IMAGE_TYPES = ("bias", "dark", "flat", "light", "unknown")

# Seconds: no exposure lasts longer than a few days (a night's drift scan, a
# long dark); a longer card is a writer's mistake.
_LONGEST_EXPOSURE_S = 1e6

_SEXAGESIMAL = re.compile(r"\d[\s:hdm°]+\d")
# Words naming a frame type in a file or folder name (singular or plural:
# capture programs write LIGHT/ or Lights/, observatories zero/ and flats/).
_FILE_TYPE_WORDS = (
    (re.compile(r"(^|[^a-z])(bias|biases|zeros?)([^a-z]|$)"), "bias"),
    (re.compile(r"(^|[^a-z])darks?([^a-z]|$)"), "dark"),
    (re.compile(r"(^|[^a-z])(flats?|skyflats?|domeflats?)([^a-z]|$)"), "flat"),
    (re.compile(r"(^|[^a-z])(lights?|objects?|sci|science)([^a-z]|$)"), "light"),
)


@dataclass(frozen=True)
class HeaderFacts:
    """The facts Fluxion needs from a header, in fixed units.

    Attributes
    ----------
    profile : str
        Name of the profile used.
    time : astropy.time.Time or None
        Mid-exposure time, UTC.
    time_precision : float or None
        Seconds: one unit of the last digit of the card the time came from
        (``sources['time']`` names it).
    exptime : float or None
        Exposure time in seconds.
    filter, object : str or None
        Filter name and target name as written.
    image_type : str
        One of bias, dark, flat, light, unknown.
    gain, read_noise : float or None
        e-/ADU of the file's values and e-. A GAIN card that is a camera's gain
        setting (ZWO, QHY...) or not plausible as e-/ADU is never taken as the
        gain: ``sources['gain']`` says where the gain came from or why there is none.
    gain_setting : float or None
        The camera's gain setting when the header writes one (ZWO GAIN = 80).
    saturation : float or None
        ADU level where pixels stop being linear or clip.
    binning : tuple of int
        (x, y) on-chip binning.
    ra, dec : float or None
        Pointing in degrees (ICRS/J2000 as written).
    site : tuple of float or None
        (longitude east-positive deg, latitude deg, height m).
    airmass, focal_length_mm, pixel_size_um : float or None
        As written (pixel size after binning where the writer says so).
    aperture_mm : float or None
        The telescope's aperture diameter (MaxIm DL's ``APTDIA``, else the
        diameter of a circle of ``APTAREA``, the clear area); for scintillation.
    pixel_scale : ScaleHint or None
        arcsec per stored pixel from the WCS, a plate-scale card (times the
        binning when it counts unbinned pixels) or the optics; its ``source``
        is also ``sources['pixel_scale']``.
    cfa : str or None
        Bayer pattern of the stored pixels of a one-shot-colour frame
        (:func:`fluxion.core.io.cfa.read_cfa`; ``sources['cfa']`` says from what).
    sources : Mapping[str, str]
        Fact name to its origin: card name, ``'default'`` or ``'guessed from X'``.
    problems : tuple of str
        One-line descriptions of what could not be read.
    """

    profile: str
    time: Time | None = None
    time_precision: float | None = None
    exptime: float | None = None
    filter: str | None = None
    object: str | None = None
    image_type: str = "unknown"
    gain: float | None = None
    gain_setting: float | None = None
    read_noise: float | None = None
    saturation: float | None = None
    binning: tuple[int, int] = (1, 1)
    ra: float | None = None
    dec: float | None = None
    site: tuple[float, float, float] | None = None
    airmass: float | None = None
    focal_length_mm: float | None = None
    pixel_size_um: float | None = None
    pixel_scale: ScaleHint | None = None
    cfa: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    aperture_mm: float | None = None

    def is_guess(self, fact: str) -> bool:
        """True when ``fact`` came from a default or a guess, not from a card."""
        src = self.sources.get(fact, "")
        return src == "default" or src.startswith("guessed")


def pixel_scale_arcsec(focal_length_mm: float | None, pixel_size_um: float | None) -> float | None:
    """Pixel scale in arcsec/px from focal length and pixel size, or None."""
    if not focal_length_mm or not pixel_size_um or focal_length_mm <= 0 or pixel_size_um <= 0:
        return None
    return ARCSEC_PER_RADIAN * pixel_size_um * 1e-3 / focal_length_mm


class _Reader:
    """Reads facts from one header, collecting sources and problems."""

    def __init__(self, header: fits.Header, profile: Profile) -> None:
        self.h = header
        self.p = profile
        self.sources: dict[str, str] = {}
        self.problems: list[str] = []

    # -- primitives -----------------------------------------------------------
    def cards(self, fact: str) -> Sequence[Any]:
        return self.p.cards.get(fact, ())

    def present(self, key: str) -> bool:
        if key not in self.h:
            return False
        v = self.h[key]
        return v is not None and not (isinstance(v, str) and not v.strip())

    def number(self, key: str) -> float | None:
        """The card as a float; a problem is recorded when it is not a number."""
        v = self.h[key]
        if isinstance(v, bool):
            self.problems.append(f"{key}={v!r} is not a number")
            return None
        if isinstance(v, int | float):
            f = float(v)
        else:
            try:
                f = float(str(v).strip().replace("D", "E"))
            except ValueError:
                self.problems.append(f"{key}={v!r} is not a number")
                return None
        if not np.isfinite(f):
            self.problems.append(f"{key}={v!r} is not a finite number")
            return None
        return f

    def first_number(self, fact: str, positive: bool = False) -> float | None:
        for key in self.cards(fact):
            if not self.present(key):
                continue
            f = self.number(key)
            if f is None:
                continue
            if positive and f <= 0:
                self.problems.append(f"{key}={self.h[key]!r} is not a valid {fact}; ignored")
                continue
            self.sources[fact] = key
            return f
        return None

    def first_text(self, fact: str) -> str | None:
        for key in self.cards(fact):
            if self.present(key):
                self.sources[fact] = key
                return str(self.h[key]).strip()
        return None

    # -- facts ----------------------------------------------------------------
    def exptime(self) -> float | None:
        t = self.first_number("exptime")
        if t is None:
            self.problems.append("no exposure time in the header")
            return None
        if t < 0:
            self.problems.append(f"{self.sources['exptime']}={t} is negative; ignored")
            del self.sources["exptime"]
            return None
        unit = {"s": 1.0, "min": 60.0, "ms": 1e-3}[self.p.convention("exptime_unit") or "s"]
        if t * unit > _LONGEST_EXPOSURE_S:
            # 1e30 s would put mid-exposure beyond any calendar (ERFA refuses it).
            self.problems.append(
                f"{self.sources['exptime']}={t:g} is not a plausible exposure time; ignored"
            )
            del self.sources["exptime"]
            return None
        scale = {"s": 1.0, "min": 60.0, "ms": 1e-3}[self.p.convention("exptime_unit") or "s"]
        if scale != 1.0:
            self.sources["exptime"] += f" ({self.p.convention('exptime_unit')})"
        return t * scale

    def image_type(
        self, exptime: float | None, file_name: str | None, folder_name: str | None = None
    ) -> str:
        value = self.first_text("image_type")
        if value is not None:
            low = value.lower()
            for pattern, kind in self.p.image_types:
                if re.search(pattern, low):
                    return kind
            self.problems.append(
                f"{self.sources['image_type']}={value!r} is not a known image type"
            )
            return "unknown"
        # The file's own name first, then its folder's (a night sorted into
        # zero/, dark/, flat/ by a program that writes no image-type card).
        for name, where in ((file_name, "file name"), (folder_name, "folder name")):
            low = (name or "").lower()
            for words, kind in _FILE_TYPE_WORDS:
                if low and words.search(low):
                    self.sources["image_type"] = f"guessed from {where}"
                    return kind
        if exptime == 0:
            self.sources["image_type"] = "guessed from exposure time 0"
            return "bias"
        self.sources["image_type"] = "guessed (no image-type card)"
        return "light"

    def binning(self) -> tuple[int, int]:
        for spec in self.cards("binning"):
            keys = [spec] if isinstance(spec, str) else list(spec)
            if not self.present(keys[0]):
                continue
            if len(keys) == 2:
                bx = self.number(keys[0])
                by = self.number(keys[1]) if self.present(keys[1]) else bx
                src = "/".join(k for k in keys if self.present(k))
            else:
                # CCDSUM '2 2', BINNING '2x2' or BINNING = 2
                parts = re.split(r"[\sx,*]+", str(self.h[keys[0]]).strip().lower())
                try:
                    nums = [float(p) for p in parts if p]
                except ValueError:
                    self.problems.append(f"{keys[0]}={self.h[keys[0]]!r} is not a binning")
                    continue
                if not nums:
                    continue
                bx, by = nums[0], nums[1] if len(nums) > 1 else nums[0]
                src = keys[0]
            if bx is None or by is None or bx < 1 or by < 1:
                continue
            self.sources["binning"] = src
            return int(round(bx)), int(round(by))
        self.sources["binning"] = "default"
        b = self.p.defaults.get("binning", [1, 1])
        return int(b[0]), int(b[1])

    def _ra_degrees(self, key: str) -> float | None:
        v = self.h[key]
        comment = str(self.h.comments[key]).lower()
        unit_rule = self.p.convention("ra_numeric_unit")
        if isinstance(v, str) and _SEXAGESIMAL.search(v):
            # Sexagesimal RA is hours everywhere we know of.
            try:
                return float(Angle(v.strip(), unit=u.hourangle).deg)
            except (ValueError, u.UnitsError):
                self.problems.append(f"{key}={v!r} is not a right ascension")
                return None
        f = self.number(key)
        if f is None:
            return None
        in_hours = unit_rule == "hour" or (
            unit_rule == "auto" and ("hour" in comment or "[h]" in comment)
        )
        if in_hours:
            self.sources["ra_unit"] = "hours" if unit_rule == "hour" else f"hours ({key} comment)"
            return f * 15.0
        return f

    def _dec_degrees(self, key: str) -> float | None:
        v = self.h[key]
        if isinstance(v, str) and _SEXAGESIMAL.search(v):
            try:
                return float(Angle(v.strip(), unit=u.deg).deg)
            except (ValueError, u.UnitsError):
                self.problems.append(f"{key}={v!r} is not a declination")
                return None
        return self.number(key)

    def pointing(self) -> tuple[float | None, float | None]:
        for ra_key, dec_key in self.cards("pointing"):
            if not (self.present(ra_key) and self.present(dec_key)):
                continue
            ra, dec = self._ra_degrees(ra_key), self._dec_degrees(dec_key)
            if ra is None or dec is None:
                continue
            if not (0 <= ra < 360 and -90 <= dec <= 90):
                self.problems.append(
                    f"{ra_key}/{dec_key} give RA={ra:.4f} Dec={dec:.4f}, out of range; ignored"
                )
                continue
            self.sources["ra"], self.sources["dec"] = ra_key, dec_key
            return ra, dec
        wcs = read_wcs(self.h)
        if wcs is not None:
            ny = int(self.h.get("NAXIS2", 0) or 0)
            nx = int(self.h.get("NAXIS1", 0) or 0)
            try:
                sky = wcs.pixel_to_world((nx - 1) / 2.0, (ny - 1) / 2.0).icrs
            except Exception:  # noqa: BLE001 - galactic WCS etc. may not convert
                sky = None
            if sky is not None and np.isfinite(sky.ra.deg):
                self.sources["ra"] = self.sources["dec"] = "guessed from WCS image centre"
                return float(sky.ra.deg), float(sky.dec.deg)
        return None, None

    def _angle(self, key: str) -> float | None:
        v = self.h[key]
        if isinstance(v, str) and _SEXAGESIMAL.search(v):
            try:
                return float(Angle(v.strip(), unit=u.deg).deg)
            except (ValueError, u.UnitsError):
                self.problems.append(f"{key}={v!r} is not an angle")
                return None
        return self.number(key)

    def _east_positive(self, key: str) -> tuple[bool, str]:
        rule = self.p.convention("longitude_positive")
        if rule != "auto":
            return rule == "east", f"{rule} positive ({self.p.name} profile)"
        comment = str(self.h.comments[key]).lower()
        if "west" in comment:
            return False, f"west positive ({key} comment)"
        return True, "east positive"

    def site(self) -> tuple[float, float, float] | None:
        for lon_key, lat_key, _ in self.cards("site"):
            if not (self.present(lon_key) and self.present(lat_key)):
                continue
            lon, lat = self._angle(lon_key), self._angle(lat_key)
            if lon is None or lat is None or not -90 <= lat <= 90:
                continue
            east, rule = self._east_positive(lon_key)
            lon = lon if east else -lon
            lon = (lon + 180.0) % 360.0 - 180.0
            height = 0.0
            self.sources["site"] = f"{lon_key}/{lat_key}, longitude {rule}"
            h = self.first_number("site_height")
            if h is not None:
                height = h
                self.sources["site"] += f", {self.sources.pop('site_height')}"
            else:
                self.sources["site"] += ", height default 0 m"
            return lon, lat, height
        if all(self.present(k) for k in ("OBSGEO-X", "OBSGEO-Y", "OBSGEO-Z")):
            xyz = [self.number(k) for k in ("OBSGEO-X", "OBSGEO-Y", "OBSGEO-Z")]
            if all(c is not None for c in xyz):
                loc = EarthLocation.from_geocentric(*xyz, unit=u.m)
                self.sources["site"] = "OBSGEO-X/Y/Z"
                return float(loc.lon.deg), float(loc.lat.deg), float(loc.height.to_value(u.m))
        return None

    def aperture_mm(self) -> float | None:
        d = self.first_number("aperture_mm", positive=True)
        if d is not None:
            return d
        area = self.first_number("aperture_area_mm2", positive=True)
        if area is None:
            return None
        self.sources["aperture_mm"] = f"{self.sources.pop('aperture_area_mm2')} (a circle's area)"
        return 2.0 * math.sqrt(area / math.pi)

    def saturation(self) -> float | None:
        s = self.first_number("saturation", positive=True)
        if s is not None:
            return s
        bitpix = self.h.get("BITPIX")
        bzero = self.h.get("BZERO", 0)
        bscale = self.h.get("BSCALE", 1)
        if bitpix == 16 and bscale == 1 and bzero == 32768:
            self.sources["saturation"] = "guessed from BITPIX=16, BZERO=32768"
            return 65535.0
        if bitpix == 16 and bscale == 1 and not bzero:
            self.sources["saturation"] = "guessed from BITPIX=16"
            return 32767.0
        return None


def normalise_header(
    header: fits.Header,
    profile: Profile | None = None,
    *,
    file_name: str | None = None,
    folder_name: str | None = None,
    profiles: Sequence[Profile] | None = None,
) -> HeaderFacts:
    """Read the normalised facts of a header.

    Parameters
    ----------
    header : astropy.io.fits.Header
        An image header.
    profile : Profile, optional
        Force a profile; by default the best match among ``profiles``.
    file_name, folder_name : str, optional
        The file's name and its folder's, used only to guess the image type
        when no card gives it (the file's name first).
    profiles : sequence of Profile, optional
        Candidate profiles; the built-in ones by default.

    Returns
    -------
    HeaderFacts
    """
    # Cards astropy cannot parse would raise wherever a fact is read; they are
    # repaired once here (headers read through fitsio already are) and said.
    header = clean_header(header)
    prof = profile if profile is not None else match_profile(header, profiles)
    r = _Reader(header, prof)
    r.problems.extend(header.repairs)
    exptime = r.exptime()
    image_type = r.image_type(exptime, file_name, folder_name)
    t = mid_exposure_time(
        header,
        r.cards("time"),
        exptime,
        r.sources.get("exptime"),
        prof.convention("time_scale"),
    )
    if t.time is not None:
        r.sources["time"] = t.source
    r.problems.extend(t.problems)
    ra, dec = r.pointing()
    binning = r.binning()
    camera = match_camera(header)
    gain = read_gain(header, r.cards("gain"), camera)
    if gain.source is not None:
        r.sources["gain"] = gain.source
    r.problems.extend(gain.problems)
    cfa = read_cfa(
        header,
        camera_pattern=None if camera is None else camera.bayer_pattern(header),
        camera_name=None if camera is None else camera.name,
    )
    if cfa.source is not None:
        r.sources["cfa"] = cfa.source
    r.problems.extend(cfa.problems)
    scale = pixel_scale_hint(
        header,
        binning[0],
        plate_scale_convention=prof.convention("plate_scale"),
        pixel_size_convention=prof.convention("pixel_size"),
    )
    if scale is not None:
        r.sources["pixel_scale"] = scale.source
    facts = HeaderFacts(
        profile=prof.name,
        time=t.time,
        time_precision=t.precision_s,
        exptime=exptime,
        filter=r.first_text("filter"),
        object=r.first_text("object"),
        image_type=image_type,
        gain=gain.gain,
        gain_setting=gain.setting,
        read_noise=r.first_number("read_noise", positive=True),
        saturation=r.saturation(),
        binning=binning,
        ra=ra,
        dec=dec,
        site=r.site(),
        airmass=r.first_number("airmass", positive=True),
        focal_length_mm=r.first_number("focal_length_mm", positive=True),
        pixel_size_um=r.first_number("pixel_size_um", positive=True),
        aperture_mm=r.aperture_mm(),
        pixel_scale=scale,
        cfa=cfa.pattern,
        sources=MappingProxyType(dict(r.sources)),
        problems=tuple(dict.fromkeys(r.problems)),
    )
    return facts
