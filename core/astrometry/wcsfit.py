"""TAN and TAN-SIP WCS fits to matched stars, with outlier rejection.

On the tangent plane at a fixed reference point the TAN-SIP model is linear in
its coefficients: the standard coordinates (xi, eta) of a star are a polynomial
of its pixel offsets (u, v) from CRPIX, whose linear part is the CD matrix and
whose higher part is CD times the SIP distortion. So the fit is plain linear
least squares at a fixed CRVAL; CRVAL is then moved to where the polynomial's
constant term points and the fit repeated (two or three rounds converge to
machine precision). Stars whose residual exceeds ``clip_sigma`` robust sigmas
are rejected and the fit redone. Given each star's position error the fit is
weighted by it, the scatter the errors leave unexplained is added to them in
quadrature, and the normal equations give the centre's uncertainty.

``astropy.wcs.utils.fit_wcs_from_points`` solves the same problem with a
non-linear optimiser and leaves out the inverse SIP (AP, BP) that other tools
need to go from sky to pixels quickly; the linear formulation is exact, faster
and gives both, hence this module.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS, Sip

__all__ = [
    "WcsFit",
    "WcsFitError",
    "fit_wcs",
    "with_inverse_sip",
    "gnomonic",
    "inverse_gnomonic",
    "mean_direction",
    "sky_residuals",
]

log = logging.getLogger(__name__)


class WcsFitError(Exception):
    """The matched stars cannot constrain a WCS (too few, degenerate)."""


def gnomonic(ra, dec, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Standard coordinates (xi, eta) in degrees of (ra, dec) about (ra0, dec0).

    xi grows toward east (increasing RA), eta toward north.
    """
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    a0, d0 = math.radians(ra0), math.radians(dec0)
    cosc = np.sin(d0) * np.sin(dec) + np.cos(d0) * np.cos(dec) * np.cos(ra - a0)
    xi = np.cos(dec) * np.sin(ra - a0) / cosc
    eta = (np.cos(d0) * np.sin(dec) - np.sin(d0) * np.cos(dec) * np.cos(ra - a0)) / cosc
    return np.degrees(xi), np.degrees(eta)


def inverse_gnomonic(xi, eta, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """(ra, dec) in degrees of standard coordinates (xi, eta) in degrees."""
    x, y = np.radians(np.asarray(xi, float)), np.radians(np.asarray(eta, float))
    a0, d0 = math.radians(ra0), math.radians(dec0)
    rho = np.hypot(x, y)
    c = np.arctan(rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        dec = np.arcsin(
            np.cos(c) * np.sin(d0) + np.where(rho > 0, y * np.sin(c) * np.cos(d0) / rho, 0.0)
        )
        ra = a0 + np.arctan2(
            x * np.sin(c), rho * np.cos(d0) * np.cos(c) - y * np.sin(d0) * np.sin(c)
        )
    return np.degrees(ra) % 360.0, np.degrees(dec)


def mean_direction(ra: np.ndarray, dec: np.ndarray) -> tuple[float, float]:
    """(ra, dec) in degrees of the mean of the stars' unit vectors."""
    ra, dec = np.radians(np.asarray(ra, float)), np.radians(np.asarray(dec, float))
    xyz = np.column_stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)]).mean(
        axis=0
    )
    return (
        math.degrees(math.atan2(xyz[1], xyz[0])) % 360.0,
        math.degrees(math.atan2(xyz[2], math.hypot(xyz[0], xyz[1]))),
    )


def _terms(order: int, min_total: int = 0) -> list[tuple[int, int]]:
    return [(p, t - p) for t in range(min_total, order + 1) for p in range(t, -1, -1)]


def _design(u: np.ndarray, v: np.ndarray, terms: list[tuple[int, int]]) -> np.ndarray:
    # Each power once, by repeated products (numpy's power of an array of
    # exponents is several times slower), and the terms picked from them.
    top = max(max(p, q) for p, q in terms)
    up = np.empty((len(u), top + 1))
    vp = np.empty((len(v), top + 1))
    up[:, 0] = vp[:, 0] = 1.0
    for k in range(1, top + 1):
        up[:, k] = up[:, k - 1] * u
        vp[:, k] = vp[:, k - 1] * v
    p, q = np.array(terms).T
    return up[:, p] * vp[:, q]


