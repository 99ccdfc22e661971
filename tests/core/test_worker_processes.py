"""Worker processes: not forked, deaf to Ctrl-C, and a killed worker costs its own frame only."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from fluxion.core.chain.batch import run_frames
from fluxion.core.runtime.pipeline import Cancelled, StepState
from fluxion.core.runtime.processes import WorkerLost, WorkerPool


def _wait_for(path: Path, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.01)


def _task(name: str, folder: str) -> str:
    """Note this worker's pid, then wait for the test's go (a frame being worked on)."""
    here = Path(folder)
    (here / f"{name}.tmp").write_text(str(os.getpid()))
    os.replace(here / f"{name}.tmp", here / f"{name}.pid")
    _wait_for(here / "go")
    return name.upper()


def _how_started() -> tuple[bool, str]:
    import multiprocessing

    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    return ignored, multiprocessing.current_process().name


def _pid_and_sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_workers_are_not_forked_from_the_caller_and_ignore_ctrl_c():
    with WorkerPool(2) as pool:
        assert pool._ctx.get_start_method() in ("forkserver", "spawn")
        ignored, name = pool.submit(_how_started).result(timeout=300)
        assert ignored
        # Ctrl-C reaching a worker in the middle of its task does not stop it.
        fut = pool.submit(_pid_and_sleep, 1.0)
        time.sleep(0.3)
        for p in pool._pool._processes.values():
            os.kill(p.pid, signal.SIGINT)
        assert fut.result(timeout=300) in pool._pool._processes


def _run(items, pool, folder, results, state=None):
    run_frames(
        items, _task, lambda name: (name, str(folder)),
        lambda name, result: results.__setitem__(name, result),
        executor=pool, state=state, window=2,
    )  # fmt: skip


def _kill_when_started(folder: Path, name: str) -> threading.Thread:
    """A thread that kills -9 the worker running ``name`` as soon as it started, then says go."""

    def kill() -> None:
        _wait_for(folder / f"{name}.pid")
        os.kill(int((folder / f"{name}.pid").read_text()), signal.SIGKILL)
        time.sleep(0.5)  # the pool notices first: the other frame is still waiting
        (folder / "go").touch()

    t = threading.Thread(target=kill, daemon=True)
    t.start()
    return t


def test_a_killed_worker_fails_its_own_frame_and_the_night_goes_on(tmp_path):
    items = ["a", "b", "c", "d", "e"]
    results: dict = {}
    killer = _kill_when_started(tmp_path, "b")
    with WorkerPool(2) as pool:
        _run(items, pool, tmp_path, results)
        assert pool.restarts == 1
    killer.join()
    assert set(results) == set(items)
    assert isinstance(results["b"], WorkerLost)
    assert f"signal {int(signal.SIGKILL)}" in str(results["b"])
    # "a" was in flight beside "b" when the pool broke: it ran again, as did the rest.
    assert {k: v for k, v in results.items() if k != "b"} == {
        "a": "A", "c": "C", "d": "D", "e": "E"
    }  # fmt: skip


def test_a_pool_that_cannot_restart_stops_cleanly_keeping_what_finished(tmp_path):
    (tmp_path / "first").mkdir()
    results: dict = {}
    with ProcessPoolExecutor(1) as pool:
        # One frame finishes before the worker is killed.
        (tmp_path / "first" / "go").touch()
        _run(["a"], pool, tmp_path / "first", results)
        killer = _kill_when_started(tmp_path, "b")
        with pytest.raises(WorkerLost, match="finished frames are kept"):
            _run(["b", "c", "d"], pool, tmp_path, results)
        killer.join()
    assert results["a"] == "A"
    assert isinstance(results["b"], WorkerLost)
    assert "d" not in results  # never submitted: the run stopped


def test_cancel_with_process_workers_keeps_the_frames_in_flight(tmp_path):
    results: dict = {}
    state = StepState()

    def cancel_when_started() -> None:
        _wait_for(tmp_path / "a.pid")
        state.cancel()
        (tmp_path / "go").touch()

    t = threading.Thread(target=cancel_when_started, daemon=True)
    t.start()
    with WorkerPool(2) as pool, pytest.raises(Cancelled):
        _run(["a", "b", "c", "d", "e"], pool, tmp_path, results, state)
    t.join()
    # The two in flight when the cancel came finished and were handed back;
    # nothing was submitted after it.
    assert results == {"a": "A", "b": "B"}


def test_frame_report_crosses_processes_with_its_solution_whole() -> None:
    import pickle

    import numpy as np
    from astropy.wcs import WCS, Sip

    from fluxion.core.chain.worker import FrameReport

    # A TAN-SIP solution as the solver writes it, with the frame's size.
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    w.wcs.crval = [310.1234567891, 40.9876543219]
    w.wcs.crpix = [512.25, 511.75]
    w.wcs.cd = [[-2.7e-4, 1.1e-6], [0.9e-6, 2.7e-4]]
    a = np.zeros((3, 3))
    b = np.zeros((3, 3))
    a[2, 0], a[0, 2], b[1, 1] = 3.1e-7, -1.7e-7, 2.3e-7
    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    w.pixel_shape = (1024, 1024)
    report = FrameReport("light_0001.fits", wcs=w, facts={"fwhm": 3.2}, cpu=1.25)
    back = pickle.loads(pickle.dumps(report))
    xy = np.random.default_rng(1).uniform(0, 1024, (500, 2))
    # The same positions to the last bit as astropy's own pickle of the WCS gives.
    own = pickle.loads(pickle.dumps(w))
    assert np.array_equal(back.wcs.all_pix2world(xy, 0), own.all_pix2world(xy, 0))
    assert back.wcs.sip is not None and back.wcs.pixel_shape == (1024, 1024)
    assert back.facts == report.facts and back.cpu == 1.25 and back.frame == report.frame
    assert pickle.loads(pickle.dumps(FrameReport("b"))).wcs is None


def test_the_run_s_main_process_leaves_the_steps_to_its_workers() -> None:
    # run_night's module, the worker's and the registration's names: what the main
    # process of a run on worker processes imports. The steps are the forkserver's.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import fluxion.core.chain.night, fluxion.core.chain.worker, fluxion.core.registration\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "fluxion.core.chain.night" in loaded
    for step in (
        "fluxion.core.chain.solve",
        "fluxion.core.chain.detect",
        "fluxion.core.chain.measure",
        "fluxion.core.detection.extract",
        "fluxion.core.registration.register",
        "photutils",
        "scipy.stats",
        "astroquery",
        # Calibrating a light (its masks, cosmic rays), a moving target's
        # contamination and the gain fit: not the main process's either.
        "fluxion.core.calibration.apply",
        "fluxion.core.calibration.cosmics",
        "fluxion.core.photometry.contamination",
        "fluxion.core.io.gainfit",
        "scipy.ndimage",
        "scipy.optimize",
    ):
        assert step not in loaded, step


def test_the_workers_preload_leaves_out_scipy_stats() -> None:
    # The matchers' false-alarm tails come from scipy.special: scipy.stats, the
    # largest import a worker process would otherwise pay, is not in its preload.
    import subprocess
    import sys

    from fluxion.core.chain import WORKER_PRELOAD

    code = (
        "import importlib, sys\n"
        f"for name in {list(WORKER_PRELOAD)!r}: importlib.import_module(name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "fluxion.core.chain.steps" in loaded
    assert "fluxion.core.astrometry.matching" in loaded
    assert "fluxion.core.registration.fewstars" in loaded
    assert "scipy.stats" not in loaded


def test_a_warm_pool_starts_its_workers_while_the_caller_goes_on(tmp_path: Path) -> None:
    # The preload waits for a file the caller writes only once the pool is made:
    # a constructor that waited for the forkserver's imports would never let it.
    import subprocess
    import sys

    (tmp_path / "slow_preload.py").write_text(
        "import pathlib, time\n"
        f"go = pathlib.Path({str(tmp_path / 'go')!r})\n"
        "deadline = time.monotonic() + 60\n"
        "while not go.exists() and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        f"pathlib.Path({str(tmp_path / 'seen')!r}).write_text(str(go.exists()))\n"
    )
    code = (
        "import pathlib\n"
        "from fluxion.core.runtime.processes import WorkerPool\n"
        "if __name__ == '__main__':\n"
        "    pool = WorkerPool(2, preload=['slow_preload'])\n"
        f"    pathlib.Path({str(tmp_path / 'go')!r}).touch()\n"
        "    pool.wait_started()\n"
        "    print(pool.submit(abs, -3).result())\n"
        "    pool.shutdown()\n"
    )
    # On the path of the forkserver too, which imports the preload before its first worker.
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": path},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3"]
    assert (tmp_path / "seen").read_text() == "True"
