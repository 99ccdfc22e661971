"""Click-to-identify target tracks: centroided clicks and a spline in time.

The user clicks the target in a few frames (the Photometry Pipeline's
``pp_manident``). Each click is refined to the local centroid
(:func:`refine_click`), or kept as clicked for faint targets. A :class:`Track`
holds at most one click per frame; :func:`fit_track` turns it into a
:class:`TrackFit` that predicts the position and its uncertainty in every frame:

* one click: a fixed target;
* two clicks: a straight line in time;
* more clicks: a least-squares B-spline in time whose degree (up to 3) and
  number of interior knots grow with the number of clicks, so that the fit
  always keeps spare degrees of freedom and smooths the click errors.

The fit is made in sky coordinates (tangent-plane offsets in arcsec around the
first click) when every frame has a WCS, so that a track survives pointing
drifts between frames; otherwise it is made in pixels.

Why a fixed-knot least-squares spline rather than ``UnivariateSpline``: with
fixed knots the fit is linear in the clicks, so the prediction covariance is
exact (``b(t) (B^T W B)^-1 b(t)^T``) and gives the uncertainty circle drawn
around each predicted position.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy import units
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales
from scipy import stats
from scipy.interpolate import BSpline

from ..registration import Registration
from .clicks import (
    CENTROID_SIGMA_FLOOR,
    UNREFINED_SIGMA,
    CentroidResult,
    TrackError,
    refine_click,
)

__all__ = [
    "CENTROID_SIGMA_FLOOR",
    "UNREFINED_SIGMA",
    "Click",
    "CentroidResult",
    "Track",
    "TrackFit",
    "TrackError",
    "refine_click",
    "fit_track",
    "spline_layout",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Click:
    """The target's position marked in one frame.

    Attributes
    ----------
    frame : int
        Index of the frame in the sequence.
    jd : float
        Mid-exposure Julian date (UTC) of that frame.
    x, y : float
        Position in the frame (px, 0-based).
    sigma : float
        1-sigma position uncertainty per axis (px).
    refined : bool
        True when the position is a centroid, False when kept as clicked.
    """

    frame: int
    jd: float
    x: float
    y: float
    sigma: float = 0.1
    refined: bool = True


@dataclass(frozen=True)
class Track:
    """The clicks that define one target's track, at most one per frame.

    Immutable: :meth:`with_click` and :meth:`without_click` return new tracks,
    so an undo stack is a list of tracks.
    """

    name: str = "target"
    clicks: tuple[Click, ...] = ()

    def with_click(self, click: Click) -> Track:
        """A track with ``click`` added; a click in the same frame is replaced."""
        kept = tuple(c for c in self.clicks if c.frame != click.frame)
        ordered = tuple(sorted((*kept, click), key=lambda c: (c.jd, c.frame)))
        return dataclasses.replace(self, clicks=ordered)

    def without_click(self, frame: int) -> Track:
        """A track with the click in ``frame`` removed (unchanged if there is none)."""
        return dataclasses.replace(self, clicks=tuple(c for c in self.clicks if c.frame != frame))

    def click_in(self, frame: int) -> Click | None:
        """The click in ``frame``, if any."""
        return next((c for c in self.clicks if c.frame == frame), None)

    @property
    def frames(self) -> tuple[int, ...]:
        """Frames that hold a click."""
        return tuple(c.frame for c in self.clicks)


def spline_layout(n_clicks: int) -> tuple[int, int]:
    """Degree and number of interior knots of the track for ``n_clicks`` clicks.

    One click gives a constant (a fixed target), two a line through both.
    From three on the track never has as many terms as clicks, so that
    residuals exist to check it: three clicks give a line, four a parabola,
    five and more a cubic with about one interior knot for every five
    further clicks, so that the fit smooths over click errors instead of
    threading through every click. The knots are capped because a real track
    over one session is smooth: about ten pieces follow any plausible
    curvature, more only follow the noise.
    """
    if n_clicks < 1:
        raise TrackError("a track needs at least one click")
    if n_clicks <= 2:
        return n_clicks - 1, 0
    degree = min(n_clicks - 2, 3)
    interior = min(10, max(0, (n_clicks - degree - 2) // 5))
    return degree, interior


#: A track's covariance is scaled by its reduced chi-square only when the
#: clicks scatter more than their errors allow at this significance: scaled
#: always, a fit with one or two spare clicks would make its errors larger
#: on average than the clicks' own (a reduced chi-square of two degrees of
#: freedom exceeds 1 in 37 % of honest fits).
TRACK_CHI2_P = 0.01


@dataclass(frozen=True)
class TrackFit:
    """A fitted track: predicts position and uncertainty at any time.

    Attributes
    ----------
    frame_type : {"sky", "pixel"}
        Whether the spline was fitted in sky offsets (arcsec) or in pixels.
    degree, n_interior_knots : int
        The spline's shape (see :func:`spline_layout`).
    rms : float
        RMS of the click residuals (arcsec for "sky", px for "pixel"); NaN
        when the track has as many terms as clicks (no residual to take).
    dof : int
        Spare clicks times two (both coordinates): the residuals' degrees of freedom.
    chi2 : float
        The residuals' chi-square for the clicks' errors (NaN without ``dof``).
    scale : float
        Factor applied to the covariance: the reduced chi-square when the clicks
        scatter more than their errors allow (see :data:`TRACK_CHI2_P`), else 1.
    """

    frame_type: str
    degree: int
    n_interior_knots: int
    rms: float
    knots: np.ndarray
    coeffs: np.ndarray  # (n_basis, 2): u and v coefficients
    covariance: np.ndarray  # (n_basis, n_basis), per coordinate, in (unit)^2
    jd0: float
    reference: SkyCoord | None = None
    dof: int = 0
    chi2: float = float("nan")
    scale: float = 1.0

    def describe(self, n_clicks: int) -> str:
        """One line for the user: the track's shape and how well the clicks fit it."""
        unit = '"' if self.frame_type == "sky" else " px"
        shape = {0: "fixed", 1: "a line"}.get(self.degree, f"degree {self.degree}")
        text = f"{n_clicks} click(s): {shape} in {self.frame_type} coordinates, "
        if self.dof == 0:
            if n_clicks < 2:
                return text + "rms undefined (one click)"
            return text + "rms undefined (as many terms as clicks): click another frame to check it"
        text += f"rms {self.rms:.3f}{unit}"
        if self.scale > 1.0:
            text += (
                f"; the clicks scatter {np.sqrt(self.scale):.1f}x more than their errors "
                "(a blend, a mis-click, or a curved path): uncertainties scaled up"
            )
        return text

    def _basis(self, jd: float | np.ndarray) -> np.ndarray:
        t = np.atleast_1d(np.asarray(jd, dtype=float)) - self.jd0
        if self.degree == 0:
            return np.ones((t.size, 1))
        return BSpline.design_matrix(t, self.knots, self.degree, extrapolate=True).toarray()

    def uv(self, jd: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fitted coordinates and their 1-sigma per axis at ``jd`` (fit units)."""
        b = self._basis(jd)
        u, v = (b @ self.coeffs).T
        sigma = np.sqrt(np.einsum("ij,jk,ik->i", b, self.covariance, b))
        return u, v, sigma

    def sky(self, jd: float | np.ndarray) -> SkyCoord:
        """Predicted sky position at ``jd`` (only for a sky track)."""
        if self.reference is None:
            raise TrackError("this track was fitted in pixels: the frames have no WCS")
        u, v, _ = self.uv(jd)
        return self.reference.spherical_offsets_by(u * units.arcsec, v * units.arcsec)

    def predict(
        self,
        jd: Sequence[float] | np.ndarray,
        wcs: Sequence[WCS | None] | None = None,
        *,
        files: Sequence[str] | None = None,
        clicked: Sequence[int] = (),
        registration: Registration | None = None,
    ) -> Table:
        """Predicted position of the target in every frame.

        Parameters
        ----------
        jd : array
            Mid-exposure JD (UTC) of every frame.
        wcs : sequence of WCS, optional
            WCS of every frame; required for a sky track to give pixels.
        files : sequence of str, optional
            File name of every frame, copied into the table.
        clicked : sequence of int
            Frames that hold a click (flagged in the ``clicked`` column).
        registration : Registration, optional
            The frames' registration the pixel track was fitted with; the
            position is NaN in a frame that could not be registered.

        Returns
        -------
        Table
            Columns ``frame, file, jd, ra, dec, x, y, sigma_px, clicked``; ``ra``
            and ``dec`` (deg) are NaN for a pixel track.
        """
        jd = np.asarray(jd, dtype=float)
        n = jd.size
        u, v, sig = self.uv(jd)
        ra = np.full(n, np.nan)
        dec = np.full(n, np.nan)
        if self.frame_type == "sky":
            known = [w for w in wcs if w is not None] if wcs is not None else []
            if wcs is None or len(wcs) != n or len(known) != n:
                raise TrackError("a sky track needs the WCS of every frame to give pixels")
            if self.reference is None:
                raise TrackError("a sky track has no reference position")
            coords = self.reference.spherical_offsets_by(u * units.arcsec, v * units.arcsec)
            ra, dec = coords.ra.deg, coords.dec.deg
            x = np.empty(n)
            y = np.empty(n)
            sigma_px = np.empty(n)
            for i, w in enumerate(known):
                x[i], y[i] = w.world_to_pixel(coords[i])
                sigma_px[i] = sig[i] / _pixel_scale_arcsec(w)
        else:
            xy = _from_reference(registration, range(n), np.column_stack([u, v]))
            x, y, sigma_px = xy[:, 0], xy[:, 1], sig
            if wcs is not None and len(wcs) == n:
                for i, w in enumerate(wcs):
                    if w is not None and np.isfinite(x[i]):
                        c = w.pixel_to_world(x[i], y[i])
                        ra[i], dec[i] = c.ra.deg, c.dec.deg
        table = Table()
        table["frame"] = np.arange(n)
        table["file"] = list(files) if files is not None else [""] * n
        table["jd"] = jd
        table["ra"] = ra
        table["dec"] = dec
        table["x"] = np.asarray(x, dtype=float)
        table["y"] = np.asarray(y, dtype=float)
        table["sigma_px"] = sigma_px
        table["clicked"] = np.isin(np.arange(n), list(clicked))
        return table


def _pixel_scale_arcsec(wcs: WCS) -> float:
    return float(np.mean(proj_plane_pixel_scales(wcs.celestial)) * 3600.0)


def fit_track(
    track: Track,
    wcs: Sequence[WCS | None] | None = None,
    *,
    registration: Registration | None = None,
    fixed: bool = False,
) -> TrackFit:
    """Fit the spline of a track through its clicks.

    Parameters
    ----------
    track : Track
        At least one click.
    wcs : sequence of WCS or None, optional
        WCS of every frame of the sequence (indexed by frame). When all frames
        have one the fit is made in sky coordinates, otherwise in pixels.
    registration : Registration, optional
        For a pixel fit: each frame's transform to the reference frame
        (:func:`fluxion.core.registration.register_frames`). The spline is
        then fitted in the reference frame's pixels, i.e. in the stars'
        frame, so that a mount's uneven drift or the field's rotation does
        not bend the target's track; pass the same registration to
        :meth:`TrackFit.predict`.
    fixed : bool
        A fixed target: the clicks' weighted mean position (degree 0),
        whatever their number.

    Returns
    -------
    TrackFit
    """
    clicks = track.clicks
    if not clicks:
        raise TrackError("the track has no clicks yet: click the target in a frame")
    degree, interior = (0, 0) if fixed else spline_layout(len(clicks))
    jd = np.array([c.jd for c in clicks], dtype=float)
    timeless = [c.frame for c, t in zip(clicks, jd, strict=True) if not np.isfinite(t)]
    if timeless:
        raise TrackError(f"frame(s) {timeless} have no observation time: a track needs one")
    if not all(np.isfinite(c.x) and np.isfinite(c.y) for c in clicks):
        raise TrackError("a click has no position: click the target again")
    if len(set(np.round(jd, 9))) != len(jd) and degree > 0:
        raise TrackError("two clicks at the same time: remove one of them")
    # Every frame's WCS, or none (a pixel track).
    sky_wcs = [w for w in wcs if w is not None] if wcs is not None else []
    use_sky = wcs is not None and len(wcs) > 0 and len(sky_wcs) == len(wcs)
    reference = None
    if use_sky:
        if max(c.frame for c in clicks) >= len(sky_wcs):
            raise TrackError("a click refers to a frame outside the sequence")
        coords = [sky_wcs[c.frame].pixel_to_world(c.x, c.y) for c in clicks]
        reference = SkyCoord(coords[0].ra, coords[0].dec, frame="icrs")
        sky = SkyCoord([c.ra for c in coords], [c.dec for c in coords], frame="icrs")
        du, dv = reference.spherical_offsets_to(sky)
        u, v = du.to_value("arcsec"), dv.to_value("arcsec")
        sigma = np.array([c.sigma * _pixel_scale_arcsec(sky_wcs[c.frame]) for c in clicks])
    else:
        xy = np.array([(c.x, c.y) for c in clicks], dtype=float)
        ref = _to_reference(registration, [c.frame for c in clicks], xy)
        u, v = ref[:, 0], ref[:, 1]
        sigma = np.array([c.sigma for c in clicks])
    jd0 = float(jd[0])
    t = jd - jd0
    knots = _knots(t, degree, interior)
    if degree == 0:
        basis = np.ones((t.size, 1))
    else:
        basis = BSpline.design_matrix(t, knots, degree).toarray()
    weights = 1.0 / np.maximum(sigma, 1e-6) ** 2
    normal = basis.T @ (basis * weights[:, None])
    try:
        covariance = np.linalg.inv(normal)
    except np.linalg.LinAlgError as exc:
        raise TrackError("the clicks cannot constrain the track: spread them in time") from exc
    coeffs = covariance @ (basis.T @ (np.column_stack([u, v]) * weights[:, None]))
    resid = np.column_stack([u, v]) - basis @ coeffs
    dof = 2 * (len(clicks) - basis.shape[1])
    chi2 = rms = float("nan")
    scale = 1.0
    if dof > 0:
        chi2 = float(np.sum(resid**2 * weights[:, None]))
        rms = float(np.sqrt(np.sum(resid**2) / (2 * len(clicks))))
        # Clicks that scatter beyond their errors (a blend, a mis-click, a path
        # the spline cannot follow) widen the track's errors by the reduced
        # chi-square; within their errors the clicks' own errors stand.
        if chi2 > stats.chi2.isf(TRACK_CHI2_P, dof):
            scale = chi2 / dof
    return TrackFit("sky" if use_sky else "pixel", degree, interior, rms, knots, coeffs,
                    covariance * scale, jd0, reference, dof, chi2, scale)  # fmt: skip


def _check_covers(registration: Registration, frames: Sequence[int]) -> None:
    if max(frames, default=0) >= len(registration):
        raise TrackError("the registration does not cover every frame of the track")


def _to_reference(
    registration: Registration | None, frames: Sequence[int], xy: np.ndarray
) -> np.ndarray:
    """Clicked positions in their frames -> the reference frame's pixels."""
    if registration is None:
        return xy
    _check_covers(registration, frames)
    unregistered = [f for f in frames if not registration.frames[f].ok]
    if unregistered:
        raise TrackError(
            f"frame(s) {unregistered} could not be registered to the others "
            f"({registration.frames[unregistered[0]].status}): click the target in other frames"
        )
    return np.array([registration.to_reference(f, p) for f, p in zip(frames, xy, strict=True)])


def _from_reference(
    registration: Registration | None, frames: Sequence[int], xy: np.ndarray
) -> np.ndarray:
    """Positions in the reference frame's pixels -> each frame's (NaN if unregistered)."""
    if registration is None:
        return xy
    _check_covers(registration, frames)
    return np.array([registration.to_frame(f, p) for f, p in zip(frames, xy, strict=True)])


def _knots(t: np.ndarray, degree: int, interior: int) -> np.ndarray:
    """Clamped knot vector with interior knots at quantiles of the click times.

    Quantiles keep every knot interval populated by clicks (the Schoenberg-
    Whitney condition), so the least-squares problem stays well posed however
    unevenly the user clicked.
    """
    lo, hi = float(t.min()), float(t.max())
    inner = np.quantile(t, np.linspace(0, 1, interior + 2)[1:-1]) if interior else np.array([])
    return np.concatenate([[lo] * (degree + 1), inner, [hi] * (degree + 1)])
