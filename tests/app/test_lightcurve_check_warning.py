"""The Light curve panel warns when its check star is not steady.

On the real Seestar M94 frames the automatic choice took the galaxy's core as
a comparison star: the check star beside it scattered 0.15 mag with 0.03 mag
errors and nothing said so. A check star within its errors says nothing.
"""

from __future__ import annotations

import numpy as np

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.app.panels.lightcurve_points import check_star_note


def test_a_check_star_far_outside_its_errors_is_reported() -> None:
    rng = np.random.default_rng(3)
    err = np.full(8, 0.03)
    mag = -10.15 + rng.normal(0.0, 0.05, 8) + np.linspace(-0.07, 0.07, 8)
    note = check_star_note(mag, err, np.ones(8, bool))
    assert "The check star scatters" in note and "times its errors" in note


def test_honest_errors_rarely_warn() -> None:
    rng = np.random.default_rng(4)
    err = np.full(8, 0.02)
    warned = sum(
        bool(check_star_note(-10.0 + rng.normal(0.0, 0.02, 8), err, np.ones(8, bool)))
        for _ in range(2000)
    )
    # chi2/N of 7 degrees of freedom above 4: about 2 in 10 000.
    assert warned <= 5, warned


def test_excluded_and_missing_points_do_not_count() -> None:
    err = np.full(8, 0.01)
    mag = np.full(8, -10.0) + np.array([0.0, 0.01, -0.01, 0.0, 0.5, 0.005, np.nan, 0.0])
    keep = np.ones(8, bool)
    assert check_star_note(mag, err, keep)  # the 0.5 mag point counts
    keep[4] = False
    assert check_star_note(mag, err, keep) == ""
    assert check_star_note(mag[:3], err[:3], keep[:3]) == ""  # too few to tell
