"""FITS headers in the shape capture software (MaxIm DL, N.I.N.A.) writes them."""

from __future__ import annotations

import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.time import Time

__all__ = ["IMAGETYP", "frame_header"]

# The IMAGETYP strings MaxIm DL and N.I.N.A. write.
IMAGETYP = {
    "light": "Light Frame",
    "bias": "Bias Frame",
    "dark": "Dark Frame",
    "flat": "Flat Field",
}


def _iso_ms(t: Time) -> str:
    t = Time(t, precision=3)
    return t.utc.isot


def _local_iso_ms(t: Time, offset_h: float) -> str:
    """ISO time to the millisecond in local time with its UTC offset ('...-0700')."""
    if offset_h == 0:
        return _iso_ms(t)
    local = _iso_ms(t + offset_h * u.hour)
    minutes = round(abs(offset_h) * 60)
    return f"{local}{'-' if offset_h < 0 else '+'}{minutes // 60:02d}{minutes % 60:02d}"


def frame_header(
    kind: str,
    *,
    start: Time,
    exptime: float,
    readout: float,
    filter_name: str | None,
    camera_facts: dict,
    object_name: str | None = None,
    pointing: SkyCoord | None = None,
    airmass: float | None = None,
    utc_offset_h: float = 0.0,
    mjd_decimals: int = -1,
) -> fits.Header:
    """The header of one raw frame.

    Parameters
    ----------
    kind : {"light", "bias", "dark", "flat"}
        Frame type.
    start : Time
        Exposure start (DATE-OBS).
    exptime : float
        Exposure (s).
    readout : float
        Seconds between the end of the exposure and the file being written (DATE).
    filter_name : str or None
        Filter in the beam (none for bias and dark).
    camera_facts : dict
        GAIN, RDNOISE, SATURATE, CCD-TEMP, site and optics cards.
    object_name, pointing, airmass
        Light frames only: OBJECT, the mount's RA/DEC, AIRMASS.
    utc_offset_h : float
        DATE-OBS in local time with this UTC offset (hours); 0 writes UTC.
    mjd_decimals : int
        Also write MJD-OBS of the start rounded to this many decimals (-1: none).
    """
    h = fits.Header()
    h["IMAGETYP"] = (IMAGETYP[kind], "type of image")
    if utc_offset_h:
        h["DATE-OBS"] = (_local_iso_ms(start, utc_offset_h), "local start of exposure")
    else:
        h["DATE-OBS"] = (_iso_ms(start), "UTC start of exposure")
    if mjd_decimals >= 0:
        h["MJD-OBS"] = (round(float(start.utc.mjd), mjd_decimals), "MJD of exposure start")
    h["EXPTIME"] = (float(exptime), "[s] exposure time")
    h["EXPOSURE"] = (float(exptime), "[s] exposure time")
    if filter_name:
        h["FILTER"] = (filter_name, "filter in the beam")
    if kind == "light":
        if pointing is None or airmass is None:
            raise ValueError("a light frame's header needs the pointing and the airmass")
        h["OBJECT"] = (object_name or "", "target")
        h["RA"] = (round(pointing.ra.deg, 6), "[deg] mount pointing RA (J2000)")
        h["DEC"] = (round(pointing.dec.deg, 6), "[deg] mount pointing Dec (J2000)")
        h["OBJCTRA"] = (
            pointing.ra.to_string(unit=u.hourangle, sep=" ", precision=2, pad=True),
            "[hms] mount pointing RA",
        )
        h["OBJCTDEC"] = (
            pointing.dec.to_string(unit=u.deg, sep=" ", precision=1, pad=True, alwayssign=True),
            "[dms] mount pointing Dec",
        )
        h["AIRMASS"] = (round(float(airmass), 5), "airmass at mid-exposure")
        h["EQUINOX"] = (2000.0, "equinox of RA/DEC")
    for key, value in camera_facts.items():
        h[key] = value
    h["DATE"] = (_iso_ms(start + (exptime + readout) * u.s), "UTC when the file was written")
    return h
