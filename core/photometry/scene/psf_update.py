"""Re-estimating the PSF from the best stars of the scene, neighbours subtracted.

crowdsource keeps stars whose light in their stamp is mostly their own, whose
centroids moved little and that are bright and unsaturated, and takes the
median of their stamps. Here the same selection feeds the pixel-integrated
profile fit of :func:`fluxion.core.photometry.epsf.fit_analytic_psf` (or
photutils' EPSFBuilder for an empirical PSF) on the image with every other
star subtracted.
"""

from __future__ import annotations

import logging

import numpy as np
from astropy.stats import mad_std
from scipy.spatial import cKDTree

from ..epsf import EffectivePSF, build_epsf, fit_analytic_psf, fit_analytic_stamps
from ..gridpsf import PSFField, choose_psf, refit_field, refit_shape
from ..gridpsf.fit import StarStamps
from .design import FieldTables, StampTable, gather, psf_tables
from .design import _phase as phase
from .records import NoisyImage, PlacedStars, SceneStars
from .variation import P_VALUE, shape_variation_p

__all__ = [
    "blend_scores",
    "isolated_stamps",
    "refit_field_on_stamps",
    "refit_on_stamps",
    "refit_psf",
    "select_psf_stars",
    "stamp_scores",
]

log = logging.getLogger(__name__)

STAMP = 21
SCORE_SIZE = 15  # px: the stamp of the profile fit
BLEND_CUT = 3.0  # robust sigmas of the chi^2 above which a PSF star is a blend
ALONE = 10.0  # px: no other fitted star this near a PSF star (4 FWHM of a 2.5 px core)
FIELD_STAMP_STARS = 3000
"""Most stars (the brightest clean ones, each on its own stamp) of a varying PSF's later refits."""


def select_psf_stars(
    stars: SceneStars,
    own_fraction: np.ndarray,
    bad_near: np.ndarray,
    shape: tuple[int, int],
    *,
    min_snr: float = 30.0,
    max_stars: int = 400,
    alone: float = ALONE,
    apart: bool = True,
) -> np.ndarray:
    """Indices of stars fit to shape the PSF: bright, dominant in their stamp, clean.

    ``stars`` give their positions and S/N; ``own_fraction`` is each star's
    share of the model's light in its core, ``bad_near`` marks the stars with
    a pixel without weight nearby, and ``shape`` is the frame's (ny, nx).
    With ``apart`` chosen stars are also at least a stamp apart, so that one
    image with only the other stars subtracted serves all of them (without
    it each star gets its own stamp: :func:`star_stamps`); and they have no
    other fitted star within ``alone`` px.
    """
    x, y, snr = stars.x, stars.y, stars.snr
    ny, nx = shape
    m = STAMP
    ok = (snr > min_snr) & (own_fraction > 0.8) & ~bad_near
    if alone > 0 and len(x) > 1:
        # A neighbour's model, subtracted with the PSF still being refined
        # (the first pass's constant one in a varying field), bends the
        # star's wings: FA (500 stars, PSF 2.5 -> 4.5 px) fitted beta 2.990
        # for 3 with them, 2.998 without, and fluxes +0.06..+0.10 sigma
        # against the oracle's became +0.03..+0.06.
        near, _ = cKDTree(np.c_[x, y]).query(np.c_[x, y], k=2)
        ok &= near[:, 1] > alone
    ok &= (x > m) & (x < nx - 1 - m) & (y > m) & (y < ny - 1 - m)
    cand = np.flatnonzero(ok)
    cand = cand[np.argsort(snr[cand])[::-1]]
    chosen: list[int] = []
    pts = np.c_[x, y]
    if not apart:
        return cand[:max_stars].astype(np.int64)
    for i in cand:
        if chosen and np.hypot(*(pts[chosen] - pts[i]).T).min() < STAMP:
            continue
        chosen.append(int(i))
        if len(chosen) >= max_stars:
            break
    return np.array(chosen, dtype=np.int64)


