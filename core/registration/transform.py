"""A frame's geometric transform to the reference frame: an affine map of pixels.

Frames of one night differ by the mount's drift and jitter (a translation),
by field rotation (an alt-azimuth mount without a derotator, a polar
misalignment), by small changes of scale (focus, refraction across the night)
and, if the capture program mirrors some frames, by a change of parity. An
affine map of pixel coordinates holds all of them; lens distortion, which is
fixed to the detector and therefore moves relative to the stars as the field
drifts, is what remains in the residual.

The convention is the one the stacks and the photometry need: a
:class:`FrameTransform` maps a position in the *reference* frame's pixels to
the same star's position in *this* frame (``xy_frame = A @ xy_ref + b``), so
that a comparison star chosen on the reference is placed in every frame with
:meth:`FrameTransform.apply`, and a stack samples each frame at
``apply(output_grid)`` (:func:`scipy.ndimage.affine_transform`'s direction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["FrameTransform", "fit_affine"]


@dataclass(frozen=True)
class FrameTransform:
    """Reference pixels -> this frame's pixels: ``xy = matrix @ xy_ref + offset``.

    Attributes
    ----------
    matrix : ndarray (2, 2)
        The linear part (rotation, scale, shear, parity).
    offset : ndarray (2,)
        The translation (px).
    """

    matrix: np.ndarray
    offset: np.ndarray

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix, dtype=float).reshape(2, 2)
        b = np.asarray(self.offset, dtype=float).reshape(2)
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(b))):
            raise ValueError("a transform needs finite coefficients")
        if abs(np.linalg.det(m)) < 1e-12:
            raise ValueError("a transform must be invertible")
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "offset", b)

    # -- construction ---------------------------------------------------------------
    @classmethod
    def identity(cls) -> FrameTransform:
        return cls(np.eye(2), np.zeros(2))

    @classmethod
    def shift(cls, dx: float, dy: float) -> FrameTransform:
        """A pure translation: the reference's pixel (x, y) is at (x + dx, y + dy)."""
        return cls(np.eye(2), np.array([dx, dy], dtype=float))

    @classmethod
    def from_affine(cls, affine: np.ndarray) -> FrameTransform:
        """From a (2, 3) matrix ``[A | b]``."""
        a = np.asarray(affine, dtype=float).reshape(2, 3)
        return cls(a[:, :2], a[:, 2])

    # -- use --------------------------------------------------------------------------
    @property
    def affine(self) -> np.ndarray:
        """The (2, 3) matrix ``[A | b]``."""
        return np.column_stack([self.matrix, self.offset])

    def apply(self, xy: np.ndarray) -> np.ndarray:
        """Positions (N, 2) in the reference's pixels -> this frame's pixels."""
        p = np.asarray(xy, dtype=float)
        return p @ self.matrix.T + self.offset

    def inverse(self) -> FrameTransform:
        """This frame's pixels -> the reference's pixels."""
        inv = np.linalg.inv(self.matrix)
        return FrameTransform(inv, -inv @ self.offset)

    def then(self, other: FrameTransform) -> FrameTransform:
        """``other`` after ``self``: ``other.apply(self.apply(xy))``.

        Chaining through a neighbour: the reference -> frame j (``self``)
        followed by frame j -> frame i (``other``) is the reference -> frame i.
        """
        return FrameTransform(other.matrix @ self.matrix, other.matrix @ self.offset + other.offset)

    # -- what it means ----------------------------------------------------------------
    @property
    def flipped(self) -> bool:
        """True when the frame is mirrored with respect to the reference (parity changed)."""
        return bool(np.linalg.det(self.matrix) < 0)

    @property
    def scale(self) -> float:
        """Mean linear scale (frame px per reference px): sqrt(|det A|)."""
        return float(math.sqrt(abs(np.linalg.det(self.matrix))))

    @property
    def rotation(self) -> float:
        """Rotation (deg, counter-clockwise in x-right, y-up pixels) of the frame's stars.

        Taken from the similarity nearest to ``matrix`` (its mean rotation),
        after undoing a mirror about the x axis when the parity changed.
        """
        m = self.matrix @ np.diag([1.0, -1.0]) if self.flipped else self.matrix
        return float(np.degrees(math.atan2(m[1, 0] - m[0, 1], m[0, 0] + m[1, 1])))

    def shift_at(self, x: float, y: float) -> tuple[float, float]:
        """Where the reference's pixel (x, y) moved in this frame (dx, dy px)."""
        px, py = self.apply(np.array([[x, y]], dtype=float))[0]
        return float(px - x), float(py - y)


def fit_affine(
    src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None, *, similarity: bool = False
) -> FrameTransform:
    """Weighted least-squares transform with ``dst ~ T(src)``.

    Parameters
    ----------
    src, dst : ndarray (N, 2)
        Matched positions (N >= 3, or 2 for a similarity).
    weights : ndarray (N,), optional
        1 / sigma^2 per pair; equal by default.
    similarity : bool
        Fit rotation, one scale and a shift (4 terms) instead of the full
        affine (6 terms), keeping the parity that the unweighted affine fit finds.
    """
    src = np.asarray(src, dtype=float).reshape(-1, 2)
    dst = np.asarray(dst, dtype=float).reshape(-1, 2)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=float)
    sw = np.sqrt(w)[:, None]
    if not similarity:
        design = np.column_stack([src, np.ones(len(src))]) * sw
        coef, *_ = np.linalg.lstsq(design, dst * sw, rcond=None)
        return FrameTransform.from_affine(coef.T)
    flip = fit_affine(src, dst).flipped if len(src) >= 3 else False
    s = src * np.array([1.0, -1.0]) if flip else src
    # x' = a x - b y + c, y' = b x + a y + d: linear in (a, b, c, d).
    one, zero = np.ones(len(s)), np.zeros(len(s))
    rows = np.vstack([
        np.column_stack([s[:, 0], -s[:, 1], one, zero]) * sw,
        np.column_stack([s[:, 1], s[:, 0], zero, one]) * sw,
    ])  # fmt: skip
    rhs = np.concatenate([dst[:, 0], dst[:, 1]]) * np.concatenate([sw[:, 0], sw[:, 0]])
    (a, b, c, d), *_ = np.linalg.lstsq(rows, rhs, rcond=None)
    m = np.array([[a, -b], [b, a]])
    if flip:
        m = m @ np.diag([1.0, -1.0])
    return FrameTransform(m, np.array([c, d]))
