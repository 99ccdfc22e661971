"""The steps' results model: what a run replaces, notifications, thread safety (no Qt)."""

from __future__ import annotations

import threading

import pytest

from fluxion.core.project.results import (
    ResultsChange,
    RunStatus,
    RunSummary,
    SessionResults,
    StepResults,
)


def _listened(model: StepResults) -> list[ResultsChange]:
    heard: list[ResultsChange] = []
    model.subscribe(heard.append)
    return heard


def test_a_run_replaces_the_frames_it_covered_and_keeps_the_others() -> None:
    model: StepResults[str] = StepResults("detection")
    model.finish(model.begin_run([0, 1, 2]), {0: "a0", 1: "a1", 2: "a2"})
    heard = _listened(model)
    ticket = model.begin_run([1])
    assert model.status is RunStatus.RUNNING
    assert model.finish(ticket, {1: "b1"})
    assert model.snapshot() == {0: "a0", 1: "b1", 2: "a2"}
    assert model.status is RunStatus.DONE
    # one status change when the run began, one with the frame when it ended
    assert [c.frames for c in heard] == [frozenset(), frozenset({1})]
    assert [c.status for c in heard] == [RunStatus.RUNNING, RunStatus.DONE]


def test_a_stale_run_writes_nothing_and_tells_nobody() -> None:
    model: StepResults[str] = StepResults("astrometry")
    old = model.begin_run([0])
    new = model.begin_run([0])
    heard = _listened(model)
    assert not model.is_current(old) and model.is_current(new)
    assert not model.finish(old, {0: "old parameters"})
    assert not model.put(0, "old parameters", old)
    assert 0 not in model and heard == []
    model.finish(new, {0: "new"})
    assert model[0] == "new"
    # A new night makes every run under way stale.
    running = model.begin_run([1])
    model.clear()
    assert not model.finish(running, {1: "previous night"})
    assert len(model) == 0 and model.status is RunStatus.IDLE and model.summary is None


def test_restored_products_never_replace_this_sessions_results() -> None:
    model: StepResults[str] = StepResults("photometry")
    model.finish(model.begin_run([0]), {0: "measured now"})
    heard = _listened(model)
    filled = model.restore({0: "from the project", 1: "from the project"})
    assert filled == frozenset({1})
    assert model.snapshot() == {0: "measured now", 1: "from the project"}
    assert heard[-1].frames == frozenset({1}) and heard[-1].restored
    assert model.restore({0: "again", 1: "again"}) == frozenset()
    assert len(heard) == 1  # nothing filled, nothing told


def test_summary_status_errors_and_cancel() -> None:
    model: StepResults[str] = StepResults(
        "calibration", error_of=lambda r: r[4:] if r.startswith("bad:") else None
    )
    ticket = model.begin_run([0, 1, 2])
    summary = RunSummary(n_frames=3, median=1.5, text="3 lights")
    heard = _listened(model)
    model.finish(ticket, {0: "ok", 1: "bad:unreadable file", 2: "ok"}, summary)
    assert model.summary == summary and heard[-1].finished
    assert model.errors == {1: "unreadable file"}
    # Cancel keeps what the run finished; a failure keeps the results and says why.
    ticket = model.begin_run([0, 1, 2])
    model.cancel(ticket, {1: "ok"})
    assert model.status is RunStatus.CANCELLED and model.errors == {}
    assert model.summary == summary  # the last finished run on every light
    ticket = model.begin_run([0])
    model.fail(ticket, "the catalogue could not be read")
    assert model.status is RunStatus.FAILED
    assert model.message == "the catalogue could not be read"
    assert model.snapshot() == {0: "ok", 1: "ok", 2: "ok"}


def test_mapping_changes_are_told_and_unsubscribe_stops_them() -> None:
    model: StepResults[int] = StepResults("zeropoint")
    heard: list[ResultsChange] = []
    stop = model.subscribe(heard.append)
    model[3] = 30
    assert model.pop(3) == 30 and model.pop(3, None) is None
    with pytest.raises(KeyError):
        model.pop(3)
    model[4] = 40
    del model[4]
    assert [sorted(c.frames) for c in heard] == [[3], [3], [4], [4]]
    model[5] = 50
    model.clear()
    assert heard[-1].cleared and heard[-1].frames == frozenset({5})
    stop()
    model[6] = 60
    assert len(heard) == 6
    assert model == {6: 60}


def test_a_broken_listener_does_not_cost_the_others_the_change() -> None:
    model: StepResults[int] = StepResults("detection")

    def broken(change: ResultsChange) -> None:
        raise RuntimeError("listener bug")

    model.subscribe(broken)
    heard = _listened(model)
    model[0] = 1
    assert len(heard) == 1 and model[0] == 1


def test_a_listener_may_read_and_write_the_model() -> None:
    model: StepResults[int] = StepResults("detection")
    seen: list[dict[int, int]] = []

    def listener(change: ResultsChange) -> None:
        seen.append(model.snapshot())
        if 0 in change.frames and 1 not in model:
            model[1] = 10  # a write from inside a notification must not deadlock

    model.subscribe(listener)
    model[0] = 0
    assert seen == [{0: 0}, {0: 0, 1: 10}]


def test_workers_writing_at_once_lose_nothing_and_every_change_is_heard() -> None:
    model: StepResults[int] = StepResults("photometry")
    heard: list[ResultsChange] = []
    lock = threading.Lock()

    def listener(change: ResultsChange) -> None:
        with lock:
            heard.append(change)

    model.subscribe(listener)
    ticket = model.begin_run(list(range(400)))
    n_threads, per_thread = 8, 50
    start = threading.Barrier(n_threads)

    failures: list[str] = []

    def worker(k: int) -> None:
        start.wait()
        for j in range(per_thread):
            i = k * per_thread + j
            if not model.put(i, i * i, ticket):
                failures.append(f"frame {i} dropped")
            # readers in other threads see whole frames, never a torn mapping
            snap = model.snapshot()
            failures.extend(f"frame {key}: {v}" for key, v in snap.items() if v != key * key)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert model.snapshot() == {i: i * i for i in range(n_threads * per_thread)}
    frames = [c.frames for c in heard[1:]]  # after the run's start
    assert len(frames) == n_threads * per_thread
    assert frozenset().union(*frames) == frozenset(range(n_threads * per_thread))


def test_session_results_keep_one_model_per_step() -> None:
    board = SessionResults()
    detection = board.of("detection")
    assert board.of("detection") is detection
    detection[0] = "sources"
    board.of("astrometry", error_of=lambda r: None)[0] = "wcs"
    assert board.steps() == ["detection", "astrometry"]
    board.clear()
    assert len(board.of("detection")) == 0 and len(board.of("astrometry")) == 0
