"""Match detected sources to catalog stars by triangle invariants, then verify.

The image and the catalog (projected on the tangent plane at the pointing hint,
in pixels of the guessed scale) differ by a similarity: a rotation, a scale
near 1, a shift, and perhaps a mirror flip. Triangles of stars are described by

* their shape: the side ratios ``(L0/L2, L1/L2)`` (sorted sides), which neither
  rotation, scale, shift nor a flip changes;
* their size: ``log L2``, which the scale guess pins to within its tolerance.

Shapes plus sizes are looked up in a k-d tree of catalog triangles; each
candidate pair of triangles gives a similarity transform (with or without a
flip, from the triangles' orientations), and each transform is scored by how
many of the bright sources it lands on a catalog star. The best transform is
refined on all sources and must pass a significance test: the chance that
random catalog stars at the local density would explain as many matches,
multiplied by the number of transforms tried, must be tiny. Nothing below that
bar is returned: :class:`MatchError` says why instead.

This is the approach of Valdes et al. (1995, FOCAS) and of astroalign; it is
written out here because astroalign is not a dependency and because using the
scale guess as a third invariant (which astroalign cannot) makes the search
both faster and far less prone to false matches in dense fields.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import chain, combinations

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import betainc

from ..runtime.pipeline import StepState

__all__ = ["MatchError", "Match", "match_sources", "triangle_invariants"]

log = logging.getLogger(__name__)

_MAX_CANDIDATES = 60000
# Candidate transforms scored star by star, the most voted for first.
_SCORED = 300


class MatchError(Exception):
    """No verified match between sources and catalog; the message says why."""


@dataclass(frozen=True)
class Match:
    """A verified correspondence between image sources and catalog stars.

    Attributes
    ----------
    source_index, catalog_index : ndarray of int
        Matched pairs (indices into the inputs of :func:`match_sources`).
    affine : ndarray (2, 3)
        Pixel -> catalog plane transform ``plane = affine[:, :2] @ xy + affine[:, 2]``.
    scale : float
        Catalog-plane units per pixel (1 when the scale guess was right).
    rotation : float
        Rotation in degrees (of the similarity found before refinement).
    flipped : bool
        True when the image is mirrored with respect to the sky.
    rms : float
        RMS distance of the matched pairs after the affine refit (plane units).
    log10_false_alarm : float
        log10 of the chance that the match is a coincidence (lower is better).
    n_tried : int
        Transforms scored.
    """

    source_index: np.ndarray
    catalog_index: np.ndarray
    affine: np.ndarray
    scale: float
    rotation: float
    flipped: bool
    rms: float
    log10_false_alarm: float
    n_tried: int

    @property
    def n_matched(self) -> int:
        return int(len(self.source_index))


@lru_cache(maxsize=8)
def _triples(n: int) -> np.ndarray:
    """All index triples i < j < k < n, (T, 3) (kept: a search builds them per field)."""
    tri = np.fromiter(chain.from_iterable(combinations(range(n), 3)), dtype=np.int32)
    tri = tri.reshape(-1, 3)
    tri.flags.writeable = False
    return tri


@lru_cache(maxsize=8)
def _side_index(n: int) -> np.ndarray:
    """(3, T) flat indices into an n x n distance matrix of each triple's sides.

    Side k of triple ``(i0, i1, i2)`` is opposite vertex k: ``(i1, i2)``,
    ``(i0, i2)``, ``(i0, i1)``.
    """
    tri = _triples(n).astype(np.intp)
    i0, i1, i2 = tri[:, 0], tri[:, 1], tri[:, 2]
    index = np.stack([i1 * n + i2, i0 * n + i2, i0 * n + i1])
    index.flags.writeable = False
    return index


def triangle_invariants(
    points: np.ndarray, max_side: float = np.inf, min_side: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """All triangles of ``points`` with their invariants and ordered vertices.

    Returns
    -------
    inv : ndarray (T, 3)
        ``L0/L2, L1/L2, log(L2)`` for sides sorted ``L0 <= L1 <= L2``.
    vertices : ndarray (T, 3) of int
        Vertices ordered as the sides they face: vertex k is opposite side Lk,
        so matching invariants means matching vertices.
    """
    n = len(points)
    if n < 3:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=int)
    tri = _triples(n)
    # The sides from the n x n distances (n^2 hypot, not 3 per triangle: 40
    # catalog stars have 9880 triangles), each the same number as its own hypot.
    x, y = points[:, 0], points[:, 1]
    dist = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]).ravel()
    side = _side_index(n)
    s0, s1, s2 = dist[side[0]], dist[side[1]], dist[side[2]]
    v0, v1, v2 = tri[:, 0], tri[:, 1], tri[:, 2]
    # Sorted by three compare-exchanges, each only on a strict "less": a stable
    # sort (equal sides keep their order), as argsort of rows of three is,
    # without its per-row cost.
    for a, b in ((0, 1), (1, 2), (0, 1)):
        s, v = [s0, s1, s2], [v0, v1, v2]
        swap = s[b] < s[a]
        s[a], s[b] = np.where(swap, s[b], s[a]), np.where(swap, s[a], s[b])
        v[a], v[b] = np.where(swap, v[b], v[a]), np.where(swap, v[a], v[b])
        s0, s1, s2 = s
        v0, v1, v2 = v
    keep = (s2 <= max_side) & (s2 >= min_side) & (s0 > 0)
    s0, s1, s2 = s0[keep], s1[keep], s2[keep]
    inv = np.column_stack([s0 / s2, s1 / s2, np.log(s2)])
    vertices = np.column_stack([v0[keep], v1[keep], v2[keep]])
    return inv, vertices


def _similarities(z: np.ndarray, w: np.ndarray, flip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``w = a z + b`` (or ``a conj(z) + b`` where ``flip``) per row.

    ``z`` and ``w`` are (K, 3) complex vertex positions.
    """
    zz = np.where(flip[:, None], np.conj(z), z)
    zc = zz - zz.mean(axis=1, keepdims=True)
    wc = w - w.mean(axis=1, keepdims=True)
    a = (wc * np.conj(zc)).sum(axis=1) / np.maximum((np.abs(zc) ** 2).sum(axis=1), 1e-300)
    b = w.mean(axis=1) - a * zz.mean(axis=1)
    return a, b


