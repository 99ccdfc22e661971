"""bench_run's accounts of a process: peak memory, user and kernel CPU, the memory policy.

The chain and the floor each run in a fresh interpreter started by
bench_run; the application's memory policy (:mod:`fluxion.app.memory`, which
``fluxion run`` applies) reaches them, and the worker processes they start,
through the environment, as it reaches ``fluxion run``'s own workers.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

# The variables fluxion.app.memory sets (glibc reads the first two when a
# process starts, numpy the last when it is imported).
POLICY_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "NUMPY_MADVISE_HUGEPAGE")


def peak_mb() -> float:
    """Peak resident memory (MB) of this process so far, its own.

    Linux's ``ru_maxrss`` keeps the largest of the process and the one that
    forked it: a child started after the night was simulated would report the
    simulation's peak (2 GB for 4096^2 frames) as its own. ``VmHWM`` is the
    peak of this program's memory only; other systems give ``ru_maxrss``.
    """
    status = Path("/proc/self/status")
    for line in status.read_text().splitlines() if status.exists() else []:
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def usage() -> tuple[float, float, float]:
    """Peak resident memory (MB), user and kernel CPU seconds of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return peak_mb(), r.ru_utime, r.ru_stime


def apply_policy(on: bool) -> str:
    """The application's memory policy for this process and the ones it starts, or none.

    With ``on`` False nothing is set: a variable the user set before the
    benchmark stays, and is named in the returned description.
    """
    if on:
        from fluxion.app.memory import use_memory_policy

        use_memory_policy()
    kept = [f"{k}={os.environ[k]}" for k in POLICY_VARIABLES if k in os.environ]
    if on:
        return "the application's (" + ", ".join(kept) + ")"
    return "glibc's and numpy's defaults" + (f" but {', '.join(kept)}" if kept else "")
