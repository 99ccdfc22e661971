"""A project's lights as the transient searches take them.

What ``fluxion run`` (or the window) left in a project is all the searches
need: each light's calibrated pixels and mask, its detections, its solution
and, when the night was calibrated, its zero point. Each light becomes a
:class:`~fluxion.core.transients.frames.TransientFrame`; lights missing a
solution or detections are named and left out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..calibration.masks import MaskBits
from ..io.fitsio import FitsReadError
from ..io.frames import FrameInfo
from ..io.names import FrameNames
from ..io.site import night_location
from ..project.products import ProductStore
from ..runtime.params import param
from ..runtime.pipeline import StepState
from ..transients.frames import TransientFrame
from ..transients.night import NightSearchParams, NightSearchResult
from ..transients.template import DEFAULT_SURVEY, Template
from .calibrate import frame_image
from .solve import frame_wcs

__all__ = [
    "ProjectTransients",
    "TransientStepParams",
    "known_asteroids",
    "make_template",
    "parse_target",
    "project_transient_frames",
    "project_transients",
    "table_zero_point",
]

log = logging.getLogger(__name__)


def table_zero_point(table: Table | None) -> tuple[float, float]:
    """Magnitude of unit flux (image units) in a light, from its calibrated sources.

    The zero-point step writes each source's calibrated ``mag`` beside its
    ``flux``; their median difference is the frame's zero point for a source
    of the stars' typical colour, whatever units and exposure normalisation
    the fit used. (NaN, NaN) when the light was not calibrated.
    """
    if table is None or len(table) == 0 or not table.meta.get("calibrated", False):
        return math.nan, math.nan
    if not {"mag", "flux"} <= set(table.colnames):
        return math.nan, math.nan
    if "channel" in table.colnames:
        channels = [str(c) for c in table["channel"]]
        keep = "G" if "G" in channels else channels[0]
        table = table[np.asarray(channels) == keep]
    flux = np.asarray(table["flux"], float)
    mag = np.asarray(table["mag"], float)
    ok = np.isfinite(flux) & (flux > 0) & np.isfinite(mag)
    if "flags" in table.colnames:
        ok &= np.asarray(table["flags"]) == 0
    if ok.sum() < 3:
        return math.nan, math.nan
    zp = mag[ok] + 2.5 * np.log10(flux[ok])
    err = table.meta.get("zero_point_err")
    try:
        err = float(err) if err is not None else math.nan
    except (TypeError, ValueError):
        err = math.nan
    return float(np.median(zp)), err


def project_transient_frames(
    folder: str | Path, lights: Sequence[FrameInfo], state: StepState | None = None
) -> tuple[list[TransientFrame], list[str]]:
    """The project's lights as transient frames, in time order, and what was left out.

    Parameters
    ----------
    folder : path
        The project folder.
    lights : sequence of FrameInfo
        The night's usable lights.

    Returns
    -------
    frames : list of TransientFrame
        Every light with a solution and detections (``index`` is its place in time).
    notes : list of str
        One line per light left out, saying why.
    """
    state = state if state is not None else StepState()
    store = ProductStore(folder, FrameNames.of_night(lights))
    lights = sorted(
        (f for f in lights if f.type == "light" and f.usable),
        key=lambda f: f.jd if f.jd is not None else math.inf,
    )
    frames: list[TransientFrame] = []
    notes: list[str] = []
    tick = state.counter(len(lights), "read")
    for f in lights:
        state.check()
        name = store.names.file(f.path)
        det = store.read_table("detection", f.path)
        if det is None or len(det) == 0:
            notes.append(f"{name}: no detections stored; run the detection first")
            tick()
            continue
        try:
            image = frame_image(store, f)
        except (FitsReadError, OSError, ValueError) as exc:
            notes.append(f"{name}: cannot be read ({exc})")
            tick()
            continue
        wcs = frame_wcs(store, f, image.header)
        if wcs is None:
            notes.append(f"{name}: not solved and no WCS in its header; solve it first")
            tick()
            continue
        data = np.asarray(image.data, dtype=np.float32)
        if image.mask is not None:
            mask = np.asarray(image.mask) != 0
            saturated = (np.asarray(image.mask) & np.uint8(MaskBits.SATURATED)) != 0
        else:
            mask = None
            saturated = None
        if image.saturation is not None:
            level = data >= float(image.saturation)
            saturated = level if saturated is None else saturated | level
            mask = saturated if mask is None else mask | saturated
        zp, zp_err = table_zero_point(store.read_table("zeropoint", f.path))
        frames.append(
            TransientFrame(
                image=data,
                mask=mask,
                wcs=wcs.celestial,
                sources=det,
                file=name,
                index=len(frames),
                jd_utc=float(f.jd) if f.jd is not None else math.nan,
                gain=float(f.gain) if f.gain else None,
                zero_point=zp,
                zero_point_err=zp_err if math.isfinite(zp_err) else 0.0,
                saturated=saturated,
            )  # fmt: skip
        )
        tick()
    for line in notes:
        log.warning("%s", line)
    return frames, notes


@dataclass(frozen=True)
class TransientStepParams:
    """The transient search of a project's night (the window's form, ``fluxion transients``)."""

    template: str = param(
        "night", label="Template", choices=("night", "survey", "file"),
        help="night: the night's sharpest frames stacked; survey: a HiPS cutout from CDS "
        "hips2fits (cached); file: a reference image with a WCS.",
    )  # fmt: skip
    template_file: str = param("", label="Reference image", help="FITS file with a WCS.")
    survey: str = param(DEFAULT_SURVEY, label="Survey (HiPS)", help="e.g. CDS/P/PanSTARRS/DR1/r")
    n_template: int = param(
        0, label="Template frames", minimum=0, maximum=100,
        help="The night's sharpest frames stacked; 0: a third of the night (3 to 15).",
    )  # fmt: skip
    threshold: float = param(
        5.0, label="Detection threshold", unit="sigma", minimum=2.0, maximum=1000.0,
        help="Peaks of the difference's point-source significance above this are candidates.",
    )  # fmt: skip
    difference: bool = param(True, label="Difference imaging")
    catalogue: bool = param(True, label="Catalogue comparison")
    limit_sigma: float = param(
        5.0, label="Limit", unit="sigma", minimum=1.0, maximum=20.0,
        help="Forced photometry: detected above this S/N, limiting magnitude at it.",
    )  # fmt: skip
    target: str = param(
        "", label="Target (RA Dec, deg)",
        help="Forced photometry on every difference at this position, e.g. '310.036 39.977'.",
    )  # fmt: skip
    skybot: bool = param(False, label="Reject known asteroids (SkyBoT)")


@dataclass
class ProjectTransients:
    """A project's transient search: the result and the lights it was made on."""

    result: NightSearchResult
    frames: list[str]
    notes: list[str] = field(default_factory=list)


