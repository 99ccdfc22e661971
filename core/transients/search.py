"""Transient searches over a sequence of frames, and what they share.

:func:`catalogue_search` runs the catalogue comparison
(:func:`~fluxion.core.transients.catalog_mode.catalogue_candidates`) on every
frame; :func:`finish_candidates` then does what needs the whole sequence:
known Solar System objects, the several-frames test, BJD_TDB. The difference
search (:mod:`.difference`) ends the same way.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.table import Table
from astropy.time import Time

from ..lightcurve.differential import light_curve_times
from ..runtime.params import param
from ..runtime.pipeline import StepState
from .candidates import stack_candidates
from .catalog_mode import CatalogModeParams, catalogue_candidates
from .frames import TransientFrame
from .sequence import confirm_across_frames, reject_known_objects

__all__ = ["SequenceParams", "catalogue_search", "finish_candidates", "frame_columns"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SequenceParams:
    """What makes a candidate over a sequence."""

    min_frames: int = param(
        2,
        label="Least frames",
        help="A candidate must be accepted in at least this many frames (when the "
        "sequence has that many).",
        minimum=1,
        maximum=1000,
    )
    group_radius: float = param(
        1.0,
        label="Same-position radius",
        unit="FWHM",
        help="Candidates of different frames closer than this are one object.",
        minimum=0.1,
        maximum=10.0,
    )


def frame_columns(table: Table, frame: TransientFrame) -> Table:
    """Fill the frame's columns (``file``, ``frame``, ``jd_utc``) of its candidates."""
    table["file"] = frame.file
    table["frame"] = frame.index
    table["jd_utc"] = frame.jd_utc
    return table


def catalogue_search(
    frames: Sequence[TransientFrame],
    catalog_ra: np.ndarray,
    catalog_dec: np.ndarray,
    catalog_mag: np.ndarray,
    *,
    params: CatalogModeParams | None = None,
    sequence: SequenceParams | None = None,
    known: Table | None = None,
    location: EarthLocation | None = None,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> Table:
    """Catalogue-based candidates of every frame, confirmed over the sequence.

    Parameters
    ----------
    frames : sequence of TransientFrame
    catalog_ra, catalog_dec, catalog_mag : ndarray
        The reference catalogue in the frames' band.
    params : CatalogModeParams, optional
    sequence : SequenceParams, optional
    known : Table, optional
        Known Solar System objects (SkyBoT's answer) to reject.
    location : EarthLocation, optional
        The site, for BJD_TDB.
    executor : Executor, optional
        Frames in parallel.
    state : StepState, optional
        Progress and cancellation.
    """
    state = state if state is not None else StepState()
    tick = state.counter(len(frames), "compared with the catalogue")

    def one(frame: TransientFrame) -> Table:
        state.check()
        if not math.isfinite(frame.fwhm):
            log.warning("%s: no FWHM, not searched", frame.file)
            tick()
            return None
        table = catalogue_candidates(
            frame.sources, frame.wcs, catalog_ra, catalog_dec, catalog_mag,
            fwhm=frame.fwhm, zero_point=frame.zero_point, params=params, mask=frame.mask,
        )  # fmt: skip
        tick()
        return frame_columns(table, frame)

    tables = list(executor.map(one, frames)) if executor is not None else [one(f) for f in frames]
    fwhm = np.nanmedian([f.fwhm for f in frames]) if frames else math.nan
    scale = _pixel_scale(frames)
    return finish_candidates(
        stack_candidates(tables), len(frames), fwhm * scale, sequence, known, location
    )


def _pixel_scale(frames: Sequence[TransientFrame]) -> float:
    """arcsec per px of the first frame with a WCS."""
    from astropy.wcs.utils import proj_plane_pixel_scales

    for f in frames:
        if f.wcs is not None and f.wcs.has_celestial:
            return float(np.mean(proj_plane_pixel_scales(f.wcs.celestial)) * 3600.0)
    return math.nan


def finish_candidates(
    candidates: Table,
    n_frames: int,
    fwhm_arcsec: float,
    sequence: SequenceParams | None = None,
    known: Table | None = None,
    location: EarthLocation | None = None,
) -> Table:
    """Known objects, the several-frames test and BJD_TDB, over all frames' candidates."""
    seq = sequence or SequenceParams()
    if len(candidates) == 0:
        return candidates
    reject_known_objects(candidates, known)
    radius = seq.group_radius * fwhm_arcsec if math.isfinite(fwhm_arcsec) else 2.0
    confirm_across_frames(candidates, min(seq.min_frames, max(n_frames, 1)), radius)
    jd = np.asarray(candidates["jd_utc"], float)
    ok = np.isfinite(jd)
    if ok.any():
        where = SkyCoord(
            np.asarray(candidates["ra"])[ok] * u.deg, np.asarray(candidates["dec"])[ok] * u.deg
        )
        times = light_curve_times(Time(jd[ok], format="jd", scale="utc"), where, location)
        candidates["bjd_tdb"][ok] = times["bjd_tdb"]
    return candidates
