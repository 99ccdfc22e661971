"""StepState: progress mapping onto sub-ranges, cancellation, counters."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from fluxion.core.runtime.params import param, param_infos, params_from_dict, params_to_dict
from fluxion.core.runtime.pipeline import Cancelled, StepState


def test_sub_ranges_map_onto_the_parent_range() -> None:
    seen: list[tuple[float, str]] = []
    state = StepState(lambda f, m: seen.append((f, m)))
    state.sub(0.0, 0.6).progress(0.5, "half of the first part")
    late = state.sub(0.6, 1.0)
    late.sub(0.5, 1.0).progress(1.0, "end")
    assert seen[0] == pytest.approx((0.3, "half of the first part"))
    assert seen[1][0] == pytest.approx(1.0)
    assert state.last_fraction == pytest.approx(0.0)  # parents do not see sub progress
    with pytest.raises(ValueError):
        state.sub(0.7, 0.2)


def test_cancel_is_shared_and_raises_at_the_next_check() -> None:
    state = StepState()
    child = state.sub(0.2, 0.4)
    child.check()
    state.cancel()
    assert child.cancelled
    with pytest.raises(Cancelled):
        child.check()
    with pytest.raises(Cancelled):
        child.progress(0.5)


def test_counter_is_thread_safe_and_reaches_one() -> None:
    fractions: list[float] = []
    lock = threading.Lock()

    def cb(f: float, _m: str) -> None:
        with lock:
            fractions.append(f)

    state = StepState(cb)
    tick = state.counter(200, "frames")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: tick(), range(200)))
    assert len(fractions) == 200
    assert max(fractions) == pytest.approx(1.0)
    assert state.last_message.startswith("frames ")


@dataclass(frozen=True)
class _Params:
    threshold: float = param(1.5, label="Threshold", unit="sigma", minimum=0.1, maximum=100)
    method: str = param("median", label="Combine", choices=("median", "mean"))
    box: tuple[int, int] = param((64, 64), label="Mesh", unit="px")


def test_param_metadata_and_round_trip() -> None:
    infos = {i.name: i for i in param_infos(_Params)}
    assert infos["threshold"].unit == "sigma"
    assert infos["threshold"].minimum == 0.1
    assert infos["method"].choices == ("median", "mean")
    values = params_to_dict(_Params(threshold=3.0))
    assert values == {"threshold": 3.0, "method": "median", "box": [64, 64]}
    back = params_from_dict(_Params, {**values, "from_a_newer_version": 1})
    assert back == _Params(threshold=3.0)
