"""What a period search leaves: the result as JSON, the phased light curve, ALCDEF.

ALCDEF sessions are written with the corrections made, said in their
metadata: times corrected by the session's mean light time
(``LTCAPP=AVERAGE``, ``LTCDAYS``), magnitudes reduced to unit distances by its
mean -5 log10(r delta) (``REDUCEDMAGS=AVERAGE``, ``UCORMAG``), and its mean
phase angle (``PHASE``); a session without geometry is written as observed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..io.fitsio import atomic_write_ecsv, atomic_write_text
from ..reports.alcdef import AlcdefSession, format_alcdef
from .fourier import PeriodResult
from .sessions import Session, join_sessions

__all__ = ["period_summary", "phased_table", "rotation_alcdef", "write_period_outputs"]


def period_summary(result: PeriodResult, sessions: Sequence[Session]) -> dict:
    """The result as plain data (what ``period.json`` holds)."""
    fit = result.fit
    return {
        "period_h": result.period,
        # JSON has no infinity: an unbounded error (a flat chi-square) is null.
        "period_err_h": result.period_err if np.isfinite(result.period_err) else None,
        "amplitude_mag": fit.amplitude,
        "fourier_order": result.order,
        "reduced_chi2": result.reduced_chi2,
        "t0_jd": fit.t0,
        "zero_points_tied": result.tied,
        "phase_reference_deg": result.phase_reference,
        "phase_slope_g": result.g if result.phase_reference is not None else None,
        "aliases": [
            {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in a.items()}
            for a in result.aliases
        ],
        "sessions": [
            {
                "name": s.name,
                "points": int(len(s.jd)),
                "zero_point": float(z),
                "light_time_days": float(np.mean(s.light_time)) if s.has_geometry else None,
                "unit_distance_mag": float(np.mean(s.unit_distance)) if s.has_geometry else None,
                "phase_deg": float(np.mean(s.phase)) if s.phase is not None else None,
                "notes": list(s.notes),
            }
            for s, z in zip(sessions, fit.zero_points, strict=True)
        ],  # fmt: skip
        "notes": list(result.notes),
    }


def phased_table(result: PeriodResult, sessions: Sequence[Session]) -> Table:
    """Every point: session, corrected time, rotational phase, reduced magnitude, model."""
    t, m, e, k = join_sessions(sessions, phase_reference=result.phase_reference, g=result.g)
    fit = result.fit
    out = Table()
    out["session"] = np.array([sessions[i].name for i in k], dtype=str)
    out["jd_corrected"] = t
    out["phase"] = fit.phase(t)
    out["mag_reduced"] = m
    out["mag_err"] = e
    out["mag_aligned"] = m - fit.zero_points[k]
    out["model"] = fit.curve(fit.phase(t))
    out.meta["period_h"] = result.period
    return out


def rotation_alcdef(sessions: Sequence[Session], metadata: AlcdefSession) -> str:
    """ALCDEF text of the sessions with their corrections applied and said."""
    parts = []
    for s in sessions:
        jd = np.asarray(s.jd, float)
        mag = np.asarray(s.mag, float)
        meta = replace(
            metadata, filter=s.filter or metadata.filter, magband=s.band or metadata.magband,
            differential=s.differential or metadata.differential,
        )  # fmt: skip
        if s.has_geometry:
            ltc = -float(np.mean(s.light_time))
            ucor = float(np.mean(s.unit_distance))
            phase = float(np.mean(s.phase)) if s.phase is not None else None
            meta = replace(meta, light_time_days=ltc, unit_distance_mag=ucor, phase_angle=phase)
            jd, mag = jd + ltc, mag + ucor
        parts.append(format_alcdef(meta, jd, mag, np.asarray(s.mag_err, float)))
    return "".join(parts)


def write_period_outputs(
    out: str | os.PathLike[str],
    result: PeriodResult,
    sessions: Sequence[Session],
    alcdef: AlcdefSession | None = None,
) -> dict[str, Path]:
    """Write ``period.json``, ``phased.ecsv`` and, with metadata, ``alcdef.txt`` into ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "summary": atomic_write_text(
            folder / "period.json", json.dumps(period_summary(result, sessions), indent=1)
        ),
        "phased": atomic_write_ecsv(folder / "phased.ecsv", phased_table(result, sessions)),
    }
    if alcdef is not None:
        paths["alcdef"] = atomic_write_text(
            folder / "alcdef.txt", rotation_alcdef(sessions, alcdef), encoding="ascii"
        )
    return paths
