"""The run's light curve against comparison stars, when its zero points cannot carry it.

The run's light curve is the target's calibrated magnitude in each light:
each light's zero point, measured on the catalog's stars, takes out the
night's extinction and clouds. Without a catalog (offline, none cached for
the field), with a filter that names no band, or with too few catalog
stars for a zero point worth the name (see :mod:`.weak_zeropoint`), the
magnitudes are instrumental and the night's transparency is in them. The
stars every light measured anyway then give a differential curve: the target
against an ensemble of stable comparison stars chosen on the night
(:mod:`fluxion.core.lightcurve.ensemble`), which a transit fit accepts.

``comparison`` chooses: ``auto`` takes the comparison stars when fewer than
half the lights that measured the target are calibrated, or when their zero
points are far noisier than the target's own photometry (the TrES-1 night
against Tycho-2: 9-16 stars a light, 0.34 mag of scatter between catalog
and instrument, zero points uncertain by 0.095 mag against the target's
0.005); ``on`` always; ``off`` never (the magnitudes as they are).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from astropy.table import Table

from ..io.frames import FrameInfo
from ..lightcurve.comparison import ComparisonError
from ..lightcurve.ensemble import choose_ensemble, renormalised_sum, stored_measurement
from ..photometry.noise import MAG_PER_LN
from ..photometry.params import PhotometryParams
from ..project.products import ProductStore
from .calibrate import frame_image
from .comparison_aperture import best_aperture
from .comparison_refusals import best_covered_light, extended_candidates, track_in_reference
from .magnitudes import channel_rows

__all__ = [
    "COMPARISON_CHOICES", "ZERO_POINT_NOISE_FLOOR", "ZERO_POINT_NOISE_RATIO",
    "comparison_reason", "comparison_light_curve",
]  # fmt: skip

log = logging.getLogger(__name__)

COMPARISON_CHOICES = ("auto", "on", "off")
#: Fewer calibrated lights than this share of those measured: the comparison stars' curve.
_CALIBRATED_SHARE = 0.5
#: Zero points noisier than this (mag, median) and than ZERO_POINT_NOISE_RATIO times the
#: target's own error give way to the comparison stars: the transits and small amplitudes
#: a light curve shows are 0.01-0.02 mag, and a night's many-star zero points are a few
#: millimagnitudes (0.06 for 20 s through 150 mm, all scintillation, with a target as noisy).
ZERO_POINT_NOISE_FLOOR = 0.02
ZERO_POINT_NOISE_RATIO = 3.0
#: A star is the same in two lights within this many FWHM on the sky.
_MATCH_FWHM = 1.0
#: Comparison candidates with another star closer than this many FWHM are refused.
_ISOLATION_FWHM = 4.0
#: The photometry step's outer sky radius (FWHM) unless the night says another.
_ANNULUS_OUTER_FWHM = PhotometryParams().annulus_outer
#: Sizes are measured within this many apertures (about six FWHM), as the window does.
_SIZE_APERTURES = 4.0


def comparison_reason(
    light_curve: Table, comparison: str, zero_point_err: np.ndarray | None = None
) -> str:
    """Why the run's curve is made against comparison stars; empty when it is not.

    Parameters
    ----------
    light_curve : Table
        The run's curve from the frames' magnitudes (``flux``, ``flux_err``,
        ``calibrated``).
    comparison : {"auto", "on", "off"}
    zero_point_err : ndarray, optional
        Each light's zero-point error (mag). With ``auto``, zero points whose
        median error exceeds both :data:`ZERO_POINT_NOISE_FLOOR` and
        :data:`ZERO_POINT_NOISE_RATIO` times the target's own photometric
        error would bury its variations in theirs: the comparison stars then
        measure it.

    Raises
    ------
    ValueError
        When ``comparison`` is not one of :data:`COMPARISON_CHOICES`.
    """
    if comparison not in COMPARISON_CHOICES:
        raise ValueError(f"comparison {comparison!r}: use one of {', '.join(COMPARISON_CHOICES)}")
    if comparison == "off":
        return ""
    if comparison == "on":
        return "asked for (--comparison on)"
    flux = np.asarray(light_curve["flux"], float)
    measured = np.isfinite(flux)
    calibrated = np.asarray(light_curve["calibrated"], bool) & measured
    if not measured.sum() or calibrated.sum() < _CALIBRATED_SHARE * measured.sum():
        return (
            f"only {int(calibrated.sum())} of the {int(measured.sum())} lights that measured "
            "the target have a zero point, so its magnitudes carry the night's extinction and "
            "clouds"
        )
    if zero_point_err is None:
        return ""
    zp_err = np.asarray(zero_point_err, float)[calibrated]
    with np.errstate(divide="ignore", invalid="ignore"):
        own = MAG_PER_LN * np.asarray(light_curve["flux_err"], float)[calibrated] / flux[calibrated]
    if not (np.any(np.isfinite(zp_err)) and np.any(np.isfinite(own))):
        return ""
    typical_zp, typical_own = float(np.nanmedian(zp_err)), float(np.nanmedian(own))
    if typical_zp > max(ZERO_POINT_NOISE_FLOOR, ZERO_POINT_NOISE_RATIO * typical_own):
        return (
            f"the zero points are uncertain by {typical_zp:.3f} mag (median), "
            f"{typical_zp / typical_own:.0f} times the target's own error ({typical_own:.4f} "
            "mag): they would bury its variations (a catalog of few or ill-matched stars)"
        )
    return ""


def _stored_radius(tables: Sequence[Table | None]) -> float | None:
    """The photometry step's aperture radius (px) as its tables record it, or None."""
    radii = [float(t.meta["aperture_radius"]) for t in tables
             if t is not None and t.meta.get("aperture_radius") is not None]  # fmt: skip
    return float(np.median(radii)) if radii else None


