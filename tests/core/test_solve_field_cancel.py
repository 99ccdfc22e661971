"""Cancel stops a running solve-field at once, its child processes too.

solve-field runs astrometry-engine as a child; a stand-in script that starts
a long-sleeping child and waits for it plays that part, so the test needs no
astrometry.net installation.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.astrometry.fallbacks import SolveField
from fluxion.core.astrometry.solve import SolveHint
from fluxion.core.runtime.pipeline import Cancelled, StepState

pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def _fake_solve_field(tmp_path: Path) -> tuple[Path, Path, Table]:
    """A solve-field that starts a child sleeping two minutes and waits for it."""
    pid_file = tmp_path / "child.pid"
    fake = tmp_path / "solve-field"
    fake.write_text(f"#!/bin/sh\nsleep 120 &\necho $! > {pid_file}\nwait\n")
    fake.chmod(0o755)
    rng = np.random.default_rng(1)
    sources = Table({"x": rng.uniform(0, 500, 30), "y": rng.uniform(0, 500, 30),
                     "flux": rng.uniform(1e3, 1e5, 30)})  # fmt: skip
    return fake, pid_file, sources


def _gone(pid_file: Path) -> bool:
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 3.0
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(child)


def test_cancel_kills_solve_field_and_its_children(tmp_path):
    fake, pid_file, sources = _fake_solve_field(tmp_path)
    state = StepState()
    threading.Timer(1.0, state.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        SolveField(executable=str(fake), timeout=120)(
            sources, (500, 500), SolveHint(None, None, None), state=state
        )
    assert time.monotonic() - t0 < 5.0  # not the 120 s the child sleeps
    assert _gone(pid_file)


def test_a_timeout_kills_the_group_too(tmp_path):
    fake, pid_file, sources = _fake_solve_field(tmp_path)
    solver = SolveField(executable=str(fake), timeout=1)
    solver.grace = 0.0  # killed at the limit itself
    result = solver(sources, (500, 500), SolveHint(None, None, None))
    assert not result.solved and "no solution within" in result.reason
    assert _gone(pid_file)