def blend_scores(
    isolated_image: np.ndarray,
    variance: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    psf: EffectivePSF | PSFField,
    mask: np.ndarray,
) -> np.ndarray:
    """Reduced chi^2 of each star against ``psf`` (flux and shift free) in its stamp.

    A PSF star that is an unresolved blend (a faint companion within a
    pixel or two, which the scene could not separate) fits the PSF worse
    than a single star of its brightness.
    """
    size = SCORE_SIZE
    half = size // 2
    ny, nx = isolated_image.shape
    tables = psf_tables(psf, (size,))
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xi, mx, ddx = phase(x)
    yi, my, ddy = phase(y)
    d = np.arange(-half, half + 1)
    r = np.clip(yi[:, None, None] + d[None, :, None], 0, ny - 1)
    c = np.clip(xi[:, None, None] + d[None, None, :], 0, nx - 1)
    p, px, py = (gather(tables, size, k, my, mx, x, y) for k in ("p", "px", "py"))
    p = p + ddx[:, None, None] * px + ddy[:, None, None] * py
    w = np.where(mask[r, c], 0.0, 1.0 / variance[r, c])
    return stamp_scores(isolated_image[r, c], w, p, px, py)


def stamp_scores(
    data: np.ndarray, w: np.ndarray, p: np.ndarray, px: np.ndarray, py: np.ndarray
) -> np.ndarray:
    """Reduced chi^2 of stamps ``data`` (N, S, S), weights ``w``, on the PSF ``p`` and its shifts.

    The core of :func:`blend_scores`, for stamps already cut out.
    """
    n = len(data)
    a = np.stack([p, px, py], axis=-1).reshape(n, -1, 3)
    data = data.reshape(n, -1)
    w = w.reshape(n, -1)
    coef, resid = _linear_fit(a, w, data)
    # The mismatch of ``psf`` common to all stars (the PSF is still being
    # refined) is one more column, the median residual per unit flux: its
    # chi^2 grows with flux and would otherwise reject the brightest stars,
    # not the blends.
    f = coef[:, 0]
    pos = f > 0
    if pos.sum() >= 5:
        common = np.median(resid[pos] / f[pos, None], axis=0)
        a = np.concatenate([a, np.broadcast_to(common, (n, a.shape[1]))[..., None]], axis=2)
        coef, resid = _linear_fit(a, w, data)
    dof = np.maximum(np.count_nonzero(w, axis=1) - a.shape[2], 1)
    return np.sum(w * resid * resid, axis=1) / dof


def _linear_fit(a: np.ndarray, w: np.ndarray, data: np.ndarray):
    """Per-star weighted least squares of ``data`` (N, P) on columns ``a`` (N, P, K)."""
    ata = np.einsum("npi,np,npj->nij", a, w, a)
    atb = np.einsum("npi,np,np->ni", a, w, data)
    ata += np.eye(a.shape[2])[None] * 1e-12 * np.trace(ata, axis1=1, axis2=2)[:, None, None]
    coef = np.linalg.solve(ata, atb[..., None])[..., 0]
    return coef, data - np.einsum("npi,ni->np", a, coef)


