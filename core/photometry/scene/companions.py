"""The last positions of the scene: faint companions put in the model, and the joint steps.

After the merge and shadow tests the last forced pass has its stars where they
will be reported, but two things still bias the bright stars' fluxes:

- The merge and shadow tests move and drop stars after the joint step, and
  their neighbours' positions are then no longer the joint solution's. A
  joint step of the scene (:func:`.centroids.joint_positions`) on the final
  star list converges them (a further step moves the stars by less than
  0.002 px, median 0).
- A companion a tenth to a third as bright 1.5-3 px from a star is often too
  faint to report (its S/N given the star's flux and shift is below 5), and
  its light then goes into the star: against the truth, the mid and bright
  stars with such a missed companion are +0.7-0.8 sigma bright (5 % of the
  stars from 1e3 e-). Each star whose core fits poorly is tested for a second
  star on a ring around it (:func:`.split.split_blends`) on the converged
  scene's residual; where that lowers the chi-square by more than
  :data:`COMPANION_DCHI2` the companion joins the model but not the table,
  like the weak detections, so that the star's flux no longer holds its
  light. A second joint step places the companions and their stars.

Every true star's flux scatter over its crowded bound (biweight, all stars of
the frames: standard error ~0.01 on six frames, ~0.02 on two), bins 1e3 /
3e3 / 1e4 / 3e4 e-, before -> after (paired differences, each +-0.003-0.007):

- case B seeds 411, 412, 431, 432, 471, 472 (the settings were chosen on
  these): 1.017 / 1.040 / 1.029 / 1.014 -> 1.009 / 1.030 / 1.014 / 1.002;
  false detections 320 -> 306, completeness the same to 0.0007 a frame;
- seeds 481+482: 1.075 / 1.046 / 1.048 / 1.015 -> 1.061 / 1.032 / 1.027 /
  0.993; seeds 491+492: 1.023 / 0.999 / 1.042 / 1.001 -> 1.021 / 0.997 /
  1.021 / 0.986; false detections 110 -> 110 and 109 -> 104.

Position pulls against the crowded bound (x / y per bin) 1.00-1.07 before,
0.99-1.06 after. The joint step alone gave -0.002..-0.011 on the six frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..flags import PhotometryFlag as F
from .centroids import joint_positions
from .design import Tables
from .forced import SceneResult, stamp_sizes
from .neighbours import has_neighbour, unique_stars
from .records import PlacedStars, SceneFrame
from .settings import SceneSettings
from .split import blend_splits

__all__ = ["COMPANION_DCHI2", "COMPANION_RCHI2", "final_positions", "joint_step"]

COMPANION_DCHI2 = 15.0
"""Least chi-square drop of the ring search for a companion in the model (0: none).

Lower than the reported splits' 30 because a companion here is only
modelled: a false one takes a little of its star's light, a missed one all
of its own. Case B seeds 411-472 (six frames), scatter over the crowded
bound from 1e3 e- with the joint step: 30 (as the splits): no change; 20:
-0.005..-0.007 per bin; 15: -0.004..-0.008 (0.6 of the companions within
1 px of a true star); 10: no gain (0.4 of them real).
"""
COMPANION_RCHI2 = 1.1
"""Least reduced chi-square of a star's core for its companion search.

The ring search costs ~0.1 ms a star; 1.1 keeps ~800 of ~3400 stars at
S/N >= 10 a case B frame and most of the gain of testing every star
(offline, six frames: -0.004..-0.007 per bin against -0.005..-0.008).
"""
COMPANION_SNR = 3.0
"""Least S/N of a companion's flux in the two-star fit (the chi-square drop decides)."""


