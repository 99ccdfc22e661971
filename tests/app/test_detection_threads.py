"""Detection run from the window keeps numpy's BLAS pool on one thread, as the chain's workers do.

The window's frames run on its own frame threads, outside the chain's worker
processes (which limit their pools for their life). A BLAS pool of one thread
per core beside those frame threads only competes with them for the cores.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]


def test_detection_frames_run_with_one_blas_thread(monkeypatch, tmp_path: Path) -> None:
    import numpy as np

    import fluxion.app.panels.detection as detection
    from fluxion.core.detection.extract import DetectionParams

    np.dot(np.ones((4, 4)), np.ones((4, 4)))  # the BLAS library loaded
    if not _blas_threads():
        pytest.skip("numpy's BLAS is not visible to threadpoolctl here")
    seen: list[list[int]] = []

    def spy(store, frame, params, state):
        seen.append(_blas_threads())
        raise ValueError("not searched")  # each frame becomes a FrameFailure

    monkeypatch.setattr(detection, "detect_frame", spy)
    frames = [type("Frame", (), {"path": tmp_path / f"light_{k}.fits"})() for k in range(4)]
    # A pool of two threads, as an unlimited process would have on two cores.
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        outside = _blas_threads()
        if max(outside) < 2:
            pytest.skip("this BLAS cannot run two threads: the limit could not be seen")
        with ThreadPoolExecutor(2) as executor:
            results = detection.detect_frames(
                None, frames, [0, 1, 2, 3], DetectionParams(), executor
            )
        after = _blas_threads()
    assert all(isinstance(r, detection.FrameFailure) for r in results.values())
    assert len(seen) == 4 and all(threads == [1] * len(threads) for threads in seen)
    assert outside == after  # the process's own setting back once the run ends
