"""Rotation period from a Fourier series with one zero point per session.

The model of the reduced magnitudes at light-time corrected times t is
(Harris et al. 1989, Icarus 77, 171, as MPO Canopus fits it)::

    m(t) = Z_s + sum_{k=1..K} a_k cos(2 pi k (t - t0) / P) + b_k sin(2 pi k (t - t0) / P)

with Z_s the zero point of the point's session. For a trial period the
model is linear in Z and (a, b): a weighted least-squares solve. The
period is searched on a frequency grid fine enough for the longest
baseline (a tenth of the width of a chi-square minimum, 1 / (K T)), the
minimum refined on a finer grid, its error taken where the chi-square,
scaled to a reduced chi-square of 1 at the minimum, rises by 1. The other
minima are the aliases: a gap of days between sessions lets the number of
rotations in the gap be miscounted by one (periods P' with
1/P' = 1/P +- n / gap), and a double-peaked curve fits at half or twice its
period; each alias's chi-square rise says how firmly it was beaten. The
order K is chosen by the Bayesian information criterion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import minimize_scalar

from ..runtime.pipeline import StepState
from .phase import DEFAULT_G
from .sessions import Session, join_sessions

__all__ = ["FourierFit", "PeriodResult", "fourier_fit", "period_search"]


@dataclass(frozen=True)
class FourierFit:
    """A Fourier series with session zero points fitted at one period.

    Attributes
    ----------
    period : float
        Days.
    order : int
        Harmonics K.
    t0 : float
        Time of zero phase.
    zero_points : ndarray
        Per session (mag).
    coefficients : ndarray
        a_1, b_1, ..., a_K, b_K.
    chi2 : float
    dof : int
    amplitude : float
        Peak-to-peak of the fitted curve (mag).
    """

    period: float
    order: int
    t0: float
    zero_points: np.ndarray
    coefficients: np.ndarray
    chi2: float
    dof: int
    amplitude: float

    def curve(self, phase: np.ndarray) -> np.ndarray:
        """The fitted light curve (about zero) at rotational phases 0-1."""
        x = 2 * np.pi * np.asarray(phase, float)
        out = np.zeros_like(x)
        for k in range(1, self.order + 1):
            a, b = self.coefficients[2 * k - 2], self.coefficients[2 * k - 1]
            out += a * np.cos(k * x) + b * np.sin(k * x)
        return out

    def phase(self, t: np.ndarray) -> np.ndarray:
        """Rotational phase (0-1) of times ``t``."""
        return ((np.asarray(t, float) - self.t0) / self.period) % 1.0


def _design(t: np.ndarray, session: np.ndarray, n_sessions: int, freq: float, order: int,
            t0: float) -> np.ndarray:  # fmt: skip
    x = 2 * np.pi * freq * (t - t0)
    cols = [(session == s).astype(float) for s in range(n_sessions)]
    for k in range(1, order + 1):
        cols += [np.cos(k * x), np.sin(k * x)]
    return np.column_stack(cols)


#: Floor (mag) of a session's zero-point prior width: a session whose calibration
#: error is not known is held to the shared zero point.
_ZP_SIGMA_FLOOR = 1e-4


def _solve(
    a: np.ndarray, m: np.ndarray, w: np.ndarray, zp_sigma: np.ndarray | None
) -> tuple[np.ndarray, float]:
    """Weighted least squares of the design; coefficients and chi-square.

    With ``zp_sigma`` (one per session, the first columns) the sessions' zero
    points are tied to one shared zero point within those widths: a Gaussian
    prior, added as one pseudo-row per session, on Z_s - Z (Z an extra
    column). The chi-square then includes the prior's terms.
    """
    if zp_sigma is None:
        aw = a * w[:, None]
        coef = np.linalg.lstsq(aw.T @ a, aw.T @ m, rcond=None)[0]
        return coef, float(np.sum(w * (m - a @ coef) ** 2))
    n_s = len(zp_sigma)
    full = np.column_stack([a, np.zeros(len(a))])
    prior = np.zeros((n_s, full.shape[1]))
    prior[np.arange(n_s), np.arange(n_s)] = 1.0 / zp_sigma
    prior[:, -1] = -1.0 / zp_sigma
    fw = full * w[:, None]
    coef = np.linalg.lstsq(fw.T @ full + prior.T @ prior, fw.T @ m, rcond=None)[0]
    chi2 = float(np.sum(w * (m - full @ coef) ** 2) + np.sum((prior @ coef) ** 2))
    return coef[:-1], chi2


def _chi2_at(t, m, w, session, n_s, freq, order, t0, zp_sigma=None) -> float:
    return _solve(_design(t, session, n_s, freq, order, t0), m, w, zp_sigma)[1]


def fourier_fit(
    t: np.ndarray,
    mag: np.ndarray,
    err: np.ndarray,
    session: np.ndarray,
    period: float,
    order: int = 4,
    t0: float | None = None,
    zero_point_sigma: np.ndarray | None = None,
) -> FourierFit:
    """Fit the Fourier series with session zero points at ``period`` (days).

    ``zero_point_sigma`` (mag, one per session) ties the sessions' zero points
    to a shared one within those widths (their calibration errors); None
    leaves each session's free.
    """
    t, mag, err = (np.asarray(v, float) for v in (t, mag, err))
    session = np.asarray(session, int)
    n_s = int(session.max()) + 1 if len(session) else 0
    t0 = float(np.min(t)) if t0 is None else float(t0)
    if zero_point_sigma is not None:
        n_s = len(zero_point_sigma)
    a = _design(t, session, n_s, 1.0 / period, order, t0)
    w = 1.0 / err**2
    coef, chi2 = _solve(a, mag, w, zero_point_sigma)
    # Tied zero points: one shared level, the prior's rows balance the others.
    dof = len(t) - a.shape[1] - (1 - n_s if zero_point_sigma is not None else 0)
    fit = FourierFit(period, order, t0, coef[:n_s], coef[n_s:], chi2, dof, 0.0)
    curve = fit.curve(np.linspace(0, 1, 721))
    return FourierFit(period, order, t0, coef[:n_s], coef[n_s:], chi2, fit.dof,
                      float(np.ptp(curve)))  # fmt: skip


@dataclass(frozen=True)
class PeriodResult:
    """The period search's answer.

    Attributes
    ----------
    period, period_err : float
        Best period and its 1-sigma error (hours).
    fit : FourierFit
        The fit at the best period (days inside).
    periods : ndarray
        The trial periods (hours), increasing.
    chi2 : ndarray
        Chi-square at each trial period (for the periodogram plot).
    aliases : list of dict
        Other minima: ``period`` (h), ``delta_chi2`` (scaled: how much worse
        than the best), ``kind`` ('cycle count' across a gap, 'half' or
        'double' the period, 'other').
    order : int
        Harmonics chosen.
    reduced_chi2 : float
        At the best period.
    notes : list of str
    tied : bool
        One zero point shared by every session.
    phase_reference : float or None
        Phase angle (deg) the magnitudes were reduced to (slope ``g``), if any.
    g : float
    """

    period: float
    period_err: float
    fit: FourierFit
    periods: np.ndarray
    chi2: np.ndarray
    aliases: list[dict]
    order: int
    reduced_chi2: float
    notes: list[str] = field(default_factory=list)
    tied: bool = False
    phase_reference: float | None = None
    g: float = DEFAULT_G


def _maxima(fit: FourierFit) -> int:
    """Maxima per cycle of the fitted curve that stand out by a tenth of its amplitude."""
    y = fit.curve(np.linspace(0.0, 1.0, 720, endpoint=False))
    peaks = np.flatnonzero((y > np.roll(y, 1)) & (y >= np.roll(y, -1)))
    if len(peaks) <= 1:
        return len(peaks)
    # A maximum counts when the curve falls by a tenth of its amplitude
    # before the next one.
    count = 0
    for n, k in enumerate(peaks):
        nxt = peaks[(n + 1) % len(peaks)]
        seg = y[k:nxt] if nxt > k else np.concatenate([y[k:], y[:nxt]])
        if len(seg) and y[k] - seg.min() >= 0.1 * fit.amplitude:
            count += 1
    return max(count, 1)


def _minima(chi2: np.ndarray) -> np.ndarray:
    inner = (chi2[1:-1] < chi2[:-2]) & (chi2[1:-1] <= chi2[2:])
    return np.flatnonzero(inner) + 1


def _scan(t, m, w, session, n_s, freqs, order, t0, state, zp_sigma=None) -> np.ndarray:
    out = np.empty(len(freqs))
    for i, f in enumerate(freqs):
        if i % 200 == 0:
            state.check()
        out[i] = _chi2_at(t, m, w, session, n_s, f, order, t0, zp_sigma)
    return out


def _refine(t, m, w, session, n_s, f, step, order, t0, zp_sigma=None) -> tuple[float, float]:
    """The minimum within one grid step of ``f``, to far below the period's error.

    A grid alone would quantise the period at a fraction of the step, which
    for a long baseline is comparable to the error itself; Brent's method
    (scipy) on the bracket of the grid minimum is not limited so.
    """
    res = minimize_scalar(
        lambda x: _chi2_at(t, m, w, session, n_s, x, order, t0, zp_sigma),
        bounds=(f - step, f + step), method="bounded", options={"xatol": 1e-6 * step},
    )  # fmt: skip
    return float(res.x), float(res.fun)


def period_search(
    sessions: Sequence[Session],
    min_period_h: float,
    max_period_h: float,
    *,
    orders: Sequence[int] = (2, 3, 4, 5, 6),
    n_aliases: int = 5,
    bimodal_amplitude: float = 0.2,
    tie_zero_points: bool = False,
    phase_reference: float | None = None,
    g: float = DEFAULT_G,
    state: StepState | None = None,
) -> PeriodResult:
    """The rotation period of the joined sessions.

    Parameters
    ----------
    sessions : sequence of Session
        Corrected for light time and distances when their geometry is known.
    min_period_h, max_period_h : float
        The range searched (hours).
    orders : sequence of int
        Harmonic orders tried; the one with the smallest BIC at its best period is kept.
    n_aliases : int
        Other minima listed.
    bimodal_amplitude : float
        A best fit with one maximum per cycle and at least this amplitude
        (mag) is taken at twice its period: an elongated body shows two
        maxima per rotation, and a single-peaked curve of that amplitude is
        implausible (Harris et al. 2014, Icarus 235, 55); the single-peaked
        period stays among the aliases. 0 never doubles.
    tie_zero_points : bool
        One zero point for every session (magnitudes calibrated on one
        scale, MPO Canopus' locked zero points): the nights' mean levels then
        constrain the fit too. Reduce them to one phase angle with it. A
        session whose ``zero_point_err`` is known (its catalogue offset's
        error) keeps its own zero point, tied to the shared one within that
        error, so a night calibrated a little off does not bend the period.
    phase_reference : float, optional
        Phase angle (deg) every magnitude is reduced to with the H-G phase
        function of slope ``g`` (the sessions need their geometry).
    g : float
    state : StepState, optional

    Raises
    ------
    ValueError
        With fewer points than the model has terms, or an empty range.
    """
    state = state if state is not None else StepState()
    if not 0 < min_period_h < max_period_h:
        raise ValueError(f"period range {min_period_h}-{max_period_h} h is empty")
    t, m, e, session = join_sessions(sessions, phase_reference=phase_reference, g=g)
    n_s = len(sessions)
    zp: np.ndarray | None = None  # zero-point prior widths when tied within errors
    zp_errs = np.array([s.zero_point_err for s in sessions], dtype=float)
    if tie_zero_points and np.any(zp_errs > 0):
        zp = np.maximum(zp_errs, _ZP_SIGMA_FLOOR)
    elif tie_zero_points:
        session, n_s = np.zeros_like(session), 1
    n_zp = 1 if tie_zero_points else n_s  # zero points the data pay for
    if len(t) < n_zp + 2 * min(orders) + 3:
        raise ValueError(f"{len(t)} points cannot carry {n_zp} zero points and the harmonics")
    w = 1.0 / e**2
    t0 = float(np.min(t))
    span = float(np.ptp(t))
    f_lo, f_hi = 24.0 / max_period_h, 24.0 / min_period_h
    best: tuple[float, int, np.ndarray, np.ndarray, float] | None = None
    notes: list[str] = []
    bare = [s.name for s in sessions if not s.has_geometry]
    if bare and len(bare) < len(sessions):
        # Light time differs between nights by minutes: corrected and
        # uncorrected times mixed shift the rotation's phase between sessions.
        notes.append("no geometry (no light-time correction) for " + ", ".join(bare)
                     + ": their times are not on the others' scale")  # fmt: skip
    usable = [k for k in orders if len(t) > n_zp + 2 * k + 2]
    for n, order in enumerate(usable):
        step = 1.0 / (10.0 * order * max(span, 1e-3))
        freqs = np.arange(f_lo, f_hi + step, step)
        sub = state.sub(n / len(usable), (n + 1) / len(usable))
        chi2 = _scan(t, m, w, session, n_s, freqs, order, t0, sub, zp)
        k = int(np.argmin(chi2))
        f_best, c_best = _refine(t, m, w, session, n_s, freqs[k], step, order, t0, zp)
        bic = c_best + (n_zp + 2 * order) * np.log(len(t))
        if best is None or bic < best[4]:
            best = (f_best, order, freqs, chi2, bic)
    if best is None:
        raise ValueError("too few points for any harmonic order")
    f_best, order, freqs, chi2, _ = best
    fit = fourier_fit(t, m, e, session, 1.0 / f_best, order, t0, zp)
    doubled = None
    if bimodal_amplitude > 0 and fit.amplitude >= bimodal_amplitude and _maxima(fit) == 1:
        doubled = (24.0 / f_best, fit.amplitude)
        f_best, order = f_best / 2.0, min(2 * order, max(orders) * 2)
        step = 1.0 / (10.0 * order * max(span, 1e-3))
        f_best, _ = _refine(t, m, w, session, n_s, f_best, step, order, t0, zp)
        fit = fourier_fit(t, m, e, session, 1.0 / f_best, order, t0, zp)
    red = fit.chi2 / max(fit.dof, 1)
    scale = max(red, 1.0)
    if zp is not None:
        notes.append(
            "one zero point for every session, each session's within its "
            f"calibration error ({', '.join(f'{z:.3f}' for z in zp_errs)} mag)"
        )
    elif tie_zero_points:
        notes.append("one zero point for every session")
    if phase_reference is not None:
        notes.append(f"magnitudes reduced to phase angle {phase_reference:.2f} deg (H-G, G = {g})")
    # Error where the scaled chi-square rises by 1: a parabola through the minimum.
    h = 1.0 / (20.0 * order * max(span, 1e-3))
    c_m = _chi2_at(t, m, w, session, n_s, f_best - h, order, t0, zp)
    c_p = _chi2_at(t, m, w, session, n_s, f_best + h, order, t0, zp)
    curvature = (c_m + c_p - 2 * fit.chi2) / h**2
    sigma_f = np.sqrt(2.0 * scale / curvature) if curvature > 0 else np.inf
    period_h = 24.0 / f_best
    period_err_h = 24.0 * sigma_f / f_best**2
    aliases = _aliases(freqs, chi2, f_best, fit.chi2, scale, n_aliases, sessions)
    for extra, kind in ((2.0, "double"), (0.5, "half")):
        f_x = f_best / extra
        if f_lo <= f_x <= f_hi:
            continue  # already in the scan, listed above if a minimum
        c_x = _chi2_at(t, m, w, session, n_s, f_x, order, t0, zp)
        aliases.append({"period": 24.0 / f_x, "delta_chi2": (c_x - fit.chi2) / scale,
                        "kind": kind})  # fmt: skip
    if doubled is not None:
        c_half = _chi2_at(t, m, w, session, n_s, 2.0 * f_best, max(order // 2, 1), t0, zp)
        aliases.insert(0, {"period": doubled[0], "delta_chi2": (c_half - fit.chi2) / scale,
                           "kind": "half (single-peaked)"})  # fmt: skip
        notes.append(
            f"the best fit at {doubled[0]:.4f} h has one maximum per cycle and "
            f"{doubled[1]:.2f} mag amplitude: taken at twice that period (a double-peaked "
            "curve, as an elongated body gives)"
        )
    close = [a for a in aliases if a["delta_chi2"] < 9.0]
    if close:
        notes.append(
            "ambiguous: " + ", ".join(f"{a['period']:.4f} h ({a['kind']}, "
                                      f"delta chi2 {a['delta_chi2']:.1f})" for a in close)
        )  # fmt: skip
    if red > 2.0:
        notes.append(f"reduced chi-square {red:.1f}: the errors understate the scatter")
    state.progress(1.0, f"P = {period_h:.5f} +/- {period_err_h:.5f} h")
    if tie_zero_points and zp is None:  # one zero point, listed for every session
        fit = replace(fit, zero_points=np.full(len(sessions), fit.zero_points[0]))
    return PeriodResult(period_h, period_err_h, fit, 24.0 / freqs[::-1], chi2[::-1], aliases,
                        order, red, notes, tie_zero_points, phase_reference, g)  # fmt: skip


def _aliases(freqs, chi2, f_best, chi2_best, scale, n, sessions) -> list[dict]:
    """The deepest other minima, named by what makes them."""
    idx = _minima(chi2)
    idx = idx[np.abs(freqs[idx] - f_best) > 0.5 * (freqs[1] - freqs[0]) * 5]
    idx = idx[np.argsort(chi2[idx])][:n]
    gaps = _gaps(sessions)
    out = []
    for i in idx:
        f = float(freqs[i])
        kind = "other"
        ratio = f_best / f
        if abs(ratio - 2.0) < 0.02:
            kind = "double"
        elif abs(ratio - 0.5) < 0.01:
            kind = "half"
        else:
            for gap in gaps:
                cycles = abs(f - f_best) * gap
                if abs(cycles - round(cycles)) < 0.15 and round(cycles) >= 1:
                    kind = f"cycle count ({int(round(cycles)):+d} over {gap:.1f} d)"
                    break
        out.append({"period": 24.0 / f, "delta_chi2": float((chi2[i] - chi2_best) / scale),
                    "kind": kind})  # fmt: skip
    return out


def _gaps(sessions: Sequence[Session]) -> list[float]:
    """Days between the middles of consecutive sessions (longest first)."""
    mids = sorted(float(np.mean(s.jd)) for s in sessions if len(s.jd))
    return sorted((b - a for a, b in zip(mids[:-1], mids[1:], strict=True)), reverse=True)
