"""Searching beyond the hint: a wrong or unknown pixel scale, a pointing far off.

Amateur headers are often wrong: a focal reducer left out of FOCALLEN
(x 0.63), binning not applied (x 2), a thumbnail resampled from a larger
frame (x 16), a plate scale in the wrong unit (x 1000), no optics at all, a
pointing half a degree off. When the hinted solve fails, this search tries
again over

* **scales**: triangle shapes do not depend on the pixel scale, so the
  matcher works at any scale; the range (0.1-30 arcsec/px by default) is cut
  into bands of +-20 % (each band a scale guess the matcher allows for), and
  the bands are tried nearest the hint's scale first (in log), both
  parities always;
* **pointings**: the catalog cone grows (the hint's radius, then 1, 3, 5
  degrees), and the area is covered by fields twice the frame's size on a
  hexagonal grid, nearest the hint first. A local catalog answers only where
  it has stars, so fields outside it cost nothing.

Every field tried is one more chance of a coincidence, so the false-alarm
bar of the match (:func:`~fluxion.core.astrometry.matching.match_sources`)
is lowered by log10 of the number of fields tried so far; a match must then
pass the same WCS fit and verdict as a hinted one. The first verified match
wins: the result says which scale and centre were found and how far the
hint was off (:attr:`SolveResult.scale_factor`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from ..catalogs import CatalogAnswer, CatalogError, Cone, select_cone
from ..catalogs.base import angular_separation_deg
from ..runtime.pipeline import StepState
from .scale import ScaleGuess
from .solve import PlateSolver, PreparedSources, SolveHint, SolveResult, not_solved
from .wcsfit import gnomonic, inverse_gnomonic

__all__ = [
    "SearchLimits",
    "scale_bands",
    "search_radii",
    "hex_tiles",
    "mag_limit_for_cone",
    "search_field",
]

log = logging.getLogger(__name__)

# Sources and catalog stars a field's triangles are built from: a field of
# twice the frame's size holds about a quarter of its 70 brightest stars in
# the frame, enough common triangles, at a quarter of the hinted solve's cost.
_TRIANGLE_STARS = (25, 70)
# Most fields one band searches at one radius.
_MAX_FIELDS = 20000


@dataclass(frozen=True)
class SearchLimits:
    """How far the search goes.

    Attributes
    ----------
    scale_low, scale_high : float
        Pixel scales searched (arcsec/px).
    band_tolerance : float
        Half-width of one scale band (fraction).
    max_radius : float
        Farthest field centre from the hint (degrees).
    time_limit : float
        Seconds before the search gives up.
    cone_stars : int
        About how many catalog stars a cone should hold: wide cones of an
        online catalog are fetched to a brighter limit so that they stay
        this size (the brightest stars are the ones matched anyway).
    """

    scale_low: float = 0.1
    scale_high: float = 30.0
    band_tolerance: float = 0.2
    max_radius: float = 5.0
    time_limit: float = 60.0
    cone_stars: int = 20000


def scale_bands(
    low: float, high: float, tolerance: float, around: float | None = None
) -> list[ScaleGuess]:
    """Scale guesses covering ``low..high``, each +-``tolerance``, nearest ``around`` first."""
    ratio = (1.0 + tolerance) ** 2
    n = max(1, math.ceil(math.log(high / low) / math.log(ratio)))
    # n bands of equal log width spanning the range exactly.
    edges = np.geomspace(low, high, n + 1)
    centres = np.sqrt(edges[:-1] * edges[1:])
    tol = float(edges[1] / centres[0] - 1.0)
    if around is not None and around > 0:
        centres = centres[np.argsort(np.abs(np.log(centres / around)), kind="stable")]
    return [ScaleGuess(float(c), tol, "search") for c in centres]


def search_radii(start: float, maximum: float) -> list[float]:
    """Growing search radii (degrees): 0, ``start`` doubling below 1, then 1, 3, 5, ...

    Radius 0 is the field at the hint alone: a header whose scale is wrong
    usually has the right pointing, and every scale is tried there first.
    Below a degree the radius doubles: a pointing half a degree off is then
    searched within 0.5 deg (some 25 fields at 1.2 arcsec/px on a 450 px
    frame), not within 1 deg (some 90), and before other scales' far fields.
    The last radius is ``maximum``.
    """
    radii = [0.0, min(start, maximum)]
    # From a tiny start, the first doubled radius is a frame's size or so.
    while (r := max(2.0 * radii[-1], 0.125)) < min(1.0, maximum):
        radii.append(r)
    for r in (1.0, 3.0, 5.0, 10.0, 20.0):
        if r > radii[-1] and r <= maximum:
            radii.append(r)
    if maximum > radii[-1]:
        radii.append(maximum)
    return radii


def hex_tiles(radius: float, spacing: float) -> np.ndarray:
    """Hexagonal-grid points (N, 2) within ``radius`` of the origin, nearest first.

    A disc of radius ``spacing / sqrt(3)`` about each point covers the plane.
    """
    # Rows are spacing * sqrt(3) / 2 apart: enough of them to pass the radius.
    n = int(math.ceil(radius / (spacing * math.sqrt(3.0) / 2.0))) + 2
    j, i = np.mgrid[-n : n + 1, -n : n + 1]
    x = spacing * (i + 0.5 * (j % 2))
    y = spacing * j * math.sqrt(3.0) / 2.0
    pts = np.column_stack([x.ravel(), y.ravel()])
    r = np.hypot(pts[:, 0], pts[:, 1])
    keep = r <= radius + spacing / math.sqrt(3.0)
    pts, r = pts[keep], r[keep]
    return pts[np.argsort(r, kind="stable")]


def mag_limit_for_cone(radius: float, mag_limit: float, n_stars: int) -> float:
    """The magnitude limit that keeps a cone of ``radius`` degrees to about ``n_stars`` stars.

    Star counts at intermediate Galactic latitude grow about 0.35 dex per
    magnitude, with some 60 stars per square degree to V = 11.5 (Tycho-2's
    2.5 million over the sky): N(<m) ~ 10^(0.35 (m - 6.4)) per square degree.
    Dense Milky Way fields get more stars than asked, sparse ones fewer; the
    match only uses the brightest ones.
    """
    area = math.pi * radius**2
    m = 6.4 + math.log10(max(n_stars / area, 1.0)) / 0.35
    return min(mag_limit, max(m, 8.0))


class _Catalog:
    """The search's catalog answers: a wider cone already fetched serves a smaller one."""

    def __init__(self, solver: PlateSolver, epoch: float | None) -> None:
        self.solver = solver
        self.epoch = epoch
        self.answers: list[tuple[Cone, CatalogAnswer]] = []
        self.messages: list[str] = []

    def query(self, cone: Cone, state: StepState) -> CatalogAnswer | None:
        for held, answer in self.answers:
            if held.contains(cone):
                table = select_cone(answer.table, cone)
                table.meta.update(answer.table.meta)
                return replace(answer, table=table)
        if self.solver.catalog is None:  # prepare_or_refuse refuses without one
            raise RuntimeError("no reference catalog configured")
        try:
            answer = self.solver.catalog.query(cone, state=state)
        except CatalogError as exc:
            self.messages.append(str(exc))
            return None
        self.answers = [*self.answers[-3:], (cone, answer)]
        return answer


