"""Frame-to-frame registration of a night that drifts, rotates or changes scale.

Every frame gets a :class:`~fluxion.core.registration.transform.FrameTransform`
from the reference frame's pixels to its own, found from its stars:

1. **Asterisms.** The frame's brightest stars are matched by triangles to
   those of its registered neighbour (the previous frame in time that was
   registered), which overlaps it even when the night has carried the field
   hundreds of pixels away from the reference; failing that, to the
   reference itself. The neighbour's transform composed with the match gives
   the frame's first transform (chaining through neighbours).
2. **Least squares on the star list.** The star list holds every star seen
   so far, in the reference's pixels: it starts as the reference frame's
   stars, and each registered frame adds the stars that entered its field
   and refines the positions of those it saw, so stars that leave the field
   are replaced by new ones as the night goes on. The stars predicted inside
   the frame are paired with its detections (mutual nearest within the match
   radius) and the transform is refitted by weighted least squares with
   sigma clipping; pairing and fit are repeated until the pairs settle.
3. **Record.** The transform, the matched count, the rms residual of the
   matched stars (px) and the transform's own uncertainty are recorded per
   frame; a frame that cannot be registered gets the reason, never an
   exception.

The triangle matcher is the project's own
(:func:`fluxion.core.astrometry.matching.match_sources`), the FOCAS / astroalign
algorithm with a false-alarm test. astroalign (maintained, on PyPI) does
the same asterism step, but it would add scikit-image as a dependency,
has no way to bound the scale change (which is what keeps the search fast
and free of false matches in dense fields) and reports no false-alarm
chance; tests/benchmarks/bench_registration.py compares the two on the same
frames.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

import numpy as np
from astropy.stats import mad_std
from astropy.table import Table
from scipy.spatial import cKDTree
from scipy.stats import poisson

from ..astrometry.matching import MatchError, match_sources
from ..runtime.params import param
from ..runtime.pipeline import StepState
from .sources import RegistrationSources, registration_sources
from .transform import FrameTransform, fit_affine

__all__ = [
    "REGISTRATION_COLUMNS",
    "REGISTRATION_MODELS",
    "FrameRegistration",
    "Registration",
    "RegistrationParams",
    "register_frames",
    "register_sources",
]

log = logging.getLogger(__name__)

REGISTRATION_MODELS = ("affine", "similarity")
#: Columns a frame table gets from :meth:`Registration.table`.
REGISTRATION_COLUMNS = (
    "reg_dx", "reg_dy", "reg_rotation", "reg_scale", "reg_flipped", "reg_n_matched",
    "reg_rms", "reg_sigma", "reg_status",
)  # fmt: skip


@dataclass(frozen=True)
class RegistrationParams:
    """Parameters of frame-to-frame registration."""

    model: str = param(
        "affine", label="Transform", choices=REGISTRATION_MODELS,
        help="'affine': shift, rotation, scale and shear (field rotation, refraction); "
        "'similarity': shift, rotation and one scale.",
    )  # fmt: skip
    threshold: float = param(
        5.0, label="Detection threshold", unit="sigma", minimum=2.0, maximum=1000.0,
        help="Stars this far above the sky are used to register the frames.",
    )  # fmt: skip
    match_radius: float = param(
        3.0, label="Match radius", unit="px", minimum=0.3, maximum=50.0,
        help="A frame's star and a listed star closer than this are the same star.",
    )  # fmt: skip
    max_scale_change: float = param(
        0.05, label="Largest scale change", minimum=0.001, maximum=0.5,
        help="Fractional scale difference a frame may have from its neighbour.",
    )  # fmt: skip
    min_matches: int = param(
        6, label="Fewest matched stars", minimum=3, maximum=1000,
        help="A frame with fewer stars matched is not registered.",
    )  # fmt: skip
    clip_sigma: float = param(
        3.0, label="Clipping", unit="sigma", minimum=1.5, maximum=10.0,
        help="Matched stars further than this from the fit are left out of it.",
    )  # fmt: skip
    n_triangle_stars: int = param(
        30, label="Stars for triangles", minimum=6, maximum=80,
        help="Brightest stars whose triangles are matched.",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.model not in REGISTRATION_MODELS:
            raise ValueError(f"model must be one of {REGISTRATION_MODELS}, not {self.model!r}")


@dataclass(frozen=True)
class FrameRegistration:
    """How one frame was registered.

    Attributes
    ----------
    transform : FrameTransform or None
        Reference pixels -> this frame's pixels; None when not registered.
    n_matched : int
        Stars in the final least-squares fit.
    rms : float
        RMS distance (px) of those stars from the fit.
    sigma : float
        The transform's own 1-sigma position error per axis (px), rms over
        the matched stars, from the fit's covariance.
    via : str
        "reference", "neighbour N" (frame N) or "" when not registered.
    status : str
        "ok" or why the frame was not registered.
    """

    transform: FrameTransform | None
    n_matched: int = 0
    rms: float = math.nan
    sigma: float = math.nan
    via: str = ""
    status: str = "ok"

    @property
    def ok(self) -> bool:
        return self.transform is not None


@dataclass
class Registration:
    """Transforms of every frame of a sequence to its reference frame."""

    frames: list[FrameRegistration]
    reference: int
    shape: tuple[int, int] | None = None
    stars: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def failed(self) -> list[int]:
        """Frames that could not be registered."""
        return [i for i, f in enumerate(self.frames) if not f.ok]

    def transform(self, i: int) -> FrameTransform | None:
        return self.frames[i].transform

    def to_frame(self, i: int, xy_ref: np.ndarray) -> np.ndarray:
        """Positions in the reference's pixels -> frame ``i`` (NaN if unregistered)."""
        p = np.asarray(xy_ref, dtype=float)
        t = self.frames[i].transform
        return np.full(p.shape, np.nan) if t is None else t.apply(p)

    def to_reference(self, i: int, xy: np.ndarray) -> np.ndarray:
        """Positions in frame ``i``'s pixels -> the reference's (NaN if unregistered)."""
        p = np.asarray(xy, dtype=float)
        t = self.frames[i].transform
        return np.full(p.shape, np.nan) if t is None else t.inverse().apply(p)

    def between(self, i: int, j: int, xy: np.ndarray) -> np.ndarray:
        """Positions in frame ``i``'s pixels -> frame ``j``'s."""
        return self.to_frame(j, self.to_reference(i, xy))

    def everywhere(self, xy_ref: np.ndarray) -> np.ndarray:
        """Positions (N, 2) in the reference's pixels in every frame: (n_frames, N, 2)."""
        p = np.asarray(xy_ref, dtype=float).reshape(-1, 2)
        return np.array([self.to_frame(i, p) for i in range(len(self))]).reshape(-1, len(p), 2)

    def table(self) -> Table:
        """One row per frame: :data:`REGISTRATION_COLUMNS`.

        ``reg_dx, reg_dy`` are where the reference's centre moved (px),
        ``reg_rotation`` in degrees, ``reg_scale`` the linear scale.
        """
        ny, nx = self.shape if self.shape is not None else (1, 1)
        cx, cy = (nx - 1) / 2.0, (ny - 1) / 2.0
        rows = []
        for f in self.frames:
            t = f.transform
            if t is None:
                rows.append((math.nan, math.nan, math.nan, math.nan, False, 0, math.nan,
                             math.nan, f.status))  # fmt: skip
                continue
            dx, dy = t.shift_at(cx, cy)
            rows.append((dx, dy, t.rotation, t.scale, t.flipped, f.n_matched, f.rms, f.sigma,
                         f.status))  # fmt: skip
        dtypes = (float, float, float, float, bool, int, float, float, str)
        table = Table(rows=rows or None, names=REGISTRATION_COLUMNS, dtype=dtypes)
        for c in ("reg_dx", "reg_dy", "reg_rms", "reg_sigma"):
            table[c].unit = "pix"
        table["reg_rotation"].unit = "deg"
        table.meta["registration_reference"] = self.reference
        return table

    def summary(self) -> str:
        """One line: frames registered, median residual, largest shift and rotation."""
        good = [f for f in self.frames if f.ok]
        text = f"{len(good)} of {len(self.frames)} frames registered"
        if good:
            t = self.table()
            ok = np.array([f.ok for f in self.frames])
            shift = np.hypot(np.asarray(t["reg_dx"])[ok], np.asarray(t["reg_dy"])[ok])
            text += (
                f" (median residual {np.median([f.rms for f in good]):.3f} px, "
                f"largest shift {np.max(shift):.0f} px, "
                f"rotation {np.ptp(np.asarray(t['reg_rotation'])[ok]):.2f} deg)"
            )
        failed = self.failed
        if failed:
            text += "; not registered: " + ", ".join(
                f"{i} ({self.frames[i].status})" for i in failed[:5]
            )
            text += " ..." if len(failed) > 5 else ""
        return text


