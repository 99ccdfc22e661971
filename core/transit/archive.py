"""A planet's ephemeris from the NASA Exoplanet Archive (astroquery), cached.

The Planetary Systems Composite Parameters table (``pscomppars``) gives one
row per planet with the period, a reference mid-time, the geometry and the
host star's parameters. astroquery resolves the name first through the
archive's alias service ("TrES-1b", "GSC 02652-01324 b" and "TrES-1 b" are one
planet), then asks the TAP service.

Answers are kept as JSON in ``cache_dir`` and used in place of the service
(an ephemeris changes over years, not between nights); with ``refresh`` the
archive is asked again, and its answer replaces the cached one. When the
service cannot be reached the cached answer is used and its ``source`` says
so; without one the error says to give the period and T0 by hand.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from ..io.fitsio import atomic_write_text
from ..runtime.quiet import quiet
from .ephemeris import Ephemeris, EphemerisError

__all__ = ["ARCHIVE_COLUMNS", "archive_ephemeris", "default_cache_dir", "ephemeris_from_row"]

log = logging.getLogger(__name__)

SERVICE = "NASA Exoplanet Archive"

#: Columns asked of ``pscomppars``.
ARCHIVE_COLUMNS = (
    "pl_name", "hostname", "pl_orbper", "pl_orbpererr1", "pl_orbpererr2",
    "pl_tranmid", "pl_tranmiderr1", "pl_tranmiderr2", "pl_ratror", "pl_ratrorerr1",
    "pl_ratrorerr2", "pl_ratdor", "pl_ratdorerr1", "pl_ratdorerr2", "pl_orbincl",
    "pl_orbinclerr1", "pl_orbinclerr2", "pl_trandur", "pl_trandep", "st_teff",
    "st_logg", "st_met", "ra", "dec", "sy_vmag",
)  # fmt: skip


def _value(row: dict, name: str) -> float | None:
    v = row.get(name)
    if v is None:
        return None
    try:
        f = float(getattr(v, "value", v))
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _err(row: dict, name: str) -> float | None:
    """The symmetric error: the mean of the archive's upper and lower errors."""
    up, lo = _value(row, name + "err1"), _value(row, name + "err2")
    vals = [abs(v) for v in (up, lo) if v is not None]
    return float(np.mean(vals)) if vals else None


def ephemeris_from_row(row: dict, source: str = SERVICE) -> Ephemeris:
    """An :class:`Ephemeris` from one ``pscomppars`` row (a dict of column values).

    Raises
    ------
    EphemerisError
        When the row has no period or no reference mid-time.
    """
    name = str(row.get("pl_name", "")).strip()
    period, t0 = _value(row, "pl_orbper"), _value(row, "pl_tranmid")
    if period is None or t0 is None:
        raise EphemerisError(
            f"the {SERVICE} has no transit ephemeris for {name or 'this planet'} "
            "(period or mid-time missing): give the period and T0 by hand"
        )
    depth = _value(row, "pl_trandep")
    return Ephemeris(
        period=period, t0=t0, period_err=_err(row, "pl_orbper") or 0.0,
        t0_err=_err(row, "pl_tranmid") or 0.0, source=source, name=name,
        rp_rs=_value(row, "pl_ratror"), rp_rs_err=_err(row, "pl_ratror"),
        a_rs=_value(row, "pl_ratdor"), a_rs_err=_err(row, "pl_ratdor"),
        inc_deg=_value(row, "pl_orbincl"), inc_err=_err(row, "pl_orbincl"),
        duration_h=_value(row, "pl_trandur"),
        depth=None if depth is None else depth / 100.0,  # the archive gives percent
        teff=_value(row, "st_teff"), logg=_value(row, "st_logg"), feh=_value(row, "st_met"),
        ra=_value(row, "ra"), dec=_value(row, "dec"), v_mag=_value(row, "sy_vmag"),
    )  # fmt: skip


