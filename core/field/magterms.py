"""Which terms a frame's magnitude correction takes, and which follow the night.

A frame's correction (:mod:`.magfit`) is a linear model in the star's
position, reference magnitude and colour (:func:`design_matrix`). The
models tried are nested, simplest first (:func:`nested_models`); the night
chooses among them by the Bayesian information criterion
(:func:`select_model`), and a frame with few stars takes a smaller one so
that every term rests on at least five stars (:func:`carried_model`).
Terms whose frame-by-frame values the night's seeing, airmass and time
describe within their errors are replaced by that smooth description
(:func:`night_basis`, :func:`smooth_terms`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..runtime.pipeline import StepState
from .data import FieldData

if TYPE_CHECKING:
    from .magfit import MagfitParams, _Frames

__all__ = [
    "carried_model",
    "design_matrix",
    "model_terms",
    "nested_models",
    "night_basis",
    "select_model",
    "smooth_terms",
]


def design_matrix(
    x: np.ndarray,
    y: np.ndarray,
    mag: np.ndarray,
    colour: np.ndarray | None,
    spatial_order: int,
    magnitude_order: int,
    centre: tuple[float, float, float],
    scale: tuple[float, float],
) -> np.ndarray:
    """Columns of a frame's correction: 1, x^i y^j (i + j <= order), m^k, colour.

    ``centre`` = (x0, y0, m0) and ``scale`` = (half width in px, mag scale)
    normalise the variables to about -1..1.
    """
    u = (np.asarray(x, float) - centre[0]) / scale[0]
    v = (np.asarray(y, float) - centre[1]) / scale[0]
    w = (np.asarray(mag, float) - centre[2]) / scale[1]
    cols = [np.ones_like(u)]
    for order in range(1, spatial_order + 1):
        for j in range(order + 1):
            cols.append(u ** (order - j) * v**j)
    for k in range(1, magnitude_order + 1):
        cols.append(w**k)
    if colour is not None:
        cols.append(np.asarray(colour, float))
    return np.column_stack(cols)


def model_terms(model: tuple[int, int, bool]) -> int:
    """Number of columns of ``model``'s design matrix (spatial, magnitude, colour)."""
    s, m, colour = model
    return (s + 1) * (s + 2) // 2 + m + int(colour)


def nested_models(p: MagfitParams, colour: bool) -> list[tuple[int, int, bool]]:
    """The nested models a frame's correction may take, simplest first."""
    return [
        (s, m, c)
        for s in range(p.spatial_order + 1)
        for m in range(p.magnitude_order + 1)
        for c in ((False, True) if colour else (False,))
    ]


def carried_model(model: tuple[int, int, bool], n: int) -> tuple[int, int, bool]:
    """``model``, reduced until a fit of ``n`` stars has at least 5 stars per term."""
    s, m, c = model
    while 5 * model_terms((s, m, c)) > n and (s, m, c) != (0, 0, False):
        if s > 0:
            s -= 1
        elif m > 0:
            m -= 1
        else:
            c = False
    return s, m, c


def night_basis(data: FieldData) -> np.ndarray | None:
    """Per-frame functions the correction's shape may follow: 1, seeing, airmass, time."""
    cols = [np.ones(data.n_frames)]
    for v in (data.frame_column("fwhm"), data.frame_column("airmass"), data.jd):
        if np.all(np.isfinite(v)) and np.ptp(v) > 0:
            cols.append((v - v.mean()) / np.ptp(v))
    basis = np.column_stack(cols)
    return basis if data.n_frames >= 4 * basis.shape[1] else None


def smooth_terms(
    frames: list, model: tuple[int, int, bool], basis: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict] | None:
    """Each term's values over the night fitted on ``basis``.

    Returns the smoothed values and variances (n_frames, n_terms), which
    terms stay free per frame (the zero point always, and a term whose
    frame-to-frame values scatter about the smooth description by more
    than twice their errors: reduced chi-square above 4) and, per held
    term, the linear operator (n_frames, n_fitted_frames) the smoothing is.
    """
    k = model_terms(model)
    full = [i for i, f in enumerate(frames) if f is not None and f[1] == model]
    if len(full) < 4 * basis.shape[1]:
        return None
    coef = np.array([frames[i][3][0] for i in full])
    var = np.array([np.diag(frames[i][3][1]) for i in full])
    b = basis[full]
    values = np.zeros((len(basis), k))
    variances = np.zeros((len(basis), k))
    free = np.zeros(k, bool)
    free[0] = True
    operators: dict[int, np.ndarray] = {}
    for t in range(1, k):
        w = 1.0 / np.maximum(var[:, t], 1e-30)
        inverse = np.linalg.pinv((b * w[:, None]).T @ b)
        # values = operator @ (the term's values in the frames fitted in full)
        operator = basis @ inverse @ (b * w[:, None]).T
        smooth = operator @ coef[:, t]
        chi2 = float(np.sum(w * (coef[:, t] - smooth[full]) ** 2)) / max(len(full) - b.shape[1], 1)
        if chi2 > 4.0:
            free[t] = True
            continue
        values[:, t] = smooth
        variances[:, t] = np.einsum("ij,jk,ik->i", basis, inverse, basis) * max(chi2, 1.0)
        operators[t] = operator
    return values, variances, free, operators


def select_model(
    frames: _Frames,
    models: list[tuple[int, int, bool]],
    reference: np.ndarray,
    reference_var: np.ndarray,
    use: np.ndarray,
    state: StepState,
) -> tuple[tuple[int, int, bool], dict]:
    """The model with the smallest Bayesian information criterion over the night.

    Each term costs ln(N) per frame; the chi-square is divided by the
    reduced chi-square of the largest model so that errors that understate
    the scatter do not let every term in.
    """
    passes = {m: frames.fit(m, reference, reference_var, use, state) for m in models}
    largest = passes[models[-1]]
    n_f = int(np.sum(largest.frame_n > 0))
    dof = max(largest.n_points - model_terms(models[-1]) * n_f, 1)
    scale = max(largest.chi2 / dof, 1.0)
    per_frame = largest.n_points / max(n_f, 1)
    bic = {
        m: passes[m].chi2 / scale + model_terms(m) * n_f * np.log(max(per_frame, 2.0))
        for m in models
    }
    best = min(models, key=lambda m: bic[m])
    return best, {f"{m[0]},{m[1]},{int(m[2])}": round(float(v), 1) for m, v in bic.items()}
