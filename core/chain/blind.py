"""A night whose headers say nothing of where it points: one light solved first.

Without a pointing in the headers (the TrES-1 night's MaxIm DL headers have
neither RA/DEC nor a focal length), every light can only be solved blind, by
solve-field within the solver's time limit: 60 s a light, spent again on every
light of a field that solve-field cannot solve at all (70 minutes for 70
lights). The lights of one night show one field, so the night solves its
first light alone first. When it solves, the other lights take its centre
and pixel scale as their pointing, and are solved near it in a fraction of
the time. When it does not, the others are not searched blind either (they
would fail alike) and the run says so: what to give for them to solve.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from astropy.wcs.utils import proj_plane_pixel_scales

from ..astrometry.params import SolveParams
from ..io.frames import FrameInfo
from ..io.pixscale import ScaleHint

__all__ = ["blind_night", "pointed_like", "without_blind_search", "BLIND_FAILED"]

#: The run's note when the first light could not be solved blind.
BLIND_FAILED = (
    "the lights' headers give no pointing and the first light ({name}) could not be solved "
    "blind, so the other {n} were not searched blind (each search takes up to the solver's "
    "time limit); give the pointing (--ra/--dec of a star in the field) or a catalog reachable "
    "online, or the pixel scale (fluxion solve --scale)"
)


def blind_night(lights: Sequence[FrameInfo], params: SolveParams) -> bool:
    """True when no light has a pointing and only a blind search could solve them."""
    return (
        len(lights) > 1
        and params.use_solve_field
        and all(f.ra is None or f.dec is None for f in lights)
    )


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
    """The astrometry parameters with solve-field's blind search turned off."""
    return dataclasses.replace(params, use_solve_field=False)
