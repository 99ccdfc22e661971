"""Completeness and limiting magnitude of the difference search, from artificial stars.

Point sources of known flux are added to a frame (its own PSF model, with
their photon noise), the frame is subtracted again with everything else kept
(template, skies, PSFs, flux scale: the ``prepared`` state of
:func:`~fluxion.core.transients.difference.subtract_frame`), and the
difference search is run on it. What it finds at the injected places gives
the completeness at each magnitude; the forced flux at the injected places
against the injected flux gives the pulls (flux error in units of the stated
error), and the forced ``n_sigma`` limit can be checked against what was
recovered.

Injected sources sit on a jittered grid several FWHM apart, so they never
blend with one another; they land wherever the grid puts them, on sky, on
galaxies and next to stars, as a real transient would.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from ..detection.extract import Detection, DetectionParams
from ..runtime.pipeline import StepState
from .catalog_mode import CatalogModeParams, catalogue_candidates
from .difference import DifferenceParams, difference_candidates, subtract_frame
from .forced import magnitudes_and_limits
from .frames import TransientFrame, frame_psf
from .template import Template

__all__ = [
    "InjectionResult",
    "catalogue_completeness",
    "difference_completeness",
    "inject_sources",
    "limit_at",
]


@dataclass(frozen=True)
class InjectionResult:
    """Artificial stars in one frame's difference.

    Attributes
    ----------
    sources : Table
        One row per injected source: ``x``, ``y``, ``mag`` (calibrated when the
        frame has a zero point, else instrumental), ``flux`` (injected, image
        units), ``flux_meas``, ``flux_err`` (forced on the difference at the
        true place), ``found`` (an accepted candidate within 1 FWHM),
        ``forced_detected`` (flux above ``n_sigma`` errors).
    curve : Table
        Per magnitude: ``mag``, ``n``, ``completeness``.
    limit_mag : float
        The frame's forced ``n_sigma`` limiting magnitude (median over the places).
    false_per_frame : float
        Accepted candidates not at an injected place, per injection image.
    """

    sources: Table
    curve: Table
    limit_mag: float
    false_per_frame: float


def inject_sources(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    frame: TransientFrame,
    rng: np.random.Generator,
) -> np.ndarray:
    """``image`` with point sources of ``flux`` (image units) at (x, y), photon noise included."""
    psf = frame_psf(frame.sources)
    size = psf.size
    h = size // 2
    out = np.array(image, dtype=np.float64)
    gain = frame.gain if frame.gain else None
    ny, nx = out.shape
    for xi, yi, f in zip(x, y, flux, strict=True):
        ix, iy = int(round(xi)), int(round(yi))
        stamp = psf.stamp(size, dx=float(xi - ix), dy=float(yi - iy)) * f
        ya, yb = max(iy - h, 0), min(iy + h + 1, ny)
        xa, xb = max(ix - h, 0), min(ix + h + 1, nx)
        if ya >= yb or xa >= xb:
            continue
        part = stamp[ya - (iy - h) : yb - (iy - h), xa - (ix - h) : xb - (ix - h)]
        if gain:
            # The source's own photons: Poisson in electrons.
            part = rng.poisson(np.maximum(part, 0.0) * gain) / gain
        out[ya:yb, xa:xb] += part
    return out


def _grid(
    bad: np.ndarray, spacing: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A jittered grid of places ``spacing`` apart, off bad pixels."""
    ny, nx = bad.shape
    gx = np.arange(spacing / 2, nx - spacing / 2, spacing)
    gy = np.arange(spacing / 2, ny - spacing / 2, spacing)
    xx, yy = np.meshgrid(gx, gy)
    jitter = spacing / 6
    x = xx.ravel() + rng.uniform(-jitter, jitter, xx.size)
    y = yy.ravel() + rng.uniform(-jitter, jitter, yy.size)
    iy = np.clip(np.rint(y).astype(int), 0, ny - 1)
    ok = ~bad[iy, np.clip(np.rint(x).astype(int), 0, nx - 1)]
    return x[ok], y[ok]


