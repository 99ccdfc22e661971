"""A frame's photometric calibration in the project: magnitudes, matched stars, channels.

The ``magnitudes`` folder holds a frame's sources with calibrated ``mag``,
``mag_err`` and the frame's zero point in the table's meta, with the matched
catalog stars and the fit's rejection trajectory beside it for the panel's
diagnostics. A colour frame's channels are calibrated each on its own; their
rows carry a ``channel`` column.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table, vstack

from ..io.ecsv_read import read_ecsv
from ..io.fitsio import atomic_write_ecsv
from ..io.frames import FrameInfo
from ..lightcurve.scintillation import frame_scintillation
from ..photometry.scintillation import Scintillation
from ..project.products import ProductStore, fingerprint
from ..runtime.params import params_to_dict
from ..runtime.pipeline import StepState
from ..zeropoint import ZeroPoint, ZeroPointParams, ZeroPointResult
from ..zeropoint.channels import aavso_channel_code, calibrate_channels
from .record import FrameRecord
from .solve import catalog_digest, frame_wcs
from .stored_photometry import load_photometry

__all__ = [
    "channel_rows", "load_magnitudes", "load_zeropoint", "zeropoint_fingerprint", "zeropoint_frame",
]  # fmt: skip

# Zero-point facts kept in the magnitudes table's meta (and read back by load_zeropoint).
_ZP_META = (
    "calibrated", "reason", "band", "colour_index", "zero_point", "zero_point_err",
    "colour_term", "colour_term_err", "intrinsic_scatter", "n_stars", "chi2",
)  # fmt: skip


# Tables kept beside a frame's magnitudes for the panel's diagnostics.
_STARS = ".stars.ecsv"  # the matched catalog stars, used or rejected
_TRAJECTORY = ".trajectory.ecsv"  # the fit's rejection trajectory (calibration analysis)


def _write_beside(store: ProductStore, frame: FrameInfo, suffix: str, table: Table) -> None:
    path = store.path("zeropoint", frame.path, suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_ecsv(path, table)


def _read_beside(store: ProductStore, frame: FrameInfo, suffix: str) -> Table:
    path = store.path("zeropoint", frame.path, suffix)
    if not path.exists():
        return Table()
    return read_ecsv(path)


def zeropoint_fingerprint(
    store: ProductStore,
    frame: FrameInfo,
    params: ZeroPointParams,
    catalog: Table | None,
    photometry_fp: str | None = None,
    target_xy: tuple[float, float] | None = None,
    scintillation: float = 0.0,
) -> str:
    """Fingerprint of a frame's calibrated magnitudes (``photometry_fp``: the store's when None).

    ``target_xy``: the light curve's target, kept out of the calibration stars;
    ``scintillation``: the frame's, in every source's error.
    """
    if photometry_fp is None:
        photometry_fp = store.fingerprint_of("photometry", frame.path) or ""
    parts: list[Any] = [
        params_to_dict(params),
        photometry_fp,
        catalog_digest(catalog),
        frame.filter,
        frame.exptime,
    ]
    if target_xy is not None:
        parts.append([round(float(v), 3) for v in target_xy])
    if scintillation > 0:
        parts.append(["scintillation", round(float(scintillation), 7)])
    return fingerprint("zeropoint", *parts)


def load_magnitudes(store: ProductStore, frame: FrameInfo) -> Table | None:
    """``frame``'s stored sources with calibrated ``mag``, ``mag_err``, or None."""
    return store.read_table("zeropoint", frame.path)


