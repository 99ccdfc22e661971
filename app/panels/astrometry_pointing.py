"""Where Astrometry searches for lights whose headers give no pointing: the fixed target.

Headers written without a telescope link (MaxIm DL's, for one) have no RA/DEC,
and a blind search of the whole sky may find nothing in its time. A star whose
light curve is asked for is in the field, so its place is a pointing good to
half a field: the panel searches there, as ``fluxion run --ra --dec`` does.
The target is the first fixed one (made in the Targets panel from its RA/Dec).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

from fluxion.core.astrometry import SolveParams, SolveResult
from fluxion.core.chain.blind import pointed_like, unhinted
from fluxion.core.io.frames import FrameInfo

__all__ = ["MAX_SEARCHES", "NightHint", "pointed", "pointing_note", "target_pointing"]


def target_pointing(targets: Sequence[dict[str, Any]]) -> tuple[str, float, float] | None:
    """The first fixed target with a sky position: (name, RA, Dec in degrees), or None."""
    for doc in targets:
        ra, dec = doc.get("ra"), doc.get("dec")
        if doc.get("kind") == "fixed" and ra is not None and dec is not None:
            return str(doc.get("name", "")), float(ra), float(dec)
    return None


def pointed(frame: FrameInfo, pointing: tuple[str, float, float] | None) -> FrameInfo:
    """``frame`` pointed at the target when its header gives no pointing (else itself)."""
    if pointing is None or frame.type != "light":
        return frame
    if frame.ra is not None and frame.dec is not None:
        return frame
    return dataclasses.replace(frame, ra=pointing[1], dec=pointing[2])


def pointing_note(frames: Sequence[FrameInfo], targets: Sequence[dict[str, Any]]) -> str:
    """What the panel says about lights without a pointing (empty when every light has one)."""
    bare = sum(f.type == "light" and (f.ra is None or f.dec is None) for f in frames)
    if not bare:
        return ""
    lights = "light gives" if bare == 1 else "lights give"
    pointing = target_pointing(targets)
    if pointing is None:
        return (
            f"{bare} {lights} no pointing (RA/Dec) in the header: a blind search may find "
            "nothing. Add the target by its RA/Dec in the Targets panel (By coordinates...) and "
            "they are searched near it."
        )
    name, ra, dec = pointing
    coords = f"RA {ra:.5f} Dec {dec:+.5f}"
    # A target given only by its coordinates is named after them: said once.
    where = coords if name.strip() in ("", coords) else f"{name} ({coords})"
    return f"{bare} {lights} no pointing in the header: searched near {where}."


# Lights searched in vain without a scale before the others of the run are not
# searched (each search takes up to the solver's time limit), as fluxion run does.
MAX_SEARCHES = 3


class NightHint:
    """The first light a run solves points the others that lack a pointing or a scale.

    As ``fluxion run`` does (:func:`fluxion.core.chain.blind.pointed_like`):
    a light searched without a scale takes up to the solver's time limit,
    and the lights of a night share their optics. Thread-safe: the lights are
    solved on several workers at once (the first few search on their own).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: tuple[FrameInfo, Any] | None = None
        self._in_vain = 0

    def given_up(self, frame: FrameInfo, params: SolveParams) -> str:
        """Why ``frame`` is not searched ('' to search it): the run's searches found nothing."""
        if frame.type != "light" or not unhinted(frame, params):
            return ""
        with self._lock:
            if self._first is not None or self._in_vain < MAX_SEARCHES:
                return ""
            tried = self._in_vain
        return (
            f"not searched: {tried} lights searched without a pixel scale or pointing found no "
            "solution (each search takes up to the solver's time limit); give the pixel scale "
            "(Pixel scale above), a catalog file, or the target by its RA/Dec (Targets panel)"
        )

    def hinted(self, frame: FrameInfo, params: SolveParams) -> FrameInfo:
        """``frame`` pointed like the first light solved, when it lacks a pointing or a scale."""
        if frame.type != "light" or not unhinted(frame, params):
            return frame
        with self._lock:
            first = self._first
        return frame if first is None else pointed_like([frame], first[1], first[0])[0]

    def solved(self, frame: FrameInfo, result: SolveResult, searched: bool = False) -> None:
        """Keep the run's first solution (a light's, with its WCS); count ``searched`` failures."""
        if frame.type != "light":
            return
        with self._lock:
            if not result.solved or result.wcs is None:
                # A catalog service out of reach counts too: the search was made
                # with what answered (the index files) and took its time.
                self._in_vain += int(searched)
            elif self._first is None:
                self._first = (frame, result.wcs)