def difference_completeness(
    frame: TransientFrame,
    template: Template,
    mags: Sequence[float],
    *,
    params: DifferenceParams | None = None,
    n_sigma: float = 5.0,
    spacing_fwhm: float = 10.0,
    seed: int = 0,
    state: StepState | None = None,
) -> InjectionResult:
    """Inject point sources at each magnitude into ``frame`` and search its difference.

    Parameters
    ----------
    frame : TransientFrame
    template : Template
    mags : sequence of float
        Magnitudes to inject (calibrated with the frame's zero point, else
        instrumental: ``-2.5 log10(flux)``), one injection image each.
    n_sigma : float
        The forced photometry's detection and limit level.
    spacing_fwhm : float
        Distance between injected sources (FWHM).
    """
    state = state if state is not None else StepState()
    p = params or DifferenceParams()
    rng = np.random.default_rng(seed)
    prepared: dict = {}
    base = subtract_frame(frame, template, p, prepared=prepared)
    # Stray: accepted now, at no injected place and at no candidate (accepted
    # or not) of the difference as it was.
    old = difference_candidates(frame, base, p)
    zp = frame.zero_point if math.isfinite(frame.zero_point) else 0.0
    fwhm = frame.fwhm
    rows = []
    false = 0
    tick = state.counter(len(mags), "injected")
    for mag in mags:
        state.check()
        x, y = _grid(base.bad, spacing_fwhm * fwhm, rng)
        flux = np.full(len(x), 10 ** (-0.4 * (mag - zp)))
        image = inject_sources(frame.image, x, y, flux, frame, rng)
        diff = subtract_frame(frame, template, p, image=image, prepared=prepared)
        cand = difference_candidates(frame, diff, p)
        found, stray = _found_and_stray(x, y, cand[cand["accepted"]], old, fwhm)
        false += stray
        f_meas, f_err = diff.result.flux(x, y)
        # The limit's noise at each place: the background's alone (no source).
        _, s0 = base.result.flux(x, y)
        _, _, limit, detected = magnitudes_and_limits(f_meas, f_err, s0, zp, 0.0, n_sigma)
        for k in range(len(x)):
            rows.append((x[k], y[k], mag, flux[k], f_meas[k], f_err[k], limit[k], found[k],
                         detected[k]))  # fmt: skip
        tick()
    sources_limit = [r[6] for r in rows]
    limit_mag = float(np.nanmedian(sources_limit)) if rows else math.nan
    return _result(rows, mags, limit_mag, false)


def _found_and_stray(
    x: np.ndarray, y: np.ndarray, accepted: Table, before: Table, radius: float
) -> tuple[np.ndarray, int]:
    """Which injected places have an accepted candidate, and how many accepted ones are at
    none of them nor at any of ``before`` (places found without injections)."""
    found = np.zeros(len(x), bool)
    if len(accepted) == 0:
        return found, 0
    cx, cy = np.asarray(accepted["x"], float), np.asarray(accepted["y"], float)
    stray = np.ones(len(cx), bool)
    if len(x):
        d = np.hypot(x[:, None] - cx[None, :], y[:, None] - cy[None, :])
        found = d.min(axis=1) < radius
        stray = d.min(axis=0) >= radius
    if len(before) and stray.any():
        d_old = np.hypot(cx[stray, None] - np.asarray(before["x"])[None, :],
                         cy[stray, None] - np.asarray(before["y"])[None, :])  # fmt: skip
        return found, int(np.sum(d_old.min(axis=1) >= radius))
    return found, int(stray.sum())


