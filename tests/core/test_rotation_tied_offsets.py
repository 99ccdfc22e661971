"""Tied zero points with each night's calibration offset error (``--tie``).

Calibrated magnitudes share one scale up to each night's catalogue offset,
whose error the light curve carries (``meta['magnitude_scale_err']``). Nights
shorter than a rotation with offsets drawn at that error: held to one zero
point the offsets bend the period and its error is too small; each night's
zero point tied to the shared one within its error keeps the error honest.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from fluxion.core.rotation import period_search, session_from_table
from fluxion.core.rotation.sessions import Session

PERIOD_H = 2.7
OFFSET_ERR = 0.03  # mag, each night's calibration offset error
NOISE = 0.01


def _nights(rng: np.random.Generator, scale_err: float) -> list[Session]:
    """Three nights a day apart, 2 h each (0.74 rotations), offsets drawn at OFFSET_ERR."""
    out = []
    for n in range(3):
        jd = 2460500.6 + n * 1.03 + np.arange(40) * 180.0 / 86400.0
        x = 2 * np.pi * (jd - 2460500.0) * 24.0 / PERIOD_H
        mag = 15.0 + 0.15 * np.cos(2 * x) + 0.04 * np.sin(x) + rng.normal(0.0, OFFSET_ERR)
        table = Table({"jd_utc": jd, "mag": mag + rng.normal(0.0, NOISE, jd.size),
                       "mag_err": np.full(jd.size, NOISE)})  # fmt: skip
        table.meta["magnitude_scale_err"] = scale_err
        out.append(session_from_table(table, f"night {n + 1}"))
    return out


def _pulls(scale_err: float, n_draws: int = 100) -> np.ndarray:
    rng = np.random.default_rng(11)
    pulls = []
    for _ in range(n_draws):
        r = period_search(_nights(rng, scale_err), 2.4, 3.0, orders=(2,), tie_zero_points=True)
        pulls.append((r.period - PERIOD_H) / r.period_err)
    return np.asarray(pulls)


def test_tied_nights_keep_their_offsets_within_the_calibration_error():
    nights = _nights(np.random.default_rng(3), OFFSET_ERR)
    assert all(s.zero_point_err == OFFSET_ERR for s in nights)
    r = period_search(nights, 2.4, 3.0, orders=(2,), tie_zero_points=True)
    assert len(set(np.round(r.fit.zero_points, 6))) == 3  # each night its own
    assert any("within its calibration error" in n for n in r.notes)
    pulls = _pulls(OFFSET_ERR)
    # 100 draws: the width is known to +-0.07 and the mean to +-0.1 (1 sigma).
    assert 0.8 < np.std(pulls) < 1.2, np.std(pulls)
    assert abs(np.mean(pulls)) < 0.3, np.mean(pulls)


def test_held_to_one_zero_point_the_offsets_spoil_the_period_error():
    # Without the offsets' error the nights are held to one zero point: the
    # error then ignores them, which is what the error above repairs.
    pulls = _pulls(0.0, n_draws=60)
    assert np.std(pulls) > 1.3, np.std(pulls)
