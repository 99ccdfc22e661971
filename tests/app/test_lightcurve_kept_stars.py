"""Light-curve panel: a curve measured in the window keeps its comparison and check stars.

Reopening the project draws the stars the curve was measured against (C1..Cn,
K) on the viewer, where they were drawn after measuring, at the curve's own
aperture, and says so; nothing is measured again.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from lightcurve_helpers import measure_eb, reopened

from fluxion.app.panels.lightcurve_kept_stars import add_star_columns, kept_stars
from fluxion.core.chain.night import LIGHT_CURVE_FILE
from fluxion.core.lightcurve.comparison import ComparisonChoice


def _labels(window) -> dict[str, tuple[float, float]]:
    return {
        item.toPlainText(): (item.pos().x(), item.pos().y())
        for item in window.image_view.overlays.items("labels")
    }


def _shown(qtbot, window, panel, frame: int, n: int) -> dict[str, tuple[float, float]]:
    window.raise_step(panel.title)
    qtbot.waitUntil(lambda: panel.in_front, timeout=5_000)
    window.session.go_to(frame)
    qtbot.waitUntil(lambda: window.image_view.overlays.count("labels") == n, timeout=10_000)
    return _labels(window)


def test_the_reopened_project_draws_the_stars_the_curve_was_measured_against(
    window, qtbot, open_and_wait, demo_night, tmp_path
) -> None:
    folder = tmp_path / "project"
    panel = measure_eb(window, qtbot, open_and_wait, demo_night, folder)
    choice, stars = panel.run.choice, panel.run.stars_xy
    n_comp = len(choice.comparison)
    assert n_comp >= 2 and choice.check is not None
    radius = panel.params().aperture_radius
    frame = int(panel.rows[2])
    before = _shown(qtbot, window, panel, frame, n_comp + 2)
    # Every star drawn is a star of the night (the truth of that light), within 1 px.
    truth = Table.read(demo_night / "truth" / "light_0003.ecsv")
    txy = np.column_stack([np.asarray(truth["x"], float), np.asarray(truth["y"], float)])
    for name, xy in before.items():
        # Each label begins one aperture radius right of its star (off the aperture).
        star = np.asarray(xy) - (radius, 0.0)
        assert np.hypot(*(txy - star).T).min() < 1.0, name
    window.close()

    with reopened(qtbot, open_and_wait, folder, tmp_path / "settings2.ini") as opened:
        again, shown, started = opened
        assert shown.run.stored
        assert not any(n.startswith(("Light curve of", "Preparing the lights")) for n in started)
        # The same stars in every light, named as before.
        kept = shown.run
        used = [*choice.comparison, choice.check]
        np.testing.assert_allclose(kept.stars_xy, stars[:, used], rtol=0, atol=1e-9)
        assert kept.choice.comparison == tuple(range(n_comp)) and kept.choice.check == n_comp
        after = _shown(qtbot, again, shown, frame, n_comp + 2)
        assert set(after) == set(before)
        for name, xy in before.items():
            np.testing.assert_allclose(after[name], xy, atol=1e-6)
        # Drawn at the radius it was measured with, whatever the form says now.
        assert shown.shown_radius(radius + 2.0) == pytest.approx(radius)
        text = shown.result_label.text()
        assert f"{n_comp} comparison stars (C1-C{n_comp}, check star K in the viewer)" in text
        assert f"aperture {radius:.1f} px" in text


def test_a_curve_kept_without_stars_reads_back_with_none() -> None:
    # fluxion run's curves and those written before the stars were kept: nothing to draw.
    table = Table({"mag": [1.0, 2.0]})
    xy, choice = kept_stars(table)
    assert xy.shape == (2, 0, 2) and choice.comparison == () and choice.check is None


def test_the_star_columns_read_back_as_written(tmp_path) -> None:
    rng = np.random.default_rng(1)
    stars = rng.uniform(0, 100, (4, 5, 2))
    stars[1, 3] = np.nan  # a light where a star could not be placed
    choice = ComparisonChoice((4, 0, 2), 3, {}, np.full(5, np.nan))
    table = Table({"mag": np.arange(4.0)})
    add_star_columns(table, stars, choice, 4.5)
    path = tmp_path / LIGHT_CURVE_FILE
    table.write(path, format="ascii.ecsv")
    xy, back = kept_stars(Table.read(path, format="ascii.ecsv"))
    np.testing.assert_array_equal(xy, stars[:, [4, 0, 2, 3]])
    assert back.comparison == (0, 1, 2) and back.check == 3
    assert Table.read(path, format="ascii.ecsv").meta["aperture_radius"] == 4.5
