"""Forced aperture photometry of a target and its comparison stars in every frame.

The target is measured at its predicted position (from a track or an
ephemeris) in every frame, also where it is faint or blended, and flagged when
another star falls in its aperture. Comparison candidates are placed in each
frame through its WCS or its registration
(:meth:`fluxion.core.targets.inputs.TargetFrames.in_every_light`), so frames
without a WCS work too; where a frame could not be registered the positions
are NaN and so are the fluxes.
:func:`assemble_light_curve` turns the measurement into the light-curve table.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.table import Table
from astropy.time import Time

from ..detection.fwhm import fit_stacked_moffat
from ..io.fitsio import atomic_write_ecsv
from ..photometry.aperture import measure_apertures
from ..photometry.contamination import (
    CONTAMINATION_FRACTION,
    CONTAMINATION_MODEL_ERROR,
    neighbour_contamination,
)
from ..photometry.flags import PhotometryFlag
from ..photometry.noise import NoiseModel
from ..photometry.sampling import add_sampling_error
from ..photometry.scintillation import add_scintillation
from ..runtime.params import param
from ..runtime.pipeline import StepState
from .comparison import ComparisonChoice
from .differential import LIGHT_CURVE_COLUMNS, differential_magnitudes, light_curve_times

__all__ = [
    "LightCurveParams",
    "Measurement",
    "measure_frames",
    "measure_frames_each",
    "assemble_light_curve",
    "write_light_curve",
]

log = logging.getLogger(__name__)

ImageLoader = Callable[[int], np.ndarray]


@dataclass(frozen=True)
class LightCurveParams:
    """Parameters of forced photometry and comparison-star choice."""

    aperture_radius: float = param(
        5.0, label="Aperture radius", unit="px", minimum=0.5, maximum=100.0,
        help="Radius of the circular aperture; about 1-1.5 FWHM for faint targets.",
    )  # fmt: skip
    annulus_inner: float = param(
        10.0, label="Sky annulus inner radius", unit="px", minimum=1.0, maximum=200.0,
        help="Inner radius of the sky annulus; beyond the star's wings.",
    )  # fmt: skip
    annulus_outer: float = param(
        16.0, label="Sky annulus outer radius", unit="px", minimum=2.0, maximum=300.0,
        help="Outer radius of the sky annulus.",
    )  # fmt: skip
    n_comparison: int = param(
        5, label="Comparison stars", minimum=1, maximum=50,
        help="Number of stars in the comparison ensemble (one more is kept as check star).",
    )  # fmt: skip
    isolation_radius: float = param(
        12.0, label="Isolation radius", unit="px", minimum=0.0, maximum=200.0,
        help="Comparison candidates with another star closer than this are refused.",
    )  # fmt: skip
    max_delta_mag: float = param(
        2.5, label="Max. brightness difference", unit="mag", minimum=0.1, maximum=10.0,
        help="Comparison candidates further than this from the target's brightness are refused.",
    )  # fmt: skip
    max_chi2: float = param(
        4.0, label="Variability threshold", unit="chi2", minimum=1.0, maximum=100.0,
        help="Candidates whose light curve scatters more than this reduced chi-square "
        "against the others are treated as variable and refused.",
    )  # fmt: skip


@dataclass(frozen=True)
class Measurement:
    """Forced photometry of a target and of star candidates in every frame.

    Arrays are indexed ``[frame]`` for the target and ``[frame, star]`` for
    the stars; fluxes in the image's units (electrons when the loader applies
    the gain), NaN where a star is outside the frame. ``target_sky`` is the sky
    under the target (per pixel) and ``fwhm`` the frame's seeing (px, a Moffat
    fit to the measured stars stacked), for a transit fit's detrending.
    """

    target_xy: np.ndarray
    target_flux: np.ndarray
    target_err: np.ndarray
    target_flags: np.ndarray
    star_xy: np.ndarray
    star_flux: np.ndarray
    star_err: np.ndarray
    star_flags: np.ndarray
    target_sky: np.ndarray | None = None
    fwhm: np.ndarray | None = None
    contamination: np.ndarray | None = None


def measure_frames(
    load_image: ImageLoader,
    target_xy: np.ndarray,
    star_xy: np.ndarray,
    params: LightCurveParams | None = None,
    *,
    noise: NoiseModel | None = None,
    neighbours_xy: Sequence[np.ndarray] | None = None,
    state: StepState | None = None,
    executor: Executor | None = None,
    scintillation: np.ndarray | None = None,
) -> Measurement:
    """Forced aperture photometry of the target and the star candidates.

    Parameters
    ----------
    load_image : callable
        ``load_image(i)`` returns frame ``i`` in electrons.
    target_xy : ndarray, shape (n_frames, 2)
        The target's predicted position in each frame.
    star_xy : ndarray, shape (n_frames, n_stars, 2)
        Positions of the comparison candidates in each frame.
    params : LightCurveParams, optional
    noise : NoiseModel, optional
        Read noise (the loader already applied the gain).
    neighbours_xy : sequence of ndarray, optional
        Other sources per frame. Their light in the target's aperture and
        annulus (:func:`neighbour_contamination`, from their flux measured in
        the frame) is the ``contamination`` subtracted from the target's flux
        (its error grows by ``CONTAMINATION_MODEL_ERROR`` of it); the target
        is flagged ``CONTAMINATED`` when it exceeds ``CONTAMINATION_FRACTION``
        of the flux's error, or when one of them is inside the aperture.
    state : StepState, optional
    executor : Executor, optional
        Frames are measured in parallel on it when given.
    scintillation : ndarray, shape (n_frames,), optional
        Each frame's relative flux rms from scintillation
        (:class:`~fluxion.core.photometry.scintillation.Scintillation`): added in
        quadrature to every star's and the target's flux error of that frame
        (each star twinkles on its own, so the differential magnitudes carry
        the target's and the ensemble's alike).

    Returns
    -------
    Measurement
    """
    return measure_frames_each(
        load_image, target_xy, star_xy, [params or LightCurveParams()], noise=noise,
        neighbours_xy=neighbours_xy, state=state, executor=executor, scintillation=scintillation,
    )[0]  # fmt: skip


def measure_frames_each(
    load_image: ImageLoader,
    target_xy: np.ndarray,
    star_xy: np.ndarray,
    params: Sequence[LightCurveParams],
    *,
    noise: NoiseModel | None = None,
    neighbours_xy: Sequence[np.ndarray] | None = None,
    state: StepState | None = None,
    executor: Executor | None = None,
    scintillation: np.ndarray | None = None,
) -> list[Measurement]:
    """:func:`measure_frames` with each of ``params`` (apertures, annuli), each frame read once.

    A search over apertures (EXOTIC's, the comparison curve's) measures the
    same stars at several radii: reading every light once for all of them,
    not once a radius, keeps a night's files opened once in a run. The
    measurements are those :func:`measure_frames` gives with each ``params``.
    """
    target_xy = np.asarray(target_xy, dtype=float).reshape(-1, 2)
    star_xy = np.asarray(star_xy, dtype=float)
    n_frames = len(target_xy)
    if star_xy.ndim != 3 or star_xy.shape[0] != n_frames:
        raise ValueError(f"star positions {star_xy.shape} do not match {n_frames} frames")
    scint = np.zeros(n_frames) if scintillation is None else np.asarray(scintillation, float)
    if scint.shape != (n_frames,):
        raise ValueError(f"scintillation {scint.shape} does not match {n_frames} frames")

    def measured(image: np.ndarray, i: int, p: LightCurveParams) -> _Measured:
        annulus = (p.annulus_inner, p.annulus_outer)
        stars = star_xy[i]
        known = np.all(np.isfinite(stars), axis=1)
        others = stars[known]
        near = np.zeros((0, 2))
        if neighbours_xy is not None:
            near = np.asarray(neighbours_xy[i], dtype=float).reshape(-1, 2)
            near = near[np.all(np.isfinite(near), axis=1)]
            others = np.vstack([others, near])
        here = target_xy[i : i + 1]
        placed = bool(np.all(np.isfinite(here)))
        tgt = measure_apertures(
            image, here if placed else np.zeros((1, 2)), p.aperture_radius, annulus,
            noise=noise, neighbours=others, contamination_radius=p.aperture_radius,
        )  # fmt: skip
        inside = known
        st = measure_apertures(
            image, np.where(inside[:, None], stars, 0.0), p.aperture_radius, annulus, noise=noise
        )
        for name in ("flux", "flux_err"):
            st[name][~inside] = np.nan
        fwhm = _frame_fwhm(image, stars, st, p.aperture_radius)
        # Each star's place within its pixel changes its sum from frame to frame.
        for table in (tgt, st):
            add_sampling_error(table, fwhm, p.aperture_radius)
        spill = 0.0
        if placed and len(near):
            spill = _contamination(image, here, near, fwhm, tgt, p, noise)
            err = float(tgt["flux_err"][0])
            if abs(spill) > CONTAMINATION_FRACTION * err:
                tgt["flags"][0] |= PhotometryFlag.CONTAMINATED
            # Subtracted, with the profile model's error (its wings, the neighbour's flux).
            tgt["flux"][0] -= spill
            tgt["flux_err"][0] = np.hypot(err, CONTAMINATION_MODEL_ERROR * spill)
        if scint[i] > 0:
            for table in (tgt, st):
                table["flux_err"] = add_scintillation(table["flux"], table["flux_err"], scint[i])
        if not placed:
            # An unregistered frame: the target's place there is unknown.
            tgt["flux"][0] = tgt["flux_err"][0] = np.nan
            tgt["flags"][0] |= PhotometryFlag.FIT_FAILED
        return tgt, st, fwhm, spill

    def one(i: int) -> list[_Measured]:
        image = load_image(i)
        return [measured(image, i, p) for p in params]

    tick = state.counter(n_frames, "photometry") if state is not None else None
    results: list[list[_Measured]] = []
    if executor is None:
        for i in range(n_frames):
            results.append(one(i))
            if tick:
                tick()
    else:
        futures = [executor.submit(one, i) for i in range(n_frames)]
        for fut in futures:
            results.append(fut.result())
            if tick:
                tick()
    return [_measurement(target_xy, star_xy, [r[k] for r in results]) for k in range(len(params))]


# One frame's photometry: the target's row, the stars' rows, the FWHM, the contamination.
_Measured = tuple[Table, Table, float, float]


def _measurement(
    target_xy: np.ndarray, star_xy: np.ndarray, results: list[_Measured]
) -> Measurement:
    """The frames' rows as one :class:`Measurement`."""
    return Measurement(
        target_xy=target_xy,
        target_flux=np.array([r[0]["flux"][0] for r in results], dtype=float),
        target_err=np.array([r[0]["flux_err"][0] for r in results], dtype=float),
        target_flags=np.array([r[0]["flags"][0] for r in results], dtype=np.int32),
        star_xy=star_xy,
        star_flux=np.array([np.asarray(r[1]["flux"]) for r in results], dtype=float),
        star_err=np.array([np.asarray(r[1]["flux_err"]) for r in results], dtype=float),
        star_flags=np.array([np.asarray(r[1]["flags"]) for r in results], dtype=np.int32),
        target_sky=np.array([r[0]["sky"][0] for r in results], dtype=float),
        fwhm=np.array([r[2] for r in results], dtype=float),
        contamination=np.array([r[3] for r in results], dtype=float),
    )


