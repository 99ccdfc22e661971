"""Least squares of frame transforms on the night's star list.

The star list holds every star registration has seen, in the reference
frame's pixels (:class:`StarList`): it starts as the reference's stars, each
registered frame refines the positions of those it saw and adds those that
entered its field. :func:`refine` fits one frame's transform to the list by
weighted, sigma-clipped least squares on mutual nearest pairs
(:func:`pair_stars`); :func:`polish` refits every frame to star positions
averaged over the whole night, so that the error chaining through
neighbours passes on is spread over the night instead of walking along it.
Each fit reports its own position error from the least-squares covariance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from astropy.stats import mad_std
from scipy.spatial import cKDTree

from .sources import RegistrationSources
from .transform import FrameTransform, fit_affine

if TYPE_CHECKING:
    from .results import FrameRegistration, RegistrationParams

__all__ = ["StarList", "pair_stars", "polish", "refine"]


class StarList:
    """Stars in the reference's pixels, refined and extended by each registered frame."""

    def __init__(self, s: RegistrationSources, reference: int) -> None:
        self.xy = s.xy.copy()
        self.flux = s.flux.copy()
        self.weight = 1.0 / s.sigma**2
        # Variance (px^2 per axis) each star's position shares with the others
        # that the same frame added: that frame's transform error, passed on.
        self.anchor = np.zeros(len(s))
        # frame -> (its source indices, the listed stars they are)
        self.pairs: dict[int, tuple[np.ndarray, np.ndarray]] = {
            reference: (np.arange(len(s)), np.arange(len(s)))
        }

    @property
    def sigma(self) -> np.ndarray:
        return 1.0 / np.sqrt(self.weight)

    def shared_variance(self, cat: np.ndarray, w: np.ndarray) -> float:
        """The part of a frame's transform variance its stars' common origin adds."""
        return float(np.sum(self.anchor[cat] * w) / np.sum(w)) if len(cat) else 0.0

    def update(
        self,
        i: int,
        t: FrameTransform,
        s: RegistrationSources,
        src: np.ndarray,
        cat: np.ndarray,
        radius: float,
        variance: float,
    ) -> None:
        """Frame ``i`` (transform ``t``) saw listed stars ``cat`` as its sources ``src``."""
        back = t.inverse().apply(s.xy)
        # A star seen again: its position becomes the weighted mean.
        w = 1.0 / s.sigma[src] ** 2
        total = self.weight[cat] + w
        mean = self.xy[cat] * self.weight[cat, None] + back[src] * w[:, None]
        self.xy[cat] = mean / total[:, None]
        self.weight[cat] = total
        # A star not listed (it entered the field): added, if clear of every listed star.
        new = np.setdiff1d(np.arange(len(s)), src)
        if len(new) and len(self.xy):
            d, _ = cKDTree(self.xy).query(back[new])
            new = new[d > 2.0 * radius]
        added = np.arange(len(self.xy), len(self.xy) + len(new))
        if len(new):
            self.xy = np.vstack([self.xy, back[new]])
            self.flux = np.concatenate([self.flux, s.flux[new]])
            self.weight = np.concatenate([self.weight, 1.0 / s.sigma[new] ** 2])
            self.anchor = np.concatenate([self.anchor, np.full(len(new), variance)])
        self.pairs[i] = (np.concatenate([src, new]), np.concatenate([cat, added]))

    def average(self, transforms: dict[int, FrameTransform], sources) -> None:
        """Every star's position: the weighted mean over the frames that saw it."""
        cats, weights, terms = [], [], []
        for i, (src, cat) in self.pairs.items():
            w = 1.0 / sources[i].sigma[src] ** 2
            cats.append(cat)
            weights.append(w)
            terms.append(transforms[i].inverse().apply(sources[i].xy[src]) * w[:, None])
        # One bincount over every frame's pairs, in the frames' order: each star's
        # sums add the same terms in the same order as adding frame by frame.
        cat, w, term = np.concatenate(cats), np.concatenate(weights), np.concatenate(terms)
        n = len(self.xy)
        num = np.column_stack([np.bincount(cat, term[:, 0], n), np.bincount(cat, term[:, 1], n)])
        den = np.bincount(cat, w, n)
        seen = den > 0
        self.xy[seen] = num[seen] / den[seen, None]
        self.weight[seen] = den[seen]