def load_zeropoint(store: ProductStore, frame: FrameInfo) -> ZeroPointResult | None:
    """``frame``'s stored photometric calibration, or None.

    The matched catalog stars and the fit's rejection trajectory are read from
    beside the magnitudes (empty tables for products made before they were kept).
    """
    sources = load_magnitudes(store, frame)
    if sources is None:
        return None
    m = sources.meta
    stars = _read_beside(store, frame, _STARS)
    trajectory = _read_beside(store, frame, _TRAJECTORY)
    primary = m.get("primary_channel")
    if primary:
        # A colour frame: the primary channel's calibration (see _calibrate_channels).
        stars = channel_rows(stars, primary)
        trajectory = channel_rows(trajectory, primary)

    def num(key: str) -> float:
        v = m.get(key)
        return float(v) if v is not None else math.nan

    return ZeroPointResult(
        calibrated=bool(m.get("calibrated", False)),
        reason=str(m.get("reason", "")),
        band=str(m.get("band", "")),
        colour_index=str(m.get("colour_index", "")),
        zero_point=num("zero_point"),
        zero_point_err=num("zero_point_err"),
        colour_term=num("colour_term"),
        colour_term_err=num("colour_term_err"),
        spatial=dict(m.get("spatial", {}) or {}),
        spatial_err=dict(m.get("spatial_err", {}) or {}),
        intrinsic_scatter=num("intrinsic_scatter"),
        n_stars=int(m.get("n_stars", 0) or 0),
        chi2=num("chi2"),
        trajectory=trajectory,
        stars=stars,
        sources=sources,
        notes=tuple(m.get("notes", ()) or ()),
    )


def channel_rows(table: Table, channel: str) -> Table:
    """The rows of ``channel`` in a colour light's table (a monochrome one's as it is)."""
    if "channel" not in table.colnames:
        return table
    return table[np.asarray(table["channel"]) == channel]


def zeropoint_frame(
    store: ProductStore,
    frame: FrameInfo,
    params: ZeroPointParams | None,
    catalog: Table | None,
    state: StepState | None = None,
    *,
    catalog_problem: str = "",
    record: FrameRecord | None = None,
    target_xy: tuple[float, float] | None = None,
) -> ZeroPointResult:
    """``frame``'s photometric calibration: stored when current, else fitted now and stored.

    Needs the frame's photometry (run :func:`photometry_frame` first) with
    ``ra``/``dec`` (a solved frame). A frame that cannot be calibrated is
    stored with instrumental magnitudes and ``reason``. With a ``record``
    the photometry is the record's (not read again) and the result goes into it.
    The source measured at ``target_xy`` (a light curve's target) is never a
    calibration star: its own variation would move its zero point.

    Raises
    ------
    ValueError
        When the frame has no photometry yet, or its table has no fluxes.
    """
    params = params or ZeroPointParams()
    state = state if state is not None else StepState()
    photometry_fp = None
    if record is not None and record.photometry is not None:
        photometry_fp = record.fingerprints.get("photometry")
    scint = _scintillation(store, frame, record)
    fp = zeropoint_fingerprint(
        store, frame, params, catalog, photometry_fp, target_xy, float(scint.sigma[0])
    )
    if store.is_current("zeropoint", frame.path, fp):
        stored = load_zeropoint(store, frame)
        # A calibration stored before its trajectory was kept is fitted again
        # (milliseconds), so that the calibration analysis has its curve.
        if stored is not None and (not stored.calibrated or len(stored.trajectory)):
            state.progress(1.0, "zero point current")
            return _keep_zeropoint(record, stored, fp)
    if record is not None and record.photometry is not None:
        sources = record.photometry
    else:
        sources = load_photometry(store, frame)
    if sources is None:
        raise ValueError(f"{frame.path.name}: no photometry yet; measure the frame first")
    scale = sources.meta.get("pixel_scale")
    fwhm = sources.meta.get("fwhm")
    fwhm_arcsec = float(fwhm) * float(scale) if scale and fwhm else None
    # The keyword arguments of ZeroPoint's call, also handed to the channels'.
    kw: dict[str, Any] = dict(
        fwhm_arcsec=fwhm_arcsec,
        image_shape=frame.shape,
        exptime=frame.exptime,
        catalog_problem=catalog_problem,
        state=state,
        scintillation=float(scint.sigma[0]),
    )
    if "channel" in sources.colnames:
        return _calibrate_channels(store, frame, params, sources, catalog, fp, kw, scint)
    result = ZeroPoint(params)(
        sources, catalog, filter=frame.filter, exclude_rows=_rows_at(sources, target_xy), **kw
    )
    out = result.sources
    _zeropoint_meta(out.meta, result)
    out.meta.update(scint.meta())
    _write_beside(store, frame, _STARS, result.stars)
    _write_beside(store, frame, _TRAJECTORY, result.trajectory)
    store.write_table("zeropoint", frame.path, out, fp)
    return _keep_zeropoint(record, result, fp)