def refit_psf(
    isolated: NoisyImage,
    positions: np.ndarray,
    psf: EffectivePSF | PSFField,
    *,
    kind: str,
    choose: bool = False,
    iterations: int = 2,
    drop_blends: bool = True,
) -> EffectivePSF | PSFField:
    """A new PSF from stars at ``positions`` (N, 2: x, y) on an image where all other
    stars are subtracted (``isolated``, with its variance and pixels without weight).

    A field-varying PSF is refitted as the same model (the polynomial
    degree, the cells); with ``choose`` a constant one may become varying
    when held-out stars ask for it (:func:`fluxion.core.photometry.gridpsf.choose_psf`).
    A grid read from a file is kept. ``iterations`` are the analytic
    profile fit's (re-centre the stars, refit the shape).

    With ``drop_blends``, the stars whose fit to the current PSF is an outlier
    (blends) are dropped first, as crowdsource's median stack of stamps
    ignores them. On case C (20000 stars in 2048^2) ~15% of the 400 PSF
    stars hide a companion that the scene did not separate; with them, the
    fitted Moffat came out wide (FWHM 3.507, beta 2.99 for 3.5, 3) and the
    fluxes above 30000 e- high by +0.5 sigma; without them (oracle: the true
    blends removed) FWHM 3.501. Keeps the old PSF when the fit fails.
    """
    isolated_image, mask = isolated.image, isolated.mask
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    try:
        if drop_blends and len(pos) >= 20:
            score = blend_scores(isolated_image, isolated.variance, pos[:, 0], pos[:, 1], psf, mask)
            med = np.median(score)
            keep = score < med + BLEND_CUT * mad_std(score)
            log.debug("PSF stars: %d of %d kept (blends dropped)", keep.sum(), len(keep))
            pos = pos[keep]
        if isinstance(psf, PSFField):
            return refit_field(isolated_image, pos, psf, mask)
        if kind == "empirical" and len(pos) >= 10:
            new = build_epsf(isolated_image, pos, size=25, mask=mask, maxiters=3)
        else:
            k = "gaussian" if kind == "gaussian" else "moffat"
            # The shape starts from the current PSF's (FWHM and beta).
            new, _ = fit_analytic_psf(
                isolated_image,
                pos,
                psf.fwhm,
                kind=k,
                mask=mask,
                iterations=iterations,
                beta=psf.moffat_beta,
            )
            # A fit that ran to a bound or jumped is a failed fit, not a new PSF.
            if not 0.7 < new.fwhm / psf.fwhm < 1.4 or not 0.55 < new.fwhm < 45:
                raise ValueError(f"refitted FWHM {new.fwhm:.2f} px is implausible")
        if not choose:
            return new
        k = "gaussian" if kind == "gaussian" else "moffat"
        if kind != "empirical":
            # The held-out choice costs a third of the scene fit; a frame
            # whose stars' shapes do not vary keeps its constant PSF.
            p_value = shape_variation_p(
                isolated_image, pos, new.fwhm, new.moffat_beta, kind=k, mask=mask
            )
            log.debug("PSF shape variation across the frame: p = %.3g", p_value)
            if p_value >= P_VALUE:
                return new
        return choose_psf(
            isolated_image, pos, new, kind=k, mask=mask, cells=kind == "empirical"
        ).psf
    except (ValueError, np.linalg.LinAlgError) as exc:
        log.info("PSF not refitted: %s", exc)
        return psf


