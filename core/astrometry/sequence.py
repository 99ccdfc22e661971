"""Solving a night of frames: each solution is the hint for the next frame.

The first frame is solved from its own (header or typed) hint. Every later
frame is solved first with the last good solution as its hint (centre and
pixel scale known to a fraction of a percent, so a small search that is fast
and safe); a frame that fails is retried with its own hint and a wider search,
and when that fails too it is flagged and the run goes on. One bad frame never
stops the run: any error becomes that frame's reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace

from astropy.io import fits
from astropy.table import Table

from ..runtime.pipeline import StepState
from .scale import ScaleGuess
from .solve import PlateSolver, SolveHint, SolveResult, cause_first, not_solved

__all__ = ["FrameToSolve", "solve_sequence", "hint_from_solution"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameToSolve:
    """One frame of a sequence, as the solver needs it.

    Attributes
    ----------
    name : str
        Shown in messages (file name).
    sources : Table or callable
        Detected sources, or a function returning them (called lazily, in
        parallel on the executor when one is given).
    shape : (ny, nx)
        Frame shape.
    hint : SolveHint
        The frame's own hint (header pointing, scale guess).
    header : Header, optional
        For "keep header WCS".
    """

    name: str
    sources: Table | Callable[[], Table]
    shape: tuple[int, int]
    hint: SolveHint
    header: fits.Header | None = None


def hint_from_solution(
    result: SolveResult, own: SolveHint, search_radius: float = 0.1
) -> SolveHint | None:
    """A tight hint from a solved frame: its centre and fitted scale.

    ``own`` supplies the epoch; ``search_radius`` (degrees) covers the drift
    between two frames.
    """
    centre = result.centre
    if not result.solved or centre is None or not math.isfinite(result.pixel_scale):
        return None
    tol = 0.02 if own.scale is None else min(own.scale.tolerance, 0.02)
    sip = getattr(result.wcs, "sip", None)
    return SolveHint(
        centre[0],
        centre[1],
        ScaleGuess(result.pixel_scale, tol, "previous frame"),
        search_radius=search_radius,
        epoch=own.epoch,
        # The same optics: the distortion order chosen once serves the night.
        sip_order=sip.a_order if sip is not None else 1,
    )


def _sources(frame: FrameToSolve) -> Table:
    return frame.sources() if callable(frame.sources) else frame.sources


def solve_sequence(
    frames: Sequence[FrameToSolve],
    solver: PlateSolver,
    *,
    state: StepState | None = None,
    executor: Executor | None = None,
    retry_factor: float = 3.0,
) -> list[SolveResult]:
    """Solve every frame; results in the order of ``frames``.

    Parameters
    ----------
    frames : sequence of FrameToSolve
        The night, in time order.
    solver : PlateSolver
        Configured solver (catalog, fallbacks).
    state : StepState, optional
        Progress and cancellation (cancellation does stop the run).
    executor : Executor, optional
        Runs the frames' source extraction ahead, in parallel.
    retry_factor : float
        How much wider the retry searches (radius and scale tolerance).
    """
    state = state if state is not None else StepState()
    n = len(frames)
    futures = None
    if executor is not None:
        futures = [executor.submit(_sources, f) for f in frames]
    results: list[SolveResult] = []
    previous: SolveResult | None = None
    learned: ScaleGuess | None = None
    for k, frame in enumerate(frames):
        state.progress(k / max(n, 1), f"solving {frame.name} ({k + 1}/{n})")
        try:
            sources = futures[k].result() if futures is not None else _sources(frame)
        except Exception as exc:  # an unreadable frame is flagged, the run goes on
            log.warning("%s: sources unavailable: %s", frame.name, exc)
            results.append(not_solved("none", f"{frame.name}: cannot detect sources: {exc}"))
            continue
        sub = state.sub(k / max(n, 1), (k + 1) / max(n, 1))
        result = _solve_one(solver, frame, sources, previous, learned, retry_factor, sub)
        if result.solved:
            previous = result
            if _scale_disagrees(frame.hint.scale, result.pixel_scale):
                # The header's scale is wrong: the night's next frames use this one.
                learned = ScaleGuess(result.pixel_scale, 0.02, f"found on {frame.name}")
        else:
            log.warning("%s: not solved: %s", frame.name, result.reason)
        results.append(result)
    state.progress(1.0, f"{sum(r.solved for r in results)}/{n} frames solved")
    return results


def _scale_disagrees(guess: ScaleGuess | None, found: float) -> bool:
    """True when a solution's scale lies outside the frame's own guess (or it had none)."""
    if guess is None:
        return True
    if guess.source == "user":
        return False  # typed: the user's word stands
    return abs(math.log(found / guess.arcsec_per_px)) > math.log1p(guess.tolerance)


def _solve_one(solver, frame, sources, previous, learned, retry_factor, state) -> SolveResult:
    result = cause_first(_attempts(solver, frame, sources, previous, learned, retry_factor, state))
    if frame.hint.scale is not None:
        # The factor reported is against the frame's own header, whatever hint solved it.
        result = replace(result, hint_scale=frame.hint.scale.arcsec_per_px)
    return result


def _attempts(solver, frame, sources, previous, learned, retry_factor, state) -> SolveResult:
    if solver.params.keep_header_wcs and frame.header is not None:
        return solver(sources, frame.shape, frame.hint, header=frame.header, state=state)
    attempts: list[tuple[str, SolveHint]] = []
    if previous is not None:
        tight = hint_from_solution(previous, frame.hint)
        if tight is not None:
            attempts.append(("previous frame", tight))
    own = frame.hint
    if learned is not None and _scale_disagrees(own.scale, learned.arcsec_per_px):
        own = replace(own, scale=learned)
    if own.usable:
        attempts.append(("own hint", own))
        attempts.append(("wider search", own.widened(retry_factor)))
    elif previous is not None and attempts:
        attempts.append(("wider search", attempts[0][1].widened(retry_factor)))
    if not attempts:
        attempts.append(("no hint", frame.hint))
    reasons: list[str] = []
    problem = ""
    for label, hint in attempts:
        state.check()
        try:
            result = solver.solve_hinted(sources, frame.shape, hint, state=state)
        except Exception as exc:  # one frame's crash must not end the night
            log.exception("%s: solver error", frame.name)
            result = not_solved("none", f"error: {exc}")
        if result.solved:
            if reasons:
                result = replace(result, messages=(*result.messages, *reasons))
            return result
        reasons.append(f"{label}: {result.reason}")
        problem = problem or result.service_problem
    failed = replace(result, reason="; ".join(reasons), service_problem=problem)
    if own.ra is not None:
        failed = solver.search(sources, frame.shape, own, failed, state=state)
        if failed.solved:
            return failed
    if solver.fallbacks:
        return solver.run_fallbacks(sources, frame.shape, attempts[-1][1], failed, state=state)
    return failed
