"""The night's registration on a worker, beside the target's steps in the run's own process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..io.frames import FrameInfo
from ..project.products import ProductStore
from ..runtime.cputime import CpuLedger
from ..runtime.pipeline import StepState
from .batch import portable
from .worker import FrameJob, register_night

if TYPE_CHECKING:
    from ..registration import Registration

__all__ = ["register_beside"]

log = logging.getLogger(__name__)


def register_beside(
    executor: Executor | None,
    job: FrameJob,
    store: ProductStore,
    lights: list[FrameInfo],
    found: list,
    state: StepState,
) -> Callable[[CpuLedger], tuple[Registration | None, list[int]]]:
    """The night's registration, started; the returned function waits for it.

    On worker processes it runs on one of them (idle once the frames are
    done) while this process places the target and builds the light curve:
    the two whole-night steps overlap instead of following each other. With
    threads (one interpreter, one core for Python) or no executor it runs
    here, now. A worker that fails it leaves it to this process.
    """
    # Here: matching stars is the registering process's import (a worker's, with processes).
    from .register import register_lights

    if executor is None or isinstance(executor, ThreadPoolExecutor):
        done = register_lights(store, lights, state, found=found)
        return lambda ledger: done
    future = executor.submit(register_night, job, [portable(f) for f in lights], found)
    memo: list = []

    def wait(ledger: CpuLedger) -> tuple[Registration | None, list[int]]:
        if not memo:
            try:
                registration, order, cpu = future.result()
                # Serial all the same: only the target and the light curve run beside it.
                ledger.phases["registration (worker)"] = cpu
                memo.append((registration, order))
            except Exception as exc:  # a worker lost: the registration is made here
                log.warning("registration: on this process (%s)", exc)
                memo.append(register_lights(store, lights, state, found=found))
        return memo[0]

    return wait
