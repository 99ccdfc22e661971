"""Which PSF a frame gets (constant, polynomial field, grid of cell ePSFs), by held-out residuals.

The PSF stars are split in two halves; every candidate model is made from one
half and scored on the other (and the other way round) by the chi^2 of each
held-out star's fit (flux and sub-pixel shift free, the model's shape
fixed). A richer model is taken only when its held-out chi^2 is lower than
the simpler one's by more than ``SIGNIFICANCE`` standard errors of the
paired per-star difference: more freedom that only fits the noise of the
stars it was made from scores worse on the others, not better.

The candidates, simplest first:

- the frame's constant PSF (the circular profile or ePSF already fitted);
- the analytic profile with its FWHM and ellipticity polynomials in x, y of
  degree 0 (a constant elongation, e.g. a drifting mount) to 3, and the
  degree-2 terms tied as an optical system ties them (field curvature and
  astigmatism growing as r^2 about the centre, ``radial``, or about an
  off-centre axis with a tilt, ``radial-tilt``), each allowed when there are
  at least ``STARS_PER_PARAMETER`` stars per parameter (:mod:`.fit`);
- for the empirical PSF, one photutils ePSF per cell, the number of cells
  set by the number of stars (:mod:`.cells`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import binomtest, norm

from ..epsf import EffectivePSF, _linear_fit, fit_analytic_psf
from .cells import MIN_STARS_PER_CELL, build_cells, cell_grid
from .field import PSFField
from .fit import FieldShape, StarStamps, family_parameters, fit_field_shape, star_cutouts
from .moffat import star_stamps

__all__ = ["PSFChoice", "choose_psf", "heldout_chi2", "refit_field", "refit_shape"]

log = logging.getLogger(__name__)

SIGNIFICANCE = 2.0
STARS_PER_PARAMETER = 3.0
MIN_STARS = 20
FIT_SIZE = 15
"""Stamp (px) of the held-out fits: the core, where the PSF's shape sets the fluxes."""

CANDIDATES = (
    ("degree 0", 0, "polynomial"),
    ("radial", 2, "radial"),
    ("degree 1", 1, "polynomial"),
    ("radial-tilt", 2, "radial-tilt"),
    ("degree 2", 2, "polynomial"),
    ("degree 3", 3, "polynomial"),
)
"""The field shapes tried, simplest (fewest parameters: 4, 4, 10, 12, 19, 31) first."""

StampFunction = Callable[[StarStamps], np.ndarray]
"""Unit stamps (N, S, S) of the model at the stars' positions and offsets."""


@dataclass
class PSFChoice:
    """The chosen PSF and how the candidates scored."""

    psf: EffectivePSF | PSFField
    chosen: str
    scores: dict[str, float] = field(default_factory=dict)
    """Mean held-out chi^2 per pixel of each candidate tried."""
    n_stars: int = 0

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v:.3f}" for k, v in self.scores.items())
        return f"{self.chosen} from {self.n_stars} stars (held-out chi2/px: {parts})"


def heldout_chi2(stars: StarStamps, stamps: StampFunction, steps: int = 2) -> np.ndarray:
    """Chi^2 per pixel of each star fitted (flux, shift) with the model's fixed shape.

    The shift is found by ``steps`` linearised fits (a first one from
    detected positions can be off by half a pixel).
    """
    h = 0.02
    moved = StarStamps(stars.data, stars.valid, stars.offset.copy(), stars.centre, stars.sky_var)
    for step in range(steps):
        p = stamps(moved)
        cols = [p]
        for axis in (0, 1):
            moved.offset[:, axis] += h
            plus = stamps(moved)
            moved.offset[:, axis] -= 2 * h
            minus = stamps(moved)
            moved.offset[:, axis] += h
            cols.append((plus - minus) / (2 * h))
        coef = _linear_fit(stars.data, stars.valid, cols)
        if step < steps - 1:
            flux = np.where(coef[:, 0] > 0, coef[:, 0], np.inf)
            moved.offset += np.clip(coef[:, 1:3] / flux[:, None], -0.5, 0.5)
    model = np.einsum("nk,nkij->nij", coef, np.stack(cols, axis=1))
    var = np.maximum(coef[:, 0, None, None] * cols[0], 0) + stars.sky_var
    chi2 = np.sum(stars.valid * (stars.data - model) ** 2 / var, axis=(1, 2))
    dof = np.maximum(np.sum(stars.valid, axis=(1, 2)) - 3, 1)
    return chi2 / dof


