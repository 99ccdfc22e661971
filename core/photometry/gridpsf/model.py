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
"""

from __future__ import annotations

import copy

import numpy as np
from astropy.modeling import Fittable2DModel, Parameter
from scipy.ndimage import map_coordinates, spline_filter

from .field import PSFField

__all__ = ["MESH", "FieldPSFModel"]

MESH = 8.0


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

    def _weights(self, x0: float, y0: float) -> np.ndarray:
        xs, ys, mesh = self._mesh_x, self._mesh_y, self._mesh
        if len(xs) == 1 and len(ys) == 1:
            return mesh[0, 0]
        fx = np.clip((x0 - xs[0]) / MESH, 0, len(xs) - 1.000001)
        fy = np.clip((y0 - ys[0]) / MESH, 0, len(ys) - 1.000001)
        i, j = int(fx), int(fy)
        i1, j1 = min(i + 1, len(xs) - 1), min(j + 1, len(ys) - 1)
        tx, ty = fx - i, fy - j
        return (1 - ty) * ((1 - tx) * mesh[j, i] + tx * mesh[j, i1]) + ty * (
            (1 - tx) * mesh[j1, i] + tx * mesh[j1, i1]
        )

    def evaluate(self, x, y, flux, x_0, y_0):
        x0 = float(np.ravel(x_0)[0])
        y0 = float(np.ravel(y_0)[0])
        coeffs = np.tensordot(self._weights(x0, y0), self._splines, axes=(0, 0))
        k = self.field.oversampling
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        u = self._centre + (x - x0) * k
        v = self._centre + (y - y0) * k
        vals = map_coordinates(
            coeffs, [v.ravel(), u.ravel()], order=3, mode="constant", cval=0.0, prefilter=False
        )
        return np.ravel(flux)[0] * vals.reshape(x.shape)
