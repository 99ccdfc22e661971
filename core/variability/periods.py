"""A light curve's periodogram, its best period with a false-alarm probability, folding.

The periodogram is astropy's generalised Lomb-Scargle (floating mean, errors
as weights) with its false-alarm probability from Baluev (2008), the
analytic bound astropy gives; periods are searched from twice the median
cadence up to the time span (a period longer than the night is not one that
the night shows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.timeseries import LombScargle

__all__ = ["Periodogram", "fold", "periodogram"]


@dataclass(frozen=True)
class Periodogram:
    """A periodogram and its highest peak.

    Attributes
    ----------
    period : ndarray
        Periods (days), in increasing frequency order.
    power : ndarray
        Normalised Lomb-Scargle power.
    best_period : float
        Period of the highest peak (days); NaN when there are too few points.
    false_alarm : float
        Probability that noise alone gives a peak this high (Baluev 2008).
    amplitude : float
        Peak-to-peak amplitude (mag) of the best sine.
    """

    period: np.ndarray
    power: np.ndarray
    best_period: float
    false_alarm: float
    amplitude: float


def periodogram(
    t: np.ndarray,
    mag: np.ndarray,
    err: np.ndarray | None = None,
    *,
    min_period: float | None = None,
    max_period: float | None = None,
    samples_per_peak: int = 10,
) -> Periodogram:
    """Lomb-Scargle periodogram of a light curve (times in days).

    Parameters
    ----------
    t, mag, err : array_like
        Times (days), magnitudes and their errors; non-finite points are left out.
    min_period, max_period : float, optional
        Period range (days); default twice the median cadence to the span.
    samples_per_peak : int
        Frequency grid density.
    """
    t = np.asarray(t, float)
    mag = np.asarray(mag, float)
    e = np.ones_like(mag) if err is None else np.asarray(err, float)
    ok = np.isfinite(t) & np.isfinite(mag) & np.isfinite(e) & (e > 0)
    t, mag, e = t[ok], mag[ok], e[ok]
    empty = Periodogram(np.zeros(0), np.zeros(0), float("nan"), 1.0, float("nan"))
    if len(t) < 5 or np.ptp(t) <= 0:
        return empty
    cadence = float(np.median(np.diff(np.sort(t))))
    lo = min_period if min_period is not None else 2.0 * max(cadence, 1e-6)
    hi = max_period if max_period is not None else float(np.ptp(t))
    if hi <= lo:
        return empty
    # Times from the first point: astropy's weighted variance of Julian dates
    # (2.46e6 d) loses its digits and can come out negative.
    ls = LombScargle(t - t.min(), mag, e)
    freq, power = ls.autopower(
        minimum_frequency=1.0 / hi, maximum_frequency=1.0 / lo, samples_per_peak=samples_per_peak
    )
    k = int(np.argmax(power))
    # The grid's step is a tenth of a peak's width: the peak itself is found
    # on a finer grid around it.
    step = float(freq[1] - freq[0]) if len(freq) > 1 else 0.0
    if step > 0:
        fine = np.linspace(freq[k] - step, freq[k] + step, 41)
        fine = fine[fine > 0]
        fine_power = ls.power(fine)
        if fine_power.max() >= power[k]:
            k_fine = int(np.argmax(fine_power))
            freq, power = np.append(freq, fine[k_fine]), np.append(power, fine_power[k_fine])
            order = np.argsort(freq)
            freq, power = freq[order], power[order]
            k = int(np.flatnonzero(order == len(order) - 1)[0])
    best = 1.0 / float(freq[k])
    fap = float(
        ls.false_alarm_probability(power[k], minimum_frequency=1.0 / hi, maximum_frequency=1.0 / lo)
    )
    model = ls.model(np.linspace(0, best, 200), 1.0 / best)
    return Periodogram(1.0 / freq, power, best, min(max(fap, 0.0), 1.0), float(np.ptp(model)))


def fold(t: np.ndarray, period: float, epoch: float | None = None) -> np.ndarray:
    """Phase (0-1) of each time for ``period`` (same unit), from ``epoch`` (default: first)."""
    t = np.asarray(t, float)
    if not np.isfinite(period) or period <= 0:
        raise ValueError(f"period must be positive, got {period}")
    t0 = float(np.nanmin(t)) if epoch is None else float(epoch)
    return ((t - t0) / period) % 1.0