def _most_voted(
    a: np.ndarray, b: np.ndarray, flip: np.ndarray, width: float, height: float, n: int
) -> np.ndarray:
    """Indices of the ``n`` candidates whose transform the most triangle pairs agree on.

    Every pair of triangles that really corresponds gives nearly the same
    transform, so the true one collects about C(k, 3) votes from k common
    stars while chance look-alikes scatter. Transforms are binned by parity,
    log scale (0.03), rotation (3 degrees) and where the image centre lands
    (3 % of the diagonal; the centre, not the origin, so that a small rotation
    error does not move it far); each candidate gets its bin's votes. Scoring
    every candidate on every source was 90 % of the time of a match.
    """
    if len(a) <= n:
        return np.arange(len(a))
    zc = complex(width / 2.0, height / 2.0)
    centre = a * np.where(flip, np.conj(zc), zc) + b
    step = 0.03 * math.hypot(width, height) * np.abs(a)
    fields = (
        flip.astype(np.int64),
        np.round(np.log(np.abs(a)) / 0.03),
        np.round(np.degrees(np.angle(a)) / 3.0),
        np.round(centre.real / step),
        np.round(centre.imag / step),
    )
    # One integer per bin (12 bits a field) sorts far faster than rows of five.
    key = np.zeros(len(a), np.int64)
    for f in fields:
        key = (key << 12) + (np.clip(np.asarray(f, np.int64), -2047, 2047) + 2048)
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    votes = counts[inverse]
    return np.argsort(-votes, kind="stable")[:n]


def _apply_similarity(a: complex, b: complex, flip: bool, xy: np.ndarray) -> np.ndarray:
    z = xy[:, 0] + 1j * xy[:, 1]
    w = a * (np.conj(z) if flip else z) + b
    return np.column_stack([w.real, w.imag])


def _signed_area(p: np.ndarray) -> np.ndarray:
    """Twice the signed area of triangles ``p`` (K, 3, 2)."""
    d1 = p[:, 1] - p[:, 0]
    d2 = p[:, 2] - p[:, 0]
    return d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]


def _fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    design = np.column_stack([src, np.ones(len(src))])
    coef, *_ = np.linalg.lstsq(design, dst, rcond=None)
    return coef.T  # (2, 3)


