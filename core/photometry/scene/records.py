"""The records the scene fitter passes around: the frame, the PSF with its tables, the stars.

Each replaces a group of values that used to travel as separate arguments
(the image with its noise and masks; a PSF and the stamp tables made from
it; a star's position, flux, shifts and state as parallel arrays), so that
the passes of :mod:`.fitter` and :mod:`.forced` take a few typed records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np
from scipy.sparse.linalg import LinearOperator, lsqr

from ..epsf import EffectivePSF
from ..gridpsf import PSFField
from ..noise import NoiseModel
from .design import SceneDesign, Tables, psf_tables
from .normal import solve_normal

__all__ = [
    "STAMP_SIZES",
    "NoisyImage",
    "PlacedStars",
    "SceneFrame",
    "ScenePSF",
    "SceneStars",
    "Solver",
]

log = logging.getLogger(__name__)

STAMP_SIZES = (11, 19, 31, 63)

_T = TypeVar("_T")


@dataclass(frozen=True)
class NoisyImage:
    """An image with the expected variance of its pixels and the pixels without weight.

    Usually a residual (the frame minus the sky and the stars' model) that
    stars are fitted to; also a model image whose significance is tested
    against the same noise.

    Attributes
    ----------
    image : ndarray
        Pixel values (e-).
    variance : ndarray
        Expected variance per pixel (e-^2).
    mask : ndarray of bool
        Pixels without weight (bad or saturated).
    """

    image: np.ndarray
    variance: np.ndarray
    mask: np.ndarray

    @cached_property
    def weight(self) -> np.ndarray:
        """Inverse variance, 0 on :attr:`mask` (as :meth:`SceneFrame.weight`)."""
        w = 1.0 / self.variance
        w[self.mask] = 0.0
        return w


@dataclass(frozen=True)
class PlacedStars:
    """Stars at positions with fluxes: what a fit step is given and gives back.

    Attributes
    ----------
    x, y : ndarray
        Positions (0-based px, x the column).
    flux : ndarray
        Fluxes (e-).
    sizes : ndarray of int, optional
        Stamp size (px) each star's model is drawn with, where the step needs it.
    """

    x: np.ndarray
    y: np.ndarray
    flux: np.ndarray
    sizes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)

    @property
    def stamp_sizes(self) -> np.ndarray:
        """:attr:`sizes`, which the caller must have given."""
        if self.sizes is None:
            raise ValueError("these stars have no stamp sizes")
        return self.sizes

    def take(self, keep: np.ndarray) -> PlacedStars:
        """The stars selected by ``keep`` (bool or indices)."""
        sizes = None if self.sizes is None else self.sizes[keep]
        return PlacedStars(self.x[keep], self.y[keep], self.flux[keep], sizes)


class Solver:
    """LSQR on the weighted design, warm-started from the previous pass."""

    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance

    def solve(
        self,
        design: SceneDesign,
        data: np.ndarray,
        sqrt_w: np.ndarray,
        x0: np.ndarray,
        iter_lim: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients of every column and the norms of the weighted columns."""
        # Single precision: an LSQR iteration is two passes over the matrix
        # and a few over pixel-long vectors, all bound by memory bandwidth;
        # float32 carries 7 digits, far below the 1e-4 tolerance.
        mat, norm, pixels = design.weighted(sqrt_w, np.float32)
        b = design.rhs(mat, pixels, sqrt_w * data)
        # The transpose as a view (CSR of the same arrays): scipy's own
        # adjoint of a sparse matrix copies it (``A.T.conj()``) on every call.
        op = LinearOperator(
            mat.shape, matvec=mat.__matmul__, rmatvec=mat.T.__matmul__, dtype=mat.dtype
        )
        out = lsqr(
            op,
            b,
            atol=self.tolerance,
            btol=self.tolerance,
            iter_lim=iter_lim,
            x0=(x0 * norm).astype(np.float32),
        )
        log.debug("LSQR: %d columns, %d iterations, stop %d", mat.shape[1], out[2], out[1])
        return out[0].astype(np.float64) / norm, norm

    @staticmethod
    def solve_exact(
        design: SceneDesign, data: np.ndarray, sqrt_w: np.ndarray, x0: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`solve`'s problem solved exactly (:func:`.normal.solve_normal`)."""
        return solve_normal(design, data, sqrt_w, x0)


@dataclass(frozen=True)
class SceneFrame:
    """The data a scene is fitted to, fixed for the whole fit."""

    image: np.ndarray
    """Frame in electrons (sky included), 0 on bad pixels."""
    noise: NoiseModel
    bad: np.ndarray
    """Masked or non-finite pixels."""
    saturated: np.ndarray
    solver: Solver
    variance_floor: float = 0.0
    """No pixel's variance (e-^2) is taken below this: see :func:`variance_floor`."""
    zero_w: np.ndarray = field(init=False)
    """Pixels without weight: bad or saturated."""
    _sky_noise: list = field(default_factory=list, init=False, repr=False, compare=False)
    """The last sky map given to :meth:`sigma_sky` and its result."""
    _last: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    """Per method of the maps below: the last argument(s) and the result."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "zero_w", self.bad | self.saturated)

    @classmethod
    def of(
        cls,
        image: np.ndarray,
        noise: NoiseModel,
        mask: np.ndarray | None,
        saturated: np.ndarray | None,
        tolerance: float,
    ) -> SceneFrame:
        """The frame of ``image`` with its bad (masked or non-finite) and saturated pixels."""
        img = np.asarray(image, dtype=np.float64)
        bad = np.zeros(img.shape, bool) if mask is None else np.asarray(mask, bool).copy()
        bad |= ~np.isfinite(img)
        sat = np.zeros(img.shape, bool) if saturated is None else np.asarray(saturated, bool)
        floor = variance_floor(img, bad | sat, noise)
        return cls(np.where(bad, 0.0, img), noise, bad, sat, Solver(tolerance), floor)

    @property
    def shape(self) -> tuple[int, int]:
        ny, nx = self.image.shape
        return ny, nx

    def _remember(self, name: str, args: tuple[np.ndarray, ...], make: Callable[[], _T]) -> _T:
        """``make()``, or its value for the same argument arrays as the last call of ``name``.

        After a forced pass the same model's variance and weights were asked
        for by every step that reads its residual (re-centring, new peaks,
        splits, merges, the joint step, the position posterior, the errors):
        a dozen 1024^2 maps of ~3-5 ms each a frame. The arrays are never
        changed in place; the last ones are held, so their ids stay theirs.
        """
        known = self._last.get(name)
        if known is not None and all(a is b for a, b in zip(known[0], args, strict=True)):
            return known[1]
        value = make()
        self._last[name] = (args, value)
        return value

    def variance(self, model: np.ndarray) -> np.ndarray:
        """Expected variance per pixel of a model (sky + stars) image."""

        def make() -> np.ndarray:
            # The noise model's max(model, 0) + RN^2 and the floor in one
            # pass fewer: max(model + RN^2, max(floor, RN^2)) is the same.
            rn2 = self.noise.read_noise**2
            var = np.add(model, rn2, dtype=np.float64)
            return np.maximum(var, max(self.variance_floor, rn2), out=var)

        return self._remember("variance", (model,), make)

    def weight(self, var: np.ndarray) -> np.ndarray:
        """Inverse variance, 0 on pixels without weight."""
        return self._remember("weight", (var,), lambda: self._without_weight(1.0 / var))

    def sqrt_weight(self, var: np.ndarray) -> np.ndarray:
        """Square root of :meth:`weight` (what the design's rows are scaled by)."""

        def make() -> np.ndarray:
            out = np.sqrt(var)
            return self._without_weight(np.divide(1.0, out, out=out))

        return self._remember("sqrt_weight", (var,), make)

    def _without_weight(self, w: np.ndarray) -> np.ndarray:
        """``w`` (a new array) with 0 on the pixels without weight, in place: one pass fewer."""
        w[self.zero_w] = 0.0
        return w

    def noisy(self, image: np.ndarray, model: np.ndarray) -> NoisyImage:
        """``image`` with the variance of ``model`` (sky + stars) and the pixels without weight."""
        return self._remember(
            "noisy", (image, model), lambda: NoisyImage(image, self.variance(model), self.zero_w)
        )

    def sigma_sky(self, sky: np.ndarray) -> float:
        """Noise (e-) of one pixel of the typical sky.

        The median of a 1024^2 map takes ~15 ms and a pass asks it of the
        same map up to three times: the last map's value is kept (the maps
        are never changed in place).
        """
        for known, value in self._sky_noise:
            if known is sky:
                return value
        level = float(np.median(sky)) + self.noise.read_noise**2
        value = float(np.sqrt(max(level, self.variance_floor)))
        self._sky_noise[:] = [(sky, value)]
        return value


#: Pixels (a step this many apart in each direction) the sky's scatter is measured on.
_FLOOR_STEP = 4


def variance_floor(image: np.ndarray, no_weight: np.ndarray, noise: NoiseModel) -> float:
    """The smallest variance (e-^2) the fit gives a pixel of ``image``.

    The noise model's variance, the expected signal plus the read noise
    squared, is 0 wherever the model is <= 0 on a frame without read noise:
    a sky-subtracted plate whose header gives none (its sky ~0, its real
    noise the subtracted sky's), or a simulated frame with neither sky nor
    read noise. Such a pixel would get an infinite weight (and a 0/0 chi).
    No pixel is quieter than the frame's sky: the floor is a quarter of the
    variance measured between neighbouring pixels (half its sigma; a robust
    MAD of their differences, on every 4th row and column). Stars inflate
    that measure (by ~1.5 at case B's 4.8 stars per 1000 px^2), so a quarter
    keeps the floor well under the model's variance wherever the model is
    right, and it changes nothing there. Where the model is far below the
    measured scatter (a gain of 1 assumed on a plate whose pixels scatter
    several times more), it is the more honest of the two. Nor is a pixel
    quieter than its digitisation: one ADU rounded, gain^2 / 12.
    """
    img = image[::_FLOOR_STEP]
    ok = ~(no_weight[::_FLOOR_STEP] | ~np.isfinite(img))
    diff = img[:, 1:] - img[:, :-1]
    diff = diff[ok[:, 1:] & ok[:, :-1]]
    measured = 0.0
    if diff.size >= 100:
        # MAD of a difference of two pixels: sqrt(2) sigma of one.
        mad = float(np.median(np.abs(diff - np.median(diff))))
        measured = (1.4826 * mad) ** 2 / 2.0
    return max(0.25 * measured, noise.gain**2 / 12.0)


@dataclass(frozen=True)
class ScenePSF:
    """A PSF and the stamp tables the design matrix is built from."""

    psf: EffectivePSF | PSFField
    tables: Tables

    @classmethod
    def of(cls, psf: EffectivePSF | PSFField) -> ScenePSF:
        return cls(psf, psf_tables(psf, STAMP_SIZES))

    @property
    def fwhm(self) -> float:
        return float(self.psf.fwhm)


@dataclass
class SceneStars:
    """The stars of the scene between passes, one entry per star."""

    x: np.ndarray
    y: np.ndarray
    coef: np.ndarray
    """(N, 3): flux, and flux times the x and y shift (the derivative columns' values)."""
    pinned: np.ndarray
    """Stars that never move (saturated ones: their core has no weight)."""
    snr: np.ndarray
    """S/N of the last pass (0 for new and pinned stars)."""

    @classmethod
    def new(cls, x: np.ndarray, y: np.ndarray, flux: np.ndarray, pinned: bool) -> SceneStars:
        """Stars without shifts or S/N yet."""
        n = len(x)
        return cls(
            np.asarray(x, dtype=np.float64),
            np.asarray(y, dtype=np.float64),
            np.c_[np.asarray(flux, dtype=np.float64), np.zeros((n, 2))],
            np.full(n, pinned, dtype=bool),
            np.zeros(n),
        )

    def __len__(self) -> int:
        return len(self.x)

    @property
    def flux(self) -> np.ndarray:
        return self.coef[:, 0]

    def take(self, keep: np.ndarray) -> SceneStars:
        """The stars selected by ``keep`` (bool or indices)."""
        return SceneStars(
            self.x[keep], self.y[keep], self.coef[keep], self.pinned[keep], self.snr[keep]
        )

    def extend(self, other: SceneStars) -> SceneStars:
        """These stars followed by ``other``'s."""
        return SceneStars(
            np.concatenate([self.x, other.x]),
            np.concatenate([self.y, other.y]),
            np.vstack([self.coef, other.coef]),
            np.concatenate([self.pinned, other.pinned]),
            np.concatenate([self.snr, other.snr]),
        )