def _contamination(
    image: np.ndarray, here: np.ndarray, near: np.ndarray, fwhm: float, tgt: Table,
    p: LightCurveParams, noise: NoiseModel | None,
) -> float:  # fmt: skip
    """The neighbours' bias on the target's flux (e-; see :func:`neighbour_contamination`)."""
    annulus = (p.annulus_inner, p.annulus_outer)
    reach = p.annulus_outer + 6.0 * (fwhm if np.isfinite(fwhm) else p.aperture_radius)
    close = near[np.hypot(*(near - here[0]).T) < reach]
    if not len(close) or not np.isfinite(fwhm):
        return 0.0
    # Their fluxes in this frame, in the target's aperture size.
    theirs = measure_apertures(image, close, p.aperture_radius, annulus, noise=noise)
    return float(
        neighbour_contamination(
            here, p.aperture_radius, annulus, close, np.asarray(theirs["flux"], float), fwhm,
            np.asarray(tgt["sky_rms"], float),
        )[0]
    )  # fmt: skip


def _frame_fwhm(image: np.ndarray, stars: np.ndarray, phot: Table, radius: float) -> float:
    """The frame's FWHM (px) from the measured stars, NaN when too few are usable."""
    ok = np.all(np.isfinite(stars), axis=1) & (np.asarray(phot["flux"], float) > 0)
    ok &= np.asarray(phot["flags"]) == 0
    if ok.sum() < 3:
        return float("nan")
    xy = stars[ok]
    # The stacked fit wants the sky removed; each star's annulus sky is local enough.
    fit = fit_stacked_moffat(
        image - float(np.median(np.asarray(phot["sky"], float)[ok])), xy[:, 0], xy[:, 1],
        np.asarray(phot["flux"], float)[ok], fwhm_guess=max(radius, 1.5),
    )  # fmt: skip
    return float(fit.fwhm) if fit is not None else float("nan")


