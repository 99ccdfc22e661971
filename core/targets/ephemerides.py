"""Ephemerides of moving targets: JPL Horizons by name, SkyBoT for the field.

* :func:`horizons_ephemeris` asks JPL Horizons (``astroquery.jplhorizons``)
  for a target's topocentric RA/Dec over the sequence, for the observatory code
  or for the site read from the headers, and returns an :class:`Ephemeris`
  that interpolates to every frame's mid-exposure time and projects into each
  frame's WCS, so the predicted track can be drawn beside the clicked one.
* :func:`known_objects_in_field` asks SkyBoT (``astroquery.imcce``) which known
  asteroids and comets are in the field at the sequence's middle.

Services fail: a name Horizons does not know, a server that is down or slow.
Every failure becomes an :class:`EphemerisError` whose message says what to do
next. With ``cache_dir`` each successful answer is kept as an ECSV file and
used again when the service cannot be reached (the offline fallback); the
ephemeris then says so in its ``source``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import requests
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.table import Table
from astropy.time import Time
from astropy.wcs import WCS
from scipy.interpolate import CubicSpline

from ..io.fitsio import atomic_write_ecsv
from ..runtime.network import ServiceError, network_failure
from ..runtime.quiet import quiet

__all__ = [
    "Ephemeris",
    "EphemerisError",
    "horizons_ephemeris",
    "known_objects_in_field",
    "horizons_location",
]

log = logging.getLogger(__name__)

#: Time step of the Horizons table: fine enough that a cubic interpolation of
#: a main-belt asteroid or a distant NEO is exact to far below an arcsec.
DEFAULT_STEP_MIN = 10


class EphemerisError(ServiceError, RuntimeError):
    """An ephemeris service could not answer; the message says what to do.

    ``failure`` holds the network cause when there is one (offline, refused,
    no answer in time).
    """


@dataclass(frozen=True)
class Ephemeris:
    """A target's ephemeris, tabulated and interpolated in time.

    Attributes
    ----------
    name : str
        Target name as the service resolved it.
    table : Table
        Columns ``jd`` (UTC), ``ra``, ``dec`` (deg, astrometric ICRF), ``v_mag``,
        ``ra_rate``, ``dec_rate`` (arcsec/h, RA rate includes cos dec),
        ``delta`` and ``r`` (au), ``phase`` (deg), NaN where not given.
    source : str
        ``"JPL Horizons"``, or ``"cache"`` when served offline from a cache.
    """

    name: str
    table: Table
    source: str

    def sky(self, jd: float | Sequence[float] | np.ndarray) -> SkyCoord:
        """Position at ``jd`` (UTC), interpolated with a cubic in time."""
        jd = np.atleast_1d(np.asarray(jd, dtype=float))
        t = np.asarray(self.table["jd"], dtype=float)
        if t.size == 1:
            if np.any(np.abs(jd - t[0]) * 86400 > 1):
                raise EphemerisError("a one-epoch ephemeris cannot be interpolated")
            ra0, dec0 = float(self.table["ra"][0]), float(self.table["dec"][0])
            return SkyCoord(np.full(jd.size, ra0) * u.deg, np.full(jd.size, dec0) * u.deg)
        margin = 1.0 / 1440
        if jd.min() < t.min() - margin or jd.max() > t.max() + margin:
            raise EphemerisError("the ephemeris does not cover all frames: query it again")
        # Interpolate unit vectors, not angles: RA wraps at 0/360.
        ra = np.radians(np.asarray(self.table["ra"], dtype=float))
        dec = np.radians(np.asarray(self.table["dec"], dtype=float))
        xyz = np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
        k = 3 if t.size >= 4 else t.size - 1
        v = CubicSpline(t, xyz, axis=0)(jd) if k == 3 else _linear(t, xyz, jd)
        ra_i = np.degrees(np.arctan2(v[:, 1], v[:, 0])) % 360.0
        dec_i = np.degrees(np.arctan2(v[:, 2], np.hypot(v[:, 0], v[:, 1])))
        return SkyCoord(ra_i * u.deg, dec_i * u.deg, frame="icrs")

    def predict(self, jd: Sequence[float] | np.ndarray, wcs: Sequence[WCS]) -> Table:
        """Predicted pixel positions in frames with a WCS (NaN for frames without)."""
        jd = np.asarray(jd, dtype=float)
        coords = self.sky(jd)
        x = np.full(jd.size, np.nan)
        y = np.full(jd.size, np.nan)
        for i, w in enumerate(wcs):
            if w is not None:
                x[i], y[i] = w.world_to_pixel(coords[i])
        out = Table()
        out["frame"] = np.arange(jd.size)
        out["jd"] = jd
        out["ra"] = coords.ra.deg
        out["dec"] = coords.dec.deg
        out["x"] = x
        out["y"] = y
        return out


def _linear(t: np.ndarray, v: np.ndarray, jd: np.ndarray) -> np.ndarray:
    return np.column_stack([np.interp(jd, t, v[:, i]) for i in range(v.shape[1])])


def horizons_location(
    observatory_code: str | None = None, site: EarthLocation | None = None
) -> str | dict:
    """Horizons' ``location`` for an MPC observatory code, a site, or the geocentre.

    An observatory code wins over the site: it is what the MPC uses for the
    same observations, and Horizons knows its exact coordinates.
    """
    if observatory_code:
        return str(observatory_code).strip()
    if site is not None:
        return {
            "lon": site.lon.to(u.deg),
            "lat": site.lat.to(u.deg),
            "elevation": site.height.to(u.km),
            "body": 399,
        }
    return "500"


def _cache_path(cache_dir: Path, service: str, key: str) -> Path:
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return cache_dir / f"{service}-{digest}.ecsv"


def _service_error(service: str, exc: Exception, advice: str = "") -> EphemerisError:
    """The service's failure in words (the network's cause when it is one), then ``advice``."""
    failure = network_failure(exc)
    if failure is not None:
        why = failure.text
    else:
        why = f"answered: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
    text = f"{service} {why}" + (f". {advice}" if advice else "")
    return EphemerisError(text, service=service, failure=failure)


def horizons_ephemeris(
    target: str,
    times: Time,
    *,
    observatory_code: str | None = None,
    site: EarthLocation | None = None,
    id_type: str | None = None,
    step_minutes: float = DEFAULT_STEP_MIN,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Ephemeris:
    """The ephemeris of ``target`` from JPL Horizons over the span of ``times``.

    Parameters
    ----------
    target : str
        Name, number or designation (``"2713"``, ``"Luxembourg"``, ``"2019 RB21"``).
    times : Time
        Mid-exposure times of the frames; the table covers them with a margin.
    observatory_code, site : optional
        Where the observer is (see :func:`horizons_location`); geocentre
        otherwise (an error up to 8.8 arcsec x (1 au / distance)).
    id_type : str, optional
        Horizons' id type (``"smallbody"``, ``"designation"``, ``"name"`` ...);
        None lets Horizons resolve the name.
    step_minutes : float
        Table step; the positions are interpolated in between.
    cache_dir : path, optional
        Folder to keep answers in and to fall back to when offline.

    Raises
    ------
    EphemerisError
        When Horizons cannot answer and nothing suitable is cached.
    """
    from astroquery.jplhorizons import Horizons

    t = Time(times).utc
    if not target or not str(target).strip():
        raise EphemerisError("give the target's name, number or designation")
    location = horizons_location(observatory_code, site)
    jd_lo, jd_hi = float(np.min(t.jd)), float(np.max(t.jd))
    span_min = (jd_hi - jd_lo) * 1440
    if span_min < 1:
        epochs: dict | list = [jd_lo]
    else:
        step = max(1, int(min(step_minutes, max(span_min / 4, 1))))
        start = Time(jd_lo - step / 1440, format="jd", scale="utc")
        stop = Time(jd_hi + step / 1440, format="jd", scale="utc")
        epochs = {"start": start.iso[:16], "stop": stop.iso[:16], "step": f"{step}m"}
    key = f"{target}|{location}|{epochs}|{id_type}"
    cache = _cache_path(Path(cache_dir), "horizons", key) if cache_dir else None
    try:
        query = Horizons(id=str(target).strip(), location=location, epochs=epochs, id_type=id_type)
        raw = _query_then_parse(query, query.ephemerides_async(cache=False, extra_precision=True))
    except (requests.exceptions.RequestException, ValueError, KeyError, IndexError, OSError) as exc:
        err = _service_error("JPL Horizons", exc)
        if cache is not None and cache.is_file():
            log.warning("%s; using the cached ephemeris %s", err, cache.name)
            table = _read_cache(cache, err)
            return Ephemeris(str(table.meta.get("name", target)), table, "cache")
        advice = "Track the target by clicking it instead, or try again when online."
        raise _service_error("JPL Horizons", exc, advice) from exc
    table = _from_horizons(raw)
    name = str(raw["targetname"][0]) if "targetname" in raw.colnames else str(target)
    table.meta["name"] = name
    if cache is not None:
        _write_cache(cache, table)
    return Ephemeris(name, table, "JPL Horizons")


def _write_cache(cache: Path, table: Table) -> None:
    """Keep an answer for offline use; a cache that cannot be written loses only that."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_ecsv(cache, table)
    except OSError as exc:
        log.warning("ephemeris not cached in %s: %s", cache.parent, exc)


