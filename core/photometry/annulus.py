"""Sigma-clipped sky in circular annuli around many stars at once.

Written by hand because photutils' ``ApertureStats`` sigma-clips each star's
annulus in its own Python call: on a 1024^2 frame with 400 stars that was
~1 s per call and the largest cost of aperture photometry. Here the annulus
pixels of a block of stars are gathered into one array and each row is sorted
once: a sigma clip keeps a contiguous run of a sorted row, so every clipping
iteration is a count against two bounds and the median and the standard
deviation come from the run's ends and prefix sums. The result is that of
``SigmaClip(sigma, maxiters, cenfunc='median', stdfunc='std')`` on the pixels
whose centres fall in the annulus (photutils' "center" method).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..runtime.sparse import sparse_nonzero

__all__ = ["AnnulusSky", "FramePixels", "SkyMemo", "annulus_sky"]

# Stars per block: bounds the gathered array to a few tens of MB.
_BLOCK_PIXELS = 2_000_000


@dataclass(frozen=True)
class AnnulusSky:
    """Clipped statistics of each star's annulus."""

    median: np.ndarray
    """Sigma-clipped median (NaN when no pixel is left)."""
    std: np.ndarray
    """Standard deviation of the kept pixels (ddof 0)."""
    n_pixels: np.ndarray
    """Number of kept pixels."""


