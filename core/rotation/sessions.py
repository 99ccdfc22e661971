"""Light-curve sessions of one asteroid, joined and corrected for geometry.

A session is one night's (or one project's) light curve of the object:
times (mid-exposure JD, UTC), magnitudes and errors, with the geometry at
those times: the distances to the Sun (r) and the Earth (delta) in au and
the phase angle. Two corrections make sessions of different nights
comparable, as in MPO Canopus and the ALCDEF standard:

* light time: the light seen at t left the asteroid delta / c earlier, so
  the rotation is timed at t - delta * 0.0057755183 d/au (499.00478 s/au);
* unit distances: m - 5 log10(r delta) is the magnitude the asteroid would
  have at 1 au from both.

What remains between nights (the phase angle's effect, a comparison set on
another scale) is taken by one zero point per session in the period fit;
sessions calibrated on one scale can instead share one zero point, their
magnitudes reduced to a common phase angle with the H-G phase function
(:mod:`.phase`), as MPO Canopus does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from astropy.table import Table

from .phase import DEFAULT_G, phase_correction

__all__ = [
    "LIGHT_TIME_DAYS_PER_AU",
    "Session",
    "horizons_geometry",
    "join_sessions",
    "session_from_table",
    "session_geometry",
]

#: Light time for one astronomical unit (IAU 2012: 499.004784 s), in days.
LIGHT_TIME_DAYS_PER_AU = 499.004783836 / 86400.0


@dataclass(frozen=True)
class Session:
    """One session's light curve and geometry.

    Attributes
    ----------
    name : str
        What the session is (the project, the night).
    jd : ndarray
        Mid-exposure JD (UTC), as observed.
    mag, mag_err : ndarray
        Magnitudes and errors (calibrated or differential).
    r, delta : ndarray or None
        Heliocentric and geocentric distances (au) at each point; None when
        not known (no correction is made).
    phase : ndarray or None
        Phase angle (deg) at each point.
    filter : str
        The filter.
    notes : tuple of str
        Where the geometry came from.
    zero_point_err : float
        Error (mag) of the session's calibration offset, common to all its
        points (a catalogue zero point's); 0 when not known.
    band : str
        The band the magnitudes are in (ALCDEF's MAGBAND): a calibrated
        curve's catalogue band, else its filter's own; empty when not known.
    differential : bool
        Whether the magnitudes are relative to comparison stars (ALCDEF's
        DIFFERMAGS), not on a catalogue's scale.
    """

    name: str
    jd: np.ndarray
    mag: np.ndarray
    mag_err: np.ndarray
    r: np.ndarray | None = None
    delta: np.ndarray | None = None
    phase: np.ndarray | None = None
    filter: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)
    zero_point_err: float = 0.0
    band: str = ""
    differential: bool = False

    def __post_init__(self) -> None:
        n = len(np.asarray(self.jd))
        for name in ("mag", "mag_err", "r", "delta", "phase"):
            value = getattr(self, name)
            if value is not None and len(np.asarray(value)) != n:
                raise ValueError(f"session {self.name}: {name} has {len(value)} points, jd {n}")

    @property
    def has_geometry(self) -> bool:
        return self.r is not None and self.delta is not None

    @property
    def light_time(self) -> np.ndarray:
        """Light time (days) at each point; zeros without geometry."""
        if self.delta is None:
            return np.zeros(len(self.jd))
        return np.asarray(self.delta, float) * LIGHT_TIME_DAYS_PER_AU

    @property
    def unit_distance(self) -> np.ndarray:
        """-5 log10(r delta) at each point: what reduces a magnitude to unit distances."""
        if not self.has_geometry:
            return np.zeros(len(self.jd))
        return -5.0 * np.log10(np.asarray(self.r, float) * np.asarray(self.delta, float))

    def corrected(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Light-time corrected times, reduced magnitudes and errors (finite points)."""
        t = np.asarray(self.jd, float) - self.light_time
        m = np.asarray(self.mag, float) + self.unit_distance
        e = np.asarray(self.mag_err, float)
        ok = np.isfinite(t) & np.isfinite(m) & np.isfinite(e) & (e > 0)
        return t[ok], m[ok], e[ok]


def session_from_table(table: Table, name: str = "", *, filter: str = "") -> Session:
    """A session from a light-curve table (``fluxion run`` or ``fluxion lightcurve``).

    Takes ``jd_utc`` (or ``jd``), ``mag`` and ``mag_err``; points without
    a finite magnitude or with ``flags`` set to 2**30 (not measured) are
    left out. ``r``, ``delta`` and ``phase`` columns, when present, are the
    geometry; ``meta['magnitude_scale_err']`` the calibration offset's error.

    Raises
    ------
    ValueError
        When a column is missing or fewer than three points are left.
    """
    cols = table.colnames
    time = "jd_utc" if "jd_utc" in cols else "jd" if "jd" in cols else None
    if time is None or "mag" not in cols or "mag_err" not in cols:
        raise ValueError(f"{name or 'the light curve'}: needs jd_utc (or jd), mag and mag_err")
    jd = np.asarray(table[time], float)
    mag: np.ndarray = np.asarray(np.ma.filled(np.ma.asarray(table["mag"], float), np.nan))
    err: np.ndarray = np.asarray(np.ma.filled(np.ma.asarray(table["mag_err"], float), np.nan))
    ok = np.isfinite(jd) & np.isfinite(mag) & np.isfinite(err) & (err > 0)
    if "flags" in cols:
        ok &= (np.asarray(table["flags"], np.int64) & (1 << 30)) == 0
    if ok.sum() < 3:
        raise ValueError(f"{name or 'the light curve'}: fewer than three measured points")

    def geometry(c: str) -> np.ndarray | None:
        return np.asarray(table[c], float)[ok] if c in cols else None

    return Session(
        name=name or str(table.meta.get("target", "session")), jd=jd[ok], mag=mag[ok],
        mag_err=err[ok], r=geometry("r"), delta=geometry("delta"), phase=geometry("phase"),
        filter=filter or str(table.meta.get("filter", "")),
        zero_point_err=_scale_err(table.meta.get("magnitude_scale_err")),
    )  # fmt: skip


def _scale_err(value) -> float:
    """The light curve's calibration offset error (mag), 0 when absent or not a number."""
    try:
        err = float(value)
    except (TypeError, ValueError):
        return 0.0
    return err if np.isfinite(err) and err > 0 else 0.0


def session_geometry(session: Session, ephemeris) -> Session:
    """``session`` with r, delta and phase interpolated from an ephemeris table.

    Parameters
    ----------
    ephemeris : Ephemeris
        :class:`fluxion.core.targets.ephemerides.Ephemeris` (JPL Horizons,
        cached), whose table has ``jd``, ``r``, ``delta``, ``phase``.

    Raises
    ------
    ValueError
        When the ephemeris does not cover the session or lacks the distances.
    """
    table = ephemeris.table
    t = np.asarray(table["jd"], float)
    jd = np.asarray(session.jd, float)
    if len(t) == 0 or jd.min() < t.min() - 1.0 / 24 or jd.max() > t.max() + 1.0 / 24:
        raise ValueError(f"session {session.name}: the ephemeris does not cover its times")
    values: dict[str, np.ndarray] = {}
    for c in ("r", "delta", "phase"):
        v = np.asarray(table[c], float)
        if not np.all(np.isfinite(v)):
            raise ValueError(f"session {session.name}: the ephemeris has no {c}")
        values[c] = np.interp(jd, t, v) if len(t) > 1 else np.full(len(jd), v[0])
    note = f"geometry from {ephemeris.source} ({ephemeris.name})"
    return replace(
        session,
        r=values["r"],
        delta=values["delta"],
        phase=values["phase"],
        notes=(*session.notes, note),
    )


def join_sessions(
    sessions: Sequence[Session],
    *,
    phase_reference: float | None = None,
    g: float = DEFAULT_G,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All sessions' corrected times, magnitudes, errors and session index, time-ordered.

    Parameters
    ----------
    phase_reference : float, optional
        Phase angle (deg) the magnitudes are reduced to with the H-G phase
        function of slope ``g``, as MPO Canopus does for sessions that share
        one zero point; None leaves the phase angle's effect to the zero points.

    Raises
    ------
    ValueError
        With ``phase_reference``, when a session has no phase angle.
    """
    parts = [s.corrected() for s in sessions]
    if phase_reference is not None:
        reduced = []
        for s, (t, m, e) in zip(sessions, parts, strict=True):
            if s.phase is None:
                raise ValueError(f"session {s.name}: no phase angle to reduce (no geometry)")
            t_all = np.asarray(s.jd, float) - s.light_time
            phase = np.interp(t, t_all, np.asarray(s.phase, float)) if len(t_all) > 1 else (
                np.full(len(t), float(np.asarray(s.phase)[0])))  # fmt: skip
            reduced.append((t, m + phase_correction(phase, phase_reference, g), e))
        parts = reduced
    t = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    m = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
    e = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0)
    k = (
        np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(parts)])
        if parts
        else np.zeros(0, int)
    )
    order = np.argsort(t, kind="stable")
    return t[order], m[order], e[order], k[order].astype(int)


def horizons_geometry(
    session: Session,
    target: str,
    *,
    observatory_code: str | None = None,
    site=None,
    cache_dir: str | None = None,
) -> Session:
    """``session`` with its geometry from JPL Horizons (cached; the cache serves offline).

    Raises
    ------
    fluxion.core.targets.ephemerides.EphemerisError
        When Horizons cannot answer and nothing is cached.
    """
    from astropy.time import Time

    from ..targets.ephemerides import horizons_ephemeris

    times = Time(np.asarray(session.jd, float), format="jd", scale="utc")
    eph = horizons_ephemeris(
        target, times, observatory_code=observatory_code, site=site, cache_dir=cache_dir,
        step_minutes=30,
    )  # fmt: skip
    return session_geometry(session, eph)
