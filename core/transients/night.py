"""A whole night's transient search: template, differences, candidates, forced photometry.

:func:`search_night` is what ``fluxion transients`` and the window's
Transients panel run: the template (the night's sharpest frames, a user's
reference, or a survey cutout) is made once, every frame is subtracted
(:func:`~fluxion.core.transients.difference.difference_search`) and, with a
catalogue, compared with it too
(:func:`~fluxion.core.transients.search.catalogue_search`); at a target
position each frame gets forced photometry on its difference, with a
limiting magnitude where nothing is there. Only small cut-outs of each
candidate (frame, template, difference) are kept, not the night's
difference images. :func:`write_transients` writes ``candidates.ecsv`` and
``forced.ecsv``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.table import Table, vstack
from astropy.time import Time

from ..io.fitsio import atomic_write_text
from ..lightcurve.differential import light_curve_times
from ..runtime.params import param
from ..runtime.pipeline import StepState
from .candidates import stack_candidates
from .catalog_mode import CatalogModeParams
from .difference import (
    DifferenceParams,
    FrameDifference,
    difference_search,
    forced_on_differences,
)
from .frames import TransientFrame
from .search import SequenceParams, catalogue_search
from .template import Template, night_template

__all__ = [
    "Cutout",
    "NightSearchParams",
    "NightSearchResult",
    "search_night",
    "write_transients",
    "CANDIDATES_FILE",
    "FORCED_FILE",
]

log = logging.getLogger(__name__)

CANDIDATES_FILE = "candidates.ecsv"
FORCED_FILE = "forced.ecsv"

#: Columns written first in ``candidates.ecsv`` (the rest follow).
_FIRST = ("ra", "dec", "x", "y", "file", "bjd_tdb", "mag", "mag_err", "score", "reason",
          "accepted", "mode")  # fmt: skip
_FORCED_FIRST = ("file", "bjd_tdb", "flux", "flux_err", "mag", "mag_err", "limit_mag", "detected")


@dataclass(frozen=True)
class NightSearchParams:
    """What :func:`search_night` does."""

    difference: bool = param(
        True, label="Difference imaging", help="Subtract a template from every frame."
    )
    catalogue: bool = param(
        True, label="Catalogue comparison",
        help="Detections with no catalogue star, or much brighter than it (needs a catalogue).",
    )  # fmt: skip
    n_template: int = param(
        0, label="Template frames", minimum=0, maximum=100,
        help="The night's sharpest frames stacked into the template; 0: a third of the night "
        "(3 to 15).",
    )  # fmt: skip
    limit_sigma: float = param(
        5.0, label="Limit", unit="sigma", minimum=1.0, maximum=20.0,
        help="Forced photometry: detected above this S/N, limiting magnitude at it.",
    )  # fmt: skip
    cutout: int = param(
        31, label="Cut-out size", unit="px", minimum=9, maximum=201,
        help="Side of the frame/template/difference cut-outs kept for each candidate.",
    )  # fmt: skip
    max_cutouts: int = param(
        200, label="Cut-outs per frame", minimum=0, maximum=10000,
        help="Cut-outs are kept for this many candidates of each frame (highest score first).",
    )  # fmt: skip


@dataclass(frozen=True)
class Cutout:
    """A candidate's surroundings: the frame, the template and the difference (same pixels).

    ``new`` and ``template`` have the sky removed and the template is on the
    frame's flux scale; ``difference`` is ZOGY's ``D`` (unit noise). ``x0,
    y0`` is the cut-out's lower-left pixel in the frame.
    """

    new: np.ndarray = field(repr=False)
    template: np.ndarray = field(repr=False)
    difference: np.ndarray = field(repr=False)
    x0: int
    y0: int


@dataclass
class NightSearchResult:
    """What :func:`search_night` found.

    Attributes
    ----------
    candidates : Table
        Every candidate of every frame (both modes; ``mode`` says which),
        accepted or with its ``reason``.
    forced : Table or None
        At the target: one row per frame (``file``, ``bjd_tdb``, ``flux``,
        ``flux_err``, ``mag``, ``mag_err``, ``limit_mag``, ``detected`` ...).
    template : Template or None
    cutouts : dict
        ``(frame, x, y)`` rounded to 0.01 px -> :class:`Cutout`, for the
        difference-mode candidates (see :meth:`cutout`).
    notes : list of str
        Frames left out and why, in words.
    """

    candidates: Table
    forced: Table | None = None
    template: Template | None = None
    cutouts: dict = field(default_factory=dict, repr=False)
    notes: list[str] = field(default_factory=list)

    def cutout(self, row) -> Cutout | None:
        """The cut-outs of a candidate row (None for catalogue-mode ones)."""
        return self.cutouts.get(_key(int(row["frame"]), float(row["x"]), float(row["y"])))


def _key(frame: int, x: float, y: float) -> tuple[int, float, float]:
    return frame, round(x, 2), round(y, 2)


def _cut(image: np.ndarray, x: float, y: float, size: int) -> tuple[np.ndarray, int, int]:
    """A ``size`` square of ``image`` around (x, y), NaN-padded at the edges."""
    h = size // 2
    ix, iy = int(round(x)), int(round(y))
    out = np.full((2 * h + 1, 2 * h + 1), np.nan, dtype=np.float32)
    ny, nx = image.shape
    ya, yb = max(iy - h, 0), min(iy + h + 1, ny)
    xa, xb = max(ix - h, 0), min(ix + h + 1, nx)
    if ya < yb and xa < xb:
        out[ya - (iy - h) : yb - (iy - h), xa - (ix - h) : xb - (ix - h)] = image[ya:yb, xa:xb]
    return out, ix - h, iy - h


def _bjd(table: Table, ra: np.ndarray, dec: np.ndarray, location: EarthLocation | None) -> None:
    jd = np.asarray(table["jd_utc"], float)
    out = np.full(len(table), np.nan)
    ok = np.isfinite(jd) & np.isfinite(ra) & np.isfinite(dec)
    if ok.any():
        where = SkyCoord(ra[ok] * u.deg, dec[ok] * u.deg)
        times = light_curve_times(Time(jd[ok], format="jd", scale="utc"), where, location)
        out[ok] = np.asarray(times["bjd_tdb"], float)
    table["bjd_tdb"] = out
    table["bjd_tdb"].unit = u.d


def search_night(
    frames: Sequence[TransientFrame],
    *,
    template: Template | None = None,
    catalog: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    target: tuple[float, float] | None = None,
    known: Table | None = None,
    location: EarthLocation | None = None,
    params: NightSearchParams | None = None,
    difference: DifferenceParams | None = None,
    catalogue_params: CatalogModeParams | None = None,
    sequence: SequenceParams | None = None,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> NightSearchResult:
    """Search a night for transients and measure a target on its differences.

    Parameters
    ----------
    frames : sequence of TransientFrame
        The night's lights in time order.
    template : Template, optional
        A user's reference or a survey cutout; default the night's sharpest
        frames stacked.
    catalog : (ra, dec, mag), optional
        The reference catalogue in the frames' band, for the catalogue mode.
    target : (ra, dec), optional
        Degrees: forced photometry there on every frame's difference.
    known : Table, optional
        Known Solar System objects (SkyBoT's answer) to reject.
    location : EarthLocation, optional
        The site, for BJD_TDB.

    Raises
    ------
    ValueError
        When there is no frame, or a difference search was asked and no
        template can be made.
    """
    p = params or NightSearchParams()
    state = state if state is not None else StepState()
    if not frames:
        raise ValueError("no frame to search")
    tables: list[Table] = []
    notes: list[str] = []
    cutouts: dict = {}
    forced_rows: list[Table] = []
    done_frames: set[int] = set()
    limit_sigma = p.limit_sigma

    def visit(frame: TransientFrame, diff: FrameDifference, table: Table) -> None:
        done_frames.add(frame.index)
        if target is not None:
            forced_rows.append(
                forced_on_differences([frame], {frame.index: diff}, *target, n_sigma=limit_sigma)
            )
        if len(table) == 0 or p.max_cutouts == 0:
            return
        order = np.argsort(-np.asarray(table["score"], float))[: p.max_cutouts]
        frame_img = np.asarray(frame.image, np.float32)
        for k in order:
            x, y = float(table["x"][k]), float(table["y"][k])
            c_new, x0, y0 = _cut(frame_img, x, y, p.cutout)
            c_new = c_new - np.nanmedian(c_new)
            c_ref, _, _ = _cut(diff.template, x, y, p.cutout)
            c_d, _, _ = _cut(diff.result.difference, x, y, p.cutout)
            cutouts[_key(frame.index, x, y)] = Cutout(c_new, c_ref, c_d, x0, y0)

    found_template = None
    if p.difference:
        if template is None:
            n_best = p.n_template if p.n_template > 0 else None
            template = night_template(frames, n_best=n_best, state=state.sub(0.0, 0.15))
        found_template = template
        diff_found, _ = difference_search(
            frames, template, params=difference, sequence=sequence, known=known,
            location=location, visit=visit, executor=executor, state=state.sub(0.15, 0.85),
        )  # fmt: skip
        if len(diff_found):
            diff_found["mode"] = "difference"
            tables.append(diff_found)
        skipped = [f.file for f in frames if f.index not in done_frames]
        if skipped:
            notes.append(f"not subtracted (see the log): {', '.join(skipped)}")
    if p.catalogue and catalog is not None and len(catalog[0]):
        cat_found = catalogue_search(
            frames, *catalog, params=catalogue_params, sequence=sequence, known=known,
            location=location, executor=executor, state=state.sub(0.85, 0.97),
        )  # fmt: skip
        if len(cat_found):
            cat_found["mode"] = "catalogue"
            tables.append(cat_found)
    elif p.catalogue and not p.difference:
        notes.append("no catalogue: the catalogue comparison was not made")
    candidates = stack_candidates(tables)
    if "mode" not in candidates.colnames:
        candidates["mode"] = np.zeros(len(candidates), dtype="U10")
    candidates = candidates[[c for c in _FIRST if c in candidates.colnames]
                            + [c for c in candidates.colnames if c not in _FIRST]]  # fmt: skip
    forced = None
    if target is not None:
        missing = [f for f in frames if f.index not in done_frames]
        if missing:
            forced_rows.append(forced_on_differences(missing, {}, *target, n_sigma=limit_sigma))
        forced = vstack(forced_rows) if forced_rows else None
        if forced is not None:
            forced.sort("frame")
            n = len(forced)
            _bjd(forced, np.full(n, target[0]), np.full(n, target[1]), location)
            forced = forced[list(_FORCED_FIRST)
                            + [c for c in forced.colnames if c not in _FORCED_FIRST]]  # fmt: skip
            forced.meta["ra"], forced.meta["dec"] = float(target[0]), float(target[1])
            forced.meta["limit_sigma"] = limit_sigma
            forced.meta["flux"] = "on the difference: the target's flux minus the template's"
    if found_template is not None:
        candidates.meta["template"] = found_template.source
    state.progress(1.0, f"{int(np.sum(candidates['accepted']))} candidates accepted")
    return NightSearchResult(candidates, forced, found_template, cutouts, notes)


def _write(table: Table, path: Path) -> None:
    import io

    buffer = io.StringIO()
    table.write(buffer, format="ascii.ecsv")
    atomic_write_text(path, buffer.getvalue())


def write_transients(result: NightSearchResult, folder: str | Path) -> dict[str, Path]:
    """Write ``candidates.ecsv`` (and ``forced.ecsv`` with a target) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"candidates": folder / CANDIDATES_FILE}
    _write(result.candidates, paths["candidates"])
    if result.forced is not None:
        paths["forced"] = folder / FORCED_FILE
        _write(result.forced, paths["forced"])
    return paths
