"""The baseline: systematics regressors and their choice by the BIC.

The out-of-transit flux of a differential light curve still drifts with the
airmass (colour difference between target and comparisons), the seeing (FWHM
against a fixed aperture), the sky, the star's place on the detector (flat
field errors) and slowly with time. The model multiplies the transit by a
baseline linear in such regressors (as AstroImageJ does)::

    flux = transit(t) * (c0 + c1 r1 + c2 r2 + ...)

Regressors are standardised (zero mean, unit spread), so the coefficients are
comparable and the normal equations well conditioned. Which ones enter is
decided by the Bayesian information criterion over all small subsets
(:func:`candidate_sets`); a second-order time term only with the first.

The chosen baseline is one of several the data hardly tell apart when the
out-of-transit stretch is short, and the depth and mid-time move with it.
:func:`baseline_spread` gives that spread, each baseline weighted by
exp(-BIC/2) (Bayesian model averaging with the BIC's approximation of the
evidence, as Gibson 2014, MNRAS 445, 3401, does for transit systematics), to
add to the chosen baseline's errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

import numpy as np

__all__ = [
    "REGRESSORS", "regressors_from_columns", "candidate_sets", "design_matrix", "bic",
    "baseline_spread",
]  # fmt: skip

#: Candidate regressors, in the order they are tried and reported.
REGRESSORS = ("airmass", "fwhm", "sky", "x", "y", "time", "time2", "comp_flux")

# Light-curve columns that carry each regressor (first found wins).
_COLUMNS = {
    "airmass": ("airmass",),
    "fwhm": ("fwhm",),
    "sky": ("sky",),
    "x": ("x",),
    "y": ("y",),
    "comp_flux": ("comp_flux", "ensemble_flux"),
}


def _standardise(v: np.ndarray) -> np.ndarray | None:
    v = np.asarray(v, dtype=float)
    if not np.all(np.isfinite(v)):
        return None
    sd = float(np.std(v))
    if not sd > 1e-12 * max(1.0, float(np.max(np.abs(v)))):
        return None  # constant: no information, and would make the matrix singular
    return (v - float(np.mean(v))) / sd


def regressors_from_columns(
    t: np.ndarray, columns: Mapping[str, np.ndarray], t_ref: float | None = None
) -> dict[str, np.ndarray]:
    """Standardised regressors available for a light curve.

    Parameters
    ----------
    t : ndarray
        Times (days).
    columns : mapping
        Per-frame columns by name (``airmass``, ``fwhm``, ``sky``, ``x``, ``y``,
        ``comp_flux``); missing, constant or partly NaN ones are left out.
    t_ref : float, optional
        Time the polynomial is centred on (the expected mid-transit).

    Returns
    -------
    dict
        Name -> standardised array, in :data:`REGRESSORS` order.
    """
    t = np.asarray(t, dtype=float)
    ref = float(np.mean(t)) if t_ref is None else float(t_ref)
    raw: dict[str, np.ndarray] = {}
    for name, keys in _COLUMNS.items():
        for key in keys:
            if key in columns:
                raw[name] = np.asarray(columns[key], dtype=float)
                break
    span = max(float(np.ptp(t)), 1e-6)
    dt = (t - ref) / span
    raw["time"] = dt
    raw["time2"] = dt**2
    out = {}
    for name in REGRESSORS:
        if name in raw:
            v = _standardise(raw[name])
            if v is not None:
                out[name] = v
    return out


def candidate_sets(
    available: list[str] | tuple[str, ...], max_terms: int = 3, required: tuple[str, ...] = ()
) -> list[tuple]:
    """Every subset of the regressors with at most ``max_terms`` members.

    ``time2`` is only tried together with ``time`` (a parabola without its
    slope is not a sensible trend). Every subset holds the ``required``
    regressors that are available (when ``max_terms`` allows them).
    """
    names = [n for n in REGRESSORS if n in available]
    out: list[tuple] = []
    for k in range(0, min(max_terms, len(names)) + 1):
        for combo in combinations(names, k):
            if "time2" in combo and "time" not in combo:
                continue
            if any(r in names and r not in combo for r in required[:max_terms]):
                continue
            out.append(combo)
    return out


def design_matrix(regressors: Mapping[str, np.ndarray], names: tuple, n: int) -> np.ndarray:
    """Baseline design matrix: a column of ones, then the named regressors."""
    cols = [np.ones(n)] + [np.asarray(regressors[k], dtype=float) for k in names]
    return np.column_stack(cols)


def bic(weighted_rss: float, n_points: int, n_parameters: int) -> float:
    """BIC of a Gaussian fit whose common error scale is itself estimated.

    ``N ln(WRSS / N) + k ln N``: the same for every model whatever the
    errors' overall scale, so models are compared on the shape of their
    residuals, not on how well the photometric errors were guessed.
    """
    return float(n_points * np.log(weighted_rss / n_points) + n_parameters * np.log(n_points))


def baseline_spread(bics: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The spread of each parameter over the baselines, weighted by their evidence.

    Parameters
    ----------
    bics : ndarray, shape (m,)
        BIC of each candidate baseline.
    values : ndarray, shape (m, p)
        Each baseline's best parameters.

    Returns
    -------
    ndarray, shape (p,)
        sqrt(sum_i w_i (v_i - vbar)^2), w_i proportional to exp(-BIC_i / 2) and
        vbar = sum_i w_i v_i: the model-averaged variance is the chosen fit's
        plus this one squared. Zero when one baseline holds all the weight.
    """
    bics = np.asarray(bics, dtype=float)
    values = np.asarray(values, dtype=float).reshape(len(bics), -1)
    ok = np.isfinite(bics) & np.all(np.isfinite(values), axis=1)
    if not ok.any():
        return np.zeros(values.shape[1])
    w = np.exp(-0.5 * (bics[ok] - bics[ok].min()))
    w /= w.sum()
    mean = w @ values[ok]
    return np.sqrt(w @ (values[ok] - mean) ** 2)
