"""Checks of what a student measured: the asteroid's track, light curves, zero points.

Each check compares a product of the project with the simulator's truth and
says, as a :class:`~.findings.Finding`, how far off it is in units of the
student's own error and of the error the night's data allow; when a light
curve is off it looks for the usual causes, each one tested against the truth:
a variable among the comparison stars (the residuals follow that variable), no
flat field (they follow the flat under the target as it moves) and single
lights far off (a cosmic ray or a satellite in the aperture).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from ..photometry.noise import MAG_PER_LN
from .findings import Finding, verdict
from .truth import NightTruth

__all__ = ["check_light_curve", "check_track", "check_zero_points"]

_WRONG_CLICK_FWHM = 3.0  # a click further than this many FWHM is not on the asteroid
_OUTLIER_SIGMA = 5.0
_CAUSE_SIGMA = 5.0  # a cause is named when its template is fitted this significantly
_SAME_STAR_ARCSEC = 5.0


def _point_sigma(truth: NightTruth, kind: str) -> float:
    """The magnitude error per light the night allows for the source of ``kind``."""
    t = truth.target(kind)
    snr = (t or {}).get("snr_median")
    return MAG_PER_LN / snr if snr else float("nan")


def _centroid_error(truth: NightTruth, kind: str) -> float:
    """Radial rms (px) of a noise-limited centroid: ~FWHM / S/N, with a 0.05 px floor."""
    t = truth.target(kind) or {}
    snr = t.get("snr_median") or 10.0
    fwhm = truth.lesson["conditions"]["seeing_fwhm_px"]
    return float(np.hypot(fwhm / snr, 0.05))


def check_track(truth: NightTruth, target: dict[str, Any]) -> list[Finding]:
    """The clicks of a moving target against the asteroid's true positions."""
    offsets, sigmas, wrong = [], [], []
    fwhm = truth.lesson["conditions"]["seeing_fwhm_px"]
    for click in target.get("clicks", []):
        c = (
            click
            if isinstance(click, dict)
            else dict(zip(("frame", "x", "y"), click, strict=False))
        )
        i = truth.light_index(c.get("file", "")) if c.get("file") else c.get("frame")
        if i is None:
            continue
        xy = truth.asteroid_xy(int(i))
        if xy is None:
            continue
        d = float(np.hypot(float(c["x"]) - xy[0], float(c["y"]) - xy[1]))
        offsets.append(d)
        sigmas.append(float(c.get("sigma", np.nan)))
        if d > _WRONG_CLICK_FWHM * fwhm:
            wrong.append((truth.files[int(i)], d))
    if not offsets:
        return []
    good = [d for d in offsets if d <= _WRONG_CLICK_FWHM * fwhm]
    rms = float(np.sqrt(np.mean(np.square(offsets))))
    own = float(np.sqrt(np.nanmean(np.square(sigmas)) * 2)) if np.isfinite(sigmas).any() else None
    expected = _centroid_error(truth, "asteroid")
    scale = truth.config.pixel_scale
    name = target.get("name", "the target")
    v = verdict(rms, expected, own)
    text = [
        f"{len(offsets)} click(s) on {name}; the asteroid's true position is known in every "
        f"light. With this night's seeing ({fwhm:.1f} px) and the asteroid's S/N a careful "
        f"click lands within about {expected:.2f} px ({expected * scale:.2f} arcsec)."
    ]
    if wrong:
        where = ", ".join(f"{f} ({d:.0f} px away)" for f, d in wrong[:4])
        text.append(
            f"{len(wrong)} click(s) are not on the asteroid: {where}. They are on another "
            "object or empty sky; blink the frames to see which dot moves, and click that one."
        )
    elif v != "good" and good:
        text.append(
            "The clicks are near the asteroid but not centred: let the click refine on the "
            "asteroid's light (the centroid), and avoid frames where it touches a star."
        )
    return [
        Finding("track_rms_px", "Track error", "px", rms, 0.0, own, expected, v, text),
        Finding("track_rms_arcsec", "Track error on the sky", "arcsec", rms * scale, 0.0,
                None if own is None else own * scale, expected * scale, v, []),
    ]  # fmt: skip


