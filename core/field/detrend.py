"""EPD and TFA: what magnitude fitting leaves in each star's light curve, taken out.

* **EPD** (external parameter decorrelation, Bakos et al. 2010): each
  star's magnitudes are fitted, star by star, with a linear combination of
  what the frames say about that star: its offset from its mean position
  (a residual flat field it drifts across), its sub-pixel position (pixels
  that are not equally sensitive across their area), the seeing (light lost
  from a fixed aperture, a neighbour leaking into it), the sky under it and
  the airmass; the fit is subtracted.
* **TFA** (the trend filtering algorithm, Kovács, Bakos & Noyes 2005): a
  template set of well-measured, non-variable stars spread across the field
  holds the trends the field shares; each star's light curve is fitted with
  a linear combination of the templates (those too close to it left out)
  and the fit subtracted.

Both are reversible: the corrections are kept apart from the magnitudes
(:class:`DetrendResult`) and the light curve written beside the undetrended
one. A signal that is known (a transit's shape, or frames to protect) is
fitted together with the trends and not removed, so the detrending does not
damp it; without that, a fit of ``p`` terms to ``n`` points takes out about
``p / n`` of any signal, which :attr:`DetrendResult.terms` lets the scatter
be corrected for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..runtime.params import param
from ..runtime.pipeline import StepState
from .data import FieldData
from .stats import column_median, flux_rms, peer_ratio

__all__ = [
    "DetrendParams",
    "DetrendResult",
    "choose_templates",
    "detrend",
    "epd_regressors",
    "good_points",
    "select_and_fit",
    "SharedTrends",
    "shared_trends",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetrendParams:
    """Which corrections to make after magnitude fitting."""

    epd: bool = param(True, label="EPD", help="Decorrelate each star against the frames' facts.")
    epd_position: bool = param(
        True, label="EPD: position", help="The star's offset from its mean position (x, y, "
        "their squares and product): a residual flat field it drifts across.",
    )  # fmt: skip
    epd_subpixel: bool = param(
        True, label="EPD: sub-pixel phase",
        help="Sine and cosine of the star's sub-pixel position in x and y.",
    )  # fmt: skip
    epd_fwhm: bool = param(True, label="EPD: seeing", help="The frame's FWHM.")
    epd_sky: bool = param(True, label="EPD: sky", help="The sky under the star.")
    epd_airmass: bool = param(True, label="EPD: airmass", help="The frame's airmass.")
    tfa: bool = param(True, label="TFA", help="Filter the trends the field's stars share.")
    n_templates: int = param(
        200, label="TFA templates", minimum=2, maximum=2000,
        help="Template stars; the trends they share are what each star is fitted with.",
    )  # fmt: skip
    template_exclusion: float = param(
        30.0, label="Template exclusion radius", unit="px", minimum=0.0, maximum=1000.0,
        help="Templates closer than this to a star are not used for it (they share its "
        "neighbourhood's own problems, or its light).",
    )  # fmt: skip
    clip: float = param(
        4.0, label="Clipping", unit="sigma", minimum=2.0, maximum=20.0,
        help="Points further than this from a star's fit are left out of it.",
    )  # fmt: skip
    max_error: float = param(
        0.1, label="Largest error", unit="mag", minimum=0.001, maximum=1.0,
        help="Stars whose typical error exceeds this are left as they are: the magnitudes "
        "of so noisy a flux are far from normally distributed, and a fit to them adds noise.",
    )  # fmt: skip


@dataclass
class DetrendResult:
    """Detrended magnitudes and the corrections, kept apart so they can be undone.

    Attributes
    ----------
    mag : ndarray (n_frames, n_stars)
        The magnitudes after EPD and TFA.
    epd, tfa : ndarray (n_frames, n_stars)
        The corrections subtracted (mag); ``mag + epd + tfa`` is the input.
    terms : ndarray of int (n_stars,)
        Terms fitted to each star (EPD regressors and TFA templates), for a
        scatter corrected for the degrees of freedom the fits used.
    templates : ndarray of int
        Star indices of the TFA templates.
    rms_before, rms_epd, rms_after : ndarray (n_stars,)
        Each star's scatter (mag, as :func:`~fluxion.core.field.stats.flux_rms`)
        before, with the EPD part removed, and after both (corrected for ``terms``).
    epd_names : tuple of str
        The EPD regressors.
    """

    mag: np.ndarray
    epd: np.ndarray
    tfa: np.ndarray
    terms: np.ndarray
    templates: np.ndarray
    rms_before: np.ndarray
    rms_epd: np.ndarray
    rms_after: np.ndarray
    epd_names: tuple[str, ...] = ()
    n_trends: int = 0
    notes: list[str] = field(default_factory=list)

    def undone(self) -> np.ndarray:
        """The magnitudes before detrending."""
        return self.mag + self.epd + self.tfa


def epd_regressors(data: FieldData, p: DetrendParams) -> dict[str, np.ndarray]:
    """The EPD regressors, each (n_frames, n_stars), centred on each star's median."""
    n_f, n_s = data.n_frames, data.n_stars
    out: dict[str, np.ndarray] = {}
    if p.epd_position:
        dx = data.x - column_median(data.x)
        dy = data.y - column_median(data.y)
        # Scaled to about a pixel so the squares stay comparable.
        out.update(dx=dx, dy=dy, dx2=dx**2, dy2=dy**2, dxdy=dx * dy)
    if p.epd_subpixel:
        for axis, v in (("x", data.x), ("y", data.y)):
            out[f"sin{axis}"] = np.sin(2 * np.pi * v)
            out[f"cos{axis}"] = np.cos(2 * np.pi * v)
    if p.epd_fwhm:
        f = data.frame_column("fwhm")
        if np.isfinite(f).sum() > 2:
            f = np.where(np.isfinite(f), f, np.nanmedian(f))
            out["fwhm"] = np.broadcast_to(((f - np.median(f)) / np.median(f))[:, None], (n_f, n_s))
    if p.epd_sky:
        sky = data.sky
        typical = column_median(sky)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["sky"] = (sky - typical) / np.where(np.abs(typical) > 0, np.abs(typical), 1.0)
    if p.epd_airmass:
        x = data.frame_column("airmass")
        if np.isfinite(x).sum() > 2:
            x = np.where(np.isfinite(x), x, np.nanmedian(x))
            out["airmass"] = np.broadcast_to((x - np.median(x))[:, None], (n_f, n_s))
    return {k: np.asarray(v, float) for k, v in out.items()}


