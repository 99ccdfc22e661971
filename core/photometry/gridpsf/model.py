"""A :class:`PSFField` as an astropy model, for photutils' ``PSFPhotometry``.

photutils fits any ``Fittable2DModel`` with ``flux``, ``x_0`` and ``y_0``
parameters; this one evaluates the field's PSF at the star's own position
(the basis images weighted by their coefficients there) and interpolates it
at the fitted pixels. It behaves as photutils' ``GriddedPSFModel`` for a grid
read from a file (bilinear weights), and also carries the smooth fields.

photutils evaluates the model tens of times per star, so two things are
prepared once: the basis images' spline coefficients, cut to the fit box
(a 15 px box needs 1/15 of a 63 px PSF's samples), and the weights on a
mesh of :data:`MESH` px, interpolated bilinearly (continuous in x_0, y_0, so
the fitter's numerical derivatives stay smooth; the weights change by
~1e-5 over a mesh cell).

The model has analytic derivatives (:meth:`FieldPSFModel.fit_deriv`): the
cubic B-spline's own gradient, which photutils' fitter uses in place of a
finite-difference Jacobian (one evaluation per star and step instead of one
per parameter; see :mod:`..psf_fitter` for groups of stars).
"""

from __future__ import annotations

import copy

import numpy as np
from astropy.modeling import Fittable2DModel, Parameter
from scipy.ndimage import map_coordinates, spline_filter

from .field import PSFField

__all__ = ["MESH", "FieldPSFModel", "spline_gradient"]

MESH = 8.0