def _fit_chi2(stars: StarStamps, stamps: StampFunction) -> np.ndarray:
    """Chi^2 per pixel of each star fitted (flux and a constant) with the model at its place."""
    p = stamps(stars)
    coef = _linear_fit(stars.data, stars.valid, [p, np.ones_like(p)])
    res = stars.data - coef[:, 0, None, None] * p - coef[:, 1, None, None]
    var = np.maximum(coef[:, 0, None, None] * p, 0) + stars.sky_var
    chi2 = np.sum(stars.valid * res**2 / var, axis=(1, 2))
    return np.nan_to_num(chi2 / np.maximum(np.sum(stars.valid, axis=(1, 2)) - 2, 1), nan=np.inf)


def _shape_stamps(shape: FieldShape) -> StampFunction:
    def stamps(stars: StarStamps) -> np.ndarray:
        pos = stars.positions
        fwhm, e1, e2 = shape.at(pos[:, 0], pos[:, 1])
        beta = shape.beta if shape.kind == "moffat" else 3.0
        return star_stamps(
            stars.size, stars.offset[:, 0], stars.offset[:, 1], fwhm, e1, e2, beta, kind=shape.kind
        )

    return stamps


def _psf_stamps(psf: EffectivePSF | PSFField) -> StampFunction:
    def stamps(stars: StarStamps) -> np.ndarray:
        if isinstance(psf, PSFField):
            pos = stars.positions
            return psf.stamps(
                stars.size, stars.offset[:, 0], stars.offset[:, 1], pos[:, 0], pos[:, 1]
            )
        return psf.stamps(stars.size, stars.offset[:, 0], stars.offset[:, 1])

    return stamps


def _better(simple: np.ndarray, rich: np.ndarray) -> bool:
    """True when ``rich`` fits the held-out stars better than ``simple``, significantly.

    Better: the mean per-star chi^2 difference exceeds SIGNIFICANCE standard
    errors, or it is positive and ``rich`` is the better fit of more stars
    than chance allows at the same significance (a one-sided sign test).
    The sign test is there for the star whose stamp holds a neighbour neither
    model describes: its chi^2 moves by hundreds for reasons unrelated to the
    PSF's shape. On 421 stars in 384^2 (FB's density, FWHM 2.5 to 4.5 px)
    the radial PSF fitted 141 of 153 held-out stars better (median chi^2/px
    2.1 -> 0.8), but one such star (d = -149) tripled the standard error of
    the mean and kept the frame on one PSF, its regions' fluxes off by up to
    8 sigma.
    """
    d = simple - rich
    if len(d) < 2:
        return False
    se = np.std(d, ddof=1) / np.sqrt(len(d))
    if np.mean(d) > SIGNIFICANCE * se:
        return True
    if np.mean(d) <= 0:
        return False
    wins = int(np.sum(d > 0))
    p = binomtest(wins, int(np.sum(d != 0)), 0.5, alternative="greater").pvalue
    return bool(p < norm.sf(SIGNIFICANCE))