def _solve(g: np.ndarray, b: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Coefficients of the columns ``cols`` from the normal equations (g, b)."""
    return np.linalg.pinv(g[np.ix_(cols, cols)]) @ b[cols]


def select_and_fit(
    y: np.ndarray,
    w: np.ndarray,
    design: np.ndarray,
    groups: list[np.ndarray],
    always: np.ndarray,
    fit_mask: np.ndarray,
    clip: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``y`` with the groups of ``design`` columns that the data support.

    Groups enter one at a time, each time the one that lowers the Bayesian
    information criterion chi2 + k ln(n) most, while it falls (forward
    selection on the normal equations, so each trial costs a small solve);
    the columns in ``always`` (the constant, a known signal) are in every
    model. The chi-square is counted in units of the full model's reduced
    chi-square, so that errors that understate the scatter do not let every
    group in. The chosen model is then refitted with clipping beyond
    ``clip`` sigma.

    Returns the coefficients (0 for columns not chosen) and the mask of
    columns chosen.
    """
    k = design.shape[1]
    chosen = np.zeros(k, bool)
    chosen[always] = True
    keep = fit_mask
    n = int(keep.sum())
    coef = np.zeros(k)
    if n < 2 * k:
        return coef, np.zeros(k, bool)
    aw = design[keep] * w[keep, None]
    g = aw.T @ design[keep]
    b = aw.T @ y[keep]
    yy = float(np.sum(w[keep] * y[keep] ** 2))

    def chi2(cols: np.ndarray) -> float:
        idx = np.flatnonzero(cols)
        c = _solve(g, b, idx)
        return yy - float(b[idx] @ c)

    every = np.ones(k, bool)
    scale = max(chi2(every) / max(n - k, 1), 1.0)
    log_n = np.log(n)
    best = chi2(chosen) / scale + chosen.sum() * log_n
    left = list(range(len(groups)))
    while left:
        trials = []
        for gi in left:
            cols = chosen.copy()
            cols[groups[gi]] = True
            trials.append((chi2(cols) / scale + cols.sum() * log_n, gi))
        bic, gi = min(trials)
        if bic >= best:
            break
        best = bic
        chosen[groups[gi]] = True
        left.remove(gi)
    idx = np.flatnonzero(chosen)
    a = design[:, idx]
    keep = fit_mask.copy()
    for _ in range(5):
        sw = np.sqrt(w[keep])
        c, *_ = np.linalg.lstsq(a[keep] * sw[:, None], y[keep] * sw, rcond=None)
        resid = y - a @ c
        red = max(float(np.sum(w[keep] * resid[keep] ** 2)) / max(keep.sum() - len(idx), 1), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = fit_mask & (np.abs(resid) * np.sqrt(w) < clip * np.sqrt(red))
        if np.array_equal(new, keep) or new.sum() < 2 * len(idx):
            break
        keep = new
    coef[idx] = c
    return coef, chosen


@dataclass(frozen=True)
class SharedTrends:
    """The trends a set of template stars share (their leading singular vectors).

    Attributes
    ----------
    basis : ndarray (n_frames, k)
        Orthonormal trends in time.
    z : ndarray (n_frames, n_templates)
        The templates in units of their errors (what the trends came from).
    weights : ndarray (k, n_templates)
        How each trend is made of the templates (right singular vectors over
        the singular values).
    """

    basis: np.ndarray
    z: np.ndarray
    weights: np.ndarray

    @property
    def k(self) -> int:
        return self.basis.shape[1]

    def without(self, templates: np.ndarray) -> np.ndarray:
        """The trends made without the given templates (indices into the set).

        Each trend is rebuilt from the other templates with the same weights
        and the set made orthonormal again: a star near a template (or one)
        is then fitted with trends that hold none of its own light curve.
        """
        if self.k == 0 or len(templates) == 0:
            return self.basis
        keep = np.ones(self.z.shape[1], bool)
        keep[np.asarray(templates, int)] = False
        rebuilt = self.z[:, keep] @ self.weights[:, keep].T
        q, r = np.linalg.qr(rebuilt)
        good = np.abs(np.diag(r)) > 1e-9 * max(np.abs(np.diag(r)).max(), 1e-300)
        return q[:, good]


def shared_trends(mag: np.ndarray, err: np.ndarray, ok: np.ndarray) -> SharedTrends:
    """The trends template stars share, above their noise.

    Kovács et al.'s TFA fits each star with the template light curves
    themselves; with a few dozen templates of a few hundred points each,
    their own noise then enters every star's fit. The templates are instead
    reduced to the trends they share: the singular value decomposition of
    the templates, each point in units of its own error, keeps the
    components above the largest that a matrix of pure noise of that size
    gives (the Marchenko-Pastur edge, sqrt(n) + sqrt(m) in units of the
    noise), as SysRem and Kepler's PDC do.
    """
    n, m = mag.shape
    centre = column_median(np.where(ok, mag, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(ok & (err > 0), (mag - centre) / err, 0.0)
    # The noise in those units from point-to-point differences, which slow
    # trends hardly touch (errors that understate the noise would let noise
    # pass as a trend).
    both = ok[1:] & ok[:-1]
    step = np.abs(np.diff(z, axis=0))[both]
    noise = float(np.median(step)) / (0.6745 * np.sqrt(2.0)) if step.size else 1.0
    z = z / max(noise, 1.0)
    u, sv, vt = np.linalg.svd(z, full_matrices=False)
    edge = (np.sqrt(n) + np.sqrt(m)) * np.sqrt(max(float(np.mean(ok)), 1e-3))
    k = int(np.sum(sv > 1.1 * edge))
    return SharedTrends(u[:, :k], z, vt[:k] / sv[:k, None])


def _groups(names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """EPD regressors in the groups that enter the fit together."""
    together = (("dx", "dy"), ("dx2", "dy2", "dxdy"), ("sinx", "cosx", "siny", "cosy"))
    out = [tuple(n for n in g if n in names) for g in together]
    grouped = {n for g in together for n in g}
    out += [(n,) for n in names if n not in grouped]
    return [g for g in out if g]


def choose_templates(
    data: FieldData, mag: np.ndarray, ok: np.ndarray, n: int, shape: tuple[int, int] | None
) -> np.ndarray:
    """Template stars for TFA: well measured, quiet, bright, spread across the field.

    A star qualifies when it is measured in 95 % of the frames and scatters
    no more than 1.3 times its peers of the same brightness; the field is
    cut into a grid of about ``n`` cells and each cell gives its brightest
    qualifying star, the rest filled by brightness.
    """
    coverage = ok.mean(axis=0)
    centre = column_median(np.where(ok, mag, np.nan))
    rms = flux_rms(mag, ok)
    quiet = peer_ratio(centre, rms) <= 1.3
    eligible = np.flatnonzero((coverage >= 0.95) & quiet & np.isfinite(centre))
    if len(eligible) <= n:
        return eligible[np.argsort(centre[eligible])]
    x, y = column_median(data.x), column_median(data.y)
    if shape is None:
        shape = (int(np.nanmax(data.y)) + 1, int(np.nanmax(data.x)) + 1)
    cells = max(int(np.ceil(np.sqrt(n))), 1)
    cx = np.clip((x[eligible] / shape[1] * cells).astype(int), 0, cells - 1)
    cy = np.clip((y[eligible] / shape[0] * cells).astype(int), 0, cells - 1)
    chosen: list[int] = []
    by_brightness = eligible[np.argsort(centre[eligible])]
    taken_cells: set[tuple[int, int]] = set()
    cell_of = {int(s): (int(a), int(b)) for s, a, b in zip(eligible, cx, cy, strict=True)}
    for s in by_brightness:
        if cell_of[int(s)] not in taken_cells:
            taken_cells.add(cell_of[int(s)])
            chosen.append(int(s))
    for s in by_brightness:
        if len(chosen) >= n:
            break
        if int(s) not in chosen:
            chosen.append(int(s))
    return np.array(sorted(chosen[:n], key=lambda s: centre[s]), dtype=int)


def detrend(
    data: FieldData,
    mag: np.ndarray,
    mag_err: np.ndarray,
    params: DetrendParams | None = None,
    *,
    ok: np.ndarray | None = None,
    signal: np.ndarray | None = None,
    protect: np.ndarray | None = None,
    shape: tuple[int, int] | None = None,
    template_stars: np.ndarray | None = None,
    only: np.ndarray | None = None,
    state: StepState | None = None,
) -> DetrendResult:
    """EPD and TFA of every star's light curve, fitted together star by star.

    The TFA trends are found once from the template stars (their
    magnitude-fitted light curves, :func:`shared_trends`); each star is then
    fitted with the EPD regressor groups and the trends, the groups its data
    support chosen by the Bayesian information criterion, and the two parts
    of the fit are subtracted (kept apart in the result). Fitting them
    together keeps EPD from taking a shared trend in its own way before TFA
    sees it.

    Parameters
    ----------
    data : FieldData
        The night (positions, sky, seeing and airmass of every point).
    mag, mag_err : ndarray (n_frames, n_stars)
        Magnitudes after magnitude fitting, and their errors.
    params : DetrendParams, optional
    ok : ndarray of bool, optional
        Points to fit (default: the data's clean points with finite magnitudes).
    signal : ndarray (n_frames, n_stars), optional
        A known signal's shape per star (0 where none, e.g. a transit model
        in magnitudes): fitted with the trends and left in the light curve.
    protect : ndarray of bool (n_frames, n_stars), optional
        Points not used to fit the trends (a known event), still corrected.
    shape : (ny, nx), optional
        Frame size, to spread the templates over it.
    template_stars : ndarray of bool (n_stars,), optional
        Stars that may be TFA templates (default: all; known variables are not).
    only : ndarray of bool (n_stars,), optional
        Stars to detrend (default: all); the others are left with no correction.
    state : StepState, optional
    """
    p = params or DetrendParams()
    state = state if state is not None else StepState()
    n_f, n_s = mag.shape
    if ok is None:
        ok = good_points(data, mag, mag_err)
    fit_ok = ok & (~protect if protect is not None else True)
    with np.errstate(divide="ignore"):
        w = np.where(ok, 1.0 / np.where(mag_err > 0, mag_err, np.inf) ** 2, 0.0)
    centre = column_median(np.where(ok, mag, np.nan))
    y = np.where(ok, mag - centre, 0.0)
    epd = np.zeros((n_f, n_s))
    tfa = np.zeros((n_f, n_s))
    terms = np.zeros(n_s, int)
    notes: list[str] = []
    regs = epd_regressors(data, p) if p.epd else {}
    names = tuple(regs)
    grouped = [[names.index(n) for n in g] for g in _groups(names)]
    templates = np.zeros(0, int)
    trends = SharedTrends(np.zeros((n_f, 0)), np.zeros((n_f, 0)), np.zeros((0, 0)))
    if p.tfa:
        allowed = ok if template_stars is None else ok & np.asarray(template_stars, bool)[None, :]
        templates = choose_templates(data, mag, allowed, p.n_templates, shape)
        if len(templates) >= 2:
            trends = shared_trends(mag[:, templates], mag_err[:, templates], ok[:, templates])
            if trends.k == 0:
                notes.append(f"TFA: {len(templates)} templates share no trend above their noise")
        else:
            notes.append("TFA not made: fewer than two template stars qualify")
            templates = np.zeros(0, int)
    sx, sy = column_median(data.x), column_median(data.y)
    tx, ty = sx[templates], sy[templates]
    typical_err = column_median(np.where(ok, mag_err, np.nan))
    which = typical_err <= p.max_error
    if only is not None:
        which &= np.asarray(only, bool)
    for j in np.flatnonzero(which):
        if j % 50 == 0:
            state.check()
            state.progress(j / n_s, "EPD and TFA")
        basis = trends.basis
        if trends.k:
            # A template near the star (or the star itself) would bring its
            # own light curve in: the trends without those templates.
            near = np.flatnonzero(np.hypot(tx - sx[j], ty - sy[j]) <= p.template_exclusion)
            basis = trends.without(near)
        cols = [np.ones(n_f)]
        cols += [np.nan_to_num(regs[nm][:, j]) for nm in names]
        cols += [basis[:, c] for c in range(basis.shape[1])]
        n_epd = len(names)
        groups = [np.array(g) + 1 for g in grouped]
        groups += [np.array([1 + n_epd + c]) for c in range(basis.shape[1])]
        always = [0]
        if signal is not None and np.any(signal[:, j]):
            cols.append(signal[:, j])
            always.append(len(cols) - 1)
        design = np.column_stack(cols)
        if fit_ok[:, j].sum() < 2 * design.shape[1]:
            continue
        coef, chosen = select_and_fit(
            y[:, j], w[:, j], design, groups, np.array(always), fit_ok[:, j], p.clip
        )
        part_epd = design[:, 1 : 1 + n_epd] @ coef[1 : 1 + n_epd]
        part_tfa = (
            design[:, 1 + n_epd : 1 + n_epd + basis.shape[1]]
            @ coef[1 + n_epd : 1 + n_epd + basis.shape[1]]
        )
        if ok[:, j].any():
            part_epd = part_epd - np.median(part_epd[ok[:, j]])
            part_tfa = part_tfa - np.median(part_tfa[ok[:, j]])
        epd[:, j], tfa[:, j] = part_epd, part_tfa
        terms[j] = int(chosen.sum()) - len(always)
    out = mag - epd - tfa
    rms_before = flux_rms(mag, ok)
    rms_epd = flux_rms(mag - epd, ok)
    rms_after = flux_rms(out, ok, ddof=1 + terms)
    log.info(
        "detrending: EPD on %s, TFA with %d trends from %d templates; median rms %.4f -> %.4f mag",
        ", ".join(names) or "nothing", trends.k, len(templates),
        float(np.nanmedian(rms_before)), float(np.nanmedian(rms_after)),
    )  # fmt: skip
    state.progress(1.0, f"{len(templates)} templates, {trends.k} trends")
    return DetrendResult(
        mag=out, epd=epd, tfa=tfa, terms=terms, templates=templates, rms_before=rms_before,
        rms_epd=rms_epd, rms_after=rms_after, epd_names=names, n_trends=trends.k,
        notes=notes,
    )  # fmt: skip


def good_points(data: FieldData, mag: np.ndarray, mag_err: np.ndarray) -> np.ndarray:
    """The points to fit and judge: clean, with finite magnitudes and errors."""
    with np.errstate(invalid="ignore"):
        return data.good & np.isfinite(mag) & np.isfinite(mag_err) & (mag_err > 0)