def parse_target(text: str) -> tuple[float, float] | None:
    """``'RA Dec'`` in degrees (spaces or a comma) as a pair; None when empty.

    Raises
    ------
    ValueError
        When the text is not two numbers of a sky position.
    """
    parts = text.replace(",", " ").split()
    if not parts:
        return None
    try:
        ra, dec = (float(v) for v in parts)
    except ValueError:
        raise ValueError(
            f"target {text!r}: give RA and Dec in degrees, e.g. '310.036 39.977'"
        ) from None
    if not (0.0 <= ra < 360.0 and -90.0 <= dec <= 90.0):
        raise ValueError(f"target {text!r}: not a sky position in degrees")
    return ra, dec


def make_template(
    kind: str,
    frames: Sequence[TransientFrame],
    *,
    path: str | Path | None = None,
    survey: str = DEFAULT_SURVEY,
) -> Template | None:
    """The template asked for: None for the night's own (made by the search).

    ``survey`` cutouts are asked on the middle light's WCS and cached in the
    catalogue cache's ``hips2fits`` folder.

    Raises
    ------
    fluxion.core.transients.template.TemplateError
        When the file or the survey cannot give one.
    """
    from ..catalogs.cache import default_cache_dir
    from ..transients.template import TemplateError, reference_template, survey_template

    if kind == "file":
        if not path:
            raise TemplateError("no reference image chosen for the template")
        return reference_template(path)
    if kind == "survey":
        middle = frames[len(frames) // 2]
        return survey_template(
            middle.wcs, middle.image.shape, hips=survey or DEFAULT_SURVEY,
            cache_dir=default_cache_dir() / "hips2fits",
        )  # fmt: skip
    return None


def known_asteroids(frames: Sequence[TransientFrame]) -> tuple[Table | None, str]:
    """Known Solar System objects in the night's field (SkyBoT, cached), and what was found."""
    from astropy import units as u
    from astropy.time import Time

    from ..catalogs.cache import default_cache_dir
    from ..targets.ephemerides import EphemerisError, known_objects_in_field

    f = frames[len(frames) // 2]
    ny, nx = f.image.shape
    centre = f.wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
    radius = centre.separation(f.wcs.pixel_to_world(0, 0)) * 1.05
    jd = float(np.nanmedian([fr.jd_utc for fr in frames]))
    try:
        known = known_objects_in_field(
            centre, radius.to(u.deg), Time(jd, format="jd", scale="utc"),
            cache_dir=default_cache_dir() / "skybot",
        )  # fmt: skip
    except EphemerisError as exc:
        return None, f"known asteroids not rejected: {exc}"
    return known, f"SkyBoT: {len(known)} known object(s) in the field"


def project_transients(
    project,
    params: TransientStepParams | None = None,
    *,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> ProjectTransients:
    """The transient search on a project's night (what ``fluxion transients`` and the panel run).

    Raises
    ------
    ValueError
        No usable light, a bad target, or no template (a TemplateError).
    """
    from ..transients.difference import DifferenceParams
    from ..transients.night import search_night
    from .field import catalog_columns, project_catalog, project_lights

    p = params or TransientStepParams()
    state = state if state is not None else StepState()
    target = parse_target(p.target)
    lights = project_lights(project, state=state.sub(0.0, 0.02))
    frames, notes = project_transient_frames(project.folder, lights, state=state.sub(0.02, 0.1))
    if not frames:
        raise ValueError("no light with detections and a solution: run the night first")
    location = night_location(lights)
    catalog = None
    if p.catalogue:
        table, how = project_catalog(project)
        if table is not None:
            mag, _, _ = catalog_columns(table, lights[0].filter)
            catalog = (np.asarray(table["ra"], float), np.asarray(table["dec"], float), mag)
        notes.append(f"catalogue: {how}")
    template = make_template(p.template, frames, path=p.template_file, survey=p.survey) if (
        p.difference
    ) else None  # fmt: skip
    known = None
    if p.skybot:
        known, how = known_asteroids(frames)
        notes.append(how)
    search = NightSearchParams(
        difference=p.difference, catalogue=p.catalogue, n_template=p.n_template,
        limit_sigma=p.limit_sigma,
    )  # fmt: skip
    result = search_night(
        frames, template=template, catalog=catalog, target=target, known=known,
        location=location, params=search, difference=DifferenceParams(threshold=p.threshold),
        executor=executor, state=state.sub(0.1, 1.0),
    )  # fmt: skip
    return ProjectTransients(result, [f.file for f in frames], notes + result.notes)
