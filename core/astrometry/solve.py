"""Hinted plate solving: sources + pointing hint + scale guess + catalog -> verified WCS.

Typical use::

    solver = PlateSolver(SolveParams(sip_order=3), catalog=chain)
    result = solver(sources, image_shape, SolveHint(ra, dec, ScaleGuess(1.2, 0.05, "user")))
    if result.solved:
        header.update(result.wcs_header())
    else:
        print(result.reason)

A solution is returned only when it verifies: enough matched stars, a match
that cannot be a coincidence, a residual RMS below the limit and a pixel scale
within the guess. Otherwise ``solved`` is False, ``wcs`` is None and ``reason``
says why; the fallbacks (:mod:`fluxion.core.astrometry.fallbacks`) are tried
next when configured, and named in ``method`` when they succeed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from scipy.spatial import cKDTree

from ..catalogs import (
    CatalogAnswer,
    CatalogChain,
    CatalogError,
    CatalogSource,
    Cone,
    LocalCatalog,
)
from ..runtime.network import network_failure
from ..runtime.pipeline import StepState
from .inputs import star_like
from .matching import MatchError, match_sources
from .params import CATALOG_CHOICES, SolveParams
from .scale import ScaleGuess
from .sip_order import choose_sip_order
from .wcsfit import WcsFitError, fit_wcs, gnomonic

__all__ = [
    "CATALOG_CHOICES",
    "SolveParams",
    "SolveHint",
    "SolveResult",
    "PlateSolver",
    "PreparedSources",
    "cause_first",
    "frame_coverage",
    "not_solved",
]

log = logging.getLogger(__name__)


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
        """The solution as FITS cards (WCS plus how it was made)."""
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
            h["FLXCAT"] = (self.catalog[:60], "reference catalog")
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


def _answer_problem(answer: CatalogAnswer) -> str:
    """What the chosen catalog's absence did to this answer ("" when it answered itself)."""
    if not answer.unreachable:
        return ""
    return (
        f"the chosen catalog did not answer ({answer.unreachable[0]}); "
        f"only {answer.source} did, with {len(answer.table)} stars"
    )


# Fraction of a frame's 4 x 4 cells holding matched stars: below the first a
# distortion polynomial is not fitted, below the second the solution is refused.
_SIP_COVERAGE = 0.7
_MIN_COVERAGE = 0.2


def frame_coverage(xy: np.ndarray, shape: tuple[int, int], cells: int = 4) -> float:
    """Fraction of the frame's ``cells`` x ``cells`` grid that holds at least one of ``xy``."""
    ny, nx = shape
    if len(xy) == 0 or nx <= 0 or ny <= 0:
        return 0.0
    i = np.clip((np.asarray(xy[:, 0]) / nx * cells).astype(int), 0, cells - 1)
    j = np.clip((np.asarray(xy[:, 1]) / ny * cells).astype(int), 0, cells - 1)
    return len(set(zip(i.tolist(), j.tolist(), strict=True))) / cells**2


@dataclass(frozen=True)
class PreparedSources:
    """Sources ready for matching (see :meth:`PlateSolver.prepare`).

    Attributes
    ----------
    table : Table
        The usable sources, brightest first.
    xy : ndarray (N, 2)
        Their positions (0-based px).
    sigma : ndarray or None
        Their per-axis centroid errors (px).
    how : dict
        ``{"centroids": ...}`` for the result.
    notes : tuple of str
        Messages about the centroids, for the user.
    """

    table: Table
    xy: np.ndarray
    sigma: np.ndarray | None
    how: dict
    notes: tuple[str, ...]


Fallback = Callable[[Table, tuple[int, int], SolveHint], SolveResult]


def _brightest(sources: Table, n: int) -> Table:
    if "flux" in sources.colnames:
        flux = np.asarray(sources["flux"], float)
        order = np.argsort(-np.where(np.isfinite(flux), flux, -np.inf), kind="stable")
        sources = sources[order]
    return sources[:n]


