"""The x axis of a step's night plot: hours, minutes for a short sequence, frames without times.

Eight 10 s frames of a smart telescope span 1.4 minutes: in hours the axis
read 0 ... 0.02. Frames without a time were plotted by index under the label
"hours since the first light".
"""

from __future__ import annotations

import numpy as np
import pytest

import fluxion.widgets  # noqa: F401  (PySide6 6.12 workaround before any Qt object)
from fluxion.app.panels.base import night_axis

JD0 = 2460761.38


def test_a_night_in_hours() -> None:
    jd = [JD0 + k * 0.05 for k in range(5)]  # 4.8 h
    x, label = night_axis(jd, [0, 1, 2, 3, 4])
    assert label == "hours since the first light"
    np.testing.assert_allclose(x, [0.0, 1.2, 2.4, 3.6, 4.8])


def test_a_short_sequence_in_minutes() -> None:
    jd = [JD0 + k * 11.0 / 86400 for k in range(8)]  # every 11 s
    x, label = night_axis(jd, list(range(8)))
    assert label == "minutes since the first light"
    assert x[-1] == pytest.approx(77.0 / 60.0)


def test_the_session_origin_is_kept() -> None:
    x, _ = night_axis([JD0 + 0.1, JD0 + 0.2], [3, 4], origin=JD0)
    np.testing.assert_allclose(x, [2.4, 4.8])


def test_frames_without_a_time_by_number() -> None:
    x, label = night_axis([JD0, None], [4, 7])
    assert label == "frame number"
    np.testing.assert_allclose(x, [5.0, 8.0])
