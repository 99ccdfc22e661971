"""An analytic PSF whose shape is a polynomial in x, y, fitted to the frame's stars at once.

Optics change the PSF smoothly across the frame: field curvature widens it
and astigmatism stretches it, both growing as the square of the distance from
the axis, and a tilted sensor adds a linear term. The pixel-integrated
elliptical Moffat (or Gaussian) here has its FWHM and ellipticity components
``(e1, e2)`` given by polynomials of degree 0-3 in the normalised position
and one ``beta`` for the frame; all PSF stars are fitted together, so a few
dozen stars fix a PSF that no single star could.

The fit is a variable projection, as :func:`fluxion.core.photometry.epsf.fit_analytic_psf`:
each star's flux is solved linearly inside the shape fit, and its sub-pixel
position between shape fits; the Jacobian of the shape parameters is exact
(the derivatives of each star's stamp with respect to its own four shape
numbers, by finite differences, chained through the polynomial terms), so a
fit with 31 parameters costs five stamp evaluations per step instead of 32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.stats import mad_std
from scipy.optimize import least_squares

from ..epsf import OVERSAMPLING, WING_SIZE, _cutouts, _linear_fit
from .field import PSFField, compress
from .moffat import MAX_ELLIPTICITY, integrated_values, star_stamps

__all__ = [
    "FAMILIES",
    "FieldShape",
    "StarStamps",
    "family_parameters",
    "fit_field_shape",
    "n_terms",
    "star_cutouts",
]

FAMILIES = ("polynomial", "radial", "radial-tilt")
"""How the shape's polynomials are tied (see :func:`_reduction`)."""


def n_terms(degree: int) -> int:
    """Number of monomials x^i y^j with i + j <= degree."""
    return (degree + 1) * (degree + 2) // 2


def _monomials(u: np.ndarray, v: np.ndarray, degree: int) -> np.ndarray:
    """(N, n_terms) monomials of normalised coordinates, constant first."""
    cols = [np.ones_like(u)]
    for total in range(1, degree + 1):
        for j in range(total + 1):
            cols.append(u ** (total - j) * v**j)
    return np.stack(cols, axis=1)