def _good_sources(sources: Table) -> Table:
    keep = np.isfinite(np.asarray(sources["x"], float)) & np.isfinite(
        np.asarray(sources["y"], float)
    )
    if "flags" in sources.colnames:
        # Saturated, truncated or blended sources centre badly: keep them out of the fit.
        from ..detection.extract import SourceFlags

        bad = int(SourceFlags.SATURATED | SourceFlags.TRUNCATED)
        keep &= (np.asarray(sources["flags"], int) & bad) == 0
    # Cosmic rays, hot pixels, bleeds and tracks must not crowd the brightest stars.
    keep &= star_like(sources)
    return sources[keep]


def _centroid_sigma(sources: Table) -> np.ndarray | None:
    """Centroid uncertainty of each source (px), per axis; None when nothing says.

    A pixel-integrated fit's own errors (``x_err``, ``y_err``, from the fit's
    covariance) where it ran; elsewhere FWHM / SNR, how a centroid's error
    scales with the PSF width and the signal-to-noise ratio (about twice
    the error of a Gaussian fit, so such stars are not over-weighted). The
    floor stands for what no SNR removes; what else scatters the positions
    is estimated by the WCS fit itself.
    """
    n = len(sources)
    sig = np.full(n, np.nan)
    if "snr" in sources.colnames:
        snr = np.asarray(sources["snr"], float)
        fwhm = np.asarray(sources["fwhm"], float) if "fwhm" in sources.colnames else np.full(n, 3.0)
        good = np.isfinite(fwhm) & (fwhm > 0)
        fwhm = np.where(good, fwhm, np.median(fwhm[good]) if good.any() else 3.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            sig = fwhm / snr
    if "x_err" in sources.colnames and "y_err" in sources.colnames:
        ex, ey = (np.asarray(sources[c], float) for c in ("x_err", "y_err"))
        fitted = np.sqrt(0.5 * (ex**2 + ey**2))
        sig = np.where(np.isfinite(fitted) & (fitted > 0), fitted, sig)
    elif "snr" not in sources.colnames:
        return None
    # Unknown or absurd (a fit that did not pin the star): one pixel, i.e. barely counted.
    sig = np.where(np.isfinite(sig) & (sig > 0), np.minimum(sig, 1.0), 1.0)
    return np.hypot(sig, 0.01)


def _catalog_sigma_px(cat: Table, arcsec_per_px: float) -> np.ndarray:
    """Per-axis position error of each catalog star in pixels (0 where unknown)."""
    if "ra_err" not in cat.colnames or "dec_err" not in cat.colnames:
        return np.zeros(len(cat))
    era, ede = (np.asarray(cat[c], float) for c in ("ra_err", "dec_err"))
    per_axis = np.sqrt(0.5 * (era**2 + ede**2)) / arcsec_per_px
    return np.where(np.isfinite(per_axis), per_axis, 0.0)


class PlateSolver:
    """The astrometry step: hinted solve, verification, fallbacks.

    Parameters
    ----------
    params : SolveParams
        Step parameters.
    catalog : CatalogChain, CatalogSource or Table
        Where reference stars come from (a Table is used as a local catalog).
    fallbacks : sequence of callables
        Tried in order when the hinted solve fails; each is called as
        ``fallback(sources, image_shape, hint)`` and returns a SolveResult.
    """

    def __init__(
        self,
        params: SolveParams | None = None,
        catalog: CatalogChain | CatalogSource | Table | None = None,
        fallbacks: Sequence[Fallback] = (),
    ) -> None:
        self.params = params if params is not None else SolveParams()
        if isinstance(catalog, Table):
            catalog = LocalCatalog(catalog)
        if isinstance(catalog, CatalogSource):
            catalog = CatalogChain([catalog])
        self.catalog = catalog
        self.fallbacks = list(fallbacks)

    # -- entry point -------------------------------------------------------------
    def __call__(
        self,
        sources: Table,
        image_shape: tuple[int, int],
        hint: SolveHint,
        *,
        header: fits.Header | None = None,
        state: StepState | None = None,
    ) -> SolveResult:
        """Solve one frame from its detected sources.

        Parameters
        ----------
        sources : Table
            Detected sources with x, y (0-based px) and flux.
        image_shape : (ny, nx)
            Frame shape.
        hint : SolveHint
            Pointing and scale guesses.
        header : Header, optional
            The frame's header (for "keep header WCS").
        state : StepState, optional
            Progress and cancellation.
        """
        t0 = time.monotonic()
        state = state if state is not None else StepState()
        if self.params.keep_header_wcs and header is not None:
            from .scale import header_wcs

            w = header_wcs(header)
            if w is not None:
                if w.pixel_shape is None:
                    w.pixel_shape = (image_shape[1], image_shape[0])
                return SolveResult(True, "header", w, verdict="kept", seconds=time.monotonic() - t0)
        result = self.solve_hinted(sources, image_shape, hint, state=state.sub(0.0, 0.3))
        if not result.solved:
            result = self.search(sources, image_shape, hint, result, state=state.sub(0.3, 0.8))
        if result.solved or not self.fallbacks:
            return cause_first(result)
        return cause_first(
            self.run_fallbacks(sources, image_shape, hint, result, t0=t0, state=state)
        )

    def search(
        self,
        sources: Table,
        image_shape: tuple[int, int],
        hint: SolveHint,
        failed: SolveResult,
        *,
        state: StepState | None = None,
    ) -> SolveResult:
        """After the hinted solve ``failed``: every scale and a wider pointing
        (:func:`~fluxion.core.astrometry.search.search_field`), when the
        parameters allow it and there is a pointing to search around."""
        from .search import SearchLimits, search_field

        p = self.params
        if not p.search or hint.ra is None or hint.dec is None or self.catalog is None:
            return failed
        limits = SearchLimits(max_radius=p.search_radius_max, time_limit=p.time_limit)
        found = search_field(self, sources, image_shape, hint, limits=limits, state=state)
        if found.solved:
            return replace(found, messages=(*found.messages, f"hinted: {failed.reason}"))
        return replace(
            failed,
            reason=f"{failed.reason}; search: {found.reason}",
            seconds=failed.seconds + found.seconds,
        )

    def run_fallbacks(
        self,
        sources: Table,
        image_shape: tuple[int, int],
        hint: SolveHint,
        failed: SolveResult,
        *,
        t0: float | None = None,
        state: StepState | None = None,
    ) -> SolveResult:
        """Try the fallbacks in order after the hinted solve ``failed``."""
        t0 = time.monotonic() if t0 is None else t0
        reasons = [f"hinted: {failed.reason}"]
        for fb in self.fallbacks:
            if state is not None:
                state.check()
            try:
                fb_result = fb(sources, image_shape, hint)
            except Exception as exc:  # a fallback's failure is a reason, not a crash
                log.warning("fallback %s failed: %s", fb, exc)
                name = getattr(fb, "name", "fallback")
                reasons.append(f"{name}: {exc}")
                lost = network_failure(exc)
                if lost is not None and lost.unreachable and not failed.service_problem:
                    failed = replace(failed, service_problem=f"{name} {lost.text}")
                continue
            if fb_result.solved:
                fb_result = self._verified(sources, image_shape, hint, fb_result, state)
                return replace(
                    fb_result,
                    seconds=time.monotonic() - t0,
                    messages=(*failed.messages, *reasons, *fb_result.messages),
                )
            reasons.append(f"{fb_result.method}: {fb_result.reason}")
        return replace(failed, reason="; ".join(reasons), seconds=time.monotonic() - t0)

    def _verified(
        self,
        sources: Table,
        image_shape: tuple[int, int],
        hint: SolveHint,
        found: SolveResult,
        state: StepState | None,
    ) -> SolveResult:
        """A fallback's solution solved again against the catalog, as a tight hint.

        A blind solver's WCS (solve-field fits a quadratic SIP to its own
        index stars) is replaced by the hinted fit to the chosen catalog when
        that verifies; otherwise it is kept, and the message says why.
        """
        centre = found.centre
        if self.catalog is None or centre is None or not math.isfinite(found.pixel_scale):
            return found
        ny, nx = image_shape
        tight = SolveHint(
            centre[0],
            centre[1],
            ScaleGuess(found.pixel_scale, 0.02, found.method),
            search_radius=0.05 * 0.5 * math.hypot(nx, ny) * found.pixel_scale / 3600.0,
            epoch=hint.epoch,
        )
        ours = self.solve_hinted(sources, image_shape, tight, state=state)
        if not ours.solved:
            note = f"{found.method}'s solution not verified against the catalog: {ours.reason}"
            return replace(found, messages=(*found.messages, note))
        note = f"{found.method}'s solution verified and refitted against {ours.catalog}"
        hint_scale = hint.scale.arcsec_per_px if hint.scale is not None else math.nan
        return replace(
            ours,
            method=found.method,
            search="blind" if hint.ra is None else found.search,
            hint_scale=hint_scale,
            messages=(*ours.messages, note),
        )

    # -- the hinted solve ----------------------------------------------------------
    def prepare(self, sources: Table) -> PreparedSources:
        """The sources the matcher uses: clean, brightest first, with their errors.

        Raises
        ------
        ValueError
            The table has no x or y column, or too few usable sources; the
            message says which.
        """
        p = self.params
        for col in ("x", "y"):
            if col not in sources.colnames:
                raise ValueError(f"source table has no {col!r} column")
        good = _brightest(_good_sources(sources), p.max_sources)
        # Which centroids these are (set by centroids_for_solving), told to the user.
        how = {"centroids": str(sources.meta.get("centroids", "detected"))}
        note = sources.meta.get("centroids_note")
        notes = (str(note),) if note else ()
        if len(good) < max(p.min_matches, 3):
            raise ValueError(
                f"only {len(good)} usable sources detected; at least {p.min_matches} needed"
            )
        xy = np.column_stack([np.asarray(good["x"], float), np.asarray(good["y"], float)])
        return PreparedSources(good, xy, _centroid_sigma(good), how, notes)

    def prepare_or_refuse(
        self, sources: Table, method: str, t0: float
    ) -> PreparedSources | SolveResult:
        """:meth:`prepare`'s sources, or the refusal (no catalog, too few sources)."""
        if self.catalog is None:
            return not_solved(method, "no reference catalog configured", t0)
        try:
            return self.prepare(sources)
        except ValueError as exc:
            return not_solved(method, str(exc), t0)

    def hint_tolerance(self, scale: ScaleGuess) -> float:
        """The fractional scale tolerance searched around ``scale``."""
        if scale.source == "user":
            return scale.tolerance
        return max(scale.tolerance, self.params.scale_tolerance / 100.0)

    def solve_hinted(
        self,
        sources: Table,
        image_shape: tuple[int, int],
        hint: SolveHint,
        *,
        state: StepState | None = None,
    ) -> SolveResult:
        """Match sources to the catalog around the hint and fit a verified WCS."""
        p = self.params
        t0 = time.monotonic()
        state = state if state is not None else StepState()
        ny, nx = image_shape
        if not hint.usable:
            return not_solved("hinted", "no pointing or pixel-scale hint", t0)
        prepared = self.prepare_or_refuse(sources, "hinted", t0)
        if isinstance(prepared, SolveResult):
            return prepared
        scale = hint.scale
        tol = self.hint_tolerance(scale)
        radius = hint.search_radius if hint.search_radius is not None else p.search_radius / 60
        half_diag = 0.5 * math.hypot(nx, ny) * scale.high / 3600.0
        if half_diag + radius > 90.0:
            return not_solved(
                "hinted",
                f"the hint's pixel scale {scale.arcsec_per_px:.4g} arcsec/px ({scale.source}) "
                f"makes the frame {2 * half_diag:.0f} deg across",
                t0,
                **prepared.how,
            )
        cone = Cone(hint.ra, hint.dec, half_diag + radius, p.mag_limit, hint.epoch)
        state.progress(0.05, "reference catalog")
        try:
            answer = self.catalog.query(cone, state=state.sub(0.05, 0.3))
        except CatalogError as exc:
            problem = str(exc) if exc.unreachable else ""
            return not_solved("hinted", str(exc), t0, service_problem=problem, **prepared.how)
        state.progress(0.3, f"matching {len(prepared.xy)} sources to {len(answer.table)} stars")
        result = self.solve_with(
            prepared, image_shape, answer, (hint.ra, hint.dec), scale, tol, t0=t0, state=state,
            sip_order=hint.sip_order,
        )  # fmt: skip
        return replace(
            result, hint_scale=scale.arcsec_per_px, service_problem=_answer_problem(answer)
        )

    def solve_with(
        self,
        prepared: PreparedSources,
        image_shape: tuple[int, int],
        answer: CatalogAnswer,
        centre: tuple[float, float],
        scale: ScaleGuess,
        tol: float,
        *,
        t0: float | None = None,
        stars: Table | None = None,
        max_log10_false_alarm: float = -6.0,
        method: str = "hinted",
        state: StepState | None = None,
        n_triangle_stars: tuple[int, int | None] = (30, None),
        sip_order: int | None = None,
    ) -> SolveResult:
        """Match ``prepared`` sources to catalog stars around ``centre`` and fit a verified WCS.

        Parameters
        ----------
        prepared : PreparedSources
            From :meth:`prepare`.
        image_shape : (ny, nx)
        answer : CatalogAnswer
            The catalog's answer (its name and messages are reported).
        centre : (ra, dec)
            Tangent point of the catalog's projection (degrees).
        scale : ScaleGuess
            The pixel scale searched (``tol`` around it).
        tol : float
            Fractional scale tolerance.
        stars : Table, optional
            The catalog stars to match (a part of ``answer.table``, brightest
            first); all of the answer by default.
        max_log10_false_alarm : float
            The false-alarm bar; a search that tries many fields lowers it by
            the number of fields tried.
        method : str
            Named in the result.
        n_triangle_stars : (int, int or None)
            Brightest sources and catalog stars the matcher builds triangles
            from (None: scaled with the catalog's area).
        sip_order : int, optional
            Distortion order to fit as it is (see :class:`SolveHint`).
        """
        t0 = time.monotonic() if t0 is None else t0
        state = state if state is not None else StepState()
        p = self.params
        ny, nx = image_shape
        how, xy, sigma = prepared.how, prepared.xy, prepared.sigma
        messages = (*answer.messages, *prepared.notes)
        cat = answer.table if stars is None else stars
        band = answer.table.meta.get("mag_band")
        xi, eta = gnomonic(cat["ra"], cat["dec"], centre[0], centre[1])
        # Catalog in pixels of the guessed scale; east to the left as on the sky.
        plane = np.column_stack([-xi, eta]) * 3600.0 / scale.arcsec_per_px
        try:
            match = match_sources(
                xy,
                plane,
                image_size=(nx, ny),
                scale_tolerance=tol,
                tolerance=p.match_tolerance,
                min_matches=p.min_matches,
                max_log10_false_alarm=max_log10_false_alarm,
                n_sources=n_triangle_stars[0],
                n_catalog=n_triangle_stars[1],
            )
        except MatchError as exc:
            return not_solved(method, str(exc), t0, catalog=answer.source, messages=messages, **how)
        state.progress(0.6, f"{match.n_matched} stars matched; fitting the WCS")
        try:
            cat_sigma = _catalog_sigma_px(cat, scale.arcsec_per_px)
            fit, src_i, cat_i = self._fit_and_extend(
                xy, sigma, cat_sigma, cat, match, (ny, nx), sip_order
            )
        except WcsFitError as exc:
            return not_solved(method, str(exc), t0, catalog=answer.source, **how)
        state.progress(0.95, "verifying")
        matches = Table(
            {
                "x": xy[src_i, 0],
                "y": xy[src_i, 1],
                "ra": np.asarray(cat["ra"], float)[cat_i],
                "dec": np.asarray(cat["dec"], float)[cat_i],
                "mag": np.asarray(cat[band], float)[cat_i] if band else np.full(len(cat_i), np.nan),
                "dx": fit.residuals[:, 0],
                "dy": fit.residuals[:, 1],
                "used": fit.used,
                # Per-axis position error (px) the pair was weighted by: centroid
                # and catalog in quadrature, before the fit's unexplained scatter.
                "sigma": (
                    np.hypot(sigma[src_i], cat_sigma[cat_i])
                    if sigma is not None
                    else np.full(len(src_i), np.nan)
                ),
            }
        )
        return self._verdict(
            fit, match, matches, scale, tol, answer, t0, messages, how, method=method
        )

    def _fit_and_extend(self, xy, sigma, cat_sigma, cat, match, shape, sip_order=None):
        """Fit on the first matches, then re-match every source through the WCS and refit.

        The first match is affine, so stars near the corners of a distorted
        field can be missed; once a SIP fit exists they are found. Each pair
        is weighted by its centroid and catalog errors in quadrature. A given
        ``sip_order`` (the previous frame's) is fitted as it is; otherwise the
        order is chosen on held-out stars.
        """

        def pair_sigma(src_i, cat_i):
            return None if sigma is None else np.hypot(sigma[src_i], cat_sigma[cat_i])

        p = self.params
        top = p.sip_order if sip_order is None else min(p.sip_order, max(int(sip_order), 1))
        ra_c = np.asarray(cat["ra"], float)
        dec_c = np.asarray(cat["dec"], float)
        src_i, cat_i = match.source_index, match.catalog_index
        order = min(top, 1) if len(src_i) < 12 else top
        fit = fit_wcs(
            xy[src_i],
            ra_c[cat_i],
            dec_c[cat_i],
            image_shape=shape,
            sip_order=order,
            sigma=pair_sigma(src_i, cat_i),
        )
        for _ in range(2):
            px, py = fit.wcs.all_world2pix(ra_c, dec_c, 0, quiet=True)
            inside = np.isfinite(px) & np.isfinite(py)
            tree = cKDTree(np.column_stack([px[inside], py[inside]]))
            radius = max(5.0 * fit.rms_px, 1.0)
            d, k = tree.query(xy, distance_upper_bound=radius)
            ok = np.isfinite(d)
            src_new = np.nonzero(ok)[0]
            cat_new = np.nonzero(inside)[0][k[ok]]
            _, first = np.unique(cat_new, return_index=True)
            src_new, cat_new = src_new[first], cat_new[first]
            if len(src_new) < len(src_i) // 2 or len(src_new) < 4:
                break
            src_i, cat_i = src_new, cat_new
            fit = fit_wcs(
                xy[src_i],
                ra_c[cat_i],
                dec_c[cat_i],
                image_shape=shape,
                sip_order=top,
                sigma=pair_sigma(src_i, cat_i),
            )
        if fit.sip_order >= 2 and frame_coverage(xy[src_i][fit.used], shape) < _SIP_COVERAGE:
            # A distortion polynomial fitted on part of the frame runs wild
            # over the rest (1-7 px on simulated frames whose catalog covered a
            # third of them): stars that do not cover the frame get a plain TAN.
            fit = fit_wcs(
                xy[src_i],
                ra_c[cat_i],
                dec_c[cat_i],
                image_shape=shape,
                sip_order=1,
                sigma=pair_sigma(src_i, cat_i),
            )
        if fit.sip_order >= 2 and sip_order is None:
            # The setting is the highest order; the stars left out of the fit
            # say whether the field supports it (see sip_order).
            keep = fit.used
            sig = pair_sigma(src_i, cat_i)
            order, scores = choose_sip_order(
                xy[src_i][keep],
                ra_c[cat_i][keep],
                dec_c[cat_i][keep],
                image_shape=shape,
                max_order=fit.sip_order,
                sigma=None if sig is None else sig[keep],
            )
            if order < fit.sip_order:
                log.info("SIP order %d chosen on held-out stars (chi^2 %s)", order, scores)
                fit = fit_wcs(
                    xy[src_i],
                    ra_c[cat_i],
                    dec_c[cat_i],
                    image_shape=shape,
                    sip_order=order,
                    sigma=sig,
                )
        return fit, src_i, cat_i

    def _verdict(
        self, fit, match, matches, scale, tol, answer, t0, messages, how, *, method="hinted"
    ) -> SolveResult:
        p = self.params
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
        elif coverage < _MIN_COVERAGE:
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