def _read_cache(
    cache: Path, err: EphemerisError, columns: tuple[str, ...] = ("jd", "ra", "dec")
) -> Table:
    """A cached answer, or an error that says both what failed and that the cache is damaged."""
    try:
        with quiet():
            table = Table.read(cache, format="ascii.ecsv")
        for name in columns:
            if name not in table.colnames:
                raise ValueError(f"no {name} column")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = f"{err}, and the cached ephemeris {cache.name} is unreadable ({exc})"
        raise EphemerisError(msg) from exc
    return table


def _query_then_parse(service, response) -> Table:
    """An astroquery service's table from the answer of its ``*_async`` query.

    astroquery's plain query is the ``_async`` request, then
    ``raise_for_status`` and the service's ``_parse_result``; done in two
    steps here so that only the parsing, whose notes about the table arrive as
    warnings (SkyBoT's "no objects found" too), runs under :func:`quiet`, and
    the network wait does not hold up quiet()'s lock for the other threads.
    """
    response.raise_for_status()
    with quiet():
        return service._parse_result(response)


def _column(raw: Table, name: str, unit: str | None = None) -> np.ndarray:
    if name not in raw.colnames:
        return np.full(len(raw), np.nan)
    col = raw[name]
    # Table columns carry units as metadata, QTable columns as Quantity.
    scale = 1.0
    col_unit = getattr(col, "unit", None)
    if unit and col_unit is not None and str(col_unit) not in ("", "---"):
        scale = u.Unit(col_unit).to(unit)
    values: np.ma.MaskedArray = np.ma.asarray(getattr(col, "value", col), dtype=float)
    return np.asarray(np.ma.filled(values, np.nan), dtype=float) * scale


