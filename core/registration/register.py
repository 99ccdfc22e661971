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

The parameters and results are :mod:`.results` (re-exported here), the
least squares on the star list :mod:`.starlist`, and the second chances of a
frame with few stars :mod:`.fewstars`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

import numpy as np

from ..astrometry.matching import MatchError, match_sources
from ..runtime.pipeline import StepState
from .fewstars import RETRY_THRESHOLD, shift_from_neighbour
from .results import (
    REGISTRATION_COLUMNS,
    REGISTRATION_MODELS,
    FrameRegistration,
    Registration,
    RegistrationParams,
)
from .sources import RegistrationSources, registration_sources
from .starlist import StarList, polish, refine
from .transform import FrameTransform

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


def _follow(
    s: RegistrationSources,
    start: FrameTransform | None,
    stars: StarList,
    shape: tuple[int, int],
    p: RegistrationParams,
) -> tuple[FrameTransform, np.ndarray, np.ndarray, float, float] | None:
    """The frame registered from its neighbour's transform as it is; None when it moved away.

    Frames of a night follow each other by less than the match radius: the
    neighbour's transform already pairs most of the frame's stars with the
    star list, and the least squares on them (:func:`refine`) ends on the
    pairs the asterisms would have led to, without the triangle search (most
    of a frame's registration time). The result is taken only when at least
    half of the stars that can pair do; fewer means the field moved (a jump,
    a flip) and the asterisms find it.
    """
    if start is None:
        return None
    ny, nx = shape
    pred = start.apply(stars.xy)
    inside = int(
        np.count_nonzero(
            (pred[:, 0] >= 0) & (pred[:, 0] < nx) & (pred[:, 1] >= 0) & (pred[:, 1] < ny)
        )
    )
    t, src, cat, rms, sigma = refine(start, s, stars, shape, p)
    if len(src) < max(p.min_matches, 0.5 * min(len(s), inside)):
        return None
    return t, src, cat, rms, sigma


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
        return Registration(failed, reference, (shape[0], shape[1]))
    stars = StarList(ref, reference)
    out[reference] = FrameRegistration(
        FrameTransform.identity(), len(ref), 0.0, 0.0, "reference", "ok"
    )
    last = {1: reference, -1: reference}
    for k, (i, side) in enumerate(_walk(n, reference)):
        state.check()
        out[i] = one = _register_one(i, sources, last[side], reference, out, stars, shape, p)
        if one.ok:
            last[side] = i
        state.progress((k + 2) / n, f"registered {k + 2}/{n}")
    frames = [r for r in out if r is not None]
    if len(frames) < n:  # the walk visits every frame
        raise RuntimeError("a frame was left out of the registration")
    polish(frames, sources, stars, reference, p)
    return Registration(frames, reference, (shape[0], shape[1]), stars.xy)


def _transform(done: list[FrameRegistration | None], j: int) -> FrameTransform | None:
    """Frame ``j``'s transform; the walk registers a frame before its neighbours use it."""
    reg = done[j]
    if reg is None:
        raise RuntimeError(f"frame {j} is used as a neighbour before it was registered")
    return reg.transform


def _register_one(
    i: int,
    sources: Sequence[RegistrationSources],
    neighbour: int,
    reference: int,
    done: list[FrameRegistration | None],
    stars: StarList,
    shape: tuple[int, int],
    p: RegistrationParams,
) -> FrameRegistration:
    s = sources[i]
    if len(s) < p.min_matches:
        # Too few for asterisms (thin cloud, dawn): a shift from the neighbour.
        found = shift_from_neighbour(s, _transform(done, neighbour), stars, shape, p, neighbour)
        if found is not None:
            return found
        return FrameRegistration(
            None, status=f"only {len(s)} stars detected (at least {p.min_matches} needed)"
        )
    followed = _follow(s, _transform(done, neighbour), stars, shape, p)
    if followed is not None:
        t, src, cat, rms, sigma = followed
        stars.update(i, t, s, src, cat, p.match_radius, sigma**2)
        via = "reference" if neighbour == reference else f"neighbour {neighbour}"
        return FrameRegistration(t, len(src), rms, sigma, via, "ok")
    reasons = []
    tries = [neighbour] if neighbour == reference else [neighbour, reference]
    for j in tries:
        try:
            to_j = _triangle_match(s, sources[j], shape, p)  # frame i -> frame j
        except MatchError as exc:
            reasons.append(f"frame {j}: {exc}")
            continue
        base = _transform(done, j)
        if base is None:  # the reference, and a neighbour only once registered
            raise RuntimeError(f"frame {j} has no transform to start from")
        start = base.then(to_j.inverse())
        t, src, cat, rms, sigma = refine(start, s, stars, shape, p)
        if len(src) < p.min_matches:
            reasons.append(f"frame {j}: only {len(src)} stars fit")
            continue
        stars.update(i, t, s, src, cat, p.match_radius, sigma**2)
        via = "reference" if j == reference else f"neighbour {j}"
        return FrameRegistration(t, len(src), rms, sigma, via, "ok")
    found = shift_from_neighbour(s, _transform(done, neighbour), stars, shape, p, neighbour)
    if found is not None:
        return found
    reason = "; ".join(reasons)
    log.warning("frame %d not registered: %s", i, reason)
    return FrameRegistration(None, status=f"no match ({reason})")


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
        # Kept as it is: a frame that is not 2-D is then named as differing from the reference.
        shapes[i] = tuple(int(v) for v in np.shape(image))  # type: ignore[assignment]
        s = registration_sources(image, cfa=cfa, threshold=p.threshold)
        if len(s) < 2 * p.min_matches and p.threshold > RETRY_THRESHOLD:
            # A thin frame (cloud, twilight): fainter stars are better than none.
            s = registration_sources(image, cfa=cfa, threshold=RETRY_THRESHOLD)
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
