"""Difference imaging: each frame minus the template (ZOGY), and what is new in it.

For each frame: the template is resampled onto the frame (:mod:`.template`),
both skies are removed (sep's mesh background), each image's PSF is taken
from its own stars (the Moffat that detection fits), the template's flux
scale comes from forced PSF photometry of the stars both share, and ZOGY
(:mod:`.zogy`) gives the difference ``D``, the score ``S_corr`` and the flux
scale for photometry on the difference at any position.

Candidates are the peaks of ``S_corr`` above the threshold (a noise-weighted
detection: ``S_corr`` is the point-source significance with every noise term).
They go through the same filters as in the catalogue mode where they apply
(masked and saturated pixels, the edge of the template) and a shape test of
their own: the difference's PSF ``P_D`` fitted to ``D`` around the peak, and
rejected when the residual is too large for a point source (cosmic rays,
dipoles of a misregistered star).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
from astropy.coordinates import EarthLocation
from astropy.stats import mad_std
from astropy.table import Table
from scipy import ndimage
from scipy.signal import fftconvolve
from scipy.stats import chi2

from ..detection.extract import Detection, DetectionParams, measure_background
from ..runtime.params import param
from ..runtime.pipeline import StepState
from .candidates import Reason, empty_candidates, stack_candidates
from .forced import MAG_PER_LN, ForcedParams, forced_photometry, magnitudes_and_limits
from .frames import TransientFrame, frame_psf
from .search import SequenceParams, _pixel_scale, finish_candidates, frame_columns
from .template import Template, template_on_frame
from .zogy import ZogyInputs, ZogyResult, zogy_subtract

__all__ = [
    "DifferenceParams",
    "FrameDifference",
    "DifferenceError",
    "subtract_frame",
    "difference_candidates",
    "difference_search",
    "forced_on_differences",
]

log = logging.getLogger(__name__)


class DifferenceError(ValueError):
    """A frame cannot be subtracted; the message says why."""


@dataclass(frozen=True)
class DifferenceParams:
    """Parameters of the difference search."""

    threshold: float = param(
        5.0,
        label="Detection threshold",
        unit="sigma",
        help="Peaks of the difference's point-source significance above this are candidates.",
        minimum=2.0,
        maximum=1000.0,
    )
    registration_sigma: float = param(
        0.05,
        label="Registration error",
        unit="px",
        help="rms misalignment of frame and template; bright stars' residuals are "
        "counted as noise by this much.",
        minimum=0.0,
        maximum=2.0,
    )
    shape_false_rate: float = param(
        1e-4,
        label="Shape test false-alarm rate",
        help="Share of real point sources the PSF-fit test on the difference may reject.",
        minimum=1e-12,
        maximum=0.5,
    )
    psf_error: float = param(
        0.1,
        label="PSF model error",
        help="Relative error of the difference's PSF model, added to the noise of the "
        "shape test so that bright transients pass it.",
        minimum=0.0,
        maximum=1.0,
    )
    edge: float = param(
        2.0,
        label="Edge margin",
        unit="FWHM",
        help="Candidates this close to the frame's edge or to missing template are rejected.",
        minimum=0.0,
        maximum=20.0,
    )


@dataclass(frozen=True)
class FrameDifference:
    """One frame's subtraction.

    Attributes
    ----------
    result : ZogyResult
        ``D``, ``S_corr``, ``S`` and the flux scale.
    template : ndarray
        The template on the frame's pixels, sky removed and scaled to the
        frame's flux (for cutouts beside the frame and the difference).
    bad : ndarray of bool
        Pixels where the difference means nothing (masked in either image,
        outside the template, the frame's edge), grown by the edge margin.
    flux_ref : float
        The template's flux of a source of unit flux in the frame.
    fwhm_new, fwhm_ref : float
        The two images' FWHM (px).
    pixel_variance : ndarray or None
        Each pixel's variance of ``D`` (1 where the sky dominates), for the
        shape test on galaxies and bright sources.
    """

    result: ZogyResult = field(repr=False)
    template: np.ndarray = field(repr=False)
    bad: np.ndarray = field(repr=False)
    flux_ref: float
    fwhm_new: float
    fwhm_ref: float
    pixel_variance: np.ndarray | None = field(default=None, repr=False)


def _psf_stamp(sources: Table, size: int) -> np.ndarray:
    return frame_psf(sources).stamp(size)


def _flux_ratio(new: np.ndarray, ref: np.ndarray, bad: np.ndarray, frame: TransientFrame,
                ref_sources: Table) -> float:  # fmt: skip
    """Template flux per frame flux, from the stars both images show (forced PSF fluxes)."""
    src = frame.sources
    ok = (np.asarray(src["flags"]) == 0) & (np.asarray(src["snr"]) >= 20)
    xy = np.column_stack([np.asarray(src["x"])[ok], np.asarray(src["y"])[ok]])
    if len(xy) < 3:
        raise DifferenceError(f"{frame.file}: too few clean stars to scale the template")
    xy = xy[np.argsort(-np.asarray(src["snr"])[ok])[:100]]
    p = ForcedParams(n_sigma=5.0)
    fn = forced_photometry(new, xy, frame_psf(src), mask=bad, params=p)
    fr = forced_photometry(ref, xy, frame_psf(ref_sources), mask=bad, params=p)
    good = (fn["flags"] == 0) & (fr["flags"] == 0) & (fn["snr"] > 20) & (fr["snr"] > 20)
    ratio = np.asarray(fr["flux"])[good] / np.asarray(fn["flux"])[good]
    if len(ratio) < 3:
        raise DifferenceError(f"{frame.file}: too few stars shared with the template")
    med = float(np.median(ratio))
    for _ in range(5):  # clipped median: variable stars and blends drop out
        mad = 1.4826 * float(np.median(np.abs(ratio - med)))
        keep = np.abs(ratio - med) <= 3.0 * max(mad, 1e-3 * med)
        med = float(np.median(ratio[keep]))
    return med


def subtract_frame(
    frame: TransientFrame,
    template: Template,
    params: DifferenceParams | None = None,
    *,
    template_on: np.ndarray | None = None,
    image: np.ndarray | None = None,
    prepared: dict | None = None,
) -> FrameDifference:
    """ZOGY difference of one frame and the template.

    Parameters
    ----------
    frame : TransientFrame
    template : Template
    params : DifferenceParams, optional
    template_on : ndarray, optional
        The template already resampled onto the frame.
    image : ndarray, optional
        Pixels to use instead of the frame's (artificial stars injected);
        the frame's sky, PSF and flux scale are kept.
    prepared : dict, optional
        Filled on the first call (template on the frame, its sky, PSF and
        flux scale) and reused when given again, for injections.

    Raises
    ------
    DifferenceError
        When the frame and template share too little to be subtracted.
    """
    p = params or DifferenceParams()
    fwhm = frame.fwhm
    if not math.isfinite(fwhm):
        raise DifferenceError(f"{frame.file}: no FWHM measured, cannot be subtracted")
    shape = frame.image.shape
    prep = prepared if prepared is not None and prepared else None
    if prep is None:
        prep = _prepare(frame, template, p, template_on)
        if prepared is not None:
            prepared.update(prep)
    data = np.asarray(frame.image if image is None else image, dtype=np.float64)
    bad = prep["bad"]
    new = np.where(bad, 0.0, data - prep["sky_new"])
    gain = frame.gain if frame.gain else None
    var_new = np.full(shape, prep["sigma_new"] ** 2)
    if gain:
        var_new = var_new + np.maximum(new, 0.0) / gain
    z = ZogyInputs(
        new, prep["ref"], prep["psf_new"], prep["psf_ref"], prep["sigma_new"],
        prep["sigma_ref"], 1.0, prep["flux_ref"], var_new=var_new, var_ref=prep["var_ref"],
        registration_sigma=(p.registration_sigma, p.registration_sigma),
    )  # fmt: skip
    result = zogy_subtract(z)
    return FrameDifference(
        result, prep["ref"] / prep["flux_ref"], prep["bad_grown"], prep["flux_ref"],
        fwhm, prep["fwhm_ref"], _pixel_variance(z),
    )  # fmt: skip


def _pixel_variance(z: ZogyInputs) -> np.ndarray:
    """Each pixel's variance of ``D`` in units of its background variance (about).

    ``D`` is white with unit variance where the sky dominates; on a galaxy or
    a bright source both images' photons add to it. With PSFs of similar
    width ``D`` is close to ``(N - R / F_r)`` over the background noise, so the
    ratio of the pixels' full variance to the background's is its variance.
    """
    fr = float(z.flux_ref)
    sky = z.sigma_new**2 + (z.sigma_ref / fr) ** 2
    var_n = z.var_new if z.var_new is not None else z.sigma_new**2
    var_r = z.var_ref if z.var_ref is not None else z.sigma_ref**2
    return np.asarray(np.maximum((var_n + var_r / fr**2) / sky, 1.0), dtype=np.float32)


def _correlated_noise(ref: np.ndarray, bad: np.ndarray, sources: Table, psf: np.ndarray) -> float:
    """How much more noise the template has at the PSF's scale than its pixels' rms says.

    A stack of resampled frames (and a survey's plate) has correlated noise:
    its pixel rms understates the noise of a PSF-weighted sum, which is what
    a flux on the difference is. The template's empty sky filtered with its
    PSF, against the white-noise expectation, gives the factor (at least 1).
    """
    k = psf / psf.sum()
    filtered = fftconvolve(ref, k, mode="same")
    keep = ~ndimage.binary_dilation(bad, iterations=k.shape[0] // 2 + 1)
    if len(sources):
        # Away from the template's sources (a few FWHM around each).
        near = np.zeros(ref.shape, bool)
        xi = np.clip(np.rint(np.asarray(sources["x"], float)).astype(int), 0, ref.shape[1] - 1)
        yi = np.clip(np.rint(np.asarray(sources["y"], float)).astype(int), 0, ref.shape[0] - 1)
        near[yi, xi] = True
        near = ndimage.binary_dilation(near, iterations=k.shape[0] // 2)
        keep &= ~near
    if keep.sum() < 1000:
        return 1.0
    measured = float(mad_std(filtered[keep]))
    white = float(mad_std(ref[keep])) * math.sqrt(float(np.sum(k**2)))
    return max(measured / white, 1.0) if white > 0 else 1.0


def _prepare(
    frame: TransientFrame, template: Template, p: DifferenceParams, template_on: np.ndarray | None
) -> dict:
    shape = frame.image.shape
    fwhm = frame.fwhm
    ref_img = template_on if template_on is not None else template_on_frame(
        template, frame.wcs, shape
    )  # fmt: skip
    bad = frame.bad | ~np.isfinite(ref_img)
    if bad.all():
        raise DifferenceError(f"{frame.file}: the template does not cover the frame")
    sky_n = measure_background(frame.image, bad)
    ref_filled = np.where(bad, np.nanmedian(ref_img), ref_img).astype(np.float32)
    sky_r = measure_background(ref_filled, bad)
    if sky_n.back is None or sky_r.back is None:  # measure_background keeps them by default
        raise RuntimeError("the sky was measured without its background map")
    ref = np.where(bad, 0.0, ref_filled - sky_r.back)
    det = Detection(DetectionParams())(ref.astype(np.float32), mask=bad)
    fwhm_ref = float(det.sources.meta.get("fwhm", math.nan))
    if not math.isfinite(fwhm_ref):
        raise DifferenceError(f"{frame.file}: no star measured on the template")
    new0 = np.where(bad, 0.0, frame.image - sky_n.back)
    flux_ref = _flux_ratio(new0, ref, bad, frame, det.sources)
    # As wide as the PSF model (8 FWHM): a narrower stamp, normalised, would
    # leave the wings out and bias bright fluxes low by a few per mille.
    size = int(min(max(8 * max(fwhm, fwhm_ref), 15), 63)) | 1
    psf_ref = _psf_stamp(det.sources, size)
    sigma_ref = sky_r.noise * _correlated_noise(ref, bad, det.sources, psf_ref)
    var_ref = np.full(shape, sigma_ref**2)
    if template.gain:
        var_ref = var_ref + np.maximum(ref, 0.0) / template.gain
    # The difference means nothing within a margin of bad pixels, missing
    # template and the frame's edge (the FFT wraps around it).
    margin = max(int(math.ceil(p.edge * fwhm)), 1)
    grown = ndimage.binary_dilation(bad, iterations=margin)
    grown[:margin, :] = grown[-margin:, :] = True
    grown[:, :margin] = grown[:, -margin:] = True
    return {
        "bad": bad, "bad_grown": grown, "sky_new": sky_n.back, "sigma_new": sky_n.noise,
        "ref": ref, "sigma_ref": sigma_ref, "var_ref": var_ref, "flux_ref": flux_ref,
        "psf_new": _psf_stamp(frame.sources, size), "psf_ref": psf_ref,
        "fwhm_ref": fwhm_ref,
    }  # fmt: skip


def _peaks(
    score: np.ndarray, s: np.ndarray, bad: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each connected region of ``score`` above ``threshold``: the pixel where ``S`` peaks
    in it, and the region's highest score.

    The score divides ``S`` by its noise, which a bright source's own photons
    raise at its centre: the score's maximum slides off a bright source, the
    matched filter's does not.
    """
    above = (score > threshold) & ~bad
    labels, n = ndimage.label(above)
    if n == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    index = np.arange(1, n + 1)
    idx = ndimage.maximum_position(s, labels, index)
    yx = np.array(idx, dtype=int).reshape(-1, 2)
    best = np.asarray(ndimage.maximum(score, labels, index), float)
    return yx[:, 1], yx[:, 0], best


def _refine(s: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel peak of ``S`` by a parabola through the peak and its neighbours."""
    ny, nx = s.shape
    xs, ys = x.astype(float), y.astype(float)
    for k in range(len(x)):
        i, j = int(y[k]), int(x[k])
        if 0 < j < nx - 1:
            a, b, c = s[i, j - 1], s[i, j], s[i, j + 1]
            den = a - 2 * b + c
            if den < 0:
                xs[k] += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
        if 0 < i < ny - 1:
            a, b, c = s[i - 1, j], s[i, j], s[i + 1, j]
            den = a - 2 * b + c
            if den < 0:
                ys[k] += float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return xs, ys


def _shape_distance(diff: FrameDifference, x: float, y: float, flux: float, p: DifferenceParams):
    """chi^2 per point of the difference's PSF fitted at (x, y), and its false-alarm probability."""
    res = diff.result
    d = res.difference
    psf = res.psf_difference
    h = psf.shape[0] // 2
    r = max(int(math.ceil(1.5 * diff.fwhm_new)), 2)
    ix, iy = int(round(x)), int(round(y))
    if ix - r < 0 or iy - r < 0 or ix + r + 1 > d.shape[1] or iy + r + 1 > d.shape[0]:
        return math.nan, 1.0
    cut = d[iy - r : iy + r + 1, ix - r : ix + r + 1]
    shifted = ndimage.shift(psf, (y - iy, x - ix), order=3, mode="constant")
    model = shifted[h - r : h + r + 1, h - r : h + r + 1] * res.flux_difference * flux
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    inside = np.hypot(xx, yy) <= r
    pix = diff.pixel_variance
    local = pix[iy - r : iy + r + 1, ix - r : ix + r + 1] if pix is not None else 1.0
    var = local + (p.psf_error * model) ** 2
    stat = float(np.sum(((cut - model) ** 2 / var)[inside]))
    dof = int(inside.sum()) - 1
    return stat / dof, float(chi2.sf(stat, dof))


def difference_candidates(
    frame: TransientFrame, diff: FrameDifference, params: DifferenceParams | None = None
) -> Table:
    """The candidates of one frame's difference (frame columns filled)."""
    p = params or DifferenceParams()
    res = diff.result
    x0, y0, best = _peaks(res.score, res.s, np.zeros(res.score.shape, bool), p.threshold)
    x, y = _refine(res.s, x0, y0)
    out = empty_candidates(len(x))
    if len(x) == 0:
        return frame_columns(out, frame)
    flux, err = res.flux(x, y)
    zp = frame.zero_point if math.isfinite(frame.zero_point) else None
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(
            flux > 0, (zp or 0.0) - 2.5 * np.log10(np.where(flux > 0, flux, 1.0)), np.nan
        )
        mag_err = np.where(flux > 0, MAG_PER_LN * err / flux, np.nan)
    ra, dec = frame.wcs.all_pix2world(x, y, 0)
    out["ra"], out["dec"], out["x"], out["y"] = ra, dec, x, y
    out["flux"], out["flux_err"], out["mag"], out["mag_err"] = flux, err, mag, mag_err
    out["score"] = best
    reason = np.full(len(x), "", dtype="U160")
    shape_p = np.ones(len(x))
    chi = np.full(len(x), np.nan)
    for k in range(len(x)):
        chi[k], shape_p[k] = _shape_distance(diff, x[k], y[k], flux[k], p)
    out["shape_distance"] = chi
    reason[shape_p < p.shape_false_rate] = Reason.SHAPE
    sat = frame.saturated
    if sat is not None and np.asarray(sat).any():
        near_sat = ndimage.binary_dilation(np.asarray(sat, bool), iterations=max(
            int(math.ceil(3 * diff.fwhm_new)), 1))  # fmt: skip
        reason[near_sat[y0, x0]] = Reason.SATURATED
    reason[diff.bad[y0, x0]] = Reason.OUTSIDE_TEMPLATE
    out["reason"] = reason
    out["accepted"] = reason == ""
    out.meta["mode"] = "difference"
    return frame_columns(out, frame)


def difference_search(
    frames: Sequence[TransientFrame],
    template: Template,
    *,
    params: DifferenceParams | None = None,
    sequence: SequenceParams | None = None,
    known: Table | None = None,
    location: EarthLocation | None = None,
    keep: bool = False,
    visit: Callable[[TransientFrame, FrameDifference, Table], None] | None = None,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> tuple[Table, dict[int, FrameDifference]]:
    """Difference candidates of every frame, confirmed over the sequence.

    Returns the candidates and, with ``keep``, each frame's difference by its
    index (for the viewer and for forced photometry); frames that could not
    be subtracted are logged and left out. ``visit(frame, difference,
    candidates)`` is called with each subtracted frame (forced photometry,
    cut-outs) so that a long night need not keep every difference.
    """
    state = state if state is not None else StepState()
    tick = state.counter(len(frames), "subtracted")
    kept: dict[int, FrameDifference] = {}

    def one(frame: TransientFrame) -> Table | None:
        state.check()
        try:
            diff = subtract_frame(frame, template, params)
        except DifferenceError as exc:
            log.warning("%s", exc)
            tick()
            return None
        table = difference_candidates(frame, diff, params)
        if visit is not None:
            visit(frame, diff, table)
        if keep:
            kept[frame.index] = diff
        tick()
        return table

    tables = list(executor.map(one, frames)) if executor is not None else [one(f) for f in frames]
    fwhm = np.nanmedian([f.fwhm for f in frames]) if frames else math.nan
    found = finish_candidates(
        stack_candidates(tables), len(frames), fwhm * _pixel_scale(frames), sequence, known,
        location,
    )  # fmt: skip
    found.meta["template"] = template.source
    return found, kept


def forced_on_differences(
    frames: Sequence[TransientFrame],
    differences: dict[int, FrameDifference],
    ra: float,
    dec: float,
    n_sigma: float = 5.0,
) -> Table:
    """Flux (frame units), magnitude or limit at (ra, dec) on every frame's difference."""
    rows = []
    for f in frames:
        diff = differences.get(f.index)
        x, y = (float(v) for v in f.wcs.all_world2pix(ra, dec, 0))
        if diff is None or not (0 <= x < f.image.shape[1] and 0 <= y < f.image.shape[0]):
            rows.append((f.file, f.index, f.jd_utc, x, y, math.nan, math.nan, math.nan))
            continue
        flux, err = diff.result.flux(np.array([x]), np.array([y]))
        # The limit's noise: the same position's error with no source of its own.
        s0 = float(err[0])
        rows.append((f.file, f.index, f.jd_utc, x, y, float(flux[0]), float(err[0]), s0))
    t = Table(rows=rows or None, names=("file", "frame", "jd_utc", "x", "y", "flux", "flux_err",
                                        "sigma0"),
              dtype=(str, int, float, float, float, float, float, float))  # fmt: skip
    zps = np.array([f.zero_point for f in frames], dtype=float)
    zpe = np.array([f.zero_point_err for f in frames], dtype=float)
    mags = [
        magnitudes_and_limits(
            np.array([r["flux"]]), np.array([r["flux_err"]]), np.array([r["sigma0"]]),
            zp if math.isfinite(zp) else None, ze if math.isfinite(ze) else 0.0, n_sigma,
        )
        for r, zp, ze in zip(t, zps, zpe, strict=True)
    ]  # fmt: skip
    for k, name in enumerate(("mag", "mag_err", "limit_mag", "detected")):
        t[name] = np.array([m[k][0] for m in mags]) if mags else np.zeros(0)
    t.remove_column("sigma0")
    return t
