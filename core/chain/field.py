"""Every star of a project's night measured in every light: the field's photometry.

What ``fluxion run`` (or the window) left in a project is all this needs:
each light's calibrated pixels and mask, its detections and its solution.
The lights are registered from their stored detections (as ``fluxion run``
does); the star list is made in the first light
(:func:`fluxion.core.field.forced.star_list`, with the catalogue's stars when
the lights are solved); each star is placed in every light through that
light's WCS, else through the registration, and measured there
(:func:`fluxion.core.field.forced.measure_field_frame`) on the executor. The
result is a :class:`~fluxion.core.field.data.FieldData`, the input of
magnitude fitting, detrending and the variability search.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from ..field.data import FieldData, field_from_frames
from ..field.forced import ForcedParams, confirmed, measure_field_frame, star_list
from ..io.frames import FrameInfo
from ..io.names import FrameNames
from ..io.site import night_location
from ..lightcurve.differential import light_curve_times
from ..project.products import ProductStore
from ..runtime.pipeline import StepState
from .batch import run_frames
from .calibrate import frame_image
from .register import register_lights
from .solve import frame_wcs

__all__ = ["field_photometry", "catalog_columns"]

log = logging.getLogger(__name__)


def catalog_columns(
    catalog: Table | None, filter_name: str | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """The catalogue's magnitude in the lights' band and its usual colour, per row.

    NaN where the catalogue lacks them; the text says what was taken.
    """
    if catalog is None or len(catalog) == 0:
        return np.zeros(0), np.zeros(0), "no catalogue"
    from ..zeropoint.bands import (
        BandError,
        band_for_filter,
        catalog_magnitudes,
        colour_index_values,
        default_colour_index,
    )

    n = len(catalog)
    try:
        band, _ = band_for_filter(filter_name)
        mags = catalog_magnitudes(catalog, band, unnamed=True)
    except BandError as exc:
        return np.full(n, np.nan), np.full(n, np.nan), f"no catalogue magnitudes: {exc}"
    try:
        index = default_colour_index(band)
        colour, _, how = colour_index_values(catalog, index)
    except BandError as exc:
        return mags.mag, np.full(n, np.nan), f"{mags.how}; no colour ({exc})"
    return mags.mag, colour, f"{mags.how}; colour {how}"


def _placer(wcs, registration, order):
    """A function giving the stars' (x, y) in light ``k`` from the first light's.

    Through the light's WCS when it and the first light have one (the stars'
    sky positions), else through the registration; None when neither places it.
    """
    rank = {k: n for n, k in enumerate(order)}
    first = order[0]

    def place(k: int, xy_ref: np.ndarray, ra: np.ndarray, dec: np.ndarray) -> np.ndarray | None:
        w = wcs[k]
        if w is not None and wcs[first] is not None and np.all(np.isfinite(ra)):
            x, y = w.world_to_pixel_values(ra, dec)
            return np.column_stack([x, y])
        if registration is not None and registration.frames[rank[k]].ok:
            return registration.between(rank[first], rank[k], xy_ref)
        if k == first:
            return np.asarray(xy_ref, float)
        return None

    return place


def field_photometry(
    folder: str | Path,
    lights: Sequence[FrameInfo],
    params: ForcedParams | None = None,
    *,
    catalog: Table | None = None,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> FieldData:
    """Forced photometry of every star in every light of a project.

    Parameters
    ----------
    folder : path
        The project folder (its calibrated lights, detections and solutions).
    lights : sequence of FrameInfo
        The night's usable lights.
    params : ForcedParams, optional
    catalog : Table, optional
        Reference stars (``ra``, ``dec`` and band magnitudes) for the
        catalogue's magnitudes and colours and its undetected stars.
    executor : Executor, optional
        Frames are measured in parallel on it.
    state : StepState, optional

    Raises
    ------
    ValueError
        Fewer than two lights, or no detections in the first light.
    """
    p = params or ForcedParams()
    state = state if state is not None else StepState()
    store = ProductStore(folder, FrameNames.of_night(lights))
    lights = [f for f in lights if f.type == "light" and f.usable]
    if len(lights) < 2:
        raise ValueError(f"need at least two lights; the project has {len(lights)}")
    registration, order = register_lights(store, lights, state.sub(0.0, 0.05))
    if not order:
        order = sorted(range(len(lights)), key=lambda k: lights[k].jd or math.inf)
    first = order[0]
    ref = lights[first]
    sources = store.read_table("detection", ref.path)
    if sources is None or len(sources) == 0:
        raise ValueError(f"{ref.path.name}: no detections stored; run the detection first")
    if ref.shape is None:  # a frame with detections was read
        raise ValueError(f"{ref.path.name}: the frame size is unknown")
    ref_shape = (ref.shape[0], ref.shape[1])
    wcs = [frame_wcs(store, f) for f in lights]
    place = _placer(wcs, registration, order)
    index = {f.path: k for k, f in enumerate(lights)}

    # Detections seen again in the other lights are stars (a moving object is not).
    xy0 = np.column_stack([np.asarray(sources["x"], float), np.asarray(sources["y"], float)])
    seen_xy: list[np.ndarray | None] = []
    rank = {k: n for n, k in enumerate(order)}
    for k, f in enumerate(lights):
        if k == first:
            continue
        det = store.read_table("detection", f.path)
        if det is None or registration is None or not registration.frames[rank[k]].ok:
            seen_xy.append(None)
            continue
        xy = np.column_stack([np.asarray(det["x"], float), np.asarray(det["y"], float)])
        seen_xy.append(registration.between(rank[k], rank[first], xy))
    seen = confirmed(xy0, seen_xy, 2.0 * p.match_radius)
    n_other = sum(s is not None for s in seen_xy)
    cat_mag, colour, how = catalog_columns(catalog, ref.filter)
    stars = star_list(
        sources, ref_shape, seen=seen, n_frames=max(n_other, 1), wcs=wcs[first],
        catalog=catalog, catalog_mag=cat_mag, colour=colour, params=p,
    )  # fmt: skip
    log.info("field: %d stars (%d detected), catalogue: %s", len(stars),
             int(np.sum(stars["detected"])), how)  # fmt: skip
    fwhm = np.array([_frame_fwhm(store, f) for f in lights])
    radius, annulus = p.radii(float(np.nanmedian(fwhm)) if np.isfinite(fwhm).any() else 3.0)
    xy_ref = np.column_stack([stars["x_ref"], stars["y_ref"]])
    ra, dec = np.asarray(stars["ra"], float), np.asarray(stars["dec"], float)
    tables: list[Table | None] = [None] * len(lights)

    def measure(f: FrameInfo):
        k = index[f.path]
        xy = place(k, xy_ref, ra, dec)
        if xy is None:
            return None
        image = frame_image(store, f)
        gain = float(f.gain) if f.gain else 1.0
        det = store.read_table("detection", f.path)
        det_xy = None
        if det is not None and len(det):
            det_xy = np.column_stack([np.asarray(det["x"], float), np.asarray(det["y"], float)])
        sat = image.saturation * gain if image.saturation is not None else None
        return measure_field_frame(
            np.asarray(image.data, float) * gain, stars["star_id"], xy, radius, annulus,
            mask=image.bad, read_noise=float(f.read_noise or 0.0), saturation=sat,
            detections=det_xy, match_radius=p.match_radius,
        )  # fmt: skip

    def done(f: FrameInfo, result) -> None:
        k = index[f.path]
        if isinstance(result, BaseException):
            log.warning("%s not measured: %s", f.path.name, result)
            return
        tables[k] = result

    run_frames(lights, measure, lambda f: (f,), done, executor=executor,
               state=state.sub(0.05, 0.95), label="measured")  # fmt: skip
    frames = Table()
    frames["file"] = [store.names.file(lights[k].path) for k in order]
    frames["jd_utc"] = [lights[k].jd if lights[k].jd is not None else np.nan for k in order]
    frames["fwhm"] = fwhm[order]
    frames["exptime"] = [float(lights[k].exptime or np.nan) for k in order]
    location = night_location(lights)
    bjd, airmass = _times(frames["jd_utc"], ra, dec, location, lights, order)
    frames["airmass"] = airmass
    meta = {
        "aperture_radius": radius, "annulus": list(annulus),
        "aperture_area": math.pi * radius**2,
        "sky_pixels": math.pi * (annulus[1] ** 2 - annulus[0] ** 2),
        "gain": float(ref.gain or 1.0), "read_noise": float(ref.read_noise or 0.0),
        "filter": ref.filter or "", "shape": list(ref_shape), "catalog": how,
        "reference_frame": store.names.file(ref.path),
    }  # fmt: skip
    if location is not None:
        meta["altitude_m"] = float(location.height.to_value(u.m))
    data = field_from_frames(stars, frames, [tables[k] for k in order], meta)
    data.bjd_tdb = bjd
    state.progress(1.0, f"{len(stars)} stars in {len(lights)} lights")
    return data


def _frame_fwhm(store: ProductStore, frame: FrameInfo) -> float:
    """The light's FWHM (px) as its detection measured it (NaN if unknown)."""
    table = store.read_table("detection", frame.path)
    if table is None:
        return math.nan
    value = table.meta.get("fwhm")
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _times(jd, ra, dec, location, lights, order) -> tuple[np.ndarray, np.ndarray]:
    """BJD_TDB of every star in every light, and each light's airmass at the field centre.

    The barycentric correction changes by under 0.01 s across a field of a
    degree between its centre and a star 0.1 deg away in linear order; it
    is computed at the centre and at two offsets and interpolated to each
    star, not once per star and light.
    """
    jd = np.asarray(jd, float)
    n_f, n_s = len(jd), len(ra)
    ok = np.isfinite(jd)
    bjd = np.full((n_f, n_s), np.nan)
    airmass = np.full(n_f, np.nan)
    known = np.isfinite(ra) & np.isfinite(dec)
    if known.any():
        r0, d0 = float(np.median(ra[known])), float(np.median(dec[known]))
    else:
        first = lights[order[0]]
        if first.ra is None or first.dec is None or not ok.any():
            return bjd, np.array([f.airmass or np.nan for f in (lights[k] for k in order)], float)
        r0, d0 = float(first.ra), float(first.dec)
    if not ok.any():
        return bjd, airmass
    t = Time(jd[ok], format="jd", scale="utc")
    step = 0.1
    base = light_curve_times(t, SkyCoord(r0 * u.deg, d0 * u.deg), location)
    east = light_curve_times(t, SkyCoord((r0 + step / math.cos(math.radians(d0))) * u.deg,
                                         d0 * u.deg), location)["bjd_tdb"]  # fmt: skip
    north = light_curve_times(t, SkyCoord(r0 * u.deg, min(d0 + step, 89.9) * u.deg),
                              location)["bjd_tdb"]  # fmt: skip
    b0 = np.asarray(base["bjd_tdb"], float)
    dra = np.where(known, (ra - r0 + 180.0) % 360.0 - 180.0, 0.0) * math.cos(math.radians(d0))
    ddec = np.where(known, dec - d0, 0.0)
    grad_e = (np.asarray(east, float) - b0) / step
    grad_n = (np.asarray(north, float) - b0) / step
    bjd[ok] = b0[:, None] + grad_e[:, None] * dra[None, :] + grad_n[:, None] * ddec[None, :]
    airmass[ok] = np.asarray(base["airmass"], float)
    header = np.array([lights[k].airmass or np.nan for k in order], float)
    airmass = np.where(np.isfinite(airmass), airmass, header)
    return bjd, airmass