# -- the star list ------------------------------------------------------------------------
class _StarList:
    """Stars in the reference's pixels, refined and extended by each registered frame."""

    def __init__(self, s: RegistrationSources, reference: int) -> None:
        self.xy = s.xy.copy()
        self.flux = s.flux.copy()
        self.weight = 1.0 / s.sigma**2
        # Variance (px^2 per axis) each star's position shares with the others
        # that the same frame added: that frame's transform error, passed on.
        self.anchor = np.zeros(len(s))
        # frame -> (its source indices, the listed stars they are)
        self.pairs: dict[int, tuple[np.ndarray, np.ndarray]] = {
            reference: (np.arange(len(s)), np.arange(len(s)))
        }

    @property
    def sigma(self) -> np.ndarray:
        return 1.0 / np.sqrt(self.weight)

    def shared_variance(self, cat: np.ndarray, w: np.ndarray) -> float:
        """The part of a frame's transform variance its stars' common origin adds."""
        return float(np.sum(self.anchor[cat] * w) / np.sum(w)) if len(cat) else 0.0

    def update(
        self,
        i: int,
        t: FrameTransform,
        s: RegistrationSources,
        src: np.ndarray,
        cat: np.ndarray,
        radius: float,
        variance: float,
    ) -> None:
        """Frame ``i`` (transform ``t``) saw listed stars ``cat`` as its sources ``src``."""
        back = t.inverse().apply(s.xy)
        # A star seen again: its position becomes the weighted mean.
        w = 1.0 / s.sigma[src] ** 2
        total = self.weight[cat] + w
        mean = self.xy[cat] * self.weight[cat, None] + back[src] * w[:, None]
        self.xy[cat] = mean / total[:, None]
        self.weight[cat] = total
        # A star not listed (it entered the field): added, if clear of every listed star.
        new = np.setdiff1d(np.arange(len(s)), src)
        if len(new) and len(self.xy):
            d, _ = cKDTree(self.xy).query(back[new])
            new = new[d > 2.0 * radius]
        added = np.arange(len(self.xy), len(self.xy) + len(new))
        if len(new):
            self.xy = np.vstack([self.xy, back[new]])
            self.flux = np.concatenate([self.flux, s.flux[new]])
            self.weight = np.concatenate([self.weight, 1.0 / s.sigma[new] ** 2])
            self.anchor = np.concatenate([self.anchor, np.full(len(new), variance)])
        self.pairs[i] = (np.concatenate([src, new]), np.concatenate([cat, added]))

    def average(self, transforms: dict[int, FrameTransform], sources) -> None:
        """Every star's position: the weighted mean over the frames that saw it."""
        num = np.zeros_like(self.xy)
        den = np.zeros(len(self.xy))
        for i, (src, cat) in self.pairs.items():
            w = 1.0 / sources[i].sigma[src] ** 2
            np.add.at(num, cat, transforms[i].inverse().apply(sources[i].xy[src]) * w[:, None])
            np.add.at(den, cat, w)
        seen = den > 0
        self.xy[seen] = num[seen] / den[seen, None]
        self.weight[seen] = den[seen]