def _scintillation(
    store: ProductStore, frame: FrameInfo, record: FrameRecord | None
) -> Scintillation:
    """The frame's scintillation: its header's aperture and site, its airmass.

    Without an AIRMASS card the airmass is computed at the frame's centre
    (its WCS: the record's, else the stored solution's), else at the header's
    pointing. Nothing is looked up when the header gives no aperture.
    """
    where = None
    if frame.aperture_mm and frame.airmass is None:
        wcs = record.wcs if record is not None else frame_wcs(store, frame)
        if wcs is not None and frame.shape is not None:
            ny, nx = frame.shape
            where = wcs.pixel_to_world((nx - 1) / 2.0, (ny - 1) / 2.0)
        elif frame.ra is not None and frame.dec is not None:
            where = SkyCoord(frame.ra * u.deg, frame.dec * u.deg)
    return frame_scintillation(frame, where)


def _rows_at(sources: Table, xy: tuple[float, float] | None) -> list[int]:
    """Rows of ``sources`` measured at ``xy`` (within 0.5 px), none when ``xy`` is None."""
    if xy is None or len(sources) == 0 or "x" not in sources.colnames:
        return []
    d = np.hypot(np.asarray(sources["x"], float) - xy[0], np.asarray(sources["y"], float) - xy[1])
    return [int(i) for i in np.flatnonzero(d <= 0.5)]


def _keep_zeropoint(
    record: FrameRecord | None, result: ZeroPointResult, fp: str
) -> ZeroPointResult:
    if record is not None:
        record.zeropoint = result
        record.fingerprints["zeropoint"] = fp
    return result


def _zeropoint_meta(meta: dict, result: ZeroPointResult) -> None:
    """A calibration's facts into a magnitudes table's meta (read back by load_zeropoint)."""
    for key in _ZP_META:
        value = getattr(result, key)
        meta[key] = value.item() if isinstance(value, np.generic) else value
    meta["spatial"] = {k: float(v) for k, v in result.spatial.items()}
    meta["spatial_err"] = {k: float(v) for k, v in result.spatial_err.items()}
    meta["notes"] = list(result.notes)


def _calibrate_channels(store, frame, params, sources, catalog, fp, kw, scint) -> ZeroPointResult:
    """A colour frame: each channel calibrated on its own; the primary channel's result back.

    The magnitudes table holds every channel's rows; its meta has the
    primary (green) channel's calibration at the top, as a monochrome
    frame's, and every channel's under ``channels``. The matched stars and
    trajectories beside it carry a ``channel`` column.
    """
    cal = calibrate_channels(ZeroPoint(params), sources, catalog, **kw)
    out = cal.sources
    primary = cal.results[cal.primary]
    _zeropoint_meta(out.meta, primary)
    out.meta["channels"] = {}
    stars: list[Table] = []
    trajectories: list[Table] = []
    for name, result in cal.results.items():
        facts: dict = {}
        _zeropoint_meta(facts, result)
        facts["aavso_filter"] = aavso_channel_code(name, params.clear_band)
        out.meta["channels"][name] = facts
        for table, into in ((result.stars, stars), (result.trajectory, trajectories)):
            t = table.copy()
            t["channel"] = np.full(len(t), name, dtype="U2")
            into.append(t)
    out.meta["primary_channel"] = cal.primary
    out.meta.update(scint.meta())
    _write_beside(store, frame, _STARS, vstack(stars, metadata_conflicts="silent"))
    _write_beside(store, frame, _TRAJECTORY, vstack(trajectories, metadata_conflicts="silent"))
    store.write_table("zeropoint", frame.path, out, fp)
    return primary