def _which_source(truth: NightTruth, target: dict[str, Any], table: Table) -> str | None:
    """The truth kind a light curve belongs to: asteroid, transit, eclipsing, or None."""
    if target.get("kind") == "moving":
        return "asteroid" if truth.config.asteroid else None
    ra, dec = target.get("ra"), target.get("dec")
    if ra is None or dec is None:
        if "ra" not in table.colnames:
            return None
        ra, dec = np.nanmedian(table["ra"]), np.nanmedian(table["dec"])
    if not (np.isfinite(ra) and np.isfinite(dec)):
        return None
    for kind, (vra, vdec) in truth.variable_sources().items():
        sep = 3600.0 * np.hypot((ra - vra) * np.cos(np.deg2rad(dec)), dec - vdec)
        if sep < _SAME_STAR_ARCSEC:
            return kind
    return None


def _fit_template(r: np.ndarray, err: np.ndarray, template: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares scale b of ``r ~ b * template`` and its error."""
    w = 1.0 / err**2
    t = template - np.sum(w * template) / np.sum(w)
    den = float(np.sum(w * t * t))
    if den <= 0:
        return 0.0, float("inf")
    return float(np.sum(w * t * r) / den), float(1.0 / np.sqrt(den))


def _causes(
    truth: NightTruth, kind: str, table: Table, ok: np.ndarray, r: np.ndarray, err: np.ndarray
) -> list[str]:
    """Plain sentences naming what most likely spoilt a light curve, each tested on the truth."""
    jd = np.asarray(table["jd_utc"], float)[ok]
    out = []
    # A variable comparison star: the residuals follow it, with the opposite sign.
    for other in ("eclipsing", "transit"):
        if other == kind:
            continue
        template = truth.true_magnitudes(other, jd)
        if np.ptp(template) < 1e-4:
            continue
        b, sb = _fit_template(r, err, template)
        if b < 0 and abs(b) > _CAUSE_SIGMA * sb:
            name = {"eclipsing": "the eclipsing binary", "transit": "the transit host"}[other]
            out.append(
                f"Your comparison stars include a variable star: the residuals follow "
                f"{name} upside down (a {abs(b):.0%} share of the ensemble, {abs(b) / sb:.0f} "
                "sigma). When it fades the target seems to brighten. Leave it out of the "
                "comparison ensemble, or check each comparison star against the others."
            )
    # No flat: the target's light follows the flat field under it as it moves.
    if "x" in table.colnames and "y" in table.colnames:
        x, y = np.asarray(table["x"], float)[ok], np.asarray(table["y"], float)[ok]
        flat = truth.night.flat_field
        ny, nx = flat.shape
        inside = np.isfinite(x) & np.isfinite(y)
        if inside.sum() > 3:
            xi = np.clip(np.round(x[inside]).astype(int), 0, nx - 1)
            yi = np.clip(np.round(y[inside]).astype(int), 0, ny - 1)
            template = -MAG_PER_LN * np.log(flat[yi, xi])
            b, sb = _fit_template(r[inside], err[inside], template)
            if 0.5 < b < 1.5 and b > _CAUSE_SIGMA * sb:
                out.append(
                    "The light curve follows the flat field under the target: the frames were "
                    "not divided by a flat (or a wrong one), so vignetting and dust donuts "
                    "change the target's light as it moves across them. Make a master flat "
                    "and apply it."
                )
    # Single lights far off.
    z = r / err
    far = np.flatnonzero(np.abs(z) > _OUTLIER_SIGMA)
    if 0 < len(far) <= max(2, len(z) // 10):
        files = np.asarray(table["file"])[ok][far] if "file" in table.colnames else far
        out.append(
            f"{len(far)} light(s) are far off the others ({', '.join(map(str, files[:4]))}): "
            "a cosmic ray or a satellite in the aperture, or a star the target passes over. "
            "Look at those frames and leave the spoilt ones out."
        )
    return out


def check_light_curve(
    truth: NightTruth, target: dict[str, Any], table: Table, project_folder: Path | None = None
) -> list[Finding]:
    """A light curve against the true brightness of the source it measures."""
    kind = _which_source(truth, target, table)
    if kind is None:
        return []
    mag = np.asarray(table["mag"], float)
    err = np.asarray(table["mag_err"], float)
    jd = np.asarray(table["jd_utc"], float)
    ok = np.isfinite(mag) & np.isfinite(err) & (err > 0) & np.isfinite(jd)
    excluded = set(target.get("excluded", []))
    if excluded and "file" in table.colnames:
        ok &= ~np.isin(np.asarray(table["file"]).astype(str), list(excluded))
    n = int(ok.sum())
    if n < 3:
        return []
    true = truth.true_magnitudes(kind, jd[ok])
    resid = mag[ok] - true
    w = 1.0 / err[ok] ** 2
    offset = float(np.sum(w * resid) / np.sum(w))
    r = resid - offset
    chi2 = float(np.mean((r / err[ok]) ** 2))
    scatter = float(np.sqrt(np.mean(r**2)))
    allowed = _point_sigma(truth, kind)
    label = {"asteroid": "the asteroid", "transit": "the transit host",
             "eclipsing": "the eclipsing binary"}[kind]  # fmt: skip
    causes = _causes(truth, kind, table, ok, r, err[ok]) if chi2 > 2.0 else []
    chi_tol = 3.0 * math.sqrt(2.0 / n)
    v_chi = "good" if abs(chi2 - 1.0) <= max(chi_tol, 0.5) else ("fair" if chi2 < 3 else "off")
    text = [
        f"The light curve of {label} against its true brightness over {n} lights, after "
        "removing one constant offset. chi2/N near 1 means the error bars tell the truth "
        "about the scatter."
    ]
    if causes:
        text += causes
    elif chi2 > 1.0 + max(chi_tol, 0.5):
        text.append(
            "The points scatter more than their error bars say: the errors leave out a noise "
            "(comparison stars, flat field, sky) or the aperture is too small for the seeing."
        )
    elif chi2 < 1.0 - max(chi_tol, 0.5):
        text.append("The error bars are larger than the scatter: they overstate the noise.")
    own = float(np.median(err[ok]))
    v_sc = verdict(scatter, allowed, own)
    sc_text = [
        f"Per light, this night allows about {allowed:.4f} mag for {label} (its S/N in an "
        "aperture of one FWHM)."
    ]
    if v_sc != "good" and not causes:
        sc_text.append(
            "Much more scatter than the data allow: a bigger or better-centred aperture, "
            "brighter and more comparison stars, and a flat field all help."
        )
    out = [
        Finding(f"{kind}_lightcurve_chi2", f"Light curve of {label}: chi2/N", "",
                chi2, 1.0, None, math.sqrt(2.0 / n), v_chi, text),
        Finding(f"{kind}_lightcurve_scatter", f"Light curve of {label}: scatter", "mag",
                scatter, 0.0, own, allowed, v_sc, sc_text),
    ]  # fmt: skip
    if "calibrated" in table.colnames and bool(np.all(np.asarray(table["calibrated"])[ok])):
        scale_err = float(table.meta.get("magnitude_scale_err") or 0.0)
        own_mag = float(np.hypot(scale_err, 1.0 / np.sqrt(np.sum(w))))
        expected = max(own_mag, 0.01)
        v = verdict(offset, expected, own_mag)
        out.append(
            Finding(f"{kind}_magnitude", f"Mean V of {label}", "mag",
                    float(np.mean(true) + offset), float(np.mean(true)), own_mag, expected, v,
                    ["On the catalogue's scale the light curve should give the true V: an offset "
                     "comes from the zero point (a colour term, a wrong band, saturated or "
                     "blended catalogue stars)."]),
        )  # fmt: skip
    return out


def check_zero_points(truth: NightTruth, frames: Table) -> list[Finding]:
    """The project's per-light zero points (``frames.ecsv``) against the true ones."""
    if "zero_point" not in frames.colnames or "file" not in frames.colnames:
        return []
    meas, true, errs = [], [], []
    for row in frames:
        i = truth.light_index(str(row["file"]))
        zp = float(row["zero_point"])
        if i is None or not np.isfinite(zp):
            continue
        meas.append(zp)
        true.append(truth.zero_point(i))
        e = float(row["zero_point_err"]) if "zero_point_err" in frames.colnames else np.nan
        errs.append(e)
    if not meas:
        return []
    d = np.asarray(meas) - np.asarray(true)
    own = float(np.nanmedian(errs)) if np.isfinite(errs).any() else None
    # The catalogue's errors are one draw shared by every light, so the mean
    # zero point is no better than one light's.
    expected = max(own or 0.0, 0.005)
    mean = float(np.mean(meas))
    v = verdict(float(np.mean(d)), expected, own)
    text = [
        f"{len(meas)} lights' zero points against the true ones (the telescope's, less the "
        "atmosphere's extinction and any cloud)."
    ]
    if np.std(d) > 3 * expected:
        text.append(
            f"They scatter by {np.std(d):.3f} mag from light to light against the truth: "
            "some lights were calibrated on too few or wrong stars."
        )
    if v == "off":
        text.append(
            "The mean is off: check the band (V stars for a V filter), the colour term and "
            "that saturated stars were left out."
        )
    return [
        Finding("zero_point", "Zero point (mean over the night)", "mag", mean,
                float(np.mean(true)), own, expected, v, text),
    ]  # fmt: skip
