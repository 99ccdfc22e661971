"""Candidates over a sequence: the same sky position in several frames.

A real transient stays where it is and shows again in the next frame; a
cosmic ray, a noise peak or a satellite glint does not, and an asteroid moves
on. Candidates of all frames are grouped by position on the sky (friends of
friends within ``radius``), and those accepted in fewer than ``min_frames``
different frames are rejected. A slow mover (less than ``radius`` per frame)
chains into one group: a group whose positions drift steadily by more than
half the radius over its frames is rejected as moving. Known Solar System objects are marked first
(:func:`fluxion.core.transients.solar_system.match_known_objects`) so they are
reported as what they are.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .candidates import Reason
from .solar_system import SOLAR_SYSTEM_RADIUS, match_known_objects

__all__ = ["group_positions", "confirm_across_frames", "reject_known_objects"]


def _unit_vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    r, d = np.radians(ra), np.radians(dec)
    return np.column_stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])


def group_positions(ra: np.ndarray, dec: np.ndarray, radius_arcsec: float) -> np.ndarray:
    """Friends-of-friends groups of sky positions closer than ``radius_arcsec``; labels 0..G-1."""
    n = len(ra)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    chord = 2.0 * np.sin(np.radians(radius_arcsec / 3600.0) / 2.0)
    pairs = cKDTree(_unit_vectors(ra, dec)).query_pairs(chord, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def reject_known_objects(
    candidates: Table, known: Table | None, radius: float = SOLAR_SYSTEM_RADIUS
) -> Table:
    """Reject (in place) candidates that are known Solar System objects; returns the table."""
    if known is None or len(known) == 0 or len(candidates) == 0:
        return candidates
    names = match_known_objects(
        np.asarray(candidates["ra"]), np.asarray(candidates["dec"]),
        np.asarray(candidates["jd_utc"]), known, radius,
    )  # fmt: skip
    hit = names != ""
    for k in np.flatnonzero(hit):
        candidates["reason"][k] = f"{Reason.SOLAR_SYSTEM} {names[k]}"
    candidates["accepted"][hit] = False
    return candidates


def _reject_movers(
    candidates: Table, group: np.ndarray, accepted: np.ndarray, limit: float
) -> None:
    """Reject groups whose positions move steadily by more than ``limit`` arcsec."""
    jd = np.asarray(candidates["jd_utc"], float)
    ra = np.asarray(candidates["ra"], float)
    dec = np.asarray(candidates["dec"], float)
    for g in np.unique(group[accepted]):
        rows = np.flatnonzero(accepted & (group == g))
        t = jd[rows]
        if len(np.unique(t)) < 2 or not np.all(np.isfinite(t)):
            continue
        # Offsets (arcsec) in the tangent plane at the group's mean position.
        d0 = np.radians(np.mean(dec[rows]))
        east = (ra[rows] - np.mean(ra[rows]) + 540.0) % 360.0 - 180.0
        east = east * np.cos(d0) * 3600.0
        north = (dec[rows] - np.mean(dec[rows])) * 3600.0
        dt = t - t.mean()
        span = t.max() - t.min()
        rate = np.hypot(*(np.sum(dt * v) / np.sum(dt**2) for v in (east, north)))  # arcsec/day
        if rate * span > limit:
            for k in np.flatnonzero(group == g):
                candidates["reason"][k] = f"moving ({rate / 24.0:.1f} arcsec/h)"
            candidates["accepted"][group == g] = False


def confirm_across_frames(candidates: Table, min_frames: int, radius_arcsec: float) -> Table:
    """Number the groups and reject (in place) accepted candidates seen in too few frames.

    Parameters
    ----------
    candidates : Table
        Candidates of every frame (``ra``, ``dec``, ``frame``, ``accepted``, ``reason``).
    min_frames : int
        Least number of distinct frames a group must be accepted in; 1 keeps all
        (a single frame).
    radius_arcsec : float
        Largest distance between positions of one group (about the FWHM).

    Returns
    -------
    Table
        The same table with ``group`` and ``n_frames`` filled.
    """
    if len(candidates) == 0:
        return candidates
    group = group_positions(
        np.asarray(candidates["ra"], float), np.asarray(candidates["dec"], float), radius_arcsec
    )
    candidates["group"] = group
    accepted = np.asarray(candidates["accepted"], bool)
    frame = np.asarray(candidates["frame"], dtype=np.int64)
    # Distinct frames in which each group has an accepted candidate.
    pairs = np.unique(np.column_stack([group[accepted], frame[accepted]]), axis=0)
    n_frames = np.bincount(pairs[:, 0], minlength=group.max() + 1) if len(pairs) else None
    counts = n_frames[group] if n_frames is not None else np.zeros(len(group), np.int64)
    candidates["n_frames"] = counts
    _reject_movers(candidates, group, accepted, 0.5 * radius_arcsec)
    accepted = np.asarray(candidates["accepted"], bool)
    lonely = accepted & (counts < min_frames)
    for k in np.flatnonzero(lonely):
        candidates["reason"][k] = (
            Reason.ONE_FRAME
            if counts[k] <= 1
            else (f"in {counts[k]} frames only (at least {min_frames} needed)")
        )
    candidates["accepted"][lonely] = False
    return candidates
