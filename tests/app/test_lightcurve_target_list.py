"""The Light curve panel lists a target as soon as the Targets panel makes it."""

from __future__ import annotations

from pathlib import Path

from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.app.panels.targets import TargetsPanel


def test_a_new_target_is_listed_at_once_and_a_removed_one_goes(
    window, qtbot, open_and_wait, demo_night: Path
) -> None:
    open_and_wait(window, demo_night)
    targets = next(p for p in window.panels if isinstance(p, TargetsPanel))
    curve = next(p for p in window.panels if isinstance(p, LightCurvePanel))
    window.raise_step(targets.title)
    qtbot.waitUntil(lambda: targets.in_front and not curve.in_front, timeout=5_000)
    assert curve.target_box.count() == 0
    targets.new_target("fixed", "V1", ra=150.0, dec=20.0)
    targets.new_target("moving", "asteroid")
    # Not shown, not measured: the list is already right.
    assert not curve.in_front
    assert [curve.target_box.itemText(i) for i in range(curve.target_box.count())] == [
        "V1", "asteroid",
    ]  # fmt: skip
    targets.target_list.setCurrentRow(0)
    targets.remove_target()
    assert [curve.target_box.itemText(i) for i in range(curve.target_box.count())] == ["asteroid"]
