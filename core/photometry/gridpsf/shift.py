"""Stamps of a field-varying PSF: one combined spline per star, shifted separably.

:meth:`.field.PSFField.stamps` interpolates every basis image at every star's
pixels (``map_coordinates`` once per basis image, J ~16 for a smooth field)
and sums them with the star's weights. The same stamps come out cheaper from
two facts:

- The cubic B-spline coefficients are linear in the image, so the spline of
  the PSF at a star is ``sum_j c_j(x, y) spline(B_j)``: one matrix product
  (BLAS) over the stars that share a window of the oversampled grid.
- A stamp's samples lie on a regular grid ``oversampling`` samples apart, so
  every row (column) of the stamp has the same four cubic weights: the
  interpolation is two strided four-tap sums instead of 16 taps with their
  weights recomputed per pixel.

The values are ``map_coordinates(..., order=3, mode="constant",
prefilter=False)``'s on the combined coefficients (0 outside the image,
mirrored coefficients at its edges), equal to the per-basis sum to rounding.
Written by hand because scipy has no interpolation of many small images
each with its own weights on a shared regular grid.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import spline_filter

from .field import PSFField

__all__ = ["field_stamps"]

_CHUNK = 4_000_000
"""Coefficients (doubles) combined at a time: ~32 MB."""


def _cubic(t: np.ndarray) -> np.ndarray:
    """(N, 4) cubic B-spline weights of samples floor(u) - 1 .. floor(u) + 2 at fractions t."""
    s = 1.0 - t
    t2, t3 = t * t, t * t * t
    return np.stack(
        [s**3 / 6, (3 * t3 - 6 * t2 + 4) / 6, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6, t3 / 6], axis=1
    )


def _padded_splines(field: PSFField, margin: int) -> tuple[int, np.ndarray]:
    """(J, n + 2 m, n + 2 m) spline coefficients mirrored beyond the edges, and m >= ``margin``.

    Kept on the field (a frozen dataclass holds it in its ``__dict__``).
    """
    cached = field.__dict__.get("_shift_splines")
    if cached is not None and cached[0] >= margin:
        return cached
    n = field.basis.shape[1]
    idx = np.abs(np.arange(-margin, n + margin))
    idx = np.where(idx > n - 1, 2 * (n - 1) - idx, idx)
    idx = np.clip(idx, 0, n - 1)  # beyond one reflection: samples there are masked anyway
    splines = np.stack([spline_filter(b, order=3) for b in field.basis])
    cached = (margin, np.ascontiguousarray(splines[:, idx][:, :, idx]))
    object.__setattr__(field, "_shift_splines", cached)
    return cached


def field_stamps(
    field: PSFField, size: int, dx: np.ndarray, dy: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Stamps (N, size, size) of unit stars at offsets (dx, dy), each with the PSF of its (x, y).

    Equal (to rounding) to :meth:`PSFField.stamps`; see the module docstring.
    """
    dx = np.atleast_1d(np.asarray(dx, dtype=np.float64))
    dy = np.atleast_1d(np.asarray(dy, dtype=np.float64))
    n_stars = len(dx)
    out = np.zeros((n_stars, size, size))
    if n_stars == 0:
        return out
    k = field.oversampling
    n = field.basis.shape[1]
    c = (n - 1) / 2
    half = size // 2
    grid = np.arange(-half, half + 1, dtype=np.float64)
    # The first sample of each star's stamp on the oversampled grid, its
    # integer part and fraction (the same fraction for every row: k is whole).
    u0 = c + (-half - dx) * k
    v0 = c + (-half - dy) * k
    iu, iv = np.floor(u0).astype(np.intp), np.floor(v0).astype(np.intp)
    wu, wv = _cubic(u0 - iu), _cubic(v0 - iv)
    # Samples outside the image are 0 (map_coordinates' mode="constant").
    u = c + (grid[None, :] - dx[:, None]) * k
    v = c + (grid[None, :] - dy[:, None]) * k
    in_u = (u >= 0) & (u <= n - 1)
    in_v = (v >= 0) & (v <= n - 1)
    width = (size - 1) * k + 4
    margin = int(max(0, -(min(iu.min(), iv.min()) - 1), max(iu.max(), iv.max()) + width - n)) + 1
    margin, padded = _padded_splines(field, margin)
    j = padded.shape[0]
    coeff = field.coefficients(x, y)
    keys = (iv - iv.min()) * (iu.max() - iu.min() + 1) + (iu - iu.min())
    order = np.argsort(keys, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(keys[order]) != 0, True])
    chunk = max(1, _CHUNK // (width * width))
    for a, b in zip(starts[:-1], starts[1:], strict=True):
        first = order[a]
        r0 = iv[first] - 1 + margin
        q0 = iu[first] - 1 + margin
        window = padded[:, r0 : r0 + width, q0 : q0 + width].reshape(j, -1)
        for lo in range(a, b, chunk):
            sel = order[lo : min(lo + chunk, b)]
            comb = (coeff[sel] @ window).reshape(len(sel), width, width)
            # Rows: sample i takes window rows i k + 0..3 with the star's weights wv.
            rows = sum(
                wv[sel, t, None, None] * comb[:, t : t + (size - 1) * k + 1 : k, :]
                for t in range(4)
            )
            vals = sum(
                wu[sel, t, None, None] * rows[:, :, t : t + (size - 1) * k + 1 : k]
                for t in range(4)
            )
            out[sel] = vals * (in_v[sel, :, None] & in_u[sel, None, :])
    return out
