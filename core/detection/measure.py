"""Per-source measurements behind :class:`fluxion.core.detection.extract.Detection`.

From sep's extraction of a background-subtracted frame: Kron flux (FLUX_AUTO),
half-light radius and FWHM, windowed centroid (XWIN/YWIN), flags; and the
frame's FWHM from clean isolated stars.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
import sep
from astropy.stats import mad_std
from astropy.table import Table
from scipy.spatial import cKDTree

from .fwhm import MoffatProfile, fit_stacked_moffat

if TYPE_CHECKING:
    from .params import DetectionParams

__all__ = [
    "SourceFlags",
    "frame_fwhm",
    "frame_profile",
    "fwhm_stars",
    "measure_fwhm_candidates",
    "measure_sources",
]

# winpos flags that leave a windowed centroid usable: the window crossed the
# frame's edge or held masked pixels (both flagged on the source already).
_WINDOW_KEPT = sep.APER_TRUNC | sep.APER_HASMASKED

# Below this S/N a source's half-light radius is too noisy to size its centroid window.
_FAINT_SNR = 10.0


class SourceFlags(enum.IntFlag):
    """Per-source flag bits: sep's own bits, then Fluxion's.

    The low bits are SExtractor's / sep's extraction and aperture flags so
    that a reader who knows SExtractor recognises them.
    """

    MERGED = sep.OBJ_MERGED  #: deblended from a blend
    TRUNCATED = sep.OBJ_TRUNC  #: touches the image edge
    DEBLEND_OVERFLOW = sep.OBJ_DOVERFLOW
    SINGULAR = sep.OBJ_SINGU  #: singular moments
    APERTURE_TRUNCATED = sep.APER_TRUNC  #: Kron aperture crosses the edge
    APERTURE_MASKED = sep.APER_HASMASKED  #: Kron aperture contains masked pixels
    APERTURE_ALL_MASKED = sep.APER_ALLMASKED
    NONPOSITIVE_FLUX = sep.APER_NONPOSITIVE
    SATURATED = 256  #: at least one saturated pixel in the source
    CROWDED = 512  #: another source closer than the isolation radius
    CENTROID_ISOPHOTAL = 1024  #: windowed centroid failed, isophotal one kept


@dataclass
class _Sources:
    """Per-source arrays of some of an extraction's objects (``ids``: their segment ids)."""

    ids: np.ndarray
    x_iso: np.ndarray
    y_iso: np.ndarray
    a: np.ndarray
    b: np.ndarray
    theta: np.ndarray
    flags: np.ndarray
    peak: np.ndarray
    npix: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray

    def take(self, rows: np.ndarray) -> _Sources:
        return _Sources(*(getattr(self, f.name)[rows] for f in fields(self)))


def measure_sources(
    data: np.ndarray,
    bad: np.ndarray,
    err: float | np.ndarray,
    gain: float | None,
    objects: np.ndarray,
    segmap: np.ndarray,
    saturated: np.ndarray | None,
    p: DetectionParams,
    psf_fwhm: float | None = None,
) -> Table:
    """Kron flux, half-light FWHM, windowed centroid and flags of each object.

    ``data`` is background-subtracted with bad pixels zeroed, ``objects``
    and ``segmap`` are :func:`sep.extract`'s output on it. ``psf_fwhm``, the
    stars' FWHM when it is known, bounds the centroid window.
    """
    src = _kron_photometry(data, bad, err, gain, objects, segmap, p)
    if len(src.ids) == 0:
        return _empty_table()
    return _measured_table(data, bad, src, segmap, saturated, p, psf_fwhm)