def choose_psf(
    data: np.ndarray,
    positions: np.ndarray,
    constant: EffectivePSF,
    *,
    kind: str = "moffat",
    mask: np.ndarray | None = None,
    cells: bool = False,
    max_degree: int = 3,
    seed: int = 0,
) -> PSFChoice:
    """The frame's PSF: ``constant`` unless a field-varying model fits held-out stars better.

    Parameters
    ----------
    data : ndarray
        Sky-subtracted frame with the PSF stars' neighbours subtracted.
    positions : ndarray, shape (N, 2)
        Clean PSF stars (bright, isolated, unsaturated), spread over the frame.
    constant : EffectivePSF
        The frame's constant PSF (fitted on the same stars).
    kind : {"moffat", "gaussian"}
        The analytic profile of the field models.
    cells : bool
        Also try a grid of cell ePSFs (slow: one EPSFBuilder per cell).
    max_degree : int
        Highest polynomial degree tried.
    """
    shape = data.shape
    stars = star_cutouts(data, positions, FIT_SIZE, mask)
    n = len(stars.data)
    choice = PSFChoice(constant, "constant", n_stars=n)
    profile = "gaussian" if kind == "gaussian" else "moffat"
    allowed = [
        c
        for c in CANDIDATES
        if c[1] <= max_degree
        and n / 2 >= STARS_PER_PARAMETER * family_parameters(c[2], c[1], "moffat")
    ]
    if n < MIN_STARS or not allowed:
        log.info("%d PSF stars: the PSF is taken as constant", n)
        return choice
    rng = np.random.default_rng(seed)
    half = rng.permutation(n) < n // 2
    a, b = np.flatnonzero(half), np.flatnonzero(~half)
    folds = [(a, b), (b, a)]
    fwhm = constant.fwhm
    spec = {name: (d, fam) for name, d, fam in allowed}
    names = [name for name, _, _ in allowed]

    def score_constant() -> np.ndarray:
        out = []
        for train, test in folds:
            try:
                psf = _constant_like(constant, data, stars.positions[train], mask, profile)
            except (ValueError, np.linalg.LinAlgError):
                psf = constant
            out.append(heldout_chi2(stars.subset(test), _psf_stamps(psf)))
        return np.concatenate(out)

    full_fits: dict[str, FieldShape] = {}

    def full_fit(name: str) -> FieldShape:
        if name not in full_fits:
            d, fam = spec[name]
            # The richest simpler fit already made starts this one.
            lower = [full_fits[k] for k in names[: names.index(name)] if k in full_fits]
            lower = [f for f in lower if f.degree <= d]
            start = lower[-1] if lower else None
            full_fits[name], _ = fit_field_shape(
                stars, shape, fwhm, degree=d, kind=profile, start=start, family=fam
            )
        return full_fits[name]

    def score(name: str) -> np.ndarray:
        d, fam = spec[name]
        start = full_fit(name)
        out = []
        for train, test in folds:
            fit, _ = fit_field_shape(
                stars.subset(train),
                shape,
                fwhm,
                degree=d,
                kind=profile,
                start=start,
                iterations=1,
                family=fam,
            )
            out.append(heldout_chi2(stars.subset(test), _shape_stamps(fit)))
        return np.concatenate(out)

    scores = {"constant": score_constant()}
    # The physically expected variation first (field curvature and
    # astigmatism grow as r^2): the free degree 2, which also catches an
    # off-centre axis or a tilt, and the radial shape, which needs far fewer
    # stars to show a weak variation. If neither beats a constant PSF,
    # nothing will.
    probes: list[str] = [p for p in ("degree 2", "radial") if p in spec] or [names[-1]]
    for probe in probes:
        scores[probe] = score(probe)
    best = "constant"
    if any(_better(scores["constant"], scores[p]) for p in probes):
        for name in names:
            if name not in scores:
                scores[name] = score(name)
        best = _simplest_best(scores, ["constant", *names])
    elif "degree 0" in spec:
        # A constant elongation (drift, tilt) is not a field variation.
        scores["degree 0"] = score("degree 0")
        if _better(scores["constant"], scores["degree 0"]):
            best = "degree 0"
    if cells:
        grid = cell_grid(n // 2, shape)
        if grid != (1, 1) and n // 2 >= MIN_STARS_PER_CELL * 2:
            out = []
            for train, test in folds:
                field_psf = build_cells(data, stars.positions[train], grid, mask=mask)
                out.append(heldout_chi2(stars.subset(test), _psf_stamps(field_psf)))
            scores["cells"] = np.concatenate(out)
            if _better(scores[best], scores["cells"]):
                best = "cells"
    choice.scores = {k: float(np.mean(v)) for k, v in scores.items()}
    if best == "constant":
        choice.chosen = "constant"
    elif best == "cells":
        choice.psf = build_cells(data, stars.positions, cell_grid(n, shape), mask=mask)
        choice.chosen = f"cells {choice.psf.coeffs.shape[2]}x{choice.psf.coeffs.shape[1]}"
    else:
        fit = full_fit(best)
        field_psf = fit.to_field(shape, n_stars=n)
        field_psf.meta.update(degree=fit.degree, family=fit.family, shape=fit)
        choice.chosen = best
        # Degree 0 is one (elongated) PSF for the whole frame; it stays a
        # field so that later refits keep its ellipticity.
        choice.psf = field_psf
    if isinstance(choice.psf, PSFField):
        choice.psf.meta.update(chosen=choice.chosen, scores=choice.scores, n_stars=n)
    log.info("PSF: %s", choice.summary())
    return choice


def _simplest_best(scores: dict[str, np.ndarray], names: list[str]) -> str:
    """The simplest of ``names`` that no richer one beats significantly."""
    best = names[0]
    for name in names[1:]:
        if _better(scores[best], scores[name]):
            best = name
    return best


def _constant_like(
    constant: EffectivePSF, data: np.ndarray, positions: np.ndarray, mask, profile: str
) -> EffectivePSF:
    """The constant PSF refitted on a subset of the stars (its held-out score sees no test star)."""
    if constant.kind in ("moffat", "gaussian"):
        psf, _ = fit_analytic_psf(data, positions, constant.fwhm, kind=profile, mask=mask)
        return psf
    from ..epsf import build_epsf

    return build_epsf(data, positions, mask=mask, oversampling=constant.oversampling)


BLEND_SHARE = 0.1
"""Share of a crowded field's PSF stars, the worst fitted, left out of the final shape fit.

On 5000 stars in 1024^2 (FWHM 2.5 -> 4.5 px), ~20% of the ~225 PSF stars
have another star within 6 px that was never found (faint, or merged with
them); their light bends the wings and left a 3e4 e- star's flux +0.28
sigma high (the oracle: the same fit without them, with a pedestal per
star, -0.01..+0.02). Their fits are worse than the others' but not as
outliers: the 10% worst by chi^2 holds a third of them and takes the bias
to +0.05..+0.08.
"""


def refit_field(
    isolated_image: np.ndarray,
    pos: np.ndarray,
    psf: PSFField,
    mask: np.ndarray,
    *,
    crowded: bool = False,
) -> PSFField:
    """The same field model refitted on the stars (a file's grid is kept as it is).

    The polynomial degree or the cells stay as :func:`choose_psf` chose them;
    only their values follow the stars (a later pass's better neighbours).

    ``crowded``: the stars lie in a crowded field, where the light of stars
    too faint to be found lies under every PSF star and some hide an unfound
    neighbour. Each star's stamp is then fitted a constant of its own
    (:func:`.fit.fit_field_shape`'s ``pedestal="star"``: on 5000 stars in
    1024^2 a 3e4 e- star's flux +0.28 -> +0.15 sigma), and the
    ``BLEND_SHARE`` worst fitted stars are left out of a second fit.
    """
    if psf.meta.get("shape") is not None:
        stars = star_cutouts(isolated_image, pos, 15, mask)
        return refit_shape(stars, isolated_image.shape, psf, crowded=crowded)
    if psf.kind == "cells":
        grid = (len(psf.xs), len(psf.ys))
        field = build_cells(isolated_image, pos, grid, mask=mask)
        field.meta.update(psf.meta)
        return field
    return psf


def refit_shape(
    stars: StarStamps, frame_shape: tuple[int, int], psf: PSFField, *, crowded: bool = False
) -> PSFField:
    """``psf``'s smooth shape model (its ``meta["shape"]``) refitted on the stars' stamps.

    The stamps hold each star alone (its neighbours subtracted), either cut
    from one image (:func:`refit_field`) or each from its own image, which
    lets stars whose stamps overlap serve too. ``crowded``: see
    :func:`refit_field`.
    """
    shape = psf.meta["shape"]
    pedestal = "star" if crowded else None

    def fit(stamps: StarStamps, start: FieldShape) -> tuple[FieldShape, StarStamps]:
        return fit_field_shape(
            stamps,
            frame_shape,
            psf.fwhm,
            degree=shape.degree,
            kind=shape.kind,
            start=start,
            iterations=2,
            family=shape.family,
            pedestal=pedestal,
        )

    new, refined = fit(stars, shape)
    if crowded and len(stars.data) >= MIN_STARS:
        chi2 = _fit_chi2(refined, _shape_stamps(new))
        keep = np.flatnonzero(chi2 <= np.quantile(chi2, 1.0 - BLEND_SHARE))
        stars = stars.subset(keep)
        new, _ = fit(stars, new)
    field = new.to_field(frame_shape, n_stars=len(stars.data))
    field.meta.update({k: v for k, v in psf.meta.items() if k != "shape"}, shape=new)
    return field