def assemble_light_curve(
    m: Measurement,
    choice: ComparisonChoice,
    times: Time,
    *,
    files: Sequence[str] | None = None,
    target: SkyCoord | None = None,
    location: EarthLocation | None = None,
    comparison_mag: np.ndarray | None = None,
    comparison_mag_err: np.ndarray | None = None,
    pointing: SkyCoord | None = None,
) -> Table:
    """The light-curve table of the target and of the check star.

    Parameters
    ----------
    m : Measurement
    choice : ComparisonChoice
        Comparison ensemble and check star (indices into the star axis).
    times : Time
        Mid-exposure times.
    files : sequence of str, optional
    target : SkyCoord, optional
        The target's position (scalar or one per frame); needed for BJD_TDB
        and airmass, which are NaN without it.
    location : EarthLocation, optional
        The site (see :func:`~fluxion.core.lightcurve.differential.light_curve_times`).
    comparison_mag, comparison_mag_err : ndarray, optional
        Catalogue magnitudes of all star candidates (indexed like the star
        axis); the magnitudes are then on the catalogue's scale.
    pointing : SkyCoord, optional
        The telescope's pointing from the headers: used for BJD_TDB and
        airmass when the target's own coordinates are unknown (no WCS). An
        offset of 10 arcmin changes BJD by at most 1.5 s; ``ra``/``dec``
        stay NaN.

    Returns
    -------
    Table
        :data:`~fluxion.core.lightcurve.differential.LIGHT_CURVE_COLUMNS`, then ``airmass``,
        ``check_mag``, ``check_mag_err``, ``check_flux``, ``n_comparison``, ``comp_flux`` (the
        ensemble's summed flux), ``fwhm`` (px) and ``sky`` (per pixel, under the
        target). Table meta holds the comparison and check star indices and the
        magnitude scale's error.
    """
    comp = list(choice.comparison)
    # A star flagged in a frame is left out of that frame's ensemble.
    usable = (m.star_flags == 0) & np.isfinite(m.star_flux)
    fc = np.where(usable, m.star_flux, np.nan)
    cmag = None if comparison_mag is None else np.asarray(comparison_mag)[comp]
    cerr = None if comparison_mag_err is None else np.asarray(comparison_mag_err)[comp]
    diff = differential_magnitudes(
        m.target_flux, m.target_err, fc[:, comp], m.star_err[:, comp],
        comparison_mag=cmag, comparison_mag_err=cerr,
    )  # fmt: skip
    n = len(m.target_flux)
    t = Time(times)
    table = Table()
    table["file"] = list(files) if files is not None else [""] * n
    if target is not None:
        tt = light_curve_times(t, target, location)
        table["jd_utc"], table["bjd_tdb"], airmass = tt["jd_utc"], tt["bjd_tdb"], tt["airmass"]
        ra = np.broadcast_to(target.ra.deg, (n,)).astype(float)
        dec = np.broadcast_to(target.dec.deg, (n,)).astype(float)
    else:
        ra = dec = np.full(n, np.nan)
        if pointing is not None:
            tt = light_curve_times(t, pointing, location)
            table["jd_utc"], table["bjd_tdb"], airmass = tt["jd_utc"], tt["bjd_tdb"], tt["airmass"]
        else:
            table["jd_utc"] = t.utc.jd
            table["bjd_tdb"] = np.full(n, np.nan)
            airmass = np.full(n, np.nan)
    table["mag"] = diff.mag
    table["mag_err"] = diff.mag_err
    table["flux"] = m.target_flux
    table["flux_err"] = m.target_err
    table["x"] = m.target_xy[:, 0]
    table["y"] = m.target_xy[:, 1]
    table["ra"] = ra
    table["dec"] = dec
    table["flags"] = m.target_flags
    table["airmass"] = airmass
    if choice.check is not None:
        k = choice.check
        check = differential_magnitudes(
            m.star_flux[:, k], m.star_err[:, k], fc[:, comp], m.star_err[:, comp],
            comparison_mag=cmag, comparison_mag_err=cerr,
        )  # fmt: skip
        table["check_mag"] = check.mag
        table["check_mag_err"] = check.mag_err
        # The check star's own flux: its instrumental magnitude in the AAVSO report.
        table["check_flux"] = m.star_flux[:, k]
    table["n_comparison"] = diff.n_comparison
    # Per-frame facts a transit fit detrends against (airmass, x, y are above).
    table["comp_flux"] = diff.ensemble_flux
    if m.fwhm is not None:
        table["fwhm"] = m.fwhm
    if m.target_sky is not None:
        table["sky"] = m.target_sky
    if m.contamination is not None:
        # The neighbours' light in the aperture and annulus (e-), subtracted from flux.
        table["contamination"] = m.contamination
    table.meta["comparison_stars"] = comp
    table.meta["check_star"] = choice.check
    table.meta["magnitude_scale_err"] = diff.offset_err
    table.meta["columns"] = list(LIGHT_CURVE_COLUMNS)
    return table


def write_light_curve(table: Table, path: str | os.PathLike[str]) -> Path:
    """Write a light curve as ECSV, atomically, as ``fluxion run`` keeps it in a project.

    The whole file is written to a temporary file beside ``path`` and then
    replaces it, so an earlier curve stays intact when writing fails.

    Raises
    ------
    OSError
        The folder cannot be written.
    """
    return atomic_write_ecsv(path, table)
