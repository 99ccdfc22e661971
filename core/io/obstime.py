"""Mid-exposure time from the many ways headers write an observation time.

A profile lists time sources in order of preference, each one of::

    {"date": "DATE-OBS", "time": ["TIME-OBS", "UT"], "at": "start"}
    {"mjd": "MJD-OBS", "at": "start"}
    {"jd": "MIDTIMJD", "at": "mid"}

Every card present is read (:mod:`fluxion.core.io.timecards`) with the
precision it is written to, and the cards are checked against each other: two
agree when they differ by no more than the sum of their precisions. The time
comes from the largest group of cards that agree (the profile's order breaks
ties) and, within it, from the most precise card; every card outside that group
is reported with the size of the disagreement. A card that only looks precise
because it was computed from a coarser one (an MJD-OBS with 9 decimals equal to
a DATE-OBS rounded to the second) is given the coarser card's precision. A card
that cannot be read is always reported, with the card used instead: a coarse
card never stands in silently for a finer one.

``time`` cards complete a DATE-OBS without time of day, or refine one.
``"compare": false`` keeps a source out of the choice and the check unless
nothing else gives a time (LCO's MJD-OBS is known to differ from DATE-OBS by
several seconds). ``at`` says whether the card gives the start, middle or end
of the exposure; the mid-exposure time is derived with the exposure time. A date
without a time of day is only used when no other source gives a full time, and
is then reported as a problem.

Old-style FITS dates ``dd/mm/yy`` (before 1999) are read as 19yy, as the FITS
standard defines them. ISO times with a UTC offset (``-0700``, ``+05:30``,
``Z``) are converted to UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import astropy.units as u
from astropy.io import fits
from astropy.time import Time
from erfa import ErfaWarning

from ..runtime.quiet import quiet
from .timecards import CardFailure, TimeCard, cards_of_source, format_precision

__all__ = ["TimeResult", "mid_exposure_time", "quiet_erfa", "format_precision"]

# Arithmetic slack (s) when comparing two cards: Time differences of doubles.
_SLACK_S = 1e-5


@contextmanager
def quiet_erfa() -> Iterator[None]:
    """Silence ERFA's "dubious year" warning, and only that one.

    ERFA warns for UTC before 1960 (photographic plates) or past the end of the
    leap-second table; such times are still right to a few seconds, which is
    all a header time promises.
    """
    with quiet(ErfaWarning, ".*dubious year"):
        yield


@dataclass(frozen=True)
class TimeResult:
    """A mid-exposure time with where it came from.

    Attributes
    ----------
    time : astropy.time.Time or None
        Mid-exposure time, scale UTC.
    source : str
        Cards used, e.g. ``"DATE-OBS + EXPTIME/2"``.
    problems : tuple of str
        One-line problems found on the way.
    precision_s : float or None
        Precision of the card the time came from (one unit of its last digit).
    agreeing : tuple of str
        The other cards that agree with it within their precisions.
    """

    time: Time | None
    source: str
    problems: tuple[str, ...]
    precision_s: float | None = None
    agreeing: tuple[str, ...] = ()


def _scale(header: fits.Header, convention: str) -> str:
    """Time scale: the profile's, else TIMESYS when it names one astropy knows, else UTC."""
    if convention != "auto":
        return convention
    sys = str(header.get("TIMESYS", "UTC")).strip().lower()
    return sys if sys in ("utc", "tai", "tt", "tdb") else "utc"


def _start_of_exposure(card: TimeCard, exptime_s: float | None) -> Time:
    """The card moved to the start of the exposure, to compare like with like."""
    half = (exptime_s or 0.0) / 2.0
    return card.time - {"start": 0.0, "mid": half, "end": 2 * half}[card.at] * u.s


def _effective_precisions(cards: list[TimeCard], starts: list[Time]) -> list[float]:
    """Each card's precision, no finer than a coarser card it merely restates.

    A card equal to a coarser card to within its own last digit was almost
    certainly computed from it (MaxIm DL's JD from a DATE-OBS rounded to the
    second): its extra digits say nothing.
    """
    out = [c.precision_s for c in cards]
    for i, c in enumerate(cards):
        for j, d in enumerate(cards):
            if d.precision_s <= c.precision_s or not (d.has_clock and d.compare):
                continue
            diff = abs(float((starts[i] - starts[j]).to_value(u.s)))
            if diff <= c.precision_s + _SLACK_S:
                out[i] = max(out[i], d.precision_s)
    return out


def _differ(a: Time, b: Time) -> float:
    return abs(float((a - b).to_value(u.s)))


def _date_only_agrees(date_card: TimeCard, start: Time) -> bool:
    """Whether a date without time of day is the UTC date of ``start``."""
    offset = float((start - date_card.time).to_value(u.s))
    return -_SLACK_S <= offset < 86400.0 + _SLACK_S


def _fmt_seconds(seconds: float) -> str:
    text = f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds * 1e3:.2f} ms"
    if seconds >= 3600:
        text += f" ({seconds / 3600:.2f} h)"
    return text


