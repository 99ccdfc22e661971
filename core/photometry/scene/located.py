"""How surely a faint star lies where the fit put it: the posterior of its position.

A star near the detection limit is a detection of a star only if it is found
where the star is. The Cramér-Rao position error (:func:`.forced.position_errors`)
describes the fit near its optimum; at S/N 5-8 the likelihood of the position
is far from Gaussian (a noise peak or an undetected neighbour a pixel or two
away makes a second mode, and the fit may sit on either): in case B the stars
fitted 1-2.5 px from where they are lie at a median 3.4 times their error from
it, where a Gaussian puts 3 in 1000. Here the
likelihood is evaluated on a grid of positions around the fitted one: the
star's own model is added back to the residual (its neighbours stay fitted),
the flux is fitted at each trial position (weighted least squares) and
marginalised (flat prior: the ``|a|_w^-1`` factor), and the posterior under a
flat prior on the position gives the probability that the star lies within a
radius of where it is reported. The probability is computed by hand on the
scene's own stamp tables: photutils and sep have no position posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..flags import PhotometryFlag as F
from .design import PHASES, Tables, _phase, gather
from .records import NoisyImage, PlacedStars

__all__ = ["mislocated", "position_probability", "unplaced"]

TABLE_SIZE = 11
"""px: the model at each trial position is the 11 px stamp (the core; the smallest table)."""
OWN_SIZE = 19
"""px: the star's own model added back to the residual (its fitted stamp, up to this size)."""
CHUNK = 256
"""Stars per vectorised block (bounds the memory to ~25 MB)."""


def position_probability(
    residual: NoisyImage,
    tables: Tables,
    stars: PlacedStars,
    *,
    radius: float,
    reach: float = 2.5,
    step: float = 1.0 / 3.0,
) -> np.ndarray:
    """Posterior probability that each star lies within ``radius`` of its fitted (x, y).

    Parameters
    ----------
    residual : NoisyImage
        Image minus sky minus the model of every star, with its noise.
    tables : stamp tables of the PSF (with the 11 and 19 px sizes).
    stars : PlacedStars
        The stars to test: fitted positions, fluxes and stamp sizes.
    radius : float
        px: the position is "where the star is" within this distance.
    reach : float
        px: trial positions reach this far from the fitted one in x and y.
    step : float
        px: spacing of the trial positions.

    Returns
    -------
    ndarray
        Probability in [0, 1] per star; 1 where the grid does not fit in the frame.
    """
    n = len(stars)
    out = np.ones(n)
    ny, nx = residual.image.shape
    g = np.arange(-reach, reach + step / 2, step)
    gx, gy = (a.ravel() for a in np.meshgrid(g, g))
    # Each trial position stands for a step x step cell: the cells the
    # circle cuts count by the (linearised) fraction inside it.
    trials = _Trials(g, np.clip((radius - np.hypot(gx, gy)) / step + 0.5, 0.0, 1.0))
    half = OWN_SIZE // 2
    xi0 = np.floor(np.asarray(stars.x) + 0.5).astype(np.intp)
    yi0 = np.floor(np.asarray(stars.y) + 0.5).astype(np.intp)
    ok = (xi0 >= half) & (yi0 >= half) & (xi0 < nx - half) & (yi0 < ny - half)
    idx = np.flatnonzero(ok)
    sizes = stars.stamp_sizes
    for start in range(0, len(idx), CHUNK):
        i = idx[start : start + CHUNK]
        block = PlacedStars(stars.x[i], stars.y[i], stars.flux[i], sizes[i])
        out[i] = _inner_mass(residual, tables, block, trials)
    return out


@dataclass(frozen=True)
class _Trials:
    """The trial offsets (px) from a star's fitted position, and each one's share of the circle."""

    g: np.ndarray
    """px: the offsets along each axis; the trials are their grid, x fastest."""
    inner: np.ndarray
    """Share of each trial's cell inside the circle, ``len(g)**2`` of them."""