def default_cache_dir() -> Path:
    """The user's cache of archive answers ($XDG_CACHE_HOME or ~/.cache, then fluxion/)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fluxion" / "exoplanet-archive"


def _cache_file(cache_dir: Path, name: str) -> Path:
    key = " ".join(name.lower().split())
    return cache_dir / f"exoplanet-archive-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


def _read_cache(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("the cached ephemeris %s is unreadable (%s); asking the archive", path, exc)
        return None


def _query(name: str, tap_url: str | None, alias_url: str | None) -> list[dict]:
    """Rows of ``pscomppars`` for a planet or host name, through astroquery."""
    from astroquery.ipac.nexsci.nasa_exoplanet_archive import (
        NasaExoplanetArchiveClass,
        conf,
    )

    archive = NasaExoplanetArchiveClass()
    with (
        conf.set_temp("url_tap", tap_url or conf.url_tap),
        conf.set_temp("url_aliaslookup", alias_url or conf.url_aliaslookup),
    ):
        # The class reads its TAP address at import; the instance takes the current one.
        archive.URL_TAP = conf.url_tap
        with quiet():  # astroquery warns (NoResultsWarning) instead of returning nothing
            table = archive.query_object(name, table="pscomppars", select=",".join(ARCHIVE_COLUMNS))
    rows = []
    for r in table:
        row = {}
        for c in ARCHIVE_COLUMNS:
            if c not in table.colnames:
                continue
            v = r[c]
            if np.ma.is_masked(v):
                continue
            row[c] = str(v) if c in ("pl_name", "hostname") else float(getattr(v, "value", v))
        rows.append(row)
    return rows


def _service_failure(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if any(w in text for w in ("Connection", "resolve", "unreachable", "Max retries", "timed out")):
        return f"the {SERVICE} could not be reached (offline, or the service is down)"
    return f"the {SERVICE} answered with an error ({text})"


def archive_ephemeris(
    name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    tap_url: str | None = None,
    alias_url: str | None = None,
) -> Ephemeris:
    """The ephemeris of a planet from the NASA Exoplanet Archive.

    Parameters
    ----------
    name : str
        Planet name (``"TrES-1 b"``, ``"WASP-12b"``) or its host's when the
        host has one known planet.
    cache_dir : path, optional
        Folder of cached answers.
    refresh : bool
        Ask the archive even when a cached answer exists.
    tap_url, alias_url : str, optional
        Other service addresses (tests replay recorded answers from 127.0.0.1).

    Raises
    ------
    EphemerisError
        Unknown planet, several planets for a host name, no ephemeris in the
        archive, or the archive unreachable with nothing cached.
    """
    name = " ".join(str(name).split())
    if not name:
        raise EphemerisError("give the planet's name (e.g. 'TrES-1 b')")
    cache = _cache_file(Path(cache_dir), name) if cache_dir else None
    cached = _read_cache(cache) if cache is not None and cache.is_file() else None
    if cached is not None and not refresh:
        return ephemeris_from_row(cached["row"], f"{SERVICE} (cached {cached['date']})")
    try:
        rows = _query(name, tap_url, alias_url)
    except Exception as exc:  # noqa: BLE001 - astroquery, pyvo and requests raise many kinds
        why = _service_failure(exc)
        if cached is not None:
            log.warning("%s; using the answer cached %s", why, cached["date"])
            return ephemeris_from_row(cached["row"], f"{SERVICE} (cached {cached['date']})")
        raise EphemerisError(f"{why}; give the period and T0 by hand instead") from exc
    if not rows:
        raise EphemerisError(
            f"the {SERVICE} knows no planet called {name!r}: check the spelling "
            "(e.g. 'TrES-1 b') or give the period and T0 by hand"
        )
    if len(rows) > 1:
        names = ", ".join(sorted(r.get("pl_name", "?") for r in rows))
        raise EphemerisError(f"{name!r} has several planets ({names}): name one of them")
    row = rows[0]
    eph = ephemeris_from_row(row)
    if cache is not None:
        record = {"date": time.strftime("%Y-%m-%d"), "name": name, "row": row}
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(cache, json.dumps(record, indent=1))
        except OSError as exc:
            log.warning("ephemeris not cached in %s: %s", cache.parent, exc)
    return eph
