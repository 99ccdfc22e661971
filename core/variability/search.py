"""Every star of a field ranked by how much it varies: the variability table.

A star's light curve scatters by its noise (photon, sky, read noise,
scintillation: the errors the photometry and magnitude fitting give) and,
on a real night, by what the errors leave out, which stars of the same
brightness share. Each star's chi-square about its mean is therefore taken
in units of its peers' (the running median of the reduced chi-square over
the stars nearest in magnitude, never below 1), and its false-alarm
probability is the chi-square distribution's tail at that value. A star is
a candidate when that probability, times the number of stars searched, is
below the night's false-alarm budget (so a night of constant stars gives a
candidate with about that probability), and its variation lasts longer than
one frame (Stetson's J > 0; a cosmic ray on one point does not). Candidates
get a Lomb-Scargle period when a peak is significant and the night covers
at least one and a half cycles of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.stats import chi2 as chi2_dist

from ..field.data import FieldData
from ..field.noise import MAG_PER_LN
from ..field.stats import column_median, expected_rms, flux_rms, peer_median
from ..runtime.params import param
from ..runtime.pipeline import StepState
from .indices import reduced_chi2, stetson_j, weighted_mean
from .periods import periodogram

__all__ = ["VARIABILITY_COLUMNS", "VariabilityParams", "variability_table"]

#: Columns of ``variability.ecsv``, in order (more follow).
VARIABILITY_COLUMNS = (
    "star_id", "ra", "dec", "x", "y", "mean_mag", "rms", "expected_rms", "index", "period_h",
    "known_variable", "candidate",
)  # fmt: skip

_LN10 = np.log(10.0)


@dataclass(frozen=True)
class VariabilityParams:
    """How candidates are chosen."""

    false_alarm: float = param(
        0.01, label="False alarms per night", minimum=1e-6, maximum=1.0,
        help="Chance that a night of constant stars gives a candidate.",
    )  # fmt: skip
    min_coverage: float = param(
        0.5, label="Fewest frames", minimum=0.05, maximum=1.0,
        help="A star must be measured in this fraction of the frames to be searched.",
    )  # fmt: skip
    period_false_alarm: float = param(
        1e-3, label="Period false alarm", minimum=1e-9, maximum=0.5,
        help="A candidate's periodogram peak must be less likely than this from noise.",
    )  # fmt: skip
    blend_limit: float = param(
        0.05, label="Blend limit", minimum=0.0, maximum=10.0,
        help="A star with more than this fraction of its light from neighbours is judged "
        "on its detrended light curve only.",
    )  # fmt: skip
    min_cycles: float = param(
        1.5, label="Fewest cycles", minimum=0.5, maximum=10.0,
        help="A period is given only when the night covers this many cycles of it.",
    )  # fmt: skip


def _peer_scale(mean: np.ndarray, chi2: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The running median reduced chi-square of each star's peers in magnitude (>= 1)."""
    out = np.ones(len(mean))
    ok = ok & np.isfinite(mean) & np.isfinite(chi2)
    if ok.sum() < 5:
        return out
    out[ok] = np.maximum(peer_median(mean, chi2, ok)[ok], 1.0)
    return out


