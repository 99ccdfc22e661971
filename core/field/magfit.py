"""Magnitude fitting: every frame's magnitudes brought onto a reference, AutoWISP's way.

The differences between a frame's instrumental magnitudes and the
reference's (extinction and transparency, an aperture losing more or less
light with the seeing, extinction that depends on colour, vignetting that a
flat did not remove) are smooth across the frame and across stars. Each
frame is fitted to the reference with a smooth function of the star's
position (a polynomial in x, y), its brightness (the reference magnitude: a
sky level a little off, a non-linear response) and its colour (second-order
extinction), by weighted least squares with clipping, and the fit is
subtracted from every star of the frame, measured or not in the fit. Which
terms the night's data support is :mod:`.magterms`.

The reference is first one good frame (the one with most stars measured, of
those the deepest); then the master: each star's weighted mean over the
fitted frames, and the frames are fitted again to it. Stars that vary more
than their peers of the same brightness (running median of the rms in
magnitude order) are left out of the fits, so a variable star does not
bend the frames' corrections. AutoWISP iterates the same way (Penev et al.,
HATNet's magnitude fitting); the weighted least squares here are numpy's,
as the fit is a small linear problem per frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..runtime.params import param
from ..runtime.pipeline import StepState
from .data import FieldData
from .flags import FieldFlag
from .magterms import (
    carried_model,
    design_matrix,
    model_terms,
    nested_models,
    night_basis,
    select_model,
    smooth_terms,
)
from .noise import MAG_PER_LN
from .stats import column_median, flux_rms, peer_ratio

__all__ = ["MagfitParams", "MagfitResult", "magnitude_fit", "design_matrix", "peer_ratio"]

log = logging.getLogger(__name__)

# Magnitudes enter the fit centred and scaled, so the coefficients are comparable.
_MAG_SCALE = 5.0


@dataclass(frozen=True)
class MagfitParams:
    """How each frame is fitted to the reference."""

    spatial_order: int = param(
        2, label="Position polynomial order", minimum=0, maximum=4,
        help="Order of the polynomial in x, y that the frame's correction may have "
        "(0: one zero point; 2: vignetting and a tilt of the transparency).",
    )  # fmt: skip
    magnitude_order: int = param(
        1, label="Brightness order", minimum=0, maximum=3,
        help="Order of the polynomial in the star's magnitude (a sky level a little off "
        "shows as a correction that grows toward faint stars).",
    )  # fmt: skip
    colour_term: bool = param(
        True, label="Colour term",
        help="Fit a term in the star's catalogue colour (second-order extinction changes "
        "with airmass through the night).",
    )  # fmt: skip
    iterations: int = param(
        3, label="Master iterations", minimum=0, maximum=10,
        help="Times the reference is rebuilt as the mean of the fitted frames.",
    )  # fmt: skip
    clip: float = param(
        4.0, label="Clipping", unit="sigma", minimum=2.0, maximum=20.0,
        help="Stars further than this from a frame's fit are left out of it.",
    )  # fmt: skip
    variability_limit: float = param(
        1.5, label="Variability limit", minimum=1.05, maximum=10.0,
        help="A star whose rms is this many times that of its peers of the same "
        "brightness is left out of the fits.",
    )  # fmt: skip
    max_error: float = param(
        0.05, label="Largest error", unit="mag", minimum=0.001, maximum=1.0,
        help="Stars whose typical error exceeds this are not used in the fits: the "
        "magnitude of a noisy flux is biased by its noise, which changes from frame to frame.",
    )  # fmt: skip
    smooth: bool = param(
        True, label="Smooth over the night",
        help="Terms beyond each frame's zero point follow the seeing, airmass and time "
        "over the night when their frame-by-frame values allow it, so that a frame's "
        "correction rests on the whole night's stars.",
    )  # fmt: skip
    min_coverage: float = param(
        0.8, label="Fewest frames", minimum=0.1, maximum=1.0,
        help="A star must be measured in this fraction of the frames to take part in the fits.",
    )  # fmt: skip


@dataclass
class MagfitResult:
    """Magnitudes after fitting, the reference and what each fit did.

    Attributes
    ----------
    mag, mag_err : ndarray (n_frames, n_stars)
        Fitted magnitudes (on the catalogue's scale when catalogue magnitudes
        were given, else the reference frame's instrumental scale) and their
        error: the point's own and the frame fit's prediction error there.
    reference, reference_err : ndarray (n_stars,)
        The master reference magnitudes (same scale) and their errors.
    used : ndarray of bool (n_stars,)
        Stars used in the last fits.
    excluded : dict of int to str
        Why a star with enough points was left out (star index -> reason).
    frame_rms : ndarray (n_frames,)
        Weighted rms (mag) of each frame's fit residuals.
    frame_n : ndarray of int (n_frames,)
        Stars in each frame's last fit.
    frame_terms : ndarray of int (n_frames,)
        Terms each frame's fit could carry (fewer when few stars).
    reference_frame : int
        The frame that served as the first reference.
    offset : float
        Instrumental -> catalogue offset added (0 without catalogue magnitudes).
    flags : ndarray of int (n_frames, n_stars)
        The data's flags with ``MAGFIT_OUTLIER`` where a fitted star was clipped.
    """

    mag: np.ndarray
    mag_err: np.ndarray
    reference: np.ndarray
    reference_err: np.ndarray
    used: np.ndarray
    frame_rms: np.ndarray
    frame_n: np.ndarray
    frame_terms: np.ndarray
    reference_frame: int
    offset: float
    flags: np.ndarray
    excluded: dict[int, str] = field(default_factory=dict)
    model: dict = field(default_factory=dict)
    """The model chosen: ``spatial_order``, ``magnitude_order``, ``colour``."""
    bic: dict = field(default_factory=dict)
    """Bayesian information criterion of each model tried ("s,m,c" -> BIC)."""


def _clipped_fit(
    a: np.ndarray, d: np.ndarray, w: np.ndarray, clip: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float, np.ndarray, np.ndarray]:
    """Weighted least squares, clipping residuals beyond ``clip`` sigma.

    Returns the coefficients, their covariance (scaled by the reduced
    chi-square when it exceeds 1), the mask of points kept, each kept
    point's leverage (the hat matrix's diagonal, 0 for points left out), the
    weighted rms, the chi-square of the kept points, the unscaled inverse
    normal matrix and every point's residual.
    """
    keep = np.ones(len(d), bool)
    k = a.shape[1]
    chi2 = 0.0
    for _ in range(10):
        aw = a[keep] * w[keep, None]
        # The normal equations: k is at most ~20, far from ill-conditioned
        # with positions and magnitudes scaled to about -1..1.
        inverse = np.linalg.pinv(aw.T @ a[keep])
        coef = inverse @ (aw.T @ d[keep])
        resid = d - a @ coef
        chi2 = float(np.sum(w[keep] * resid[keep] ** 2))
        scale = max(chi2 / max(int(keep.sum()) - k, 1), 1.0)
        # Clip against the scatter the fit shows when the errors understate it.
        new = np.abs(resid) < clip * np.sqrt(scale / w)
        if np.array_equal(new, keep) or new.sum() <= k:
            break
        keep = new
    inverse = np.linalg.pinv((a[keep] * w[keep, None]).T @ a[keep])
    leverage = np.zeros(len(d))
    leverage[keep] = w[keep] * np.einsum("ij,jk,ik->i", a[keep], inverse, a[keep])
    rms = float(np.sqrt(np.sum(w[keep] * resid[keep] ** 2) / np.sum(w[keep])))
    scale = max(chi2 / max(int(keep.sum()) - k, 1), 1.0)
    return coef, inverse * scale, keep, leverage, rms, chi2, inverse, resid


def _weighted_mean(
    m: np.ndarray, var: np.ndarray, ok: np.ndarray, clip: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-star weighted mean over frames (clipped), its error and the rms about it."""
    keep = ok.copy()
    mm = np.where(ok, m, 0.0)
    for _ in range(3):
        w = np.where(keep, 1.0 / var, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.sum(w * mm, axis=0) / np.sum(w, axis=0)
        resid = np.where(ok, m - mean, np.inf)
        # The scatter from the median squared residual (the median of chi2 with
        # one degree of freedom is 0.455), so outliers do not set it.
        sq = np.sort(resid**2, axis=0)
        n = ok.sum(axis=0)
        median_sq = sq[np.maximum(n // 2, 0), np.arange(m.shape[1])]
        scatter = np.sqrt(np.where(n > 0, median_sq, np.inf) / 0.455)
        limit = np.maximum(clip * scatter, clip * np.sqrt(var))
        keep = ok & (np.abs(resid) < limit)
    w = np.where(keep, 1.0 / var, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.sum(w * mm, axis=0) / np.sum(w, axis=0)
        err = 1.0 / np.sqrt(np.sum(w, axis=0))
    return mean, err, flux_rms(m, ok)


@dataclass
class _Pass:
    """One pass of frame fits against a reference."""

    fitted: np.ndarray
    model_var: np.ndarray
    outlier: np.ndarray
    frame_rms: np.ndarray
    frame_n: np.ndarray
    frame_terms: np.ndarray
    chi2: float
    n_points: int


class _Frames:
    """The night's frames fitted to a reference with one model."""

    def __init__(self, data: FieldData, p: MagfitParams, point_var: np.ndarray,
                 colour: np.ndarray | None, centre_xy, half: float) -> None:  # fmt: skip
        self.data, self.p, self.point_var, self.colour = data, p, point_var, colour
        self.centre_xy, self.half = centre_xy, half
        self.mag, _ = data.instrumental_mag()
        self.good = data.good
        self.basis = night_basis(data) if p.smooth else None

    def fit(
        self,
        model: tuple[int, int, bool],
        reference: np.ndarray,
        reference_var: np.ndarray,
        use: np.ndarray,
        state: StepState,
        smooth: bool = False,
    ) -> _Pass:
        """Fit every frame; with ``smooth``, the terms beyond the zero point follow the night.

        A term whose frame-by-frame values the night's basis (seeing,
        airmass, time) describes within their errors is replaced by that
        smooth description, and each frame's zero point (and the terms that
        do not follow the night) is fitted again with it held: a frame's
        correction then rests on the whole night's stars, not on its own few
        bright ones.
        """
        mag, good, n_f, n_s = self.mag, self.good, *self.mag.shape
        known = np.isfinite(reference)
        m0 = float(np.median(reference[use & known])) if (use & known).any() else 0.0
        centre = (self.centre_xy[0], self.centre_xy[1], m0)
        ref_filled = np.where(known, reference, m0)

        def design(i: int, carried: tuple[int, int, bool]) -> np.ndarray:
            s_ord, m_ord, col = carried
            return design_matrix(
                self.data.x[i], self.data.y[i], ref_filled, self.colour if col else None,
                s_ord, m_ord, centre, (self.half, _MAG_SCALE),
            )  # fmt: skip

        frames: list[tuple | None] = [None] * n_f
        for i in range(n_f):
            state.check()
            ok = good[i] & use & known
            if ok.sum() < 3:
                continue
            carried = carried_model(model, int(ok.sum()))
            a = design(i, carried)
            w = 1.0 / (self.point_var[i, ok] + reference_var[ok])
            fitted = _clipped_fit(a[ok], mag[i, ok] - reference[ok], w, self.p.clip)
            frames[i] = (ok, carried, w, fitted)
        held = None
        if smooth and self.basis is not None and model_terms(model) > 1:
            held = smooth_terms(frames, model, self.basis)
        if held is not None:
            own = self._own_influence(frames, model, held, design, n_s)
        out = _Pass(
            np.full_like(mag, np.nan), np.zeros_like(mag), np.zeros(mag.shape, bool),
            np.full(n_f, np.nan), np.zeros(n_f, int), np.zeros(n_f, int), 0.0, 0,
        )  # fmt: skip
        for i, frame in enumerate(frames):
            if frame is None:
                continue
            ok, carried, w, (coef, cov, keep, leverage, rms, chi2, *_) = frame
            a = design(i, carried)
            fixed = np.zeros(n_s)
            fixed_var = np.zeros(n_s)
            if held is not None and carried == model:
                values, variances, free, _ = held
                hold = ~free
                # Each star's held correction without its own pull on the
                # night's smooth terms (leave-one-out, as for the zero point).
                fixed = a[:, hold] @ values[i, hold] - np.sum(a[:, hold] * own[i], axis=1)
                fixed_var = a[:, hold] ** 2 @ variances[i, hold]
                a = a[:, free]
                d = mag[i, ok] - reference[ok] - fixed[ok]
                coef, cov, keep, leverage, rms, chi2, *_ = _clipped_fit(a[ok], d, w, self.p.clip)
            corr = a @ coef + fixed
            pred_var = np.einsum("ij,jk,ik->i", a, cov, a) + fixed_var
            # A star in the fit pulls the fit toward itself by its leverage h:
            # its correction is the one the other stars give (leave-one-out,
            # r / (1 - h)), so that the fit neither hides its noise nor damps
            # its variation (a transit of a star bright enough to weigh).
            h = np.zeros(n_s)
            h[ok] = np.minimum(leverage, 0.9)
            resid = mag[i] - reference - corr
            corr = corr - np.where(h > 0, resid * h / (1.0 - h), 0.0)
            out.fitted[i] = mag[i] - corr
            out.model_var[i] = pred_var / (1.0 - h)
            out.frame_rms[i], out.frame_n[i] = rms, int(keep.sum())
            out.frame_terms[i] = a.shape[1]
            out.outlier[i, np.flatnonzero(ok)[~keep]] = True
            out.chi2 += chi2
            out.n_points += int(keep.sum())
        return out

    @staticmethod
    def _own_influence(frames: list, model, held, design, n_s: int) -> np.ndarray:
        """Each star's pull on its own smoothed terms: (n_frames, n_stars, n_held).

        Removing star j from frame i' changes that frame's coefficients by
        C a_j w_j r_j / (1 - h_j) (C the fit's inverse normal matrix); the
        smoothing is linear in the coefficients, so the pull on the held
        terms at every frame is the smoothing operator applied to those
        changes.
        """
        values, _, free, operators = held
        hold = np.flatnonzero(~free)
        n_f = len(frames)
        out = np.zeros((n_f, n_s, len(hold)))
        if not len(hold):
            return out
        full = [i for i, f in enumerate(frames) if f is not None and f[1] == model]
        change = np.zeros((len(hold), len(full), n_s))
        for col, i in enumerate(full):
            ok, _, w, fitted = frames[i]
            keep, leverage, inverse, resid = fitted[2], fitted[3], fitted[6], fitted[7]
            stars = np.flatnonzero(ok)[keep]
            a = design(i, model)[stars]
            h = np.minimum(leverage[keep], 0.9)
            pull = (a * (w[keep] * resid[keep] / (1.0 - h))[:, None]) @ inverse.T
            change[:, col, stars] = pull[:, hold].T
        for n, t in enumerate(hold):
            out[:, :, n] = operators[t] @ change[n]
        return out


def magnitude_fit(
    data: FieldData,
    params: MagfitParams | None = None,
    *,
    scintillation: np.ndarray | None = None,
    shape: tuple[int, int] | None = None,
    fit_stars: np.ndarray | None = None,
    state: StepState | None = None,
) -> MagfitResult:
    """Fit every frame's magnitudes to the reference, iterating the master reference.

    Parameters
    ----------
    data : FieldData
        The night; catalogue ``colour`` is used for the colour term and
        ``catalog_mag`` to put the result on the catalogue's scale.
    params : MagfitParams, optional
        The largest model; the terms the night's data support are chosen by
        the Bayesian information criterion against the first master.
    scintillation : ndarray (n_frames,), optional
        Relative rms from scintillation per frame; it weights the fits and is
        part of each point's noise.
    shape : (ny, nx), optional
        Frame size, to normalise positions (else the positions' span).
    fit_stars : ndarray of bool (n_stars,), optional
        Stars that may take part in the fits (default: all); known variables
        and targets are left out here. They are also the peers a star's
        scatter is compared with.
    state : StepState, optional

    Raises
    ------
    ValueError
        When no frame has enough stars measured to serve as the reference.
    """
    p = params or MagfitParams()
    state = state if state is not None else StepState()
    mag, err = data.instrumental_mag()
    good = data.good
    n_f, n_s = mag.shape
    scint = np.zeros(n_f) if scintillation is None else np.asarray(scintillation, float)
    point_var = err**2 + (MAG_PER_LN * scint[:, None]) ** 2
    colour = data.star_column("colour")
    has_colour = p.colour_term and np.isfinite(colour).sum() >= 10
    colour_filled = (
        np.where(np.isfinite(colour), colour, np.nanmedian(colour)) if has_colour else None
    )
    if shape is not None:
        ny, nx = shape
        centre_xy, half = ((nx - 1) / 2.0, (ny - 1) / 2.0), max(nx, ny) / 2.0
    else:
        xs, ys = data.x[np.isfinite(data.x)], data.y[np.isfinite(data.y)]
        if xs.size == 0:
            raise ValueError("no star was placed in any frame")
        centre_xy = (0.5 * (xs.min() + xs.max()), 0.5 * (ys.min() + ys.max()))
        half = max(np.ptp(xs), np.ptp(ys), 1.0) / 2.0

    count = good.sum(axis=1)
    if count.max(initial=0) < 3:
        raise ValueError("no frame has three stars measured: nothing to fit")
    candidates = np.flatnonzero(count >= 0.9 * count.max())
    depth = [np.median(err[i, good[i]]) for i in candidates]
    ref_frame = int(candidates[int(np.argmin(depth))])
    reference = np.where(good[ref_frame], mag[ref_frame], np.nan)
    reference_var = np.where(good[ref_frame], point_var[ref_frame], np.nan)
    coverage = good.mean(axis=0)
    typical_err = column_median(np.where(good, err, np.nan))
    enough = (coverage >= p.min_coverage) & (typical_err <= p.max_error)
    allowed = np.ones(n_s, bool) if fit_stars is None else np.asarray(fit_stars, bool)
    enough &= allowed
    use = enough & np.isfinite(reference)
    frames = _Frames(data, p, point_var, colour_filled, centre_xy, half)
    models = nested_models(p, has_colour)
    model = models[-1]
    bic: dict = {}
    excluded: dict[int, str] = {}
    total = p.iterations + 2
    for it in range(total):
        sub = state.sub(it / total, (it + 1) / total)
        if it == 1:
            model, bic = select_model(frames, models, reference, reference_var, use, sub)
        fit = frames.fit(model, reference, reference_var, use, sub, smooth=it >= 1)
        # The master: each star's mean over the fitted frames.
        ok = good & np.isfinite(fit.fitted)
        reference, mean_err, rms = _weighted_mean(fit.fitted, point_var + fit.model_var, ok, 5.0)
        reference_var = mean_err**2
        if it == total - 1:
            break
        ratio = np.full(n_s, np.nan)
        ratio[allowed] = peer_ratio(reference[allowed], rms[allowed])
        varies = np.isfinite(ratio) & (ratio > p.variability_limit)
        use = enough & np.isfinite(reference) & ~varies
        excluded = {
            int(j): f"rms {ratio[j]:.2f}x its peers'" for j in np.flatnonzero(varies & enough)
        }
        state.progress((it + 1) / total, f"master reference {it + 1}: {int(use.sum())} stars")
    for j in np.flatnonzero(~enough):
        if not allowed[j]:
            why = "left out by request"
        elif coverage[j] < p.min_coverage:
            why = f"measured in {coverage[j]:.0%} of the frames"
        else:
            why = f"typical error {typical_err[j]:.3f} mag"
        excluded.setdefault(int(j), why)
    cat = data.star_column("catalog_mag")
    both = use & np.isfinite(cat) & np.isfinite(reference)
    offset = float(np.median(cat[both] - reference[both])) if both.sum() >= 3 else 0.0
    flags = data.flags.copy()
    flags[fit.outlier] |= int(FieldFlag.MAGFIT_OUTLIER)
    log.info(
        "magnitude fit: reference frame %d, model %s, %d of %d stars used, median frame rms "
        "%.4f mag", ref_frame, model, int(use.sum()), n_s, float(np.nanmedian(fit.frame_rms)),
    )  # fmt: skip
    state.progress(1.0, f"{int(use.sum())} stars fitted")
    return MagfitResult(
        mag=fit.fitted + offset,
        mag_err=np.sqrt(point_var + fit.model_var),
        reference=reference + offset,
        reference_err=np.sqrt(reference_var),
        used=use,
        frame_rms=fit.frame_rms,
        frame_n=fit.frame_n,
        frame_terms=fit.frame_terms,
        reference_frame=ref_frame,
        offset=offset,
        flags=flags,
        excluded=excluded,
        model={"spatial_order": model[0], "magnitude_order": model[1], "colour": model[2]},
        bic=bic,
    )
