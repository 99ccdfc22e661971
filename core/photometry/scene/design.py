"""The sparse design matrix of the scene: one column per star (and two for its shift).

Each star contributes its PSF stamp, and while positions are still free the
stamps of the PSF's x and y derivatives, placed at the star's position. Stamps
come from tables of the PSF at 1/16 px phases, corrected to first order in the
remaining offset, so building the matrix is array indexing, not interpolation.
The matrix is assembled directly in CSC form (every column is one contiguous
stamp), which avoids the sort of a COO -> CSC conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..epsf import EffectivePSF
from ..gridpsf.field import PSFField, compress

__all__ = [
    "PHASES",
    "FieldTables",
    "SceneDesign",
    "StampTable",
    "StampTables",
    "build_design",
    "gather",
    "psf_tables",
    "stamp_tables",
]

PHASES = 16
COMPACT_BELOW = 0.5
"""The design's rows are only the covered pixels when fewer than this fraction are.

Renumbering the rows costs four passes over the stored values; LSQR saves
a few passes over the uncovered pixels an iteration. The main passes of a
case B frame cover 77% of the pixels: 15 iterations took 226 ms with the
rows renumbered, 200 ms without (0.9 before).
"""
DERIVATIVE_SIZE = 15  # px: the shift of a star is measured in its core
EAGER_SIZE = 31
"""px: the largest stamp tables of one PSF built with it; larger ones when first asked for.

Only saturated stars and stars of millions of e- get 63 px stamps (none in
case B), yet its table is three quarters of the work of building them all:
a constant PSF's tables took 48 ms with it, 8 ms without, four times a frame.
"""
_H = 1.0 / (4 * PHASES)  # finite-difference step for the derivative stamps


@dataclass(frozen=True)
class StampTable:
    """PSF stamps and their derivatives at every 1/16 px phase, shape (16, 16, S, S).

    Single precision: the design matrix is built from them and LSQR runs in
    single precision anyway; half the memory traffic of its assembly.
    """

    size: int
    p: np.ndarray
    px: np.ndarray
    """Derivative with respect to the star's x (d model / d x0)."""
    py: np.ndarray


