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

The pieces live apart: :mod:`.result` (hint and result), :mod:`.sources`
(the sources matched, with their errors), :mod:`.extend` (the WCS fit
extended to every reachable star) and :mod:`.verdict` (solution or refusal);
their public names are importable from here as before.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from ..catalogs import (
    CatalogAnswer,
    CatalogChain,
    CatalogError,
    CatalogSource,
    Cone,
    LocalCatalog,
)
from ..runtime.network import network_failure
from ..runtime.pipeline import Cancelled, StepState
from .extend import fit_and_extend, frame_coverage
from .guided import match_through
from .matching import MatchError, match_sources
from .params import CATALOG_CHOICES, SolveParams
from .result import SolveHint, SolveResult, cause_first, not_solved
from .scale import ScaleGuess
from .sources import PreparedSources, blend_shift_px, catalog_sigma_px, prepare_sources
from .verdict import verdict
from .wcsfit import WcsFitError, gnomonic

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


def _answer_problem(answer: CatalogAnswer) -> str:
    """What the chosen catalog's absence did to this answer ("" when it answered itself)."""
    if not answer.unreachable:
        return ""
    return (
        f"the chosen catalog did not answer ({answer.unreachable[0]}); "
        f"only {answer.source} did, with {len(answer.table)} stars"
    )


# Called as ``fb(sources, image_shape, hint)``, and with ``state=`` too when the
# fallback has a true ``cancellable`` attribute (which a Callable cannot say).
Fallback = Callable[..., SolveResult]


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
        # The last hinted solution verified: the next frame of a night is
        # matched through it before its triangles are searched (see .guided).
        self._guide: WCS | None = None

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
                if getattr(fb, "cancellable", False):
                    fb_result = fb(sources, image_shape, hint, state=state)
                else:
                    fb_result = fb(sources, image_shape, hint)
            except Cancelled:
                raise
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
        return prepare_sources(sources, p.max_sources, p.min_matches)

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
        ra, dec, scale = hint.ra, hint.dec, hint.scale
        if ra is None or dec is None or scale is None:  # the hint is not usable
            # Say which is missing: a pointing given without a scale is searched.
            aimless = ra is None or dec is None
            lacking = "pointing" if scale is not None else "pixel-scale"
            lacking = "pointing or pixel-scale" if aimless and scale is None else lacking
            return not_solved("hinted", f"no {lacking} hint", t0)
        prepared = self.prepare_or_refuse(sources, "hinted", t0)
        if isinstance(prepared, SolveResult):
            return prepared
        if self.catalog is None:  # prepare_or_refuse refuses without one
            raise RuntimeError("no reference catalog configured")
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
        cone = Cone(ra, dec, half_diag + radius, p.mag_limit, hint.epoch)
        state.progress(0.05, "reference catalog")
        try:
            answer = self.catalog.query(cone, state=state.sub(0.05, 0.3))
        except CatalogError as exc:
            problem = str(exc) if exc.unreachable else ""
            return not_solved("hinted", str(exc), t0, service_problem=problem, **prepared.how)
        state.progress(0.3, f"matching {len(prepared.xy)} sources to {len(answer.table)} stars")
        result = self.solve_with(
            prepared, image_shape, answer, (ra, dec), scale, tol, t0=t0, state=state,
            sip_order=hint.sip_order, guide=self._guide,
        )  # fmt: skip
        if result.solved:
            self._guide = result.wcs
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
        guide: WCS | None = None,
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
        guide : astropy.wcs.WCS, optional
            A nearby frame's verified solution: the match is first sought
            through it (:func:`~fluxion.core.astrometry.guided.match_through`),
            the triangles searched only when that does not verify. Used only
            with all of the answer's stars.
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
        match = None
        if guide is not None and stars is None:
            match = match_through(
                guide, xy, cat["ra"], cat["dec"], plane, image_size=(nx, ny),
                tolerance=p.match_tolerance, min_matches=p.min_matches,
                max_log10_false_alarm=max_log10_false_alarm,
            )  # fmt: skip
        try:
            match = match or match_sources(
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
            # A catalog neighbour moves a star's centroid by what blend_shift_px
            # says: an error of the pair, and a star moved by more than half the
            # RMS limit is no reference star (left out, as a cosmic ray is).
            blend = (
                blend_shift_px(plane, np.asarray(cat[band], float), prepared.fwhm)
                if band
                else np.zeros(len(cat))
            )
            cat_sigma = np.hypot(catalog_sigma_px(cat, scale.arcsec_per_px), blend)
            fit, src_i, cat_i = fit_and_extend(
                xy, sigma, cat_sigma, cat, match, (ny, nx), p.sip_order, sip_order,
                reference=blend <= p.max_rms / 2,
            )  # fmt: skip
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
        return verdict(p, fit, match, matches, scale, tol, answer, t0, messages, how, method=method)
