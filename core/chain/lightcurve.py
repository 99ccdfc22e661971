"""The target's light curve from the frames' calibrated magnitudes.

Each frame's photometry measured the target at its predicted position and
the photometric calibration put every source of the frame on the catalog's
scale, so the light curve is the target's row of each frame's magnitudes
table: magnitudes on the catalog's scale, already corrected for each frame's
extinction by its own zero point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from ..io.frames import FrameInfo
from ..io.site import night_location, site_meta
from ..lightcurve.differential import LIGHT_CURVE_COLUMNS, light_curve_times
from ..lightcurve.scintillation import site_height
from ..photometry.flags import PhotometryFlag
from ..photometry.noise import MAG_PER_LN
from ..photometry.scintillation import Scintillation
from ..project.products import ProductStore
from .weak_zeropoint import weak_zero_point

__all__ = ["NO_TARGET_NOTE", "light_curve_from_magnitudes", "target_positions", "target_row"]

# The target's row is the one measured at its predicted position (to 0.01 px).
_SAME_POSITION_PX = 0.01
_NO_MEASUREMENT = 1 << 30
# A target whose measured positions stay this close (arcsec) has not moved:
# every aperture is far larger (the positions of a fixed target differ by the
# round trip through each frame's WCS, ~1e-9 arcsec).
_FIXED_ARCSEC = 1e-3
# The target's own source is dropped from the field within this distance (px):
# it is measured where it is predicted, not twice.
_TARGET_SOURCE_PX = 2.0


#: The note of a run given no target (a new user's first ``fluxion run FOLDER``).
NO_TARGET_NOTE = (
    "light curve: none, no target was given; name it and run again: --ra RA --dec DEC "
    "(degrees) for a star, --target NAME for an asteroid or comet, --positions FILE for a "
    "track, or click it in the window"
)


def target_positions(sources: Table | None, target_xy) -> np.ndarray | None:
    """Where a light's photometry measures with its target at ``target_xy``.

    The detected ``sources`` (x, y) without the one at the target, then the
    target: the positions ``fluxion run`` measures, which the window uses too
    so that its products are the run's. None (photometry measures its own
    sources) without a target or without sources.
    """
    if target_xy is None or sources is None:
        return None
    stars = np.column_stack([np.asarray(sources["x"], float), np.asarray(sources["y"], float)])
    d = np.hypot(stars[:, 0] - target_xy[0], stars[:, 1] - target_xy[1])
    return np.vstack([stars[d > _TARGET_SOURCE_PX], np.asarray(target_xy, float)[None, :]])


def target_row(table: Table | None, xy, channel: str | None = None) -> dict | None:
    """The row of ``table`` measured at ``xy`` (the target's), as a dict; None when none.

    A colour frame's table has a row per channel at each position: ``channel``
    chooses one, by default the frame's primary (green) channel.
    """
    return _target_row(table, xy, channel)


def _target_row(table: Table | None, xy, channel: str | None = None) -> dict | None:
    if table is None or xy is None or len(table) == 0:
        return None
    if "channel" in table.colnames:
        channel = channel or str(table.meta.get("primary_channel", "G"))
        table = table[np.asarray(table["channel"]) == channel]
        if len(table) == 0:
            return None
    d = np.hypot(np.asarray(table["x"]) - xy[0], np.asarray(table["y"]) - xy[1])
    k = int(np.argmin(d))
    if d[k] > _SAME_POSITION_PX:
        return None
    row = table[k]
    return {c: row[c] for c in table.colnames}


def _channels(
    store: ProductStore,
    lights: Sequence[FrameInfo],
    rows: Mapping[str, tuple[dict | None, bool]] | None = None,
) -> list[str]:
    """The colour channels the lights' magnitudes have (none for monochrome frames).

    A target row the caller has tells a monochrome night without reading a table.
    """
    known = next((r for r, _ in (rows or {}).values() if r), None)
    if known is not None and "channel" not in known:
        return []
    for f in lights:
        table = store.read_table("zeropoint", f.path)
        if table is not None:
            # One table tells: a night's lights are all colour or all monochrome.
            if "channel" not in table.colnames:
                return []
            return list(dict.fromkeys(str(c) for c in table["channel"]))
    return []


def light_curve_from_magnitudes(
    store: ProductStore,
    lights: Sequence[FrameInfo],
    target_xy: Sequence,
    rows: Mapping[str, tuple[dict | None, bool]] | None = None,
    channel: str | None = None,
) -> Table:
    """The target's light curve: one row per light, NaN where it was not measured.

    Columns are :data:`~fluxion.core.lightcurve.differential.LIGHT_CURVE_COLUMNS` plus
    ``airmass``, ``calibrated`` (whether the frame's zero point was found:
    otherwise ``mag`` is instrumental) and ``mag_err_sys``: ``mag_err`` is the
    point's own error (the target's noise and its zero point's noise), which
    the points scatter by; ``mag_err_sys`` is the calibration's error common
    to the night (the calibration stars' catalog errors and intrinsic
    scatter), which shifts the whole curve; an absolute magnitude's error is
    ``hypot(mag_err, mag_err_sys)``. ``flux`` is the target's counts and
    ``flux_err`` their own error (without the frame's aperture-correction
    error, which the zero point shares). ``flags`` is set to 2**30 where the
    frame has no measurement of the target.

    ``rows`` gives, by file name, the target's row and whether the frame was
    calibrated when the caller has them (the chain's pass over the frames):
    those frames' magnitudes are not read again.

    Colour frames: ``mag`` and the other columns are those of ``channel``
    (default the green, G); every channel's magnitude is there too as
    ``mag_<channel>``, ``mag_err_<channel>``; the meta says the channel and
    its AAVSO filter code (``filter``: TG, TB, TR).

    Raises
    ------
    ValueError
        When ``channel`` is not among the colour frames' channels.
    """
    channels = _channels(store, lights, rows)
    if channel is not None and channels and channel not in channels:
        raise ValueError(
            f"channel {channel!r} was not measured; the frames have {', '.join(channels)}"
        )
    if channels and channel is None:
        channel = "G" if "G" in channels else channels[0]
    if not channels:
        channel = None
    n = len(lights)
    cols: dict[str, list] = {c: [] for c in LIGHT_CURVE_COLUMNS}
    per_channel: dict[str, list] = {f"{c}_{k}": [] for k in channels for c in ("mag", "mag_err")}
    calibrated = []
    sys_err: list[float] = []
    for f, xy in zip(lights, target_xy, strict=True):
        name = store.names.file(f.path)
        if not channels and rows is not None and name in rows:
            found, frame_calibrated = rows[name]
            row = found or {}
        else:
            table = store.read_table("zeropoint", f.path)
            row = _target_row(table, xy, channel) or {}
            frame_calibrated = bool(table is not None and table.meta.get("calibrated", False))
            if frame_calibrated and table is not None:
                # A zero point of too few stars, or too uncertain, calibrates no curve.
                frame_calibrated = not weak_zero_point(
                    int(table.meta.get("n_stars", 0) or 0),
                    float(table.meta.get("zero_point_err", np.nan)),
                )
            for k in channels:
                other = _target_row(table, xy, k) or {}
                for c in ("mag", "mag_err"):
                    per_channel[f"{c}_{k}"].append(float(other.get(c, np.nan)))
        cols["file"].append(name)
        cols["jd_utc"].append(f.jd if f.jd is not None else np.nan)
        cols["bjd_tdb"].append(np.nan)
        for c in ("mag", "mag_err", "flux", "flux_err", "ra", "dec"):
            cols[c].append(float(row.get(c, np.nan)))
        cols["flux_err"][-1] = _own_flux_err(row, cols["flux_err"][-1])
        # Magnitudes made before the split had the common error inside mag_err.
        sys_err.append(float(row.get("mag_err_sys", 0.0 if row else np.nan)))
        cols["x"].append(float(xy[0]) if xy is not None else np.nan)
        cols["y"].append(float(xy[1]) if xy is not None else np.nan)
        cols["flags"].append(int(row.get("flags", _NO_MEASUREMENT)))
        calibrated.append(frame_calibrated)
    out = Table({c: cols[c] for c in LIGHT_CURVE_COLUMNS})
    out["flags"] = np.asarray(out["flags"], dtype=np.int64)
    out["airmass"] = np.full(n, np.nan)
    out["calibrated"] = np.array(calibrated, dtype=bool)
    # The calibration's error common to the night (catalog errors, intrinsic
    # scatter): it moves the curve as a whole, so it is not in mag_err.
    out["mag_err_sys"] = np.asarray(sys_err, dtype=float)
    for name, values in per_channel.items():
        out[name] = np.asarray(values, dtype=float)
        out[name].unit = "mag"
    if channel is not None:
        from ..zeropoint.channels import aavso_channel_code

        out.meta["channel"] = channel
        out.meta["filter"] = aavso_channel_code(channel)
    else:
        out.meta["filter"] = next((str(f.filter) for f in lights if f.filter), "")
    ok = np.isfinite(out["ra"]) & np.isfinite(out["dec"]) & np.isfinite(out["jd_utc"])
    if ok.any():
        location = night_location(lights)
        where = SkyCoord(np.asarray(out["ra"])[ok] * u.deg, np.asarray(out["dec"])[ok] * u.deg)
        times = light_curve_times(
            Time(np.asarray(out["jd_utc"])[ok], format="jd", scale="utc"), where, location
        )
        out["bjd_tdb"][ok] = times["bjd_tdb"]
        out["airmass"][ok] = times["airmass"]
    _scintillation_meta(lights, out)
    out.meta.update(site_meta(lights))  # the site the times used, and whose it is
    for c in ("mag", "mag_err", "mag_err_sys"):
        out[c].unit = "mag"
    if not channels:
        _flag_passing_stars(store, lights, out)
    return out


def _own_flux_err(row: Mapping, flux_err: float) -> float:
    """The target's own flux error: ``flux`` times its instrumental magnitude's error.

    The photometry's ``flux_err`` holds the frame's aperture-correction error,
    one factor shared by every source of the frame. The zero point (the
    transit fit's ``comp_flux`` regressor on a calibrated curve) carries the
    same factor, so it cancels there, as ``mag_inst_err`` already says
    (:func:`~fluxion.core.zeropoint.apply.instrumental_magnitudes` takes it
    out; the frame's scintillation, each source's own, stays in). Counted in
    each point it made the simulated transit night's curve errors 1.5x its
    scatter (chi2/N 0.47 against the truth). Rows without ``mag_inst_err``
    (older products) keep ``flux_err``.
    """
    flux = float(row.get("flux", np.nan))
    inst = float(row.get("mag_inst_err", np.nan))
    if np.isfinite(flux) and np.isfinite(inst) and inst > 0:
        return abs(flux) * inst / MAG_PER_LN
    return flux_err


def _scintillation_meta(lights: Sequence[FrameInfo], out: Table) -> None:
    """Whether the frames' scintillation is in ``mag_err`` (the zero-point step adds it
    where a header gives the telescope's aperture), in the curve's meta."""
    with_aperture = [f for f in lights if f.aperture_mm]
    first = with_aperture[0] if with_aperture else (lights[0] if lights else None)
    exptimes = [f.exptime for f in lights if f.exptime]
    scint = Scintillation.for_night(
        first.aperture_mm / 1000.0 if first is not None and first.aperture_mm else None,
        np.asarray(out["airmass"], float),
        float(np.median(exptimes)) if exptimes else None,
        None if first is None else site_height(first),
        diameter_source=f"header {first.sources.get('aperture_mm', '')}" if first else "",
    )
    out.meta.update(scint.meta())
    if with_aperture and len(with_aperture) < len(lights):
        out.meta["scintillation_note"] += (
            f"; {len(lights) - len(with_aperture)} light(s) without an aperture in the header "
            "left it out"
        )


def _flag_passing_stars(store: ProductStore, lights: Sequence[FrameInfo], out: Table) -> None:
    """Flag CONTAMINATED the lights where a moving target passes a star whose light in
    its aperture exceeds half the error (:func:`neighbour_contamination`).

    The photometry step's sky leaves the neighbours' wings out, so only the
    aperture's share counts. A fixed target's neighbour is there in every
    light: it is not flagged (the comparison with the catalogue is the zero
    point's business), so only a target that moves on the sky is looked at.
    """
    ra, dec = np.asarray(out["ra"], float), np.asarray(out["dec"], float)
    ok = np.isfinite(ra) & np.isfinite(dec)
    if ok.sum() < 2:
        return
    sky = SkyCoord(ra[ok] * u.deg, dec[ok] * u.deg)
    moved = float(sky[0].separation(sky).arcsec.max())
    if moved < _FIXED_ARCSEC:
        return  # a fixed target: no aperture is that small, no frame's table is needed
    # Here: a moving target's path (scipy.optimize), not every run's main process.
    from ..photometry.contamination import CONTAMINATION_FRACTION, neighbour_contamination

    for k, f in enumerate(lights):
        if not np.isfinite(out["flux_err"][k]):
            continue
        table = store.read_table("zeropoint", f.path)
        if table is None or len(table) < 2:
            continue
        meta = table.meta
        radius, fwhm = float(meta.get("aperture_radius", 0)), float(meta.get("fwhm", np.nan))
        scale = float(meta.get("pixel_scale", np.nan))
        if not (radius > 0 and moved > radius * scale):
            continue  # not moving (or the scale is unknown)
        corr = float(meta.get("aperture_correction", 1.0) or 1.0)
        here = np.array([[out["x"][k], out["y"][k]]], float)
        xy = np.column_stack([np.asarray(table["x"], float), np.asarray(table["y"], float)])
        spill = neighbour_contamination(
            here, radius, None, xy, np.asarray(table["flux"], float) / corr, fwhm, 0.0
        )[0]
        if spill * corr > CONTAMINATION_FRACTION * float(out["flux_err"][k]):
            out["flags"][k] |= int(PhotometryFlag.CONTAMINATED)
