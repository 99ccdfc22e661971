"""A run's plate solving in a few lines: N of M solved, and why the others were not.

``fluxion solve``, ``fluxion run`` and the Astrometry panel end a run with
these lines, so that a night lost to an unreachable catalog says so once, at
the end, with what still works offline, instead of only frame by frame.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..runtime.network import OFFLINE_HELP

__all__ = ["same_cause", "solve_summary"]

# "(27 s ago; not asked again yet)": the same cause met again, not another one.
_AGAIN = re.compile(r" \(\d+ s ago; not asked again yet\)")


def same_cause(text: str) -> str:
    """``text`` without its "(N s ago; not asked again yet)": frames failed alike read alike."""
    return _AGAIN.sub("", text)


def solve_summary(
    solved: Sequence[bool], problems: Sequence[str], *, noun: str = "frames"
) -> list[str]:
    """Lines saying how many frames were solved and, first, a service that could not be reached.

    Parameters
    ----------
    solved : sequence of bool
        Each frame's outcome.
    problems : sequence of str
        Each frame's ``SolveResult.service_problem`` ("" when none).
    noun : str
        What the frames are called ("frames", "lights").
    """
    n = len(solved)
    lines = [f"{sum(bool(s) for s in solved)} of {n} {noun} solved"]
    lost = [p for s, p in zip(solved, problems, strict=True) if not s and p]
    if lost:
        causes = list(dict.fromkeys(same_cause(p) for p in lost))
        lines.append(f"{len(lost)} not solved because {causes[0]}")
        lines.extend(f"  also: {c}" for c in causes[1:3])
        lines.append(OFFLINE_HELP)
    return lines