def _cubic_weights(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 4 cubic B-spline weights of the samples floor(u) - 1 .. floor(u) + 2, and their
    derivatives, at fractions ``t`` = u - floor(u)."""
    s = 1.0 - t
    t2, t3 = t * t, t * t * t
    w = np.stack([s**3 / 6, (3 * t3 - 6 * t2 + 4) / 6, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6, t3 / 6])
    d = np.stack([-0.5 * s * s, 1.5 * t2 - 2 * t, -1.5 * t2 + t + 0.5, 0.5 * t2])
    return w, d


def _mirror(i: np.ndarray, n: int) -> np.ndarray:
    i = np.abs(i)
    return np.where(i > n - 1, 2 * (n - 1) - i, i)


def spline_gradient(
    coeffs: np.ndarray, v: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value and gradient (d/du, d/dv) of a 2-D cubic B-spline at rows ``v``, columns ``u``.

    ``coeffs`` are B-spline coefficients (``scipy.ndimage.spline_filter``'s
    output). The value is ``map_coordinates(coeffs, [v, u], order=3,
    mode="constant", prefilter=False)``'s to rounding: 0 outside the array,
    mirrored coefficients at its edges. Written out because scipy evaluates
    no derivative of its splines on a regular grid (``map_coordinates`` takes
    one order for all axes, and the derivative along one axis is a spline of
    order 2 in that axis only).
    """
    n0, n1 = coeffs.shape
    inside = (u >= 0) & (u <= n1 - 1) & (v >= 0) & (v <= n0 - 1)
    iu = np.floor(u).astype(np.intp)
    iv = np.floor(v).astype(np.intp)
    wu, du = _cubic_weights(u - iu)
    wv, dv = _cubic_weights(v - iv)
    cols = [_mirror(iu - 1 + b, n1) for b in range(4)]
    val, gu, gv = (np.zeros(u.shape) for _ in range(3))
    for a in range(4):
        rows = _mirror(iv - 1 + a, n0)
        c = [coeffs[rows, col] for col in cols]
        row = wu[0] * c[0] + wu[1] * c[1] + wu[2] * c[2] + wu[3] * c[3]
        rowd = du[0] * c[0] + du[1] * c[1] + du[2] * c[2] + du[3] * c[3]
        val += wv[a] * row
        gu += wv[a] * rowd
        gv += dv[a] * row
    return (np.where(inside, val, 0.0), np.where(inside, gu, 0.0), np.where(inside, gv, 0.0))


class FieldPSFModel(Fittable2DModel):
    """The PSF of a :class:`PSFField` at (x_0, y_0), scaled by ``flux`` (total flux).

    Parameters
    ----------
    field : PSFField
        The PSF across the frame.
    radius : float, optional
        Half-width (px) of the square around the star in which it is
        evaluated (half the fit box); beyond it the model is 0. The whole PSF
        when None.
    """

    flux = Parameter(default=1.0, description="Total flux")
    x_0 = Parameter(default=0.0, description="x position (px)")
    y_0 = Parameter(default=0.0, description="y position (px)")

    def __init__(
        self, field: PSFField, *, radius: float | None = None, flux=1.0, x_0=0.0, y_0=0.0, **kw
    ) -> None:
        self.field = field
        k = field.oversampling
        n = field.basis.shape[1]
        c = (n - 1) // 2
        # Spline coefficients from the whole image (they are global), then cut
        # with two samples to spare for the cubic kernel.
        half = c if radius is None else min(c, int(np.ceil((radius + 1.0) * k)) + 2)
        sl = slice(c - half, c + half + 1)
        self._splines = np.stack([spline_filter(b, order=3)[sl, sl] for b in field.basis])
        self._centre = float(half)
        xs = np.arange(field.xs[0], field.xs[-1] + MESH, MESH) if field.varies else field.xs[:1]
        ys = np.arange(field.ys[0], field.ys[-1] + MESH, MESH) if field.varies else field.ys[:1]
        gx, gy = np.meshgrid(xs, ys)
        self._mesh_x, self._mesh_y = xs, ys
        self._mesh = field.coefficients(gx.ravel(), gy.ravel()).reshape(len(ys), len(xs), -1)
        super().__init__(flux, x_0, y_0, **kw)

    def copy(self):
        """A copy sharing the (large) basis images; only the parameters are copied."""
        new = object.__new__(self.__class__)
        for key, val in self.__dict__.items():
            new.__dict__[key] = copy.copy(val) if key in self.param_names else val
        return new

    def _weights(self, x0: float, y0: float, slopes: bool = False):
        """The basis images' weights at (x0, y0); with ``slopes`` also their d/dx0, d/dy0."""
        xs, ys, mesh = self._mesh_x, self._mesh_y, self._mesh
        if len(xs) == 1 and len(ys) == 1:
            return (mesh[0, 0], 0.0 * mesh[0, 0], 0.0 * mesh[0, 0]) if slopes else mesh[0, 0]
        fx = np.clip((x0 - xs[0]) / MESH, 0, len(xs) - 1.000001)
        fy = np.clip((y0 - ys[0]) / MESH, 0, len(ys) - 1.000001)
        i, j = int(fx), int(fy)
        i1, j1 = min(i + 1, len(xs) - 1), min(j + 1, len(ys) - 1)
        tx, ty = fx - i, fy - j
        w = (1 - ty) * ((1 - tx) * mesh[j, i] + tx * mesh[j, i1]) + ty * (
            (1 - tx) * mesh[j1, i] + tx * mesh[j1, i1]
        )
        if not slopes:
            return w
        # Bilinear: constant slopes within the mesh cell (none where clipped at the edge).
        inside_x = 0 < (x0 - xs[0]) / MESH < len(xs) - 1
        inside_y = 0 < (y0 - ys[0]) / MESH < len(ys) - 1
        wx = ((1 - ty) * (mesh[j, i1] - mesh[j, i]) + ty * (mesh[j1, i1] - mesh[j1, i])) / MESH
        wy = ((1 - tx) * (mesh[j1, i] - mesh[j, i]) + tx * (mesh[j1, i1] - mesh[j, i1])) / MESH
        return w, wx * inside_x, wy * inside_y

    def _grid(self, x, y, x_0, y_0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The star's spline coefficients and the pixels' (v, u) on them; x as an array."""
        x0 = float(np.ravel(x_0)[0])
        y0 = float(np.ravel(y_0)[0])
        coeffs = np.tensordot(self._weights(x0, y0), self._splines, axes=(0, 0))
        k = self.field.oversampling
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        u = self._centre + (x - x0) * k
        v = self._centre + (y - y0) * k
        return coeffs, v, u, x

    def evaluate(self, x, y, flux, x_0, y_0):
        coeffs, v, u, x = self._grid(x, y, x_0, y_0)
        vals = map_coordinates(
            coeffs, [v.ravel(), u.ravel()], order=3, mode="constant", cval=0.0, prefilter=False
        )
        return np.ravel(flux)[0] * vals.reshape(x.shape)

    def fit_deriv(self, x, y, flux, x_0, y_0):
        """d model / d (flux, x_0, y_0) at the pixels (x, y).

        A move of the star moves its image and changes its PSF (the basis
        images' weights where it is): in a corner of a field whose FWHM goes
        from 2.5 to 4.5 px over 250 px the second is ~2 % of the first.
        """
        x0 = float(np.ravel(x_0)[0])
        y0 = float(np.ravel(y_0)[0])
        w, wx, wy = self._weights(x0, y0, slopes=True)
        coeffs = np.tensordot(np.stack([w, wx, wy]), self._splines, axes=(1, 0))
        k = self.field.oversampling
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        u = (self._centre + (x - x0) * k).ravel()
        v = (self._centre + (y - y0) * k).ravel()
        val, gu, gv = spline_gradient(coeffs[0], v, u)
        f = float(np.ravel(flux)[0])
        shifts = [
            map_coordinates(c, [v, u], order=3, mode="constant", cval=0.0, prefilter=False)
            for c in coeffs[1:]
        ]
        d_x = f * (shifts[0] - k * gu)
        d_y = f * (shifts[1] - k * gv)
        return [val.reshape(x.shape), d_x.reshape(x.shape), d_y.reshape(x.shape)]