def joint_step(
    frame: SceneFrame,
    result: SceneResult,
    tables: Tables,
    stars: PlacedStars,
    *,
    min_snr: float,
    neighbours: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The bright stars with a neighbour moved by one joint step of the scene of ``result``.

    Parameters
    ----------
    frame : SceneFrame
    result : SceneResult
        The forced pass whose model gives the variance and whose sky the background;
        its table's rows are the first ``len(result.table)`` stars.
    tables : stamp tables of the PSF.
    stars : PlacedStars
        Positions and fluxes of the stars: the table's rows, then stars the
        table does not hold (the companions), which never move; their stamp
        sizes (the table's stamps where not given).
    min_snr : float
        Least S/N (the forced pass's) of a star that moves.
    neighbours : float
        px: only stars with another star this near move (0: every bright star).
    """
    t = result.table
    n = len(t)
    x, y, flux = stars.x, stars.y, stars.flux
    moving = np.zeros(len(x), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        moving[:n] = flux[:n] / np.asarray(t["flux_err"]) > min_snr
    moving[:n] &= ~(np.asarray(t["flags"]) & F.SATURATED).astype(bool)
    # The companions (beyond the table's rows) stay where the ring search
    # put them: at S/N 4-8 their shift is not constrained (the main passes'
    # rule), and moved they reached other stars on an undersampled real
    # plate (near-equal columns, fluxes of +-1e26 e-).
    if neighbours > 0:
        moving &= has_neighbour(x, y, neighbours)
    return joint_positions(
        frame,
        result.sky,
        frame.variance(result.model),
        tables,
        stars if stars.sizes is not None else replace(stars, sizes=np.asarray(t["stamp"])),
        moving,
    )


def final_positions(
    frame: SceneFrame,
    result: SceneResult,
    tables: Tables,
    st: SceneSettings,
    forced: Callable[[np.ndarray, np.ndarray, np.ndarray], SceneResult],
    *,
    neighbours: float,
    min_separation: float,
) -> tuple[SceneResult, np.ndarray]:
    """The forced pass of the stars of ``result``, converged and with their hidden companions.

    The companions are searched for on the residual of the converged scene:
    a bright star left 0.1-0.2 px off (a neighbour of a star the merge test
    moved) leaves a residual that a companion on the ring explains (45
    companions over 30 draws of a 15000 + 8000 e- pair 2.6 px apart, 0
    once the pair is converged).

    Parameters
    ----------
    frame : SceneFrame
    result : SceneResult
        The last forced pass.
    tables : stamp tables of the PSF.
    st : SceneSettings
        ``split_snr``: least S/N of a star searched for a companion;
        ``joint_shift_snr``: of a star moved by the joint steps.
    forced : callable
        ``forced(x, y, flux)``: the forced pass of stars at those positions.
    neighbours : float
        px: see :func:`joint_step`.
    min_separation : float
        px: no companion this near another star or a brighter companion.

    Returns
    -------
    result : SceneResult
        The forced pass of every star: the table's rows, then the companions.
    hidden : ndarray of bool
        True for the companions' rows (in the model, not to be reported).
    """
    t = result.table
    x = np.asarray(t["x"], dtype=np.float64)
    y = np.asarray(t["y"], dtype=np.float64)
    flux = np.nan_to_num(np.asarray(t["flux"], dtype=np.float64))
    snr = st.joint_shift_snr
    placed = PlacedStars(x, y, flux)
    x, y = joint_step(frame, result, tables, placed, min_snr=snr, neighbours=neighbours)
    if not (COMPANION_DCHI2 > 0 and st.split_snr > 0):
        return forced(x, y, flux), np.zeros(len(x), dtype=bool)
    result = forced(x, y, flux)
    which, x1, y1, x2, y2, f2 = blend_splits(
        result,
        frame,
        tables,
        min_snr=st.split_snr,
        min_rchi2=COMPANION_RCHI2,
        min_dchi2=COMPANION_DCHI2,
        second_snr=COMPANION_SNR,
    )
    # A companion on another star (or on another star's companion: two
    # stars' rings meet) is that star's light, and its column would
    # duplicate the other's (a singular joint step on an undersampled real
    # plate whose stars the PSF misfits).
    n = len(x)
    apart = unique_stars(np.r_[x, x2], np.r_[y, y2], np.r_[np.full(n, np.inf), f2], min_separation)
    new = apart[n:]
    which, x1, y1, x2, y2, f2 = which[new], x1[new], y1[new], x2[new], y2[new], f2[new]
    # The star keeps the position of its two-star fit, which the joint
    # step then refines with the companion beside it.
    x, y = x.copy(), y.copy()
    x[which], y[which] = x1, y1
    flux = np.nan_to_num(np.asarray(result.table["flux"], dtype=np.float64))
    sizes = np.r_[
        np.asarray(result.table["stamp"]),
        stamp_sizes(tables, f2, frame.sigma_sky(result.sky), np.zeros(len(f2), dtype=bool)),
    ]
    x, y, flux = np.r_[x, x2], np.r_[y, y2], np.r_[flux, f2]
    # A second step (with or without companions): one Newton step from a
    # star 0.15 px off leaves ~0.03 px, a second ~0.001.
    placed = PlacedStars(x, y, flux, sizes)
    x, y = joint_step(frame, result, tables, placed, min_snr=snr, neighbours=neighbours)
    hidden = np.zeros(len(x), dtype=bool)
    hidden[n:] = True
    # A companion the step took onto its star would share its light with
    # it in two near-equal columns (fluxes of +-10^4 e-): it leaves.
    keep = ~hidden | unique_stars(x, y, np.where(hidden, flux, np.inf), min_separation)
    x, y, flux, hidden = x[keep], y[keep], flux[keep], hidden[keep]
    return forced(x, y, flux), hidden
