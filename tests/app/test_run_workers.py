"""``fluxion run`` on worker processes: Ctrl-C stops cleanly, a killed worker costs one frame."""

from __future__ import annotations

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

N = 10


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run_workers_night")
    simulate.simulate_night(
        out, simulate.NightConfig(n_frames=N, shape=(256, 256), n_bias=2, n_dark=2, n_flat=2)
    )
    return out


def _recorded(project: Path) -> set[str]:
    """The lights whose last product (the zero point) the project records as made."""
    # A fresh store reads the index's files as they are now (the run appends to them).
    return set(ProductStore(project).frames_done("zeropoint"))


def _start(night: Path, project: Path) -> subprocess.Popen:
    code = "import sys; from fluxion.app.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", code, "run", str(night), "--project", str(project),
            "--workers", "2", "--no-report", "--no-cosmic-rays"]  # fmt: skip
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    # Its own session, as a terminal's job: Ctrl-C goes to every process of it.
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip


def _session(sid: int) -> dict[int, int]:
    """pid -> parent pid of the live processes of session ``sid`` (Linux's /proc)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            out[int(entry.name)] = int(fields[1])
    return out


def _wait_first_frame(proc: subprocess.Popen, project: Path) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None and not _recorded(project):
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.skip("the run finished before the test could act")


def _rerun_finishes(night: Path, project: Path, finished: set[str]) -> None:
    proc = _start(night, project)
    out, err = proc.communicate(timeout=900)
    assert "Traceback" not in out + err
    lines = {s.split()[0]: s.split() for s in out.splitlines() if " done," in s}
    assert int(lines["zeropoint"][3]) >= len(finished)  # kept, not redone
    assert f"{N} of {N} lights fully processed" in out
    assert all(s == "ok" for s in Table.read(project / "frames.ecsv")["status"])


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_ctrl_c_stops_after_the_frames_in_flight_and_keeps_them(night, tmp_path):
    project = tmp_path / "project"
    proc = _start(night, project)
    _wait_first_frame(proc, project)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in err
    assert "stopping after the frames in progress" in err
    assert "stopped: finished frames are kept" in out
    finished = _recorded(project)
    # The frames in flight finished too (the workers ignored the Ctrl-C).
    assert 2 <= len(finished) < N
    for p in project.rglob("*"):
        if p.is_file() and p.suffix in (".ecsv", ".fits"):
            assert not p.name.startswith("."), p  # nothing half-written left behind
            assert product_intact(p), p
    deadline = time.monotonic() + 30
    while _session(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _session(proc.pid)  # no worker (nor forkserver) outlives the run
    _rerun_finishes(night, project, finished)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_a_killed_worker_fails_its_frame_by_name_and_the_night_goes_on(night, tmp_path):
    project = tmp_path / "project"
    proc = _start(night, project)
    _wait_first_frame(proc, project)
    # The forkserver is the run's child; the workers are the forkserver's.
    tree = _session(proc.pid)
    workers = [pid for pid, parent in tree.items() if tree.get(parent) == proc.pid]
    assert len(workers) == 2, tree
    os.kill(workers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=900)
    assert "Traceback" not in out + err
    frames = Table.read(project / "frames.ecsv")
    failed = [(f, s) for f, s in zip(frames["file"], frames["status"], strict=True) if s != "ok"]
    # The killed worker's frame, by name, and no other: the night went on.
    assert len(failed) == 1, failed
    name, status = failed[0]
    assert f"worker process stopped (signal {int(signal.SIGKILL)}" in status
    assert f"{name}: " in out and proc.returncode == 1
    assert f"{N - 1} of {N} lights fully processed" in out
    _rerun_finishes(night, project, _recorded(project))
