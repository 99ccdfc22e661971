"""A night's lights registered on the stars their detection step found.

``fluxion run`` detects every light before solving it; the same sources
register the lights to the first one in time
(:func:`fluxion.core.registration.register_sources`), so nothing is detected
twice. The registration goes into ``frames.ecsv`` (each light's shift,
rotation, scale, matched stars and residual) and places a fixed target in the
lights that were not solved, from a solved light through the two transforms.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from ..io.frames import FrameInfo
from ..project.products import ProductStore
from ..registration.results import REGISTRATION_COLUMNS, Registration
from ..runtime.pipeline import StepState

if TYPE_CHECKING:
    from ..registration.sources import RegistrationSources

__all__ = [
    "add_registration",
    "place_through_registration",
    "register_lights",
    "registration_stars",
]

log = logging.getLogger(__name__)

#: Least S/N of a detected star the lights are registered on.
REGISTRATION_MIN_SNR = 10.0


def registration_stars(table: Table | None) -> RegistrationSources:
    """The stars of a detection table the lights are registered on (brightest, S/N >= 10).

    A few hundred positions, fluxes and errors: what a worker hands back for
    the night's registration instead of the whole table (thousands of rows of
    16 columns on a large frame), so that the night's memory does not grow
    with its frames' detections.
    """
    # Here, not at the top: the sources' module imports detection, which the
    # process that only adds a registration's columns to a table never needs.
    from ..registration.sources import sources_from_table

    return sources_from_table(table, min_snr=REGISTRATION_MIN_SNR)


def register_lights(
    store: ProductStore,
    lights: Sequence[FrameInfo],
    state: StepState | None = None,
    *,
    found: Sequence[Table | RegistrationSources | None] | None = None,
) -> tuple[Registration | None, list[int]]:
    """Register ``lights`` from their detections: ``found`` (one source table,
    its :func:`registration_stars`, or None per light) when the caller has
    them, else the stored ones.

    Returns
    -------
    registration : Registration or None
        Over the lights in time order (None with fewer than two lights or no
        frame size); frames without detections are named as not registered.
    order : list of int
        ``order[k]`` is the index in ``lights`` of the registration's frame ``k``.
    """
    from ..registration.register import register_sources
    from ..registration.sources import RegistrationSources

    if len(lights) < 2:
        return None, []
    order = sorted(range(len(lights)), key=lambda k: (lights[k].jd or np.inf, lights[k].path.name))
    shape = lights[order[0]].shape
    if shape is None:
        return None, order
    stars: list[RegistrationSources] = []
    for k in order:
        f = lights[k]
        given = found[k] if found is not None else None
        if f.shape != shape:
            stars.append(registration_stars(None))
        elif isinstance(given, RegistrationSources):
            stars.append(given)
        else:
            table = given if given is not None else store.read_table("detection", f.path)
            stars.append(registration_stars(table))
    reg = register_sources(stars, (shape[0], shape[1]), state=state)
    for n, k in enumerate(order):
        if lights[k].shape != shape:
            reg.frames[n] = type(reg.frames[n])(
                None, status=f"frame size {lights[k].shape} differs from the first light's {shape}"
            )
    log.info("registration: %s", reg.summary())
    return reg, order


def registration_columns(
    reg: Registration | None, order: Sequence[int], n_lights: int
) -> dict[str, np.ndarray]:
    """The registration's columns for a table of ``n_lights`` rows in the lights' order."""
    table = reg.table() if reg is not None else None
    out: dict[str, np.ndarray] = {}
    for c in REGISTRATION_COLUMNS:
        if table is None:
            empty = {"reg_flipped": False, "reg_n_matched": 0, "reg_status": "not registered"}
            out[c] = np.array([empty.get(c, np.nan)] * n_lights)
            continue
        col = np.empty(n_lights, dtype=table[c].dtype if c != "reg_status" else object)
        for n, k in enumerate(order):
            col[k] = table[c][n]
        out[c] = col.astype(str) if c == "reg_status" else col
    return out


def add_registration(table: Table, reg: Registration | None, order: Sequence[int]) -> Table:
    """``table`` (one row per light) with the registration's columns."""
    for name, values in registration_columns(reg, order, len(table)).items():
        table[name] = values
        if name in ("reg_dx", "reg_dy", "reg_rms", "reg_sigma"):
            table[name].unit = "pix"
        elif name == "reg_rotation":
            table[name].unit = "deg"
    return table


def place_through_registration(
    xy: list, unsolved: Sequence[bool], reg: Registration | None, order: Sequence[int]
) -> list:
    """Place a fixed target in the unsolved lights from the nearest (in time) solved one.

    ``xy[k]`` is (x, y) or None per light; an unsolved light (no WCS) gets
    the position carried from the nearest light that has one through both
    lights' registration, when it lands inside the frame.
    """
    if reg is None or reg.shape is None:
        return xy
    ny, nx = reg.shape
    out = list(xy)
    rank = {k: n for n, k in enumerate(order)}
    known = [k for k in range(len(xy)) if xy[k] is not None and reg.frames[rank[k]].ok]
    if not known:
        return out
    for k in range(len(xy)):
        if not unsolved[k] or xy[k] is not None or not reg.frames[rank[k]].ok:
            continue
        j = min(known, key=lambda m: abs(rank[m] - rank[k]))
        x, y = reg.between(rank[j], rank[k], np.asarray([xy[j]], dtype=float))[0]
        if 0 <= x < nx and 0 <= y < ny:
            out[k] = (float(x), float(y))
    return out