def project_catalog(project) -> tuple[Table | None, str]:
    """The reference stars a project's run used, when they are a file; and what was taken.

    The astrometry step's local catalogue file, else the simulated night's own
    (``truth/reference_catalog.ecsv``); None with the reason otherwise (a
    named catalogue is fetched, not kept in the project).
    """
    from ..catalogs.base import CatalogError
    from ..catalogs.local import read_catalog_file
    from ..catalogs.night import night_catalog

    params = project.steps.get("astrometry", {}) if isinstance(project.steps, dict) else {}
    candidates = []
    if params.get("catalog_file"):
        candidates.append(Path(params["catalog_file"]))
    own = night_catalog(project.inputs)
    if own is not None:
        candidates.append(own)
    for path in candidates:
        try:
            return read_catalog_file(path), f"catalogue {path.name}"
        except CatalogError as exc:
            log.warning("%s", exc)
    return None, "no catalogue file in the project: instrumental magnitudes, no colour term"


def project_lights(project, state: StepState | None = None) -> list[FrameInfo]:
    """The usable lights of a project's inputs (their headers read again, the project's site
    and telescope aperture filling theirs where they give none)."""
    from ..io.sequence import scan
    from .project_facts import with_project_facts

    frames = scan(project.inputs, state=state)
    return with_project_facts([f for f in frames if f.type == "light" and f.usable], project)