def measure_fwhm_candidates(
    data: np.ndarray,
    bad: np.ndarray,
    err: float | np.ndarray,
    objects: np.ndarray,
    segmap: np.ndarray,
    p: DetectionParams,
) -> Table:
    """The objects that can be among the frame's FWHM stars, measured as in :func:`measure_sources`.

    Those unflagged by the extraction and the Kron aperture, of S/N at least
    ``p.fwhm_min_snr`` (without a gain); each row holds exactly the numbers
    :func:`measure_sources` gives it, so :func:`frame_profile` and
    :func:`frame_fwhm` find the same stars and the same FWHM. The others are
    measured only where they may crowd a candidate: no centroid moves further
    than 3 px from its isophotal barycentre (the window gives up beyond 1 px,
    its mirrored or neighbour-masked rerun beyond 3), so a source further than
    the isolation radius plus 6 px from every candidate's barycentre is
    further than the isolation radius from every candidate. On a large frame
    most of a first pass's sources are too faint or flagged, and their
    half-light radii and windows were most of its cost.
    """
    src = _kron_photometry(data, bad, err, None, objects, segmap, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(src.flux_err > 0, src.flux / src.flux_err, np.nan)
    cand = (src.flags == 0) & (snr >= p.fwhm_min_snr)
    if not cand.any():
        return _empty_table()
    rows = cand.copy()
    if p.isolation_radius > 0 and cand.any() and not cand.all():
        xy = np.column_stack([src.x_iso, src.y_iso])
        near = cKDTree(xy[cand]).query(xy[~cand], distance_upper_bound=p.isolation_radius + 6.0)[0]
        rows[~cand] = np.isfinite(near)
    table = _measured_table(data, bad, src.take(rows), segmap, None, p, None)
    return table[cand[rows]]


def _empty_table() -> Table:
    """The table of a frame without sources."""
    e = np.zeros(0)
    return _table(e, e, e, e, e, e, e, e, e, e, e, e, np.zeros(0, np.int64))


def _kron_photometry(
    data: np.ndarray,
    bad: np.ndarray,
    err: float | np.ndarray,
    gain: float | None,
    objects: np.ndarray,
    segmap: np.ndarray,
    p: DetectionParams,
) -> _Sources:
    """Every object's isophotal shape, flags and Kron flux (FLUX_AUTO)."""
    n = len(objects)
    x_iso = objects["x"].astype(np.float64)
    y_iso = objects["y"].astype(np.float64)
    a, b = objects["a"], objects["b"]
    # sep gives theta in float32, where pi/2 rounds up past the float64 pi/2
    # that its aperture functions accept: clip, or a source elongated exactly
    # along y makes sum_ellipse fail the whole frame ("invalid aperture parameters").
    theta = np.clip(objects["theta"].astype(np.float64), -math.pi / 2, math.pi / 2)
    flags = objects["flag"].astype(np.int64)
    ids = np.arange(1, n + 1, dtype=np.int32)
    if n == 0:
        e = np.zeros(0)
        return _Sources(ids, x_iso, y_iso, a, b, theta, flags, e, e, e, e)
    # FLUX_AUTO as SExtractor defines it: 2.5 Kron radii (in units of the
    # isophotal ellipse), never smaller than PHOT_AUTOPARAMS' least radius.
    # Neighbours' pixels (their segments) are left out of every aperture.
    seg = _segments(ids, segmap, p)
    kron, _ = sep.kron_radius(data, x_iso, y_iso, a, b, theta, 6.0, mask=bad, **seg)
    kron = np.where(np.isfinite(kron) & (kron > 0), kron, 0.0)
    radius = np.maximum(2.5 * kron, p.kron_min_radius)
    flux, flux_err, aflag = sep.sum_ellipse(
        data, x_iso, y_iso, a, b, theta, radius, err=err, mask=bad, gain=gain, subpix=1, **seg
    )
    flags |= aflag.astype(np.int64)
    return _Sources(
        ids, x_iso, y_iso, a, b, theta, flags, objects["peak"], objects["npix"], flux, flux_err
    )


def _segments(ids: np.ndarray, segmap: np.ndarray, p: DetectionParams) -> dict:
    """sep's arguments that leave other sources' segments out of an aperture."""
    return {"seg_id": ids, "segmap": segmap} if p.mask_neighbours else {}


def _measured_table(
    data: np.ndarray,
    bad: np.ndarray,
    src: _Sources,
    segmap: np.ndarray,
    saturated: np.ndarray | None,
    p: DetectionParams,
    psf_fwhm: float | None,
) -> Table:
    """Half-light FWHM, windowed centroid and the remaining flags of ``src``, as a table."""
    x_iso, y_iso, flux, flux_err = src.x_iso, src.y_iso, src.flux, src.flux_err
    flags = src.flags.copy()
    seg = _segments(src.ids, segmap, p)
    # Half-light radius; twice it is the FWHM of a Gaussian star.
    rmax = np.maximum(6.0 * src.a, 3.0)
    half_light, _ = sep.flux_radius(
        data,
        x_iso,
        y_iso,
        rmax,
        0.5,
        normflux=np.where(flux > 0, flux, np.nan),
        mask=bad,
        subpix=5,
        **seg,
    )
    half_light = np.where(np.isfinite(half_light) & (half_light > 0), half_light, np.nan)
    fwhm = 2.0 * half_light

    # Windowed centroid (XWIN): far less biased than the isophotal barycentre
    # for faint stars, whose isophote is cut by the threshold.
    # SExtractor's window: sigma = 2 * FLUX_RADIUS / 2.35 (its rounding of 2.3548).
    sig = np.where(np.isfinite(half_light), 2.0 * half_light / 2.35, 1.0)
    if psf_fwhm is not None and math.isfinite(psf_fwhm):
        # A faint source's half-light radius is noisy and, over the wide
        # isophote of a low threshold, biased large: a window wider than the
        # PSF only adds noise and neighbours to its centroid. Faint sources
        # that are not clearly extended use the stars' own window (astrometric
        # residuals of a simulated field 0.26 -> 0.21 px); the others keep
        # SExtractor's, which the SExtractor comparisons rest on.
        psf_sig = psf_fwhm / 2.35
        with np.errstate(divide="ignore", invalid="ignore"):
            faint = np.where(flux_err > 0, flux / flux_err, 0.0) < _FAINT_SNR
        narrow = faint & (sig < 2.0 * psf_sig)
        sig = np.where(narrow, np.minimum(sig, psf_sig), sig)
    # The window's pixels weighed by their exact overlap with its 4-sigma
    # circle (subpix=0), not sep's default 11 x 11 samples of each edge
    # pixel: the limit those samples approach (centroids within 1e-3 px of
    # them, median 1e-5 px), at half the cost.
    xw, yw, wflag = sep.winpos(data, x_iso, y_iso, sig, mask=bad, subpix=0)
    # sep's window cannot leave neighbours out: one that moved more than a
    # pixel from the barycentre was pulled by a brighter neighbour.
    moved = np.hypot(xw - x_iso, yw - y_iso)
    # An edge-truncated window still gives SExtractor's XWIN; keep it, flagged.
    flags |= wflag.astype(np.int64) & sep.APER_TRUNC
    # So does a window holding masked pixels (a cosmic ray, a hot pixel): sep
    # gives them the window's mean unmasked value. The isophotal barycentre
    # it used to fall back to was worse by far: 0.3 instead of 0.06 px rms for
    # the bright stars of simulated 5 px frames (its filtered isophote is wide).
    good_win = ((wflag & ~_WINDOW_KEPT) == 0) & np.isfinite(xw) & np.isfinite(yw) & (moved < 1.0)
    if p.mask_neighbours:
        # The move may instead be the barycentre's fault: a low threshold
        # gives a bright star an isophote that takes in a faint neighbour's
        # light. The window run again without the detected neighbours' pixels
        # settles on the source itself; it is kept when it lands on the
        # source's own pixels.
        for i in np.flatnonzero(~good_win & ((wflag & ~sep.APER_HASMASKED) == 0)):
            again = _window_without_neighbours(
                data, bad, segmap, int(src.ids[i]) - 1, x_iso[i], y_iso[i], sig[i]
            )
            if again is not None:
                xw[i], yw[i] = again
                good_win[i] = True
    # A blend is not symmetric about its centroid: only single sources are mirrored.
    single = (flags & sep.OBJ_MERGED) == 0
    for i in np.flatnonzero(good_win & single & ((wflag & sep.APER_HASMASKED) != 0)):
        mirrored = _window_mirrored(data, bad, xw[i], yw[i], sig[i])
        if mirrored is not None and math.hypot(mirrored[0] - xw[i], mirrored[1] - yw[i]) < 1.0:
            xw[i], yw[i] = mirrored
    x = np.where(good_win, xw, x_iso)
    y = np.where(good_win, yw, y_iso)
    flags[~good_win] |= SourceFlags.CENTROID_ISOPHOTAL

    if saturated is not None:
        hit = np.isin(src.ids, segmap[saturated & (segmap > 0)])
        flags[hit] |= SourceFlags.SATURATED
    if len(x) > 1 and p.isolation_radius > 0:
        tree = cKDTree(np.column_stack([x, y]))
        dist, _ = tree.query(np.column_stack([x, y]), k=2)
        flags[dist[:, 1] < p.isolation_radius] |= SourceFlags.CROWDED

    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(flux_err > 0, flux / flux_err, np.nan)
    return _table(
        x,
        y,
        x_iso,
        y_iso,
        flux,
        flux_err,
        fwhm,
        src.a,
        src.b,
        src.theta,
        src.peak,
        snr,
        flags,
        npix=src.npix,
        ids=src.ids,
    )


def _window_cutout(shape: tuple[int, ...], x0: float, y0: float, sig: float) -> tuple[slice, slice]:
    """The rows and columns a windowed centroid from (x0, y0) can reach: sep's 4 sigma + 4 px."""
    ny, nx = shape
    reach = int(math.ceil(4.0 * sig)) + 4
    cx, cy = int(round(x0)), int(round(y0))
    ys = slice(max(cy - reach, 0), min(cy + reach + 1, ny))
    xs = slice(max(cx - reach, 0), min(cx + reach + 1, nx))
    return ys, xs


def _window_mirrored(
    data: np.ndarray, bad: np.ndarray, x0: float, y0: float, sig: float
) -> tuple[float, float] | None:
    """A windowed centroid whose masked pixels take the value of their mirror image.

    sep fills a window's masked pixels with its mean unmasked value, far
    below a star's core: a cosmic ray masked next to the peak pulls the
    centroid away from it (0.3 px for an S/N 100 star of a simulated 3 px
    frame). A star is symmetric about its centre, so each masked pixel is
    given the value of the pixel opposite it through the centroid, and the
    window is run again, twice (the second about the first one's centre).
    Pixels whose mirror image is masked too keep sep's fill. None when the
    window fails or leaves the cut-out.
    """
    ys, xs = _window_cutout(data.shape, x0, y0, sig)
    masked = bad[ys, xs]
    iy, ix = np.nonzero(masked)
    x, y = x0 - xs.start, y0 - ys.start
    for _ in range(2):
        cut = np.array(data[ys, xs], dtype=np.float32)
        my = np.rint(2.0 * y - iy).astype(np.intp)
        mx = np.rint(2.0 * x - ix).astype(np.intp)
        ok = (my >= 0) & (my < cut.shape[0]) & (mx >= 0) & (mx < cut.shape[1])
        ok[ok] = ~masked[my[ok], mx[ok]]
        cut[iy[ok], ix[ok]] = cut[my[ok], mx[ok]]
        still = masked.copy()
        still[iy[ok], ix[ok]] = False
        xw, yw, flag = sep.winpos(cut, [x], [y], [sig], mask=still, subpix=0)
        if flag[0] & ~sep.APER_HASMASKED or not (np.isfinite(xw[0]) and np.isfinite(yw[0])):
            return None
        if np.hypot(xw[0] - x, yw[0] - y) > 3.0:
            return None
        x, y = float(xw[0]), float(yw[0])
    return x + xs.start, y + ys.start


def _window_without_neighbours(
    data: np.ndarray,
    bad: np.ndarray,
    segmap: np.ndarray,
    index: int,
    x0: float,
    y0: float,
    sig: float,
) -> tuple[float, float] | None:
    """Source ``index``'s windowed centroid with the other sources' pixels masked.

    Computed on a cut-out around the source (a full-frame mask per source
    would cost a frame's worth of work each), reaching 4 sigma (sep's window)
    plus 3 px of travel. None when the window fails, leaves the cut-out or
    ends off the source's own segment.
    """
    ys, xs = _window_cutout(data.shape, x0, y0, sig)
    seg = segmap[ys, xs]
    mask = bad[ys, xs] | ((seg > 0) & (seg != index + 1))
    xw, yw, flag = sep.winpos(
        np.ascontiguousarray(data[ys, xs]),
        [x0 - xs.start],
        [y0 - ys.start],
        [sig],
        mask=mask,
        subpix=0,
    )
    # The neighbours' pixels are masked on purpose: only a window out of the
    # cut-out or all masked fails.
    if flag[0] & ~sep.APER_HASMASKED or not (np.isfinite(xw[0]) and np.isfinite(yw[0])):
        return None
    if np.hypot(xw[0] - (x0 - xs.start), yw[0] - (y0 - ys.start)) > 3.0:
        return None
    ix, iy = int(round(xw[0])), int(round(yw[0]))
    if not (0 <= iy < seg.shape[0] and 0 <= ix < seg.shape[1]) or seg[iy, ix] != index + 1:
        return None
    return float(xw[0]) + xs.start, float(yw[0]) + ys.start


def _table(
    x: np.ndarray,
    y: np.ndarray,
    x_iso: np.ndarray,
    y_iso: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray,
    fwhm: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    theta: np.ndarray,
    peak: np.ndarray,
    snr: np.ndarray,
    flags: np.ndarray,
    npix: np.ndarray | None = None,
    ids: np.ndarray | None = None,
) -> Table:
    n = len(x)
    t = Table()
    # The source's segment number in the extraction's map.
    t["id"] = np.asarray(ids if ids is not None else np.arange(1, n + 1), dtype=np.int64)
    cols = {
        "x": (x, "pix", "windowed centroid, 0-based, along columns"),
        "y": (y, "pix", "windowed centroid, 0-based, along rows"),
        "flux": (flux, "", "Kron (FLUX_AUTO) flux, background-subtracted, image units"),
        "flux_err": (flux_err, "", "1-sigma error of flux"),
        "fwhm": (fwhm, "pix", "FWHM: half-light diameter scaled by the frame's Moffat profile"),
        "flags": (flags, "", "SourceFlags bits"),
        "a": (a, "pix", "isophotal semi-major axis (rms)"),
        "b": (b, "pix", "isophotal semi-minor axis (rms)"),
        "theta": (theta, "rad", "position angle of a, from +x towards +y"),
        "peak": (peak, "", "highest background-subtracted pixel"),
        "snr": (snr, "", "flux / flux_err"),
        "r_half": (fwhm / 2.0, "pix", "half-light radius (FLUX_RADIUS)"),
        "x_iso": (x_iso, "pix", "isophotal barycentre"),
        "y_iso": (y_iso, "pix", "isophotal barycentre"),
    }
    for name, (values, unit, doc) in cols.items():
        dtype = np.int64 if name == "flags" else np.float64
        t[name] = np.asarray(values, dtype=dtype)
        t[name].description = doc
        if unit:
            t[name].unit = unit
    t["npix"] = np.asarray(npix if npix is not None else np.zeros(n), dtype=np.int64)
    t["npix"].description = "pixels above the threshold"
    return t


def _sharper_than_stars(diameter: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Sources under half the stars' width: cosmic rays and hot pixels, not stars.

    On a long exposure they can be half the clean bright sources; stacked
    with the stars they narrow the fitted profile, and every source's width
    is rescaled by it (a simulated 2 px frame read 1.3 px, enough to pass
    for undersampled). The stars' width is the median of the sources at
    least half as wide as the last estimate, iterated. Frames whose stars
    are under 1.5 px are left alone: an undersampled star is as sharp as a
    hot pixel.
    """
    d = diameter[usable]
    if len(d) < 5:
        return np.zeros(len(diameter), bool)
    width = float(np.median(d))
    for _ in range(10):
        kept = d[d >= 0.5 * width]
        new = float(np.median(kept)) if len(kept) else width
        if abs(new - width) <= 1e-3 * width:
            break
        width = new
    if width < 1.5:
        return np.zeros(len(diameter), bool)
    return usable & (diameter < 0.5 * width)


def frame_fwhm(
    data: np.ndarray,
    bad: np.ndarray,
    sources: Table,
    p: DetectionParams,
    profile: MoffatProfile | None = None,
    *,
    start: MoffatProfile | None = None,
) -> tuple[float, float, int, float]:
    """The frame's FWHM, its spread and the stars it rests on.

    A Moffat profile is fitted to the stacked clean isolated stars (see
    :mod:`fluxion.core.detection.fwhm`). Every source's ``fwhm`` column, until
    then twice its half-light radius, is rescaled by the ratio of the fitted
    FWHM to the stars' median half-light diameter: stars then read the fitted
    FWHM whatever the profile, and extended sources stand out above it.

    ``profile``, the frame's profile when it is already fitted (by
    :func:`frame_profile` on these sources), is taken instead of a new fit;
    ``start``, a fit of the same frame's stars found otherwise (another
    detection pass), is where the fit starts.

    Returns ``(fwhm, spread, n_stars, beta)``; NaNs when no star qualifies.
    """
    if len(sources) == 0:
        return math.nan, math.nan, 0, math.nan
    diameter = np.asarray(sources["fwhm"])
    usable = fwhm_stars(sources, p)
    n = int(usable.sum())
    if n == 0:
        return math.nan, math.nan, 0, math.nan
    median_diameter = float(np.median(diameter[usable]))
    if profile is None:
        profile = _fit_profile(data, bad, sources, usable, median_diameter, start)
    beta = math.nan
    if profile is not None and 0.2 * median_diameter < profile.fwhm < 2.0 * median_diameter:
        sources["fwhm"][:] = diameter * (profile.fwhm / median_diameter)
        beta = profile.beta
    values = np.asarray(sources["fwhm"])[usable]
    spread = float(mad_std(values)) if n > 1 else 0.0
    return float(np.median(values)), spread, n, beta


def _fit_profile(
    data: np.ndarray,
    bad: np.ndarray,
    sources: Table,
    usable: np.ndarray,
    median_diameter: float,
    start: MoffatProfile | None = None,
) -> MoffatProfile | None:
    """The Moffat profile of the ``usable`` stars among ``sources``."""
    snr = np.asarray(sources["snr"])
    # The brightest 60 stars pin the profile (thousands of pixels); more only cost time.
    best = np.flatnonzero(usable)[np.argsort(-snr[usable])[:60]]
    if start is None:
        start = _half_light_start(median_diameter)
    return fit_stacked_moffat(
        data,
        np.asarray(sources["x"])[best],
        np.asarray(sources["y"])[best],
        np.asarray(sources["flux"])[best],
        median_diameter,
        bad=bad,
        start=start,
    )


def _half_light_start(diameter: float) -> MoffatProfile | None:
    """Where a fit of stars with this half-light diameter (px) starts: a beta = 3 Moffat.

    The fit's own start takes its guess for the FWHM, but the stars' measured
    width is a half-light diameter, which a Moffat's wings make 20-35 % larger
    than its FWHM. The beta = 3 profile of that half-light radius
    (``r_half = alpha sqrt(2^(1/(beta-1)) - 1)``, normalised to unit flux)
    starts next to the minimum: a first-pass fit of a simulated 1k x 1k frame
    took 5 evaluations instead of 9, to the same profile (FWHM within 1e-7).
    """
    if not (math.isfinite(diameter) and diameter > 0):
        return None
    alpha = 0.5 * diameter / math.sqrt(math.sqrt(2.0) - 1.0)
    return MoffatProfile(alpha=alpha, beta=3.0, n_stars=0, amplitude=2.0 / (math.pi * alpha**2))


def frame_profile(
    data: np.ndarray, bad: np.ndarray, sources: Table, p: DetectionParams
) -> MoffatProfile | None:
    """The Moffat profile of the frame's clean isolated stars, as :func:`frame_fwhm` fits it.

    None when no star qualifies or the fit fails. ``sources`` is left as it is.
    """
    if len(sources) == 0:
        return None
    usable = fwhm_stars(sources, p)
    if not usable.any():
        return None
    diameter = np.asarray(sources["fwhm"])
    return _fit_profile(data, bad, sources, usable, float(np.median(diameter[usable])))


def fwhm_stars(sources: Table, p: DetectionParams) -> np.ndarray:
    """The sources the frame's FWHM rests on: unflagged, bright, not sharper than stars."""
    diameter = np.asarray(sources["fwhm"])
    snr = np.asarray(sources["snr"])
    usable = (np.asarray(sources["flags"]) == 0) & np.isfinite(diameter) & (snr >= p.fwhm_min_snr)
    return usable & ~_sharper_than_stars(diameter, usable)