def _half_diag_deg(shape: tuple[int, int], arcsec_per_px: float) -> float:
    ny, nx = shape
    return 0.5 * math.hypot(nx, ny) * arcsec_per_px / 3600.0


def search_field(
    solver: PlateSolver,
    sources: Table,
    image_shape: tuple[int, int],
    hint: SolveHint,
    *,
    limits: SearchLimits | None = None,
    state: StepState | None = None,
    trials: int = 1,
) -> SolveResult:
    """Solve a frame whose hint may be wrong in scale or pointing (see the module).

    Parameters
    ----------
    solver : PlateSolver
        Its catalog and parameters (match radius, fewest stars, RMS limit).
    sources : Table
        Detected sources.
    image_shape : (ny, nx)
    hint : SolveHint
        Needs a pointing; its scale, when there is one, orders the bands.
    limits : SearchLimits, optional
    state : StepState, optional
        Progress and cancellation.
    trials : int
        Fields already tried (the hinted solve): they count for the false-alarm bar.

    Returns
    -------
    SolveResult
        Method "search"; ``search`` says what was wrong with the hint.
    """
    t0 = time.monotonic()
    limits = limits if limits is not None else SearchLimits()
    state = state if state is not None else StepState()
    p = solver.params
    if hint.ra is None or hint.dec is None:
        return not_solved("search", "no pointing to search around", t0)
    prepared = solver.prepare_or_refuse(sources, "search", t0)
    if isinstance(prepared, SolveResult):
        return prepared
    hint_scale = hint.scale.arcsec_per_px if hint.scale is not None else math.nan
    around = (
        hint_scale if hint.scale is not None else math.sqrt(limits.scale_low * limits.scale_high)
    )
    bands = scale_bands(limits.scale_low, limits.scale_high, limits.band_tolerance, around)
    if hint.scale is not None and limits.scale_low <= hint_scale <= limits.scale_high:
        # The hint's own scale first: a pointing far off with the right scale.
        bands.insert(0, replace(hint.scale, tolerance=max(solver.hint_tolerance(hint.scale), 0.05)))
    start = hint.search_radius if hint.search_radius is not None else p.search_radius / 60.0
    radii = search_radii(max(start, 1e-3), max(limits.max_radius, start))
    catalog = _Catalog(solver, hint.epoch)
    covered: dict[int, float] = {}  # per band: fields out to this radius were tried
    n_fields = trials
    plan = _plan(bands, radii, image_shape, hinted=hint.scale is not None)
    for k, (k_b, radius) in enumerate(plan):
        band = bands[k_b]
        if time.monotonic() - t0 > limits.time_limit:
            return _give_up(t0, limits, radii, n_fields - trials, catalog, "time limit")
        state.check()
        state.progress(
            k / len(plan), f"searching {band.arcsec_per_px:.3g} arcsec/px within {radius:.2g} deg"
        )
        result, n_fields = _search_band(
            solver, prepared, image_shape, hint, band, radius, catalog,
            covered, k_b, n_fields, t0=t0, limits=limits,
        )  # fmt: skip
        if result is not None:
            result = _refine(solver, sources, image_shape, hint, result, state)
            return _describe(result, hint, hint_scale, start, t0)
    return _give_up(t0, limits, radii, n_fields - trials, catalog, "")


