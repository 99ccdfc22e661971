"""Registering frames that show few stars (thin cloud, twilight, dawn).

Two second chances for a frame the asterism match cannot take:

* detection again at :data:`RETRY_THRESHOLD` sigma when the first look found
  too few stars (fainter stars are better than none);
* :func:`shift_from_neighbour` -- the registered neighbour's transform moved
  by one shift that a handful of stars agree on, kept only when the chance
  that random detections agree as well is small.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import pdtrc

from .results import FrameRegistration, RegistrationParams
from .sources import RegistrationSources
from .starlist import StarList, pair_stars
from .transform import FrameTransform

__all__ = ["MAX_SHIFT_FALSE_ALARM", "MIN_SHIFT_STARS", "RETRY_THRESHOLD", "shift_from_neighbour"]

#: Detection threshold (sigma) of a second look at a frame with few stars.
RETRY_THRESHOLD = 3.0
#: Fewest stars that a shift from the neighbour may rest on.
MIN_SHIFT_STARS = 2
#: Largest accepted chance that such a shift is a coincidence.
MAX_SHIFT_FALSE_ALARM = 1e-4


def shift_from_neighbour(
    s: RegistrationSources,
    start: FrameTransform | None,
    stars: StarList,
    shape: tuple[int, int],
    p: RegistrationParams,
    neighbour: int,
) -> FrameRegistration | None:
    """The neighbour's transform moved by one shift, from a handful of stars.

    For frames with too few stars for a verified asterism match. Every pair
    of a detected star and a listed star predicted within ``10 x match
    radius`` votes for a shift; the shift most pairs agree on (within the
    match radius) is kept when at least two stars agree and the chance that
    the best of the shifts tried gathers as many pairs from detections thrown
    at random is below 1e-4.
    """
    if start is None or len(s) < MIN_SHIFT_STARS:
        return None
    ny, nx = shape
    pred = start.apply(stars.xy)
    inside = (pred[:, 0] > 0) & (pred[:, 0] < nx) & (pred[:, 1] > 0) & (pred[:, 1] < ny)
    # A frame that shows few stars shows the brightest: pair with those only,
    # which also makes a chance coincidence rarer.
    idx = np.flatnonzero(inside)
    idx = idx[np.argsort(-stars.flux[idx])[: max(10, 3 * len(s))]]
    pred = pred[idx]
    if len(pred) == 0:
        return None
    reach = 10.0 * p.match_radius
    near = cKDTree(pred).query_ball_point(s.xy, reach)
    votes = np.array([s.xy[a] - pred[b] for a, bs in enumerate(near) for b in bs]).reshape(-1, 2)
    if len(votes) == 0:
        return None
    agree = cKDTree(votes).query_ball_point(votes, p.match_radius, return_length=True)
    shift = votes[int(np.argmax(agree))]
    moved = start.then(FrameTransform.shift(*shift))
    src, cat = pair_stars(moved.apply(stars.xy[idx]), s.xy, p.match_radius)
    # Random detections near one listed star: Poisson with this mean per shift.
    expected = len(pred) * len(s) / float(nx * ny) * math.pi * p.match_radius**2
    false_alarm = _poisson_tail(len(src), expected) * len(votes)
    if len(src) < MIN_SHIFT_STARS or false_alarm > MAX_SHIFT_FALSE_ALARM:
        return None
    cat = idx[cat]
    w = 1.0 / (s.sigma[src] ** 2 + stars.sigma[cat] ** 2)
    d = s.xy[src] - start.apply(stars.xy[cat])
    t = start.then(FrameTransform.shift(*(d * w[:, None]).sum(axis=0) / w.sum()))
    resid = t.apply(stars.xy[cat]) - s.xy[src]
    rms = float(np.sqrt(np.mean(np.sum(resid**2, axis=1))))
    chi2 = float(np.sum(resid**2 * w[:, None]))
    dof = 2 * len(src) - 2
    sigma = math.sqrt(max(1.0, chi2 / dof if dof > 0 else 1.0) / w.sum())
    return FrameRegistration(
        t, len(src), rms, sigma, f"neighbour {neighbour}", f"shift only: {len(src)} stars"
    )


def _poisson_tail(k: int, mu: float) -> float:
    """P(X >= k) for X ~ Poisson(mu).

    ``scipy.stats.poisson.sf(k - 1, mu)`` is scipy.special's ``pdtrc(k - 1, mu)``
    for ``k >= 1`` and 1 below: the same numbers without importing scipy.stats
    (0.5-0.9 s of a worker process's start-up).
    """
    if k < 1:
        return 1.0
    return float(pdtrc(k - 1, mu))
