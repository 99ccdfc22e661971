"""The CPU ledger: a run's serial and parallel CPU seconds, and its serial fraction."""

from __future__ import annotations

import math

from fluxion.core.runtime.cputime import CpuLedger


def _spin(n: int = 200_000) -> int:
    return sum(i * i for i in range(n))


def test_laps_give_each_phase_its_own_cpu_time():
    ledger = CpuLedger()
    ledger.lap("start")
    _spin()
    with ledger.phase("masters"):
        _spin()
    _spin()  # back in "start"
    ledger.lap(None)
    _spin()  # counted nowhere
    assert set(ledger.phases) == {"start", "masters"}
    assert all(v > 0 for v in ledger.phases.values())


def test_worker_threads_are_taken_out_of_the_frames_phase_only():
    ledger = CpuLedger(phases={"start": 1.0, "frames": 5.0, "light curve": 0.5})
    ledger.add_task(1.5, here=True)
    ledger.add_task(2.5, here=True)  # threads of this process: inside "frames"
    assert ledger.serial() == {"start": 1.0, "frames": 1.0, "light curve": 0.5}
    assert ledger.workers == 4.0
    assert math.isclose(ledger.serial_fraction, 2.5 / 6.5)
    assert ledger.summary() == {"start": 1.0, "frames": 1.0, "light curve": 0.5, "workers": 4.0}


def test_worker_processes_leave_this_process_phases_alone():
    ledger = CpuLedger(phases={"start": 1.0, "frames": 0.2})
    ledger.add_task(8.0, here=False)
    assert ledger.serial() == {"start": 1.0, "frames": 0.2}
    assert math.isclose(ledger.serial_fraction, 1.2 / 9.2)
    assert math.isnan(CpuLedger().serial_fraction)