def isolated_stamps(
    resid: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    own_sizes: np.ndarray,
    table: StampTable | FieldTables,
    mask: np.ndarray,
    size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each star's stamp with every other star subtracted: the residual plus its own model.

    ``resid`` is the image minus the sky and the model of all stars, in which
    each star was drawn with the stamp of ``own_sizes`` px: only that part
    is added back (the residual beyond it holds the star's own wings, which a
    larger added model would count twice). Stars closer than a stamp each
    get their own neighbour-free stamp, so the PSF can be fitted on every
    bright star, not only on stars a stamp apart on one shared image.
    ``table`` is the constant PSF's tables of at least ``size`` px, or a
    varying PSF's tables (each star's PSF where it is).

    Returns
    -------
    data, w, off, p, px, py
        Stamps (N, size, size), validity (0 on ``mask``), the stars' offsets
        from their central pixels (N, 2), and the PSF's stamps and shift
        derivatives at those offsets.
    """
    half = size // 2
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xi, mx, ddx = phase(x)
    yi, my, ddy = phase(y)
    if isinstance(table, FieldTables):
        big = min(s for s in table.parts[0] if s >= size)
        w = table.weights(x, y)
        stamps = [gather(table, big, k, my, mx, x, y, w) for k in ("p", "px", "py")]
    else:
        big = table.size
        stamps = [getattr(table, k)[my, mx] for k in ("p", "px", "py")]
    o = (big - size) // 2
    sl = slice(o, o + size)
    p, px, py = (st[:, sl, sl].astype(np.float64) for st in stamps)
    # The design's first-order move from the phase centre to the star.
    p = p + ddx[:, None, None] * px + ddy[:, None, None] * py
    d = np.arange(-half, half + 1)
    inside = np.maximum(np.abs(d)[:, None], np.abs(d)[None, :])
    own = p * (inside[None] <= (np.asarray(own_sizes) // 2)[:, None, None])
    r = yi[:, None, None] + d[None, :, None]
    c = xi[:, None, None] + d[None, None, :]
    data = resid[r, c] + np.asarray(flux, dtype=np.float64)[:, None, None] * own
    w = (~mask[r, c]).astype(np.float64)
    off = np.c_[x - xi, y - yi]
    return data, w, off, p, px, py


def refit_on_stamps(
    resid: NoisyImage,
    stars: PlacedStars,
    psf: EffectivePSF,
    table: StampTable,
    *,
    kind: str,
    size: int = SCORE_SIZE,
    iterations: int = 1,
) -> EffectivePSF:
    """The analytic profile refitted on every chosen star's own neighbour-free stamp.

    ``resid`` is the image minus the sky and every star's model, each star
    drawn at ``stars``' position and flux with its stamp of ``stars.sizes``
    px (:func:`isolated_stamps`). Blends (an outlying chi^2 against ``psf``)
    are dropped first, as in :func:`refit_psf`; keeps ``psf`` when the fit
    fails.
    """
    x, y, own_sizes, mask = stars.x, stars.y, stars.stamp_sizes, resid.mask
    try:
        data, w, off, p, px, py = isolated_stamps(
            resid.image, x, y, stars.flux, own_sizes, table, mask, size
        )
        if len(data) >= 20:
            var, *_ = isolated_stamps(
                resid.variance, x, y, np.zeros(len(x)), own_sizes, table, mask, size
            )
            score = stamp_scores(data, w / var, p, px, py)
            keep = score < np.median(score) + BLEND_CUT * mad_std(score)
            log.debug("PSF stars: %d of %d kept (blends dropped)", keep.sum(), len(keep))
            data, w, off = data[keep], w[keep], off[keep]
        k = "gaussian" if kind == "gaussian" else "moffat"
        # The shape starts from the current PSF's (FWHM and beta): a refit
        # moves it by a little, which the fit then takes few evaluations for.
        new, _ = fit_analytic_stamps(
            data, w, off, psf.fwhm, kind=k, iterations=iterations, beta=psf.moffat_beta
        )
        if not 0.7 < new.fwhm / psf.fwhm < 1.4 or not 0.55 < new.fwhm < 45:
            raise ValueError(f"refitted FWHM {new.fwhm:.2f} px is implausible")
        return new
    except (ValueError, np.linalg.LinAlgError) as exc:
        log.info("PSF not refitted: %s", exc)
        return psf


def refit_field_on_stamps(
    resid: NoisyImage,
    stars: PlacedStars,
    psf: PSFField,
    tables: FieldTables,
    *,
    size: int = SCORE_SIZE,
) -> PSFField:
    """A varying PSF's shape model refitted on every chosen star's own neighbour-free stamp.

    As :func:`refit_on_stamps` for one PSF: ``resid`` is the image less the
    sky and every star's model (drawn with ``tables``), each star's own
    model is added back in its stamp, blends are dropped, and the shape's
    polynomials (:func:`.gridpsf.refit_shape`) are fitted to all the stamps.
    Stars need not be a stamp apart nor alone, so a crowded frame's PSF comes
    from all its bright clean stars (on 5000 stars in 1024^2, ~1000 where
    one shared image allowed 400). Keeps ``psf`` when it has no shape model
    or the fit fails.
    """
    if psf.meta.get("shape") is None:
        return psf
    x, y, mask = stars.x, stars.y, resid.mask
    try:
        data, w, off, p, px, py = isolated_stamps(
            resid.image, x, y, stars.flux, stars.stamp_sizes, tables, mask, size
        )
        if len(data) >= 20:
            var, *_ = isolated_stamps(
                resid.variance, x, y, np.zeros(len(x)), stars.stamp_sizes, tables, mask, size
            )
            score = stamp_scores(data, w / var, p, px, py)
            keep = score < np.median(score) + BLEND_CUT * mad_std(score)
            log.debug("PSF stars: %d of %d kept (blends dropped)", keep.sum(), len(keep))
            data, w, off = data[keep], w[keep], off[keep]
            x, y = x[keep], y[keep]
        # The sky's noise from the stamps' edges, as star_cutouts takes it.
        ring = np.concatenate([data[:, 0].ravel(), data[:, -1].ravel()])
        sky_var = max(float(mad_std(ring)) ** 2, 1e-6)
        cut = StarStamps(data, w, off, np.c_[x, y] - off, sky_var)
        new = refit_shape(cut, resid.image.shape, psf)
        if not 0.7 < new.fwhm / psf.fwhm < 1.4 or not 0.55 < new.fwhm < 45:
            raise ValueError(f"refitted FWHM {new.fwhm:.2f} px is implausible")
        log.debug("varying PSF refitted on %d stamps: beta %.4f", new.n_stars, new.moffat_beta)
        return new
    except (ValueError, np.linalg.LinAlgError) as exc:
        log.info("PSF not refitted: %s", exc)
        return psf
