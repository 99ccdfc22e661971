"""What a plate solve is given and what it returns: :class:`SolveHint`, :class:`SolveResult`.

A refusal is a :class:`SolveResult` with ``solved`` False and its reason
(:func:`not_solved`); :func:`cause_first` puts an unreachable service first
among the reasons.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from ..io.cards import fits_text
from .scale import ScaleGuess

__all__ = ["SolveHint", "SolveResult", "cause_first", "not_solved"]


@dataclass(frozen=True)
class SolveHint:
    """Where the frame points and how big its pixels are, roughly.

    Attributes
    ----------
    ra, dec : float or None
        Pointing in degrees (header, or typed by the user).
    scale : ScaleGuess or None
        Pixel-scale guess.
    search_radius : float or None
        Degrees the centre may be off; the step's parameter when None.
    epoch : float or None
        Julian year of the observation (proper motions).
    sip_order : int or None
        The distortion order to fit without choosing it again (the previous
        frame's, in a sequence); None chooses it on held-out stars.
    """

    ra: float | None
    dec: float | None
    scale: ScaleGuess | None
    search_radius: float | None = None
    epoch: float | None = None
    sip_order: int | None = None

    @property
    def usable(self) -> bool:
        return self.ra is not None and self.dec is not None and self.scale is not None

    def widened(self, factor: float = 3.0) -> SolveHint:
        """The same hint with a wider search (for a retry)."""
        radius = (self.search_radius or 0.25) * factor
        scale = self.scale
        if scale is not None:
            scale = replace(scale, tolerance=min(max(scale.tolerance * 2, 0.1), 1.0))
        return replace(self, search_radius=min(radius, 30.0), scale=scale)


@dataclass(frozen=True)
class SolveResult:
    """The outcome of solving one frame.

    ``solved`` is True only for a verified solution; then ``wcs`` holds it.
    ``method`` names what produced it ("hinted", "solve-field",
    "nova.astrometry.net", "header"), ``verdict`` is "good", "fair" or
    "not solved" and ``reason`` says why when not solved. ``matches`` has one
    row per matched star: x, y, ra, dec, mag, dx, dy (residual px), used,
    sigma (the pair's position error in px, NaN when unknown).
    ``centroids`` names the star positions the hinted solve used ("prf":
    pixel-integrated Gaussian fits, "detected"; empty when it did not run).
    ``centre_sigma`` is the 1-sigma uncertainty (arcsec, per axis) of the
    image centre's sky position from the fit's covariance (NaN when unknown).
    ``search`` says what the solve had to search beyond its hint ("" when
    the hint was right; "scale", "pointing", "scale and pointing", "blind")
    and ``hint_scale`` is the hint's pixel scale (arcsec/px, NaN when there
    was none), so that :attr:`scale_factor` says how wrong it was.
    ``service_problem`` says which outside service could not be reached on
    the way (the chosen catalog, a web solver), "" when none: a frame not
    solved for want of its catalog says so first (:func:`cause_first`).
    """

    solved: bool
    method: str
    wcs: WCS | None = None
    n_matched: int = 0
    rms_arcsec: float = math.nan
    rms_px: float = math.nan
    pixel_scale: float = math.nan
    verdict: str = "not solved"
    reason: str = ""
    seconds: float = 0.0
    matches: Table | None = None
    catalog: str = ""
    flipped: bool = False
    log10_false_alarm: float = math.nan
    messages: tuple[str, ...] = field(default_factory=tuple)
    centroids: str = ""
    centre_sigma: float = math.nan
    search: str = ""
    hint_scale: float = math.nan
    service_problem: str = ""

    @property
    def scale_factor(self) -> float:
        """Fitted over hinted pixel scale (1 when the hint was right; NaN when unknown)."""
        if not (self.solved and math.isfinite(self.hint_scale) and self.hint_scale > 0):
            return math.nan
        return self.pixel_scale / self.hint_scale

    @property
    def centre(self) -> tuple[float, float] | None:
        """(ra, dec) of the image centre in degrees, when solved."""
        if self.wcs is None or self.wcs.pixel_shape is None:
            return None
        nx, ny = self.wcs.pixel_shape
        ra, dec = self.wcs.all_pix2world((nx - 1) / 2.0, (ny - 1) / 2.0, 0)
        return float(ra), float(dec)

    def wcs_header(self) -> fits.Header:
        """The solution as FITS cards (WCS plus how it was made); a new header each call."""
        return self._solution_cards.copy()

    def solution_cards(self) -> fits.Header:
        """:meth:`wcs_header`'s cards, made once and shared: for writers that do not change them."""
        return self._solution_cards

    @functools.cached_property
    def _solution_cards(self) -> fits.Header:
        """:meth:`wcs_header`'s cards, made once.

        A frame's solution is written twice (its own file, the calibrated
        frame); astropy's ``to_header`` makes every card anew, a copy only
        copies them.
        """
        if self.wcs is None:
            raise ValueError("not solved: no WCS to write")
        h = self.wcs.to_header(relax=True)
        if self.wcs.pixel_shape is not None:
            h["IMAGEW"], h["IMAGEH"] = self.wcs.pixel_shape
        h["FLXSOLV"] = (self.method, "Fluxion astrometry: how the WCS was found")
        h["FLXNSTAR"] = (self.n_matched, "stars matched to the reference catalog")
        if np.isfinite(self.rms_arcsec):
            h["FLXRMS"] = (round(self.rms_arcsec, 4), "[arcsec] RMS of the WCS fit")
        if np.isfinite(self.centre_sigma):
            h["FLXCERR"] = (round(self.centre_sigma, 4), "[arcsec] 1-sigma error of the centre")
        if self.catalog:
            h["FLXCAT"] = (fits_text(self.catalog)[:60], "reference catalog")
        h["FLXQUAL"] = (self.verdict, "quality verdict")
        return h


def not_solved(method: str, reason: str, t0: float | None = None, **kw) -> SolveResult:
    """A refusal with its reason."""
    seconds = time.monotonic() - t0 if t0 is not None else 0.0
    return SolveResult(False, method, reason=reason, seconds=seconds, **kw)


def cause_first(result: SolveResult) -> SolveResult:
    """A failed solve whose service could not be reached, with that cause said first.

    Without its catalog a solve fails further on, and that later failure
    ("only 3 stars match the catalog") is not why. Solved results and
    failures without a service problem are returned unchanged.
    """
    problem = result.service_problem
    if result.solved or not problem or result.reason.startswith(problem):
        return result
    return replace(result, reason=f"{problem}. Then: {result.reason}")