def _meta_array(tables: Sequence[Table | None], key: str, default: float) -> np.ndarray:
    return np.array(
        [float(t.meta.get(key, default)) if t is not None else default for t in tables], float
    )


def comparison_light_curve(
    store: ProductStore,
    lights: Sequence[FrameInfo],
    light_curve: Table,
    facts: Sequence[dict],
    reason: str,
    *,
    annulus_outer_fwhm: float = _ANNULUS_OUTER_FWHM,
) -> tuple[Table, list[str]]:
    """The target against an ensemble of the night's comparison stars, and the notes.

    Parameters
    ----------
    store : ProductStore
        The project's products: each light's calibrated-magnitude table
        (every measured source, with its sky position).
    lights : sequence of FrameInfo
    light_curve : Table
        The run's curve from the frames' magnitudes (one row per light).
    facts : sequence of dict
        Each light's facts (``fwhm``, ``sky``), for the fit's detrending.
    reason : str
        Why the comparison stars are used (:func:`comparison_reason`).
    annulus_outer_fwhm : float
        The photometry's outer sky radius (FWHM): a moving target passing a
        candidate closer than three apertures plus this is in its aperture or
        sky annulus, and the candidate is refused (as the window refuses it).

    Returns
    -------
    Table, list of str
        The differential curve (``light_curve`` when no ensemble could be
        chosen) and the notes saying which path was taken and why.
    """
    # A colour camera's lights have a row per channel at each star: the curve's
    # channel alone, or every star's other channels are its neighbours and twins.
    channel = light_curve.meta.get("channel")
    tables = [
        t if (t := store.read_table("zeropoint", f.path)) is None or channel is None
        else channel_rows(t, channel)
        for f in lights
    ]  # fmt: skip
    fwhm = np.array([float(x.get("fwhm", np.nan)) for x in facts], float)
    sky = np.array([float(x.get("sky", np.nan)) for x in facts], float)
    scale = np.nanmedian(_meta_array(tables, "pixel_scale", np.nan))
    seeing = float(np.nanmedian(fwhm)) if np.any(np.isfinite(fwhm)) else 3.0
    match = _MATCH_FWHM * seeing * (scale if np.isfinite(scale) else 1.0)
    scint = np.where(
        [t is not None and bool(t.meta.get("scintillation_included")) for t in tables],
        _meta_array(tables, "scintillation_median", 0.0),
        0.0,
    )
    common = _meta_array(tables, "aperture_correction_err", 0.0) / _meta_array(
        tables, "aperture_correction", 1.0
    )
    try:
        m, star_xy = stored_measurement(
            tables, light_curve, match_arcsec=max(match, 1.0), scintillation=scint,
            common_err=common, fwhm=fwhm, sky=sky,
        )  # fmt: skip
        # Stars only: no galaxy core, and none a moving target passes.
        radius = _stored_radius(tables) or seeing
        ref = best_covered_light(m)
        with np.errstate(divide="ignore", invalid="ignore"):
            snr = m.star_flux[ref] / m.star_err[ref]
        # Read once here; the aperture choice below measures it again from memory.
        ref_image = frame_image(store, lights[ref]).data
        wide = extended_candidates(ref_image, m.star_xy[ref], snr, _SIZE_APERTURES * radius)
        path = track_in_reference(m, star_xy, min_motion=radius)
        chosen = choose_ensemble(
            m, star_xy, round(_ISOLATION_FWHM * seeing, 1), extended=wide, target_path=path,
            path_clearance=3.0 * radius + annulus_outer_fwhm * seeing,
        )  # fmt: skip
    except ComparisonError as exc:
        note = f"light curve: no comparison ensemble ({exc}); its magnitudes are as measured"
        log.warning("%s", note)
        return light_curve, [note]
    comp = list(chosen.choice.comparison)
    # The radius whose curve scatters least, as EXOTIC chooses it (the stored one included).
    aperture = best_aperture(store, lights, m, comp, seeing, scint, {ref: ref_image})
    diff = aperture.curve
    out = light_curve.copy()
    out["mag"] = diff.mag
    out["mag_err"] = diff.mag_err
    # Relative to the ensemble: no calibration error common to the night.
    out["mag_err_sys"] = np.zeros(len(out))
    if aperture.radius is not None:
        out["flux"] = aperture.measurement.target_flux
    out["flux_err"] = aperture.measurement.target_err
    out["n_comparison"] = diff.n_comparison
    # The whole ensemble's flux (a detrending regressor): a light that missed a member
    # is scaled up by its share, as its magnitude is, so the regressor has no step there.
    m_used = aperture.measurement
    cols = comp if aperture.radius is None else list(range(len(comp)))
    usable = (m_used.star_flags == 0) & np.isfinite(m_used.star_flux)
    out["comp_flux"] = renormalised_sum(np.where(usable, m_used.star_flux, np.nan)[:, cols])
    out["fwhm"], out["sky"] = fwhm, sky
    for c in ("mag", "mag_err", "mag_err_sys"):
        out[c].unit = "mag"
    out.meta["comparison_stars"] = comp
    # Where the stars are in the light that measured the most.
    out.meta["comparison_xy"] = [[float(x), float(y)] for x, y in star_xy[comp]]
    # differential_magnitudes without catalogue magnitudes: the target's own
    # instrumental scale, each light's transparency taken out by the ensemble.
    out.meta["magnitude_scale"] = (
        "differential: the target's instrumental magnitude (-2.5 log10 of its flux) with each "
        "light's change of the comparison ensemble against its night median taken out"
    )
    out.meta["comparison_reason"] = reason
    out.meta["comparison_explanation"] = list(chosen.explanation)
    stored_radius = _stored_radius(tables)
    said_aperture = aperture.note(stored_radius)
    out.meta["aperture_choice"] = said_aperture
    out.meta["apertures_tried"] = [[r, float(s)] for r, s in aperture.tried]
    if aperture.radius is not None:
        out.meta["aperture_radius"] = aperture.radius
    if bool(np.any(scint > 0)):
        out.meta["errors"] = "photometric (photons, sky, read noise, sampling) and scintillation"
    notes = [
        f"light curve: against {len(comp)} comparison stars of the night (differential "
        f"magnitudes), because {reason}; {chosen.explanation[-1]}",
        f"light curve: {said_aperture}",
        *(f"light curve: {line}" for line in chosen.explanation[:-1]),
    ]
    for line in notes:
        log.info("%s", line)
    return out, notes