def _plan(
    bands: list[ScaleGuess], radii: list[float], shape: tuple[int, int], *, hinted: bool
) -> list[tuple[int, float]]:
    """(band index, radius) pairs, cheapest first.

    The cost of a pair is the number of fields it holds; the hint's own band
    (the first when ``hinted``) counts a tenth as much as the others, since
    a header's scale is more often right than its pointing, and a header
    wrong in both is rarer than either: a pointing 30 arcmin off is then
    searched (some 25 fields) after each scale at the hint (one field each),
    not after the far fields of every coarse scale (a third: 200 fields, 20 s).
    Every band's radii stay in increasing order (each searches the ring
    beyond the last).
    """
    pairs = []
    for k_b, band in enumerate(bands):
        spacing = _half_diag_deg(shape, band.high) * math.sqrt(3.0)
        weight = 1.0 if hinted and k_b == 0 else 10.0
        for radius in radii:
            n = 1.0 + 2.0 * math.pi / math.sqrt(3.0) * (radius / spacing) ** 2
            pairs.append((weight * n, k_b, radius))
    pairs.sort(key=lambda p: (p[0], p[2], p[1]))
    return [(k_b, radius) for _, k_b, radius in pairs]


def _search_band(
    solver: PlateSolver,
    prepared: PreparedSources,
    shape: tuple[int, int],
    hint: SolveHint,
    band: ScaleGuess,
    radius: float,
    catalog: _Catalog,
    covered: dict[int, float],
    key: int,
    n_fields: int,
    *,
    t0: float,
    limits: SearchLimits,
) -> tuple[SolveResult | None, int]:
    """Every untried field of one scale band within ``radius``; the first verified solution."""
    p = solver.params
    ra, dec = hint.ra, hint.dec
    if ra is None or dec is None:  # search_field refuses a hint without a pointing
        raise ValueError("no pointing to search around")
    half = _half_diag_deg(shape, band.high)
    # Fields of twice the frame's half-diagonal, a frame's half-diagonal apart
    # (times sqrt 3 on the hex grid): the true frame lies whole inside one.
    field_r = 2.0 * half
    spacing = half * math.sqrt(3.0)
    if math.pi * (radius + spacing) ** 2 / (0.866 * spacing**2) > _MAX_FIELDS:
        # Fields far smaller than the radius: hopeless within any time limit.
        log.info("search: %.3g arcsec/px skipped within %.2g deg", band.arcsec_per_px, radius)
        return None, n_fields
    # The outermost fields' centres lie a grid cell beyond the radius.
    cone_r = min(radius + spacing / math.sqrt(3.0) + field_r, 90.0)
    mag = mag_limit_for_cone(cone_r, p.mag_limit, limits.cone_stars)
    answer = catalog.query(Cone(ra, dec, cone_r, mag, hint.epoch), StepState())
    if answer is None or len(answer.table) < p.min_matches:
        return None, n_fields
    table = answer.table
    xi, eta = gnomonic(table["ra"], table["dec"], ra, dec)
    tree = cKDTree(np.column_stack([xi, eta]))
    tiles = hex_tiles(radius, spacing)
    dist = np.hypot(tiles[:, 0], tiles[:, 1])
    fresh = dist > covered.get(key, -1.0)
    covered[key] = float(dist.max())
    tiles = tiles[fresh]
    # A field needs as many catalog stars as the fewest matches; a local
    # catalog's empty surroundings cost nothing.
    count = tree.query_ball_point(tiles, field_r, return_length=True)
    for cx, cy in tiles[count >= p.min_matches]:
        if time.monotonic() - t0 > limits.time_limit:
            return None, n_fields
        rows = np.sort(np.asarray(tree.query_ball_point((cx, cy), field_r), int))
        ra0, dec0 = inverse_gnomonic(cx, cy, ra, dec)
        n_fields += 1
        result = solver.solve_with(
            prepared,
            shape,
            answer,
            (float(ra0), float(dec0)),
            band,
            band.tolerance,
            t0=t0,
            stars=table[rows],
            max_log10_false_alarm=-6.0 - math.log10(n_fields),
            method="search",
            n_triangle_stars=_TRIANGLE_STARS,
        )
        if result.solved:
            return result, n_fields
    return None, n_fields


