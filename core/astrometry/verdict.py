"""The quality verdict on a WCS fit: a verified solution or a refusal with its reason."""

from __future__ import annotations

import math
import time

import numpy as np
from astropy.table import Table

from ..catalogs import CatalogAnswer
from .extend import frame_coverage
from .matching import Match
from .params import SolveParams
from .result import SolveResult, not_solved
from .scale import ScaleGuess
from .wcsfit import WcsFit

__all__ = ["MIN_COVERAGE", "verdict"]

# Fraction of a frame's 4 x 4 cells holding matched stars below which the
# solution is refused (a catalog covering part of the field).
MIN_COVERAGE = 0.2


def verdict(
    params: SolveParams,
    fit: WcsFit,
    match: Match,
    matches: Table,
    scale: ScaleGuess,
    tol: float,
    answer: CatalogAnswer,
    t0: float,
    messages: tuple[str, ...],
    how: dict,
    *,
    method: str = "hinted",
) -> SolveResult:
    """The solution of ``fit``, or the refusal with its reason.

    A fit is a solution when enough stars fit, they cover enough of the
    frame, the residual RMS is under the limit and the fitted scale lies in
    the searched range; it is "good" when it does so with room to spare.

    Parameters
    ----------
    params : SolveParams
        The limits (min_matches, max_rms).
    fit : WcsFit
        The WCS fit.
    match : Match
        The matcher's answer (parity, false-alarm probability).
    matches : Table
        One row per fitted pair (x, y, ..., used).
    scale : ScaleGuess
        The pixel scale searched, ``tol`` around it.
    tol : float
        Fractional scale tolerance.
    answer : CatalogAnswer
        The catalog's answer (its name is reported).
    t0 : float
        ``time.monotonic()`` when the solve began.
    messages : tuple of str
        Notes for the result.
    how : dict
        ``{"centroids": ...}`` for the result.
    method : str
        Named in the result.
    """
    p = params
    common = dict(
        n_matched=fit.n_used,
        rms_arcsec=fit.rms_arcsec,
        rms_px=fit.rms_px,
        pixel_scale=fit.pixel_scale,
        centre_sigma=fit.centre_sigma,
        matches=matches,
        catalog=answer.source,
        flipped=match.flipped,
        log10_false_alarm=match.log10_false_alarm,
        messages=messages,
        **how,
    )
    ratio = fit.pixel_scale / scale.arcsec_per_px
    ny, nx = (int(v) for v in fit.wcs.pixel_shape[::-1])
    used = np.column_stack([matches["x"], matches["y"]])[np.asarray(matches["used"], bool)]
    coverage = frame_coverage(used, (ny, nx))
    if fit.n_used < p.min_matches:
        reason = f"only {fit.n_used} stars fit (at least {p.min_matches} needed)"
    elif coverage < MIN_COVERAGE:
        reason = (
            f"the {fit.n_used} matched stars cover only {coverage:.0%} of the frame "
            "(a catalog that covers part of the field?); not trusted"
        )
    elif fit.rms_px > p.max_rms:
        reason = f"residual RMS {fit.rms_px:.2f} px exceeds the limit {p.max_rms:.2f} px"
    elif abs(math.log(ratio)) > math.log1p(tol) + 0.01:
        reason = (
            f"fitted scale {fit.pixel_scale:.3f} arcsec/px is outside the guess "
            f"{scale.low:.3f}-{scale.high:.3f}"
        )
    else:
        good = fit.rms_px <= p.max_rms / 2 and fit.n_used >= 2 * p.min_matches
        return SolveResult(
            True,
            method,
            fit.wcs,
            verdict="good" if good else "fair",
            seconds=time.monotonic() - t0,
            **common,
        )
    return not_solved(method, reason, t0, **common)