def mid_exposure_time(
    header: fits.Header,
    sources: Sequence[Mapping[str, Any]],
    exptime_s: float | None,
    exptime_source: str | None,
    scale_convention: str = "auto",
) -> TimeResult:
    """The mid-exposure UTC time from the first usable source.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The image header.
    sources : sequence of mapping
        Time sources from the profile, in order of preference.
    exptime_s : float or None
        Exposure time in seconds (to move a start time to mid-exposure).
    exptime_source : str or None
        Card that gave the exposure time, for the source text.
    scale_convention : str
        "utc", "tai", "tt" or "auto" (TIMESYS, else UTC).

    Returns
    -------
    TimeResult
    """
    with quiet_erfa():
        return _mid_exposure_time(header, sources, exptime_s, exptime_source, scale_convention)


def _plain(card: TimeCard) -> bool:
    """A card with a clock, a finite time and a finite precision: it agrees with itself."""
    jd = float(card.time.jd1) + float(card.time.jd2)
    return card.has_clock and math.isfinite(jd) and 0.0 <= card.precision_s < math.inf


def _choose(
    cards: list[TimeCard], exptime_s: float | None
) -> tuple[int, list[int], list[float], list[Time]]:
    """Index of the card to use, indices of those that agree with it, precisions, starts.

    ``starts`` is empty for a single card (most headers give one time): it
    agrees with itself and its start is compared with nothing, so the
    times' arithmetic (astropy Time, ~0.1 ms an operation) is not done.
    """
    if len(cards) == 1 and _plain(cards[0]):
        return 0, [], [cards[0].precision_s], []
    return _choose_among(cards, exptime_s)


def _choose_among(
    cards: list[TimeCard], exptime_s: float | None
) -> tuple[int, list[int], list[float], list[Time]]:
    """:func:`_choose` by comparing every card's start of exposure with every other's."""
    starts = [_start_of_exposure(c, exptime_s) for c in cards]
    prec = _effective_precisions(cards, starts)
    n = len(cards)

    def agree(i: int, j: int) -> bool:
        return _differ(starts[i], starts[j]) <= prec[i] + prec[j] + _SLACK_S

    candidates = [i for i in range(n) if cards[i].has_clock and cards[i].compare]
    if not candidates:
        candidates = [i for i in range(n) if cards[i].has_clock]
    groups = {i: [j for j in candidates if agree(i, j)] for i in candidates}
    # The largest group of agreeing cards; among equals, the profile's preferred card's.
    anchor = max(candidates, key=lambda i: (len(groups[i]), -cards[i].order, -i))
    group = groups[anchor]
    best = min(group, key=lambda i: (prec[i], cards[i].order, i))
    agreeing = [j for j in groups[best] if j != best]
    return best, agreeing, prec, starts


def _mid_exposure_time(
    header: fits.Header,
    sources: Sequence[Mapping[str, Any]],
    exptime_s: float | None,
    exptime_source: str | None,
    scale_convention: str,
) -> TimeResult:
    problems: list[str] = []
    scale = _scale(header, scale_convention)
    cards: list[TimeCard] = []
    failures: list[CardFailure] = []
    for order, spec in enumerate(sources):
        for got in cards_of_source(header, spec, scale, order):
            if isinstance(got, CardFailure):
                failures.append(got)
            else:
                cards.append(got)
    if not cards:
        problems.extend(f.text() for f in failures)
        problems.append("no observation time in the header")
        return TimeResult(None, "", tuple(problems))
    if any(c.has_clock for c in cards):
        best, agreeing, prec, starts = _choose(cards, exptime_s)
        card, precision = cards[best], prec[best]
        for i, other in enumerate(cards):
            if i == best or i in agreeing or not other.compare:
                continue
            if not other.has_clock:
                if not _date_only_agrees(other, starts[best]):
                    problems.append(
                        f"{other.source} is not the date of {card.source}; using {card.source}"
                    )
                continue
            if not cards[best].compare:
                continue
            diff = _differ(starts[i], starts[best])
            problems.append(
                f"{other.source} and {card.source} disagree by {_fmt_seconds(diff)}"
                f" (written to {format_precision(prec[i])} and {format_precision(precision)});"
                f" using {card.source}"
            )
    else:
        card, precision, agreeing = cards[0], cards[0].precision_s, []
        problems.append(f"{card.source} gives a date without time of day")
    for f in failures:
        problems.append(
            f"{f.text()}; time from {card.source} (written to {format_precision(precision)})"
        )
    t, at, source = card.time, card.at, card.source
    if card.note:
        source = f"{source} ({card.note})"
    if at != "mid":
        if exptime_s is None:
            problems.append(f"exposure time unknown: {card.source} is the {at} of the exposure")
        else:
            sign = 1.0 if at == "start" else -1.0
            t = t + sign * exptime_s / 2.0 * u.s
            source = f"{source} {'+' if sign > 0 else '-'} {exptime_source or 'exptime'}/2"
    names = tuple(dict.fromkeys(cards[j].source for j in agreeing))
    return TimeResult(t.utc, source, tuple(problems), precision, names)