def catalogue_completeness(
    frame: TransientFrame,
    catalog_ra: np.ndarray,
    catalog_dec: np.ndarray,
    catalog_mag: np.ndarray,
    mags: Sequence[float],
    *,
    params: CatalogModeParams | None = None,
    detection: DetectionParams | None = None,
    spacing_fwhm: float = 10.0,
    seed: int = 0,
    state: StepState | None = None,
) -> InjectionResult:
    """Inject point sources at each (calibrated) magnitude and run the catalogue comparison.

    The frame's zero point is the comparison's own (from its catalogue
    matches) unless the frame carries one; each injection image is detected
    again (``detection``, default parameters) and compared with the
    catalogue. ``limit_mag`` of the result is the catalogue's completeness
    limit, below which the comparison cannot tell a new source.
    """
    state = state if state is not None else StepState()
    rng = np.random.default_rng(seed)
    step = Detection(detection or DetectionParams())
    fwhm = frame.fwhm

    def compare(image: np.ndarray, zp: float | None) -> Table:
        # The frame's zero point, not one fitted again to an image full of
        # bright uncatalogued sources.
        det = step(np.asarray(image, np.float32), mask=frame.mask, gain=frame.gain)
        if zp is None and math.isfinite(frame.zero_point):
            zp = frame.zero_point
        return catalogue_candidates(
            det.sources, frame.wcs, catalog_ra, catalog_dec, catalog_mag, fwhm=fwhm,
            zero_point=zp, params=params, mask=frame.mask,
        )  # fmt: skip

    before = compare(frame.image, None)
    zp = float(before.meta.get("zero_point", math.nan))
    if not math.isfinite(zp):
        raise ValueError(f"{frame.file}: no zero point against the catalogue")
    limit = float(before.meta.get("catalog_limit", math.nan))
    # Stray: accepted now, at no injected place and at no source of the frame
    # as it was (a faint star detected once the mesh sky moved is not false).
    old = frame.sources
    bad = frame.bad.copy()
    bad[: int(3 * fwhm), :] = bad[-int(3 * fwhm) :, :] = True
    bad[:, : int(3 * fwhm)] = bad[:, -int(3 * fwhm) :] = True
    rows: list[tuple] = []
    false = 0
    tick = state.counter(len(mags), "injected")
    for mag in mags:
        state.check()
        x, y = _grid(bad, spacing_fwhm * fwhm, rng)
        flux = np.full(len(x), 10 ** (-0.4 * (mag - zp)))
        cand = compare(inject_sources(frame.image, x, y, flux, frame, rng), zp)
        found, stray = _found_and_stray(x, y, cand[cand["accepted"]], old, fwhm)
        false += stray
        nan = np.full(len(x), np.nan)
        rows.extend(zip(x, y, np.full(len(x), mag), flux, nan, nan, nan, found,
                        np.zeros(len(x), bool), strict=True))  # fmt: skip
        tick()
    return _result(rows, mags, limit, false)


def _result(rows: list, mags: Sequence[float], limit_mag: float, false: int) -> InjectionResult:
    names = ("x", "y", "mag", "flux", "flux_meas", "flux_err", "limit_mag", "found",
             "forced_detected")  # fmt: skip
    sources = Table(rows=rows, names=names) if rows else Table(names=names)
    curve = Table()
    curve["mag"] = np.asarray(mags, float)
    curve["n"] = [int(np.sum(sources["mag"] == m)) for m in mags]
    curve["completeness"] = [
        float(np.mean(sources["found"][sources["mag"] == m])) if n else math.nan
        for m, n in zip(mags, curve["n"], strict=True)
    ]
    return InjectionResult(sources, curve, limit_mag, false / max(len(mags), 1))


def limit_at(curve: Table, level: float = 0.5) -> float:
    """The magnitude where the completeness falls through ``level`` (linear between points)."""
    mag = np.asarray(curve["mag"], float)
    c = np.asarray(curve["completeness"], float)
    order = np.argsort(mag)
    mag, c = mag[order], c[order]
    for k in range(len(mag) - 1):
        if c[k] >= level > c[k + 1]:
            return float(mag[k] + (c[k] - level) / (c[k] - c[k + 1]) * (mag[k + 1] - mag[k]))
    return math.nan
