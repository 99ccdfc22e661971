"""A night whose headers say nothing of where it points: a few lights solved blind first.

Without a pointing in the headers (the TrES-1 night's MaxIm DL headers have
neither RA/DEC nor a focal length), every light can only be solved blind, by
solve-field within the solver's time limit: 60 s a light, spent on every light
(45 minutes of a 70-light night on two loaded cores, 17 of them solved). The
lights of one night show one field, so the night searches blind only a few of
them, one at a time (the first, the middle and the last: clouds or a bad
frame at one end of the night do not stop it), until one solves. The other
lights, and the ones searched in vain, then take its centre and pixel scale as
their pointing and are solved near it. When none solves, the others are not
searched blind either and the run says what to give for them to solve.

A pointing without a pixel scale (a fixed target's --ra/--dec given for
lights whose headers have neither) is searched the same way: solve-field
near a pointing but at any scale is nearly as slow as blind, and a solved
light gives the others the scale too.

A night whose field no reference catalog answered for (offline with nothing
cached, or the service down) is run the same way although its headers give a
pointing and a scale: each light is then solved only against the
astrometry.net index files, and where they hold too few of the field's stars
(a field smaller than the index's scale) every light failed only after a full
search and a solve-field run (25 lights of the asteroid 2713 night: 17
minutes for nothing). A few lights tried in full tell whether the others can
be solved; one solved gives them its centre and scale.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.wcs.utils import proj_plane_pixel_scales

from ..astrometry.params import SolveParams
from ..io.frames import FrameInfo
from ..io.pixscale import ScaleHint
from ..runtime.pipeline import StepState

if TYPE_CHECKING:
    from .worker import FrameJob

__all__ = [
    "blind_night",
    "uncatalogued_night",
    "blind_candidates",
    "unhinted",
    "run_blind_night",
    "pointed_like",
    "without_blind_search",
    "BLIND_FAILED",
    "UNCATALOGUED_FAILED",
]

#: The run's note when no light searched blind could be solved.
BLIND_FAILED = (
    "the lights give no pointing or no pixel scale and {tried} could not be solved blind, so "
    "the other "
    "{n} were not searched blind (each search takes up to the solver's time limit); give the "
    "pointing (--ra/--dec of a star in the field) or a catalog reachable online, or the pixel "
    "scale (fluxion solve --scale)"
)


#: The run's note when no reference catalog answered and no light tried in full was solved.
UNCATALOGUED_FAILED = (
    "no reference catalog answered for the night's field and {tried} could not be solved "
    "against the astrometry.net index files alone, so the other {n} were tried only near "
    "their headers' pointing, not searched (each search takes up to the solver's time "
    "limit); give a catalog file (--catalog FILE), run online, or install astrometry.net "
    "index files for a field of this size"
)


def unhinted(frame: FrameInfo, params: SolveParams) -> bool:
    """True when ``frame`` lacks a pointing or a pixel scale (its own, or the user's)."""
    no_scale = frame.pixel_scale is None and not params.pixel_scale > 0
    return frame.ra is None or frame.dec is None or no_scale


def blind_night(lights: Sequence[FrameInfo], params: SolveParams) -> bool:
    """True when no light has both a pointing and a scale and solve-field is the way left."""
    return len(lights) > 1 and params.use_solve_field and all(unhinted(f, params) for f in lights)


def uncatalogued_night(
    lights: Sequence[FrameInfo], params: SolveParams, catalog: object | None
) -> bool:
    """True when no reference table was given and a failed light would search at length.

    ``catalog`` is the night's reference table: None when the field's catalog
    did not answer (the run asked for it before the lights), so every light
    would ask again in vain and fall back to the index files and the search.
    """
    searches = params.search or params.use_solve_field
    local = params.catalog == "Local file" and bool(params.catalog_file)
    return len(lights) > 1 and catalog is None and searches and not local


def pointed_like(frames: Sequence[FrameInfo], wcs: Any, first: FrameInfo) -> list[FrameInfo]:
    """``frames`` pointed where ``first`` was solved (``wcs``), at its pixel scale.

    The scale's tolerance is 2 %: the lights of a night share their optics,
    and a frame binned differently from the first one keeps its own header's
    scale (the first's would be wrong by the binning).
    """
    ny, nx = first.shape or (0, 0)
    ra, dec = (float(v) for v in wcs.all_pix2world((nx - 1) / 2.0, (ny - 1) / 2.0, 0))
    arcsec = float(np.mean(proj_plane_pixel_scales(wcs.celestial))) * 3600.0
    scale = ScaleHint(arcsec, 0.02, f"solution of {first.path.name}")
    out = []
    for f in frames:
        same_binning = f.binning == first.binning
        out.append(
            dataclasses.replace(
                f, ra=ra, dec=dec, pixel_scale=scale if same_binning else f.pixel_scale
            )
        )
    return out


def without_blind_search(params: SolveParams) -> SolveParams:
    """The astrometry parameters with the long searches turned off.

    Both solve-field's blind search and the scale and pointing search take up
    to the time limit a light; the hinted solve, which takes well under a
    second, stays.
    """
    return dataclasses.replace(params, use_solve_field=False, search=False)


def blind_candidates(n: int) -> list[int]:
    """Indices of the lights searched blind, in order: the first, the middle, the last."""
    return list(dict.fromkeys(k for k in (0, n // 2, n - 1) if 0 <= k < n))


def run_blind_night(
    lights: list[FrameInfo],
    job: FrameJob,
    process: Callable[[list[FrameInfo], FrameJob, StepState], None],
    solution_of: Callable[[FrameInfo], Any | None],
    forget: Callable[[FrameInfo], None],
    state: StepState,
    failed_note: str = BLIND_FAILED,
    search_after: bool = True,
) -> list[str]:
    """Run every light of a night without pointing (see the module docstring).

    Parameters
    ----------
    lights : list of FrameInfo
        The night's lights; those solved near the first solution are replaced
        in the list by their pointed copies (:func:`pointed_like`).
    job : FrameJob
        What every light goes through.
    process : callable
        ``process(frames, job, state)`` runs the chain on ``frames``.
    solution_of : callable
        The WCS a processed light was solved with, or None.
    forget : callable
        Takes back what a light searched in vain reported, before it runs again.
    state : StepState
        Progress and cancellation.
    failed_note : str
        The note when no light tried in full was solved ({tried} and {n} are
        filled in).
    search_after : bool
        Whether the other lights may still search at every scale once one is
        solved. Not when no catalog answered: the search would only look again,
        for a whole time limit a light, among the index files' few stars that
        the hinted solve near the solution already had; solve-field near it stays.

    Returns
    -------
    list of str
        The run's notes (empty when a light was solved).
    """
    n = len(lights)
    tried: list[int] = []
    for j, k in enumerate(blind_candidates(n)):
        process([lights[k]], job, state.sub(0.03 * j, 0.03 * (j + 1)))
        tried.append(k)
        wcs = solution_of(lights[k])
        if wcs is None:
            continue
        others = [i for i in range(n) if i != k]
        pointed = pointed_like([lights[i] for i in others], wcs, lights[k])
        for i, f in zip(others, pointed, strict=True):
            lights[i] = f
        for i in tried[:-1]:
            forget(lights[i])
        after = (
            job
            if search_after
            else dataclasses.replace(
                job, astrometry=dataclasses.replace(job.astrometry, search=False)
            )
        )
        process([lights[i] for i in others], after, state.sub(0.1, 1.0))
        return []
    rest = [lights[i] for i in range(n) if i not in tried]
    names = ", ".join(lights[i].path.name for i in tried)
    if not rest:
        # Every light was tried in full: no "other 0" left to speak of.
        failed_note = re.sub(r",? so\s+the other \{n\}.*?\); ", "; ", failed_note, flags=re.S)
    note = failed_note.format(tried=names, n=len(rest))
    blindless = dataclasses.replace(job, astrometry=without_blind_search(job.astrometry))
    process(rest, blindless, state.sub(0.1, 1.0))
    return [note]
