"""The check star's place under the target's curve: close to a shallow curve, not 0.5 mag off.

A 2 % transit (0.022 mag, errors 0.007 mag, as on the real TrES-1 night) was
drawn with the check star 0.5 mag below it: the plot spanned 0.6 mag and the
transit was a flat line. The gap follows the target's own range now; a large
amplitude keeps the 0.5 mag gap.
"""

from __future__ import annotations

import numpy as np

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)


def _curve(depth: float, err: float, n: int = 70):
    x = np.linspace(0.0, 3.7, n)
    rng = np.random.default_rng(1)
    mag = -12.15 + depth * ((x > 0.6) & (x < 3.2)) + rng.normal(0.0, err, n)
    check = -11.0 + rng.normal(0.0, err, n)
    return x, mag, np.full(n, err), check


def _gap(qtbot, depth: float, err: float) -> tuple[float, float]:
    from fluxion.app.panels.lightcurve_plots import LightCurvePlot

    plot = LightCurvePlot()
    qtbot.addWidget(plot)
    x, mag, e, check = _curve(depth, err)
    n = len(x)
    plot.set_curve(x, mag, e, np.arange(n), np.zeros(n, bool), (check, np.full(n, err)))
    _, cy = plot.check.getData()
    gap = float(np.median(cy) - mag.max())
    span = float(max(cy.max(), mag.max()) - min(cy.min(), mag.min()))
    return gap, span


def test_shallow_transit_keeps_the_check_star_close(qtbot) -> None:
    gap, span = _gap(qtbot, 0.022, 0.007)
    assert 0.02 <= gap <= 0.1, gap
    # The transit fills a good part of what is shown.
    assert span < 0.2 and 0.022 / span > 0.15, span


def test_large_amplitude_keeps_half_a_magnitude(qtbot) -> None:
    gap, _ = _gap(qtbot, 0.8, 0.01)
    assert abs(gap - 0.5) < 1e-9


def test_an_excluded_lights_huge_error_does_not_flatten_the_curve(qtbot) -> None:
    """Clouds at the end of a night: excluded lights with errors of magnitudes (9.1 mag on
    the asteroid 2713 night) stretched the axis to 22 mag and the 0.58 mag curve was flat."""
    from fluxion.app.panels.lightcurve_plots import LightCurvePlot

    plot = LightCurvePlot()
    qtbot.addWidget(plot)
    n = 25
    x = np.linspace(0.0, 1.35, n)
    mag = -11.0 + 0.29 * np.sin(2 * np.pi * x / 1.79)  # half the 3.58 h period, 0.58 mag
    err = np.full(n, 0.04)
    excluded = np.zeros(n, bool)
    mag[-2:], err[-2:], excluded[-2:] = (-10.7, -9.65), (0.75, 9.1), True
    plot.set_curve(x, mag, err, np.arange(n), excluded)
    _, (top, bottom) = plot.plot.getViewBox().viewRange()
    span = bottom - top
    # Every point in sight, the excluded ones too, and the curve fills a good part of it.
    assert top <= (mag - err)[~excluded].min() and bottom >= mag.max()
    assert 0.58 / span > 0.25, span
