"""L.A.Cosmic where a cosmic ray can be: astroscrappy on cut-outs around the sharp pixels.

astroscrappy's L.A.Cosmic filters the whole frame with several median
filters per iteration (0.8 s of CPU a 1024^2 frame and iteration), about
thirty times the cost of finding and measuring the frame's stars. Yet every
decision it takes is local: a pixel is a cosmic ray's core only when its
Laplacian of the 2x subsampled image (L+) stands ``sigclip`` times above the
local noise *and* ``objlim`` times above the fine structure; hits then grow
into neighbours and a second iteration looks again next to cleaned pixels.

So the frame is first screened cheaply for pixels that could pass both tests
(:func:`core_candidates`: a bound of L+ over the whole frame with numpy, L+
and astroscrappy's own separable medians only at the few pixels left;
:func:`laplacian_plus` is L+ of a whole frame), and astroscrappy itself runs
on cut-outs around them, with enough frame around each cut-out that its
filters see what they would see on the whole frame. On simulated frames the
mask is the whole-frame mask pixel for pixel, at a tenth of the cost.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import astroscrappy
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import DTypeLike
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..runtime.threads import single_thread
from .median import _network, pruned

__all__ = [
    "core_candidates",
    "detect_cosmics_near",
    "reflect_pad",
    "scratch_frame",
    "whole_frame_cosmics",
]

# The screen keeps pixels this much below each threshold: its L+ rounds a
# little differently from astroscrappy's (1e-3 e- in thousands).
_SLACK = 0.99
# More cut-out area than this fraction of the frame: one run on the whole frame is cheaper.
_MAX_AREA = 0.5
# Pixels of a band of the frame screened at once (its float32 scratch arrays fit in cache).
_BAND_PIXELS = 65536


def laplacian_plus(image: np.ndarray) -> np.ndarray:
    """L.A.Cosmic's L+: the Laplacian of the 2x subsampled image, negatives clipped, rebinned.

    On the subsampled grid each sub-pixel's Laplacian is ``2 p`` minus one
    vertical and one horizontal neighbour in the original grid (its other two
    neighbours are copies of itself), so the rebinned L+ is the mean of the
    four clipped combinations; no subsampled image is made.
    """
    p = np.pad(np.asarray(image, dtype=np.float32), 1, mode="edge")
    centre = 2.0 * p[1:-1, 1:-1]
    out = np.zeros(centre.shape, np.float32)
    less_v = np.empty_like(out)
    term = np.empty_like(out)
    # The same arithmetic as (centre - vertical - horizontal), into reused buffers.
    for vertical in (p[:-2, 1:-1], p[2:, 1:-1]):
        np.subtract(centre, vertical, out=less_v)
        for horizontal in (p[1:-1, :-2], p[1:-1, 2:]):
            np.subtract(less_v, horizontal, out=term)
            np.maximum(term, 0.0, out=term)
            out += term
    out *= np.float32(0.25)
    return out


_SCRATCH = threading.local()


def scratch_frame(name: str, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
    """This thread's scratch frame ``name``, kept from one call to the next (contents undefined).

    A new frame of 4096^2 float32 is 64 MB of fresh pages, each faulted in
    and zeroed by the system as it is first written: that cost more than
    the arithmetic that fills the screen's padded frames. A scratch frame
    belongs to the thread that made it and lives as long as it (a worker
    keeps one of each size it calibrates); only the frames' own calls use
    them, and never two at once.
    """
    frames = getattr(_SCRATCH, "frames", None)
    if frames is None:
        frames = _SCRATCH.frames = {}
    frame = frames.get(name)
    if frame is None or frame.shape != tuple(shape) or frame.dtype != np.dtype(dtype):
        frames[name] = None  # the old one goes before the new one is made
        frame = frames[name] = np.empty(shape, dtype)
    return frame


def reflect_pad(
    image: np.ndarray,
    width: int,
    *,
    fill: float | np.floating | None = None,
    where: np.ndarray | None = None,
    scratch: str | None = None,
) -> np.ndarray:
    """``np.pad(np.where(where, fill, image), width, mode="reflect")``, one new frame written once.

    Without ``where``, ``np.pad(image, width, mode="reflect")``. np.pad pads
    each axis in turn (rows over the inner columns, then columns over all
    rows); the same copies here, so the corners are the same pixels. With
    ``scratch``, written into that :func:`scratch_frame` (valid until its
    next use) instead of a new frame.
    """
    if where is not None and fill is None:
        raise ValueError("reflect_pad: a mask of pixels to fill needs the fill value")
    value = 0.0 if fill is None else fill  # used only with ``where``, which needs ``fill``
    p = int(width)
    ny, nx = image.shape
    if p == 0 or min(ny, nx) <= p:
        # Narrower than the border: np.pad reflects more than once.
        filled = image if where is None else np.where(where, value, image).astype(image.dtype)
        return np.pad(filled, p, mode="reflect")
    shape = (ny + 2 * p, nx + 2 * p)
    if scratch is None:
        out = np.empty(shape, image.dtype)
    else:
        out = scratch_frame(scratch, shape, image.dtype)
    core = out[p:-p, p:-p]
    core[...] = image
    if where is not None:
        np.copyto(core, value, where=where)
    out[:p, p:-p] = core[p:0:-1]
    out[-p:, p:-p] = core[-2 : -p - 2 : -1]
    out[:, :p] = out[:, 2 * p : p : -1]
    out[:, -p:] = out[:, -p - 2 : -2 * p - 2 : -1]
    return out


def _edge_pad_one(image: np.ndarray, gain: np.float32) -> np.ndarray:
    """``np.pad(image * gain, 1, mode="edge")``, the product written into the padded frame
    (this thread's scratch frame ``'electrons'``: valid until the next call)."""
    ny, nx = image.shape
    out = scratch_frame("electrons", (ny + 2, nx + 2), np.float32)
    np.multiply(image, gain, out=out[1:-1, 1:-1])
    out[0, 1:-1] = out[1, 1:-1]
    out[-1, 1:-1] = out[-2, 1:-1]
    out[:, 0] = out[:, 1]
    out[:, -1] = out[:, -2]
    return out


def _laplacian_at(padded: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """:func:`laplacian_plus` at (y, x) only, to the bit; ``padded`` is the image padded
    by one pixel as it pads it (edge values)."""
    centre = 2.0 * padded[y + 1, x + 1]
    out = np.zeros(centre.shape, np.float32)
    for vertical in (padded[y, x + 1], padded[y + 2, x + 1]):
        less_v = centre - vertical
        for horizontal in (padded[y + 1, x], padded[y + 1, x + 2]):
            out += np.maximum(less_v - horizontal, 0.0)
    out *= np.float32(0.25)
    return out


def _laplacian_bound(padded: np.ndarray) -> np.ndarray:
    """An upper bound of :func:`laplacian_plus` at every pixel, at a third of its cost.

    Each of L+'s four clipped terms is at most ``2 p`` less the smaller
    vertical and the smaller horizontal neighbour (float rounding is
    monotonic), so their mean is too, within the rounding of the sum.
    """
    bound = np.multiply(padded[1:-1, 1:-1], padded.dtype.type(2.0))
    # One scratch frame for both minima (a new one each is a new page-faulted frame).
    smaller = np.minimum(padded[:-2, 1:-1], padded[2:, 1:-1])
    bound -= smaller
    np.minimum(padded[1:-1, :-2], padded[1:-1, 2:], out=smaller)
    bound -= smaller
    return bound


def _bound_passes(
    padded: np.ndarray, bad: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(y, x) of the good pixels whose :func:`_laplacian_bound` exceeds ``threshold``, row by row.

    Bands of rows whose scratch arrays stay in the processor's cache: the
    whole frame's bound, comparison and mask, each a frame of its own, cost
    several times as much on a busy machine. The same pixels in the same order.
    """
    ny, nx = padded.shape[0] - 2, padded.shape[1] - 2
    band = max(1, _BAND_PIXELS // max(nx, 1))
    found_y, found_x = [], []
    for y0 in range(0, ny, band):
        y1 = min(y0 + band, ny)
        flat = np.flatnonzero(_laplacian_bound(padded[y0 : y1 + 2]) > threshold)
        rows, cols = np.divmod(flat, nx)
        rows += y0
        good = ~bad[rows, cols]
        found_y.append(rows[good])
        found_x.append(cols[good])
    if not found_y:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(found_y), np.concatenate(found_x)


def _separable_medians(
    image: np.ndarray,
    y: np.ndarray,
    x: np.ndarray,
    size: int,
    reach: int,
    add: np.float32 | None = None,
) -> np.ndarray:
    """astroscrappy's separable ``size`` median filter at the pixels within ``reach`` of (y, x).

    Its filters take the median of ``size`` pixels along each row, then the
    median of those along each column (``sepmedfilt5/7/9``, the default
    ``sepmed=True``); the same numbers here, only where they are needed.
    Pixels beyond the frame's edge are its edge's (a padded frame's 'edge'
    mode, read through clipped indices rather than a padded copy of the
    frame). ``image`` is finite; ``add`` is added to its pixels (those of
    ``image + add``, without making that frame). Returns an array (n, 2 reach + 1, 2 reach + 1)
    centred on each pixel.
    """
    half = reach + size // 2
    ny, nx = image.shape
    steps = np.arange(-half, half + 1)
    rows = np.clip(y[:, None] + steps[None, :], 0, ny - 1)
    cols = np.clip(x[:, None] + steps[None, :], 0, nx - 1)
    around = image[rows[:, :, None], cols[:, None, :]]
    if add is not None:
        around += add
    along = _odd_median(sliding_window_view(around, size, axis=2))
    return _odd_median(sliding_window_view(along, size, axis=1))


# Median-selection networks (compare-exchange pairs, min to the first; Paeth's and
# Devillard's, as astroscrappy's own optmed5/7/9): 7, 13 and 19 exchanges for 5,
# 7 and 9 values where a bubble sort stopped halfway takes 9, 18 and 30.
_NETWORKS = {
    5: ((0, 1), (3, 4), (0, 3), (1, 4), (1, 2), (2, 3), (1, 2)),
    7: ((0, 5), (0, 3), (1, 6), (2, 4), (0, 1), (3, 5), (2, 6), (2, 3), (3, 6), (4, 5),
        (1, 4), (1, 3), (3, 4)),
    9: ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
        (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2)),
}  # fmt: skip


@lru_cache(maxsize=16)
def _live_steps(size: int) -> tuple[tuple[int, int, bool, bool], ...]:
    """The exchanges of ``size``'s network that lead to its median, and which of
    their two outputs (min, max) is read later: the others are not computed."""
    if size not in _NETWORKS:
        return _network(size)  # Batcher's, pruned alike
    return pruned(_NETWORKS[size], {size // 2})


def _odd_median(values: np.ndarray) -> np.ndarray:
    """``np.median(values, axis=-1)`` of finite values in odd numbers, to the bit.

    The middle value by a median-selection network (:data:`_NETWORKS`), in
    element-wise minima and maxima over all rows at once: numpy's median
    partitions each short row in its own call, ten times the cost for the 5
    to 9 values of astroscrappy's filters. A network only moves values, so
    the median is one of them, whichever network finds it.
    """
    size = values.shape[-1]
    cols = [values[..., j] for j in range(size)]
    for i, j, low, high in _live_steps(size):
        a, b = cols[i], cols[j]
        if low:
            cols[i] = np.minimum(a, b)
        if high:
            cols[j] = np.maximum(a, b)
    return cols[size // 2]


def _centre_median(grid: np.ndarray) -> np.ndarray:
    """The separable median of each whole (n, k, k) grid at its centre: rows, then columns."""
    return _odd_median(_odd_median(grid))


def _core_points(
    electrons: np.ndarray,
    bad: np.ndarray,
    read_noise: float,
    sigma_clip: float,
    object_limit: float,
    padded: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels that may be a cosmic ray's core by L.A.Cosmic's two tests: their (y, x).

    astroscrappy's own tests, computed at the few pixels that can pass them
    (a loose screen that keeps every core it finds, and rejects star cores
    that would only cost cut-outs): L+ over twice the noise (the square root
    of a 7-px separable median of the variance, ``electrons + read_noise^2``)
    less its own 7-px median must exceed ``sigma_clip``, and that over the
    fine structure (a 5-px separable median less a 9-px one of it, over the
    noise, at least 0.01) ``object_limit``. The thresholds are lowered by
    ``_SLACK`` for the float rounding of L+, which differs from
    astroscrappy's in the last bits.

    Parameters
    ----------
    electrons : ndarray
        The image in electrons, sky included.
    bad : ndarray of bool
        Pixels never flagged.
    read_noise : float
        e- rms.
    sigma_clip, object_limit : float
        L.A.Cosmic's sigclip and objlim.
    padded : ndarray, optional
        ``np.pad(electrons, 1, mode="edge")`` when already made.
    """
    if padded is None:
        electrons = np.asarray(electrons, dtype=np.float32)
        padded = np.pad(electrons, 1, mode="edge")
    clip, limit = _SLACK * sigma_clip, _SLACK * object_limit
    # astroscrappy's variance: the image in electrons (not clipped) plus the
    # read noise; added where it is read (the same numbers, no frame of them).
    rn2 = np.float32(np.float32(read_noise) * np.float32(read_noise))
    # A loose noise first (the frame's low variance), so that the medians are
    # only taken where the Laplacian stands out at all.
    floor = float(np.percentile(electrons[::4, ::4] + rn2, 1.0)) if electrons.size else 1.0
    first = 2.0 * clip * np.sqrt(max(floor, 1e-5))

    def keep(which: np.ndarray, *values: np.ndarray) -> list[np.ndarray]:
        return [v[which] for v in values]

    # L+ itself only where its bound passes (a hundredth of the frame).
    y, x = _bound_passes(padded, bad, 0.999 * first)
    lplus = _laplacian_at(padded, y, x)
    y, x, lplus = keep(lplus > first, y, x, lplus)
    noise = np.zeros(0, np.float32)
    if y.size:
        noise = np.sqrt(np.maximum(_separable_medians(electrons, y, x, 7, 0, rn2)[:, 0, 0], 1e-5))
        # L+ over twice the noise before its median is subtracted: never below
        # the significance astroscrappy tests (the median of a clipped L+ is >= 0).
        sig = lplus / (2.0 * noise)
        y, x, noise, sig = keep(sig > clip, y, x, noise, sig)
    if y.size:
        m5 = _separable_medians(electrons, y, x, 5, 4)
        fine = np.maximum((m5[:, 4, 4] - _centre_median(m5)) / noise, 0.01)
        y, x, noise, sig, fine = keep(sig / fine > limit, y, x, noise, sig, fine)
    if y.size:
        # The significance less its 7-px median, from the noise around each pixel.
        around = _separable_medians(electrons, y, x, 7, 3, rn2)
        # L+ of the 7 x 7 pixels around each, those beyond the frame's edge as at the edge.
        ny, nx = electrons.shape
        steps = np.arange(-3, 4)
        gy = np.clip(y[:, None, None] + steps[None, :, None], 0, ny - 1)
        gx = np.clip(x[:, None, None] + steps[None, None, :], 0, nx - 1)
        gy, gx = np.broadcast_arrays(gy, gx)
        near = _laplacian_at(padded, gy, gx)
        grid = near / (2.0 * np.sqrt(np.maximum(around, 1e-5)))
        sp = sig - _centre_median(grid)
        y, x = keep((sp > clip) & (sp / fine > limit), y, x)
    return y, x


def core_candidates(
    electrons: np.ndarray,
    bad: np.ndarray,
    read_noise: float,
    sigma_clip: float,
    object_limit: float,
) -> np.ndarray:
    """Pixels that may be a cosmic ray's core by L.A.Cosmic's two tests (bool image).

    :func:`_core_points` as an image; arguments as there.
    """
    cores = np.zeros(np.shape(electrons), bool)
    cores[_core_points(electrons, bad, read_noise, sigma_clip, object_limit)] = True
    return cores


def _reach(iterations: int) -> tuple[int, int]:
    """How far hits reach from a first-pass core, and how much frame astroscrappy must see.

    A pass grows a core's hits by two pixels, and the next pass may find new
    cores next to the pixels it cleaned; the widest chain of its filters (a
    9-px median of a 5-px median) reaches 6 px, once per pass.
    """
    n = max(int(iterations), 1)
    return 4 * n - 2, 6 * n + 1


def _shelves(sizes: list[tuple[int, int]], width: int) -> tuple[list[tuple[int, int]], int, int]:
    """Corners of boxes of ``sizes`` (h, w) packed in rows of at most ``width``; mosaic h, w."""
    width = max([width] + [w for _, w in sizes])
    order = sorted(range(len(sizes)), key=lambda k: -sizes[k][0])
    corners: list[tuple[int, int]] = [(0, 0)] * len(sizes)
    y = x = shelf = 0
    for k in order:
        h, w = sizes[k]
        if x + w > width:
            y, x, shelf = y + shelf, 0, 0
        corners[k] = (y, x)
        x += w
        shelf = max(shelf, h)
    return corners, y + shelf, width


def whole_frame_cosmics(image: np.ndarray, inmask: np.ndarray, **kw) -> np.ndarray:
    """:func:`astroscrappy.detect_cosmics`'s mask of the whole frame (its arguments), one thread."""
    with single_thread():
        found, _ = astroscrappy.detect_cosmics(
            np.asarray(image, np.float32), inmask=np.asarray(inmask, bool), **kw
        )
    return np.asarray(found, bool)


def _groups(
    ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int], grow: int
) -> list[tuple[tuple[slice, slice], np.ndarray]]:
    """The pixels within ``grow`` px (a square) of the cores, one group per touching set.

    Each group is its bounding box and the group's pixels in it (bool), in
    the order :func:`scipy.ndimage.label` numbers the union of the squares
    (its first pixel row by row). Which squares touch (8-connected: closer
    than ``2 grow + 2`` px along both axes) is found from the cores'
    coordinates, not by labelling the whole frame (several times the cost
    of the screen for a hundred hits).
    """
    ny, nx = shape
    if ys.size == 0:
        return []
    points = np.c_[ys, xs].astype(np.float64)
    pairs = cKDTree(points).query_pairs(2 * grow + 1, p=np.inf, output_type="ndarray")
    links = csr_matrix(
        (np.ones(len(pairs), bool), (pairs[:, 0], pairs[:, 1])), shape=(ys.size, ys.size)
    )
    _, which = connected_components(links, directed=False)
    top, left = np.maximum(ys - grow, 0), np.maximum(xs - grow, 0)
    bottom, right = np.minimum(ys + grow + 1, ny), np.minimum(xs + grow + 1, nx)
    # The cores group by group (each group's in their own order), and every
    # group's box at once: a pass over all cores for each group cost more
    # than the rest of the grouping when a frame has a thousand.
    order = np.argsort(which, kind="stable")
    counts = np.bincount(which)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    top, left, bottom, right = top[order], left[order], bottom[order], right[order]
    y0s = np.minimum.reduceat(top, starts)
    x0s = np.minimum.reduceat(left, starts)
    y1s = np.maximum.reduceat(bottom, starts)
    x1s = np.maximum.reduceat(right, starts)
    # ndimage.label's number: a group's first pixel, row by row.
    first_x = np.minimum.reduceat(np.where(top == np.repeat(y0s, counts), left, nx), starts)
    squares = np.c_[top, bottom, left, right].tolist()
    groups = []
    for k, (y0, y1, x0, x1, fx, start, count) in enumerate(
        zip(*(a.tolist() for a in (y0s, y1s, x0s, x1s, first_x, starts, counts)), strict=True)
    ):
        region = np.zeros((y1 - y0, x1 - x0), bool)
        for t, b, lo, r in squares[start : start + count]:
            region[t - y0 : b - y0, lo - x0 : r - x0] = True
        groups.append(((y0, fx), k, (slice(y0, y1), slice(x0, x1)), region))
    groups.sort(key=lambda g: g[:2])
    return [(box, region) for _, _, box, region in groups]


def detect_cosmics_near(
    image: np.ndarray,
    inmask: np.ndarray,
    *,
    gain: float,
    readnoise: float,
    satlevel: float,
    sigclip: float,
    sigfrac: float,
    objlim: float,
    niter: int,
) -> np.ndarray:
    """astroscrappy's cosmic-ray mask of ``image``, searched only around possible cores.

    The cut-outs around :func:`core_candidates`, each with the frame
    astroscrappy's filters reach around it, are packed side by side into one
    mosaic searched in one call (a call has a fixed cost that thousands of
    small cut-outs would pay again and again); the rest of the mosaic is
    masked. Each cut-out's hits are kept where they can be the whole frame's.
    Arguments as :func:`astroscrappy.detect_cosmics` (``image`` in ADU,
    ``inmask`` True where a pixel is never flagged); returns its mask.
    """
    image = np.asarray(image, dtype=np.float32)
    inmask = np.asarray(inmask, dtype=bool)
    kw = dict(
        gain=gain, readnoise=readnoise, satlevel=satlevel, sigclip=sigclip, sigfrac=sigfrac,
        objlim=objlim, niter=niter,
    )  # fmt: skip
    # The frame in electrons is made padded, as the screen reads it (no second copy).
    padded = _edge_pad_one(image, np.float32(gain))
    core_y, core_x = _core_points(
        padded[1:-1, 1:-1], inmask, readnoise, sigclip, objlim, padded=padded
    )
    hits = np.zeros(image.shape, bool)
    if core_y.size == 0:
        return hits
    grow, context = _reach(niter)
    groups = _groups(core_y, core_x, image.shape, grow)
    boxes = [box for box, _ in groups]
    ny, nx = image.shape
    cut = [
        (slice(max(ys.start - context, 0), min(ys.stop + context, ny)),
         slice(max(xs.start - context, 0), min(xs.stop + context, nx)))
        for ys, xs in boxes
    ]  # fmt: skip
    sizes = [(ys.stop - ys.start, xs.stop - xs.start) for ys, xs in cut]
    if sum(h * w for h, w in sizes) > _MAX_AREA * image.size:
        return whole_frame_cosmics(image, inmask, **kw)
    corners, my, mx = _shelves(sizes, nx)
    # The space between the cut-outs is masked and, but for a later pass's
    # cleaning, beyond the kept hits' filters: any sky-like level serves, here
    # from one pixel in 256 (one in 16 cost a millisecond a 1024^2 frame).
    mosaic = np.full((my, mx), np.float32(np.median(image[::16, ::16])), np.float32)
    masked = np.ones((my, mx), bool)
    for (cy, cx), (y0, x0), (h, w) in zip(cut, corners, sizes, strict=True):
        mosaic[y0 : y0 + h, x0 : x0 + w] = image[cy, cx]
        masked[y0 : y0 + h, x0 : x0 + w] = inmask[cy, cx]
    found = whole_frame_cosmics(mosaic, masked, **kw)
    for ((ys, xs), region), (cy, cx), (y0, x0) in zip(groups, cut, corners, strict=True):
        y0 += ys.start - cy.start
        x0 += xs.start - cx.start
        inner = found[y0 : y0 + ys.stop - ys.start, x0 : x0 + xs.stop - xs.start]
        hits[ys, xs] |= inner & region
    return hits