def _relative_flux(
    mag: np.ndarray, err: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Flux relative to the star's median, and its error.

    A precise point's magnitude error is relative to its own flux, an
    imprecise one's to the star's typical flux
    (:meth:`~fluxion.core.field.data.FieldData.instrumental_mag`).
    """
    centre = column_median(np.where(ok, mag, np.nan))
    with np.errstate(invalid="ignore", over="ignore"):
        rel = np.where(ok, 10 ** (-0.4 * (mag - centre)), np.nan)
        rel_err = err / MAG_PER_LN * np.where(err < 0.1, rel, 1.0)
    return rel, rel_err


def _isolated_outliers(rel: np.ndarray, err: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Points far off (5 sigma) whose neighbours in time are not (under 3 sigma).

    A cosmic ray or a satellite in one frame is not a variable star; a
    variation of the star lasts longer than one exposure.
    """
    out = np.zeros(ok.shape, bool)
    mean = weighted_mean(rel, err, ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.abs(np.where(ok, (rel - mean) / err, 0.0))
    for j in np.flatnonzero((z > 5.0).any(axis=0)):
        rows = np.flatnonzero(ok[:, j])
        zz = z[rows, j]
        before = np.concatenate([[0.0], zz[:-1]])
        after = np.concatenate([zz[1:], [0.0]])
        out[rows[(zz > 5.0) & (before < 3.0) & (after < 3.0)], j] = True
    return out


def _significance(
    mag: np.ndarray,
    err: np.ndarray,
    ok: np.ndarray,
    terms: np.ndarray,
    mean: np.ndarray,
    searched: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reduced chi-square, -log10 false-alarm probability and Stetson's J of each star."""
    # The indices are taken on relative flux: the magnitude of a faint star's
    # noisy flux has a long tail (toward zero flux) that noise alone fills.
    rel, rel_err = _relative_flux(mag, err, ok)
    ok = ok & ~_isolated_outliers(rel, rel_err, ok)
    n = ok.sum(axis=0)
    dof = np.maximum(n - 1 - terms, 1)
    chi2 = reduced_chi2(rel, rel_err, ok) * np.maximum(n - 1, 1) / dof
    scale = _peer_scale(mean, chi2, searched)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = chi2 / scale * dof
        log_p = chi2_dist.logsf(x, dof)
        # Far in the tail the survival function underflows even in logs; its
        # density there is within a few e-folds of it.
        log_p = np.where(np.isfinite(log_p), log_p, chi2_dist.logpdf(x, dof))
    index = np.where(searched, -log_p / _LN10, np.nan)
    return chi2, index, stetson_j(rel, rel_err, ok)


def variability_table(
    data: FieldData,
    mag: np.ndarray,
    mag_err: np.ndarray,
    params: VariabilityParams | None = None,
    *,
    ok: np.ndarray | None = None,
    detrended: np.ndarray | None = None,
    fitted_terms: np.ndarray | None = None,
    contamination: np.ndarray | None = None,
    known: Sequence[str] | None = None,
    times: np.ndarray | None = None,
    state: StepState | None = None,
) -> Table:
    """The variability table of a night's field light curves, most variable first.

    Parameters
    ----------
    data : FieldData
        The night (star list, positions).
    mag, mag_err : ndarray (n_frames, n_stars)
        The magnitude-fitted light curves and their errors.
    params : VariabilityParams, optional
    ok : ndarray of bool, optional
        Points to use (default: clean points with finite magnitudes).
    detrended : ndarray (n_frames, n_stars), optional
        The same light curves after EPD/TFA. Both are searched and the more
        significant kept (the false-alarm probability doubled for the two
        trials): detrending reveals a variable that systematics hid, and
        takes part of a variation it does not know (a transit), which the
        fitted light curve keeps.
    fitted_terms : ndarray of int (n_stars,), optional
        Terms the detrending fitted to each star (their degrees of freedom are
        taken from its chi-square and rms).
    contamination : ndarray (n_stars,), optional
        Neighbours' light in each star's aperture over its own
        (:func:`~fluxion.core.field.blends.contamination`); a star above
        ``blend_limit`` is judged on its detrended light curve alone, which
        takes out what its neighbour's light does with the seeing.
    known : sequence of str, optional
        Per star, the name of a known variable there ('' for none).
    times : ndarray (n_frames, n_stars) or (n_frames,), optional
        Times for the periodogram (days; default the frames' JD).
    state : StepState, optional

    Returns
    -------
    Table
        :data:`VARIABILITY_COLUMNS`, then ``chi2_red``, ``stetson_j``,
        ``false_alarm``, ``n_points``, ``rms_fitted`` (before detrending),
        ``searched_in`` ('fitted' or 'detrended'), ``period_false_alarm``,
        ``amplitude``; sorted by ``index`` (-log10 of the false-alarm
        probability), largest first. ``rms`` is the final light curve's
        (detrended when given, its degrees of freedom counted).
    """
    p = params or VariabilityParams()
    state = state if state is not None else StepState()
    n_f, n_s = mag.shape
    if ok is None:
        with np.errstate(invalid="ignore"):
            ok = data.good & np.isfinite(mag) & np.isfinite(mag_err) & (mag_err > 0)
    terms = np.zeros(n_s, int) if fitted_terms is None else np.asarray(fitted_terms, int)
    n = ok.sum(axis=0)
    searched = n >= max(p.min_coverage * n_f, 5)
    mean = weighted_mean(mag, mag_err, ok)
    expected = expected_rms(mag_err, ok)
    rms_fitted = flux_rms(mag, ok)
    chi2, index, j_index = _significance(mag, mag_err, ok, np.zeros(n_s, int), mean, searched)
    source = np.full(n_s, "fitted", dtype="U9")
    final = mag
    rms = rms_fitted
    if detrended is not None:
        rms = flux_rms(detrended, ok, ddof=1 + terms)
        chi2_d, index_d, j_d = _significance(detrended, mag_err, ok, terms, mean, searched)
        better = np.nan_to_num(index_d, nan=-np.inf) > np.nan_to_num(index, nan=-np.inf)
        if contamination is not None:
            better |= np.asarray(contamination, float) > p.blend_limit
        chi2 = np.where(better, chi2_d, chi2)
        j_index = np.where(better, j_d, j_index)
        source[better] = "detrended"
        final = np.where(better[None, :], detrended, mag)
        index = np.where(better, index_d, index) - np.log10(2.0)
        index = np.where(searched, index, np.nan)
    n_searched = max(int(searched.sum()), 1)
    threshold = -np.log10(p.false_alarm / n_searched)
    candidate = searched & (index > threshold) & (j_index > 0)
    period_h = np.full(n_s, np.nan)
    period_fap = np.full(n_s, np.nan)
    amplitude = np.full(n_s, np.nan)
    t_all = data.jd[:, None] if times is None else np.asarray(times, float)
    t_all = np.broadcast_to(t_all if t_all.ndim == 2 else t_all[:, None], mag.shape)
    span = float(np.ptp(data.jd)) if n_f else 0.0
    for count, j in enumerate(np.flatnonzero(candidate)):
        state.check()
        state.progress(count / max(int(candidate.sum()), 1), "periods")
        rows = ok[:, j]
        pg = periodogram(t_all[rows, j], final[rows, j], mag_err[rows, j])
        period_fap[j], amplitude[j] = pg.false_alarm, pg.amplitude
        if pg.false_alarm < p.period_false_alarm and pg.best_period * p.min_cycles <= span:
            period_h[j] = pg.best_period * 24.0
    x, y = column_median(data.x), column_median(data.y)
    out = Table()
    out["star_id"] = data.star_id
    out["ra"] = data.star_column("ra")
    out["dec"] = data.star_column("dec")
    out["x"] = x
    out["y"] = y
    out["mean_mag"] = mean
    out["rms"] = rms
    out["expected_rms"] = expected
    out["index"] = index
    out["period_h"] = period_h
    names = [""] * n_s if known is None else [str(k or "") for k in known]
    out["known_variable"] = np.array(names, dtype=str) if n_s else np.zeros(0, dtype=str)
    out["candidate"] = candidate
    out["chi2_red"] = chi2
    out["stetson_j"] = j_index
    out["false_alarm"] = np.where(searched, 10.0 ** (-np.nan_to_num(index, nan=0.0)), np.nan)
    out["n_points"] = n
    out["rms_fitted"] = rms_fitted
    out["searched_in"] = source
    out["contamination"] = (
        np.asarray(contamination, float) if contamination is not None else np.zeros(n_s)
    )
    out["period_false_alarm"] = period_fap
    out["amplitude"] = amplitude
    for c in ("mean_mag", "rms", "expected_rms", "amplitude", "rms_fitted"):
        out[c].unit = "mag"
    for c in ("x", "y"):
        out[c].unit = "pix"
    out["ra"].unit = out["dec"].unit = "deg"
    out["period_h"].unit = "h"
    out.meta["candidate_index"] = float(threshold)
    out.meta["false_alarm"] = p.false_alarm
    out.meta["searched"] = int(searched.sum())
    order = np.argsort(np.where(np.isfinite(index), -index, np.inf), kind="stable")
    state.progress(1.0, f"{int(candidate.sum())} candidates of {int(searched.sum())} stars")
    return out[order]