@dataclass(frozen=True)
class FieldShape:
    """The shape of an analytic PSF across the frame: FWHM, e1, e2 polynomials and beta."""

    kind: str
    """'moffat' or 'gaussian'."""
    degree: int
    centre: tuple[float, float]
    """(x, y) of the normalised coordinates' origin (the frame centre)."""
    scale: tuple[float, float]
    """Half-widths (px) that map the frame onto -1..1."""
    fwhm: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    beta: float
    family: str = "polynomial"
    """'polynomial' (every term free) or a family of tied degree-2 terms (:data:`FAMILIES`)."""

    def terms(self, x, y) -> np.ndarray:
        u = (np.asarray(x, dtype=np.float64) - self.centre[0]) / self.scale[0]
        v = (np.asarray(y, dtype=np.float64) - self.centre[1]) / self.scale[1]
        return _monomials(np.atleast_1d(u), np.atleast_1d(v), self.degree)

    def at(self, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """FWHM (px), e1, e2 at (x, y)."""
        m = self.terms(x, y)
        e1, e2 = m @ self.e1, m @ self.e2
        e = np.hypot(e1, e2)
        # The profile caps the ellipticity; report what it draws.
        cap = np.where(e > MAX_ELLIPTICITY, MAX_ELLIPTICITY / np.maximum(e, 1e-12), 1.0)
        return np.maximum(m @ self.fwhm, 0.3), e1 * cap, e2 * cap

    def image(self, x: float, y: float, *, size: int = WING_SIZE, oversampling=OVERSAMPLING):
        """The oversampled, pixel-integrated PSF at (x, y) (an ePSF image, total flux 1)."""
        fwhm, e1, e2 = (float(v[0]) for v in self.at([x], [y]))
        k = oversampling
        n = size * k + 1
        c = (n - 1) / 2
        d = (np.arange(n) - c) / k
        beta = self.beta if self.kind == "moffat" else 3.0
        # Gauss-Legendre over each pixel in the core; the wings, smooth on the
        # pixel scale, sampled (the simulator's rule; error < 1e-4 of the flux).
        vals = integrated_values(d[None, :], d[:, None], fwhm, e1, e2, beta, self.kind, order=1)
        r_core = 4.0 * fwhm / np.sqrt(1.0 - min(np.hypot(e1, e2), MAX_ELLIPTICITY))
        core = np.flatnonzero(np.abs(d) <= r_core)
        if core.size:
            sl = slice(core[0], core[-1] + 1)
            vals[sl, sl] = integrated_values(
                d[None, sl], d[sl, None], fwhm, e1, e2, beta, self.kind, order=4
            )
        return vals

    def to_field(
        self,
        shape: tuple[int, int],
        *,
        nodes: int = 9,
        size: int = WING_SIZE,
        oversampling: int = OVERSAMPLING,
        n_stars: int = 0,
    ) -> PSFField:
        """This shape as a :class:`PSFField`, sampled on ``nodes`` x ``nodes`` positions.

        A constant shape (degree 0) gives a single image.
        """
        ny, nx = shape
        if self.degree == 0:
            xs, ys = np.array([(nx - 1) / 2.0]), np.array([(ny - 1) / 2.0])
        else:
            xs = np.linspace(0.0, nx - 1.0, nodes)
            ys = np.linspace(0.0, ny - 1.0, nodes)
        gx, gy = np.meshgrid(xs, ys)
        cube = np.stack(
            [
                self.image(a, b, size=size, oversampling=oversampling)
                for a, b in zip(gx.ravel(), gy.ravel(), strict=True)
            ]
        )
        basis, weights = compress(cube)
        centre_fwhm = float(self.at([(nx - 1) / 2.0], [(ny - 1) / 2.0])[0][0])
        return PSFField(
            basis,
            weights.T.reshape(len(basis), len(ys), len(xs)),
            xs,
            ys,
            oversampling,
            3,
            f"{self.kind}-field",
            centre_fwhm,
            n_stars,
            self.beta if self.kind == "moffat" else float("nan"),
            shape,
        )


def _reduction(family: str, degree: int, scale: tuple[float, float]) -> np.ndarray | None:
    """Matrix T (n_full, n_free) with the polynomial parameters ``theta = T phi``; None if all free.

    Field curvature and astigmatism about an optical axis at (x0, y0) grow
    as the squared distance from it: the FWHM as ``f0 + f2 r^2`` and the
    ellipticity components as ``k (dx^2 - dy^2)`` and ``k 2 dx dy`` with one
    amplitude ``k``. ``radial`` is that with the axis at the frame centre
    (FWHM 2 terms, ellipticity 1, beta: 4 parameters where the full degree 2
    has 19); ``radial-tilt`` frees the axis and a tilted sensor's gradient,
    i.e. adds constant and linear terms to the FWHM and to each ellipticity
    component (12). The fewer parameters scatter less: the FWHM of a
    degree-2 field fitted to 240 stars is uncertain by ~1% in the corners,
    which moves a 3e4 e- star there by 0.1 sigma.
    """
    if family == "polynomial":
        return None
    if degree != 2 or family not in FAMILIES:
        raise ValueError(f"no {family!r} shape of degree {degree}")
    nt = n_terms(2)
    # r^2 / r_corner^2 in the monomials 1, u, v, u^2, uv, v^2 (u = dx / cx).
    cx, cy = scale
    a, b = cx**2 / (cx**2 + cy**2), cy**2 / (cx**2 + cy**2)
    r2 = np.array([0, 0, 0, a, 0, b])
    astig1 = np.array([0, 0, 0, a, 0, -b])
    astig2 = np.array([0, 0, 0, 0, 2.0 * np.sqrt(a * b), 0])
    unit = np.eye(nt)
    cols = []  # (F, E1, E2) per free parameter
    zero = np.zeros(nt)
    lin = [0] if family == "radial" else [0, 1, 2]
    for i in lin:
        cols.append((unit[i], zero, zero))
    cols.append((r2, zero, zero))
    if family == "radial-tilt":
        for i in lin:
            cols.append((zero, unit[i], zero))
        for i in lin:
            cols.append((zero, zero, unit[i]))
    cols.append((zero, astig1, astig2))
    t = np.zeros((3 * nt + 1, len(cols) + 1))
    for j, (f, e1, e2) in enumerate(cols):
        t[: 3 * nt, j] = np.concatenate([f, e1, e2])
    t[3 * nt, -1] = 1.0  # beta
    return t


def family_parameters(family: str, degree: int, kind: str = "moffat") -> int:
    """Free parameters of a shape family (with beta for a Moffat)."""
    t = _reduction(family, degree, (1.0, 1.0))
    n = 3 * n_terms(degree) + 1 if t is None else t.shape[1]
    return n if kind == "moffat" else n - 1


@dataclass
class StarStamps:
    """Cutouts of the PSF stars and what the fits need of them."""

    data: np.ndarray
    """(N, S, S) sky- and neighbour-subtracted pixels."""
    valid: np.ndarray
    """(N, S, S) 1 for usable pixels."""
    offset: np.ndarray
    """(N, 2) star position minus its stamp's centre pixel (x, y)."""
    centre: np.ndarray
    """(N, 2) the stamps' centre pixels (x, y)."""
    sky_var: float
    """Sky + read-noise variance per pixel (e-^2)."""

    @property
    def positions(self) -> np.ndarray:
        return self.centre + self.offset

    @property
    def size(self) -> int:
        return self.data.shape[1]

    def subset(self, idx: np.ndarray) -> StarStamps:
        return StarStamps(
            self.data[idx], self.valid[idx], self.offset[idx], self.centre[idx], self.sky_var
        )


def star_cutouts(
    image: np.ndarray, positions: np.ndarray, size: int, mask: np.ndarray | None = None
) -> StarStamps:
    """Cutouts of ``size`` px around each star (stars too near the edge are left out)."""
    data, w, off, ok = _cutouts(np.asarray(image, np.float64), mask, positions, size)
    centre = np.round(np.asarray(positions, dtype=np.float64)[ok])
    ring = np.concatenate([data[:, 0].ravel(), data[:, -1].ravel()]) if len(data) else np.ones(2)
    sky_var = max(float(mad_std(ring)) ** 2, 1e-6)
    return StarStamps(data, w, off, centre, sky_var)


class _Model:
    """Per-star shapes from the polynomial parameters, stamps and their shape derivatives."""

    def __init__(self, stars: StarStamps, kind: str, degree: int, centre, scale) -> None:
        self.stars = stars
        self.kind = kind
        self.degree = degree
        self.nt = n_terms(degree)
        pos = stars.positions
        self.mono = _monomials(
            (pos[:, 0] - centre[0]) / scale[0], (pos[:, 1] - centre[1]) / scale[1], degree
        )

    def n_params(self) -> int:
        return 3 * self.nt + (1 if self.kind == "moffat" else 0)

    def split(self, theta: np.ndarray):
        nt = self.nt
        beta = theta[3 * nt] if self.kind == "moffat" else 3.0
        return theta[:nt], theta[nt : 2 * nt], theta[2 * nt : 3 * nt], beta

    def star_params(self, theta: np.ndarray):
        f, a, b, beta = self.split(theta)
        return np.maximum(self.mono @ f, 0.3), self.mono @ a, self.mono @ b, beta

    def stamps(self, fwhm, e1, e2, beta, dx=None, dy=None) -> np.ndarray:
        s = self.stars
        dx = s.offset[:, 0] if dx is None else dx
        dy = s.offset[:, 1] if dy is None else dy
        # Order 3 in the fit: 6e-5 of the peak at FWHM 2 px, half the cost of
        # the order 4 the final images are drawn with.
        return star_stamps(s.size, dx, dy, fwhm, e1, e2, beta, kind=self.kind, order=3)


def _per_star_linear(
    stars: StarStamps,
    p: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    pedestal: bool = False,
    offset: float = 0.0,
):
    """Flux and shift of each star from its stamp (less ``offset``), PSF and its derivatives."""
    cols = [p, px, py] + ([np.ones_like(p)] if pedestal else [])
    coef = _linear_fit(stars.data - offset, stars.valid, cols)
    flux = coef[:, 0]
    good = flux > 0
    shift = np.where(good[:, None], coef[:, 1:3] / np.where(good, flux, 1)[:, None], 0.0)
    return flux, shift


def fit_field_shape(
    stars: StarStamps,
    frame_shape: tuple[int, int],
    fwhm: float,
    *,
    degree: int = 2,
    kind: str = "moffat",
    iterations: int = 3,
    start: FieldShape | None = None,
    family: str = "polynomial",
    pedestal: str | None = None,
) -> tuple[FieldShape, StarStamps]:
    """Fit the polynomial shape to the stars; returns it and the stars re-centred.

    Parameters
    ----------
    stars : StarStamps
        Bright isolated stars (:func:`star_cutouts` of the sky- and
        neighbour-subtracted frame).
    frame_shape : (int, int)
        (ny, nx): the polynomial's coordinates run from -1 to 1 across it.
    fwhm : float
        Starting FWHM (px).
    degree : int
        Polynomial degree of FWHM, e1 and e2 in x, y.
    start : FieldShape, optional
        Starting shape (e.g. the fit of a lower degree or of all stars).
    family : str
        'polynomial' (every term free) or the degree-2 terms tied as optics
        tie them (:func:`_reduction`).
    pedestal : {None, "frame", "star"}
        A constant fitted under the stars besides the shape: one for all
        (``"frame"``: the error of the sky subtracted, which a PSF's wings
        would otherwise take up) or one per star (``"star"``: also the light
        of stars too faint to be found, which the sky holds only on average,
        at the cost of a less certain wing).
    """
    if pedestal not in (None, "frame", "star"):
        raise ValueError(f"no pedestal {pedestal!r}")
    ny, nx = frame_shape
    centre = ((nx - 1) / 2.0, (ny - 1) / 2.0)
    scale = (max((nx - 1) / 2.0, 1.0), max((ny - 1) / 2.0, 1.0))
    model = _Model(stars, kind, degree, centre, scale)
    tie = _reduction(family, degree, scale)
    if tie is not None and kind != "moffat":
        tie = tie[:-1, :-1]  # no beta
    nt = model.nt
    theta = np.zeros(model.n_params())
    theta[0] = fwhm
    if kind == "moffat":
        theta[3 * nt] = 3.0
    if start is not None:
        # The lower-degree coefficients carry over (same monomial order).
        m = min(nt, n_terms(start.degree))
        theta[:m] = start.fwhm[:m]
        theta[nt : nt + m] = start.e1[:m]
        theta[2 * nt : 2 * nt + m] = start.e2[:m]
        if kind == "moffat":
            theta[3 * nt] = start.beta
    stars = StarStamps(stars.data, stars.valid, stars.offset.copy(), stars.centre, stars.sky_var)
    model.stars = stars
    h = 1e-3
    offset = 0.0
    for _ in range(iterations):
        fw, e1, e2, beta = model.star_params(theta)
        p = model.stamps(fw, e1, e2, beta)
        px = (
            model.stamps(fw, e1, e2, beta, stars.offset[:, 0] + h)
            - model.stamps(fw, e1, e2, beta, stars.offset[:, 0] - h)
        ) / (2 * h)
        py = (
            model.stamps(fw, e1, e2, beta, None, stars.offset[:, 1] + h)
            - model.stamps(fw, e1, e2, beta, None, stars.offset[:, 1] - h)
        ) / (2 * h)
        flux, shift = _per_star_linear(stars, p, px, py, pedestal == "star", offset)
        stars.offset += np.clip(shift, -0.5, 0.5)
        p = model.stamps(fw, e1, e2, beta)
        # Noise weights from this model, held fixed during the shape fit (a
        # variance following the trial model rewards heavy wings).
        weight = stars.valid / (np.maximum(p * flux[:, None, None], 0) + stars.sky_var)
        theta, offset = _shape_step(model, theta, weight, tie, pedestal, offset)
    f, a, b, beta = model.split(theta)
    shape = FieldShape(
        kind, degree, centre, scale, f.copy(), a.copy(), b.copy(), float(beta), family
    )
    return shape, stars


def _shape_step(
    model: _Model,
    theta: np.ndarray,
    weight: np.ndarray,
    tie: np.ndarray | None = None,
    pedestal: str | None = None,
    offset: float = 0.0,
) -> tuple[np.ndarray, float]:
    """One least-squares fit of the shape parameters with fluxes (and pedestals) projected out.

    With ``tie`` (n_full, n_free), the free parameters are ``phi`` with
    ``theta = tie @ phi``; ``theta`` is first projected onto them. Each
    star's linear coefficients ``c`` (flux, and with ``pedestal="star"`` a
    constant) are solved inside; the Jacobian is exact, with
    ``dc = G^-1 (dA^T W r - A^T W dA c)`` for the star's design ``A`` and
    ``G = A^T W A``. With ``pedestal="frame"``, one constant ``offset``
    under all stars is a further parameter; returns the shape and it.
    """
    stars = model.stars
    n, s, _ = stars.data.shape
    d = stars.data.reshape(n, -1)
    w = weight.reshape(n, -1)
    sw = np.sqrt(w)
    sum_w = np.sum(w, axis=1)
    per_star = pedestal == "star"
    nt = model.nt
    cache: dict = {}

    def evaluate(th: np.ndarray, delta: float):
        key = th.tobytes() + np.float64(delta).tobytes()
        if key not in cache:
            cache.clear()
            fw, e1, e2, beta = model.star_params(th)
            m = model.stamps(fw, e1, e2, beta).reshape(n, -1)
            de = d - delta
            wm = w * m
            smm = np.maximum(np.sum(wm * m, axis=1), 1e-30)
            smd = np.sum(wm * de, axis=1)
            sm = np.sum(wm, axis=1)
            if per_star:
                det = smm * sum_w - sm * sm
                det = np.where(np.abs(det) > 1e-12 * smm * sum_w, det, 1e-12 * smm * sum_w)
                # G^-1 of [[smm, sm], [sm, sum_w]] per star.
                ginv = np.stack([np.stack([sum_w, -sm], 1), np.stack([-sm, smm], 1)], 1)
                ginv = ginv / det[:, None, None]
                c = np.einsum("nij,nj->ni", ginv, np.c_[smd, np.sum(w * de, axis=1)])
            else:
                ginv = (1.0 / smm)[:, None, None]
                c = (smd / smm)[:, None]
            r = de - c[:, :1] * m - (c[:, 1:2] if per_star else 0.0)
            cache[key] = (fw, e1, e2, beta, m, ginv, c, r, sm / smm)
        return cache[key]

    def resid(th, delta):
        return (sw * evaluate(th, delta)[7]).ravel()

    def jac(th, delta):
        fw, e1, e2, beta, m, ginv, c, r, dfdd = evaluate(th, delta)
        f = c[:, 0]
        steps = [1e-4 * np.maximum(fw, 1.0), 1e-5, 1e-5]
        shifted = [
            (fw + steps[0], e1, e2, beta),
            (fw, e1 + steps[1], e2, beta),
            (fw, e1, e2 + steps[2], beta),
        ]
        if model.kind == "moffat":
            steps.append(1e-4 * beta)
            shifted.append((fw, e1, e2, beta + steps[3]))
        cols = []
        for k, (args, step) in enumerate(zip(shifted, steps, strict=True)):
            dm = (model.stamps(*args).reshape(n, -1) - m) / np.reshape(step, (-1, 1))
            wdm = w * dm
            rhs = [np.sum(wdm * r, axis=1) - f * np.sum(wdm * m, axis=1)]
            if per_star:
                rhs.append(-f * np.sum(wdm, axis=1))
            dc = np.einsum("nij,nj->ni", ginv, np.stack(rhs, axis=1))
            moved = f[:, None] * dm + dc[:, :1] * m
            if per_star:
                moved = moved + dc[:, 1:2]
            dr = -sw * moved  # (n, s*s)
            if k < 3:
                # Through the polynomial: each term's column is dr times its monomial.
                cols.append((dr[:, :, None] * model.mono[:, None, :]).reshape(n * s * s, nt))
            else:
                cols.append(dr.reshape(-1, 1))
        if pedestal == "frame":
            # r = (d - delta) - f m with f = sum(w m (d - delta)) / sum(w m m).
            cols.append((-sw * (1.0 - dfdd[:, None] * m)).reshape(-1, 1))
        return np.concatenate(cols, axis=1)

    lo = np.full(len(theta), -np.inf)
    hi = np.full(len(theta), np.inf)
    lo[0], hi[0] = 0.5, 50.0
    # Ellipticity terms stay within what the profile can draw.
    lo[nt : 3 * nt] = -2.0
    hi[nt : 3 * nt] = 2.0
    if model.kind == "moffat":
        lo[3 * nt], hi[3 * nt] = 1.2, 20.0
    t = np.eye(len(theta)) if tie is None else tie
    if tie is None:
        x0 = theta
    else:
        # A free parameter that is one full one keeps its bounds; a tied
        # amplitude spreads over several terms and is left free.
        single = (np.count_nonzero(tie, axis=0) == 1) & (np.abs(tie).sum(axis=0) == 1.0)
        full = np.argmax(tie != 0, axis=0)
        lo = np.where(single, lo[full], -np.inf)
        hi = np.where(single, hi[full], np.inf)
        x0 = np.linalg.lstsq(tie, theta, rcond=None)[0]
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
    k = len(x0)
    if pedestal == "frame":
        x0 = np.append(x0, offset)
        lo, hi = np.append(lo, -np.inf), np.append(hi, np.inf)

    def split(x: np.ndarray) -> tuple[np.ndarray, float]:
        return t @ x[:k], float(x[k]) if pedestal == "frame" else offset

    def fun(x):
        return resid(*split(x))

    def jacobian(x):
        j = jac(*split(x))
        return np.concatenate([j[:, : t.shape[0]] @ t, j[:, t.shape[0] :]], axis=1)

    # A robust loss: undetected faint stars in the wings are positive outliers.
    fit = least_squares(
        fun, x0, jac=jacobian, bounds=(lo, hi), x_scale="jac", loss="soft_l1", f_scale=3.0
    )
    return split(fit.x)
