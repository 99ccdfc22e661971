"""A PSF that changes across the frame: a few basis images and their weights at each position.

Every field-varying PSF Fluxion uses has one form: the oversampled,
pixel-integrated PSF at (x, y) is ``sum_j c_j(x, y) B_j``, with basis images
``B_j`` (each shaped like :attr:`EffectivePSF.data`) and coefficient maps
``c_j`` known on a rectangular grid of nodes and interpolated between them.

- A grid of ePSFs (a ``GriddedPSFModel`` file, or one ePSF per cell of the
  frame) is the basis of its node PSFs with bilinear weights, which is exactly
  photutils' ``GriddedPSFModel`` interpolation.
- A smooth model (an analytic profile whose shape parameters are polynomials
  in x, y) is sampled on a fine grid, compressed to a few principal
  components by an SVD, and its coefficient maps interpolated bicubically.

Because the PSF at any position is a linear combination of the same few
images, the scene fitter's stamp tables are made once per basis image and
each star's stamp is their weighted sum; a constant PSF is the case of one
basis image with weight 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import RectBivariateSpline

from ..epsf import EffectivePSF

__all__ = ["PSFField", "as_field", "compress"]


@dataclass(frozen=True)
class PSFField:
    """A PSF varying across the frame as ``sum_j c_j(x, y) B_j`` (see the module docstring)."""

    basis: np.ndarray
    """(J, n, n) oversampled basis images, n odd."""
    coeffs: np.ndarray
    """(J, gy, gx) weight of each basis image at the nodes."""
    xs: np.ndarray
    """(gx,) node x (px, 0-based), increasing."""
    ys: np.ndarray
    """(gy,) node y (px), increasing."""
    oversampling: int
    order: int
    """Interpolation of the weights between nodes: 1 bilinear, 3 bicubic."""
    kind: str
    """'grid' (read from a file), 'cells' (one ePSF per cell), 'moffat-field', 'gaussian-field'."""
    fwhm: float
    """FWHM at the centre of the node grid (px)."""
    n_stars: int = 0
    moffat_beta: float = float("nan")
    shape: tuple[int, int] | None = None
    """Frame (ny, nx) the PSF was made for, when known."""
    meta: dict = field(default_factory=dict, compare=False)
    """Diagnostics: the candidates' held-out residuals, the chosen degree or cells."""

    def __post_init__(self) -> None:
        basis = np.asarray(self.basis, dtype=np.float64)
        coeffs = np.asarray(self.coeffs, dtype=np.float64)
        if basis.ndim != 3 or basis.shape[1] != basis.shape[2] or basis.shape[1] % 2 == 0:
            raise ValueError(f"basis must be (J, n, n) with n odd, got {basis.shape}")
        if coeffs.shape != (basis.shape[0], len(self.ys), len(self.xs)):
            raise ValueError(
                f"coefficients {coeffs.shape} do not match {basis.shape[0]} basis images on "
                f"{len(self.ys)} x {len(self.xs)} nodes"
            )
        object.__setattr__(self, "basis", basis)
        object.__setattr__(self, "coeffs", coeffs)
        object.__setattr__(self, "xs", np.asarray(self.xs, dtype=np.float64))
        object.__setattr__(self, "ys", np.asarray(self.ys, dtype=np.float64))

    # -- shape of the model -------------------------------------------------------
    @property
    def n_basis(self) -> int:
        return self.basis.shape[0]

    @property
    def size(self) -> int:
        """Width of the PSF in image pixels."""
        return (self.basis.shape[1] - 1) // self.oversampling

    @property
    def varies(self) -> bool:
        """False for a PSF that is the same everywhere."""
        return self.coeffs.shape[1] > 1 or self.coeffs.shape[2] > 1

    @property
    def fwhm_max(self) -> float:
        """The largest FWHM over the nodes' extent (corners, edges' middles, centre)."""
        cached = self.__dict__.get("_fwhm_max")
        if cached is None:
            from .shape import psf_shape

            xs = [self.xs[0], (self.xs[0] + self.xs[-1]) / 2, self.xs[-1]]
            ys = [self.ys[0], (self.ys[0] + self.ys[-1]) / 2, self.ys[-1]]
            if not self.varies:
                cached = float(self.fwhm)
            else:
                cached = max(
                    psf_shape(self.image_at(x, y), self.oversampling).fwhm for x in xs for y in ys
                )
            object.__setattr__(self, "_fwhm_max", cached)
        return cached

    # -- evaluation -------------------------------------------------------------------
    def coefficients(self, x, y) -> np.ndarray:
        """(N, J) weights of the basis images at positions (x, y); outside the nodes, the edge's."""
        x = np.atleast_1d(np.asarray(x, dtype=np.float64))
        y = np.atleast_1d(np.asarray(y, dtype=np.float64))
        xc = np.clip(np.nan_to_num(x, nan=self.xs.mean()), self.xs[0], self.xs[-1])
        yc = np.clip(np.nan_to_num(y, nan=self.ys.mean()), self.ys[0], self.ys[-1])
        j, gy, gx = self.coeffs.shape
        if gx == 1 and gy == 1:
            return np.broadcast_to(self.coeffs[:, 0, 0], (len(x), j)).copy()
        if self.order == 1 or min(gx, gy) < 4:
            wy, iy = _linear_weights(self.ys, yc)
            wx, ix = _linear_weights(self.xs, xc)
            out = np.zeros((len(x), j))
            for a in (0, 1):
                for b in (0, 1):
                    w = wy[:, a] * wx[:, b]
                    out += w[:, None] * self.coeffs[:, iy[:, a], ix[:, b]].T
            return out
        splines = self._splines()
        out = np.empty((len(x), j))
        for k in range(j):
            out[:, k] = splines[k](yc, xc, grid=False)
        return out

    def _splines(self) -> list[RectBivariateSpline]:
        # Made once per field (a frozen dataclass holds them in its __dict__).
        cached = self.__dict__.get("_spline_cache")
        if cached is None:
            cached = [RectBivariateSpline(self.ys, self.xs, c, kx=3, ky=3) for c in self.coeffs]
            object.__setattr__(self, "_spline_cache", cached)
        return cached

    def image_at(self, x: float, y: float) -> np.ndarray:
        """The oversampled PSF image at (x, y)."""
        c = self.coefficients([x], [y])[0]
        return np.tensordot(c, self.basis, axes=(0, 0))

    def at(self, x: float, y: float) -> EffectivePSF:
        """The PSF at (x, y) as a constant :class:`EffectivePSF`."""
        from .shape import psf_fwhm

        data = self.image_at(x, y)
        return EffectivePSF(
            data,
            self.oversampling,
            psf_fwhm(data, self.oversampling),
            "empirical" if self.kind in ("grid", "cells") else "moffat",
            self.n_stars,
            self.moffat_beta,
        )

    def basis_psf(self, k: int) -> EffectivePSF:
        """Basis image ``k`` wrapped as an EffectivePSF (for stamp tables and interpolation)."""
        return EffectivePSF(
            self.basis[k], self.oversampling, self.fwhm, self.kind, self.n_stars, self.moffat_beta
        )

    def stamps(
        self, size: int, dx: np.ndarray, dy: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> np.ndarray:
        """Stamps (N, size, size) of unit stars at sub-pixel offsets (dx, dy), PSFs of (x, y).

        The sum over basis images of each one's stamps with the star's weights,
        drawn by :func:`.shift.field_stamps` (one combined spline per star, the
        basis images' splines kept on the field). Interpolating each basis
        image apart went through :meth:`basis_psf`, a new object per call, so
        the spline cache keyed by it missed and every call filtered all J
        basis images again.
        """
        from .shift import field_stamps  # shift imports this module

        return field_stamps(self, size, dx, dy, x, y)

    def node_grid(self, nx: int | None = None, ny: int | None = None):
        """PSF images on a grid of positions: (xs, ys, cube (ny*nx, n, n)), rows y-major.

        Without ``nx``/``ny``, the model's own nodes; otherwise ``nx`` x ``ny``
        positions spanning them (a smooth model's display or file grid).
        """
        xs = self.xs if nx is None else np.linspace(self.xs[0], self.xs[-1], nx)
        ys = self.ys if ny is None else np.linspace(self.ys[0], self.ys[-1], ny)
        gx, gy = np.meshgrid(xs, ys)
        c = self.coefficients(gx.ravel(), gy.ravel())
        cube = np.tensordot(c, self.basis, axes=(1, 0))
        return xs, ys, cube


def _linear_weights(nodes: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear weights (N, 2) and node indices (N, 2) of values ``v`` (clipped to the nodes)."""
    if len(nodes) == 1:
        return np.c_[np.ones(len(v)), np.zeros(len(v))], np.zeros((len(v), 2), dtype=np.intp)
    i = np.clip(np.searchsorted(nodes, v, side="right") - 1, 0, len(nodes) - 2)
    t = (v - nodes[i]) / (nodes[i + 1] - nodes[i])
    return np.c_[1 - t, t], np.c_[i, i + 1]


def compress(
    cube: np.ndarray, *, tolerance: float = 1e-5, max_basis: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Few basis images that reproduce every image of ``cube`` (M, n, n): (basis, weights (M, J)).

    An SVD of the stacked images keeps the leading components until the
    largest error of any image is below ``tolerance`` times the largest
    pixel (the PSF's peak); the error of a star's flux from a PSF off by
    1e-5 of its peak is far below 0.01 sigma even for the brightest stars.
    The first basis image is the mean, so a PSF that barely varies needs one.
    """
    m, n, _ = cube.shape
    flat = cube.reshape(m, -1)
    mean = flat.mean(axis=0)
    u, s, vt = np.linalg.svd(flat - mean, full_matrices=False)
    peak = float(np.abs(flat).max())
    basis = [mean]
    weights = [np.ones(m)]
    approx = np.broadcast_to(mean, flat.shape).copy()
    for k in range(min(len(s), max_basis - 1)):
        if np.abs(flat - approx).max() <= tolerance * peak:
            break
        basis.append(vt[k])
        weights.append(u[:, k] * s[k])
        approx += np.outer(u[:, k] * s[k], vt[k])
    return np.asarray(basis).reshape(-1, n, n), np.asarray(weights).T


def as_field(psf: EffectivePSF | PSFField) -> PSFField:
    """A constant EffectivePSF as a one-image field (fields pass through)."""
    if isinstance(psf, PSFField):
        return psf
    return PSFField(
        psf.data[None],
        np.ones((1, 1, 1)),
        np.zeros(1),
        np.zeros(1),
        psf.oversampling,
        1,
        psf.kind,
        psf.fwhm,
        psf.n_stars,
        psf.moffat_beta,
    )