def _bspline_taps(u: np.ndarray, n: int, derivative: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The 4 coefficients (indices, and weights 0 beyond ``n``) of a cubic B-spline at each u.

    Also the taps of its derivative with ``derivative``.
    """
    base = np.floor(u).astype(np.intp)
    t = u - base
    if derivative:
        w = np.stack(
            [-0.5 * (1 - t) ** 2, 1.5 * t * t - 2 * t, -1.5 * t * t + t + 0.5, 0.5 * t * t], 1
        )
    else:
        w = np.stack(
            [
                (1 - t) ** 3 / 6,
                (3 * t**3 - 6 * t * t + 4) / 6,
                (-3 * t**3 + 3 * t * t + 3 * t + 1) / 6,
                t**3 / 6,
            ],
            1,
        )
    j = base[:, None] - 1 + np.arange(4)[None, :]
    ok = (j >= 0) & (j < n)
    return np.where(ok, j, 0), np.where(ok, w, 0.0)


def stamp_tables(psf: EffectivePSF, sizes: tuple[int, ...]) -> dict[int, StampTable]:
    """Tables for each stamp size, by separable cubic-spline interpolation.

    A cubic spline on a tensor grid is a weighted sum of 4 coefficients
    along the rows, then 4 along the columns, so a table of 256 phases is
    a few tens of ms even for 63 px stamps (pointwise map_coordinates
    takes seconds; the same sums as dense products with the B-spline weight
    matrices, mostly zeros, took 2.5 times as long). Smaller tables are
    centre crops of the largest.
    """
    big = max(sizes)
    p, px, py = _spline_stamps(psf, big, np.arange(PHASES))
    out = {}
    for s in sizes:
        o = (big - s) // 2
        sl = slice(o, o + s)
        out[s] = StampTable(
            s,
            np.ascontiguousarray(p[:, :, sl, sl], dtype=np.float32),
            np.ascontiguousarray(px[:, :, sl, sl], dtype=np.float32),
            np.ascontiguousarray(py[:, :, sl, sl], dtype=np.float32),
        )
    return out


def _spline_stamps(
    psf: EffectivePSF, big: int, phases: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stamps (P, P, big, big) of ``psf`` and its x and y derivatives at the phase indices
    ``phases`` along each axis (float64), the sums of :func:`stamp_tables`."""
    from scipy.ndimage import spline_filter

    k = psf.oversampling
    coeffs = spline_filter(psf.data, order=3, mode="mirror")
    n = coeffs.shape[0]
    c = (n - 1) / 2
    half = big // 2
    grid = np.arange(-half, half + 1, dtype=np.float64)
    g = -0.5 + (np.asarray(phases) + 0.5) / PHASES
    # u[m, i]: oversampled coordinate of pixel i for a star at phase offset g[m].
    u = (c + (grid[None, :] - g[:, None]) * k).ravel()
    idx, w = _bspline_taps(u, n)
    _, dw = _bspline_taps(u, n, derivative=True)
    dw = -k * dw
    # table[my, mx, i, j] = sum_ab W[my, i, a] C[a, b] W[mx, j, b], W with 4 taps a row.
    rows = coeffs[idx]
    wc = np.einsum("qk,qkb->qb", w, rows)
    dwc = np.einsum("qk,qkb->qb", dw, rows)
    wc_taps = wc[:, idx]
    shape = (len(g), big, len(g), big)
    p, px, py = (
        t.reshape(shape).transpose(0, 2, 1, 3)
        for t in (
            np.einsum("pqk,qk->pq", wc_taps, w),
            np.einsum("pqk,qk->pq", wc_taps, dw),
            np.einsum("pqk,qk->pq", dwc[:, idx], w),
        )
    )
    return p, px, py


class StampTables(dict[int, StampTable]):
    """The stamp tables of one PSF by size; a size not built yet is built when first used.

    Sizes up to :data:`EAGER_SIZE` are built at once; larger ones (the
    saturated stars' 63 px) only for the frames that need them.
    """

    def __init__(self, psf: EffectivePSF, sizes: tuple[int, ...]) -> None:
        eager = tuple(s for s in sizes if s <= EAGER_SIZE) or (min(sizes),)
        super().__init__(stamp_tables(psf, eager))
        self.psf = psf
        self._centres: dict[int, np.ndarray] = {}

    def __missing__(self, size: int) -> StampTable:
        table = stamp_tables(self.psf, (size,))[size]
        self[size] = table
        return table

    def centre_stamp(self, size: int) -> np.ndarray:
        """The ``size`` px stamp (float32) of a star at the central phase, without its table."""
        if size in self:
            return self[size].p[PHASES // 2, PHASES // 2]
        if size not in self._centres:
            p, _, _ = _spline_stamps(self.psf, size, np.array([PHASES // 2]))
            self._centres[size] = p[0, 0].astype(np.float32)
        return self._centres[size]


@dataclass(frozen=True)
class FieldTables:
    """Stamp tables of a field-varying PSF: one set per basis image, weighted per star.

    ``parts[0]`` holds the mean PSF and the other parts the PSF's variation,
    every part at every stamp size. ``centre`` are the tables
    of the widest PSF of the field, for what needs one PSF (stamp sizes,
    the core fraction).
    """

    field: PSFField
    parts: list[dict[int, StampTable]]
    centre: dict[int, StampTable]

    def __getitem__(self, size: int) -> StampTable:
        return self.centre[size]

    def centre_stamp(self, size: int) -> np.ndarray:
        """The widest PSF's ``size`` px stamp (float32) of a star at the central phase."""
        return self.centre[size].p[PHASES // 2, PHASES // 2]

    def weights(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(N, J) weight of each part for stars at (x, y)."""
        return self.field.coefficients(x, y)


Tables = StampTables | FieldTables


def psf_tables(psf: EffectivePSF | PSFField, sizes: tuple[int, ...]) -> Tables:
    """Stamp tables of ``psf``: plain tables for one PSF, :class:`FieldTables` for a varying one."""
    if not isinstance(psf, PSFField) or not psf.varies:
        if isinstance(psf, PSFField):
            psf = psf.at(float(psf.xs[0]), float(psf.ys[0]))
        return StampTables(psf, sizes)
    field = psf
    if psf.kind == "grid":
        # A grid read from a file has its node PSFs as basis; the same PSFs
        # rotated into a basis whose first image is their mean.
        _, _, cube = psf.node_grid()
        basis, weights = compress(cube, tolerance=0.0, max_basis=len(cube))
        gy, gx = len(psf.ys), len(psf.xs)
        field = PSFField(
            basis,
            weights.T.reshape(len(basis), gy, gx),
            psf.xs,
            psf.ys,
            psf.oversampling,
            psf.order,
            psf.kind,
            psf.fwhm,
            psf.n_stars,
            psf.moffat_beta,
            psf.shape,
            psf.meta,
        )
    # Every basis image at every size: the variation's wings beyond 15 px are
    # ~1e-7 of a star's flux a pixel but ~1e-3 of it in all, of one sign over
    # much of the frame. Drawn from the mean PSF alone (zero-padded variation,
    # no memory saved), the 63 px stamps of case FB (2.5 -> 4.5 px) put
    # +0.0007..+0.0010 of the flux beyond 15 px near the centre and -0.0012 in
    # the corners: +0.03 e-/px in the sky's unmasked pixels.
    parts = [stamp_tables(field.basis_psf(k), sizes) for k in range(field.n_basis)]
    # The widest node PSF (largest second moment) stands for the field where
    # one PSF must: stamp sizes are then large enough everywhere.
    xs, ys, cube = psf.node_grid()
    n = cube.shape[1]
    r2 = np.sum((np.indices((n, n)) - (n - 1) / 2) ** 2, axis=0)
    widest = int(np.argmax(np.sum(cube * r2, axis=(1, 2))))
    gx, gy = np.meshgrid(xs, ys)
    centre = stamp_tables(psf.at(float(gx.ravel()[widest]), float(gy.ravel()[widest])), sizes)
    return FieldTables(field, parts, centre)


def gather(
    tables: Tables,
    size: int,
    kind: str,
    my: np.ndarray,
    mx: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Stamps (N, size, size) of kind 'p', 'px' or 'py' at phases (my, mx) of stars at (x, y).

    ``weights`` (the field's (N, J) weights at the stars) saves recomputing them.
    """
    if not isinstance(tables, FieldTables):
        return getattr(tables[size], kind)[my, mx]
    w = tables.weights(x, y) if weights is None else weights
    w = w.astype(np.float32)
    out = w[:, 0, None, None] * getattr(tables.parts[0][size], kind)[my, mx]
    for k in range(1, len(tables.parts)):
        out += w[:, k, None, None] * getattr(tables.parts[k][size], kind)[my, mx]
    return out


def _phase(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest pixel, phase index and the offset left from the phase centre."""
    vi = np.floor(v + 0.5)
    f = v - vi
    m = np.clip(np.floor((f + 0.5) * PHASES), 0, PHASES - 1).astype(np.intp)
    delta = f - (-0.5 + (m + 0.5) / PHASES)
    return vi.astype(np.intp), m, delta


@dataclass
class SceneDesign:
    """The unweighted design matrix in CSC pieces, and where each star's columns are."""

    shape: tuple[int, int]
    rows: np.ndarray
    """Pixel index (flat, int32) of every stored value."""
    vals: np.ndarray
    """Values of the unweighted columns (float32)."""
    indptr: np.ndarray
    col_of_star: np.ndarray
    """(N, 3) column of each star's PSF, x- and y-derivative (-1 when absent)."""
    blocks: list[tuple[int, int, int]]
    """(first column, columns, values per column): runs of equal-size stamps."""
    centres: np.ndarray | None = None
    """(columns, 2) int32 pixel (row, column) at the centre of each column's square stamp."""

    @property
    def n_columns(self) -> int:
        return len(self.indptr) - 1

    def _per_column(self, values: np.ndarray):
        """(first column, 2-D view columns x values) of every block of ``values``."""
        for c0, n, m in self.blocks:
            start = self.indptr[c0]
            yield c0, values[start : start + n * m].reshape(n, m)

    def weighted(
        self, sqrt_w: np.ndarray, dtype: type = np.float64
    ) -> tuple[sp.csc_array, np.ndarray, np.ndarray]:
        """The noise-weighted matrix with unit-norm columns, the norms, and its pixels.

        Only pixels that some stamp covers are rows (LSQR's vectors shrink
        accordingly) unless nearly all are, when the rows are the image's
        pixels (the right-hand side must then be 0 on the uncovered ones:
        :meth:`rhs`); the third value is the covered pixels' flat index. LSQR
        converges in far fewer iterations on a matrix whose columns have equal
        norms (crowdsource's renormalisation). ``dtype`` is the matrix's
        (the norms stay float64).
        """
        npix = self.shape[0] * self.shape[1]
        covered = np.zeros(npix, dtype=bool)
        covered[self.rows] = True
        pixels = np.flatnonzero(covered)
        if len(pixels) > COMPACT_BELOW * npix:
            # Most pixels are covered (a crowded frame): renumbering the
            # rows would cost more than LSQR saves on the empty ones (an
            # empty row with a zero right-hand side changes nothing in
            # LSQR's iterates or its stopping tests).
            rows, n_rows = self.rows, npix
        else:
            compact = np.cumsum(covered, dtype=np.int32)
            compact -= 1
            rows, n_rows = compact[self.rows], len(pixels)
        v, norm = self.unit_columns(sqrt_w)
        # int32 indices: scipy would otherwise copy them down itself.
        mat = sp.csc_array(
            (v.astype(dtype, copy=False), rows, self.indptr.astype(np.int32)),
            shape=(n_rows, self.n_columns),
        )
        return mat, norm, pixels

    def unit_columns(self, sqrt_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The noise-weighted values (float32) scaled to unit-norm columns, and the norms.

        A column without weight keeps norm 1 (its values stay 0).
        """
        v = self.vals * sqrt_w.astype(np.float32).ravel()[self.rows]
        norm = np.ones(self.n_columns)
        for c0, block in self._per_column(v):
            nb = np.sqrt(np.einsum("ij,ij->i", block, block))
            nb[nb == 0] = 1.0
            norm[c0 : c0 + len(nb)] = nb
            block /= nb[:, None]
        return v, norm

    @staticmethod
    def rhs(mat: sp.csc_array, pixels: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The right-hand side (float32) of :meth:`weighted`'s matrix from an image's values."""
        flat = values.ravel()
        if mat.shape[0] == len(pixels):
            return flat[pixels].astype(np.float32)
        b = np.zeros(mat.shape[0], dtype=np.float32)
        b[pixels] = flat[pixels]
        return b

    def column_norms(self, sqrt_w: np.ndarray) -> np.ndarray:
        """Norm of every noise-weighted column (the Fisher information of its coefficient)."""
        v = self.vals * sqrt_w.astype(np.float32).ravel()[self.rows]
        norm = np.zeros(self.n_columns)
        for c0, block in self._per_column(v):
            norm[c0 : c0 + len(block)] = np.sqrt(np.einsum("ij,ij->i", block, block))
        return norm

    def image(self, coef: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
        """Model image ``sum(coef[col] * column)``; only ``columns`` (bool) when given."""
        c = coef if columns is None else np.where(columns, coef, 0.0)
        # scipy's CSC product: one pass over the values, no intermediate
        # array of products (np.bincount took 2.7x longer on case B).
        npix = self.shape[0] * self.shape[1]
        mat = sp.csc_array(
            (self.vals, self.rows, self.indptr.astype(np.int32)), shape=(npix, self.n_columns)
        )
        img = mat @ np.asarray(c, dtype=np.float64)
        return img.reshape(self.shape)


def build_design(
    tables: Tables,
    x: np.ndarray,
    y: np.ndarray,
    sizes: np.ndarray,
    shape: tuple[int, int],
    *,
    derivatives: bool | np.ndarray,
) -> SceneDesign:
    """Assemble the design matrix of stars at (x, y) with the given stamp sizes.

    ``derivatives`` is one flag for all stars or one per star. Stars without
    derivative columns (the final, forced pass; faint stars whose shift the
    data cannot constrain, which only slow LSQR down) have their PSF stamp
    moved to their exact position by the first-order Taylor term of the
    offset left after the 1/16 px phase.
    """
    ny, nx = shape
    n = len(x)
    xi, mx, ddx = _phase(np.asarray(x, dtype=np.float64))
    yi, my, ddy = _phase(np.asarray(y, dtype=np.float64))
    # int32 pixel indices and float32 values (the tables' precision).
    xi, yi = xi.astype(np.int32), yi.astype(np.int32)
    ddx, ddy = ddx.astype(np.float32), ddy.astype(np.float32)
    col_of_star = np.full((n, 3), -1, dtype=np.int64)
    with_deriv = np.broadcast_to(np.asarray(derivatives, dtype=bool), (n,))
    xf = np.asarray(x, dtype=np.float64)
    yf = np.asarray(y, dtype=np.float64)
    star_w = tables.weights(xf, yf) if isinstance(tables, FieldTables) else None
    # The columns in order: per stamp size (ascending), the PSF columns of
    # its stars, then their x- and y-derivative columns (DERIVATIVE_SIZE px
    # at most). Laid out first, so that each is written in place below.
    sizes = np.asarray(sizes, dtype=np.int64)
    runs: list[tuple[int, str, int, np.ndarray]] = []
    # np.unique: a Python set of every star's size cost 70 ms a case B frame.
    for s in np.unique(sizes).tolist():
        in_group = np.flatnonzero(sizes == s)
        moving = in_group[with_deriv[in_group]]
        sd = min(s, DERIVATIVE_SIZE)
        runs += [(s, "p", s, in_group), (s, "px", sd, moving), (s, "py", sd, moving)]
    runs = [run for run in runs if run[3].size]
    cnt = np.repeat(
        np.array([size * size for _, _, size, _ in runs], dtype=np.int64),
        [idx.size for *_, idx in runs],
    )
    indptr = np.concatenate([[0], np.cumsum(cnt)]).astype(np.int64)
    rows = np.empty(indptr[-1], dtype=np.int32)
    vals = np.empty(indptr[-1], dtype=np.float32)
    centres = np.empty((len(cnt), 2), dtype=np.int32)
    blocks: list[tuple[int, int, int]] = []
    col = 0
    for s, kind, size, idx in runs:

        def stamps(kind: str, idx: np.ndarray = idx, s: int = s) -> np.ndarray:
            w = None if star_w is None else star_w[idx]
            return gather(tables, s, kind, my[idx], mx[idx], xf[idx], yf[idx], w)

        half = size // 2
        off = (s - size) // 2
        if kind == "p":
            v = stamps("p")
            taylor = ~with_deriv[idx]
            if taylor.any():
                v += (taylor * ddx[idx])[:, None, None] * stamps("px")
                v += (taylor * ddy[idx])[:, None, None] * stamps("py")
        else:
            v = stamps(kind)[:, off : off + size, off : off + size]
        first, stop = indptr[col], indptr[col + idx.size]
        out_r = rows[first:stop].reshape(idx.size, size, size)
        out_v = vals[first:stop].reshape(idx.size, size, size)
        d = np.arange(-half, half + 1, dtype=np.int32)
        row0 = (yi[idx, None] + d) * nx
        np.add(row0[:, :, None], (xi[idx, None] + d)[:, None, :], out=out_r)
        out_v[...] = v
        # Stamps across the frame's edge: their outside pixels are row 0
        # with value 0.
        edge = np.flatnonzero(
            (yi[idx] < half) | (yi[idx] >= ny - half) | (xi[idx] < half) | (xi[idx] >= nx - half)
        )
        if edge.size:
            r = yi[idx[edge], None, None] + d[None, :, None]
            c = xi[idx[edge], None, None] + d[None, None, :]
            outside = ~((r >= 0) & (r < ny) & (c >= 0) & (c < nx))
            out_r[edge] = np.where(outside, 0, out_r[edge])
            out_v[edge] = np.where(outside, np.float32(0.0), out_v[edge])
        centres[col : col + idx.size] = np.c_[yi[idx], xi[idx]]
        col_of_star[idx, ("p", "px", "py").index(kind)] = col + np.arange(idx.size)
        blocks.append((col, idx.size, size * size))
        col += idx.size
    return SceneDesign(shape, rows, vals, indptr, col_of_star, blocks, centres)
