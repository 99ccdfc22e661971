"""One frame of a sequence: its file, HDU and normalised header facts.

:func:`frame_info` reads a file's header (never its pixels, except for a small
strided sample of uncompressed floating-point images to spot an all-NaN frame)
and returns a :class:`FrameInfo`. It never raises for bad input: a non-FITS,
truncated, empty or 3-D file gives a FrameInfo of type ``'unknown'`` whose
``problems`` say why in one line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.time import Time

from ..runtime.quiet import quiet
from .digest import DigestTaken, digest_through
from .fitscheck import short_file_problem
from .fitsio import FitsReadError, count_images, open_image
from .headers import HeaderFacts, normalise_header
from .obstime import format_precision, quiet_erfa
from .pixscale import ScaleHint

__all__ = ["CFA_CHOICES", "FrameInfo", "choose_cfa", "frame_info", "frame_table_meta", "with_cfa"]

log = logging.getLogger(__name__)

# Pixels read (at most) to tell whether an uncompressed float image is all NaN.
_NAN_SAMPLE = 64


@dataclass(frozen=True)
class FrameInfo:
    """A frame's file and its normalised header facts (no pixels).

    Attributes
    ----------
    path : pathlib.Path
        The file.
    hdu : int
        Index of the image HDU (-1 when the file is unusable).
    type : str
        bias, dark, flat, light or unknown.
    object, filter : str or None
        As written in the header.
    exptime : float or None
        Seconds.
    time : astropy.time.Time or None
        Mid-exposure, UTC.
    time_precision : float or None
        Seconds: precision of the card the time came from (``sources['time']``).
    binning : tuple of int
        (x, y).
    gain, read_noise, saturation : float or None
        e-/ADU, e-, ADU.
    gain_setting : float or None
        The camera's gain setting when the header writes one (ZWO GAIN = 80).
    ra, dec : float or None
        Pointing in degrees.
    airmass : float or None
    site : tuple of float or None
        (longitude east-positive deg, latitude deg, height m).
    focal_length_mm, pixel_size_um : float or None
    aperture_mm : float or None
        The telescope's aperture diameter from the header (APTDIA, APTAREA).
    pixel_scale : ScaleHint or None
        arcsec per stored pixel from the header, with its tolerance and source.
    shape : tuple of int or None
        (ny, nx) of the image.
    cfa : str or None
        Bayer pattern of the stored pixels of a one-shot-colour frame
        ('RGGB', 'GRBG', ...; ``sources['cfa']`` says from what), None for a
        monochrome one. :func:`with_cfa` sets it by hand.
    problems : tuple of str
        One line each.
    sources : Mapping[str, str]
        Fact name to card name, ``'default'`` or ``'guessed from X'``.
    profile : str
        Header profile used.
    product : str
        ``'master'`` or ``'calibrated'`` when the file is a product Fluxion
        wrote (its header says so), else ``''``.
    sections : Mapping[str, Any] or None
        The header's BIASSEC, TRIMSEC and DATASEC cards, as written: with
        ``shape``, all that combining a calibration frame into a master needs
        of its header, so that it is not read again. None when not scanned.
    digest : (tuple, str) or None
        The file's content digest (:mod:`fluxion.core.io.digest`) taken
        through the scan's open, with the file facts it holds for; not
        compared. None for a raw, compressed or unusable file.
    """

    path: Path
    hdu: int = -1
    type: str = "unknown"
    object: str | None = None
    filter: str | None = None
    exptime: float | None = None
    time: Time | None = None
    time_precision: float | None = None
    binning: tuple[int, int] = (1, 1)
    gain: float | None = None
    gain_setting: float | None = None
    read_noise: float | None = None
    saturation: float | None = None
    ra: float | None = None
    dec: float | None = None
    airmass: float | None = None
    site: tuple[float, float, float] | None = None
    focal_length_mm: float | None = None
    pixel_size_um: float | None = None
    aperture_mm: float | None = None
    pixel_scale: ScaleHint | None = None
    shape: tuple[int, int] | None = None
    cfa: str | None = None
    problems: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    profile: str = ""
    product: str = ""
    sections: Mapping[str, Any] | None = None
    # The fingerprint of the frame uses it while the file is unchanged
    # instead of reading the file again (in a worker process too).
    digest: DigestTaken | None = field(default=None, compare=False, repr=False)

    @property
    def usable(self) -> bool:
        """True when the frame has a readable 2-D image."""
        return self.hdu >= 0 and self.shape is not None and self.type != "unknown"

    def is_guess(self, fact: str) -> bool:
        """True when ``fact`` came from a default or a guess, not from a card."""
        src = self.sources.get(fact, "")
        return src == "default" or src.startswith("guessed")

    @property
    def jd(self) -> float | None:
        """Mid-exposure Julian date (UTC), or None."""
        if self.time is None:
            return None
        with quiet_erfa():
            return float(self.time.utc.jd)

    @property
    def time_origin(self) -> str | None:
        """The cards the time came from and their precision ("DATE-OBS + EXPTIME/2, 1 ms")."""
        if self.time is None:
            return None
        return f"{self.sources.get('time', '?')}, {format_precision(self.time_precision)}"

    @property
    def time_utc(self) -> str | None:
        """Mid-exposure time as ISO text (UTC), or None."""
        if self.time is None:
            return None
        with quiet_erfa():
            return str(self.time.utc.isot)

    def to_json_dict(self) -> dict[str, Any]:
        """Plain JSON-ready summary (the ``fluxion scan --json`` row).

        Keys: file, type, object, filter, exptime, time_utc (ISO, mid-exposure),
        jd (mid), time_source (the cards it came from), time_precision_s,
        binning [bx, by], gain, gain_source, ra, dec (deg), pixel_scale (arcsec/px),
        pixel_scale_source, shape [ny, nx], bayer_pattern (of the stored pixels, null
        for monochrome), bayer_pattern_source, problems.
        """
        return {
            "file": str(self.path),
            "type": self.type,
            "object": self.object,
            "filter": self.filter,
            "exptime": self.exptime,
            "time_utc": self.time_utc,
            "jd": self.jd,
            "time_source": self.sources.get("time"),
            "time_precision_s": self.time_precision,
            "binning": list(self.binning),
            "gain": self.gain,
            "gain_source": self.sources.get("gain"),
            "ra": self.ra,
            "dec": self.dec,
            "pixel_scale": None if self.pixel_scale is None else self.pixel_scale.arcsec_per_px,
            "pixel_scale_source": None if self.pixel_scale is None else self.pixel_scale.source,
            "shape": None if self.shape is None else list(self.shape),
            "bayer_pattern": self.cfa,
            "bayer_pattern_source": self.sources.get("cfa"),
            "problems": list(self.problems),
        }


def frame_table_meta(
    path: str | os.PathLike[str], facts: FrameInfo | HeaderFacts
) -> dict[str, Any]:
    """The frame's facts a product table (sources, photometry) carries in its meta.

    So that a later step run on the table alone (``fluxion zeropoint`` on a
    photometry table) knows the filter, the time and the rest without the
    frame: ``frame`` (base name), ``file`` (absolute path), ``FILTER``,
    ``OBJECT``, ``exptime`` (s), ``time_utc`` and ``jd_utc`` (mid-exposure,
    UTC, ISO and JD), ``airmass`` and ``gain`` (e-/ADU) as the header gives
    them, and ``bayer_pattern`` for a colour frame. Facts the header does not
    give are left out, never guessed here.

    Parameters
    ----------
    path : path-like
        The frame's file.
    facts : FrameInfo or HeaderFacts
        Its normalised header facts.
    """
    p = Path(path)
    meta: dict[str, Any] = {"frame": p.name, "file": os.path.abspath(p)}
    time = None
    if facts.time is not None:
        with quiet_erfa():
            utc = facts.time.utc
            time = (str(utc.isot), float(utc.jd))
    for key, value in (
        ("FILTER", facts.filter),
        ("OBJECT", facts.object),
        ("exptime", facts.exptime),
        ("time_utc", None if time is None else time[0]),
        ("jd_utc", None if time is None else time[1]),
        ("airmass", facts.airmass),
        ("gain", facts.gain),
        ("bayer_pattern", facts.cfa),
    ):
        if value is not None:
            meta[key] = value
    return meta


def with_cfa(frame: FrameInfo, pattern: str | None) -> FrameInfo:
    """``frame`` with its Bayer pattern set by the user ('RGGB'..., or None for monochrome).

    The header's own reading stays in ``sources['cfa']``'s text, so that the
    frame table shows what was overridden.
    """
    from dataclasses import replace

    from .cfa import normalise_pattern

    value = normalise_pattern(pattern) if pattern is not None else None
    if pattern is not None and value is None:
        raise ValueError(f"{pattern!r} is not a Bayer pattern (RGGB, BGGR, GRBG or GBRG)")
    if value == frame.cfa:
        return frame
    was = frame.sources.get("cfa")
    said = "set by the user" + (f" (the frame said {frame.cfa} from {was})" if was else "")
    return replace(frame, cfa=value, sources=MappingProxyType({**frame.sources, "cfa": said}))


def with_telescope_aperture(frame: FrameInfo, aperture_mm: float | None) -> FrameInfo:
    """``frame`` with the observer's telescope aperture (mm) where its header gives none.

    The header's APTDIA/APTAREA, when present, stays: it describes the frame.
    An aperture an earlier call filled in is replaced (or removed with
    ``aperture_mm`` None or 0), so a changed project setting applies to frames
    already resolved, as :func:`~fluxion.core.io.site.with_site` does for the site.
    """
    from dataclasses import replace

    filled = frame.sources.get("aperture_mm") == USER_APERTURE
    if frame.aperture_mm and not filled:
        return frame
    if not aperture_mm or aperture_mm <= 0:
        if not filled:
            return frame
        rest = {k: v for k, v in frame.sources.items() if k != "aperture_mm"}
        return replace(frame, aperture_mm=None, sources=MappingProxyType(rest))
    sources = MappingProxyType({**frame.sources, "aperture_mm": USER_APERTURE})
    return replace(frame, aperture_mm=float(aperture_mm), sources=sources)


#: ``sources['aperture_mm']`` of an aperture the user gave (the header had none).
USER_APERTURE = "set by the user"


#: What a user may say about the frames' Bayer pattern: keep the header's, none, or one.
CFA_CHOICES = ("auto", "none", "RGGB", "BGGR", "GRBG", "GBRG")


def choose_cfa(frames: list[FrameInfo], choice: str = "auto") -> list[FrameInfo]:
    """The frames with the pattern the user chose: ``'auto'`` (the headers'), ``'none'``, or one.

    ``'none'`` measures colour frames as monochrome ones; a pattern applies to
    every usable frame (the user's camera).
    """
    key = (choice or "auto").strip()
    if key.lower() == "auto":
        return list(frames)
    if key.lower() == "none":
        return [with_cfa(f, None) for f in frames]
    return [with_cfa(f, key) if f.usable else f for f in frames]


def _shape(header: fits.Header) -> tuple[tuple[int, int] | None, str | None]:
    naxis = int(header.get("NAXIS", 0) or 0)
    dims = [int(header.get(f"NAXIS{i}", 0) or 0) for i in range(1, naxis + 1)]
    if naxis == 2:
        return (dims[1], dims[0]), None
    extra = [d for d in dims[2:] if d != 1]
    if not extra:
        # A degenerate cube (NAXIS3 = 1) is a 2-D frame written carelessly.
        return (dims[1], dims[0]), None
    return None, f"data cube of shape {tuple(reversed(dims))}; a 2-D frame is needed"


def _all_nan(path: Path, hdul: fits.HDUList, hdu: int, header: fits.Header) -> bool:
    """True when a strided sample of a float image is all NaN.

    Only uncompressed float images are sampled: a memory map makes this cost a
    few pages, whereas a compressed file would need decompressing whole.
    Integer images cannot hold NaN.
    """
    if header.get("BITPIX") not in (-32, -64) or "ZIMAGE" in header:
        return False
    if path.name.lower().endswith((".gz", ".bz2", ".fz", ".zip")):
        return False
    with quiet():
        data = hdul[hdu].data
        if data is None or data.ndim != 2:
            return False
        # Rows and columns of both parities: a regular stride could see only
        # the NaN cells of a grid (every other pixel NaN) and call it all NaN.
        rows = np.unique(np.linspace(0, data.shape[0] - 1, _NAN_SAMPLE + 1).astype(int))
        cols = np.unique(np.linspace(0, data.shape[1] - 1, _NAN_SAMPLE + 1).astype(int))
        if not np.isnan(data[rows][:, cols]).all():
            return False
        # Only a frame that looks empty is read whole, to be sure.
        return bool(np.isnan(data).all())


def _extensions_problem(hdul, hdu: int, n: int) -> str:
    """What Fluxion does with a file of ``n`` image extensions: it reads HDU ``hdu`` alone.

    Extensions that each name their place on one detector (DETSEC: an LCO
    Sinistro's four amplifiers) are a raw amplifier mosaic, which Fluxion
    does not assemble: it measures one amplifier's quarter of the field with
    that amplifier's gain and sections, and says so rather than passing it off
    as the frame.
    """
    with quiet():
        images = [h for h in hdul if h.is_image and int(h.header.get("NAXIS1", 0) or 0) > 0]
    if len(images) == n and all("DETSEC" in h.header for h in images):
        shape = "x".join(str(images[0].header.get(k, "?")) for k in ("NAXIS1", "NAXIS2"))
        own = hdul[hdu].header
        # fitsio._merged_header keeps the primary's sections (the whole detector's) out.
        sections = ", ".join(f"{k} {own[k]}" for k in ("DATASEC", "BIASSEC") if k in own)
        calibrated = f", calibrated on its own sections ({sections})" if sections else ""
        return (
            f"{n} image extensions, the amplifiers of one detector (DETSEC): only HDU {hdu} "
            f"({shape} px, one amplifier's part of the field, with its own GAIN) is read"
            f"{calibrated}; Fluxion does not assemble amplifier mosaics: give it the assembled "
            "frame (the observatory's reduced one) for the whole field"
        )
    return f"{n} image extensions (amplifiers?); only HDU {hdu} is used"


def _unusable(path: Path, reason: str) -> FrameInfo:
    return FrameInfo(path=path, problems=(reason,))


# Cards Fluxion writes into its own products: a master's kind, the steps a
# calibrated light went through.
_PRODUCT_CARDS = (("FLXKIND", "master"), ("CALSTEPS", "calibrated"))


def _product(header: fits.Header) -> str:
    return next((kind for card, kind in _PRODUCT_CARDS if card in header), "")


# The cards calibration reads for overscan and trimming (calibration/overscan.py).
_SECTION_CARDS = ("BIASSEC", "TRIMSEC", "DATASEC")


def _sections(header: fits.Header) -> Mapping[str, Any]:
    return {k: header[k] for k in _SECTION_CARDS if k in header}


def _from_facts(
    path: Path,
    hdu: int,
    facts: HeaderFacts,
    shape: tuple[int, int] | None,
    problems: list[str],
    header: fits.Header,
) -> FrameInfo:
    return FrameInfo(
        path=path,
        hdu=hdu,
        type=facts.image_type if shape is not None else "unknown",
        object=facts.object,
        filter=facts.filter,
        exptime=facts.exptime,
        time=facts.time,
        time_precision=facts.time_precision,
        binning=facts.binning,
        gain=facts.gain,
        gain_setting=facts.gain_setting,
        read_noise=facts.read_noise,
        saturation=facts.saturation,
        ra=facts.ra,
        dec=facts.dec,
        airmass=facts.airmass,
        site=facts.site,
        focal_length_mm=facts.focal_length_mm,
        pixel_size_um=facts.pixel_size_um,
        aperture_mm=facts.aperture_mm,
        pixel_scale=facts.pixel_scale,
        shape=shape,
        cfa=facts.cfa,
        problems=tuple(dict.fromkeys(problems)),
        sources=MappingProxyType(dict(facts.sources)),
        profile=facts.profile,
        product=_product(header),
        sections=_sections(header),
    )


def _digest_of_open(p: Path, hdul: Any) -> DigestTaken | None:
    """The file's content digest read through the open ``hdul`` (None: a raw or compressed file)."""
    if hdul is None:
        return None
    try:
        with quiet():
            fileobj = hdul.fileinfo(0)["file"]
            if getattr(fileobj, "compression", None) is not None:  # decompressed bytes
                return None
            return digest_through(p, fileobj)
    except Exception:  # noqa: BLE001 - a damaged header: the run digests the file itself
        return None


def frame_info(path: str | os.PathLike[str], folder_name: str | None = None) -> FrameInfo:
    """Read one file's header facts without reading its pixels.

    Parameters
    ----------
    path : str or pathlib.Path
        A FITS file.
    folder_name : str, optional
        The name of the sub-folder the file was found in (``DARK``, ``zero``),
        which says the frame type when neither a header card nor the file
        name does. Not given for files in the folder the user opened: its
        name is the night's, not a frame type.

    Returns
    -------
    FrameInfo
        Never raises for bad input: unusable files have type ``'unknown'``
        and a one-line reason in ``problems``.
    """
    p = Path(path)
    try:
        # One open for the header and every check of the file below.
        with open_image(p) as (header, hdu, hdul):
            info = _checked_info(p, header, hdu, hdul, folder_name)
            taken = _digest_of_open(p, hdul) if info.usable else None
            return info if taken is None else replace(info, digest=taken)
    except FitsReadError as exc:
        return _unusable(p, str(exc))
    except Exception as exc:  # noqa: BLE001 - a scan must survive any file
        log.exception("unexpected failure reading %s", p)
        return _unusable(p, f"cannot read file ({type(exc).__name__}: {exc})")


def _checked_info(
    p: Path,
    header: fits.Header,
    hdu: int,
    hdul: fits.HDUList | None,
    folder_name: str | None,
) -> FrameInfo:
    """:func:`frame_info` of a file already open (``hdul`` None for a camera raw file)."""
    try:
        facts = normalise_header(header, file_name=p.name, folder_name=folder_name)
    except Exception as exc:  # noqa: BLE001 - a bug must not stop a night's scan
        log.exception("header normalisation failed on %s", p)
        return _unusable(p, f"cannot interpret header ({type(exc).__name__}: {exc})")
    problems = list(facts.problems)
    shape, cube = _shape(header)
    if cube:
        problems.insert(0, cube)
    if hdul is None:  # LibRaw says what is wrong with a raw file when it reads it
        return _from_facts(p, hdu, facts, shape, problems, header)
    try:
        with quiet():
            truncated = short_file_problem(p, hdul, hdu)
        if truncated:
            problems.insert(0, truncated)
            shape = None
        elif shape is not None and _all_nan(p, hdul, hdu, header):
            problems.insert(0, "all pixels are NaN")
            shape = None
        if hdu > 0:
            n = count_images(hdul)
            if n > 1:
                problems.append(_extensions_problem(hdul, hdu, n))
    except FitsReadError as exc:
        problems.insert(0, str(exc))
        shape = None
    except Exception as exc:  # noqa: BLE001
        problems.insert(0, f"cannot read pixels ({type(exc).__name__}: {exc})")
        shape = None
    return _from_facts(p, hdu, facts, shape, problems, header)