def _inner_mass(
    residual: NoisyImage, tables: Tables, stars: PlacedStars, trials: _Trials
) -> np.ndarray:
    """:func:`position_probability` of a block of stars whose window fits in the frame."""
    x, y, flux, sizes = stars.x, stars.y, stars.flux, stars.stamp_sizes
    inner = trials.inner
    m = len(x)
    half = OWN_SIZE // 2
    xi0 = np.floor(np.asarray(x) + 0.5).astype(np.intp)
    yi0 = np.floor(np.asarray(y) + 0.5).astype(np.intp)
    d = np.arange(-half, half + 1)
    rows = yi0[:, None, None] + d[None, :, None]
    cols = xi0[:, None, None] + d[None, None, :]
    data = residual.image[rows, cols].astype(np.float64)
    w = residual.weight[rows, cols].astype(np.float64)
    # The star's own model (as the forced pass drew it: its stamp, the
    # Taylor term of the offset from the phase centre) goes back in.
    _, mx, ddx = _phase(x)
    _, my, ddy = _phase(y)
    fw = tables.weights(x, y) if hasattr(tables, "weights") else None
    p, px, py = (gather(tables, OWN_SIZE, k, my, mx, x, y, fw) for k in ("p", "px", "py"))
    own = p + ddx[:, None, None] * px + ddy[:, None, None] * py
    small = sizes < OWN_SIZE
    if small.any():
        # Stamps of 11 px: their model had no light beyond the core.
        cut = (OWN_SIZE - TABLE_SIZE) // 2
        edge = np.ones((OWN_SIZE, OWN_SIZE), bool)
        edge[cut:-cut, cut:-cut] = False
        own[small[:, None, None] & edge[None]] = 0.0
    data += flux[:, None, None] * own
    # The trials form a grid (offsets ``g`` in x times ``g`` in y) whose
    # positions share few 1/16 px phases (3 a row at a step of 1/3 px): each
    # star's model at a trial is one of its few phase stamps, shifted by
    # whole pixels. So every phase stamp is correlated with every 11 px patch
    # of the window (one small matrix product a star) and each trial picks its
    # own (patch, phase) sum: the same sums as drawing the stamp at each
    # trial, without a stamp and window copy per trial.
    g = trials.g
    tyi, tmy, _ = _phase(y[:, None] + g[None, :])
    txi, tmx, _ = _phase(x[:, None] + g[None, :])
    slot_y, phase_y = _slots(tmy)
    slot_x, phase_x = _slots(tmx)
    ny_, nx_ = phase_y.shape[1], phase_x.shape[1]
    kernels = gather(
        tables,
        TABLE_SIZE,
        "p",
        np.repeat(phase_y, nx_, axis=1).ravel(),
        np.tile(phase_x, (1, ny_)).ravel(),
        np.repeat(x, ny_ * nx_),
        np.repeat(y, ny_ * nx_),
        None if fw is None else np.repeat(fw, ny_ * nx_, axis=0),
    )
    # Single precision: sums of 121 products, far more precise than the
    # probabilities need.
    kernels = kernels.reshape(m, ny_ * nx_, TABLE_SIZE * TABLE_SIZE).astype(np.float32)
    moves = OWN_SIZE - TABLE_SIZE + 1

    def patches(a: np.ndarray) -> np.ndarray:
        win = sliding_window_view(a.astype(np.float32), (TABLE_SIZE, TABLE_SIZE), axis=(1, 2))
        return win.reshape(m, moves * moves, TABLE_SIZE * TABLE_SIZE)

    # (m, patch, phase) sums of stamp x w x data and stamp^2 x w.
    sum_wd = np.matmul(patches(w * data), kernels.transpose(0, 2, 1))
    sum_ww = np.matmul(patches(w), (kernels * kernels).transpose(0, 2, 1))
    # Each trial's patch (its 11 px stamp's corner in the window) and phase.
    corner = (OWN_SIZE - TABLE_SIZE) // 2
    r = tyi - yi0[:, None] + corner
    c = txi - xi0[:, None] + corner
    patch = r[:, :, None] * moves + c[:, None, :]
    phase = slot_y[:, :, None] * nx_ + slot_x[:, None, :]
    pick = (patch * (ny_ * nx_) + phase).reshape(m, -1)
    awd = np.take_along_axis(sum_wd.reshape(m, -1), pick, axis=1)
    awa = np.take_along_axis(sum_ww.reshape(m, -1), pick, axis=1)
    awa, awd = awa.astype(np.float64), awd.astype(np.float64)
    good = awa > 0
    safe = np.where(good, awa, 1.0)
    # Chi-square drop of the star at each trial position with its flux
    # fitted; positions where the fitted flux is negative get none.
    gain = np.where(good & (awd > 0), awd * awd / safe, 0.0)
    logp = 0.5 * gain - 0.5 * np.log(safe)
    logp = np.where(good, logp, -np.inf)
    logp -= logp.max(axis=1, keepdims=True)
    post = np.exp(logp)
    total = post.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mass = (post @ inner) / total
    return np.where(np.isfinite(mass), mass, 1.0)