@dataclass(frozen=True)
class WcsFit:
    """A fitted WCS and how well it fits.

    Attributes
    ----------
    wcs : WCS
        TAN, or TAN-SIP when ``sip_order >= 2``; with AP/BP inverse terms.
    used : ndarray of bool
        Stars kept after outlier rejection.
    residuals : ndarray (N, 2)
        Measured minus fitted position of every star, in pixels.
    rms_px, rms_arcsec : float
        RMS of the kept stars' residuals (radial).
    pixel_scale : float
        arcsec per pixel at the reference point.
    sip_order : int
        Polynomial order used (1 = pure TAN); lower than asked when there were
        too few stars for the requested one.
    centre_sigma : float
        1-sigma uncertainty (arcsec, per axis) of the sky position of the
        reference pixel (the image centre), from the covariance of the
        weighted least squares, the stars' errors scaled so that chi^2 per
        degree of freedom is at least one. Both axes share the design and
        the weights, so they share this value.
    """

    wcs: WCS
    used: np.ndarray
    residuals: np.ndarray
    rms_px: float
    rms_arcsec: float
    pixel_scale: float
    sip_order: int
    centre_sigma: float = math.nan

    @property
    def n_used(self) -> int:
        return int(self.used.sum())


def _max_order_for(n: int, order: int) -> int:
    # At least twice as many stars as terms per axis, so that clipping has slack.
    while order > 1 and n < 2 * len(_terms(order)) + 2:
        order -= 1
    return order


