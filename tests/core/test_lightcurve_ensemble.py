"""The comparison ensemble chosen from stored per-light tables (core.lightcurve.ensemble).

A synthetic night of known fluxes and errors: stars found again by sky
position in every light whatever order the tables list them, the target
never its own comparison, a variable star and a star missing from a fifth
of the lights refused, a star missing from a few lights kept (those lights'
ensemble renormalised), and the differential curve's pulls of unit width
with the common error taken out and scintillation added.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.lightcurve.comparison import ComparisonError
from fluxion.core.lightcurve.differential import differential_magnitudes
from fluxion.core.lightcurve.ensemble import choose_ensemble, relative_flux, stored_measurement

N_FRAMES, N_STARS = 200, 30
SCINT = 0.002  # relative, every star, every light
COMMON = 0.01  # relative, common to a light's stars (an aperture correction's)


def _night(seed: int = 5):
    rng = np.random.default_rng(seed)
    ra = 150.0 + rng.uniform(-0.1, 0.1, N_STARS)
    dec = 20.0 + rng.uniform(-0.1, 0.1, N_STARS)
    flux = 10 ** rng.uniform(4.0, 5.0, N_STARS)
    phot_err = np.sqrt(flux + 400.0)
    extinction = 10 ** (-0.4 * 0.2 * np.linspace(1.6, 1.0, N_FRAMES))
    common = 1 + COMMON * rng.standard_normal(N_FRAMES)
    variable = 3
    tables = []
    truth = np.empty((N_FRAMES, N_STARS))
    for i in range(N_FRAMES):
        f = flux * extinction[i] * common[i]
        f = f * (1 + SCINT * rng.standard_normal(N_STARS))
        f[variable] *= 1 + 0.05 * np.sin(i / 10)
        truth[i] = f
        measured = f + phot_err * np.sqrt(extinction[i]) * rng.standard_normal(N_STARS)
        err = np.hypot(phot_err * np.sqrt(extinction[i]), measured * COMMON)
        jitter = rng.normal(0, 0.2 / 3600, (2, N_STARS))  # 0.2 arcsec
        order = rng.permutation(N_STARS)
        keep = order
        if i < 14:  # star 5 is off the field in the first 7 % of the lights (a drift)
            keep = keep[keep != 5]
        if 100 <= i < 140:  # star 6 in a fifth of them
            keep = keep[keep != 6]
        t = Table(
            {
                "ra": (ra + jitter[0])[keep], "dec": (dec + jitter[1])[keep],
                "x": (ra[keep] - 149.9) * 3600 / 2, "y": (dec[keep] - 19.9) * 3600 / 2,
                "flux": measured[keep], "flux_err": err[keep],
                "flags": np.zeros(keep.size, np.int64),
            }
        )  # fmt: skip
        tables.append(t)
    # The target (star 0): its row in each light, found by its place.
    near = [int(np.argmin(np.hypot(t["ra"] - ra[0], t["dec"] - dec[0]))) for t in tables]
    columns = ("ra", "dec", "x", "y", "flux", "flux_err", "flags")
    rows = Table(
        {c: np.array([t[c][k] for t, k in zip(tables, near, strict=True)]) for c in columns}
    )
    return tables, rows, ra, dec, common


def _column(xy: np.ndarray, ra: np.ndarray, dec: np.ndarray, star: int) -> int:
    """The measurement's column of a star of the night (by its place in the reference light)."""
    place = np.array([(ra[star] - 149.9) * 3600 / 2, (dec[star] - 19.9) * 3600 / 2])
    return int(np.argmin(np.hypot(*(xy - place).T)))


def test_the_ensemble_refuses_the_variable_and_the_missed_star_and_its_pulls_are_unit():
    tables, target, *_ = _night()
    scint = np.full(N_FRAMES, SCINT)
    m, xy = stored_measurement(
        tables, target, match_arcsec=2.0, scintillation=scint, common_err=np.full(N_FRAMES, COMMON)
    )
    # 29 candidates: the target is not one of them.
    assert m.star_flux.shape == (N_FRAMES, N_STARS - 1)
    chosen = choose_ensemble(m, xy, isolation_px=1.0)
    reasons = " ".join(chosen.choice.rejected.values())
    assert "measured in < 90% of frames" in reasons and "variable in the sequence" in reasons
    tables, target, ra, dec, _ = _night()
    five, six = _column(xy, ra, dec, 5), _column(xy, ra, dec, 6)
    assert chosen.choice.rejected[six] == "measured in < 90% of frames"
    assert five not in chosen.choice.rejected
    assert len(chosen.choice.comparison) >= 5
    comp = sorted({*chosen.choice.comparison, five})
    diff = differential_magnitudes(m.target_flux, m.target_err, m.star_flux[:, comp],
                                   m.star_err[:, comp])  # fmt: skip
    assert np.all(diff.n_comparison[:14] == len(comp) - 1)
    pull = (diff.mag - np.mean(diff.mag)) / diff.mag_err
    assert 0.8 < np.std(pull) < 1.2, np.std(pull)
    # No step where star 5 is missing: those lights' mean is the others' within its error.
    step = np.mean(diff.mag[:14]) - np.mean(diff.mag[14:])
    assert abs(step) < 3 * np.std(diff.mag[14:]) / np.sqrt(14)
    # The pruning's scatter counts those lights (renormalised), not only the complete ones.
    assert np.all(np.isnan(relative_flux(m, comp)[:14]))
    rel = relative_flux(m, comp, per_frame=True)
    assert np.all(np.isfinite(rel))
    spread = np.std(rel[14:]) / np.mean(rel[14:])
    assert abs(np.mean(rel[:14]) / np.mean(rel[14:]) - 1) < 3 * spread / np.sqrt(14)


def test_without_taking_out_the_common_error_the_pulls_are_too_narrow():
    tables, target, *_ = _night()
    m, xy = stored_measurement(tables, target, match_arcsec=2.0,
                               scintillation=np.full(N_FRAMES, SCINT))  # fmt: skip
    comp = list(choose_ensemble(m, xy, isolation_px=1.0).choice.comparison)
    diff = differential_magnitudes(m.target_flux, m.target_err, m.star_flux[:, comp],
                                   m.star_err[:, comp])  # fmt: skip
    pull = (diff.mag - np.mean(diff.mag)) / diff.mag_err
    assert np.std(pull) < 0.8


def test_no_sky_positions_is_said():
    t = Table({"x": [1.0], "y": [2.0], "flux": [1.0], "flux_err": [0.1]})
    with pytest.raises(ComparisonError, match="no light has measured stars with sky positions"):
        stored_measurement([t, None], t, match_arcsec=2.0)
