"""What a night's data allow: Cramer-Rao errors of the quantities a lesson asks for.

Each error is the Fisher-matrix bound for a fit of the true model to the
night's own lights: their times, the target's noise in each (its S/N in an
aperture of one FWHM) and the nuisance parameters any honest fit must carry
(a baseline and its trend with airmass; for a transit its duration and
ingress too). A textbook formula (Carter et al. 2008 for a mid-time) assumes
the shape known and gives errors about half as large as a real fit's; the
bound with the nuisances is what a careful student's fit can reach.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..simulation import variables as _var
from .truth import NightTruth

__all__ = ["fisher_errors", "expected_errors"]


def fisher_errors(
    model: Callable[[np.ndarray], np.ndarray],
    params: np.ndarray,
    steps: np.ndarray,
    sigma: np.ndarray,
) -> np.ndarray:
    """1-sigma errors of ``params`` from the Fisher matrix of ``model`` with noise ``sigma``.

    ``model(p)`` gives the expected data for parameters ``p``; its derivatives
    are central differences with ``steps``.
    """
    params = np.asarray(params, float)
    cols = []
    for k, h in enumerate(steps):
        up, down = params.copy(), params.copy()
        up[k] += h
        down[k] -= h
        cols.append((model(up) - model(down)) / (2.0 * h))
    j = np.column_stack(cols) / sigma[:, None]
    fisher = j.T @ j
    try:
        cov = np.linalg.inv(fisher)
    except np.linalg.LinAlgError:
        return np.full(len(params), np.inf)
    return np.sqrt(np.clip(np.diag(cov), 0.0, None))


def _sigma_flux(truth: NightTruth, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices, relative flux error) of the lights where the source is measured."""
    t = truth.target(kind) or {}
    snr = np.array([np.nan if v is None else v for v in t.get("snr", [])], float)
    ok = np.flatnonzero(np.isfinite(snr) & (snr > 0))
    return ok, 1.0 / snr[ok]


def expected_errors(truth: NightTruth, kind: str) -> dict[str, float]:
    """Errors the night allows on the facts of the source of ``kind``, by answer name."""
    c = truth.config
    night = truth.night
    rows, sigma = _sigma_flux(truth, kind)
    if len(rows) < 4:
        return {}
    jd = np.asarray(night.times.jd)[rows]
    x = np.asarray(night.airmass)[rows] - 1.0

    def trend(p: np.ndarray, flux: np.ndarray) -> np.ndarray:
        return flux * (1.0 + p[-2] + p[-1] * x)

    if kind == "transit":
        t = truth.require_target("transit")
        ld = (c.transit_u1, c.transit_u2)

        def model(p):
            f = _var.transit_relative_flux(jd, p[0], p[2], p[3], p[1], ld, c.transit_period)
            return trend(p, f)

        p0 = [t["mid_jd"], t["depth"], c.transit_duration / 1440, c.transit_ingress / 1440, 0, 0]
        steps = [1e-4, 1e-4, 1e-4, 2e-5, 1e-4, 1e-4]
        err = fisher_errors(model, np.array(p0), np.array(steps), sigma)
        return {"transit_mid_bjd": float(err[0]), "transit_depth": float(err[1])}
    if kind == "eclipsing":
        t = truth.require_target("eclipsing")
        period, half = t["period_d"], t["duration_min"] / 2880.0
        # The period shows in one night only when a primary and a secondary are
        # both in it; otherwise it and the secondary's depth stay fixed.
        seen = [
            bool(np.any(np.abs(jd - m) < half))
            for m in (t["min_jd"], t["min_jd"] - period / 2, t["min_jd"] + period / 2)
        ]
        both = seen[0] and (seen[1] or seen[2])

        def model(p):
            per, sec = (p[3], p[4]) if both else (period, t["secondary_depth"])
            f = _var.eclipsing_relative_flux(jd, p[0], per, p[1], sec, p[2])
            return trend(p, f)

        p0 = [t["min_jd"], t["depth"], t["duration_min"] / 1440]
        p0 += [period, t["secondary_depth"]] if both else []
        p0 += [0.0, 0.0]
        err = fisher_errors(model, np.array(p0), np.full(len(p0), 1e-4), sigma)
        out = {"eclipse_min_bjd": float(err[0])} if seen[0] else {}
        if both:
            out["eclipsing_period_d"] = float(err[3])
        return out
    if kind == "asteroid":
        t = truth.require_target("asteroid")

        def model(p):
            mag = _var.rotation_magnitude_offset(jd, p[0], p[1], p[2])
            return trend(p, 10 ** (-0.4 * mag))

        period_d = t["period_h"] / 24.0
        p0 = [t["rotation_t0_jd"], period_d, t["amplitude_mag"], 0, 0]
        steps = [1e-4, 1e-5, 1e-3, 1e-4, 1e-4]
        err = fisher_errors(model, np.array(p0), np.array(steps), sigma)
        return {"asteroid_period_h": float(err[1] * 24.0), "asteroid_amplitude_mag": float(err[2])}
    return {}
