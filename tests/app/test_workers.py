"""The worker abstraction: results, progress, cancel, stale results, errors."""

from __future__ import annotations

import threading

import pytest

from fluxion.app.workers import WorkerPool, describe_error
from fluxion.core.runtime.pipeline import StepState


@pytest.fixture
def pool(qtbot):
    p = WorkerPool(max_tasks=2)
    yield p
    p.shutdown()
    p.deleteLater()


def _sum_squares(n: int, state: StepState) -> int:
    total = 0
    for i in range(n):
        total += i * i
        state.progress((i + 1) / n, f"term {i + 1}")
    return total


def test_result_and_progress_arrive_on_the_gui_thread(pool, qtbot) -> None:
    seen: list[tuple[float, str]] = []
    threads: list[threading.Thread] = []
    task = pool.submit(_sum_squares, 1000, name="sum")
    task.progress.connect(
        lambda f, m: (seen.append((f, m)), threads.append(threading.current_thread()))
    )
    with qtbot.waitSignal(task.result, timeout=5000) as blocker:
        pass
    assert blocker.args == [sum(i * i for i in range(1000))]
    qtbot.waitUntil(lambda: task.done)
    # rate-limited, but the last report (1.0) always arrives
    assert seen and seen[-1] == (1.0, "term 1000")
    assert len(seen) < 1000
    assert all(t is threading.main_thread() for t in threads)


def test_cancel_sets_the_state_flag_and_reports_cancelled(pool, qtbot) -> None:
    started = threading.Event()

    def wait_for_cancel(state: StepState) -> str:
        started.set()
        while True:
            state.check()
            threading.Event().wait(0.005)

    task = pool.submit(wait_for_cancel, name="loop")
    assert started.wait(5)
    assert pool.running() == [task]
    with qtbot.waitSignals([task.cancelled, task.finished], timeout=5000, order="strict"):
        task.cancel()
    assert task.state.cancelled
    assert pool.running() == []


def test_a_newer_task_with_the_same_key_drops_the_stale_result(pool, qtbot) -> None:
    running, release = threading.Event(), threading.Event()

    def slow(state: StepState) -> str:
        running.set()
        release.wait(5)
        return "stale"  # ignores the cancel on purpose: its result must still be dropped

    results: list[str] = []
    finished: list[bool] = []
    old = pool.submit(slow, name="load", key="frame")
    old.result.connect(results.append)
    old.finished.connect(lambda: finished.append(True))
    assert running.wait(5)
    new = pool.submit(lambda state: "fresh", name="load", key="frame")
    new.result.connect(results.append)
    assert old.state.cancelled and old.stale and not new.stale
    qtbot.waitUntil(lambda: results == ["fresh"], timeout=5000)
    release.set()
    qtbot.waitUntil(lambda: finished == [True], timeout=5000)
    assert results == ["fresh"]


def test_errors_reach_one_place_with_a_next_step(pool, qtbot) -> None:
    def broken(path: str, state: StepState) -> None:
        raise FileNotFoundError(f"no such file: {path}")

    with qtbot.waitSignal(pool.error, timeout=5000) as blocker:
        pool.submit(broken, "/nope.fits", name="Loading frame")
    info = blocker.args[0]
    assert info.task == "Loading frame"
    assert "no such file: /nope.fits" in info.message
    assert "still exists" in info.hint
    assert "FileNotFoundError" in info.details
    assert info.text().startswith("Loading frame failed: no such file")


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (ValueError("threshold must be positive"), "parameters"),
        (PermissionError("denied"), "permissions"),
        (MemoryError(), "smaller"),
        (RuntimeError("boom"), "bug"),
    ],
)
def test_describe_error_hints(exc: BaseException, words: str) -> None:
    assert words in describe_error("step", exc).hint


def test_a_task_outliving_its_closed_window_finishes_without_a_crash(qtbot) -> None:
    """A window closed while a task runs deletes its pool; the worker signals on."""
    import shiboken6
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QApplication

    window = QObject()  # stands for the main window that owns the pool
    pool = WorkerPool(max_tasks=1, parent=window)
    release, finished = threading.Event(), threading.Event()

    def slow() -> str:
        release.wait(5)
        return "done"

    task = pool.submit(slow, name="slow")
    pool._executor.submit(finished.set)  # runs once ``slow`` has returned
    shiboken6.delete(window)  # the pool goes with it, the task keeps running
    assert not shiboken6.isValid(pool)
    # The task is not a Qt child of the pool, so it was not freed with it.
    assert shiboken6.isValid(task)
    release.set()
    assert finished.wait(5)
    # Its outcome is delivered to nobody, and the task cleans itself up.
    qtbot.waitUntil(lambda: not shiboken6.isValid(task), timeout=5000)
    QApplication.processEvents()