def _refine(
    solver: PlateSolver,
    sources: Table,
    shape: tuple[int, int],
    hint: SolveHint,
    found: SolveResult,
    state: StepState,
) -> SolveResult:
    """The found field solved again as a hinted one: full catalog depth, tight hint.

    The search's wide cones are fetched to a brighter limit; with the centre
    and scale known the hinted solve gets every star the frame shows.
    """
    centre = found.centre
    if centre is None:
        return found
    tight = SolveHint(
        centre[0],
        centre[1],
        ScaleGuess(found.pixel_scale, 0.02, "search"),
        search_radius=0.05 * _half_diag_deg(shape, found.pixel_scale),
        epoch=hint.epoch,
    )
    better = solver.solve_hinted(sources, shape, tight, state=state)
    if better.solved and better.n_matched >= found.n_matched:
        return replace(better, method="search", messages=(*found.messages, *better.messages))
    return found


def _describe(
    result: SolveResult, hint: SolveHint, hint_scale: float, start: float, t0: float
) -> SolveResult:
    """The solution with what was wrong with the hint, in words and in fields."""
    notes = []
    wrong_scale = True
    if hint.scale is not None:
        ratio = result.pixel_scale / hint_scale
        wrong_scale = abs(math.log(ratio)) > math.log1p(hint.scale.tolerance) + 0.01
        if wrong_scale:
            notes.append(
                f"pixel scale {result.pixel_scale:.4g} arcsec/px found by search: the hint's "
                f"{hint_scale:.4g} ({hint.scale.source}) is off by a factor {ratio:.3g}"
            )
    else:
        notes.append(f"pixel scale {result.pixel_scale:.4g} arcsec/px found by search (no hint)")
    centre = result.centre
    off = (
        float(angular_separation_deg(hint.ra, hint.dec, centre[0], centre[1]))
        if centre is not None
        else math.nan
    )
    far = math.isfinite(off) and off > start
    if far:
        notes.append(f"field centre {off * 60:.1f} arcmin from the pointing hint")
    what = " and ".join(w for w, on in (("scale", wrong_scale), ("pointing", far)) if on)
    return replace(
        result,
        search=what or "scale",
        hint_scale=hint_scale,
        messages=(*result.messages, *notes),
        seconds=time.monotonic() - t0,
    )


def _give_up(t0, limits, radii, n_fields, catalog, why) -> SolveResult:
    reason = (
        f"no verified match at {limits.scale_low:g}-{limits.scale_high:g} arcsec/px within "
        f"{radii[-1]:g} deg of the pointing ({n_fields} fields tried"
    )
    reason += f"; stopped at the {limits.time_limit:g} s time limit)" if why else ")"
    if catalog.messages:
        reason += "; catalog: " + "; ".join(dict.fromkeys(catalog.messages))
    return not_solved("search", reason, t0)
