"""kill -9 during a run loses no finished work; the re-run redoes only what is missing."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from astropy.table import Table

from fluxion.core.project.products import ProductStore, product_intact

simulate = pytest.importorskip("fluxion.core.simulation.simulate")

N = 4


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _recorded(project: Path) -> set[str]:
    """The lights whose last product (the zero point) the project records as made."""
    # A fresh store reads the index's files as they are now (the run appends to them).
    return set(ProductStore(project).frames_done("zeropoint"))


def _command(night: Path, project: Path) -> list[str]:
    code = "import sys; from fluxion.app.cli import main; sys.exit(main(sys.argv[1:]))"
    return [sys.executable, "-c", code, "run", str(night), "--project", str(project),
            "--workers", "1", "--no-report", "--no-cosmic-rays"]  # fmt: skip


def test_kill_9_mid_run_keeps_finished_frames(tmp_path) -> None:
    night = tmp_path / "night"
    simulate.simulate_night(
        night, simulate.NightConfig(n_frames=N, shape=(256, 256), n_bias=2, n_dark=2, n_flat=2)
    )
    before = _digests(night)
    project = tmp_path / "project"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.Popen(
        _command(night, project), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    # Killed as soon as the first light's last product is written: the others
    # are in flight or not started.
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if _recorded(project):
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be killed")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = _recorded(project)
    assert 1 <= len(finished) < N
    for p in project.rglob("*"):
        if p.is_file() and p.suffix in (".ecsv", ".fits") and not p.name.startswith("."):
            assert product_intact(p), p  # nothing half-written under a product's name

    out = subprocess.run(_command(night, project), capture_output=True, text=True, env=env)
    assert "Traceback" not in out.stdout + out.stderr
    lines = {s.split()[0]: s.split() for s in out.stdout.splitlines() if " done," in s}
    # The lights finished before the kill are current, not redone.
    assert int(lines["zeropoint"][1]) == N - len(finished)
    assert int(lines["zeropoint"][3]) == len(finished)
    assert f"{N} of {N} lights fully processed" in out.stdout
    frames = Table.read(project / "frames.ecsv")
    assert len(frames) == N and all(s == "ok" for s in frames["status"])
    assert _digests(night) == before  # no input touched