def _solve(design: np.ndarray, xi, eta, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients of ``xi`` and ``eta`` on ``design`` (columns scaled to order one)."""
    a = design * weight[:, None]
    # Both axes share the design: one least-squares solve for the two.
    coef, *_ = np.linalg.lstsq(a, np.column_stack([xi * weight, eta * weight]), rcond=None)
    return coef[:, 0], coef[:, 1]


def _leverage(design: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Each star's leverage (diagonal of the weighted fit's hat matrix), below 0.99.

    ``design`` holds the fit's terms at each star, its columns scaled to
    order one. The fraction of a star's own displacement the fit follows:
    its residual from the fit without it is the fit's residual /
    (1 - leverage), with a spread 1 / sqrt(1 - leverage) times the stars' own.
    """
    a = design * weight[:, None]
    try:
        # The normal matrix is small (terms x terms); cheaper than a QR per round.
        h = np.einsum("ij,ij->i", a @ np.linalg.inv(a.T @ a), a)
    except np.linalg.LinAlgError:
        return np.zeros(len(a))
    return np.clip(h, 0.0, 0.99)


def _centre_sigma(u, v, weight, resid_px, order, norm, deg_per_px, from_sigma) -> float:
    """1-sigma error (arcsec per axis) of the fitted constant terms: the centre on the sky.

    The constant term of the polynomial is where CRPIX lands on the tangent
    plane, so its variance from the normal equations, (A^T W A)^-1, is the
    centre's, in units of the stars' variance. ``from_sigma`` says the weights
    are absolute errors (px): the variance is scaled up when the residuals
    exceed them, never down. Otherwise the residuals set the unit variance.
    """
    terms = _terms(order)
    a = _design(u / norm, v / norm, terms) * weight[:, None]
    dof = max(2 * (len(u) - len(terms)), 1)
    try:
        inv00 = float(np.linalg.inv(a.T @ a)[0, 0])
    except np.linalg.LinAlgError:
        return math.nan
    chi2 = float(np.sum((resid_px * weight[:, None]) ** 2)) / dof
    unit = max(chi2, 1.0) if from_sigma else chi2
    return math.sqrt(inv00 * unit) * deg_per_px * 3600.0


def _excess_scatter(r: np.ndarray, sigma: np.ndarray, n_params: int) -> float:
    """Extra per-axis scatter f with sum(r^2 / (sigma^2 + f^2)) = 2 (N - n_params / 2).

    ``r`` are radial residuals (two axes per star); 0 when the given sigmas
    already explain them.
    """
    dof = max(2 * len(r) - n_params, 1)
    r2, s2 = r**2, sigma**2
    if float(np.sum(r2 / s2)) <= dof:
        return 0.0
    lo, hi = 0.0, max(float(np.sqrt(np.mean(r2))), 1e-6)
    while float(np.sum(r2 / (s2 + hi**2))) > dof:
        hi *= 2.0
    # Bisection, 16 trial values a step (the bracket shrinks 17-fold), to the
    # bracket a 40-step bisection leaves: one array operation a step.
    frac = np.arange(1, 17) / 17.0
    tol = hi * 2.0**-40
    for _ in range(20):
        if hi - lo <= tol:
            break
        f = lo + (hi - lo) * frac
        above = np.sum(r2[:, None] / (s2[:, None] + f**2), axis=0) > dof
        k = int(np.count_nonzero(above))  # chi^2 falls with f: the first k are above
        lo, hi = (float(f[k - 1]) if k else lo), (float(f[k]) if k < len(f) else hi)
    return hi


def fit_wcs(
    xy: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
    *,
    image_shape: tuple[int, int],
    sip_order: int = 2,
    clip_sigma: float = 3.0,
    max_rounds: int = 6,
    crval: tuple[float, float] | None = None,
    min_sigma_px: float = 0.03,
    sigma: np.ndarray | None = None,
    inverse: bool = True,
) -> WcsFit:
    """Fit a TAN (-SIP) WCS mapping 0-based pixels ``xy`` to (ra, dec).

    Parameters
    ----------
    xy : ndarray (N, 2)
        0-based pixel positions (x along columns).
    ra, dec : ndarray (N,)
        Catalog positions in degrees.
    image_shape : (ny, nx)
        Image shape; CRPIX is put at the image centre.
    sip_order : int
        SIP polynomial order (0 or 1: pure TAN; 2-5 usual).
    clip_sigma : float
        Reject stars beyond this many robust sigmas; 0 keeps all. The
        residual is radial (two axes), so the limit is the radius a good star
        exceeds as rarely as a one-axis error exceeds ``clip_sigma`` sigmas
        (3.44 sigma for 3: 0.27 % of good stars lost, not the 1.1 % a radial
        3 sigma loses).
    max_rounds : int
        Most rejection rounds.
    crval : (ra, dec), optional
        Starting reference point; the stars' mean by default.
    min_sigma_px : float
        Floor of the robust sigma (pixels), so that a near-perfect fit does
        not reject stars for sub-millipixel residuals.
    sigma : ndarray (N,), optional
        Position uncertainty of each star (pixels, any common scale): the fit
        is weighted by 1/sigma and outliers judged in units of it. Centroids
        of faint stars scatter ten times more than those of bright ones, so
        weighting matters for a distortion fit.
    inverse : bool
        Fit the inverse distortion (AP, BP) of a SIP solution. A fit that is
        only a step towards the final one needs none: astropy's pixel and sky
        conversions use the forward polynomial; :func:`with_inverse_sip` adds
        it later.

    Raises
    ------
    WcsFitError
        Fewer than 4 stars, or a degenerate geometry.
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    n = len(xy)
    if n < 4:
        raise WcsFitError(f"{n} matched stars; a WCS needs at least 4")
    ny, nx = image_shape
    crpix = np.array([(nx + 1) / 2.0, (ny + 1) / 2.0])
    u = xy[:, 0] + 1.0 - crpix[0]
    v = xy[:, 1] + 1.0 - crpix[1]
    norm = max(nx, ny) / 2.0
    order = _max_order_for(n, max(int(sip_order), 1))
    ra0, dec0 = crval if crval is not None else mean_direction(ra, dec)
    if sigma is None:
        sig_in = None
        sig = np.ones(n)
    else:
        sig_in = np.asarray(sigma, float)
        good = np.isfinite(sig_in) & (sig_in > 0)
        sig_in = np.where(good, sig_in, np.max(sig_in[good], initial=1.0))
        sig = sig_in
    weight = 1.0 / sig
    used = np.ones(n, dtype=bool)
    floor = -1.0
    # P(r > k sigma) = exp(-k^2 / 2) for a radial Gaussian residual.
    tail = math.erfc(clip_sigma / math.sqrt(2.0)) if clip_sigma > 0 else 1.0
    radial_clip = math.sqrt(-2.0 * math.log(tail))
    # The design of every star, per order, in offsets scaled to order one:
    # the stars stay where they are while CRVAL moves and outliers go.
    designs: dict[int, tuple[list[tuple[int, int]], np.ndarray, np.ndarray]] = {}
    for _ in range(max_rounds):
        order = _max_order_for(int(used.sum()), order)
        if order not in designs:
            terms = _terms(order)
            designs[order] = (
                terms,
                _design(u / norm, v / norm, terms),
                np.array([norm ** -(p + q) for p, q in terms]),
            )
        terms, design, unit = designs[order]
        for _ in range(8):  # move CRVAL until the constant term vanishes
            xi, eta = gnomonic(ra, dec, ra0, dec0)
            fx, fy = _solve(design[used], xi[used], eta[used], weight[used])
            if math.hypot(fx[0], fy[0]) < 1e-11:
                # Under 1e-11 degrees from CRVAL: this fit is the fit at CRVAL.
                break
            ra0, dec0 = (float(c) for c in inverse_gnomonic(fx[0], fy[0], ra0, dec0))
        else:
            xi, eta = gnomonic(ra, dec, ra0, dec0)
            fx, fy = _solve(design[used], xi[used], eta[used], weight[used])
        cx, cy = fx * unit, fy * unit
        cd = np.array([[cx[1], cx[2]], [cy[1], cy[2]]])
        if abs(np.linalg.det(cd)) < 1e-20:
            raise WcsFitError("matched stars are degenerate (on a line?)")
        model = np.column_stack([design @ fx, design @ fy])
        resid_px = (np.column_stack([xi, eta]) - model) @ np.linalg.inv(cd).T
        if clip_sigma <= 0:
            break
        r = np.hypot(*resid_px.T)
        new_floor = floor
        if sig_in is not None:
            # The given sigmas are photon noise only; what else scatters the
            # centroids (undersampling, blends, catalog errors) is estimated as
            # the floor that brings chi^2 per degree of freedom to one.
            new_floor = _excess_scatter(r[used], sig_in[used], 2 * len(terms))
            sig = np.hypot(sig_in, new_floor)
            weight = 1.0 / sig
        # A star weighted far above its neighbours (a bright blend in a sparse
        # corner) bends the polynomial onto itself and hides its own error: the
        # fit's residual has a variance 1 - leverage h times its own. Judged by
        # the studentized residual r / sqrt(1 - h), it is clipped, and the
        # good stars it pushed away stay in.
        r_out = r.copy()
        r_out[used] /= np.sqrt(1.0 - _leverage(design[used], weight[used]))
        z = r_out / sig
        # For Gaussian errors of sigma per axis the median radial residual is
        # sigma * sqrt(2 ln 2) = 1.1774 sigma: a robust scale immune to outliers.
        scale_z = float(np.median(z[used])) / 1.1774
        new_used = r_out <= radial_clip * np.maximum(scale_z * sig, min_sigma_px)
        settled = abs(new_floor - floor) <= 0.1 * max(new_floor, 1e-3)
        floor = new_floor
        if new_used.sum() < 4 or (np.array_equal(new_used, used) and settled):
            break
        used = new_used
    wcs = _build_wcs(terms, cx, cy, cd, crpix, (ra0, dec0), order, (ny, nx), inverse)
    resid = sky_residuals(wcs, xy, ra, dec)
    rms_px = float(np.sqrt(np.mean(np.sum(resid[used] ** 2, axis=1))))
    scale = math.sqrt(abs(np.linalg.det(cd))) * 3600.0
    centre = _centre_sigma(
        u[used], v[used], weight[used], resid[used], order, norm, scale / 3600.0, sig_in is not None
    )
    return WcsFit(wcs, used, resid, rms_px, rms_px * scale, scale, order, centre)


def _build_wcs(terms, cx, cy, cd, crpix, crval, order, shape, inverse=True) -> WCS:
    ny, nx = shape
    w = WCS(naxis=2)
    w.wcs.crpix = crpix
    w.wcs.crval = crval
    w.wcs.cd = cd
    w.wcs.radesys = "ICRS"
    w.pixel_shape = (nx, ny)
    if order < 2:
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.set()
        return w
    cdi = np.linalg.inv(cd)
    a = np.zeros((order + 1, order + 1))
    b = np.zeros((order + 1, order + 1))
    for k, (p, q) in enumerate(terms):
        if p + q < 2:
            continue
        f, g = cdi @ np.array([cx[k], cy[k]])
        a[p, q], b[p, q] = f, g
    ap, bp = _inverse_sip(a, b, order, shape, crpix) if inverse else (None, None)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.sip = Sip(a, b, ap, bp, crpix)
    w.wcs.set()
    return w


def with_inverse_sip(fit: WcsFit) -> WcsFit:
    """``fit`` with the inverse distortion (AP, BP) of its SIP solution, as
    :func:`fit_wcs` makes it; a fit that has it, or no SIP, as it is.

    The WCS is completed in place (and returned within ``fit``).
    """
    w = fit.wcs
    sip = w.sip
    if sip is None or sip.ap is not None:
        return fit
    ny, nx = w.pixel_shape[1], w.pixel_shape[0]
    a, b = sip.a, sip.b
    crpix = np.asarray(sip.crpix, float)
    ap, bp = _inverse_sip(a, b, a.shape[0] - 1, (ny, nx), crpix)
    w.sip = Sip(a, b, ap, bp, crpix)
    w.wcs.set()
    return fit


def _poly(c: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    out = np.zeros_like(u)
    for p in range(c.shape[0]):
        for q in range(c.shape[1] - p):
            if c[p, q]:
                out += c[p, q] * u**p * v**q
    return out


def _inverse_sip(a, b, order, shape, crpix) -> tuple[np.ndarray, np.ndarray]:
    """AP, BP (one order higher, the usual choice) fitted on a grid over the image."""
    ny, nx = shape
    gu, gv = np.meshgrid(np.linspace(0, nx, 24), np.linspace(0, ny, 24))
    u = gu.ravel() + 1.0 - crpix[0]
    v = gv.ravel() + 1.0 - crpix[1]
    uu = u + _poly(a, u, v)
    vv = v + _poly(b, u, v)
    inv_order = order + 1
    terms = _terms(inv_order, min_total=1)
    norm = max(nx, ny) / 2.0
    design = _design(uu / norm, vv / norm, terms)
    cu, *_ = np.linalg.lstsq(design, u - uu, rcond=None)
    cv, *_ = np.linalg.lstsq(design, v - vv, rcond=None)
    ap = np.zeros((inv_order + 1, inv_order + 1))
    bp = np.zeros((inv_order + 1, inv_order + 1))
    for k, (p, q) in enumerate(terms):
        s = norm ** -(p + q)
        ap[p, q], bp[p, q] = cu[k] * s, cv[k] * s
    return ap, bp


def sky_residuals(wcs: WCS, xy: np.ndarray, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Measured minus predicted positions (pixels) of stars at (ra, dec).

    Computed on the tangent plane at CRVAL, in pixel units of the local CD
    matrix, which is exact enough for residuals of a few pixels.
    """
    ra_f, dec_f = wcs.all_pix2world(xy[:, 0], xy[:, 1], 0)
    ra0, dec0 = wcs.wcs.crval
    xi_m, eta_m = gnomonic(ra_f, dec_f, ra0, dec0)
    xi_c, eta_c = gnomonic(ra, dec, ra0, dec0)
    cd = wcs.wcs.cd if wcs.wcs.has_cd() else wcs.pixel_scale_matrix
    d = np.column_stack([xi_m - xi_c, eta_m - eta_c]) @ np.linalg.inv(cd).T
    return d