def annulus_sky(
    data: np.ndarray,
    bad: np.ndarray,
    positions: np.ndarray,
    r_in: float,
    r_out: float,
    *,
    sigma: float = 3.0,
    maxiters: int = 5,
    source: np.ndarray | None = None,
    scale: float = 1.0,
) -> AnnulusSky:
    """Sigma-clipped median and scatter of the pixels in annuli around ``positions``.

    Parameters
    ----------
    data : ndarray
        The frame.
    bad : ndarray of bool
        Pixels left out (masked, not finite, neighbours).
    positions : ndarray, shape (N, 2)
        0-based (x, y) centres.
    r_in, r_out : float
        Annulus radii (px).
    sigma : float
        Clipping threshold in standard deviations, both sides.
    maxiters : int
        At most this many clipping passes.
    source, scale : ndarray of float32 and float, optional
        ``data`` as it was made: ``source`` (float32) times ``scale`` in
        float64, wherever ``bad`` is not set (see :meth:`SkyMemo.prepared`).
        The annuli are then gathered and sorted in float32 and scaled once
        sorted: the same numbers in the same order (scaling a float32 in
        float64 is exact and monotonic), at less than half the cost of
        sorting them in float64, the larger part of the sky's time.

    Returns
    -------
    AnnulusSky
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    n = len(pos)
    half = int(np.ceil(r_out)) + 1
    # The pixels are read where they are: a padded copy of the whole frame
    # (to read boxes that cross its edge) cost more than the annuli.
    if source is not None:
        frame = np.ascontiguousarray(source)
        if frame.dtype != np.float32 or frame.shape != np.shape(data):
            raise ValueError("an annulus source is float32 of the frame's shape")
    else:
        frame = np.ascontiguousarray(data, dtype=np.float64)
        scale = 1.0
    excluded = np.ascontiguousarray(bad, dtype=bool)
    offsets = np.arange(-half, half + 1)
    oy, ox = (a.ravel() for a in np.meshgrid(offsets, offsets, indexing="ij"))
    # Only the box pixels that can be in the annulus of a centre within half a
    # pixel of the box's centre pixel (the sort below is most of the cost and
    # scales with the row's length: the ring is 40% of its box).
    reach = np.hypot(ox, oy)
    ring = (reach + np.sqrt(0.5) >= r_in) & (reach - np.sqrt(0.5) <= r_out)
    # Box pixels in the annulus whatever the centre's place in its pixel (with
    # a margin far above rounding): only the others are tested star by star.
    sure = (reach - 0.71 >= r_in) & (reach + 0.71 <= r_out)
    median = np.full(n, np.nan)
    std = np.full(n, np.nan)
    count = np.zeros(n, dtype=np.int64)
    finite = np.all(np.isfinite(pos), axis=1)
    step = max(1, _BLOCK_PIXELS // len(ox))
    limit = np.array(frame.shape) - 1
    for start in range(0, n, step):
        idx = np.flatnonzero(finite[start : start + step]) + start
        if idx.size == 0:
            continue
        # A centre off the frame gathers the nearest box; the offsets below
        # stay exact, so only its annulus's pixels off the frame are missing.
        # Its annulus may then lie anywhere in the box: it gathers all of it.
        xi = np.clip(np.rint(pos[idx, 0]).astype(np.int64), 0, limit[1])
        yi = np.clip(np.rint(pos[idx, 1]).astype(np.int64), 0, limit[0])
        near = (np.abs(xi - pos[idx, 0]) <= 0.5) & (np.abs(yi - pos[idx, 1]) <= 0.5)
        for rows, keep in ((near, ring), (~near, slice(None))):
            if not rows.any():
                continue
            certain = sure[keep] if keep is ring else np.zeros(len(ox), bool)
            values = _gather(frame, excluded, pos[idx[rows]], xi[rows], yi[rows], ox[keep],
                             oy[keep], certain, r_in, r_out)  # fmt: skip
            m, s, c = _clipped_rows(values, sigma, maxiters, scale)
            median[idx[rows]], std[idx[rows]], count[idx[rows]] = m, s, c
    return AnnulusSky(median=median, std=std, n_pixels=count)


@dataclass(frozen=True)
class FramePixels:
    """A frame's pixels as aperture sums and sky annuli read them.

    Attributes
    ----------
    clean : ndarray
        The frame, 0 at bad pixels (float64).
    bad : ndarray of bool
        Masked or not finite.
    sky_bad : ndarray of bool
        Left out of the sky annuli: ``bad`` and the sky mask.
    source : ndarray of float32, optional
        The float32 frame ``clean`` was made from, as ``source * scale`` in
        float64 at the good pixels (:func:`annulus_sky` sorts it instead).
    scale : float
    """

    clean: np.ndarray
    bad: np.ndarray
    sky_bad: np.ndarray
    source: np.ndarray | None = None
    scale: float = 1.0
    _made: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(
        cls, data: np.ndarray, mask: np.ndarray | None, sky_mask: np.ndarray | None = None
    ) -> FramePixels:
        """The arrays of ``data`` with ``mask`` (bad pixels) and ``sky_mask``."""
        data = np.asarray(data, dtype=np.float64)
        bad = ~np.isfinite(data)
        if mask is not None:
            bad |= np.asarray(mask).astype(bool)
        clean = np.where(bad, 0.0, data)
        sky_bad = bad if sky_mask is None else (bad | np.asarray(sky_mask, dtype=bool))
        return cls(clean, bad, sky_bad)

    @property
    def valid(self) -> np.ndarray:
        """True at good pixels (bool: aperture areas sum it as 1 and 0)."""
        if "valid" not in self._made:
            self._made["valid"] = ~self.bad
        return self._made["valid"]

    @property
    def bad_blocks(self) -> np.ndarray:
        """Whether each 8x8 block of pixels holds a bad one (bool, ``ceil(shape / 8)``).

        Block ``(i, j)`` covers rows ``8i .. 8i + 7`` and columns ``8j .. 8j + 7``.
        A box test over these blocks reads 64 times fewer values than over
        ``bad`` (aperture areas test each star's box at every radius).
        """
        if "bad_blocks" not in self._made:
            self._made["bad_blocks"] = _any_in_blocks(self.bad)
        return self._made["bad_blocks"]

    def at_or_above(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the good pixels at or above ``level`` (e.g. saturated)."""
        key = ("at_or_above", float(level))
        if key not in self._made:
            # The few pixels at the level first, then their mask (not the whole frame's).
            rows, cols = self._at_or_above(float(level))
            good = ~self.bad[rows, cols]
            self._made[key] = (rows[good], cols[good])
        return self._made[key]

    def _at_or_above(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """``np.nonzero(self.clean >= level)`` at the good pixels and maybe some bad ones."""
        t = level / self.scale if self.source is not None and self.scale > 0 else np.inf
        if not abs(t) < 1e30:
            rows, cols = np.nonzero(self.clean >= level)
            return rows, cols
        # Half the bytes: the float32 frame screened a millionth below the level
        # (every pixel whose electrons reach it passes), then the exact test.
        low = np.nextafter(np.float32(t - abs(t) * 1e-6), np.float32(-np.inf))
        rows, cols = sparse_nonzero(self.source >= low)
        exact = self.clean[rows, cols] >= level
        return rows[exact], cols[exact]


def _any_in_blocks(bad: np.ndarray) -> np.ndarray:
    """``bad`` OR-reduced over 8x8 blocks (the edge blocks cover what is left)."""
    ny, nx = bad.shape
    if ny % 8 == 0 and nx % 8 == 0 and bad.dtype == bool and bad.flags.c_contiguous:
        # A row's 8 bools (0 or 1 bytes) read as one uint64: the 8 columns are
        # OR-ed for free, and the rows reduce over a 64th of the frame's bytes
        # (a reshape-and-any over the bools was ~30 times slower).
        words = bad.view(np.uint64).reshape(ny // 8, 8, nx // 8)
        return np.bitwise_or.reduce(words, axis=1) != 0
    padded = np.pad(bad.astype(bool), ((0, -ny % 8), (0, -nx % 8)))
    blocks = padded.reshape(padded.shape[0] // 8, 8, padded.shape[1] // 8, 8)
    return np.any(blocks, axis=(1, 3))


class SkyMemo:
    """Each star's annulus sky of one frame, computed once for every caller.

    The curve of growth and the final apertures measure the sky of mostly
    the same stars in the same annuli of the same pixels (on a simulated
    1024^2 light, two calls of :func:`annulus_sky` were half of the aperture
    method's time). A star's statistics depend on its own annulus's pixels
    only, so the rows found here are the ones a new call would give, to the
    last bit.

    A memo belongs to one image, bad-pixel map and sky mask: make a new one
    for another frame or mask.
    """

    def __init__(self) -> None:
        # Per (r_in, r_out, sigma, maxiters): the stars measured, as sorted x + iy
        # keys, and their statistics in the same order.
        self._rows: dict[tuple[float, ...], tuple[np.ndarray, AnnulusSky]] = {}
        self._pixels: dict[tuple[int, int, int], tuple[object, ...]] = {}

    def prepared(
        self,
        clean: np.ndarray,
        bad: np.ndarray,
        sky_mask: np.ndarray | None = None,
        *,
        source: np.ndarray | None = None,
        scale: float = 1.0,
    ) -> None:
        """Say that ``clean`` (float64) is finite and 0 wherever ``bad`` is set.

        :meth:`pixels` of these arrays then takes them as they are: the same
        arrays :meth:`FramePixels.of` would make, without copying the frame.
        ``source``, when given, is the float32 frame that ``clean`` is
        ``np.asarray(source, np.float64) * scale`` of at every good pixel (a
        calibrated frame in ADU, ``clean`` in electrons): the annulus skies
        sort it instead (:func:`annulus_sky`).
        """
        clean = np.asarray(clean)
        bad = np.asarray(bad, dtype=bool)
        if clean.dtype != np.float64 or clean.shape != bad.shape:
            raise ValueError("a prepared frame is float64 with a mask of its shape")
        if source is not None:
            source = np.asarray(source)
            if source.dtype != np.float32 or source.shape != clean.shape:
                source = None  # only a float32 frame sorts faster
        sky_bad = bad if sky_mask is None else (bad | np.asarray(sky_mask, dtype=bool))
        key = (id(clean), id(bad), id(sky_mask))
        pixels = FramePixels(clean, bad, sky_bad, source, float(scale))
        self._pixels[key] = (pixels, clean, bad, sky_mask, source)

    def pixels(
        self, data: np.ndarray, mask: np.ndarray | None, sky_mask: np.ndarray | None
    ) -> FramePixels:
        """:meth:`FramePixels.of` these arrays, made on the first call only.

        Known by the arrays' identity (the callers hand the same ones over):
        the frame's cleaned copy and masks cost as much as a call's sums.
        """
        key = (id(data), id(mask), id(sky_mask))
        hit = self._pixels.get(key)
        if hit is None:
            # The arrays are kept with their pixels, so that their ids stay theirs.
            hit = (FramePixels.of(data, mask, sky_mask), data, mask, sky_mask)
            self._pixels[key] = hit
        pixels = hit[0]
        assert isinstance(pixels, FramePixels)
        return pixels

    def sky(
        self,
        data: np.ndarray,
        bad: np.ndarray,
        positions: np.ndarray,
        r_in: float,
        r_out: float,
        *,
        sigma: float = 3.0,
        maxiters: int = 5,
        at: np.ndarray | None = None,
        source: np.ndarray | None = None,
        scale: float = 1.0,
    ) -> AnnulusSky:
        """:func:`annulus_sky` of ``positions``; stars measured before are not measured again.

        ``data`` and ``bad`` may be a cut-out of the frame (holding every
        annulus whole); ``at`` then gives the stars' positions in the frame,
        by which they are known. ``source`` and ``scale`` as for :func:`annulus_sky`.
        """
        pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
        frame_xy = pos if at is None else np.asarray(at, dtype=np.float64).reshape(-1, 2)
        settings = (float(r_in), float(r_out), float(sigma), float(maxiters))
        # A star is known by its frame position, compared as numbers (a NaN one
        # never matches and is measured each time), all looked up at once by a
        # binary search of the sorted keys rather than a dictionary entry each
        # (a few thousand stars of a 4096^2 frame cost more than their sky).
        keys = frame_xy[:, 0] + 1j * frame_xy[:, 1]
        stored = self._rows.get(settings)
        found = _lookup(stored[0], keys) if stored is not None else np.full(len(keys), -1)
        have = found >= 0
        median, std = np.empty(len(keys)), np.empty(len(keys))
        count = np.empty(len(keys), np.int64)
        if stored is not None and have.any():
            rows = stored[1]
            median[have], std[have] = rows.median[found[have]], rows.std[found[have]]
            count[have] = rows.n_pixels[found[have]]
        missing = np.flatnonzero(~have)
        if missing.size:
            fresh = annulus_sky(
                data, bad, pos[missing], r_in, r_out, sigma=sigma, maxiters=maxiters,
                source=source, scale=scale,
            )  # fmt: skip
            median[missing], std[missing], count[missing] = fresh.median, fresh.std, fresh.n_pixels
            self._keep(settings, keys[missing], fresh)
        return AnnulusSky(median=median, std=std, n_pixels=count)

    def _keep(self, settings: tuple[float, ...], keys: np.ndarray, rows: AnnulusSky) -> None:
        """Add the rows of the stars at ``keys`` (x + iy) to those kept for ``settings``."""
        ok = np.isfinite(keys)
        parts = [(keys[ok], rows.median[ok], rows.std[ok], rows.n_pixels[ok])]
        if settings in self._rows:
            old_keys, old = self._rows[settings]
            parts.insert(0, (old_keys, old.median, old.std, old.n_pixels))
        k, m, s, c = (np.concatenate(a) for a in zip(*parts, strict=True))
        order = np.argsort(k, kind="stable")
        self._rows[settings] = (k[order], AnnulusSky(m[order], s[order], c[order]))


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Index of each of ``keys`` in ``sorted_keys`` (complex, sorted), -1 where absent."""
    if sorted_keys.size == 0 or keys.size == 0:
        return np.full(keys.size, -1, np.int64)
    at = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return np.where(sorted_keys[at] == keys, at, -1)


def _gather(
    frame: np.ndarray,
    bad: np.ndarray,
    pos: np.ndarray,
    xi: np.ndarray,
    yi: np.ndarray,
    ox: np.ndarray,
    oy: np.ndarray,
    sure: np.ndarray,
    r_in: float,
    r_out: float,
) -> np.ndarray:
    """Pixels at offsets (ox, oy) from each box centre (xi, yi), NaN outside the annulus,
    where ``bad`` or off the frame; offsets where ``sure`` are in every annulus."""
    ny, nx = frame.shape
    # One flat index per pixel: a fraction of the cost of a pair of 2-D index arrays.
    flat = (yi * nx + xi)[:, None] + (oy * nx + ox)[None, :]
    reach = max(int(np.max(np.abs(ox), initial=0)), int(np.max(np.abs(oy), initial=0)))
    edge = np.flatnonzero((xi < reach) | (xi >= nx - reach) | (yi < reach) | (yi >= ny - reach))
    off_frame = None
    if edge.size:
        rows = yi[edge, None] + oy[None, :]
        cols = xi[edge, None] + ox[None, :]
        off_frame = (rows < 0) | (rows >= ny) | (cols < 0) | (cols >= nx)
        flat[edge] = np.clip(rows, 0, ny - 1) * nx + np.clip(cols, 0, nx - 1)
    # The pixels taken as they are and the left-out ones set to NaN in place:
    # a mask of the kept ones built up and a np.where over every gathered
    # pixel cost a third of the gathering (the same values either way).
    values = frame.ravel().take(flat)
    left_out = bad.ravel().take(flat)
    test = np.flatnonzero(~sure)
    if test.size:
        dx = ox[None, test] + (xi - pos[:, 0])[:, None]
        dy = oy[None, test] + (yi - pos[:, 1])[:, None]
        r2 = dx * dx + dy * dy
        left_out[:, test] |= (r2 < r_in * r_in) | (r2 > r_out * r_out)
    if off_frame is not None:
        left_out[edge] |= off_frame
    values[left_out] = np.nan
    return values


def _clipped_rows(
    values: np.ndarray, sigma: float, maxiters: int, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sigma-clipped median, std and count of each row (NaNs ignored).

    float32 ``values`` are sorted as they are, then taken to float64 and
    multiplied by ``scale``: the rows of ``values * scale`` in float64, sorted.
    """
    v = np.sort(values, axis=1)  # NaNs go last
    if v.dtype == np.float32:
        # Each value taken to float64, then scaled: as the frame in electrons was made.
        v = np.multiply(v, scale, dtype=np.float64)
    n_rows, width = v.shape
    valid = np.sum(np.isfinite(v), axis=1)
    # Prefix sums about a row's first median, so that the variance does not
    # cancel catastrophically on a bright sky.
    ref = _run_median(v, np.zeros(n_rows, np.int64), valid)
    ref = np.where(np.isfinite(ref), ref, 0.0)
    # The NaNs, last in each row, make the prefix sums NaN only past a row's
    # valid count, where no bound below ever reads them.
    d = v - ref[:, None]
    c1 = np.zeros((n_rows, width + 1))
    c2 = np.zeros((n_rows, width + 1))
    np.cumsum(d, axis=1, out=c1[:, 1:])
    np.multiply(d, d, out=d)
    np.cumsum(d, axis=1, out=c2[:, 1:])
    lo = np.zeros(n_rows, dtype=np.int64)
    hi = valid.copy()
    rows = np.arange(n_rows)
    for _ in range(maxiters):
        k = hi - lo
        med = _run_median(v, lo, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (c1[rows, hi] - c1[rows, lo]) / k
            var = np.maximum((c2[rows, hi] - c2[rows, lo]) / k - mean * mean, 0.0)
        sd = np.sqrt(var)
        lower = med - sigma * sd
        upper = med + sigma * sd
        new_lo = _count_below(v, valid, lower, strict=True)
        new_hi = _count_below(v, valid, upper, strict=False)
        # Clipped pixels stay clipped (as astropy's SigmaClip iterates).
        new_lo = np.where(k > 0, np.maximum(new_lo, lo), lo)
        new_hi = np.where(k > 0, np.maximum(np.minimum(new_hi, hi), new_lo), hi)
        if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi):
            break
        lo, hi = new_lo, new_hi
    k = hi - lo
    med = _run_median(v, lo, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (c1[rows, hi] - c1[rows, lo]) / k
        var = np.maximum((c2[rows, hi] - c2[rows, lo]) / k - mean * mean, 0.0)
    sd = np.where(k > 0, np.sqrt(var), np.nan)
    return med, sd, k


def _count_below(
    v: np.ndarray, valid: np.ndarray, bound: np.ndarray, *, strict: bool
) -> np.ndarray:
    """How many of each sorted row's ``valid`` first values are below (or at) its bound.

    ``np.sum(v < bound[:, None], axis=1)`` (``<=`` when not ``strict``; NaNs,
    last in each row, and a NaN bound count nothing), by a binary search of
    all rows at once: a few steps over the rows instead of passes over every
    pixel of every annulus.
    """
    rows = np.arange(len(v))
    lo = np.zeros(len(v), dtype=np.int64)
    hi = np.asarray(valid, dtype=np.int64).copy()
    with np.errstate(invalid="ignore"):
        while True:
            open_ = lo < hi
            if not open_.any():
                return lo
            mid = (lo + hi) // 2
            value = v[rows, np.minimum(mid, v.shape[1] - 1)]
            below = (value < bound) if strict else (value <= bound)
            below &= open_
            lo = np.where(below, mid + 1, lo)
            hi = np.where(below | ~open_, hi, mid)


def _run_median(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Median of the sorted run v[i, lo[i]:hi[i]] of each row (NaN when empty)."""
    k = hi - lo
    rows = np.arange(len(v))
    a = np.clip(lo + (k - 1) // 2, 0, v.shape[1] - 1)
    b = np.clip(lo + k // 2, 0, v.shape[1] - 1)
    return np.where(k > 0, 0.5 * (v[rows, a] + v[rows, b]), np.nan)
