"""Centroids of undersampled stars from a fit of the frame's pixel-integrated PSF.

When the FWHM is about one pixel or less, windowed and quadratic centroids
are pulled towards the centre of the brightest pixel (a star's light falls
into one or two pixels, whose centres are all such centroids can see). A
Gaussian integrated over each pixel (photutils ``GaussianPRF``) models exactly
that sampling, so its fitted position is not pulled.

The PRF is one per frame, as in PSF photometry: its shape (two FWHMs and an
angle: tracking and optics elongate stars) is fitted on the brightest stars,
then held fixed while each star's position and flux are fitted. A star of
two or three pixels cannot tell its own width and elongation from its
position; a per-star width soaks up pixel-phase errors instead. On the EY UMa
thumbnail (FWHM 0.57 x 0.69 px, 9 arcsec/px) a TAN fit against ATLAS-RefCat2
has an RMS of 0.28 px with detected centroids, 0.13 px with per-star
circular fits and ~0.10 px with the fixed elliptical PRF.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning

from ..runtime.quiet import quiet
from .inputs import stars_fwhm
from .noise import gain_from_sky, noise_map, sky_rms
from .params import CENTROID_CHOICES

if TYPE_CHECKING:
    from photutils.psf import GaussianPRF, PSFPhotometry

# photutils.psf (astropy.modeling, scipy.integrate) is imported where a star is
# fitted: a process whose solver keeps the detected centroids never needs it.

__all__ = [
    "CENTROID_CHOICES",
    "PRF_FWHM_LIMIT",
    "FramePRF",
    "centroid_method",
    "centroids_for_solving",
    "frame_prf",
    "prf_centroids",
    "sources_fwhm",
]

log = logging.getLogger(__name__)

#: Frame FWHM (px) below which "auto" fits pixel-integrated centroids. From
#: about 1.5 px down, a star's light falls mostly into two or three pixels
#: per axis and windowed centroids are pulled towards pixel centres; above
#: it they are as good as a fit and cost nothing.
PRF_FWHM_LIMIT = 1.5

_SIGMA_TO_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))
# photutils flags: 4 = non-positive flux, 8 = the fit did not converge.
_BAD_FIT = 4 | 8


@dataclass(frozen=True)
class FramePRF:
    """The frame's pixel-integrated Gaussian PSF.

    Attributes
    ----------
    x_fwhm, y_fwhm : float
        FWHM (px) along the PSF's own axes (photutils' x and y before the
        rotation by ``theta``).
    theta : float
        Counter-clockwise rotation (degrees).
    n_stars : int
        Stars whose fits set the shape (0: the starting circular shape kept).
    """

    x_fwhm: float
    y_fwhm: float
    theta: float
    n_stars: int

    @property
    def fwhm(self) -> float:
        """Geometric-mean FWHM (px)."""
        return math.sqrt(self.x_fwhm * self.y_fwhm)

    def model(self) -> GaussianPRF:
        """The photutils model with this shape fixed (position and flux free)."""
        from photutils.psf import GaussianPRF

        return GaussianPRF(x_fwhm=self.x_fwhm, y_fwhm=self.y_fwhm, theta=self.theta)


def _photometry(model, fit_shape: int) -> PSFPhotometry:
    from photutils.psf import PSFPhotometry

    return PSFPhotometry(model, fit_shape=(fit_shape, fit_shape), aperture_radius=fit_shape / 2)


def _fit_stars(image, bad, x0, y0, model, fit_shape: int, error=None, phot=None) -> Table:
    phot = _photometry(model, fit_shape) if phot is None else phot
    # Faint stars may not converge: they are flagged and keep their detected position.
    with quiet(AstropyUserWarning, "One or more fit"):
        return phot(
            image,
            mask=bad if bad.any() else None,
            error=error,
            init_params=Table({"x": x0, "y": y0}),
        )


def frame_prf(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *,
    fwhm: float = 1.0,
    fit_shape: int = 5,
    bad: np.ndarray | None = None,
) -> FramePRF:
    """The frame's PRF shape from free elliptical fits of bright stars.

    Parameters
    ----------
    image : ndarray
        Background-subtracted image.
    x, y : ndarray
        Positions (0-based px) of bright, unsaturated stars; 15 or so suffice.
    fwhm : float
        Starting FWHM (px), kept when fewer than three fits converge.
    fit_shape : int
        Side of the fitted box (px, odd).
    bad : ndarray of bool, optional
        Pixels left out.

    Returns
    -------
    FramePRF
        The per-element median of the stars' Gaussian covariance matrices,
        as FWHMs and an angle (a median of angles would break where the
        angle wraps round or is undefined for round stars).
    """
    bad = np.zeros(image.shape, bool) if bad is None else bad
    if len(x) < 3:
        return FramePRF(fwhm, fwhm, 0.0, 0)
    from photutils.psf import GaussianPRF

    model = GaussianPRF(x_fwhm=fwhm, y_fwhm=fwhm)
    for name in ("x_fwhm", "y_fwhm", "theta"):
        getattr(model, name).fixed = False
    fitted = _fit_stars(image, bad, np.asarray(x, float), np.asarray(y, float), model, fit_shape)
    sx = np.asarray(fitted["x_fwhm_fit"], float) / _SIGMA_TO_FWHM
    sy = np.asarray(fitted["y_fwhm_fit"], float) / _SIGMA_TO_FWHM
    th = np.radians(np.asarray(fitted["theta_fit"], float))
    ok = (np.asarray(fitted["flags"], int) & _BAD_FIT) == 0
    # Widths outside (0.2, 5) x the start are fits that ran away on a blend or a hot pixel.
    for s in (sx, sy):
        ok &= np.isfinite(s) & (s * _SIGMA_TO_FWHM > 0.2 * fwhm) & (s * _SIGMA_TO_FWHM < 5 * fwhm)
    if ok.sum() < 3:
        return FramePRF(fwhm, fwhm, 0.0, 0)
    c, s = np.cos(th[ok]), np.sin(th[ok])
    vx, vy = sx[ok] ** 2, sy[ok] ** 2
    cov = np.array(
        [
            [np.median(c**2 * vx + s**2 * vy), np.median(c * s * (vx - vy))],
            [np.median(c * s * (vx - vy)), np.median(s**2 * vx + c**2 * vy)],
        ]
    )
    var, vec = np.linalg.eigh(cov)
    theta = math.degrees(math.atan2(vec[1, 0], vec[0, 0]))
    x_fwhm, y_fwhm = (math.sqrt(max(v, 1e-6)) * _SIGMA_TO_FWHM for v in var)
    return FramePRF(x_fwhm, y_fwhm, theta, int(ok.sum()))


def prf_centroids(
    data: np.ndarray,
    sources: Table,
    *,
    fit_shape: int = 5,
    fwhm: float = 1.0,
    mask: np.ndarray | None = None,
    n_shape: int = 15,
    error: np.ndarray | None = None,
    background_rms: float | np.ndarray | None = None,
    gain: float | None = None,
) -> Table:
    """``sources`` with x, y refined by a fit of the frame's pixel-integrated PSF.

    Parameters
    ----------
    data : ndarray
        The image (background is removed here as a sigma-clipped median,
        enough on the few pixels of an undersampled star).
    sources : Table
        Detected sources with x, y (0-based px); with ``flux``, the
        brightest ``n_shape`` set the PRF shape (the first ones otherwise).
    fit_shape : int
        Side of the fitted box (px, odd).
    fwhm : float
        Starting FWHM (px).
    mask : ndarray of bool, optional
        Pixels left out of the fit (True: bad); non-finite pixels always are.
    n_shape : int
        Stars whose free fits set the frame's PRF shape
        (:func:`frame_prf`); with fewer than three converging, each star
        is fitted with a circular PRF of its own width instead.
    error : ndarray, optional
        1-sigma noise of each pixel, when the caller knows it. Otherwise the
        map is made here (:func:`~fluxion.core.astrometry.noise.noise_map`):
        a first fit weighted by the sky noise gives the stars' model, whose
        photon noise is added for the second, final fit.
    background_rms : float or ndarray, optional
        Sky noise (image units); ``sources.meta["sky_noise"]`` (detection's)
        or the frame's robust scatter by default.
    gain : float, optional
        e- per image unit (header GAIN, instrument profile). Without it the
        gain is estimated from the sky, level over variance
        (:func:`~fluxion.core.astrometry.noise.gain_from_sky`; the level is
        ``sources.meta["sky"]`` or the frame's median).

    Returns
    -------
    Table
        A copy of ``sources``: x, y replaced where the fit converged to
        within one pixel of the start (positive flux), ``x_err``/``y_err``
        (px, from the weighted fit's covariance with absolute pixel errors;
        NaN where the detected position was kept), ``fwhm`` the PRF's FWHM
        there. ``meta["prf"]`` holds the :class:`FramePRF` used (None for
        per-star circular fits); ``meta["sky_rms"]``, ``meta["gain"]`` and
        ``meta["gain_from_sky"]`` the noise map's terms (when made here).
    """
    out = sources.copy()
    out.meta = dict(sources.meta)
    if not len(out):
        return out
    image = np.asarray(data, float)
    bad = ~np.isfinite(image)
    if mask is not None:
        bad |= np.asarray(mask, bool)
    _, median, _ = sigma_clipped_stats(image, mask=bad, maxiters=3)
    image = image - median
    x0, y0 = np.asarray(out["x"], float), np.asarray(out["y"], float)
    rows = _shape_stars(out, n_shape)
    shape = frame_prf(image, x0[rows], y0[rows], fwhm=fwhm, fit_shape=fit_shape, bad=bad)
    if shape.n_stars:
        model = shape.model()
    else:
        log.info("PRF shape not measurable; each star fitted with its own circular width")
        from photutils.psf import CircularGaussianPRF

        model = CircularGaussianPRF(fwhm=fwhm)
        model.fwhm.fixed = False
    if error is None:
        error, x0, y0 = _noise_from_first_fit(
            image, bad, x0, y0, model, fit_shape, out.meta, background_rms, gain, median
        )
    fitted = _fit_stars(image, bad, x0, y0, model, fit_shape, error)
    x, y = np.asarray(fitted["x_fit"], float), np.asarray(fitted["y_fit"], float)
    converged = (np.asarray(fitted["flags"], int) & _BAD_FIT) == 0
    start_x, start_y = np.asarray(out["x"], float), np.asarray(out["y"], float)
    ok = converged & np.isfinite(x) & np.isfinite(y) & (np.hypot(x - start_x, y - start_y) < 1.0)
    out["x"] = np.where(ok, x, start_x)
    out["y"] = np.where(ok, y, start_y)
    out["x_err"] = np.where(ok, np.asarray(fitted["x_err"], float), np.nan)
    out["y_err"] = np.where(ok, np.asarray(fitted["y_err"], float), np.nan)
    if "fwhm" in out.colnames:
        width = shape.fwhm if shape.n_stars else np.asarray(fitted["fwhm_fit"], float)
        out["fwhm"] = np.where(ok, width, out["fwhm"])
    out.meta["prf"] = shape if shape.n_stars else None
    return out


def _noise_from_first_fit(
    image, bad, x0, y0, model, fit_shape, meta, background_rms, gain, sky_level
):
    """The noise map from a first fit weighted by the sky alone, and its positions.

    Returns the map and the start positions for the final fit (the first
    fit's where it converged near the start, the given ones elsewhere);
    records the map's terms in ``meta``.
    """
    rms = background_rms if background_rms is not None else sky_rms(image, bad, meta)
    rms_map = np.broadcast_to(np.asarray(rms, float), image.shape)
    if not np.all(np.isfinite(rms_map) & (rms_map > 0)):
        raise ValueError("the sky noise must be positive and finite")
    phot = _photometry(model, fit_shape)
    first = _fit_stars(image, bad, x0, y0, model, fit_shape, np.array(rms_map), phot=phot)
    stars = phot.make_model_image(image.shape)
    measured = gain is None or not math.isfinite(gain) or gain <= 0
    if measured:
        # The sky level before it was subtracted: detection's, else the frame's median.
        level = meta.get("sky", sky_level)
        gain = gain_from_sky(level, float(np.median(rms_map)))
    meta["sky_rms"] = float(np.median(rms_map))
    meta["gain"] = gain if gain is not None else math.nan
    meta["gain_from_sky"] = bool(measured and gain is not None)
    x1, y1 = np.asarray(first["x_fit"], float), np.asarray(first["y_fit"], float)
    near = np.isfinite(x1) & np.isfinite(y1) & (np.hypot(x1 - x0, y1 - y0) < 1.0)
    return noise_map(stars, rms_map, gain), np.where(near, x1, x0), np.where(near, y1, y0)


def _shape_stars(sources: Table, n: int) -> np.ndarray:
    """Rows of the ``n`` brightest stars that detection found clean, for the PRF shape.

    A star with a neighbour in its box (blended, crowded) or near saturation
    widens and tilts the fitted shape; the clean ones are used when there are
    at least three, the brightest of all otherwise.
    """
    order = np.arange(len(sources))
    if "flux" in sources.colnames:
        flux = np.asarray(sources["flux"], float)
        order = np.argsort(-np.where(np.isfinite(flux), flux, -np.inf), kind="stable")
    if "flags" in sources.colnames:
        clean = order[np.asarray(sources["flags"], int)[order] == 0]
        if len(clean) >= 3:
            order = clean
    return order[:n]


def sources_fwhm(sources: Table) -> float:
    """The stars' FWHM (px); NaN when unknown.

    Detection's frame FWHM (the table's meta; the median ``fwhm`` column
    without it), unless the stars' own, with cosmic rays, hot pixels and
    bleeds left out (:func:`~fluxion.core.astrometry.inputs.stars_fwhm`), is
    more than 5 % wider: detection's counts every clean source, and on
    frames full of cosmic rays it falls below the stars' (1.56 against
    1.69 px on a simulated one).
    """
    robust = stars_fwhm(sources) if "fwhm" in sources.colnames and len(sources) else math.nan
    value = sources.meta.get("fwhm")
    try:
        fwhm = float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        fwhm = math.nan
    if not math.isfinite(fwhm) and "fwhm" in sources.colnames and len(sources):
        col = np.asarray(sources["fwhm"], float)
        col = col[np.isfinite(col) & (col > 0)]
        fwhm = float(np.median(col)) if len(col) else math.nan
    # Impostors only ever pull the frame's value down: the stars' own wins
    # when it is clearly wider (detection's fit is the better one otherwise).
    if math.isfinite(robust) and not robust <= 1.05 * fwhm:
        return robust
    return fwhm


def centroid_method(choice: str, fwhm: float) -> str:
    """ "prf" or "detected": which centroids the solver uses for ``choice`` at ``fwhm`` px.

    Raises
    ------
    ValueError
        ``choice`` is not one of :data:`CENTROID_CHOICES`.
    """
    if choice not in CENTROID_CHOICES:
        raise ValueError(f"centroids must be one of {', '.join(CENTROID_CHOICES)}, not {choice!r}")
    if choice == "auto":
        return "prf" if math.isfinite(fwhm) and fwhm < PRF_FWHM_LIMIT else "detected"
    return choice


def centroids_for_solving(
    data: np.ndarray | None,
    sources: Table,
    choice: str = "auto",
    *,
    max_sources: int | None = None,
    mask: np.ndarray | None = None,
    gain: float | None = None,
) -> Table:
    """The sources with the centroids the plate solver should use.

    Parameters
    ----------
    data : ndarray or None
        The frame the sources were detected in; None keeps the detected
        centroids (nothing to fit on).
    sources : Table
        Detected sources (x, y, flux; ``meta["fwhm"]`` the frame's FWHM).
    choice : {"auto", "detected", "prf"}
        See :data:`CENTROID_CHOICES`.
    max_sources : int, optional
        Only the brightest unsaturated sources this many are refined: the
        solver fits no more than its ``max_sources``, and a fit per star is
        what costs time.
    mask : ndarray of bool, optional
        Bad pixels of ``data``.
    gain : float, optional
        e- per image unit of ``data``, for the stars' photon noise in the
        fit's noise map; estimated from the sky when unknown
        (:func:`prf_centroids`). The sky noise and level are detection's
        (``sources.meta["sky_noise"]``, ``["sky"]``).

    Returns
    -------
    Table
        A copy of ``sources``; ``meta["centroids"]`` says which centroids
        it holds ("prf" or "detected") and ``meta["centroids_note"]`` why,
        in words for the user.
    """
    fwhm = sources_fwhm(sources)
    method = centroid_method(choice, fwhm)
    out = sources.copy(copy_data=False)
    out.meta = dict(sources.meta)
    why = f"frame FWHM {fwhm:.2f} px" if math.isfinite(fwhm) else "frame FWHM unknown"
    if method == "detected" or data is None or not len(sources):
        if method == "prf" and data is None:
            why += "; no image to fit"
        out.meta["centroids"] = "detected"
        out.meta["centroids_note"] = f"detected centroids ({why})"
        return out
    rows = _brightest_usable(sources, max_sources)
    start = fwhm if math.isfinite(fwhm) and fwhm > 0 else 1.0
    try:
        refined = prf_centroids(data, sources[rows], fwhm=start, mask=mask, gain=gain)
    except Exception as exc:  # a failed fit must not cost the frame its solution
        log.warning("pixel-integrated centroids failed, detected ones kept: %s", exc)
        out.meta["centroids"] = "detected"
        out.meta["centroids_note"] = f"detected centroids (the PSF fit failed: {exc})"
        return out
    out = sources.copy()
    out.meta = dict(sources.meta)
    # The fitted width goes too: the solver weights each star by FWHM / SNR, and
    # the detection's second-moment widths of one- or two-pixel stars scatter
    # widely (0.6 to 9 px on the EY UMa thumbnail), which weights the fit badly.
    for name in ("x", "y", "fwhm"):
        if name not in out.colnames:
            continue
        col = np.asarray(out[name], float).copy()
        col[rows] = np.asarray(refined[name], float)
        out[name] = col
    # The fit's position errors weight the WCS fit (NaN: not fitted, the
    # solver falls back to FWHM / SNR for those).
    for name in ("x_err", "y_err"):
        col = np.full(len(out), np.nan)
        col[rows] = np.asarray(refined[name], float)
        out[name] = col
    n_fit = int(np.isfinite(np.asarray(refined["x_err"], float)).sum())
    shape = refined.meta.get("prf")
    kind = (
        f"PRF {shape.x_fwhm:.2f} x {shape.y_fwhm:.2f} px at {shape.theta:.0f} deg"
        if shape is not None
        else "per-star circular PRF"
    )
    g = refined.meta.get("gain", math.nan)
    if g is not None and math.isfinite(g):
        kind += f"; noise map with gain {g:.3g} e-/unit" + (
            " estimated from the sky" if refined.meta.get("gain_from_sky") else ""
        )
    out.meta["centroids"] = "prf"
    out.meta["centroids_note"] = (
        f"pixel-integrated Gaussian centroids for {n_fit} of {len(rows)} stars ({kind}; {why})"
    )
    return out


def _brightest_usable(sources: Table, n: int | None) -> np.ndarray:
    """Row indices of the ``n`` brightest sources that the solver would keep."""
    keep = np.isfinite(np.asarray(sources["x"], float)) & np.isfinite(
        np.asarray(sources["y"], float)
    )
    if "flags" in sources.colnames:
        from ..detection.extract import SourceFlags

        bad = int(SourceFlags.SATURATED | SourceFlags.TRUNCATED)
        keep &= (np.asarray(sources["flags"], int) & bad) == 0
    rows = np.nonzero(keep)[0]
    if "flux" in sources.colnames:
        flux = np.asarray(sources["flux"], float)[rows]
        rows = rows[np.argsort(-np.where(np.isfinite(flux), flux, -np.inf), kind="stable")]
    return np.sort(rows[:n]) if n is not None else rows