def _apply_affine(affine: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return xy @ affine[:, :2].T + affine[:, 2]


def _mutual_nearest(
    pred: np.ndarray, tree: cKDTree, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (source, catalog) closer than ``radius``, each star used once."""
    dist, idx = tree.query(pred, distance_upper_bound=radius)
    ok = np.isfinite(dist)
    src = np.nonzero(ok)[0]
    cat = idx[ok]
    d = dist[ok]
    # Keep the closest source for a catalog star claimed twice.
    order = np.argsort(d)
    _, first = np.unique(cat[order], return_index=True)
    keep = order[first]
    return src[keep], cat[keep]


def match_sources(
    xy: np.ndarray,
    plane: np.ndarray,
    *,
    image_size: tuple[float, float],
    scale_tolerance: float = 0.1,
    tolerance: float = 2.0,
    n_sources: int = 30,
    n_catalog: int | None = None,
    min_matches: int = 6,
    max_log10_false_alarm: float = -6.0,
    shape_tolerance: float = 0.01,
    state: StepState | None = None,
    quick: tuple[int, int] | None = (20, 40),
) -> Match:
    """Find the verified transform from image sources to catalog stars.

    Parameters
    ----------
    xy : ndarray (N, 2)
        Source positions in pixels, brightest first.
    plane : ndarray (M, 2)
        Catalog stars on the tangent plane at the pointing hint, in pixels of
        the guessed scale (standard coordinates divided by the scale), with the
        same handedness as the sky (x east... as projected); brightest first.
    image_size : (width, height)
        Image size in pixels (bounds the triangle sizes considered).
    scale_tolerance : float
        Fractional uncertainty of the scale guess (0.05 = 5 %).
    tolerance : float
        Match radius in pixels.
    n_sources : int
        Brightest sources used to build triangles.
    n_catalog : int, optional
        Brightest catalog stars used to build triangles; by default scaled
        with the ratio of catalog to image area.
    min_matches : int
        Fewest matched stars accepted.
    max_log10_false_alarm : float
        Largest accepted log10 chance of a coincidental match.
    shape_tolerance : float
        Tolerance on the side ratios.
    state : StepState, optional
        Progress and cancellation.
    quick : (int, int) or None
        Sources and catalog stars of a first, cheaper pass; the full sets are
        searched only when it finds no verified match. None: the full sets only.

    Raises
    ------
    MatchError
        No transform passes verification.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    plane = np.asarray(plane, dtype=float).reshape(-1, 2)
    if len(xy) < max(min_matches, 3):
        raise MatchError(f"only {len(xy)} sources detected; at least {max(min_matches, 3)} needed")
    if len(plane) < 3:
        raise MatchError(f"only {len(plane)} catalog stars in the search area")
    width, height = image_size
    ns = min(len(xy), n_sources)
    if n_catalog is None:
        span = np.ptp(plane, axis=0)
        ratio = max(span[0] * span[1] / max(width * height, 1.0), 1.0)
        # 75 stars (67525 triangles) hold enough of the frame's brightest for a
        # pointing a few field radii off; 100 cost twice the time for nothing.
        n_catalog = int(np.clip(1.5 * ns * ratio, ns, 75))
    nc = min(len(plane), n_catalog)
    match = partial(
        _match,
        image_size=image_size,
        scale_tolerance=scale_tolerance,
        tolerance=tolerance,
        min_matches=min_matches,
        max_log10_false_alarm=max_log10_false_alarm,
        shape_tolerance=shape_tolerance,
        state=state,
    )
    tried = 0
    if quick is not None and (ns > quick[0] or nc > quick[1]):
        # Coarse to fine: the brightest 20 sources and 40 stars hold enough
        # common triangles when the hint is good, at a tenth of the full set's
        # triangle pairs (a hinted 1024 px frame: 24 ms instead of 250). Only
        # a verified match ends here; otherwise the full set is searched and
        # the transforms tried here count in its false-alarm chance.
        try:
            return match(xy, plane, min(ns, quick[0]), min(nc, quick[1]), 0)
        except _Failed as exc:
            tried = exc.n_tried
    try:
        return match(xy, plane, ns, nc, tried)
    except _Failed as exc:
        raise MatchError(str(exc)) from None


class _Failed(MatchError):
    """A failed pass, with the transforms it tried."""

    def __init__(self, message: str, n_tried: int = 0) -> None:
        super().__init__(message)
        self.n_tried = n_tried


def _match(
    xy: np.ndarray,
    plane: np.ndarray,
    ns: int,
    nc: int,
    tried_before: int,
    *,
    image_size: tuple[float, float],
    scale_tolerance: float,
    tolerance: float,
    min_matches: int,
    max_log10_false_alarm: float,
    shape_tolerance: float,
    state: StepState | None,
) -> Match:
    """One pass of :func:`match_sources` on the ``ns`` brightest sources and ``nc`` stars.

    Raises :class:`_Failed` with the number of transforms tried.
    """
    width, height = image_size
    diag = math.hypot(width, height)
    img = xy[:ns]
    cat = plane[:nc]

    log_tol = math.log1p(scale_tolerance) + 0.02
    min_side = 0.05 * min(width, height)
    inv_i, ver_i = triangle_invariants(img, max_side=diag, min_side=min_side)
    inv_c, ver_c = triangle_invariants(
        cat, max_side=diag * (1 + scale_tolerance), min_side=min_side * (1 - scale_tolerance)
    )
    if len(inv_i) == 0 or len(inv_c) == 0:
        raise _Failed("too few well-separated stars to form triangles", tried_before)
    # Scale the size axis so that one tolerance box becomes a unit sphere.
    weights = np.array([1.0 / shape_tolerance, 1.0 / shape_tolerance, 1.0 / log_tol])
    tree = cKDTree(inv_c * weights)
    # All pairs within the unit sphere as arrays (no Python lists of neighbours).
    pairs = cKDTree(inv_i * weights).sparse_distance_matrix(tree, 1.0, output_type="ndarray")
    ii, cc = pairs["i"].astype(np.intp), pairs["j"].astype(np.intp)
    if state is not None:
        state.progress(0.3, f"{len(ii)} candidate triangle pairs")
    if len(ii) == 0:
        raise _Failed("no triangle of sources resembles one of catalog stars", tried_before)
    if len(ii) > _MAX_CANDIDATES:
        # Dense fields: score the closest look-alikes only (bounded time and memory).
        keep = np.argpartition(pairs["v"], _MAX_CANDIDATES)[:_MAX_CANDIDATES]
        ii, cc = ii[keep], cc[keep]

    pi = img[ver_i[ii]]  # (K, 3, 2)
    pc = cat[ver_c[cc]]
    flip = np.sign(_signed_area(pi)) != np.sign(_signed_area(pc))
    z = pi[..., 0] + 1j * pi[..., 1]
    w = pc[..., 0] + 1j * pc[..., 1]
    a, b = _similarities(z, w, flip)
    scale = np.abs(a)
    ok = np.abs(np.log(np.maximum(scale, 1e-12))) <= log_tol
    a, b, flip = a[ok], b[ok], flip[ok]
    if len(a) == 0:
        raise _Failed("no triangle match agrees with the pixel-scale guess", tried_before)

    # Score the likeliest candidates: how many bright sources land on a catalog star.
    full_tree = cKDTree(plane)
    n_tried = len(a) + tried_before
    keep = _most_voted(a, b, flip, width, height, _SCORED)
    a, b, flip, sc = a[keep], b[keep], flip[keep], scale[ok][keep]
    zs = img[:, 0] + 1j * img[:, 1]
    pred = a[:, None] * np.where(flip[:, None], np.conj(zs)[None, :], zs[None, :]) + b[:, None]
    radius = tolerance * max(float(sc.max()), 1.0)
    d, _ = full_tree.query(
        np.column_stack([pred.real.ravel(), pred.imag.ravel()]), distance_upper_bound=radius
    )
    hits = (d.reshape(pred.shape) <= tolerance * sc[:, None]).sum(axis=1)
    best = int(np.argmax(hits))
    if state is not None:
        state.progress(0.6, f"best of {n_tried} transforms matches {hits[best]} stars")

    # Refine on all sources: nearest neighbours, then an affine least-squares fit.
    src_i, cat_i = _mutual_nearest(
        _apply_similarity(a[best], b[best], bool(flip[best]), xy), full_tree, tolerance
    )
    return refined_match(
        xy, plane, full_tree, src_i, cat_i, n_tried,
        image_size=image_size, tolerance=tolerance, min_matches=min_matches,
        max_log10_false_alarm=max_log10_false_alarm,
        rotation=float(np.degrees(np.angle(a[best]))), flipped=bool(flip[best]),
    )  # fmt: skip


def refined_match(
    xy: np.ndarray,
    plane: np.ndarray,
    full_tree: cKDTree,
    src_i: np.ndarray,
    cat_i: np.ndarray,
    n_tried: int,
    *,
    image_size: tuple[float, float],
    tolerance: float,
    min_matches: int,
    max_log10_false_alarm: float,
    rotation: float,
    flipped: bool,
) -> Match:
    """The match grown from first pairs ``src_i``, ``cat_i``: refined, then verified.

    An affine fit to the pairs maps every source onto the catalog plane
    (``full_tree`` holds ``plane``), nearest neighbours pair them again,
    three times; the pairs left must be enough and must not be a coincidence
    among ``n_tried`` transforms. Raises :class:`_Failed` otherwise.
    """
    width, height = image_size
    if len(src_i) < 3:
        raise _Failed(f"best transform matches only {len(src_i)} stars", n_tried)
    affine = _fit_affine(xy[src_i], plane[cat_i])
    for radius in (tolerance, tolerance, 0.75 * tolerance):
        src_i, cat_i = _mutual_nearest(_apply_affine(affine, xy), full_tree, radius)
        if len(src_i) < 3:
            break
        affine = _fit_affine(xy[src_i], plane[cat_i])
    n_match = len(src_i)
    resid = _apply_affine(affine, xy[src_i]) - plane[cat_i] if n_match else np.zeros((0, 2))
    rms = float(np.sqrt(np.mean(np.sum(resid**2, axis=1)))) if n_match else np.inf

    lfa = _log10_false_alarm(xy, plane, affine, n_match, 0.75 * tolerance, width, height)
    lfa += math.log10(max(n_tried, 1))  # look-elsewhere: every transform tried was a chance
    det = float(np.linalg.det(affine[:, :2]))
    match = Match(
        source_index=src_i,
        catalog_index=cat_i,
        affine=affine,
        scale=float(math.sqrt(abs(det))),
        rotation=rotation,
        flipped=flipped,
        rms=rms,
        log10_false_alarm=float(lfa),
        n_tried=int(n_tried),
    )
    log.info(
        "match: %d stars, rms %.2f, log10 false alarm %.1f, flipped %s",
        n_match,
        rms,
        lfa,
        match.flipped,
    )
    if n_match < min_matches:
        raise _Failed(
            f"only {n_match} stars match the catalog (at least {min_matches} needed): "
            "wrong field, wrong scale, or too few stars",
            n_tried,
        )
    if lfa > max_log10_false_alarm:
        raise _Failed(
            f"the best match ({n_match} stars) could be a coincidence "
            f"(false-alarm chance 10^{lfa:.1f}); not trusted",
            n_tried,
        )
    return match


def _log10_false_alarm(
    xy: np.ndarray,
    plane: np.ndarray,
    affine: np.ndarray,
    n_match: int,
    radius: float,
    width: float,
    height: float,
) -> float:
    """log10 chance that ``n_match`` sources fall near catalog stars by accident.

    Catalog stars inside the image footprint are treated as a uniform random
    field; each source then has probability ``1 - exp(-density * pi r^2)`` to
    land within ``r`` of one, and the count of such sources is binomial.
    """
    if n_match == 0:
        return 0.0
    inv = np.linalg.inv(affine[:, :2])
    pix = (plane - affine[:, 2]) @ inv.T
    inside = (pix[:, 0] >= 0) & (pix[:, 0] <= width) & (pix[:, 1] >= 0) & (pix[:, 1] <= height)
    n_cat = max(int(inside.sum()), n_match)
    density = n_cat / (width * height)
    p = 1.0 - math.exp(-density * math.pi * radius**2)
    return float(_log_binomial_tail(n_match, len(xy), p) / math.log(10))


def _log_binomial_tail(k: int, n: int, p: float) -> float:
    """Natural log of P(X >= k) for X ~ Binomial(n, p), with 1 <= k.

    ``scipy.stats.binom.logsf(k - 1, n, p)`` is ``log`` of boost's binomial
    complement, which boost computes as the regularized incomplete beta
    ``I_p(k, n - k + 1)``: scipy.special's ``betainc`` is that same boost
    function, so the two agree to the last bit. Written out because
    scipy.stats costs a worker process 0.5-0.9 s of its start-up and nothing
    else in the chain's steps needs it.
    """
    if k > n:
        return -math.inf
    with np.errstate(divide="ignore"):
        return float(np.log(betainc(float(k), float(n - k + 1), p)))