def _from_horizons(raw: Table) -> Table:
    out = Table()
    out["jd"] = _column(raw, "datetime_jd")
    out["ra"] = _column(raw, "RA", "deg")
    out["dec"] = _column(raw, "DEC", "deg")
    out["v_mag"] = _column(raw, "V")
    # Horizons' RA rate already includes cos(dec); it is in arcsec/h.
    out["ra_rate"] = _column(raw, "RA_rate", "arcsec/h")
    out["dec_rate"] = _column(raw, "DEC_rate", "arcsec/h")
    out["delta"] = _column(raw, "delta", "au")
    out["r"] = _column(raw, "r", "au")
    out["phase"] = _column(raw, "alpha", "deg")
    if len(out) == 0 or not np.all(np.isfinite(out["ra"])):
        raise EphemerisError("JPL Horizons returned no usable positions")
    return out


def known_objects_in_field(
    center: SkyCoord,
    radius: u.Quantity,
    epoch: Time,
    *,
    observatory_code: str = "500",
    max_position_error: u.Quantity = 120 * u.arcsec,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Table:
    """Known solar-system objects in a field at ``epoch``, from SkyBoT.

    Parameters
    ----------
    center : SkyCoord
        Field centre.
    radius : Quantity
        Search radius (at most 10 deg).
    epoch : Time
        Usually the middle of the sequence.
    observatory_code : str
        MPC code of the site ("500" for the geocentre).
    cache_dir : path, optional
        Folder to keep answers in (one per field, radius, epoch and site) and
        to fall back to when SkyBoT cannot be reached.

    Returns
    -------
    Table
        Columns ``number`` (0 when unnumbered), ``name``, ``ra``, ``dec`` (deg),
        ``v_mag``, ``position_error`` (arcsec), ``center_distance`` (arcsec),
        ``ra_rate``, ``dec_rate`` (arcsec/h), ``kind``; empty when nothing is
        there (not an error). ``meta['epoch_jd']`` is the epoch (UTC) of the
        positions and ``meta['source']`` says "SkyBoT" or "cache".

    Raises
    ------
    EphemerisError
        When SkyBoT cannot be reached or answers with an error.
    """
    from astroquery.imcce import Skybot

    radius = min(radius.to(u.deg), 10 * u.deg)
    epoch = Time(epoch).utc
    key = (
        f"{center.icrs.ra.deg:.5f}|{center.icrs.dec.deg:.5f}|{radius.value:.5f}|"
        f"{epoch.jd:.6f}|{observatory_code}"
    )
    cache = _cache_path(Path(cache_dir), "skybot", key) if cache_dir else None
    try:
        skybot = Skybot()
        response = skybot.cone_search_async(
            center, radius, epoch, location=observatory_code,
            position_error=min(max_position_error, 120 * u.arcsec), cache=False,
        )  # fmt: skip
        raw = _query_then_parse(skybot, response)
    except (requests.exceptions.RequestException, ValueError, KeyError, OSError) as exc:
        err = _service_error("SkyBoT", exc)
        if cache is not None and cache.is_file():
            log.warning("%s; using the cached answer %s", err, cache.name)
            table = _read_cache(cache, err, ("name", "ra", "dec", "ra_rate", "dec_rate"))
            table.meta["source"] = "cache"
            return table
        raise _service_error("SkyBoT", exc, "Known asteroids cannot be marked now.") from exc
    out = Table()
    n = len(raw)
    out["number"] = np.asarray(np.ma.filled(raw["Number"], 0), dtype=int) if n else np.zeros(0, int)
    out["name"] = [str(v) for v in raw["Name"]] if n else np.zeros(0, dtype=str)
    for name, col, unit in (
        ("ra", "RA", "deg"), ("dec", "DEC", "deg"), ("v_mag", "V", "mag"),
        ("position_error", "posunc", "arcsec"), ("center_distance", "centerdist", "arcsec"),
        ("ra_rate", "RA_rate", "arcsec/h"), ("dec_rate", "DEC_rate", "arcsec/h"),
    ):  # fmt: skip
        out[name] = _column(raw, col, unit) if n else np.zeros(0)
    out["kind"] = [str(v) for v in raw["Type"]] if n else np.zeros(0, dtype=str)
    out.meta["epoch_jd"] = float(epoch.jd)
    if cache is not None:
        _write_cache(cache, out)
    out.meta["source"] = "SkyBoT"
    return out