def _pairs(pred: np.ndarray, xy: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest pairs (frame source, listed star) closer than ``radius``."""
    if len(pred) == 0 or len(xy) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    d, k = cKDTree(pred).query(xy, distance_upper_bound=radius)
    src = np.flatnonzero(np.isfinite(d))
    cat = k[src]
    back = cKDTree(xy).query(pred[cat])[1]
    mutual = back == src
    return src[mutual], cat[mutual]


def _refine(
    t: FrameTransform,
    s: RegistrationSources,
    stars: _StarList,
    shape: tuple[int, int],
    p: RegistrationParams,
) -> tuple[FrameTransform, np.ndarray, np.ndarray, float, float]:
    """Weighted, sigma-clipped least squares of ``t`` on the star list.

    Returns the transform, the kept pairs (source, star), rms and sigma (px).
    """
    ny, nx = shape
    margin = p.match_radius
    sim = p.model == "similarity"
    src = cat = np.zeros(0, int)
    for _ in range(5):
        pred = t.apply(stars.xy)
        inside = np.flatnonzero(
            (pred[:, 0] > -margin) & (pred[:, 0] < nx + margin)
            & (pred[:, 1] > -margin) & (pred[:, 1] < ny + margin)
        )  # fmt: skip
        s_i, c_i = _pairs(pred[inside], s.xy, p.match_radius)
        c_i = inside[c_i]
        if len(s_i) < p.min_matches:
            src, cat = s_i, c_i
            break
        # Each pair's error: the frame's centroid and the listed position.
        w = 1.0 / (s.sigma[s_i] ** 2 + stars.sigma[c_i] ** 2)
        t_new, keep = _clipped_fit(stars.xy[c_i], s.xy[s_i], w, p)
        settled = np.array_equal(s_i[keep], src) and np.array_equal(c_i[keep], cat)
        t, src, cat = t_new, s_i[keep], c_i[keep]
        if settled:
            break
    if len(src) < p.min_matches:
        return t, src, cat, math.nan, math.nan
    resid = t.apply(stars.xy[cat]) - s.xy[src]
    rms = float(np.sqrt(np.mean(np.sum(resid**2, axis=1))))
    w = 1.0 / (s.sigma[src] ** 2 + stars.sigma[cat] ** 2)
    sigma = _transform_sigma(stars.xy[cat], resid, w, sim)
    sigma = math.sqrt(sigma**2 + stars.shared_variance(cat, w))
    return t, src, cat, rms, sigma


def _clipped_fit(
    ref_xy: np.ndarray, xy: np.ndarray, w: np.ndarray, p: RegistrationParams
) -> tuple[FrameTransform, np.ndarray]:
    """Weighted least squares ``xy ~ T(ref_xy)`` with sigma clipping; T and the kept pairs."""
    sim = p.model == "similarity"
    keep = np.ones(len(xy), bool)
    for _ in range(5):
        t = fit_affine(ref_xy[keep], xy[keep], w[keep], similarity=sim)
        r = np.hypot(*(t.apply(ref_xy) - xy).T)
        # Robust scale of the normalised residuals, per axis (Rayleigh: r / sqrt(2)).
        z = r * np.sqrt(w)
        scale = max(float(mad_std(z[keep] / math.sqrt(2.0))), 1.0)
        again = z < p.clip_sigma * scale * math.sqrt(2.0)
        if again.sum() < p.min_matches or np.array_equal(again, keep):
            keep = again if again.sum() >= p.min_matches else keep
            break
        keep = again
    return fit_affine(ref_xy[keep], xy[keep], w[keep], similarity=sim), keep


def _polish(
    out: list[FrameRegistration],
    sources: Sequence[RegistrationSources],
    stars: _StarList,
    reference: int,
    p: RegistrationParams,
    iterations: int = 10,
) -> None:
    """Refit every frame on star positions averaged over all frames, a few times.

    Chaining through neighbours passes each frame's error on to the stars it
    adds, and from them to the next frames (a random walk along the night).
    Averaging each star over every frame that saw it and refitting each
    frame to those averages (alternating least squares) spreads that error
    over the night instead; the reference frame stays the identity.
    """
    fitted = [i for i in stars.pairs if i != reference and out[i].ok]
    gauge = 0.0
    for _ in range(iterations):
        transforms = {i: out[i].transform for i in stars.pairs}
        stars.average(transforms, sources)  # type: ignore[arg-type]
        for i in fitted:
            src, cat = stars.pairs[i]
            s = sources[i]
            w = 1.0 / (s.sigma[src] ** 2 + stars.sigma[cat] ** 2)
            t, keep = _clipped_fit(stars.xy[cat], s.xy[src], w, p)
            resid = t.apply(stars.xy[cat[keep]]) - s.xy[src[keep]]
            rms = float(np.sqrt(np.mean(np.sum(resid**2, axis=1))))
            sigma = _transform_sigma(stars.xy[cat[keep]], resid, w[keep], p.model == "similarity")
            sigma = math.sqrt(sigma**2 + stars.shared_variance(cat[keep], w[keep]))
            out[i] = replace(out[i], transform=t, n_matched=int(keep.sum()), rms=rms, sigma=sigma)
        gauge = _gauge_sigma(sources[reference], stars, reference, p)
    # Every transform is measured against the averaged star list, but the
    # reference frame, whose pixels the transforms are in, saw that list with
    # its own centroid errors: an error every other frame shares.
    for i in fitted:
        out[i] = replace(out[i], sigma=math.hypot(out[i].sigma, gauge))


def _gauge_sigma(
    s: RegistrationSources, stars: _StarList, reference: int, p: RegistrationParams
) -> float:
    """How well the reference frame's own stars pin the star list (px per axis)."""
    src, cat = stars.pairs[reference]
    w = 1.0 / (s.sigma[src] ** 2 + stars.sigma[cat] ** 2)
    t, keep = _clipped_fit(stars.xy[cat], s.xy[src], w, p)
    resid = t.apply(stars.xy[cat[keep]]) - s.xy[src[keep]]
    return _transform_sigma(stars.xy[cat[keep]], resid, w[keep], p.model == "similarity")


def _transform_sigma(xy: np.ndarray, resid: np.ndarray, w: np.ndarray, sim: bool) -> float:
    """The fitted transform's position error per axis (px), rms over ``xy``.

    From the weighted least-squares covariance, scaled by the reduced
    chi-square when the stars scatter more than their centroid errors say.
    """
    n = len(xy)
    n_par = 4 if sim else 6
    design = np.column_stack([xy, np.ones(n)])
    normal = design.T @ (design * w[:, None])
    try:
        cov = np.linalg.inv(normal)
    except np.linalg.LinAlgError:
        return math.nan
    dof = 2 * n - n_par
    chi2 = float(np.sum(resid**2 * w[:, None]))
    factor = max(1.0, chi2 / dof) if dof > 0 else 1.0
    var = np.einsum("ij,jk,ik->i", design, cov, design) * factor
    if sim:
        var *= 4.0 / 6.0  # fewer terms: the same data pin a similarity better
    return float(math.sqrt(np.mean(var)))


def _triangle_match(
    s: RegistrationSources,
    other: RegistrationSources,
    shape: tuple[int, int],
    p: RegistrationParams,
) -> FrameTransform:
    """This frame's pixels -> ``other``'s, from asterisms (raises MatchError)."""
    ny, nx = shape
    m = match_sources(
        s.xy, other.xy, image_size=(nx, ny), scale_tolerance=p.max_scale_change,
        tolerance=p.match_radius, n_sources=p.n_triangle_stars,
        n_catalog=min(len(other), p.n_triangle_stars + 10), min_matches=p.min_matches,
    )  # fmt: skip
    return FrameTransform.from_affine(m.affine)


def _walk(n: int, reference: int) -> list[tuple[int, int]]:
    """(frame, side) in registration order: outward from the reference, each side in turn."""
    after = [(i, 1) for i in range(reference + 1, n)]
    before = [(i, -1) for i in range(reference - 1, -1, -1)]
    return after + before


def register_sources(
    sources: Sequence[RegistrationSources],
    shape: tuple[int, int],
    params: RegistrationParams | None = None,
    *,
    reference: int = 0,
    state: StepState | None = None,
) -> Registration:
    """Register frames from their stars (see the module docstring).

    Parameters
    ----------
    sources : sequence of RegistrationSources
        Each frame's stars, frames in time order.
    shape : (ny, nx)
        Frame size (px).
    params : RegistrationParams, optional
    reference : int
        The frame whose pixels the transforms start from.
    state : StepState, optional

    Returns
    -------
    Registration
        The reference frame has the identity; frames that could not be
        registered have no transform and their reason in ``status``.
    """
    p = params or RegistrationParams()
    state = state if state is not None else StepState()
    n = len(sources)
    if not 0 <= reference < n:
        raise ValueError(f"reference frame {reference} not in 0..{n - 1}")
    out: list[FrameRegistration | None] = [None] * n
    ref = sources[reference]
    if len(ref) < p.min_matches:
        reason = f"the reference frame has {len(ref)} stars (at least {p.min_matches} needed)"
        failed = [FrameRegistration(None, status=reason) for _ in range(n)]
        return Registration(failed, reference, tuple(shape))
    stars = _StarList(ref, reference)
    out[reference] = FrameRegistration(
        FrameTransform.identity(), len(ref), 0.0, 0.0, "reference", "ok"
    )
    last = {1: reference, -1: reference}
    for k, (i, side) in enumerate(_walk(n, reference)):
        state.check()
        out[i] = _register_one(i, sources, last[side], reference, out, stars, shape, p)
        if out[i].ok:
            last[side] = i
        state.progress((k + 2) / n, f"registered {k + 2}/{n}")
    _polish(out, sources, stars, reference, p)  # type: ignore[arg-type]
    return Registration(list(out), reference, tuple(shape), stars.xy)  # type: ignore[arg-type]


def _register_one(
    i: int,
    sources: Sequence[RegistrationSources],
    neighbour: int,
    reference: int,
    done: list[FrameRegistration | None],
    stars: _StarList,
    shape: tuple[int, int],
    p: RegistrationParams,
) -> FrameRegistration:
    s = sources[i]
    if len(s) < p.min_matches:
        # Too few for asterisms (thin cloud, dawn): a shift from the neighbour.
        found = _shift_from_neighbour(s, done[neighbour].transform, stars, shape, p, neighbour)
        if found is not None:
            return found
        return FrameRegistration(
            None, status=f"only {len(s)} stars detected (at least {p.min_matches} needed)"
        )
    reasons = []
    tries = [neighbour] if neighbour == reference else [neighbour, reference]
    for j in tries:
        try:
            to_j = _triangle_match(s, sources[j], shape, p)  # frame i -> frame j
        except MatchError as exc:
            reasons.append(f"frame {j}: {exc}")
            continue
        start = done[j].transform.then(to_j.inverse())  # type: ignore[union-attr]
        t, src, cat, rms, sigma = _refine(start, s, stars, shape, p)
        if len(src) < p.min_matches:
            reasons.append(f"frame {j}: only {len(src)} stars fit")
            continue
        stars.update(i, t, s, src, cat, p.match_radius, sigma**2)
        via = "reference" if j == reference else f"neighbour {j}"
        return FrameRegistration(t, len(src), rms, sigma, via, "ok")
    found = _shift_from_neighbour(s, done[neighbour].transform, stars, shape, p, neighbour)
    if found is not None:
        return found
    reason = "; ".join(reasons)
    log.warning("frame %d not registered: %s", i, reason)
    return FrameRegistration(None, status=f"no match ({reason})")


#: Detection threshold (sigma) of a second look at a frame with few stars.
_RETRY_THRESHOLD = 3.0
#: Fewest stars that a shift from the neighbour may rest on.
_MIN_SHIFT_STARS = 2
#: Largest accepted chance that such a shift is a coincidence.
_MAX_SHIFT_FALSE_ALARM = 1e-4


def _shift_from_neighbour(
    s: RegistrationSources,
    start: FrameTransform | None,
    stars: _StarList,
    shape: tuple[int, int],
    p: RegistrationParams,
    neighbour: int,
) -> FrameRegistration | None:
    """The neighbour's transform moved by one shift, from a handful of stars.

    For frames with too few stars for a verified asterism match. Every pair
    of a detected star and a listed star predicted within ``10 x match
    radius`` votes for a shift; the shift most pairs agree on (within the
    match radius) is kept when at least two stars agree and the chance that
    the best of the shifts tried gathers as many pairs from detections thrown
    at random is below 1e-4.
    """
    if start is None or len(s) < _MIN_SHIFT_STARS:
        return None
    ny, nx = shape
    pred = start.apply(stars.xy)
    inside = (pred[:, 0] > 0) & (pred[:, 0] < nx) & (pred[:, 1] > 0) & (pred[:, 1] < ny)
    # A frame that shows few stars shows the brightest: pair with those only,
    # which also makes a chance coincidence rarer.
    inside = np.flatnonzero(inside)
    inside = inside[np.argsort(-stars.flux[inside])[: max(10, 3 * len(s))]]
    pred = pred[inside]
    if len(pred) == 0:
        return None
    reach = 10.0 * p.match_radius
    near = cKDTree(pred).query_ball_point(s.xy, reach)
    votes = np.array([s.xy[a] - pred[b] for a, bs in enumerate(near) for b in bs]).reshape(-1, 2)
    if len(votes) == 0:
        return None
    agree = cKDTree(votes).query_ball_point(votes, p.match_radius, return_length=True)
    shift = votes[int(np.argmax(agree))]
    moved = start.then(FrameTransform.shift(*shift))
    src, cat = _pairs(moved.apply(stars.xy[inside]), s.xy, p.match_radius)
    # Random detections near one listed star: Poisson with this mean per shift.
    expected = len(pred) * len(s) / float(nx * ny) * math.pi * p.match_radius**2
    false_alarm = float(poisson.sf(len(src) - 1, expected)) * len(votes)
    if len(src) < _MIN_SHIFT_STARS or false_alarm > _MAX_SHIFT_FALSE_ALARM:
        return None
    cat = inside[cat]
    w = 1.0 / (s.sigma[src] ** 2 + stars.sigma[cat] ** 2)
    d = s.xy[src] - start.apply(stars.xy[cat])
    t = start.then(FrameTransform.shift(*(d * w[:, None]).sum(axis=0) / w.sum()))
    resid = t.apply(stars.xy[cat]) - s.xy[src]
    rms = float(np.sqrt(np.mean(np.sum(resid**2, axis=1))))
    chi2 = float(np.sum(resid**2 * w[:, None]))
    dof = 2 * len(src) - 2
    sigma = math.sqrt(max(1.0, chi2 / dof if dof > 0 else 1.0) / w.sum())
    return FrameRegistration(
        t, len(src), rms, sigma, f"neighbour {neighbour}", f"shift only: {len(src)} stars"
    )


def register_frames(
    load_image: Callable[[int], np.ndarray],
    n_frames: int,
    params: RegistrationParams | None = None,
    *,
    reference: int = 0,
    cfa: str | None = None,
    state: StepState | None = None,
    executor: Executor | None = None,
) -> Registration:
    """Detect every frame's stars and register the frames (:func:`register_sources`).

    Parameters
    ----------
    load_image : callable
        ``load_image(i)`` gives frame ``i`` (frames in time order).
    n_frames : int
    params : RegistrationParams, optional
    reference : int
    cfa : str, optional
        Bayer pattern of one-shot-colour frames: stars are detected on 2x2 super-pixels.
    state : StepState, optional
        Progress (detection 0-0.8, matching 0.8-1) and cancellation.
    executor : Executor, optional
        Frames are detected in parallel on it.
    """
    p = params or RegistrationParams()
    state = state if state is not None else StepState()
    if n_frames < 1:
        raise ValueError("no frames to register")
    shapes: list[tuple[int, int]] = [(0, 0)] * n_frames
    tick = state.sub(0.0, 0.8).counter(n_frames, "finding stars")

    def one(i: int) -> RegistrationSources:
        state.check()
        image = load_image(i)
        shapes[i] = tuple(int(v) for v in np.shape(image))  # type: ignore[assignment]
        s = registration_sources(image, cfa=cfa, threshold=p.threshold)
        if len(s) < 2 * p.min_matches and p.threshold > _RETRY_THRESHOLD:
            # A thin frame (cloud, twilight): fainter stars are better than none.
            s = registration_sources(image, cfa=cfa, threshold=_RETRY_THRESHOLD)
        tick()
        return s

    if executor is None:
        found = [one(i) for i in range(n_frames)]
    else:
        found = [f.result() for f in [executor.submit(one, i) for i in range(n_frames)]]
    shape = shapes[reference]
    odd = [i for i in range(n_frames) if shapes[i] != shape]
    if odd:
        found = [RegistrationSources.empty() if i in odd else s for i, s in enumerate(found)]
    reg = register_sources(found, shape, p, reference=reference, state=state.sub(0.8, 1.0))
    for i in odd:
        reg.frames[i] = FrameRegistration(
            None, status=f"frame size {shapes[i]} differs from the reference's {shape}"
        )
    state.progress(1.0, reg.summary())
    return reg