def _slots(phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's distinct phase indices, and the slot of each entry among them.

    Returns ``(slot, phases)``: ``phases[i, slot[i, j]] == phase[i, j]``.
    Rows with fewer distinct phases than the widest are padded with
    phases no entry uses.
    """
    n = len(phase)
    present = np.zeros((n, PHASES), dtype=bool)
    present[np.arange(n)[:, None], phase] = True
    rank = np.cumsum(present, axis=1) - 1
    slot = np.take_along_axis(rank, phase, axis=1)
    width = int(present.sum(axis=1).max()) if n else 1
    phases = np.argsort(~present, axis=1, kind="stable")[:, :width]
    return slot, phases


def mislocated(
    table,
    residual: NoisyImage,
    tables: Tables,
    fwhm: float,
    *,
    radius: float,
    probability: float,
) -> np.ndarray:
    """True for the stars of ``table`` less likely than ``probability`` to lie within ``radius``.

    Only stars whose isolated position error (about ``0.7 FWHM / (S/N)`` for
    Moffat and Gaussian profiles) leaves more than 1e-4 of a Gaussian beyond
    ``radius`` are tested: ``S/N < 3 FWHM / radius``. Saturated stars (never
    moved: their core has no weight) are not tested.
    """
    flux = np.asarray(table["flux"], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = flux / np.asarray(table["flux_err"], dtype=np.float64)
    saturated = (np.asarray(table["flags"]) & F.SATURATED).astype(bool)
    test = np.flatnonzero((snr < 3.0 * fwhm / radius) & (flux > 0) & ~saturated)
    out = np.zeros(len(flux), dtype=bool)
    if not len(test):
        return out
    stars = PlacedStars(
        np.asarray(table["x"], dtype=np.float64)[test],
        np.asarray(table["y"], dtype=np.float64)[test],
        flux[test],
        np.asarray(table["stamp"])[test],
    )
    mass = position_probability(residual, tables, stars, radius=radius)
    out[test] = mass < probability
    return out


def unplaced(table, radius: float, probability: float) -> np.ndarray:
    """True for the stars of ``table`` less likely than ``probability`` to lie within ``radius``.

    The probability is that of a circular Gaussian error whose variance is
    ``x_err * y_err``, the marginal errors with the neighbours' fluxes and
    positions free (:func:`.marginal.marginal_errors`):
    ``1 - exp(-radius^2 / (2 x_err y_err))``. The test of :func:`mislocated`
    holds the neighbours fixed; a faint star's position can be undetermined
    because a neighbour's is free. At 0.85 and 1 px the largest error kept
    is 0.51 px per axis; at 0, none is left out. Saturated stars (never
    moved) and stars without a position error are kept.
    """
    var = np.asarray(table["x_err"], dtype=np.float64) * np.asarray(table["y_err"])
    saturated = (np.asarray(table["flags"]) & F.SATURATED).astype(bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = -np.expm1(-(radius**2) / (2.0 * var))
        return (inside < probability) & ~saturated