def pair_stars(pred: np.ndarray, xy: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest pairs (frame source, listed star) closer than ``radius``."""
    if len(pred) == 0 or len(xy) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    d, k = cKDTree(pred).query(xy, distance_upper_bound=radius)
    src = np.flatnonzero(np.isfinite(d))
    cat = k[src]
    back = cKDTree(xy).query(pred[cat])[1]
    mutual = back == src
    return src[mutual], cat[mutual]


def refine(
    t: FrameTransform,
    s: RegistrationSources,
    stars: StarList,
    shape: tuple[int, int],
    p: RegistrationParams,
) -> tuple[FrameTransform, np.ndarray, np.ndarray, float, float]:
    """Weighted, sigma-clipped least squares of ``t`` on the star list.

    Returns the transform, the kept pairs (source, star), rms and sigma (px).
    """
    ny, nx = shape
    margin = p.match_radius
    sim = p.model == "similarity"
    src = cat = np.zeros(0, int)
    for _ in range(5):
        pred = t.apply(stars.xy)
        inside = np.flatnonzero(
            (pred[:, 0] > -margin) & (pred[:, 0] < nx + margin)
            & (pred[:, 1] > -margin) & (pred[:, 1] < ny + margin)
        )  # fmt: skip
        s_i, c_i = pair_stars(pred[inside], s.xy, p.match_radius)
        c_i = inside[c_i]
        if len(s_i) < p.min_matches:
            src, cat = s_i, c_i
            break
        # Each pair's error: the frame's centroid and the listed position.
        w = 1.0 / (s.sigma[s_i] ** 2 + stars.sigma[c_i] ** 2)
        t_new, keep = _clipped_fit(stars.xy[c_i], s.xy[s_i], w, p)
        settled = np.array_equal(s_i[keep], src) and np.array_equal(c_i[keep], cat)
        t, src, cat = t_new, s_i[keep], c_i[keep]
        if settled:
            break
    if len(src) < p.min_matches:
        return t, src, cat, math.nan, math.nan
    resid = t.apply(stars.xy[cat]) - s.xy[src]
    rms = float(np.sqrt(np.mean(np.sum(resid**2, axis=1))))
    w = 1.0 / (s.sigma[src] ** 2 + stars.sigma[cat] ** 2)
    sigma = _transform_sigma(stars.xy[cat], resid, w, sim)
    sigma = math.sqrt(sigma**2 + stars.shared_variance(cat, w))
    return t, src, cat, rms, sigma


def _clipped_fit(
    ref_xy: np.ndarray, xy: np.ndarray, w: np.ndarray, p: RegistrationParams
) -> tuple[FrameTransform, np.ndarray]:
    """Weighted least squares ``xy ~ T(ref_xy)`` with sigma clipping; T and the kept pairs."""
    sim = p.model == "similarity"
    keep = np.ones(len(xy), bool)
    root_w = np.sqrt(w)
    for _ in range(5):
        t = fit_affine(ref_xy[keep], xy[keep], w[keep], similarity=sim)
        r = np.hypot(*(t.apply(ref_xy) - xy).T)
        # Robust scale of the normalised residuals, per axis (Rayleigh: r / sqrt(2)).
        z = r * root_w
        scale = max(float(mad_std(z[keep] / math.sqrt(2.0))), 1.0)
        again = z < p.clip_sigma * scale * math.sqrt(2.0)
        if again.sum() < p.min_matches or np.array_equal(again, keep):
            # Either way the pairs kept are the ones ``t`` was just fitted to:
            # fitting them again would give the same transform.
            return t, keep
        keep = again
    return fit_affine(ref_xy[keep], xy[keep], w[keep], similarity=sim), keep


def polish(
    out: list[FrameRegistration],
    sources: Sequence[RegistrationSources],
    stars: StarList,
    reference: int,
    p: RegistrationParams,
    iterations: int = 10,
) -> None:
    """Refit every frame on star positions averaged over all frames, a few times.

    Chaining through neighbours passes each frame's error on to the stars it
    adds, and from them to the next frames (a random walk along the night).
    Averaging each star over every frame that saw it and refitting each
    frame to those averages (alternating least squares) spreads that error
    over the night instead; the reference frame stays the identity.
    """
    fitted = [i for i in stars.pairs if i != reference and out[i].ok]
    gauge = 0.0
    transforms = {i: t for i in stars.pairs if (t := out[i].transform) is not None}
    if len(transforms) < len(stars.pairs):  # only registered frames add stars
        raise RuntimeError("a frame whose stars were paired has no transform")
    for n in range(iterations):
        stars.average(transforms, sources)
        last = n == iterations - 1
        for i in fitted:
            src, cat = stars.pairs[i]
            s = sources[i]
            w = 1.0 / (s.sigma[src] ** 2 + stars.sigma[cat] ** 2)
            t, keep = _clipped_fit(stars.xy[cat], s.xy[src], w, p)
            transforms[i] = t
            if not last:
                # Only the transforms feed the next average: the fit's errors
                # are those of the last pass.
                continue
            resid = t.apply(stars.xy[cat[keep]]) - s.xy[src[keep]]
            rms = float(np.sqrt(np.mean(np.sum(resid**2, axis=1))))
            sigma = _transform_sigma(stars.xy[cat[keep]], resid, w[keep], p.model == "similarity")
            sigma = math.sqrt(sigma**2 + stars.shared_variance(cat[keep], w[keep]))
            out[i] = replace(out[i], transform=t, n_matched=int(keep.sum()), rms=rms, sigma=sigma)
    if iterations > 0:
        gauge = _gauge_sigma(sources[reference], stars, reference, p)
    # Every transform is measured against the averaged star list, but the
    # reference frame, whose pixels the transforms are in, saw that list with
    # its own centroid errors: an error every other frame shares.
    for i in fitted:
        out[i] = replace(out[i], sigma=math.hypot(out[i].sigma, gauge))


def _gauge_sigma(
    s: RegistrationSources, stars: StarList, reference: int, p: RegistrationParams
) -> float:
    """How well the reference frame's own stars pin the star list (px per axis)."""
    src, cat = stars.pairs[reference]
    w = 1.0 / (s.sigma[src] ** 2 + stars.sigma[cat] ** 2)
    t, keep = _clipped_fit(stars.xy[cat], s.xy[src], w, p)
    resid = t.apply(stars.xy[cat[keep]]) - s.xy[src[keep]]
    return _transform_sigma(stars.xy[cat[keep]], resid, w[keep], p.model == "similarity")


def _transform_sigma(xy: np.ndarray, resid: np.ndarray, w: np.ndarray, sim: bool) -> float:
    """The fitted transform's position error per axis (px), rms over ``xy``.

    From the weighted least-squares covariance, scaled by the reduced
    chi-square when the stars scatter more than their centroid errors say.
    """
    n = len(xy)
    n_par = 4 if sim else 6
    design = np.column_stack([xy, np.ones(n)])
    normal = design.T @ (design * w[:, None])
    try:
        cov = np.linalg.inv(normal)
    except np.linalg.LinAlgError:
        return math.nan
    dof = 2 * n - n_par
    chi2 = float(np.sum(resid**2 * w[:, None]))
    factor = max(1.0, chi2 / dof) if dof > 0 else 1.0
    var = np.einsum("ij,jk,ik->i", design, cov, design) * factor
    if sim:
        var *= 4.0 / 6.0  # fewer terms: the same data pin a similarity better
    return float(math.sqrt(np.mean(var)))
